"""Builds ImageNet TFRecords from the raw ILSVRC-2012 layout.

Input, either already on disk (--imagenet_raw_dir=RAW):
  RAW/train/<synset>/*.JPEG
  RAW/validation/ILSVRC2012_val_%08d.JPEG   (flat, labels from
      --validation_labels_file, one synset per line in file-number order;
      RAW/validation/<synset>/*.JPEG is accepted too)
  RAW/bounding_boxes/**/*.xml               (optional ILSVRC box annotations;
      or --bbox_dir)
or downloaded from --download_base_url (ImageNet needs a registered account,
so there is no default URL): ILSVRC2012_img_train.tar (one tar per synset
inside), ILSVRC2012_img_val.tar and ILSVRC2012_bbox_train_v2.tar.gz, which
are unpacked into that layout under DATASET_DIR/downloads/raw.

Output, like TF-Slim's build_imagenet_data.py: train-00000-of-01024 ...
validation-00000-of-00128 (shuffled with seed 12345), labels.txt (0 =
background, 1..1000 = synsets in the order of imagenet_lsvrc_2015_synsets.txt,
named by imagenet_metadata.txt) and split_sizes.json. Each example has
image/encoded (RGB JPEG: CMYK JPEGs and PNGs named .JPEG are re-encoded),
image/class/{label,synset,text}, image/object/bbox/{xmin,ymin,xmax,ymax,label}
(empty lists when an image has no boxes), image/filename, height, width.
"""

import os
import random
import re
import shutil

from slim_zoo.datasets import convert_utils
from slim_zoo.datasets import dataset_utils
from slim_zoo.datasets import imagenet
from slim_zoo.datasets import process_bounding_boxes

TRAIN_ARCHIVE = 'ILSVRC2012_img_train.tar'
VALIDATION_ARCHIVE = 'ILSVRC2012_img_val.tar'
BBOX_ARCHIVE = 'ILSVRC2012_bbox_train_v2.tar.gz'
DEFAULT_TRAIN_SHARDS = 1024
DEFAULT_VALIDATION_SHARDS = 128
SHUFFLE_SEED = 12345
SHARD_FORMAT = '{split}-{shard:05d}-of-{num_shards:05d}'
_VAL_NAME = re.compile(r'ILSVRC2012_val_(\d+)\.', re.IGNORECASE)
_JPEG_EXTENSIONS = ('.jpeg', '.jpg')


def _images_in(directory):
  return sorted(os.path.join(directory, f) for f in os.listdir(directory)
                if os.path.splitext(f)[1].lower() in _JPEG_EXTENSIONS)


def download_raw(base_url, download_dir):
  """Downloads the three ILSVRC archives and unpacks them; returns RAW."""
  raw = os.path.join(download_dir, 'raw')
  base = base_url.rstrip('/') + '/'
  done_marker = os.path.join(raw, '.unpacked')
  if os.path.isfile(done_marker):
    return raw
  train_tar = dataset_utils.download(base + TRAIN_ARCHIVE, download_dir)
  val_tar = dataset_utils.download(base + VALIDATION_ARCHIVE, download_dir)
  bbox_tar = dataset_utils.download(base + BBOX_ARCHIVE, download_dir)
  synset_tars = os.path.join(download_dir, 'train_synset_tars')
  dataset_utils.safe_extract(train_tar, synset_tars)
  for name in sorted(os.listdir(synset_tars)):
    if not name.endswith('.tar'):
      continue
    inner = os.path.join(synset_tars, name)
    dataset_utils.safe_extract(
        inner, os.path.join(raw, 'train', name[:-len('.tar')]))
    os.remove(inner)
  shutil.rmtree(synset_tars, ignore_errors=True)
  dataset_utils.safe_extract(val_tar, os.path.join(raw, 'validation'))
  dataset_utils.safe_extract(bbox_tar, os.path.join(raw, 'bounding_boxes'))
  dataset_utils.write_text_atomic(done_marker, 'ok\n')
  return raw


def _box_fields(name, boxes, synset_to_label):
  found = boxes.get(name) or boxes.get(os.path.splitext(name)[0] + '.JPEG')
  found = found or []
  return (tuple((b.ymin, b.xmin, b.ymax, b.xmax) for b in found),
          tuple(synset_to_label[b.synset] if b.synset in synset_to_label
                else 0 for b in found))


