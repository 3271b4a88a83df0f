"""The tf.data input pipeline: shapes, single pass in eval, shuffling."""

import numpy as np

from slim_zoo.datasets import dataset_factory
from slim_zoo.datasets import input_pipeline
from slim_zoo.nets.compat import tf
from slim_zoo.preprocessing import preprocessing_factory


def _run_all(dataset, limit=None):
  batches = []
  next_batch = tf.data.make_one_shot_iterator(dataset).get_next()
  with tf.Session() as session:
    while limit is None or len(batches) < limit:
      try:
        batches.append(session.run(next_batch))
      except tf.errors.OutOfRangeError:
        break
  return batches


def _dataset(digits_dir, is_training, batch_size, **kwargs):
  spec = dataset_factory.get_dataset('digits', 'test', digits_dir)
  fn = preprocessing_factory.get_preprocessing('lenet', is_training)
  config = input_pipeline.InputConfig(batch_size=batch_size,
                                      image_size=(28, 28),
                                      is_training=is_training, **kwargs)
  return spec, input_pipeline.build_dataset(spec, fn, config)


def test_eval_reads_every_example_once_including_partial_batch(digits_dir):
  with tf.Graph().as_default():
    spec, dataset = _dataset(digits_dir, False, 47)  # 360 = 7 * 47 + 31
    batches = _run_all(dataset)
  sizes = [len(labels) for _, labels in batches]
  assert sizes == [47] * 7 + [31]
  assert sum(sizes) == spec.num_samples
  images = np.concatenate([b[0] for b in batches])
  assert images.shape == (360, 28, 28, 1) and images.dtype == np.float32
  assert images.min() >= -1.0 and images.max() <= 1.0
  # Deterministic order: a second pass gives the same labels.
  with tf.Graph().as_default():
    _, dataset = _dataset(digits_dir, False, 47)
    again = _run_all(dataset)
  np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]),
                                np.concatenate([b[1] for b in again]))


def test_training_batches_are_full_shuffled_and_offset(digits_dir):
  with tf.Graph().as_default():
    _, dataset = _dataset(digits_dir, False, 360)
    ordered = _run_all(dataset)[0][1]
  with tf.Graph().as_default():
    _, dataset = _dataset(digits_dir, True, 64, labels_offset=1, seed=3)
    batches = _run_all(dataset, limit=8)  # 512 > 360: repeats past an epoch
  assert all(b[0].shape == (64, 28, 28, 1) for b in batches)
  labels = np.concatenate([b[1] for b in batches])
  assert labels.min() == -1 and labels.max() == 8  # offset applied
  assert not np.array_equal(labels[:360] + 1, ordered)  # shuffled
