"""Speed measurements: the library behind slim_zoo_benchmark (benchmark.py).

What is measured and how is described in slim_zoo/cli/benchmark.py (the
command's --help) and BENCHMARKS.md.
"""

import collections
import csv
import datetime
import fnmatch
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time


from slim_zoo.errors import UsageError

RESULT_PREFIX = 'BENCHMARK_RESULT '
OURS = 'slim'
_OPTION_KEYS = ('xla', 'mixed_precision', 'inter_op_threads',
                'intra_op_threads', 'fold_batch_norms', 'onednn')
_TRAIN_FLOPS_FACTOR = 3  # forward + gradient wrt inputs + wrt weights
# Implementations of the TFLite rows: the float flatbuffer and the int8 one
# of export_utils.convert_tflite (post-training, calibrated, float I/O).
TFLITE_KINDS = ('tflite_float', 'tflite_int8')
# Synthetic images that calibrate the benchmark's int8 models (speed does
# not depend on the ranges found; accuracy is tflite_eval's business).
TFLITE_CALIBRATION_IMAGES = 8
KERAS_BF16 = 'keras_bf16'  # The keras twin under 'mixed_bfloat16'.


# --------------------------------------------------------------------------
# Choosing what to measure


def expand_model_names(patterns, registry_names):
  """Expands comma-separated names/wildcards against the registry, in order.

  Raises:
    ValueError: a name or wildcard that matches no registered network.
  """
  chosen = []
  for pattern in [p.strip() for p in patterns.split(',') if p.strip()]:
    matches = [n for n in registry_names if fnmatch.fnmatchcase(n, pattern)]
    if not matches:
      from slim_zoo.nets import nets_factory
      raise nets_factory.unknown_name_error('model_name', pattern,
                                            registry_names)
    chosen.extend(m for m in matches if m not in chosen)
  if not chosen:
    raise UsageError('--model_list is empty; pass network names, e.g. '
                     '--model_list=resnet_v1_50,mobilenet_v2.')
  return chosen


def _parse_bool(text):
  value = str(text).strip().lower()
  if value in ('1', 'true', 'yes', 'on'):
    return True
  if value in ('0', 'false', 'no', 'off'):
    return False
  raise UsageError(f'Expected true/false, got {text!r}.')


def default_options(flag_values):
  """Our configuration from the flags."""
  return {'xla': bool(flag_values.xla),
          'mixed_precision': flag_values.mixed_precision,
          'inter_op_threads': flag_values.inter_op_threads,
          'intra_op_threads': flag_values.intra_op_threads,
          'fold_batch_norms': bool(flag_values.fold_batch_norms),
          'onednn': flag_values.onednn}


def parse_variants(text, base):
  """Parses --variants into [(label, options)]; [(OURS, base)] if empty.

  Raises:
    ValueError: a malformed entry or an unknown option key.
  """
  from slim_zoo import performance
  if not text.strip():
    return [(OURS, dict(base))]
  variants = []
  for entry in [e.strip() for e in text.split(';') if e.strip()]:
    label, sep, settings = entry.partition(':')
    if not sep or not label.strip():
      raise UsageError(f'--variants entry {entry!r} must be '
                       '"label:key=value,..." (settings may be empty).')
    options = dict(base)
    for item in [s.strip() for s in settings.split(',') if s.strip()]:
      key, eq, value = item.partition('=')
      key = key.strip()
      if not eq or key not in _OPTION_KEYS:
        raise UsageError(f'--variants setting {item!r} in {label!r}: use '
                         f'key=value with key one of {", ".join(_OPTION_KEYS)}.')
      if key in ('xla', 'fold_batch_norms'):
        options[key] = _parse_bool(value)
      elif key in ('inter_op_threads', 'intra_op_threads'):
        options[key] = int(value)
      elif key == 'mixed_precision':
        options[key] = performance.validate_mixed_precision(value)
      else:
        if value not in ('default', 'on', 'off'):
          raise UsageError(f'--variants onednn={value!r}: use default, on '
                           'or off.')
        options[key] = value
    variants.append((label.strip(), options))
  labels = [label for label, _ in variants]
  if len(set(labels)) != len(labels) or any(
      label.startswith(('keras', 'tflite')) for label in labels):
    raise UsageError(f'--variants labels must be unique and not start with '
                     f'"keras" or "tflite" (the other rows), got {labels}.')
  return variants


# --------------------------------------------------------------------------
# Measurement processes


_CPU_TIMES = []  # process CPU seconds of each timed step of this process


def _timed_steps(step, warmup, steps):
  """Runs `step` warmup + steps times; returns the timed steps' wall times.

  The CPU seconds the process spent in each timed step go to _CPU_TIMES: on
  a shared machine they are disturbed far less than wall-clock times.
  """
  for _ in range(warmup):
    step()
  times = []
  for _ in range(steps):
    start, cpu_start = time.perf_counter(), time.process_time()
    step()
    times.append(time.perf_counter() - start)
    _CPU_TIMES.append(time.process_time() - cpu_start)
  return times


def _op_profile(run, top=25):
  """Milliseconds per op type of one traced step.

  Args:
    run: callable taking session.run's `options` and `run_metadata`.
    top: how many op types to keep (the rest are summed as 'other').

  Returns:
    {'total_ms': float, 'ops': [[op type, ms, count], ...]} by time, with
    the op types as executed (oneDNN's are e.g. _MklNativeConv2D).
  """
  from slim_zoo.nets.compat import tf
  metadata = tf.RunMetadata()
  run(options=tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE,
                            output_partition_graphs=True),
      run_metadata=metadata)
  op_types = {node.name: node.op for graph in metadata.partition_graphs
              for node in graph.node}
  times, counts = collections.Counter(), collections.Counter()
  for device in metadata.step_stats.dev_stats:
    for node in device.node_stats:
      op = op_types.get(node.node_name.split(':')[0], node.node_name)
      times[op] += node.all_end_rel_micros / 1000.0
      counts[op] += 1
  ranked = times.most_common()
  ops = [[op, ms, counts[op]] for op, ms in ranked[:top]]
  if len(ranked) > top:
    ops.append(['other', sum(ms for _, ms in ranked[top:]),
                sum(counts[op] for op, _ in ranked[top:])])
  return {'total_ms': sum(times.values()), 'ops': ops}


