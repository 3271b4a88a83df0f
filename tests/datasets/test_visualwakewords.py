"""visualwakewords: COCO 2014 zips from a local server -> person / not-person.

The archives are built in COCO's layout (zips/train2014.zip,
zips/val2014.zip, annotations/annotations_trainval2014.zip with
instances_{train,val}2014.json); labels follow the area threshold and the
person boxes are stored normalised.
"""

import glob
import json
import os
import zipfile

import numpy as np
import pytest

from slim_zoo import convert as download_and_convert_data
from slim_zoo.datasets import dataset_factory
from slim_zoo.datasets import dataset_utils
from slim_zoo.datasets import download_and_convert_visualwakewords as converter
from slim_zoo.datasets import input_pipeline
from slim_zoo.nets.compat import tf
from slim_zoo.preprocessing import preprocessing_factory
from tests.datasets import image_files
from tests.http_server import serve_directory

CATEGORIES = [{'id': 1, 'name': 'person', 'supercategory': 'person'},
              {'id': 18, 'name': 'dog', 'supercategory': 'animal'}]


def _coco(split, images, annotations):
  return {'info': {'description': 'COCO 2014 Dataset'}, 'licenses': [],
          'images': [{'id': i, 'file_name': f'COCO_{split}_{i:012d}.jpg',
                      'height': h, 'width': w} for i, (h, w) in images.items()],
          'annotations': [{'id': n, 'image_id': i, 'category_id': c,
                           'bbox': list(b), 'area': b[2] * b[3] * 0.9,
                           'iscrowd': 0}
                          for n, (i, c, b) in enumerate(annotations)],
          'categories': CATEGORIES}


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
  root = tmp_path_factory.mktemp('vww')
  rng = np.random.RandomState(4)
  sizes = {'train2014': {1: (20, 30), 2: (20, 30), 3: (16, 16)},
           'val2014': {7: (12, 20), 9: (18, 10)}}
  annotations = {
      'train2014': [(1, 1, (3, 2, 10, 12)),     # big person -> 1
                    (2, 1, (0, 0, 1.5, 1.5)),   # 0.0034 of the image -> 0
                    (3, 18, (0, 0, 16, 16))],   # a dog only -> 0
      'val2014': [(7, 18, (1, 1, 4, 4)), (7, 1, (5, 0, 10, 12)),  # -> 1
                  (9, 1, (0, 0, 1, 1))],        # tiny person -> 0
  }
  expected = {'train2014': {1: 1, 2: 0, 3: 0}, 'val2014': {7: 1, 9: 0}}
  served = root / 'mirror'
  (served / 'zips').mkdir(parents=True)
  (served / 'annotations').mkdir()
  images = {}
  for split, split_sizes in sizes.items():
    with zipfile.ZipFile(served / 'zips' / f'{split}.zip', 'w') as archive:
      for image_id, (h, w) in split_sizes.items():
        data = image_files.encode(image_files.smooth_image(rng, h, w), 'jpeg')
        images[image_id] = data
        archive.writestr(f'{split}/COCO_{split}_{image_id:012d}.jpg', data)
  with zipfile.ZipFile(served / 'annotations' /
                       'annotations_trainval2014.zip', 'w') as archive:
    for split in sizes:
      archive.writestr(f'annotations/instances_{split}.json', json.dumps(
          _coco(split, sizes[split], annotations[split])))
  out = root / 'out'
  with serve_directory(served) as url:
    result = download_and_convert_data.convert('visualwakewords', str(out),
                                               url, train_shards=2)
  return out, images, expected, result


def test_labels_boxes_and_bytes(converted):
  out, images, expected, result = converted
  assert (result['train'], result['val']) == (3, 2)
  for split, coco_split in (('train', 'train2014'), ('val', 'val2014')):
    rows = [r for p in sorted(glob.glob(str(out / f'{split}.record-*')))
            for r in image_files.read_features(p)]
    labels = {int(r['image/source_id'][0]): r['image/class/label'][0]
              for r in rows}
    assert labels == expected[coco_split]
    for row in rows:
      image_id = int(row['image/source_id'][0])
      assert row['image/encoded'][0] == images[image_id]
      assert row['image/format'] == [b'jpeg']
      assert row['image/filename'] == [
          f'COCO_{coco_split}_{image_id:012d}.jpg'.encode()]
  assert sorted(os.path.basename(p) for p in glob.glob(str(out / '*.record-*'))
                ) == ['train.record-00000-of-00002',
                      'train.record-00001-of-00002',
                      'val.record-00000-of-00002',
                      'val.record-00001-of-00002']
  val = {int(r['image/source_id'][0]): r for p in glob.glob(
      str(out / 'val.record-*')) for r in image_files.read_features(p)}
  # Only person boxes, as (ymin, xmin, ymax, xmax) fractions of 12 x 20.
  box = [val[7][f'image/object/bbox/{k}'] for k in ('ymin', 'xmin', 'ymax',
                                                    'xmax')]
  np.testing.assert_allclose(box, [[0.0], [5 / 20], [1.0], [15 / 20]],
                             atol=1e-6)
  assert val[7]['image/object/bbox/label'] == [1]
  assert dataset_utils.read_label_file(str(out)) == {0: 'background',
                                                     1: 'person'}


def test_threshold_and_foreground_class():
  annotations = _coco('train2014', {2: (20, 30)}, [(2, 1, (0, 0, 1.5, 1.5))])
  assert [i.label for i in converter.items_from_annotations(
      annotations, 'd')] == [0]
  assert [i.label for i in converter.items_from_annotations(
      annotations, 'd', small_object_area_threshold=0.003)] == [1]
  with pytest.raises(ValueError, match="'cat' is not a category.*dog"):
    converter.items_from_annotations(annotations, 'd', 'cat')


def test_spec_and_pipeline(converted):
  out, _, _, _ = converted
  spec = dataset_factory.get_dataset('visualwakewords', 'val', str(out))
  assert (spec.num_samples, spec.num_classes, spec.has_bboxes) == (2, 2, True)
  with pytest.raises(ValueError, match="Unknown split 'validation'"):
    dataset_factory.get_dataset('visualwakewords', 'validation', str(out))
  with tf.Graph().as_default():
    fn = preprocessing_factory.get_preprocessing('mobilenet_v1', False)
    dataset = input_pipeline.build_dataset(spec, fn, input_pipeline.InputConfig(
        batch_size=2, image_size=(16, 16), is_training=False))
    batch = tf.data.make_one_shot_iterator(dataset).get_next()
    with tf.Session() as session:
      images, labels = session.run(batch)
  assert images.shape == (2, 16, 16, 3) and sorted(labels) == [0, 1]
