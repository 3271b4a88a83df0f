"""Selects the preprocessing function for a network or a preprocessing family.

Which family a network uses is a fact of the registry (NetSpec.preprocessing);
this module only maps family names to their modules.
"""

import importlib

from slim_zoo.nets import nets_factory
from slim_zoo.errors import UsageError

# Family name -> module implementing preprocess_image(image, h, w, is_training,
# **kwargs). Keyed by preprocessing family, not by network name.
_FAMILIES = {
    'cifarnet': 'slim_zoo.preprocessing.cifarnet_preprocessing',
    'inception': 'slim_zoo.preprocessing.inception_preprocessing',
    'lenet': 'slim_zoo.preprocessing.lenet_preprocessing',
    'vgg': 'slim_zoo.preprocessing.vgg_preprocessing',
}


def family_names():
  return sorted(_FAMILIES)


def resolve_family(name):
  """Maps a network name or a family name to a preprocessing family name."""
  if not isinstance(name, str):
    raise UsageError(f'preprocessing_name must be a string, got {name!r}; '
                     f'use a network or family name such as \'inception\'.')
  if name in _FAMILIES:
    return name
  if name in nets_factory.REGISTRY:
    return nets_factory.get_spec(name).preprocessing
  raise nets_factory.unknown_name_error(
      'preprocessing_name', name,
      sorted(set(_FAMILIES) | set(nets_factory.REGISTRY)))


def get_preprocessing(name, is_training=False, use_grayscale=False):
  """Returns ``fn(image, output_height, output_width, **kwargs)``.

  Args:
    name: a registered network name (its registry preprocessing is used) or a
      preprocessing family name (cifarnet, inception, lenet, vgg).
    is_training: training-time augmentation or deterministic evaluation.
    use_grayscale: convert images to one channel.

  Raises:
    ValueError: if `name` is neither a network nor a family.
  """
  module = importlib.import_module(_FAMILIES[resolve_family(name)])

  def preprocessing_fn(image, output_height, output_width, **kwargs):
    fixed = sorted({'is_training', 'use_grayscale'} & set(kwargs))
    if fixed:
      raise UsageError(
          f'{", ".join(fixed)} cannot be passed to the preprocessing function; '
          f'give it to get_preprocessing({name!r}, ...) instead.')
    return module.preprocess_image(image, output_height, output_width,
                                   is_training=is_training,
                                   use_grayscale=use_grayscale, **kwargs)

  return preprocessing_fn
