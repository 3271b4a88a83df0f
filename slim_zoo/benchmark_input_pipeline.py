"""Input pipeline speed (our tf.data reader vs tf_slim's queue reader): the
library behind slim_zoo_benchmark_input_pipeline.

What is measured and how is described in slim_zoo/cli/benchmark_input_pipeline.py (the
command's --help) and BENCHMARKS.md.
"""

import os
import resource
import statistics
import time


from slim_zoo.errors import UsageError

READERS = ('ours', 'ours_fused', 'slim')


def generate_dataset(directory, num_images, num_shards, min_size, max_size,
                     seed=0):
  """Writes random-size RGB JPEG TFRecords; returns a DatasetSpec."""
  import numpy as np
  from slim_zoo.datasets import dataset_utils
  from slim_zoo.nets.compat import tf
  rng = np.random.RandomState(seed)
  examples = []
  with tf.Graph().as_default(), tf.Session() as session:
    pixels = tf.placeholder(tf.uint8, [None, None, 3])
    encode = tf.io.encode_jpeg(pixels, quality=90)
    for i in range(num_images):
      height, width = rng.randint(min_size, max_size + 1, 2)
      coarse = rng.uniform(0, 255, (4, 4, 3))
      rows = np.linspace(0, 3, height)
      cols = np.linspace(0, 3, width)
      field = coarse[np.round(rows).astype(int)][:, np.round(cols).astype(int)]
      image = np.clip(field + rng.normal(0, 20, field.shape), 0, 255)
      data = session.run(encode, {pixels: image.astype(np.uint8)})
      examples.append(dataset_utils.image_to_tfexample(
          data, b'jpeg', height, width, i % 10))
  for shard in range(num_shards):
    dataset_utils.write_tfrecord(
        os.path.join(directory, f'bench-{shard:05d}-of-{num_shards:05d}'),
        examples[shard::num_shards])
  return dataset_utils.DatasetSpec(
      name='generated', split_name='train',
      file_pattern=os.path.join(directory, 'bench-*'),
      num_samples=num_images, num_classes=10, labels_to_names={})


def _ours(spec, preprocessing_fn, cfg, fused_jpeg_crop=False):
  from slim_zoo.datasets import input_pipeline
  from slim_zoo.nets.compat import tf
  data = input_pipeline.build_dataset(
      spec, preprocessing_fn, input_pipeline.InputConfig(
          batch_size=cfg['batch_size'],
          image_size=(cfg['image_size'], cfg['image_size']),
          is_training=True, num_readers=cfg['num_readers'],
          num_parallel_calls=cfg['num_preprocessing_threads'],
          shuffle_buffer=4 * cfg['batch_size'],
          fused_jpeg_crop=fused_jpeg_crop))
  return tf.data.make_one_shot_iterator(data).get_next()


def _ours_fused(spec, preprocessing_fn, cfg):
  return _ours(spec, preprocessing_fn, cfg, fused_jpeg_crop=True)


def _slim(spec, preprocessing_fn, cfg):
  from slim_zoo.datasets import dataset_utils
  from slim_zoo.nets.compat import slim
  from slim_zoo.nets.compat import tf
  channels = spec.channels

  decoder = slim.tfexample_decoder.TFExampleDecoder(
      {dataset_utils.KEY_ENCODED: tf.FixedLenFeature((), tf.string, ''),
       dataset_utils.KEY_FORMAT: tf.FixedLenFeature((), tf.string, 'jpeg'),
       dataset_utils.KEY_LABEL: tf.FixedLenFeature((), tf.int64, -1)},
      {'image': slim.tfexample_decoder.Image(
          dataset_utils.KEY_ENCODED, dataset_utils.KEY_FORMAT,
          channels=channels),
       'label': slim.tfexample_decoder.Tensor(dataset_utils.KEY_LABEL)})
  dataset = slim.dataset.Dataset(
      data_sources=spec.file_pattern, reader=tf.TFRecordReader,
      decoder=decoder, num_samples=spec.num_samples,
      items_to_descriptions={}, num_classes=spec.num_classes)
  batch = cfg['batch_size']
  provider = slim.dataset_data_provider.DatasetDataProvider(
      dataset, num_readers=cfg['num_readers'],
      common_queue_capacity=20 * batch, common_queue_min=10 * batch)
  image, label = provider.get(['image', 'label'])
  image = preprocessing_fn(image, cfg['image_size'], cfg['image_size'])
  return tf.train.batch(
      [image, label], batch_size=batch,
      # AUTOTUNE (0) has no queue equivalent: one thread per CPU.
      num_threads=cfg['num_preprocessing_threads'] or os.cpu_count() or 1,
      capacity=5 * batch)


def _cpu_seconds():
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def measure(reader, spec, cfg):
  """One run of `reader` (a name in READERS).

  Returns:
    {'wall': images per second, 'cpu': images per CPU-second of this
    process (all its threads), which other load on the machine disturbs
    much less than the wall-clock rate}.
  """
  from slim_zoo.nets.compat import tf
  from slim_zoo.preprocessing import preprocessing_factory
  with tf.Graph().as_default():
    fn = preprocessing_factory.get_preprocessing('inception', is_training=True)
    build = {'ours': _ours, 'ours_fused': _ours_fused, 'slim': _slim}[reader]
    images, _ = build(spec, fn, cfg)
    with tf.Session() as session:
      coord = tf.train.Coordinator()
      threads = []
      if tf.get_collection(tf.GraphKeys.QUEUE_RUNNERS):
        threads = tf.train.start_queue_runners(session, coord)
      try:
        for _ in range(cfg['num_warmup_batches']):
          session.run(images)
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        for _ in range(cfg['num_batches']):
          session.run(images)
        elapsed = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu_start
      finally:
        coord.request_stop()
        session.close()
        coord.join(threads, stop_grace_period_secs=5,
                   ignore_live_threads=True)
  count = cfg['num_batches'] * cfg['batch_size']
  return {'wall': count / elapsed, 'cpu': count / max(cpu, 1e-9)}


def compare(spec, cfg, num_runs, log=print):
  """Alternates the readers num_runs times; returns {reader: [measure()]}."""
  if num_runs < 1 or cfg['num_batches'] < 1 or cfg['batch_size'] < 1:
    raise UsageError('num_runs, num_batches and batch_size must be >= 1, got '
                     f'{num_runs}, {cfg["num_batches"]}, {cfg["batch_size"]}.')
  rates = {reader: [] for reader in READERS}
  for run in range(num_runs):
    for reader in READERS:
      rate = measure(reader, spec, cfg)
      rates[reader].append(rate)
      log(f'run {run + 1}/{num_runs} {reader}: {rate["wall"]:.1f} '
          f'images/sec, {rate["cpu"]:.1f} images/CPU-second')
  return rates


def summary(rates):
  """Report lines and {(reader, 'wall'|'cpu'): median / slim's median}."""
  lines, ratios = [], {}
  for kind, unit in (('wall', 'images/sec'), ('cpu', 'images/CPU-second')):
    medians = {}
    for reader in READERS:
      values = [r[kind] for r in rates[reader]]
      medians[reader] = statistics.median(values)
      lines.append(f'{reader:10s} median {medians[reader]:8.1f} {unit} '
                   f'(min {min(values):.1f}, max {max(values):.1f})')
    for reader in READERS:
      if reader != 'slim':
        ratios[(reader, kind)] = medians[reader] / medians['slim']
        lines.append(f'ratio {reader}/slim ({unit}): '
                     f'{ratios[(reader, kind)]:.2f}x')
  return lines, ratios
