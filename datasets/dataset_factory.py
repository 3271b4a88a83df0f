"""Selects a dataset by name and returns the DatasetSpec of one split."""

import importlib

from nets.nets_factory import unknown_name_error

# Dataset name -> module with get_split(split_name, dataset_dir, file_pattern).
_DATASETS = {
    'cifar10': 'datasets.cifar10',
    'digits': 'datasets.digits',
    'flowers': 'datasets.flowers',
    'image_folder': 'datasets.image_folder',
    'imagenet': 'datasets.imagenet',
    'mnist': 'datasets.mnist',
    'visualwakewords': 'datasets.visualwakewords',
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