def _peak_rss_mb():
  import resource
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _measure_peak(job):
  """GFLOP/s of a [n, n] x [n, n] matmul in `job['dtype']`."""
  from slim_zoo.nets.compat import tf
  n = job['size']
  dtype = tf.as_dtype(job['dtype'])
  with tf.Graph().as_default():
    a = tf.Variable(tf.random.uniform([n, n], dtype=tf.float32), name='a')
    b = tf.Variable(tf.random.uniform([n, n], dtype=tf.float32), name='b')
    # Cast once into variables of the measured type so the timed op is the
    # matmul alone; the reduction keeps the fetched result small.
    a_cast = tf.Variable(tf.zeros([n, n], dtype), name='a_cast')
    b_cast = tf.Variable(tf.zeros([n, n], dtype), name='b_cast')
    assign = tf.group(a_cast.assign(tf.cast(a, dtype)),
                      b_cast.assign(tf.cast(b, dtype)))
    product = tf.matmul(a_cast, b_cast)
    result = tf.reduce_sum(tf.cast(product[:1, :1], tf.float32))
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      session.run(assign)
      times = _timed_steps(lambda: session.run(result), job['warmup'],
                           job['steps'])
  flops = 2.0 * n ** 3
  return {'step_times': times,
          'gflops': flops / statistics.median(times) / 1e9,
          'gflops_per_cpu_sec': flops / statistics.median(_CPU_TIMES) / 1e9}


def _measure_profile(job):
  """Parameters and forward FLOPs per image of the inference graph."""
  from slim_zoo import export_utils
  from slim_zoo import performance
  from slim_zoo.nets import nets_factory
  from slim_zoo.nets.compat import tf
  spec = nets_factory.get_spec(job['model'])
  with tf.Graph().as_default() as graph:
    export_utils.build_inference_graph(export_utils.GraphConfig(
        model_name=spec.name, num_classes=spec.num_classes,
        image_size=job['image_size'], batch_size=1))
    trainable, total = performance.count_parameters(tf.global_variables())
    flops = performance.count_flops(graph)
  return {'trainable_params': trainable, 'params': total,
          'forward_flops': flops}


def _our_session_config(options):
  from slim_zoo import performance
  return performance.session_config(
      inter_op_threads=options['inter_op_threads'],
      intra_op_threads=options['intra_op_threads'], xla=options['xla'],
      mixed_precision=options['mixed_precision'])


def build_synthetic_train_op(model_name, batch_size, image_size,
                             weight_decay=0.00004, learning_rate=0.01):
  """Training step of `model_name` on synthetic data held in the graph.

  The images and labels are local variables, so a step is forward +
  backward + momentum update and nothing else. Losses follow
  train_image_classifier.py: cross-entropy, 0.4 x the aux logits' loss when
  the net has them, weight decay.

  Returns:
    (train_op, total_loss) of the default graph.
  """
  from slim_zoo.nets import nets_factory
  from slim_zoo.nets.compat import tf
  spec = nets_factory.get_spec(model_name)
  network_fn = nets_factory.get_network_fn(
      model_name, num_classes=spec.num_classes, weight_decay=weight_decay,
      is_training=True)
  shape = [batch_size, image_size, image_size, 3]
  if spec.input_kind == 'video':
    shape.insert(1, spec.num_frames)
  images = tf.Variable(tf.random.uniform(shape, -1.0, 1.0), trainable=False,
                       collections=[tf.GraphKeys.LOCAL_VARIABLES],
                       name='synthetic_images')
  labels = tf.Variable(
      tf.random.uniform([batch_size], 0, spec.num_classes, tf.int64),
      trainable=False, collections=[tf.GraphKeys.LOCAL_VARIABLES],
      name='synthetic_labels')
  logits, end_points = network_fn(images)
  tf.losses.sparse_softmax_cross_entropy(labels, logits)
  if 'AuxLogits' in end_points:
    tf.losses.sparse_softmax_cross_entropy(labels, end_points['AuxLogits'],
                                           weights=0.4)
  total_loss = tf.losses.get_total_loss()
  global_step = tf.train.get_or_create_global_step()
  optimizer = tf.train.MomentumOptimizer(learning_rate, momentum=0.9)
  update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
  with tf.control_dependencies(update_ops):
    train_op = optimizer.minimize(total_loss, global_step=global_step)
  with tf.control_dependencies([train_op]):
    train_op = tf.identity(total_loss, name='train_op')
  return train_op, total_loss


def _measure_train(job):
  from slim_zoo.nets.compat import tf
  options = job['options']
  with tf.Graph().as_default():
    if job.get('seed') is not None:
      tf.set_random_seed(job['seed'])
    train_op, _ = build_synthetic_train_op(job['model'], job['batch_size'],
                                           job['image_size'])
    with tf.Session(config=_our_session_config(options)) as session:
      session.run([tf.global_variables_initializer(),
                   tf.local_variables_initializer()])
      losses = []
      times = _timed_steps(lambda: losses.append(session.run(train_op)),
                           job['warmup'], job['steps'])
      result = {'step_times': times, 'final_loss': float(losses[-1])}
      if job.get('profile_ops'):
        result['op_profile'] = _op_profile(
            lambda **kwargs: session.run(train_op, **kwargs))
  return result


