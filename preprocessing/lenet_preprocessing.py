"""LeNet preprocessing: crop or pad to size, then (v - 128) / 128.

The scaling is research/slim's, so a LeNet trained with either code base
evaluates with the other: pixel value v in 0..255 maps to (v - 128) / 128,
i.e. [-1, 127/128] (not the symmetric v / 127.5 - 1 of Inception).
"""

from slim_zoo.nets.compat import tf
from slim_zoo.preprocessing import image_utils


def preprocess_image(image, output_height, output_width, is_training=False,
                     use_grayscale=False, **unused_kwargs):
  """Preprocesses one image for LeNet (identical in training and evaluation).

  Args:
    image: Tensor [height, width, channels], uint8 or float in [0, 1].
    output_height, output_width: output size; the image is centrally cropped
      or zero-padded to it (no resampling, as in TF-Slim).
    is_training: unused; LeNet uses no augmentation.
    use_grayscale: convert RGB input to one channel.

  Returns:
    float32 Tensor [output_height, output_width, channels] in [-1, 127/128];
    zero padding maps to -1.
  """
  del is_training
  image = tf.convert_to_tensor(image)
  image_utils.check_rank3(image)
  if image.dtype == tf.uint8:
    # Exactly research/slim's arithmetic on the 0..255 values.
    image = tf.cast(image, tf.float32)
  else:
    image = image_utils.to_float01(image) * 255.0
  image = tf.image.resize_with_crop_or_pad(image, output_height, output_width)
  image = (image - 128.0) / 128.0
  # After the scaling, as in research/slim (the luma weights sum to 0.9999,
  # so the order changes the result by up to 1e-4).
  return image_utils.maybe_grayscale(image, use_grayscale)
