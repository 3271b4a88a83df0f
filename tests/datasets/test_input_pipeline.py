"""The tf.data input pipeline: shapes, single pass in eval, shuffling."""

import numpy as np
import pytest

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


def test_training_batches_are_full_shuffled_and_offset(digits_dir, tmp_path):
  with tf.Graph().as_default():
    _, dataset = _dataset(digits_dir, False, 360)
    ordered = _run_all(dataset)[0][1]
  with tf.Graph().as_default():
    _, dataset = _dataset(digits_dir, True, 64, seed=3)
    batches = _run_all(dataset, limit=8)  # 512 > 360: repeats past an epoch
  assert all(b[0].shape == (64, 28, 28, 1) for b in batches)
  labels = np.concatenate([b[1] for b in batches])
  assert labels.min() == 0 and labels.max() == 9
  assert not np.array_equal(labels[:360], ordered)  # shuffled
  # The offset is subtracted (ImageNet style: label 0, "background", unused).
  spec = _records(tmp_path, [1, 2, 3, 3], num_classes=4)
  with tf.Graph().as_default():
    dataset = input_pipeline.build_dataset(
        spec, preprocessing_factory.get_preprocessing('lenet', False),
        input_pipeline.InputConfig(batch_size=4, image_size=(4, 4),
                                   is_training=False, labels_offset=1))
    assert _run_all(dataset)[0][1].tolist() == [0, 1, 2, 2]


def _records(directory, labels, num_classes):
  """A one-file split of 4x4 gray PNGs with `labels`."""
  from slim_zoo.datasets import dataset_utils
  path = str(directory / 'tiny-00000-of-00001')
  pixels = np.zeros((4, 4, 1), np.uint8)
  dataset_utils.write_tfrecord(path, [dataset_utils.image_to_tfexample(
      dataset_utils.encode_png(pixels), b'png', 4, 4, label)
                                      for label in labels])
  return dataset_utils.DatasetSpec(
      name='tiny', split_name='train', file_pattern=path,
      num_samples=len(labels), num_classes=num_classes, labels_to_names={},
      channels=1)


@pytest.mark.parametrize('labels,offset', [([1, 57, 2], 0), ([3, -1], 0),
                                           ([0, 1], 1)])
def test_label_out_of_range_stops_with_the_file_named(tmp_path, labels,
                                                      offset):
  spec = _records(tmp_path, labels, num_classes=10)
  with tf.Graph().as_default():
    dataset = input_pipeline.build_dataset(
        spec, preprocessing_factory.get_preprocessing('lenet', True),
        input_pipeline.InputConfig(batch_size=2, image_size=(4, 4),
                                   is_training=True, labels_offset=offset,
                                   seed=1))
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
      _run_all(dataset, limit=4)
  error = input_pipeline.label_range_error(raised.value)
  assert error is not None
  message = str(error)
  assert '\n' not in message
  assert message.startswith('Label out of range in tiny train: labels must '
                            f'be in [{offset}, 10)')
  assert spec.file_pattern in message and 'convert the dataset again' in (
      message)
  assert input_pipeline.label_range_error(ValueError('other')) is None