def frozen_inference_graph(model_name, image_size, fold_batch_norms=True,
                           seed=None):
  """The frozen inference graph export_inference_graph.py writes.

  Variables get their initializers' values (no checkpoint is needed for
  speed). Returns (graph_def, input name, output name, logits name).
  """
  from slim_zoo import export_utils
  from slim_zoo import performance
  from slim_zoo.nets import nets_factory
  from slim_zoo.nets.compat import tf
  spec = nets_factory.get_spec(model_name)
  with tf.Graph().as_default() as graph:
    if seed is not None:
      tf.set_random_seed(seed)
    _, _, metadata = export_utils.build_inference_graph(
        export_utils.GraphConfig(model_name=model_name,
                                 num_classes=spec.num_classes,
                                 image_size=image_size))
    outputs = [metadata['output'], metadata['logits']]
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      graph_def = export_utils.freeze(session, graph.as_graph_def(), outputs)
  if fold_batch_norms:
    graph_def = performance.optimize_frozen_graph(graph_def, outputs)
  return graph_def, metadata['input'], metadata['output'], metadata['logits']


def _measure_inference(job):
  import numpy as np
  from slim_zoo.nets.compat import tf
  options = job['options']
  graph_def, input_name, output_name, _ = frozen_inference_graph(
      job['model'], job['image_size'], options['fold_batch_norms'])
  rng = np.random.RandomState(0)
  images = rng.uniform(-1, 1, [job['batch_size'], job['image_size'],
                               job['image_size'], 3]).astype(np.float32)
  with tf.Graph().as_default() as graph:
    tf.import_graph_def(graph_def, name='')
    inputs = graph.get_tensor_by_name(input_name + ':0')
    output = graph.get_tensor_by_name(output_name + ':0')
    with tf.Session(config=_our_session_config(options)) as session:
      times = _timed_steps(
          lambda: session.run(output, feed_dict={inputs: images}),
          job['warmup'], job['steps'])
      result = {'step_times': times}
      if job.get('profile_ops'):
        result['op_profile'] = _op_profile(
            lambda **kwargs: session.run(output, {inputs: images}, **kwargs))
  return result


def _keras_model(job):
  """(keras module, the twin) under the job's policy ('float32' or
  'mixed_bfloat16': bf16 compute, float32 variables, as ours in bf16)."""
  import importlib
  keras = importlib.import_module(job['keras_package'])
  size = job['image_size']
  builder = getattr(keras.applications, job['twin'])
  policy = job.get('keras_policy', 'float32')
  if policy == 'float32':
    return keras, builder(weights=None, input_shape=(size, size, 3),
                          classes=1000)
  if job['keras_package'] == 'tf_keras':
    # Benchmark processes run in TF1 graph mode (nets/compat), where
    # tf_keras takes a policy only with its V2 dtype behavior (autocasting)
    # on; a measurement process builds just this model.
    from tf_keras.src.engine import base_layer_utils
    base_layer_utils.enable_v2_dtype_behavior()
  keras.mixed_precision.set_global_policy(policy)
  try:
    model = builder(weights=None, input_shape=(size, size, 3), classes=1000)
  finally:
    # The layers keep the policy they were built with; later models (an
    # in-process caller's) get the default again.
    keras.mixed_precision.set_global_policy('float32')
  return keras, model


def _measure_keras_train(job):
  import numpy as np
  keras, model = _keras_model(job)
  model.compile(
      optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
      loss='sparse_categorical_crossentropy')
  rng = np.random.RandomState(0)
  size = job['image_size']
  images = rng.uniform(-1, 1, [job['batch_size'], size, size, 3]).astype(
      np.float32)
  labels = rng.randint(0, 1000, [job['batch_size']])
  times = _timed_steps(lambda: model.train_on_batch(images, labels),
                       job['warmup'], job['steps'])
  return {'step_times': times}


def _measure_keras_inference(job):
  import numpy as np
  _, model = _keras_model(job)
  rng = np.random.RandomState(0)
  size = job['image_size']
  images = rng.uniform(-1, 1, [job['batch_size'], size, size, 3]).astype(
      np.float32)
  times = _timed_steps(
      lambda: model.predict(images, batch_size=job['batch_size'], verbose=0),
      job['warmup'], job['steps'])
  return {'step_times': times}


def _measure_tflite_convert(job):
  """Writes the float and int8 TFLite models of the frozen inference graph.

  The int8 model is export_utils.convert_tflite's post-training
  quantization (int8 weights and activations, float input/output),
  calibrated on TFLITE_CALIBRATION_IMAGES synthetic images.

  Returns:
    {'paths': {kind: path}, 'bytes': {kind: size}, 'convert_seconds': {...}}.
  """
  import numpy as np
  from slim_zoo import export_utils
  graph_def, input_name, output_name, logits_name = frozen_inference_graph(
      job['model'], job['image_size'], seed=0)
  metadata = {'input': input_name,
              'outputs': {'logits': logits_name, 'probabilities': output_name}}
  rng = np.random.RandomState(0)
  calibration = [rng.uniform(-1, 1, [1, job['image_size'], job['image_size'],
                                     3]).astype(np.float32)
                 for _ in range(TFLITE_CALIBRATION_IMAGES)]
  result = {'paths': {}, 'bytes': {}, 'convert_seconds': {}}
  for kind, images in (('tflite_float', None), ('tflite_int8', calibration)):
    start = time.time()
    flatbuffer = export_utils.convert_tflite(graph_def, metadata, images)
    path = os.path.join(job['directory'], f'{job["model"]}_{kind}.tflite')
    export_utils.write_bytes(flatbuffer, path)
    result['paths'][kind] = path
    result['bytes'][kind] = len(flatbuffer)
    result['convert_seconds'][kind] = time.time() - start
  return result


def _measure_tflite_inference(job):
  """Images/sec of a TFLite model in the interpreter (XNNPACK, the
  interpreter's default delegate), job['threads'] threads, fed batch."""
  import warnings
  import numpy as np
  from slim_zoo.nets.compat import tf
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # tf.lite.Interpreter deprecation note.
    interpreter = tf.lite.Interpreter(model_path=job['tflite_path'],
                                      num_threads=job['threads'])
  detail = interpreter.get_input_details()[0]
  shape = [job['batch_size']] + list(detail['shape'][1:])
  interpreter.resize_tensor_input(detail['index'], shape)
  interpreter.allocate_tensors()
  images = np.random.RandomState(0).uniform(-1, 1, shape).astype(np.float32)
  interpreter.set_tensor(detail['index'], images)
  times = _timed_steps(interpreter.invoke, job['warmup'], job['steps'])
  return {'step_times': times}


