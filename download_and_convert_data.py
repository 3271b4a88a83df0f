"""Downloads a dataset and converts it to TF-Slim TFRecords.

Usage:
  python download_and_convert_data.py --dataset_name=mnist --dataset_dir=/tmp/mnist
  python download_and_convert_data.py --dataset_name=cifar10 --dataset_dir=/tmp/cifar10
  python download_and_convert_data.py --dataset_name=digits --dataset_dir=/tmp/digits
  python download_and_convert_data.py --dataset_name=flowers --dataset_dir=/tmp/flowers
  python download_and_convert_data.py --dataset_name=visualwakewords \\
      --dataset_dir=/tmp/vww
  python download_and_convert_data.py --dataset_name=imagenet \\
      --dataset_dir=/tmp/imagenet --imagenet_raw_dir=/data/ILSVRC2012
  python download_and_convert_data.py --dataset_name=image_folder \\
      --image_dir=/my/photos --dataset_dir=/tmp/my_photos

Running it again when the outputs exist does nothing.
"""

import importlib
import inspect
import sys

from absl import app
from absl import flags

import common_flags

_CONVERTERS = {
    'cifar10': 'datasets.download_and_convert_cifar10',
    'digits': 'datasets.download_and_convert_digits',
    'flowers': 'datasets.download_and_convert_flowers',
    'image_folder': 'datasets.download_and_convert_image_folder',
    'imagenet': 'datasets.download_and_convert_imagenet',
    'mnist': 'datasets.download_and_convert_mnist',
    'visualwakewords': 'datasets.download_and_convert_visualwakewords',
}

# Flag name -> keyword argument of the converters' run().
_OPTION_FLAGS = {
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

def _define_flags():
  """Defines this script's flags; called only when it runs as a script.

  Importing convert() (tests, recipes) must not clash with the flags that
  train/eval/export define for the same names.
  """
  flags.DEFINE_string('dataset_name', None,
                      f'Dataset to convert: {", ".join(sorted(_CONVERTERS))}.')
  flags.DEFINE_string('dataset_dir', None,
                      'Directory where the TFRecords and labels.txt are written.')
  flags.DEFINE_string('download_base_url', None,
                      'Base URL to download from instead of the dataset\'s '
                      'default (a mirror, or a local server).')
  flags.DEFINE_string('image_dir', None,
                      'image_folder: directory with one sub-directory of images '
                      '(jpeg/png/bmp/gif) per class.')
  flags.DEFINE_string('imagenet_raw_dir', None,
                      'imagenet: raw layout with train/<synset>/*.JPEG and '
                      'validation/*.JPEG (instead of downloading).')
  flags.DEFINE_string('bbox_dir', None,
                      'imagenet: directory of ILSVRC XML box annotations '
                      '(default RAW/bounding_boxes).')
  flags.DEFINE_string('synsets_file', None,
                      'imagenet: synsets in label order (default '
                      'datasets/imagenet_lsvrc_2015_synsets.txt).')
  flags.DEFINE_string('metadata_file', None,
                      'imagenet: "synset<TAB>name" lines (default '
                      'datasets/imagenet_metadata.txt).')
  flags.DEFINE_string('validation_labels_file', None,
                      'imagenet: synset of each validation image, one a line '
                      '(default datasets/'
                      'imagenet_2012_validation_synset_labels.txt).')
  flags.DEFINE_integer('train_shards', None,
                       'Training shards (imagenet 1024, visualwakewords 100, '
                       'image_folder 8).')
  flags.DEFINE_integer('validation_shards', None,
                       'Validation shards (imagenet 128, visualwakewords 10, '
                       'image_folder 2).')
  flags.DEFINE_integer('num_threads', None,
                       'Processes converting shards in parallel (default: one '
                       'per CPU, at most 8, for 1,000 images or more; else 1).')
  flags.DEFINE_integer('num_validation', None,
                       'flowers: images held out for validation (default 350).')
  flags.DEFINE_float('validation_fraction', None,
                     'image_folder: fraction of each class held out for '
                     'validation (default 0.1).')
  flags.DEFINE_float('small_object_area_threshold', None,
                     'visualwakewords: minimum person area, as a fraction of '
                     'the image, for label 1 (default 0.005).')
  flags.DEFINE_string('foreground_class_of_interest', None,
                      'visualwakewords: COCO category of label 1 (default '
                      'person).')


FLAGS = flags.FLAGS


def convert(dataset_name, dataset_dir, download_base_url=None, **options):
  """Runs the converter of `dataset_name`; returns what it returns.

  Args:
    dataset_name: a key of _CONVERTERS.
    dataset_dir: output directory.
    download_base_url: optional mirror / local server base URL.
    **options: flag names of _OPTION_FLAGS; None values are ignored.

  Raises:
    ValueError: unknown dataset, missing dataset_dir, or an option the
      dataset does not take.
  """
  if dataset_name not in _CONVERTERS:
    from nets.nets_factory import unknown_name_error
    raise unknown_name_error('dataset_name', dataset_name, _CONVERTERS)
  if not dataset_dir:
    raise ValueError('--dataset_dir is required: the directory to write the '
                     'TFRecords into.')
  module = importlib.import_module(_CONVERTERS[dataset_name])
  accepted = inspect.signature(module.run).parameters
  kwargs = {}
  if download_base_url:
    if 'base_url' not in accepted:
      raise ValueError(f'--download_base_url does not apply to '
                       f'{dataset_name}: it downloads nothing.')
    kwargs['base_url'] = download_base_url
  for flag_name, value in options.items():
    if value is None:
      continue
    if flag_name not in _OPTION_FLAGS:
      raise ValueError(f'Unknown converter option {flag_name!r}; valid: '
                       f'{", ".join(sorted(_OPTION_FLAGS))}.')
    if _OPTION_FLAGS[flag_name] not in accepted:
      valid = sorted(f for f, k in _OPTION_FLAGS.items() if k in accepted)
      raise ValueError(f'--{flag_name} does not apply to {dataset_name}; '
                       f'its options are: {", ".join(valid) or "none"}.')
    kwargs[_OPTION_FLAGS[flag_name]] = value
  return module.run(dataset_dir, **kwargs)


def main(argv):
  del argv
  options = {name: FLAGS[name].value for name in _OPTION_FLAGS}
  common_flags.run_or_exit(lambda: convert(
      FLAGS.dataset_name, FLAGS.dataset_dir, FLAGS.download_base_url,
      **options))


if __name__ == '__main__':
  _define_flags()
  sys.exit(app.run(main, flags_parser=common_flags.parse_flags_or_exit))
