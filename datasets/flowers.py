"""The TensorFlow flowers data set (flower_photos), as converted by
download_and_convert_flowers.py.

3,670 JPEG photos of 5 classes; 350 are held out (seeded) for validation,
leaving 3,320 for training. When the converter was run on another archive the
sizes come from the split_sizes.json it wrote.
"""

from slim_zoo.datasets import convert_utils
from slim_zoo.datasets import dataset_utils

FILE_PATTERN = 'flowers_%s_*.tfrecord'
SPLITS_TO_SIZES = {'train': 3320, 'validation': 350}
NUM_CLASSES = 5
CHANNELS = 3


def get_split(split_name, dataset_dir, file_pattern=None):
  sizes = convert_utils.read_split_sizes(dataset_dir)
  splits = sizes['splits'] if sizes else SPLITS_TO_SIZES
  num_classes = sizes['num_classes'] if sizes else NUM_CLASSES
  return dataset_utils.make_spec('flowers', split_name, dataset_dir, splits,
                                 file_pattern or FILE_PATTERN, num_classes,
                                 channels=CHANNELS,
                                 recorded_files=convert_utils.recorded_files(
                                     sizes, file_pattern))
