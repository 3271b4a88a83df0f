"""Downloads a dataset and converts it to TF-Slim TFRecords: convert().

Running it again when the outputs exist does nothing.
"""

import importlib
import inspect
import os

from slim_zoo.errors import UsageError

CONVERTERS = {
    'cifar10': 'slim_zoo.datasets.download_and_convert_cifar10',
    'digits': 'slim_zoo.datasets.download_and_convert_digits',
    'flowers': 'slim_zoo.datasets.download_and_convert_flowers',
    'image_folder': 'slim_zoo.datasets.download_and_convert_image_folder',
    'imagenet': 'slim_zoo.datasets.download_and_convert_imagenet',
    'mnist': 'slim_zoo.datasets.download_and_convert_mnist',
    'visualwakewords': 'slim_zoo.datasets.download_and_convert_visualwakewords',
}

# Flag name -> keyword argument of the converters' run().
OPTION_FLAGS = {
    'image_dir': 'image_dir',
    'imagenet_raw_dir': 'raw_dir',
    'bbox_dir': 'bbox_dir',
    'synsets_file': 'synsets_file',
    'metadata_file': 'metadata_file',
    'validation_labels_file': 'validation_labels_file',
    'train_shards': 'train_shards',
    'validation_shards': 'validation_shards',
    'num_threads': 'num_threads',
    'num_validation': 'num_validation',
    'validation_fraction': 'validation_fraction',
    'small_object_area_threshold': 'small_object_area_threshold',
    'foreground_class_of_interest': 'foreground_class',
}

# Numeric options: flag name -> (test, what is valid, an example value).
_NUMERIC_OPTIONS = {
    'train_shards': (lambda v: v >= 1, 'a positive integer', 8),
    'validation_shards': (lambda v: v >= 1, 'a positive integer', 2),
    'num_threads': (lambda v: v >= 1, 'a positive integer', 4),
    'num_validation': (lambda v: v >= 0, 'an integer >= 0', 350),
    'validation_fraction': (lambda v: 0.0 <= v < 1.0, 'in [0, 1)', 0.1),
    'small_object_area_threshold': (lambda v: 0.0 <= v < 1.0, 'in [0, 1)',
                                    0.005),
}


def check_option(flag_name, value):
  """Raises UsageError for a numeric option outside its valid range."""
  if flag_name not in _NUMERIC_OPTIONS:
    return
  valid, what, example = _NUMERIC_OPTIONS[flag_name]
  if not valid(value):
    raise UsageError(f'--{flag_name}={value} is not valid: it must be {what}; '
                     f'pass e.g. --{flag_name}={example}, or leave it out for '
                     "the dataset's default.")


def convert(dataset_name, dataset_dir, download_base_url=None, **options):
  """Runs the converter of `dataset_name`; returns what it returns.

  Args:
    dataset_name: a key of CONVERTERS.
    dataset_dir: output directory.
    download_base_url: optional mirror / local server base URL.
    **options: flag names of OPTION_FLAGS; None values are ignored.

  Raises:
    ValueError: unknown dataset, missing dataset_dir, an option the
      dataset does not take, or a numeric option out of range.
  """
  if dataset_name not in CONVERTERS:
    from slim_zoo.nets.nets_factory import unknown_name_error
    raise unknown_name_error('dataset_name', dataset_name, CONVERTERS)
  if not dataset_dir:
    raise UsageError('--dataset_dir is required: the directory to write the '
                     'TFRecords into.')
  if os.path.exists(dataset_dir) and not os.path.isdir(dataset_dir):
    raise UsageError(f'--dataset_dir={dataset_dir} is a file, not a '
                     'directory; pass a directory to write the TFRecords '
                     'into.')
  module = importlib.import_module(CONVERTERS[dataset_name])
  accepted = inspect.signature(module.run).parameters
  kwargs = {}
  if download_base_url:
    if 'base_url' not in accepted:
      raise UsageError(f'--download_base_url does not apply to '
                       f'{dataset_name}: it downloads nothing.')
    kwargs['base_url'] = download_base_url
  for flag_name, value in options.items():
    if value is None:
      continue
    if flag_name not in OPTION_FLAGS:
      raise UsageError(f'Unknown converter option {flag_name!r}; valid: '
                       f'{", ".join(sorted(OPTION_FLAGS))}.')
    if OPTION_FLAGS[flag_name] not in accepted:
      valid = sorted(f for f, k in OPTION_FLAGS.items() if k in accepted)
      raise UsageError(f'--{flag_name} does not apply to {dataset_name}; '
                       f'its options are: {", ".join(valid) or "none"}.')
    check_option(flag_name, value)
    kwargs[OPTION_FLAGS[flag_name]] = value
  return module.run(dataset_dir, **kwargs)
