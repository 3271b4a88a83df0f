"""tf.data input pipeline used by training and evaluation.

files -> (shuffled) parallel interleave of TFRecordDatasets -> parallel
parse + decode + preprocess -> shuffle -> batch -> prefetch. No queue runners.
"""

import dataclasses

from datasets import dataset_utils
from nets.compat import tf

AUTOTUNE = tf.data.experimental.AUTOTUNE


@dataclasses.dataclass(frozen=True)
class InputConfig:
  """How to read a split.

  Attributes:
    batch_size: images per batch.
    image_size: (height, width) given to the preprocessing function.
    is_training: shuffle, repeat and drop the last partial batch when True;
      deterministic single pass (last partial batch kept) when False.
    num_readers: TFRecord files read in parallel.
    num_parallel_calls: parallel parse/preprocess calls (0 or None = autotune).
    shuffle_buffer: examples in the shuffle buffer (training only).
    num_epochs: passes over the data in training (None = forever).
    labels_offset: subtracted from every label.
    seed: seed for file order and shuffling.
    cache: cache decoded records in memory (small datasets).
    use_bboxes: pass image/object/bbox boxes to the preprocessing fn as `bbox`.
  """
  batch_size: int
  image_size: tuple
  is_training: bool
  num_readers: int = 4
  num_parallel_calls: int = 0
  shuffle_buffer: int = 2048
  num_epochs: int = None
  labels_offset: int = 0
  seed: int = None
  cache: bool = False
  use_bboxes: bool = False


def _parse_features(with_bboxes):
  features = {
      dataset_utils.KEY_ENCODED: tf.io.FixedLenFeature((), tf.string, ''),
      dataset_utils.KEY_FORMAT: tf.io.FixedLenFeature((), tf.string, 'jpeg'),
      dataset_utils.KEY_LABEL: tf.io.FixedLenFeature((), tf.int64, -1),
  }
  if with_bboxes:
    for key in ('ymin', 'xmin', 'ymax', 'xmax'):
      features[dataset_utils.KEY_BBOX_PREFIX + key] = tf.io.VarLenFeature(
          tf.float32)
  return features


def decode_example(serialized, channels, with_bboxes=False):
  """Returns (uint8 image [h, w, channels], int64 label, bbox or None)."""
  parsed = tf.io.parse_single_example(serialized, _parse_features(with_bboxes))
  image = tf.io.decode_image(parsed[dataset_utils.KEY_ENCODED],
                             channels=channels, expand_animations=False)
  image.set_shape([None, None, channels])
  bbox = None
  if with_bboxes:
    coords = [tf.sparse.to_dense(parsed[dataset_utils.KEY_BBOX_PREFIX + k])
              for k in ('ymin', 'xmin', 'ymax', 'xmax')]
    bbox = tf.expand_dims(tf.stack(coords, axis=1), 0)  # [1, num_boxes, 4]
  return image, parsed[dataset_utils.KEY_LABEL], bbox


def build_dataset(spec, preprocessing_fn, config):
  """Returns a tf.data.Dataset of (images [b, h, w, c], labels [b]) batches.

  Args:
    spec: datasets.dataset_utils.DatasetSpec of the split.
    preprocessing_fn: fn(image, height, width, **kwargs) -> float image.
    config: InputConfig.
  """
  parallel = config.num_parallel_calls or AUTOTUNE
  height, width = config.image_size
  use_bboxes = config.use_bboxes and spec.has_bboxes
  training = config.is_training

  files = tf.data.Dataset.list_files(spec.file_pattern, shuffle=training,
                                     seed=config.seed)
  dataset = files.interleave(
      tf.data.TFRecordDataset, cycle_length=max(1, config.num_readers),
      num_parallel_calls=AUTOTUNE, deterministic=not training)
  if config.cache:
    dataset = dataset.cache()
  if training:
    dataset = dataset.shuffle(config.shuffle_buffer, seed=config.seed,
                              reshuffle_each_iteration=True)
    dataset = dataset.repeat(config.num_epochs)

  def parse(serialized):
    image, label, bbox = decode_example(serialized, spec.channels, use_bboxes)
    kwargs = {'bbox': bbox} if bbox is not None else {}
    image = preprocessing_fn(image, height, width, **kwargs)
    return image, label - config.labels_offset

  dataset = dataset.map(parse, num_parallel_calls=parallel,
                        deterministic=not training)
  dataset = dataset.batch(config.batch_size, drop_remainder=training)
  return dataset.prefetch(AUTOTUNE)
