"""VGG preprocessing: scale augmentation and per-channel mean subtraction.

The recipe of Simonyan & Zisserman, "Very Deep Convolutional Networks for
Large-Scale Image Recognition" (2014), used by the TF-Slim VGG, AlexNet,
OverFeat and ResNet v1 checkpoints.

Training: resize so that the smallest side is a random size in
[resize_side_min, resize_side_max] (aspect ratio kept), take a random crop of
the output size, flip left-right at random, subtract the ImageNet channel
means. Evaluation: resize the smallest side to `resize_side`, central crop,
subtract the means.

Pixel values stay on the 0-255 scale of the published checkpoints: uint8
input is used as is, float input in [0, 1] is multiplied by 255. Grayscale
(one-channel) images have the plain average of the three channel means
subtracted, 114.8 (the luma-weighted average would be 117.4; no published
checkpoint fixes the choice).

Images smaller than the crop are upscaled further, so that both sides reach
the output size after the aspect-preserving resize; nothing is ever padded.
"""

from slim_zoo.nets.compat import tf
from slim_zoo.preprocessing import image_utils
from slim_zoo.errors import UsageError

_R_MEAN = 123.68
_G_MEAN = 116.78
_B_MEAN = 103.94
_GRAY_MEAN = (_R_MEAN + _G_MEAN + _B_MEAN) / 3.0

_RESIZE_SIDE_MIN = 256
_RESIZE_SIDE_MAX = 512

# Op-level seed offsets, so that the crop and the flip never share a seed.
_SEED_RESIZE_SIDE = 0
_SEED_CROP = 1
_SEED_FLIP = 2


def _op_seed(seed, offset):
  return None if seed is None else seed + offset


def _to_float255(image):
  """float32 image on the 0-255 scale; uint8 is cast so values stay exact."""
  image = tf.convert_to_tensor(image)
  if image.dtype == tf.uint8:
    return tf.cast(image, tf.float32)
  return image_utils.to_float01(image) * 255.0


def _num_channels(image):
  """Static channel count; an unknown count is taken to be 3 (RGB)."""
  channels = image.shape[-1]
  if channels is None:
    image.set_shape([None, None, 3])
    return 3
  return int(channels)


def _mean_image_subtraction(image, channels):
  """Subtracts the ImageNet mean of each channel.

  Args:
    image: float Tensor [height, width, channels] on the 0-255 scale.
    channels: static channel count, 3 (R, G, B) or 1 (gray).

  Returns:
    Tensor of the same shape.

  Raises:
    ValueError: if `channels` is neither 1 nor 3.
  """
  if channels == 3:
    means = [_R_MEAN, _G_MEAN, _B_MEAN]
  elif channels == 1:
    means = [_GRAY_MEAN]
  else:
    raise UsageError(f'VGG preprocessing takes images with 3 (RGB) or 1 '
                     f'(gray) channels, got {channels}; convert the image '
                     f'first (e.g. drop the alpha channel).')
  return image - tf.constant(means, dtype=tf.float32)


def _aspect_preserving_resize(image, smallest_side, min_height, min_width):
  """Resizes so the smallest side is `smallest_side`, keeping aspect ratio.

  The scale is raised where needed so that the result is at least
  min_height x min_width (a very wide image and a tall crop, say).

  Args:
    image: float Tensor [height, width, channels].
    smallest_side: int or int32 scalar Tensor, target of the smaller side.
    min_height, min_width: ints, the smallest acceptable result size.

  Returns:
    float Tensor [new_height, new_width, channels].
  """
  shape = tf.shape(image)
  height = tf.cast(shape[0], tf.float32)
  width = tf.cast(shape[1], tf.float32)
  smallest_side = tf.cast(smallest_side, tf.float32)
  scale = tf.maximum(smallest_side / tf.minimum(height, width),
                     tf.maximum(min_height / height, min_width / width))
  new_height = tf.maximum(tf.cast(tf.round(height * scale), tf.int32),
                          min_height)
  new_width = tf.maximum(tf.cast(tf.round(width * scale), tf.int32), min_width)
  # Legacy bilinear (align_corners=False), as the checkpoints were trained.
  return tf.image.resize(image, tf.stack([new_height, new_width]),
                         method=tf.image.ResizeMethod.BILINEAR,
                         align_corners=False)


def _central_crop(image, crop_height, crop_width):
  """Crops the central crop_height x crop_width window (offsets round down)."""
  shape = tf.shape(image)
  offset_height = (shape[0] - crop_height) // 2
  offset_width = (shape[1] - crop_width) // 2
  return tf.slice(image, tf.stack([offset_height, offset_width, 0]),
                  [crop_height, crop_width, -1])


