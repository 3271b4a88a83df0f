"""tf.data input pipeline used by training and evaluation.

  shard files (shuffled per epoch in training)
  -> parallel interleave of TFRecordDatasets (`num_readers` files at once)
  -> optional in-memory cache of the serialized records
  -> shuffle buffer + repeat (training only)
  -> parallel parse + decode + preprocess (`num_parallel_calls`, 0 = AUTOTUNE)
  -> batch -> prefetch.

Evaluation reads every file once, in sorted order, with deterministic
interleave/map/batch, so the same checkpoint always sees the same batches.
Training lets tf.data return elements out of order for speed. When the split
has boxes (ImageNet, Visual Wake Words) and `use_bboxes` is set, they are
passed to the preprocessing function as `bbox` [1, num_boxes, 4], which
inception training preprocessing uses for its distorted crop. No queue
runners.

Every label is checked at run time: `labels_offset <= label < num_classes`
(so the model sees 0 <= label - labels_offset < num_classes -
labels_offset); a record outside fails the step with an error naming the
dataset, split and file (see label_range_error), instead of training on a
zero one-hot.
"""

import dataclasses

from slim_zoo.datasets import dataset_utils
from slim_zoo.nets.compat import tf
from slim_zoo.errors import UsageError

AUTOTUNE = tf.data.experimental.AUTOTUNE
# First words of the run-time error of a record with a bad label.
LABEL_ERROR_MARKER = 'Label out of range'
_READ_BUFFER_BYTES = 8 << 20


@dataclasses.dataclass(frozen=True)
class InputConfig:
  """How to read a split.

  Attributes:
    batch_size: images per batch.
    image_size: (height, width) given to the preprocessing function.
    is_training: shuffle, repeat and drop the last partial batch when True;
      deterministic single pass (last partial batch kept) when False.
    num_readers: TFRecord files read in parallel (at most the file count).
    num_parallel_calls: parallel parse/decode/preprocess calls (0 or None =
      AUTOTUNE); --num_preprocessing_threads in the scripts.
    shuffle_buffer: examples in the shuffle buffer (training only).
    num_epochs: passes over the data in training (None = forever).
    labels_offset: subtracted from every label.
    seed: seed for file order and shuffling.
    cache: keep the serialized records in memory after the first pass
      (datasets that fit in RAM); decoding and augmentation still run every
      epoch.
    use_bboxes: pass image/object/bbox boxes to the preprocessing fn as `bbox`.
    fused_jpeg_crop: training with inception preprocessing only. Sample
      inception's distorted bounding-box crop from the JPEG header and decode
      only that window (tf.image.decode_and_crop_jpeg), then call the
      preprocessing fn with random_crop=False. Same crop distribution (same
      op and parameters, boxes included), far less decoding. Records that
      are not JPEG are decoded whole and sliced.
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
  fused_jpeg_crop: bool = False


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


def _bbox(parsed):
  """float32 [1, num_boxes, 4] (ymin, xmin, ymax, xmax) of parsed features."""
  coords = [tf.sparse.to_dense(parsed[dataset_utils.KEY_BBOX_PREFIX + k])
            for k in ('ymin', 'xmin', 'ymax', 'xmax')]
  return tf.expand_dims(tf.stack(coords, axis=1), 0)


def decode_example(serialized, channels, with_bboxes=False):
  """Returns (uint8 image [h, w, channels], int64 label, bbox or None)."""
  parsed = tf.io.parse_single_example(serialized, _parse_features(with_bboxes))
  image = tf.io.decode_image(parsed[dataset_utils.KEY_ENCODED],
                             channels=channels, expand_animations=False)
  image.set_shape([None, None, channels])
  bbox = _bbox(parsed) if with_bboxes else None
  return image, parsed[dataset_utils.KEY_LABEL], bbox


def _sample_crop(image_shape, bbox):
  """Inception's distorted crop window of an image of shape [h, w, c]."""
  # The parameters of inception_preprocessing.distorted_bounding_box_crop, so
  # the fused decode samples exactly the crops the preprocessing would.
  from slim_zoo.preprocessing import inception_preprocessing as inception
  if bbox is None:
    bbox = tf.constant([0.0, 0.0, 1.0, 1.0], tf.float32, [1, 1, 4])
  seed1, seed2 = tf.get_seed(None)
  begin, size, _ = tf.image.sample_distorted_bounding_box(
      image_shape, bounding_boxes=bbox, seed=seed1 or 0, seed2=seed2 or 0,
      min_object_covered=inception._MIN_OBJECT_COVERED,
      aspect_ratio_range=inception._ASPECT_RATIO_RANGE,
      area_range=inception._AREA_RANGE,
      max_attempts=inception._MAX_ATTEMPTS,
      use_image_if_no_bounding_boxes=True)
  return begin, size


def decode_and_crop(serialized, channels, with_bboxes=False):
  """Like decode_example, but returns inception's random crop of the image,
  decoding only the cropped window of JPEGs. Returns (image, label)."""
  parsed = tf.io.parse_single_example(serialized, _parse_features(with_bboxes))
  data = parsed[dataset_utils.KEY_ENCODED]
  bbox = _bbox(parsed) if with_bboxes else None

  def jpeg():
    begin, size = _sample_crop(tf.image.extract_jpeg_shape(data), bbox)
    window = tf.stack([begin[0], begin[1], size[0], size[1]])
    return tf.image.decode_and_crop_jpeg(data, window, channels=channels)

  def other():
    image = tf.io.decode_image(data, channels=channels,
                               expand_animations=False)
    begin, size = _sample_crop(tf.shape(image), bbox)
    return tf.slice(image, begin, size)

  image = tf.cond(tf.io.is_jpeg(data), jpeg, other)
  image.set_shape([None, None, channels])
  return image, parsed[dataset_utils.KEY_LABEL]


