"""flowers: flower_photos.tgz from a local server -> 5 + 5 TF-Slim shards.

The tarball is built here in the upstream layout (flower_photos/<class>/*.jpg
plus the LICENSE.txt it ships); the records must hold the very JPEG bytes,
the seeded validation split and the labels. Also: an interrupted download
and a tarball with a '../' member leave no dataset behind.
"""

import glob
import io
import os
import random
import tarfile

import numpy as np
import pytest

from slim_zoo import convert as download_and_convert_data
from slim_zoo.datasets import convert_utils
from slim_zoo.datasets import dataset_factory
from slim_zoo.datasets import dataset_utils
from slim_zoo.datasets import download_and_convert_flowers as converter
from slim_zoo.datasets import flowers
from slim_zoo.datasets import input_pipeline
from slim_zoo.nets.compat import tf
from slim_zoo.preprocessing import preprocessing_factory
from tests.datasets import image_files
from tests.http_server import serve_directory

CLASSES = ['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips']


def _flower_tarball(path, files, extra_members=()):
  with tarfile.open(path, 'w:gz') as archive:
    def add(name, data):
      info = tarfile.TarInfo(name)
      info.size = len(data)
      archive.addfile(info, io.BytesIO(data))
    add('flower_photos/LICENSE.txt', b'All images are licensed CC-BY.\n')
    for (name, filename), data in files.items():
      add(f'flower_photos/{name}/{filename}', data)
    for name, data in extra_members:
      add(name, data)


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
  root = tmp_path_factory.mktemp('flowers')
  rng = np.random.RandomState(5)
  files = {}
  for name in CLASSES:
    for i in range(3):
      files[(name, f'{1000 + i}_{name}.jpg')] = image_files.encode(
          image_files.smooth_image(rng, 10 + i, 14), 'jpeg')
  served = root / 'mirror'
  served.mkdir()
  _flower_tarball(served / 'flower_photos.tgz', files)
  out = root / 'out'
  with serve_directory(served) as url:
    result = download_and_convert_data.convert('flowers', str(out), url,
                                               num_validation=4)
  return out, files, result


def test_shards_hold_the_jpeg_bytes_labels_and_seeded_split(converted):
  out, files, result = converted
  by_split = {}
  for split in ('train', 'validation'):
    names = sorted(os.path.basename(p) for p in glob.glob(
        str(out / f'flowers_{split}_*.tfrecord')))
    assert names == [f'flowers_{split}_{i:05d}-of-00005.tfrecord'
                     for i in range(5)]
    by_split[split] = [f for name in names
                       for f in image_files.read_features(str(out / name))]
  assert (len(by_split['train']), len(by_split['validation'])) == (11, 4)
  assert (result['train'], result['validation']) == (11, 4)
  for rows in by_split.values():
    for row in rows:
      filename = row['image/filename'][0].decode()
      name = filename.split('_', 1)[1][:-len('.jpg')]
      data = files[(name, filename)]
      assert row['image/encoded'][0] == data  # JPEG stored unchanged.
      assert row['image/format'] == [b'jpeg']
      assert row['image/class/label'] == [CLASSES.index(name)]
      height, width = image_files.decode(data).shape[:2]
      assert (row['image/height'], row['image/width']) == ([height],
                                                           [width])
  # TF-Slim's split: the sorted photo list shuffled with seed 0, the first
  # num_validation photos held out.
  photos = sorted(f'{out}/downloads/flower_photos/{n}/{f}' for n, f in files)
  random.Random(converter.RANDOM_SEED).shuffle(photos)
  assert sorted(os.path.basename(p) for p in photos[:4]) == sorted(
      r['image/filename'][0].decode() for r in by_split['validation'])
  assert dataset_utils.read_label_file(str(out)) == dict(enumerate(CLASSES))
  # The extracted photos are removed; the tarball is kept for re-runs.
  assert os.listdir(out / 'downloads') == ['flower_photos.tgz']


def test_spec_sizes_and_training_batches(converted):
  out, _, _ = converted
  spec = dataset_factory.get_dataset('flowers', 'train', str(out))
  assert (spec.num_samples, spec.num_classes) == (11, 5)
  assert flowers.SPLITS_TO_SIZES == {'train': 3320, 'validation': 350}
  with pytest.raises(ValueError, match="Unknown split 'test'.*validation"):
    dataset_factory.get_dataset('flowers', 'test', str(out))
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    fn = preprocessing_factory.get_preprocessing('inception', True)
    dataset = input_pipeline.build_dataset(spec, fn, input_pipeline.InputConfig(
        batch_size=3, image_size=(16, 16), is_training=True, seed=1,
        cache=True))
    batch = tf.data.make_one_shot_iterator(dataset).get_next()
    with tf.Session() as session:
      for _ in range(5):  # 15 > 11 images: past the cached first epoch.
        images, labels = session.run(batch)
        assert images.shape == (3, 16, 16, 3) and labels.shape == (3,)
        assert images.min() >= -1.0 and images.max() <= 1.0
        assert set(labels) <= set(range(5))


def test_interrupted_download_leaves_nothing(tmp_path):
  served = tmp_path / 'mirror'
  served.mkdir()
  _flower_tarball(served / 'flower_photos.tgz', {
      ('daisy', 'a.jpg'): os.urandom(50000)})
  out = tmp_path / 'out'
  with serve_directory(served, truncate=['flower_photos.tgz']) as url:
    with pytest.raises(ValueError, match='received'):
      converter.run(str(out), base_url=url)
  assert [f for _, _, names in os.walk(out) for f in names] == []


def test_tarball_with_parent_member_is_refused(tmp_path):
  served = tmp_path / 'mirror'
  served.mkdir()
  rng = np.random.RandomState(0)
  jpeg = image_files.encode(image_files.smooth_image(rng, 8, 8), 'jpeg')
  _flower_tarball(served / 'flower_photos.tgz',
                  {(n, 'a.jpg'): jpeg for n in CLASSES},
                  extra_members=[('flower_photos/../../evil.txt', b'x')])
  out = tmp_path / 'out'
  with serve_directory(served) as url:
    with pytest.raises(ValueError, match="escaping.*evil.txt"):
      download_and_convert_data.convert('flowers', str(out), url)
  assert not list(tmp_path.glob('**/evil.txt'))
  written = [f for _, _, names in os.walk(out) for f in names]
  assert written == ['flower_photos.tgz']  # The download only, no dataset.
  assert convert_utils.read_split_sizes(str(out)) is None