def preprocess_for_train(image, output_height, output_width,
                         resize_side_min=_RESIZE_SIDE_MIN,
                         resize_side_max=_RESIZE_SIDE_MAX,
                         use_grayscale=False, seed=None):
  """Scale-augments, crops and flips one image for training.

  Args:
    image: Tensor [height, width, channels] (channels 3 or 1), uint8 or float
      in [0, 1].
    output_height, output_width: output size.
    resize_side_min, resize_side_max: range (inclusive) of the random
      smallest side before cropping.
    use_grayscale: convert to one channel.
    seed: optional op-level seed for reproducible augmentation.

  Returns:
    float32 Tensor [output_height, output_width, channels], mean subtracted
    on the 0-255 scale.

  Raises:
    ValueError: if the resize range is empty or not positive.
  """
  if not 0 < resize_side_min <= resize_side_max:
    raise UsageError(f'resize_side_min={resize_side_min} and resize_side_max='
                     f'{resize_side_max} must satisfy 0 < min <= max.')
  image = _to_float255(image)
  image_utils.check_rank3(image)
  image = image_utils.maybe_grayscale(image, use_grayscale)
  channels = _num_channels(image)
  resize_side = tf.random_uniform([], minval=resize_side_min,
                                  maxval=resize_side_max + 1, dtype=tf.int32,
                                  seed=_op_seed(seed, _SEED_RESIZE_SIDE))
  image = _aspect_preserving_resize(image, resize_side, output_height,
                                    output_width)
  image = tf.image.random_crop(image, [output_height, output_width, channels],
                               seed=_op_seed(seed, _SEED_CROP))
  image = tf.image.random_flip_left_right(image,
                                          seed=_op_seed(seed, _SEED_FLIP))
  image.set_shape([output_height, output_width, channels])
  return _mean_image_subtraction(image, channels)


def preprocess_for_eval(image, output_height, output_width,
                        resize_side=_RESIZE_SIDE_MIN, use_grayscale=False):
  """Resizes and centrally crops one image for evaluation.

  Args:
    image: Tensor [height, width, channels] (channels 3 or 1), uint8 or float
      in [0, 1].
    output_height, output_width: output size.
    resize_side: smallest side after the aspect-preserving resize.
    use_grayscale: convert to one channel.

  Returns:
    float32 Tensor [output_height, output_width, channels], mean subtracted
    on the 0-255 scale.

  Raises:
    ValueError: if `resize_side` is not positive.
  """
  if not resize_side > 0:
    raise UsageError(f'resize_side={resize_side} must be a positive number of '
                     f'pixels (256 for the published checkpoints).')
  image = _to_float255(image)
  image_utils.check_rank3(image)
  image = image_utils.maybe_grayscale(image, use_grayscale)
  channels = _num_channels(image)
  image = _aspect_preserving_resize(image, resize_side, output_height,
                                    output_width)
  image = _central_crop(image, output_height, output_width)
  image.set_shape([output_height, output_width, channels])
  return _mean_image_subtraction(image, channels)


def preprocess_image(image, output_height, output_width, is_training=False,
                     use_grayscale=False, resize_side_min=_RESIZE_SIDE_MIN,
                     resize_side_max=_RESIZE_SIDE_MAX, resize_side=None,
                     seed=None, **unused_kwargs):
  """Preprocesses one image for the VGG family of checkpoints.

  Args:
    image: Tensor [height, width, channels] (channels 3 or 1), uint8 or float
      in [0, 1].
    output_height, output_width: output size.
    is_training: training augmentation or deterministic evaluation.
    use_grayscale: convert to one channel.
    resize_side_min: training only; smallest side range start.
    resize_side_max: training only; smallest side range end (inclusive).
    resize_side: evaluation only; smallest side before the central crop;
      None uses `resize_side_min` (256 by default).
    seed: training only; optional op-level seed.
    **unused_kwargs: options of other preprocessing families, ignored so that
      one call works for every family.

  Returns:
    float32 Tensor [output_height, output_width, channels], mean subtracted
    on the 0-255 scale.
  """
  if is_training:
    return preprocess_for_train(image, output_height, output_width,
                                resize_side_min=resize_side_min,
                                resize_side_max=resize_side_max,
                                use_grayscale=use_grayscale, seed=seed)
  return preprocess_for_eval(image, output_height, output_width,
                             resize_side=(resize_side_min if resize_side is None
                                          else resize_side),
                             use_grayscale=use_grayscale)
