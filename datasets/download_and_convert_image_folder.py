"""Converts a directory of class sub-directories into sharded TFRecords.

  IMAGE_DIR/daisy/001.jpg, IMAGE_DIR/daisy/002.png, IMAGE_DIR/tulips/x.bmp ...

Classes are the sub-directory names in sorted order (labels 0..K-1, written
to labels.txt). A seeded, per-class fraction of the images is held out as the
validation split. JPEG and PNG files are stored as they are; BMP, GIF and
CMYK JPEG files are re-encoded as lossless PNG. Files that cannot be decoded
are skipped, listed and counted, never fatal. Shards are converted in
parallel processes. The split sizes go to split_sizes.json, written last,
which datasets/image_folder.py reads.
"""

import os

from slim_zoo.datasets import convert_utils
from slim_zoo.datasets import dataset_utils
from slim_zoo.datasets import image_folder

SHARD_FORMAT = '{split}-{shard:05d}-of-{num_shards:05d}.tfrecord'
DEFAULT_VALIDATION_FRACTION = 0.1
DEFAULT_TRAIN_SHARDS = 8
DEFAULT_VALIDATION_SHARDS = 2
DEFAULT_SEED = 0


def split_items(class_names, files, validation_fraction, seed):
  """Seeded per-class hold-out; returns {'train': items, 'validation': items}.

  Each class gives round(n * validation_fraction) images to validation (at
  least one when the fraction is positive and the class has two or more).
  Both lists are shuffled with the seed so shards mix the classes.
  """
  import random
  if not 0.0 <= validation_fraction < 1.0:
    raise dataset_utils.DatasetError(
        f'validation_fraction must be in [0, 1), got {validation_fraction}.')
  rng = random.Random(seed)
  splits = {'train': [], 'validation': []}
  for label, name in enumerate(class_names):
    paths = list(files[name])
    rng.shuffle(paths)
    count = int(round(len(paths) * validation_fraction))
    if validation_fraction > 0 and len(paths) >= 2:
      count = min(max(count, 1), len(paths) - 1)
    items = [convert_utils.Item(path=p, label=label, text=name) for p in paths]
    splits['validation'].extend(items[:count])
    splits['train'].extend(items[count:])
  for items in splits.values():
    rng.shuffle(items)
  return splits


def run(dataset_dir, image_dir=None, validation_fraction=None,
        train_shards=None, validation_shards=None, num_threads=None,
        seed=DEFAULT_SEED):
  """Converts `image_dir` into TFRecords in `dataset_dir`.

  Returns:
    {'train': N, 'validation': M, 'skipped': [(path, reason)]}.

  Raises:
    DatasetError: missing image_dir, fewer than two classes, an empty class,
      or dataset_dir inside a class directory.
  """
  if not image_dir:
    raise dataset_utils.DatasetError(
        '--image_dir is required for image_folder: the directory with one '
        'sub-directory of images per class.')
  sizes = convert_utils.read_split_sizes(dataset_dir)
  if sizes is not None:
    print(f'{dataset_dir} already holds a converted image folder; nothing to '
          'do (delete it to convert again).')
    return dict(sizes['splits'], skipped=[])
  validation_fraction = (DEFAULT_VALIDATION_FRACTION
                         if validation_fraction is None
                         else validation_fraction)
  class_names, files = convert_utils.list_class_folders(image_dir)
  out = os.path.realpath(dataset_dir)
  for name in class_names:
    class_dir = os.path.realpath(os.path.join(image_dir, name))
    if out == class_dir or out.startswith(class_dir + os.sep):
      raise dataset_utils.DatasetError(
          f'--dataset_dir {dataset_dir} is inside class directory '
          f'{class_dir}; write the TFRecords somewhere else.')
  splits = split_items(class_names, files, validation_fraction, seed)
  shards = {'train': train_shards or DEFAULT_TRAIN_SHARDS,
            'validation': validation_shards or DEFAULT_VALIDATION_SHARDS}
  num_threads = num_threads or convert_utils.default_workers(
      sum(len(items) for items in splits.values()))
  jobs = {}
  for split in image_folder.SPLITS:
    num_shards = max(1, min(shards[split], len(splits[split])))
    jobs[split] = (splits[split], convert_utils.fresh_shard_paths(
        dataset_dir, SHARD_FORMAT, split, num_shards))
  results = convert_utils.write_splits(jobs, 'keep', num_workers=num_threads,
                                       prefix=f'Converting {image_dir}')
  written, skipped = convert_utils.finish_splits(
      dataset_dir, results, dict(enumerate(class_names)))
  print(f'Converted {image_dir}: {len(class_names)} classes, '
        f'{written["train"]} train and {written["validation"]} validation '
        f'images into {dataset_dir}.')
  convert_utils.report_skipped(skipped)
  return dict(written, skipped=skipped)
