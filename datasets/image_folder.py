"""Your own images: a directory of class sub-directories, converted by
download_and_convert_image_folder.py.

The split sizes and the number of classes are not fixed: the converter writes
them to split_sizes.json next to the TFRecords, and this spec reads them, so
`--dataset_name=image_folder --dataset_dir=DIR` needs no code.
"""

from slim_zoo.datasets import convert_utils
from slim_zoo.datasets import dataset_utils

FILE_PATTERN = '%s-*.tfrecord'
SPLITS = ('train', 'validation')
CHANNELS = 3


def get_split(split_name, dataset_dir, file_pattern=None):
  hint = ('python download_and_convert_data.py --dataset_name=image_folder '
          f'--image_dir=YOUR_IMAGES --dataset_dir={dataset_dir or "DIR"}')
  sizes = convert_utils.read_split_sizes(dataset_dir)
  if sizes is None:
    if split_name not in SPLITS:
      raise dataset_utils.DatasetError(
          f'Unknown split {split_name!r} for dataset \'image_folder\'; valid '
          f'splits: {", ".join(SPLITS)}.')
    raise dataset_utils.DatasetError(
        f'No {convert_utils.SIZES_FILENAME} in {dataset_dir}: it is not a '
        f'converted image folder; create it with: {hint}')
  return dataset_utils.make_spec('image_folder', split_name, dataset_dir,
                                 sizes['splits'], file_pattern or FILE_PATTERN,
                                 sizes['num_classes'], channels=CHANNELS,
                                 convert_hint=hint,
                                 recorded_files=convert_utils.recorded_files(
                                     sizes, file_pattern))
