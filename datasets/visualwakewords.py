"""Visual Wake Words (person / not-person on COCO 2014), as converted by
download_and_convert_visualwakewords.py.

Label 1 ("person") when the image has a person whose area is more than
--small_object_area_threshold (0.005) of the image, else 0 ("background").
train = COCO train2014 (82,783 images), val = COCO val2014 (40,504 images);
split_sizes.json overrides these when the converter saw other data.
"""

from slim_zoo.datasets import convert_utils
from slim_zoo.datasets import dataset_utils

FILE_PATTERN = '%s.record-*'
SPLITS_TO_SIZES = {'train': 82783, 'val': 40504}
NUM_CLASSES = 2
CHANNELS = 3


def get_split(split_name, dataset_dir, file_pattern=None):
  sizes = convert_utils.read_split_sizes(dataset_dir)
  splits = sizes['splits'] if sizes else SPLITS_TO_SIZES
  return dataset_utils.make_spec('visualwakewords', split_name, dataset_dir,
                                 splits, file_pattern or FILE_PATTERN,
                                 NUM_CLASSES, channels=CHANNELS,
                                 has_bboxes=True,
                                 recorded_files=convert_utils.recorded_files(
                                     sizes, file_pattern))