def _write_jpeg_dataset(directory, num_images, seed=0):
  """Writes `num_images` smooth 500x375 JPEGs (photo-like sizes) as TFRecord."""
  import numpy as np
  from slim_zoo.datasets import dataset_utils
  from slim_zoo.nets.compat import tf
  rng = np.random.RandomState(seed)
  height, width = 375, 500
  yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
  with tf.Graph().as_default():
    pixels = tf.placeholder(tf.uint8, [height, width, 3])
    encoded = tf.io.encode_jpeg(pixels, quality=90)
    examples = []
    with tf.Session() as session:
      for i in range(num_images):
        phase = rng.uniform(0, 6.28, 3)
        freq = rng.uniform(0.005, 0.05, 3)
        image = np.stack(
            [127 + 100 * np.sin(freq[c] * (xx + yy * (c + 1)) + phase[c])
             for c in range(3)], axis=-1)
        image += rng.normal(0, 8, image.shape)
        data = session.run(encoded, {pixels: np.clip(image, 0, 255).astype(
            np.uint8)})
        examples.append(dataset_utils.image_to_tfexample(
            data, b'jpeg', height, width, i % 10,
            bboxes=[(0.1, 0.1, 0.9, 0.9)]))
  path = os.path.join(directory, 'synthetic-00000-of-00001.tfrecord')
  dataset_utils.write_tfrecord(path, examples)
  return dataset_utils.DatasetSpec(
      name='synthetic_jpeg', split_name='train', file_pattern=path,
      num_samples=num_images, num_classes=10, labels_to_names={},
      has_bboxes=True)


def _measure_input(job):
  """Images/sec of decode + inception training preprocessing at 224."""
  from slim_zoo.datasets import input_pipeline
  from slim_zoo.nets.compat import tf
  from slim_zoo.preprocessing import preprocessing_factory
  with tempfile.TemporaryDirectory() as directory:
    spec = _write_jpeg_dataset(directory, job['num_images'])
    with tf.Graph().as_default():
      preprocessing_fn = preprocessing_factory.get_preprocessing(
          'inception', is_training=True)
      dataset = input_pipeline.build_dataset(
          spec, preprocessing_fn, input_pipeline.InputConfig(
              batch_size=job['batch_size'],
              image_size=(job['image_size'], job['image_size']),
              is_training=True, use_bboxes=True, shuffle_buffer=64, seed=0))
      images, _ = tf.data.make_one_shot_iterator(dataset).get_next()
      # Fetch a scalar so the timing is the pipeline's, not a large copy.
      fetch = tf.reduce_sum(images[:, 0, 0, 0])
      with tf.Session() as session:
        times = _timed_steps(lambda: session.run(fetch), job['warmup'],
                             job['steps'])
  return {'step_times': times}


_WORKERS = {
    'peak': _measure_peak,
    'profile': _measure_profile,
    'train': _measure_train,
    'inference': _measure_inference,
    'keras_train': _measure_keras_train,
    'keras_inference': _measure_keras_inference,
    'input': _measure_input,
    'tflite_convert': _measure_tflite_convert,
    'tflite_inference': _measure_tflite_inference,
}


def run_worker(job):
  """Runs one measurement in this process; returns its result dict."""
  del _CPU_TIMES[:]
  result = _WORKERS[job['kind']](job)
  if 'step_times' in result and job.get('batch_size'):
    result['images_per_sec'] = (job['batch_size'] /
                                statistics.median(result['step_times']))
    result['images_per_cpu_sec'] = (job['batch_size'] /
                                    statistics.median(_CPU_TIMES))
  if 'options' in job:
    from slim_zoo import performance
    result['precision'] = performance.resolve_mixed_precision(
        job['options']['mixed_precision'])
  elif 'keras_policy' in job:
    result['precision'] = ('bfloat16' if 'bfloat16' in job['keras_policy']
                           else 'none')
  elif job['kind'] == 'tflite_inference':
    result['precision'] = job['tflite'].replace('tflite_', '')
  result['max_rss_mb'] = _peak_rss_mb()
  return result


def _worker_env(job):
  env = dict(os.environ)
  # The worker imports slim_zoo from where this process did (a checkout or
  # site-packages), whatever its working directory.
  parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env['PYTHONPATH'] = os.pathsep.join(
      p for p in (parent, env.get('PYTHONPATH')) if p)
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  onednn = job.get('options', {}).get('onednn', 'default')
  if onednn != 'default':
    env['TF_ENABLE_ONEDNN_OPTS'] = '1' if onednn == 'on' else '0'
  return env


def launch(job, timeout):
  """Runs `job` in a fresh process of this script; returns its result.

  Raises:
    RuntimeError: the process failed or printed no result.
  """
  command = [sys.executable, '-m', 'slim_zoo.cli.benchmark',
             '--worker=' + json.dumps(job, sort_keys=True)]
  try:
    proc = subprocess.run(command, capture_output=True, text=True,
                          timeout=timeout, env=_worker_env(job))
  except subprocess.TimeoutExpired:
    raise RuntimeError(f'measurement {job} ran over --worker_timeout='
                       f'{timeout}s') from None
  for line in reversed(proc.stdout.splitlines()):
    if line.startswith(RESULT_PREFIX):
      return json.loads(line[len(RESULT_PREFIX):])
  tail = '\n'.join((proc.stderr or '').strip().splitlines()[-15:])
  raise RuntimeError(f'measurement {job} failed (exit {proc.returncode}):\n'
                     f'{tail}')


# --------------------------------------------------------------------------
# Orchestration and reporting


def _summary(values):
  return {'median': statistics.median(values), 'min': min(values),
          'max': max(values), 'runs': len(values)}


def _load():
  try:
    return os.getloadavg()[0]
  except OSError:
    return None


