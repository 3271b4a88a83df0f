"""The tf.data pipeline over several shards, and the pipeline benchmark.

Shards hold records whose label says where they come from (shard * 100 +
index), so the reading order is visible: evaluation must interleave the
files deterministically and read each record once; training must see every
shard, in an order fixed by the seed.
"""

import os

import numpy as np
import pytest

from slim_zoo import benchmark_input_pipeline
from slim_zoo.datasets import dataset_factory
from slim_zoo.datasets import dataset_utils
from slim_zoo.datasets import input_pipeline
from slim_zoo.nets.compat import tf
from slim_zoo.preprocessing import preprocessing_factory


@pytest.fixture(scope='module')
def shards(tmp_path_factory):
  directory = tmp_path_factory.mktemp('shards')
  rng = np.random.RandomState(0)
  for shard in range(3):
    examples = []
    for index in range(4 + shard):
      pixels = rng.randint(0, 256, (5, 6, 3)).astype(np.uint8)
      examples.append(dataset_utils.image_to_tfexample(
          dataset_utils.encode_png(pixels), b'png', 5, 6, shard * 100 + index))
    dataset_utils.write_tfrecord(str(directory / f'part-{shard}-of-3'),
                                 examples)
  return dataset_utils.DatasetSpec(
      name='parts', split_name='train',
      file_pattern=os.path.join(str(directory), 'part-*'), num_samples=15,
      num_classes=300, labels_to_names={})


def _labels(spec, limit=None, **kwargs):
  fn = preprocessing_factory.get_preprocessing('lenet', False)
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    dataset = input_pipeline.build_dataset(spec, fn, input_pipeline.InputConfig(
        image_size=(5, 6), **kwargs))
    batch = tf.data.make_one_shot_iterator(dataset).get_next()
    labels = []
    with tf.Session() as session:
      while limit is None or len(labels) < limit:
        try:
          labels.extend(session.run(batch)[1].tolist())
        except tf.errors.OutOfRangeError:
          break
  return labels


def test_eval_interleaves_files_deterministically(shards):
  labels = _labels(shards, batch_size=4, is_training=False, num_readers=3,
                   num_parallel_calls=3)
  # One record from each file in turn; files that run out drop out.
  assert labels == [0, 100, 200, 1, 101, 201, 2, 102, 202, 3, 103, 203,
                    104, 204, 205]
  assert _labels(shards, batch_size=4, is_training=False, num_readers=8) \
      == labels
  sequential = _labels(shards, batch_size=15, is_training=False,
                       num_readers=1)
  assert sequential == [0, 1, 2, 3, 100, 101, 102, 103, 104, 200, 201, 202,
                        203, 204, 205]


def test_training_reads_every_shard_in_a_seeded_order(shards):
  first = _labels(shards, limit=30, batch_size=5, is_training=True,
                  num_readers=2, shuffle_buffer=4, seed=5)
  again = _labels(shards, limit=30, batch_size=5, is_training=True,
                  num_readers=2, shuffle_buffer=4, seed=5, cache=True)
  assert len(first) == 30
  assert sorted(first[:15]) != first[:15]  # Shuffled.
  assert {label // 100 for label in first[:15]} == {0, 1, 2}
  assert len(again) == 30


def test_pipeline_errors(shards, tmp_path):
  empty = dataset_utils.DatasetSpec(
      name='none', split_name='train',
      file_pattern=str(tmp_path / 'nothing-*'), num_samples=1, num_classes=2,
      labels_to_names={})
  fn = preprocessing_factory.get_preprocessing('lenet', False)
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match='No files match .*nothing-'):
      input_pipeline.build_dataset(empty, fn, input_pipeline.InputConfig(
          batch_size=1, image_size=(5, 6), is_training=False))
    with pytest.raises(ValueError, match='batch_size must be positive'):
      input_pipeline.build_dataset(shards, fn, input_pipeline.InputConfig(
          batch_size=0, image_size=(5, 6), is_training=False))


