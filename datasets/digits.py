"""scikit-learn's bundled 8x8 handwritten digits in MNIST format.

The UCI optical-recognition digits (1,797 images) ship inside scikit-learn, so
this dataset needs no download. download_and_convert_digits.py upsamples them
to 28x28 grayscale (a 20x20 digit centred in a 28x28 frame, like MNIST) and
writes a fixed, seeded train/test split.
"""

from slim_zoo.datasets import dataset_utils

FILE_PATTERN = 'digits_%s.tfrecord'
NUM_TEST = 360
NUM_TOTAL = 1797
SPLITS_TO_SIZES = {'train': NUM_TOTAL - NUM_TEST, 'test': NUM_TEST}
NUM_CLASSES = 10
CHANNELS = 1


def get_split(split_name, dataset_dir, file_pattern=None):
  return dataset_utils.make_spec('digits', split_name, dataset_dir,
                                 SPLITS_TO_SIZES, file_pattern or FILE_PATTERN,
                                 NUM_CLASSES, channels=CHANNELS)