def machine_info():
  """Machine and software versions, for the results file."""
  import numpy
  import tensorflow
  info = {'python': platform.python_version(),
          'tensorflow': tensorflow.__version__, 'numpy': numpy.__version__,
          'platform': platform.platform(), 'cpu_count': os.cpu_count()}
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      for line in f:
        if line.startswith('model name'):
          info['cpu'] = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  from slim_zoo import performance
  info['cpu_bf16'] = performance.cpu_supports_bfloat16()
  # What int8 inference speed depends on (the VNNI dot-product extensions).
  info['cpu_int8_dot'] = sorted(performance.cpu_flags() & {
      'avx512_vnni', 'avx_vnni', 'amx_int8'})
  for package in ('tf_slim', 'tf_keras', 'keras'):
    try:
      from importlib import metadata
      info[package] = metadata.version(package.replace('_', '-'))
    except Exception:  # noqa: BLE001 - a missing package is just unreported.
      info[package] = None
  info['TF_ENABLE_ONEDNN_OPTS'] = os.environ.get('TF_ENABLE_ONEDNN_OPTS')
  return info


class Benchmark:
  """Plans the measurement processes, runs them, and tabulates results."""

  def __init__(self, models, variants, config, log=print, on_progress=None):
    self.models = models
    self.on_progress = on_progress
    self.variants = variants
    self.config = config
    self.log = log
    self.rows = []
    self.peaks = {}
    self.loads = []
    self.input_pipeline = None
    self.tflite_models = {}  # name -> sizes and conversion times
    self._scratch = None

  def _run(self, job):
    load = _load()
    self.loads.append(load)
    start = time.time()
    result = launch(job, self.config['worker_timeout'])
    result['load'] = load
    label = job.get('label') or job.get('dtype') or job['kind']
    speed = result.get('images_per_sec') or result.get('gflops')
    cpu = result.get('images_per_cpu_sec')
    cpu = f', {cpu:.2f} per CPU-s' if cpu else ''
    self.log(f'  {job.get("model", "")} {label} {job["kind"]}: '
             f'{speed:.2f}{cpu} (load {load:.2f}, '
             f'{time.time() - start:.0f}s)'
             if speed is not None else f'  {job.get("model", "")} '
             f'{job["kind"]} done ({time.time() - start:.0f}s)')
    return result

  def measure_peaks(self):
    cfg = self.config
    for dtype in ('float32', 'bfloat16'):
      runs = [self._run({'kind': 'peak', 'dtype': dtype,
                         'size': cfg['matmul_size'], 'warmup': 2,
                         'steps': 7}) for _ in range(cfg['num_runs'])]
      self.peaks[dtype] = _summary([r['gflops'] for r in runs])
      self.peaks[dtype]['per_cpu_sec'] = _summary(
          [r['gflops_per_cpu_sec'] for r in runs])

  def _scratch_dir(self):
    """A temporary directory for the TFLite models, removed by `run`."""
    if self._scratch is None:
      self._scratch = tempfile.TemporaryDirectory(prefix='slim_benchmark_')
    return self._scratch.name

  def _keras_precisions(self):
    """Keras twin policies to time: float32, and mixed_bfloat16 when one of
    our configurations computes in bf16 (equal-precision ratios)."""
    from slim_zoo import performance
    policies = [('keras', 'float32')]
    if any(performance.resolve_mixed_precision(options['mixed_precision'])
           == 'bfloat16' for _, options in self.variants):
      policies.append((KERAS_BF16, 'mixed_bfloat16'))
    return policies

  def measure_model(self, spec):
    """Measures one network: profile, then alternating timed runs."""
    cfg = self.config
    size = cfg['image_size'] or spec.default_image_size
    profile = self._run({'kind': 'profile', 'model': spec.name,
                         'image_size': size})
    twin = spec.keras_twin if cfg['compare'] == 'keras' else None
    if cfg['compare'] == 'keras' and twin is None:
      self.log(f'  {spec.name}: no keras.applications twin; ours only.')
    plans = []  # (measurement, label, job template)
    for measurement in cfg['measure']:
      if measurement == 'tflite':
        plans += self._tflite_plans(spec, size)
        continue
      batch = (cfg['batch_size'] if measurement == 'train'
               else cfg['inference_batch_size'])
      base = {'model': spec.name, 'image_size': size, 'batch_size': batch,
              'warmup': cfg['num_warmup_steps'], 'steps': cfg['num_steps']}
      for label, options in self.variants:
        plans.append((measurement, label, dict(
            base, kind=measurement, label=label, options=options,
            profile_ops=cfg['profile_ops'])))
      if twin:
        for label, policy in self._keras_precisions():
          plans.append((measurement, label, dict(
              base, kind='keras_' + measurement, label=label, twin=twin,
              keras_package=cfg['keras_package'], keras_policy=policy)))
    key = lambda m, job: (m, job['label'], job['batch_size'])  # noqa: E731
    results = {key(m, job): [] for m, _, job in plans}
    for _ in range(cfg['num_runs']):
      for measurement, _label, job in plans:
        results[key(measurement, job)].append(self._run(job))
    for measurement, label, job in plans:
      runs = results[key(measurement, job)]
      self.rows.append(self._row(spec, measurement, label, job, runs,
                                 profile, twin))
    self._add_ratios(spec.name)

  def _tflite_plans(self, spec, size):
    """Frozen graph (each configuration of ours), float TFLite and int8
    TFLite at every --tflite_batch_sizes, after one conversion process."""
    cfg = self.config
    converted = self._run({'kind': 'tflite_convert', 'model': spec.name,
                           'image_size': size,
                           'directory': self._scratch_dir()})
    self.tflite_models[spec.name] = {
        'bytes': converted['bytes'],
        'convert_seconds': converted['convert_seconds'],
        'calibration_images': TFLITE_CALIBRATION_IMAGES}
    plans = []
    for batch in cfg['tflite_batch_sizes']:
      base = {'model': spec.name, 'image_size': size, 'batch_size': batch,
              'warmup': cfg['num_warmup_steps'], 'steps': cfg['num_steps']}
      for label, options in self.variants:
        plans.append(('tflite', label, dict(
            base, kind='inference', label=label, options=options)))
      for kind in TFLITE_KINDS:
        plans.append(('tflite', kind, dict(
            base, kind='tflite_inference', label=kind, tflite=kind,
            tflite_path=converted['paths'][kind],
            threads=cfg['tflite_threads'])))
    return plans

  def _row(self, spec, measurement, label, job, runs, profile, twin):
    speeds = [r['images_per_sec'] for r in runs]
    summary = _summary(speeds)
    step_times = [t for r in runs for t in r['step_times']]
    keras = label.startswith('keras')
    row = {
        'model': spec.name, 'implementation': label,
        'keras_model': twin if keras else '',
        'measurement': measurement, 'batch_size': job['batch_size'],
        'image_size': job['image_size'],
        'images_per_sec': summary['median'],
        'images_per_sec_min': summary['min'],
        'images_per_sec_max': summary['max'],
        'runs': summary['runs'],
        'step_ms_median': 1000 * statistics.median(step_times),
        'images_per_cpu_sec': statistics.median(
            r['images_per_cpu_sec'] for r in runs),
        'max_rss_mb': max(r['max_rss_mb'] for r in runs),
        'params': profile['params'],
        'forward_gflops_per_image': profile['forward_flops'] / 1e9,
        'options': json.dumps(job.get('options', {}), sort_keys=True),
        # What the rewrite resolved to ('auto' depends on the CPU); keras:
        # its policy; TFLite: float or int8.
        'precision': runs[0].get('precision', 'none'),
        'op_profile': runs[0].get('op_profile'),
        'raw_runs': [{k: r[k] for k in ('images_per_sec', 'images_per_cpu_sec',
                                        'step_times', 'max_rss_mb', 'load')}
                     for r in runs],
    }
    if label in TFLITE_KINDS:
      row['threads'] = job['threads']
    if not keras:
      factor = _TRAIN_FLOPS_FACTOR if measurement == 'train' else 1
      achieved = factor * profile['forward_flops'] * summary['median'] / 1e9
      row['achieved_gflops'] = achieved
      per_cpu = factor * profile['forward_flops'] * row[
          'images_per_cpu_sec'] / 1e9
      row['achieved_gflops_per_cpu_sec'] = per_cpu
      for dtype, key in (('float32', 'fp32'), ('bfloat16', 'bf16')):
        if dtype in self.peaks:
          row[f'pct_{key}_peak'] = (100.0 * achieved /
                                    self.peaks[dtype]['median'])
          row[f'pct_{key}_peak_per_cpu_sec'] = (
              100.0 * per_cpu / self.peaks[dtype]['per_cpu_sec']['median'])
    return row

  def _add_ratios(self, model):
    """Ratios of rows measured in the same run.

    Ours vs keras at equal precision (bf16 vs the twin under mixed_bfloat16,
    fp32 vs fp32): `ratio_vs_keras`; a bf16 row also gets
    `ratio_vs_keras_fp32` (what --compare=keras reported before). TFLite
    rows: `ratio_vs_tflite_float` (int8 / float at the same batch) and
    `ratio_vs_frozen` (/ the frozen graph of the first configuration).
    """
    rows = [r for r in self.rows if r['model'] == model]

    def find(row, implementation=None, precision=None):
      for other in rows:
        if (other['measurement'] == row['measurement'] and
            other['batch_size'] == row['batch_size'] and
            (implementation is None or
             other['implementation'] == implementation) and
            (precision is None or other['precision'] == precision)):
          return other
      return None

    def ratio(row, other, prefix):
      row[prefix] = row['images_per_sec'] / other['images_per_sec']
      row['cpu_' + prefix] = (row['images_per_cpu_sec'] /
                              other['images_per_cpu_sec'])

    ours = self.variants[0][0]
    for row in rows:
      label = row['implementation']
      if label.startswith('keras'):
        continue
      if label in TFLITE_KINDS:
        frozen = find(row, ours)
        if frozen:
          ratio(row, frozen, 'ratio_vs_frozen')
          row['frozen_precision'] = frozen['precision']
        if label == 'tflite_int8':
          other = find(row, 'tflite_float')
          if other:
            ratio(row, other, 'ratio_vs_tflite_float')
        continue
      keras_rows = [r for r in rows if r['implementation'].startswith('keras')
                    and r['measurement'] == row['measurement'] and
                    r['batch_size'] == row['batch_size']]
      same = [r for r in keras_rows if r['precision'] == row['precision']]
      if same:
        ratio(row, same[0], 'ratio_vs_keras')
        row['keras_precision'] = same[0]['precision']
      fp32 = [r for r in keras_rows if r['precision'] == 'none']
      if row['precision'] == 'bfloat16' and fp32:
        ratio(row, fp32[0], 'ratio_vs_keras_fp32')

  def measure_input_pipeline(self):
    """Decode + preprocessing images/sec vs mobilenet_v1 training."""
    cfg = self.config
    label, options = self.variants[0]
    pipeline, consumer = [], []
    for _ in range(cfg['num_runs']):
      pipeline.append(self._run({
          'kind': 'input', 'model': 'inception_preprocessing',
          'image_size': 224, 'batch_size': 32,
          'num_images': cfg['input_pipeline_images'], 'warmup': 3,
          'steps': 20})['images_per_sec'])
      consumer.append(self._run({
          'kind': 'train', 'model': 'mobilenet_v1', 'label': label,
          'options': options, 'image_size': 224,
          'batch_size': cfg['batch_size'], 'warmup': cfg['num_warmup_steps'],
          'steps': cfg['num_steps']})['images_per_sec'])
    self.input_pipeline = {
        'pipeline_images_per_sec': _summary(pipeline),
        'mobilenet_v1_train_images_per_sec': _summary(consumer),
        'ratio': statistics.median(pipeline) / statistics.median(consumer)}

  def run(self):
    """Runs every measurement; returns the report (see `report`).

    After each network, `on_progress` (if any) gets the report so far, so a
    long run that is interrupted still leaves its finished results.
    """
    from slim_zoo.nets import nets_factory
    started = time.time()
    try:
      if self.config['matmul_size']:
        self.log('matmul peak')
        self.measure_peaks()
      for name in self.models:
        self.log(name)
        self.measure_model(nets_factory.get_spec(name))
        if self.on_progress:
          self.on_progress(self.report(started))
      if self.config['input_pipeline']:
        self.log('input pipeline')
        self.measure_input_pipeline()
    finally:
      if self._scratch is not None:
        self._scratch.cleanup()
        self._scratch = None
    return self.report(started)

  def report(self, started):
    """The JSON-able results so far."""
    return {
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec='seconds'),
        'command': self.config['command'],
        'config': {k: v for k, v in self.config.items() if k != 'command'},
        'variants': [{'label': label, 'options': options}
                     for label, options in self.variants],
        'machine': machine_info(),
        'load_average': {
            'min': min(x for x in self.loads if x is not None),
            'max': max(x for x in self.loads if x is not None),
            'median': statistics.median(x for x in self.loads
                                        if x is not None)}
        if any(x is not None for x in self.loads) else None,
        'matmul_peak_gflops': self.peaks,
        'input_pipeline': self.input_pipeline,
        'tflite_models': self.tflite_models,
        'results': self.rows,
        'wall_seconds': time.time() - started,
    }


