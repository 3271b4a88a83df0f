"""MNIST handwritten digits, as converted by download_and_convert_mnist.py.

28x28 grayscale PNGs, 60,000 training and 10,000 test images, labels 0-9.
"""

from slim_zoo.datasets import dataset_utils

FILE_PATTERN = 'mnist_%s.tfrecord'
SPLITS_TO_SIZES = {'train': 60000, 'test': 10000}
NUM_CLASSES = 10
CHANNELS = 1


def get_split(split_name, dataset_dir, file_pattern=None):
  return dataset_utils.make_spec('mnist', split_name, dataset_dir,
                                 SPLITS_TO_SIZES, file_pattern or FILE_PATTERN,
                                 NUM_CLASSES, channels=CHANNELS)
