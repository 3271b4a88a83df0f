"""Selects a dataset by name and returns the DatasetSpec of one split."""

import importlib

from slim_zoo.nets.nets_factory import unknown_name_error

# Dataset name -> module with get_split(split_name, dataset_dir, file_pattern).
_DATASETS = {
    'cifar10': 'slim_zoo.datasets.cifar10',
    'digits': 'slim_zoo.datasets.digits',
    'flowers': 'slim_zoo.datasets.flowers',
    'image_folder': 'slim_zoo.datasets.image_folder',
    'imagenet': 'slim_zoo.datasets.imagenet',
    'mnist': 'slim_zoo.datasets.mnist',
    'visualwakewords': 'slim_zoo.datasets.visualwakewords',
}


def names():
  return sorted(_DATASETS)


def get_module(name):
  if name not in _DATASETS:
    raise unknown_name_error('dataset_name', name, _DATASETS)
  return importlib.import_module(_DATASETS[name])


def get_dataset(name, split_name, dataset_dir, file_pattern=None):
  """Returns the DatasetSpec of `split_name` of dataset `name`.

  Raises:
    ValueError: unknown dataset or split, missing dataset directory or files
      (each message names the fix).
  """
  return get_module(name).get_split(split_name, dataset_dir, file_pattern)