CSV_COLUMNS = ('model', 'implementation', 'keras_model', 'measurement',
               'precision', 'batch_size', 'image_size', 'images_per_sec',
               'images_per_sec_min', 'images_per_sec_max', 'runs',
               'ratio_vs_keras', 'images_per_cpu_sec', 'cpu_ratio_vs_keras',
               'ratio_vs_keras_fp32', 'ratio_vs_tflite_float',
               'ratio_vs_frozen', 'frozen_precision',
               'step_ms_median', 'params',
               'forward_gflops_per_image', 'achieved_gflops', 'pct_fp32_peak',
               'pct_bf16_peak', 'achieved_gflops_per_cpu_sec',
               'pct_fp32_peak_per_cpu_sec', 'pct_bf16_peak_per_cpu_sec',
               'max_rss_mb', 'options')


def to_csv(report):
  out = io.StringIO()
  writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction='ignore',
                          lineterminator='\n')
  writer.writeheader()
  for row in report['results']:
    writer.writerow({k: (f'{v:.4g}' if isinstance(v, float) else v)
                     for k, v in row.items()})
  return out.getvalue()


def _fmt(value, digits=1):
  if value is None or value == '':
    return ''
  return f'{value:.{digits}f}'


def _pct(row):
  if row.get('pct_fp32_peak') is None:
    return ''
  return (f'{row["pct_fp32_peak"]:.1f} '
          f'({row["pct_fp32_peak_per_cpu_sec"]:.1f})')


