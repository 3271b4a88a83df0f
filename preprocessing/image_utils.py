"""Conversions every preprocessing family shares."""

from slim_zoo.nets.compat import tf
from slim_zoo.errors import UsageError


def to_float01(image):
  """Returns `image` as float32 in [0, 1].

  uint8 (and other integer) images are scaled by their dtype's maximum;
  floating-point images are taken to be in [0, 1] already.
  """
  image = tf.convert_to_tensor(image)
  if image.dtype.is_floating:
    return tf.cast(image, tf.float32)
  return tf.image.convert_image_dtype(image, tf.float32)


def maybe_grayscale(image, use_grayscale):
  """Converts a 3-channel image to 1 channel when `use_grayscale` is set."""
  if not use_grayscale:
    return image
  channels = image.shape[-1]
  if channels is not None and channels == 1:
    return image
  return tf.image.rgb_to_grayscale(image)


def check_rank3(image):
  """Raises ValueError unless `image` is a [height, width, channels] tensor."""
  rank = image.shape.ndims
  if rank is not None and rank != 3:
    raise UsageError(f'Expected an image of rank 3 [height, width, channels], '
                     f'got shape {image.shape.as_list()}.')