def _record_dataset(filename):
  # Each record travels with its file's name, so a bad record's error can
  # say where it is.
  records = tf.data.TFRecordDataset(filename, buffer_size=_READ_BUFFER_BYTES)
  return records.map(lambda record: (record, filename))


def check_label(label, filename, spec, labels_offset):
  """Returns `label`, after a run-time check that it is a valid class.

  Args:
    label: int64 scalar as stored in the record.
    filename: string scalar, the record's file.
    spec: the split's DatasetSpec.
    labels_offset: what the pipeline subtracts from the label.
  """
  low, high = labels_offset, spec.num_classes
  message = (f'{LABEL_ERROR_MARKER} in {spec.name} {spec.split_name}: '
             f'labels must be in [{low}, {high}) (--labels_offset='
             f'{labels_offset}, {high} classes); convert the dataset again '
             'with this version (its converters check labels) or fix '
             '--labels_offset. File and label:')
  valid = tf.logical_and(label >= low, label < high)
  check = tf.debugging.Assert(valid, [message, filename, label])
  with tf.control_dependencies([check]):
    return tf.identity(label)


def label_range_error(error):
  """UsageError of a label check failure (an OpError), else None.

  For the scripts' handlers: one line instead of TensorFlow's traceback.
  """
  message = getattr(error, 'message', str(error))
  start = message.find(LABEL_ERROR_MARKER)
  if start < 0:
    return None
  line = message[start:].split('\n')[0]
  return UsageError(line.replace('] [', ' ').replace(']', '').strip())


def build_dataset(spec, preprocessing_fn, config):
  """Returns a tf.data.Dataset of (images [b, h, w, c], labels [b]) batches.

  Args:
    spec: datasets.dataset_utils.DatasetSpec of the split.
    preprocessing_fn: fn(image, height, width, **kwargs) -> float image.
    config: InputConfig.

  Raises:
    DatasetError: if no file matches spec.file_pattern.
    ValueError: for a non-positive batch size or negative reader count.
  """
  if config.batch_size <= 0:
    raise UsageError(f'batch_size must be positive, got {config.batch_size}.')
  if config.num_readers < 0 or (config.num_parallel_calls or 0) < 0:
    raise UsageError('num_readers and num_parallel_calls must be >= 0, got '
                     f'{config.num_readers} and {config.num_parallel_calls}.')
  parallel = config.num_parallel_calls or AUTOTUNE
  height, width = config.image_size
  use_bboxes = config.use_bboxes and spec.has_bboxes
  training = config.is_training
  deterministic = not training

  # make_spec checked the split's files (the list split_sizes.json records
  # when there is one); a glob could also take another conversion's shards.
  filenames = (list(spec.filenames) if spec.filenames
               else sorted(tf.io.gfile.glob(spec.file_pattern)))
  if not filenames:
    raise dataset_utils.DatasetError(
        f'No files match {spec.file_pattern} for {spec.name} '
        f'{spec.split_name}; convert the dataset with '
        'download_and_convert_data.py.')
  files = tf.data.Dataset.from_tensor_slices(filenames)
  if training:
    files = files.shuffle(len(filenames), seed=config.seed,
                          reshuffle_each_iteration=True)
  cycle_length = max(1, min(config.num_readers or 1, len(filenames)))
  # One file at a time is sequential, hence deterministic already (and
  # tf.data warns when `deterministic` is given without parallel calls).
  parallel_files = ({'num_parallel_calls': cycle_length,
                     'deterministic': deterministic}
                    if cycle_length > 1 else {})
  dataset = files.interleave(_record_dataset, cycle_length=cycle_length,
                             block_length=1, **parallel_files)
  if config.cache:
    dataset = dataset.cache()
  if training:
    dataset = dataset.shuffle(config.shuffle_buffer, seed=config.seed,
                              reshuffle_each_iteration=True)
    dataset = dataset.repeat(config.num_epochs)

  fused = config.fused_jpeg_crop and training

  def parse(serialized, filename):
    if fused:
      image, label = decode_and_crop(serialized, spec.channels, use_bboxes)
      image = preprocessing_fn(image, height, width, random_crop=False)
    else:
      image, label, bbox = decode_example(serialized, spec.channels,
                                          use_bboxes)
      kwargs = {'bbox': bbox} if bbox is not None else {}
      image = preprocessing_fn(image, height, width, **kwargs)
    label = check_label(label, filename, spec, config.labels_offset)
    return image, label - config.labels_offset

  dataset = dataset.map(parse, num_parallel_calls=parallel,
                        deterministic=deterministic)
  dataset = dataset.batch(config.batch_size, drop_remainder=training,
                          num_parallel_calls=AUTOTUNE,
                          deterministic=deterministic)
  options = tf.data.Options()
  options.deterministic = deterministic
  options.experimental_optimization.map_parallelization = True
  options.experimental_optimization.parallel_batch = True
  return dataset.prefetch(AUTOTUNE).with_options(options)