def _precision_name(row):
  return 'bf16' if row.get('precision') == 'bfloat16' else 'fp32'


def _tflite_markdown(report):
  """The TFLite table: frozen graph, float and int8 TFLite per batch."""
  rows = [r for r in report['results'] if r['measurement'] == 'tflite']
  if not rows:
    return []
  ours = report['variants'][0]['label']
  threads = next(r['threads'] for r in rows if 'threads' in r)
  lines = ['', f'TFLite inference (tf.lite.Interpreter, XNNPACK delegate, '
           f'{threads} threads) beside our frozen graph ({ours}), same '
           'run. int8: post-training quantization (export_utils.'
           'convert_tflite: int8 weights and activations, float input and '
           f'output), calibrated on {TFLITE_CALIBRATION_IMAGES} synthetic '
           'images.', '',
           '| network | batch | size | frozen graph img/s | TFLite float '
           'img/s | TFLite int8 img/s | int8/float | int8/frozen | '
           'float/frozen | int8/float per CPU-s |',
           '|---|---|---|---|---|---|---|---|---|---|']
  seen = []
  for row in rows:
    key = (row['model'], row['batch_size'])
    if key in seen:
      continue
    seen.append(key)
    group = {r['implementation']: r for r in rows
             if (r['model'], r['batch_size']) == key}
    frozen, lite, int8 = (group.get(ours), group.get('tflite_float'),
                          group.get('tflite_int8'))

    def speed(r):
      return '' if r is None else (
          f'{r["images_per_sec"]:.2f} ({r["images_per_sec_min"]:.2f}..'
          f'{r["images_per_sec_max"]:.2f})')

    frozen_text = (f'{speed(frozen)} {_precision_name(frozen)}' if frozen
                   else '')
    lines.append(
        f'| {key[0]} | {key[1]} | {row["image_size"]} | {frozen_text} | '
        f'{speed(lite)} | {speed(int8)} | '
        f'{_fmt((int8 or {}).get("ratio_vs_tflite_float"), 2)} | '
        f'{_fmt((int8 or {}).get("ratio_vs_frozen"), 2)} | '
        f'{_fmt((lite or {}).get("ratio_vs_frozen"), 2)} | '
        f'{_fmt((int8 or {}).get("cpu_ratio_vs_tflite_float"), 2)} |')
  return lines


