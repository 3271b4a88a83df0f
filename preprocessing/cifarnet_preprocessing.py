"""CifarNet preprocessing: padded random crops and photometric noise.

Training: zero-pad by `padding` pixels, random crop back to size, random
left-right flip, random brightness and contrast, per-image standardization.
Evaluation: central crop (or pad) to size and per-image standardization.
"""

from slim_zoo.nets.compat import tf
from slim_zoo.preprocessing import image_utils

_PADDING = 4
# TF-Slim used a brightness delta of 63 on [0, 255] pixels.
_MAX_BRIGHTNESS_DELTA = 63.0 / 255.0


# Op-level seed offsets so that no two random ops share a seed.
_SEED_CROP, _SEED_FLIP, _SEED_BRIGHTNESS, _SEED_CONTRAST = range(4)


def _op_seed(seed, offset):
  return None if seed is None else seed + offset


def preprocess_for_train(image, output_height, output_width, padding=_PADDING,
                         add_image_summaries=False, use_grayscale=False,
                         seed=None):
  image = image_utils.to_float01(image)
  image_utils.check_rank3(image)
  image = image_utils.maybe_grayscale(image, use_grayscale)
  if add_image_summaries:
    tf.summary.image('image', tf.expand_dims(image, 0))
  if padding > 0:
    image = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
  # Pads further when the image is smaller than the crop.
  shape = tf.shape(image)
  image = tf.image.pad_to_bounding_box(
      image, 0, 0, tf.maximum(shape[0], output_height),
      tf.maximum(shape[1], output_width))
  channels = image.shape.as_list()[-1]
  if channels is None:
    channels = tf.shape(image)[-1]
  distorted = tf.image.random_crop(
      image, tf.stack([output_height, output_width, channels]),
      seed=_op_seed(seed, _SEED_CROP))
  distorted = tf.image.random_flip_left_right(
      distorted, seed=_op_seed(seed, _SEED_FLIP))
  if add_image_summaries:
    tf.summary.image('distorted_image', tf.expand_dims(distorted, 0))
  distorted = tf.image.random_brightness(
      distorted, max_delta=_MAX_BRIGHTNESS_DELTA,
      seed=_op_seed(seed, _SEED_BRIGHTNESS))
  distorted = tf.image.random_contrast(distorted, lower=0.2, upper=1.8,
                                       seed=_op_seed(seed, _SEED_CONTRAST))
  return tf.image.per_image_standardization(distorted)


def preprocess_for_eval(image, output_height, output_width,
                        add_image_summaries=False, use_grayscale=False):
  image = image_utils.to_float01(image)
  image_utils.check_rank3(image)
  image = image_utils.maybe_grayscale(image, use_grayscale)
  if add_image_summaries:
    tf.summary.image('image', tf.expand_dims(image, 0))
  resized = tf.image.resize_with_crop_or_pad(image, output_height,
                                             output_width)
  return tf.image.per_image_standardization(resized)


def preprocess_image(image, output_height, output_width, is_training=False,
                     add_image_summaries=False, use_grayscale=False,
                     seed=None, **unused_kwargs):
  """Preprocesses one image for CifarNet.

  Args:
    image: Tensor [height, width, channels], uint8 or float in [0, 1].
    output_height, output_width: output size.
    is_training: training (random crop/flip/colour) or evaluation.
    add_image_summaries: add image summaries of the input and the result.
    use_grayscale: convert RGB input to one channel.
    seed: training only; optional op-level seed for reproducible crops,
      flips and colour changes (combined with the graph-level seed).

  Returns:
    float32 Tensor [output_height, output_width, channels], zero mean and unit
    variance per image.
  """
  if is_training:
    return preprocess_for_train(image, output_height, output_width,
                                add_image_summaries=add_image_summaries,
                                use_grayscale=use_grayscale, seed=seed)
  return preprocess_for_eval(image, output_height, output_width,
                             add_image_summaries=add_image_summaries,
                             use_grayscale=use_grayscale)
