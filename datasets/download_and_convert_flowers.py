"""Downloads the flower_photos tarball and converts it to TF-Slim TFRecords.

flower_photos.tgz holds flower_photos/<class>/*.jpg for five classes (daisy,
dandelion, roses, sunflowers, tulips). Like TF-Slim, the photo list is
shuffled with seed 0 and the first 350 photos become the validation split;
each split is written as 5 shards named
flowers_<split>_0000N-of-00005.tfrecord, with labels.txt and
split_sizes.json (written last). JPEG bytes are stored unchanged.
"""

import os
import shutil

from slim_zoo.datasets import convert_utils
from slim_zoo.datasets import dataset_utils
from slim_zoo.datasets import flowers

DEFAULT_BASE_URL = 'http://download.tensorflow.org/example_images/'
ARCHIVE = 'flower_photos.tgz'
NUM_SHARDS = 5
NUM_VALIDATION = 350
RANDOM_SEED = 0
SHARD_FORMAT = 'flowers_{split}_{shard:05d}-of-{num_shards:05d}.tfrecord'
_PHOTO_DIR = 'flower_photos'


def run(dataset_dir, base_url=DEFAULT_BASE_URL, num_validation=None,
        num_threads=None):
  """Downloads and converts flowers; does nothing if the outputs exist.

  Returns:
    {'train': N, 'validation': M, 'skipped': [(path, reason)]}.
  """
  sizes = convert_utils.read_split_sizes(dataset_dir)
  if sizes is not None:
    print(f'Flowers TFRecords already exist in {dataset_dir}; nothing to do.')
    return dict(sizes['splits'], skipped=[])
  num_validation = NUM_VALIDATION if num_validation is None else num_validation
  download_dir = os.path.join(dataset_dir, 'downloads')
  dataset_utils.download_and_uncompress_tarball(
      base_url.rstrip('/') + '/' + ARCHIVE, download_dir)
  photo_dir = os.path.join(download_dir, _PHOTO_DIR)
  if not os.path.isdir(photo_dir):
    raise dataset_utils.DatasetError(
        f'{ARCHIVE} has no {_PHOTO_DIR}/ directory; delete {download_dir} '
        'and download again.')
  class_names, files = convert_utils.list_class_folders(
      photo_dir, extensions=('.jpg', '.jpeg'))
  items = [convert_utils.Item(path=path, label=label, text=name)
           for label, name in enumerate(class_names) for path in files[name]]
  train, validation = convert_utils.seeded_split(items, num_validation,
                                                 RANDOM_SEED)
  jobs = {split: (split_items, convert_utils.fresh_shard_paths(
      dataset_dir, SHARD_FORMAT, split, NUM_SHARDS))
          for split, split_items in (('train', train),
                                     ('validation', validation))}
  workers = num_threads or convert_utils.default_workers(len(items))
  results = convert_utils.write_splits(jobs, 'jpeg', num_workers=workers,
                                       prefix='Converting flowers')
  written, skipped = convert_utils.finish_splits(
      dataset_dir, results, dict(enumerate(class_names)))
  shutil.rmtree(photo_dir, ignore_errors=True)
  print(f'Finished converting flowers into {dataset_dir}: '
        f'{written["train"]} train, {written["validation"]} validation.')
  convert_utils.report_skipped(skipped)
  if (not skipped and num_validation == NUM_VALIDATION and
      written != flowers.SPLITS_TO_SIZES):
    print(f'Note: the sizes differ from the published flower_photos '
          f'({flowers.SPLITS_TO_SIZES}); split_sizes.json has the real ones.')
  return dict(written, skipped=skipped)