def test_benchmark_compares_both_readers(tmp_path):
  spec = benchmark_input_pipeline.generate_dataset(
      str(tmp_path), num_images=8, num_shards=2, min_size=20, max_size=30)
  cfg = {'batch_size': 2, 'image_size': 16, 'num_batches': 2,
         'num_warmup_batches': 1, 'num_readers': 2,
         'num_preprocessing_threads': 2}
  fn = preprocessing_factory.get_preprocessing('inception', True)
  with tf.Graph().as_default():
    images, labels = benchmark_input_pipeline._slim(spec, fn, cfg)
    assert images.shape.as_list() == [2, 16, 16, 3]
    assert labels.shape.as_list() == [2]
  logged = []
  rates = benchmark_input_pipeline.compare(spec, cfg, 1, log=logged.append)
  assert sorted(rates) == ['ours', 'ours_fused', 'slim']
  assert all(len(v) == 1 and v[0]['wall'] > 0 and v[0]['cpu'] > 0
             for v in rates.values())
  lines, ratios = benchmark_input_pipeline.summary(rates)
  assert ratios[('ours', 'wall')] == pytest.approx(
      rates['ours'][0]['wall'] / rates['slim'][0]['wall'])
  assert ratios[('ours_fused', 'cpu')] == pytest.approx(
      rates['ours_fused'][0]['cpu'] / rates['slim'][0]['cpu'])
  assert 'ratio ours/slim (images/sec): ' in '\n'.join(lines)
  assert len(logged) == 3


def _crop_sizes(spec, num_images):
  """(crop heights and widths seen by the preprocessing fn, its kwargs)."""
  calls = []

  def spy(image, height, width, **kwargs):
    calls.append(kwargs)
    shape = tf.cast(tf.shape(image), tf.float32)
    return tf.ones([height, width, 2]) * shape[:2]

  with tf.Graph().as_default():
    tf.set_random_seed(1)
    dataset = input_pipeline.build_dataset(spec, spy, input_pipeline.InputConfig(
        batch_size=num_images, image_size=(2, 2), is_training=True,
        fused_jpeg_crop=True))
    batch = tf.data.make_one_shot_iterator(dataset).get_next()
    with tf.Session() as session:
      images = session.run(batch)[0]
  return images[:, 0, 0, :], calls


def test_fused_jpeg_crop_decodes_inception_crops(shards, tmp_path):
  spec = benchmark_input_pipeline.generate_dataset(
      str(tmp_path), num_images=4, num_shards=1, min_size=60, max_size=60)
  for data, full, count in ((spec, (60, 60), 32), (shards, (5, 6), 15)):
    sizes, calls = _crop_sizes(data, count)
    assert calls == [{'random_crop': False}]
    assert (sizes >= 1).all() and (sizes <= full).all()
    area = sizes.prod(axis=1) / float(np.prod(full))
    assert area.min() >= 0.04  # Inception's area range starts at 0.05.
    assert (area < 0.99).any()  # Cropped, not the whole image.


@pytest.mark.parametrize('name,split,height,channels', [
    ('mnist', 'test', 28, 1), ('cifar10', 'train', 32, 3),
    ('digits', 'train', 28, 1)])
def test_small_datasets_give_batches_through_their_specs(tmp_path, name, split,
                                                         height, channels):
  module = dataset_factory.get_module(name)
  rng = np.random.RandomState(1)
  examples = [dataset_utils.image_to_tfexample(
      dataset_utils.encode_png(rng.randint(0, 256, (height, height, channels))
                               .astype(np.uint8)), b'png', height, height, i)
              for i in range(3)]
  dataset_utils.write_tfrecord(
      str(tmp_path / (module.FILE_PATTERN % split)), examples)
  spec = dataset_factory.get_dataset(name, split, str(tmp_path))
  fn = preprocessing_factory.get_preprocessing(
      'lenet' if channels == 1 else 'cifarnet', True)
  with tf.Graph().as_default():
    dataset = input_pipeline.build_dataset(spec, fn, input_pipeline.InputConfig(
        batch_size=2, image_size=(height, height), is_training=True, seed=0))
    batch = tf.data.make_one_shot_iterator(dataset).get_next()
    with tf.Session() as session:
      images, labels = session.run(batch)
  assert images.shape == (2, height, height, channels)
  assert set(labels) <= {0, 1, 2}
