"""LeNet preprocessing: crop or pad to size, scale to [-1, 1]."""

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
    float32 Tensor [output_height, output_width, channels] in [-1, 1].
  """
  del is_training
  image = image_utils.to_float01(image)
  image_utils.check_rank3(image)
  image = image_utils.maybe_grayscale(image, use_grayscale)
  image = tf.image.resize_with_crop_or_pad(image, output_height, output_width)
  return image * 2.0 - 1.0
