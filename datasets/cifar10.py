"""CIFAR-10, as converted by download_and_convert_cifar10.py.

32x32 RGB PNGs, 50,000 training and 10,000 test images, 10 classes.
"""

from slim_zoo.datasets import dataset_utils

FILE_PATTERN = 'cifar10_%s.tfrecord'
SPLITS_TO_SIZES = {'train': 50000, 'test': 10000}
NUM_CLASSES = 10
CHANNELS = 3


def get_split(split_name, dataset_dir, file_pattern=None):
  return dataset_utils.make_spec('cifar10', split_name, dataset_dir,
                                 SPLITS_TO_SIZES, file_pattern or FILE_PATTERN,
                                 NUM_CLASSES, channels=CHANNELS)