def to_markdown(report):
  """The README performance table of a report."""
  machine = report['machine']
  peaks = report['matmul_peak_gflops']
  lines = [
      f'Measured {report["date"]} on {machine.get("cpu", "?")} '
      f'({machine["cpu_count"]} cores), TensorFlow {machine["tensorflow"]}, '
      f'tf_slim {machine.get("tf_slim")}, tf_keras {machine.get("tf_keras")}, '
      f'Python {machine["python"]}.',
  ]
  if report.get('load_average'):
    load = report['load_average']
    lines[0] += (f' Load average during the run: {load["min"]:.2f}'
                 f'..{load["max"]:.2f}.')
  if peaks:
    lines.append('')
    lines.append('Matmul peak of this machine: ' + ', '.join(
        f'{dtype} {p["median"]:.1f} GFLOP/s ({p["per_cpu_sec"]["median"]:.1f}'
        ' per CPU-second)' for dtype, p in peaks.items()) + '.')
  lines += ['', '| network | what | batch | size | ours img/s (min..max) '
            '| keras img/s (min..max) | ours/keras | ours/keras per CPU-s | '
            'GFLOP/img | % fp32 peak (per CPU-s) | peak RSS MB (ours) |',
            '|---|---|---|---|---|---|---|---|---|---|---|']
  rows = report['results']
  for row in rows:
    if (row['implementation'].startswith('keras') or
        row['measurement'] == 'tflite'):
      continue
    # The keras row at the same precision (what the ratios compare).
    keras = next((r for r in rows if r['model'] == row['model'] and
                  r['implementation'].startswith('keras') and
                  r['measurement'] == row['measurement'] and
                  r['batch_size'] == row['batch_size'] and
                  r.get('precision') == row.get('precision')), None)
    precision = _precision_name(row)
    what = f'{row["measurement"]} ({precision})'
    if len(report['variants']) > 1:
      what = f'{row["measurement"]} ({row["implementation"]}: {precision})'
    ours = (f'{row["images_per_sec"]:.2f} ({row["images_per_sec_min"]:.2f}'
            f'..{row["images_per_sec_max"]:.2f})')
    theirs = (f'{keras["images_per_sec"]:.2f} '
              f'({keras["images_per_sec_min"]:.2f}..'
              f'{keras["images_per_sec_max"]:.2f}) {keras["keras_model"]} '
              f'{_precision_name(keras)}' if keras else '')
    lines.append(
        f'| {row["model"]} | {what} | {row["batch_size"]} | '
        f'{row["image_size"]} | {ours} | {theirs} | '
        f'{_fmt(row.get("ratio_vs_keras"), 2)} | '
        f'{_fmt(row.get("cpu_ratio_vs_keras"), 2)} | '
        f'{row["forward_gflops_per_image"]:.2f} | '
        f'{_pct(row)} | {row["max_rss_mb"]:.0f} |')
  lines += _tflite_markdown(report)
  profiled = [row for row in rows if row.get('op_profile')]
  if profiled:
    lines += ['', 'Op profile (one traced step of the first run; ms per op '
              'type, count in brackets):', '']
    for row in profiled:
      profile = row['op_profile']
      ops = ', '.join(f'{op} {ms:.1f} [{count}]'
                      for op, ms, count in profile['ops'][:12])
      lines.append(f'- {row["model"]} {row["measurement"]} '
                   f'({row["implementation"]}): {profile["total_ms"]:.1f} ms: '
                   f'{ops}')
  pipeline = report.get('input_pipeline')
  if pipeline:
    lines += ['', 'Input pipeline (JPEG decode + inception training '
              'preprocessing at 224): '
              f'{pipeline["pipeline_images_per_sec"]["median"]:.1f} images/s,'
              f' {pipeline["ratio"]:.1f}x what mobilenet_v1 training consumes'
              f' ({pipeline["mobilenet_v1_train_images_per_sec"]["median"]:.1f}'
              ' images/s).']
  lines += ['', f'Reproduce: `{report["command"]}`', '']
  return '\n'.join(lines)


def write_report(report, output_dir, name):
  """Writes <name>.json, .csv, .md and the chart .png atomically; returns
  their paths."""
  from slim_zoo.datasets import dataset_utils
  os.makedirs(output_dir, exist_ok=True)
  paths = []
  for suffix, text in (('.json', json.dumps(report, indent=2) + '\n'),
                       ('.csv', to_csv(report)),
                       ('.md', to_markdown(report))):
    path = os.path.join(output_dir, name + suffix)
    dataset_utils.write_text_atomic(path, text)
    paths.append(path)
  # Beside the table, the same rows as a bar chart (every implementation the
  # results hold: ours, keras, and any other).
  from slim_zoo import plots
  path = os.path.join(output_dir, name + '.png')
  plots.save_png(plots.benchmark_figure(
      report['results'], title=f'{report["machine"].get("cpu", "?")}, '
      f'{report["machine"]["cpu_count"]} cores: images/second (higher is '
      'better)'), path)
  paths.append(path)
  return paths


def config_from_flags(flag_values, argv):
  for name in ('batch_size', 'inference_batch_size', 'num_runs', 'num_steps'):
    if getattr(flag_values, name) < 1:
      raise UsageError(f'--{name}={getattr(flag_values, name)} must be >= 1.')
  if flag_values.num_warmup_steps < 0:
    raise UsageError(f'--num_warmup_steps={flag_values.num_warmup_steps} '
                     'must be >= 0.')
  unknown = set(flag_values.measure) - {'train', 'inference', 'tflite'}
  if unknown:
    raise UsageError(f'--measure={",".join(flag_values.measure)}: unknown '
                     f'{", ".join(sorted(unknown))}; use train, inference, '
                     'tflite.')
  try:
    tflite_batches = [int(b) for b in flag_values.tflite_batch_sizes]
  except ValueError:
    tflite_batches = []
  if not tflite_batches or min(tflite_batches) < 1:
    raise UsageError(f'--tflite_batch_sizes='
                     f'{",".join(flag_values.tflite_batch_sizes)} must be '
                     'positive integers, e.g. 1,8.')
  if flag_values.tflite_threads < 1:
    raise UsageError(f'--tflite_threads={flag_values.tflite_threads} must be '
                     '>= 1.')
  keys = ('measure', 'batch_size', 'inference_batch_size', 'image_size',
          'num_runs', 'num_warmup_steps', 'num_steps', 'compare',
          'keras_package', 'matmul_size', 'input_pipeline', 'profile_ops',
          'input_pipeline_images', 'worker_timeout', 'tflite_threads')
  config = {key: getattr(flag_values, key) for key in keys}
  config['measure'] = list(config['measure'])
  config['tflite_batch_sizes'] = tflite_batches
  del argv  # absl strips the flags from argv; the command comes from sys.argv.
  config['command'] = ' '.join([os.path.basename(sys.argv[0])] + sys.argv[1:])
  return config
