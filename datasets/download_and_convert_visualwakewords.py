"""Downloads COCO 2014 and converts it to Visual Wake Words TFRecords.

Reads the COCO instance annotations (annotations_trainval2014.zip:
annotations/instances_{train,val}2014.json) and the images
(train2014.zip, val2014.zip). An image is labelled 1 when one of its objects
of the foreground class ("person") covers more than
`small_object_area_threshold` of the image area (the annotation's `area`,
else its box), else 0. Writes {split}.record-NNNNN-of-MMMMM shards with the
TF-Slim keys (image/encoded, image/format, image/class/label, image/height,
image/width, image/filename, image/source_id) plus the foreground boxes in
image/object/bbox/{ymin,xmin,ymax,xmax,label}, labels.txt and
split_sizes.json.
"""

import json
import os

from slim_zoo.datasets import convert_utils
from slim_zoo.datasets import dataset_utils

DEFAULT_BASE_URL = 'http://images.cocodataset.org/'
ANNOTATIONS_ARCHIVE = 'annotations/annotations_trainval2014.zip'
IMAGE_ARCHIVES = {'train': 'zips/train2014.zip', 'val': 'zips/val2014.zip'}
COCO_SPLITS = {'train': 'train2014', 'val': 'val2014'}
DEFAULT_THRESHOLD = 0.005
DEFAULT_SHARDS = {'train': 100, 'val': 10}
SHARD_FORMAT = '{split}.record-{shard:05d}-of-{num_shards:05d}'
LABELS = {0: 'background', 1: 'person'}


def items_from_annotations(annotations, image_dir,
                           foreground_class='person',
                           small_object_area_threshold=DEFAULT_THRESHOLD):
  """Visual Wake Words items of one COCO instances JSON (already loaded).

  Returns:
    [Item] in image-id order.

  Raises:
    DatasetError: if the foreground class is not a COCO category.
  """
  categories = {c['name']: c['id'] for c in annotations.get('categories', [])}
  if foreground_class not in categories:
    raise dataset_utils.DatasetError(
        f'Foreground class {foreground_class!r} is not a category of the '
        f'annotations; valid: {", ".join(sorted(categories))}.')
  foreground = categories[foreground_class]
  by_image = {}
  for ann in annotations.get('annotations', []):
    if ann.get('category_id') == foreground:
      by_image.setdefault(ann['image_id'], []).append(ann)
  items = []
  for image in sorted(annotations.get('images', []), key=lambda i: i['id']):
    height, width = float(image['height']), float(image['width'])
    label, boxes = 0, []
    for ann in by_image.get(image['id'], []):
      x, y, w, h = (float(v) for v in ann['bbox'])
      area = float(ann.get('area') or w * h)
      if area / (height * width) > small_object_area_threshold:
        label = 1
      boxes.append((max(y / height, 0.0), max(x / width, 0.0),
                    min((y + h) / height, 1.0), min((x + w) / width, 1.0)))
    items.append(convert_utils.Item(
        path=os.path.join(image_dir, image['file_name']), label=label,
        bboxes=tuple(boxes), bbox_labels=(1,) * len(boxes),
        source_id=str(image['id'])))
  return items


def run(dataset_dir, base_url=DEFAULT_BASE_URL,
        small_object_area_threshold=DEFAULT_THRESHOLD,
        foreground_class='person', train_shards=None, validation_shards=None,
        num_threads=None):
  """Downloads COCO 2014 and writes Visual Wake Words TFRecords.

  Returns:
    {'train': N, 'val': M, 'skipped': [(path, reason)]}.
  """
  sizes = convert_utils.read_split_sizes(dataset_dir)
  if sizes is not None:
    print(f'Visual Wake Words TFRecords already exist in {dataset_dir}; '
          'nothing to do.')
    return dict(sizes['splits'], skipped=[])
  if not 0.0 <= small_object_area_threshold < 1.0:
    raise dataset_utils.DatasetError(
        'small_object_area_threshold must be in [0, 1), got '
        f'{small_object_area_threshold}.')
  base = base_url.rstrip('/') + '/'
  coco_dir = os.path.join(dataset_dir, 'downloads', 'coco2014')
  dataset_utils.download_and_uncompress_tarball(base + ANNOTATIONS_ARCHIVE,
                                                coco_dir)
  for archive in IMAGE_ARCHIVES.values():
    dataset_utils.download_and_uncompress_tarball(base + archive, coco_dir)
  shards = {'train': train_shards or DEFAULT_SHARDS['train'],
            'val': validation_shards or DEFAULT_SHARDS['val']}
  jobs = {}
  for split, coco_split in COCO_SPLITS.items():
    path = os.path.join(coco_dir, 'annotations',
                        f'instances_{coco_split}.json')
    if not os.path.isfile(path):
      raise dataset_utils.DatasetError(
          f'{ANNOTATIONS_ARCHIVE} has no annotations/instances_{coco_split}'
          f'.json; delete {coco_dir} and download again.')
    with open(path, encoding='utf-8') as f:
      annotations = json.load(f)
    items = items_from_annotations(
        annotations, os.path.join(coco_dir, coco_split), foreground_class,
        small_object_area_threshold)
    jobs[split] = (items, convert_utils.fresh_shard_paths(
        dataset_dir, SHARD_FORMAT, split,
        max(1, min(shards[split], len(items)))))
  results = convert_utils.write_splits(
      jobs, 'jpeg', num_workers=num_threads or convert_utils.default_workers(
          sum(len(items) for items, _ in jobs.values())),
      prefix='Converting Visual Wake Words')
  written, skipped = convert_utils.finish_splits(dataset_dir, results, LABELS)
  print(f'Finished converting Visual Wake Words into {dataset_dir}: '
        f'{written["train"]} train, {written["val"]} val.')
  convert_utils.report_skipped(skipped)
  return dict(written, skipped=skipped)