def find_items(raw_dir, synsets, names, boxes, validation_labels_file):
  """Lists {'train': [Item], 'validation': [Item]} of a raw layout."""
  synset_to_label = {s: i + 1 for i, s in enumerate(synsets)}

  def item(path, synset):
    bboxes, bbox_labels = _box_fields(os.path.basename(path), boxes,
                                      synset_to_label)
    return convert_utils.Item(path=path, label=synset_to_label[synset],
                              bboxes=bboxes, bbox_labels=bbox_labels,
                              text=names[synset], synset=synset)

  def unknown(synset, where):
    return dataset_utils.DatasetError(
        f'{where}: synset {synset} is not in the synsets file; pass '
        '--synsets_file listing every synset of the data.')

  train_dir = os.path.join(raw_dir, 'train')
  items = {'train': [], 'validation': []}
  if os.path.isdir(train_dir):
    for synset in sorted(os.listdir(train_dir)):
      class_dir = os.path.join(train_dir, synset)
      if not os.path.isdir(class_dir):
        continue
      if synset not in synset_to_label:
        raise unknown(synset, class_dir)
      items['train'].extend(item(p, synset) for p in _images_in(class_dir))
  val_dir = os.path.join(raw_dir, 'validation')
  if os.path.isdir(val_dir):
    subdirs = sorted(d for d in os.listdir(val_dir)
                     if os.path.isdir(os.path.join(val_dir, d)))
    for synset in subdirs:
      if synset not in synset_to_label:
        raise unknown(synset, os.path.join(val_dir, synset))
      items['validation'].extend(
          item(p, synset) for p in _images_in(os.path.join(val_dir, synset)))
    flat = _images_in(val_dir)
    if flat:
      with open(validation_labels_file, encoding='utf-8') as f:
        labels = [line.strip() for line in f if line.strip()]
      for path in flat:
        match = _VAL_NAME.search(os.path.basename(path))
        if not match:
          raise dataset_utils.DatasetError(
              f'{path}: validation images must be named '
              'ILSVRC2012_val_%08d.JPEG to be matched with '
              f'{validation_labels_file}, or sorted into '
              'validation/<synset>/ directories.')
        number = int(match.group(1))
        if not 1 <= number <= len(labels):
          raise dataset_utils.DatasetError(
              f'{path}: image number {number} is past the '
              f'{len(labels)} lines of {validation_labels_file}; pass the '
              'matching --validation_labels_file.')
        synset = labels[number - 1]
        if synset not in synset_to_label:
          raise unknown(synset, validation_labels_file)
        items['validation'].append(item(path, synset))
  if not items['train'] and not items['validation']:
    raise dataset_utils.DatasetError(
        f'No images under {raw_dir}/train/<synset>/ or {raw_dir}/validation/;'
        ' pass --imagenet_raw_dir pointing at the raw ImageNet layout.')
  return items


def run(dataset_dir, base_url=None, raw_dir=None, bbox_dir=None,
        train_shards=None, validation_shards=None, num_threads=None,
        synsets_file=None, metadata_file=None, validation_labels_file=None):
  """Converts raw ImageNet (on disk or downloaded) into TFRecords.

  Returns:
    {'train': N, 'validation': M, 'skipped': [(path, reason)]}.
  """
  sizes = convert_utils.read_split_sizes(dataset_dir)
  if sizes is not None:
    print(f'ImageNet TFRecords already exist in {dataset_dir}; nothing to do.')
    return dict(sizes['splits'], skipped=[])
  synsets_file = synsets_file or imagenet.SYNSETS_FILE
  metadata_file = metadata_file or imagenet.METADATA_FILE
  validation_labels_file = (validation_labels_file or
                            imagenet.VALIDATION_LABELS_FILE)
  if raw_dir is None:
    if not base_url:
      raise dataset_utils.DatasetError(
          'ImageNet cannot be downloaded without an account: pass '
          '--imagenet_raw_dir=RAW (train/<synset>/*.JPEG, validation/*.JPEG) '
          'or --download_base_url=YOUR_IMAGENET_URL serving '
          f'{TRAIN_ARCHIVE}, {VALIDATION_ARCHIVE} and {BBOX_ARCHIVE}.')
    raw_dir = download_raw(base_url, os.path.join(dataset_dir, 'downloads'))
  elif not os.path.isdir(raw_dir):
    problem = ('is a file, not a directory' if os.path.exists(raw_dir)
               else 'does not exist')
    raise dataset_utils.DatasetError(
        f'--imagenet_raw_dir {raw_dir} {problem}; point it at the '
        'directory holding train/ and validation/.')
  labels_to_names = imagenet.labels_to_names(synsets_file, metadata_file)
  synsets = imagenet.read_synsets(synsets_file)
  names = imagenet.read_metadata(metadata_file)
  bbox_dir = bbox_dir or os.path.join(raw_dir, 'bounding_boxes')
  boxes, dropped = {}, 0
  if os.path.isdir(bbox_dir):
    boxes, dropped = process_bounding_boxes.boxes_from_directory(bbox_dir,
                                                                 synsets)
    with dataset_utils.atomic_path(os.path.join(
        dataset_dir, 'imagenet_2012_bounding_boxes.csv')) as tmp:
      with open(tmp, 'w', encoding='utf-8') as f:
        process_bounding_boxes.write_csv(boxes, f)
  print(f'{sum(map(len, boxes.values()))} bounding boxes for {len(boxes)} '
        f'images ({dropped} dropped).')
  items = find_items(raw_dir, synsets, names, boxes, validation_labels_file)
  shards = {'train': train_shards or DEFAULT_TRAIN_SHARDS,
            'validation': validation_shards or DEFAULT_VALIDATION_SHARDS}
  jobs = {}
  for split in ('train', 'validation'):
    split_items = list(items[split])
    # A split without images gets no shards; older ones of it go too.
    paths = convert_utils.fresh_shard_paths(
        dataset_dir, SHARD_FORMAT, split,
        shards[split] if split_items else 0)
    if split_items:
      random.Random(SHUFFLE_SEED).shuffle(split_items)
      jobs[split] = (split_items, paths)
  results = convert_utils.write_splits(
      jobs, 'jpeg', num_workers=num_threads or convert_utils.default_workers(
          sum(len(items) for items, _ in jobs.values())),
      prefix='Converting ImageNet')
  written, skipped = convert_utils.finish_splits(
      dataset_dir, results, labels_to_names, splits=('train', 'validation'))
  print(f'Finished converting ImageNet into {dataset_dir}: '
        f'{written["train"]} train, {written["validation"]} validation.')
  convert_utils.report_skipped(skipped)
  return dict(written, skipped=skipped)
