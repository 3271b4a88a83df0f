"""Downloads a dataset and converts it to TF-Slim TFRecords.

Usage:
  python download_and_convert_data.py --dataset_name=mnist --dataset_dir=/tmp/mnist
  python download_and_convert_data.py --dataset_name=cifar10 --dataset_dir=/tmp/cifar10
  python download_and_convert_data.py --dataset_name=digits --dataset_dir=/tmp/digits

Running it again when the outputs exist does nothing.
"""

import importlib
import sys

from absl import app
from absl import flags

import common_flags

_CONVERTERS = {
    'cifar10': 'datasets.download_and_convert_cifar10',
    'digits': 'datasets.download_and_convert_digits',
    'mnist': 'datasets.download_and_convert_mnist',
}

flags.DEFINE_string('dataset_name', None,
                    f'Dataset to convert: {", ".join(sorted(_CONVERTERS))}.')
flags.DEFINE_string('dataset_dir', None,
                    'Directory where the TFRecords and labels.txt are written.')
flags.DEFINE_string('download_base_url', None,
                    'Base URL to download from instead of the dataset\'s '
                    'default (a mirror, or a local server).')
FLAGS = flags.FLAGS


def convert(dataset_name, dataset_dir, download_base_url=None):
  """Runs the converter of `dataset_name`; returns its output paths."""
  if dataset_name not in _CONVERTERS:
    from nets.nets_factory import unknown_name_error
    raise unknown_name_error('dataset_name', dataset_name, _CONVERTERS)
  if not dataset_dir:
    raise ValueError('--dataset_dir is required: the directory to write the '
                     'TFRecords into.')
  module = importlib.import_module(_CONVERTERS[dataset_name])
  kwargs = {}
  if download_base_url:
    kwargs['base_url'] = download_base_url
  return module.run(dataset_dir, **kwargs)


def main(argv):
  del argv
  common_flags.run_or_exit(lambda: convert(
      FLAGS.dataset_name, FLAGS.dataset_dir, FLAGS.download_base_url))


if __name__ == '__main__':
  sys.exit(app.run(main, flags_parser=common_flags.parse_flags_or_exit))
