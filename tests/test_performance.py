"""performance.py levers and benchmark.py, on tiny networks and data.

The levers that change numerics keep accuracy: LeNet trained on digits with
bf16 mixed precision reaches the accuracy of fp32 training, and the frozen
graph with batch norm folded into the convolutions gives the same logits.
Speed itself is measured by benchmark.py, never asserted here.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from slim_zoo import benchmark
from slim_zoo import export_utils
from slim_zoo import performance
from slim_zoo.datasets import dataset_factory
from slim_zoo.datasets import input_pipeline
from slim_zoo.nets import nets_factory
from slim_zoo.nets.compat import tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------ session config


def test_session_config_sets_each_lever(monkeypatch):
  monkeypatch.delenv('TF_XLA_FLAGS', raising=False)
  plain = performance.session_config()
  assert plain.inter_op_parallelism_threads == 0
  assert plain.graph_options.optimizer_options.global_jit_level == 0
  assert plain.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 == 0  # noqa: E501
  assert 'TF_XLA_FLAGS' not in os.environ

  base = tf.ConfigProto(allow_soft_placement=True)
  config = performance.session_config(
      inter_op_threads=1, intra_op_threads=2, xla=True,
      mixed_precision='bfloat16', config=base)
  assert config.allow_soft_placement
  assert not base.intra_op_parallelism_threads  # the base is not modified
  assert (config.inter_op_parallelism_threads,
          config.intra_op_parallelism_threads) == (1, 2)
  assert (config.graph_options.optimizer_options.global_jit_level ==
          tf.OptimizerOptions.ON_1)
  rewrite = config.graph_options.rewrite_options
  assert rewrite.auto_mixed_precision_onednn_bfloat16 == rewrite.ON
  assert '--tf_xla_cpu_global_jit' in os.environ['TF_XLA_FLAGS'].split()


def test_session_config_rejects_bad_values():
  with pytest.raises(ValueError, match=r"--mixed_precision='float16'.*"
                     'none, bfloat16, auto'):
    performance.session_config(mixed_precision='float16')
  with pytest.raises(ValueError, match='--intra_op_threads=-1 must be >= 0'):
    performance.session_config(intra_op_threads=-1)


def test_cpu_supports_bfloat16_reads_flags():
  assert performance.cpu_supports_bfloat16(frozenset({'avx512_bf16'}))
  assert performance.cpu_supports_bfloat16(frozenset({'amx_bf16'}))
  assert not performance.cpu_supports_bfloat16(frozenset({'avx2'}))
  assert performance.resolve_mixed_precision(
      'auto', frozenset({'avx512_bf16'}), gpu=False) == 'bfloat16'
  # With a GPU the model runs there; the CPU rewrite would only add casts.
  assert performance.resolve_mixed_precision(
      'auto', frozenset({'avx512_bf16'}), gpu=True) == 'none'
  assert performance.resolve_mixed_precision(
      'bfloat16', frozenset({'avx2'}), gpu=True) == 'bfloat16'
  # TF's distributed runtime cannot run the rewritten graph: auto falls back
  # to float32, an explicit bfloat16 is refused up front.
  master = 'grpc://localhost:2222'
  assert performance.resolve_mixed_precision(
      'auto', frozenset({'avx512_bf16'}), gpu=False, master=master) == 'none'
  with pytest.raises(ValueError, match='bfloat16 does not work with '
                     '--master=grpc://localhost:2222.*auto or none'):
    performance.session_config(mixed_precision='bfloat16', master=master)
  assert performance.resolve_mixed_precision(
      'auto', frozenset({'avx2'})) == 'none'
  assert performance.resolve_mixed_precision(None) == 'none'


# ---------------------------------------------- batch norm folding (numbers)


@pytest.mark.parametrize('model_name,size', [('resnet_v1_50', 32),
                                             ('mobilenet_v2', 48)])
def test_fold_batch_norms_keeps_logits(model_name, size):
  spec = nets_factory.get_spec(model_name)
  with tf.Graph().as_default() as graph:
    tf.set_random_seed(1)
    _, _, metadata = export_utils.build_inference_graph(
        export_utils.GraphConfig(model_name, num_classes=10,
                                 image_size=size, batch_size=2))
    # Non-trivial batch-norm statistics, so folding has work to do.
    rng = np.random.RandomState(0)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      for var in tf.global_variables():
        shape = var.shape.as_list()
        if var.op.name.endswith('moving_variance'):
          var.load(rng.uniform(0.5, 2.0, shape), session)
        elif var.op.name.endswith(('moving_mean', 'beta', 'gamma')):
          var.load(rng.uniform(-0.5, 0.5, shape) +
                   (1.0 if var.op.name.endswith('gamma') else 0.0), session)
      frozen = export_utils.freeze(session, graph.as_graph_def(),
                                   [metadata['logits']])
  folded = performance.optimize_frozen_graph(frozen, [metadata['logits']])
  bn_ops = ('FusedBatchNormV3', 'FusedBatchNorm')
  assert performance.count_ops(frozen, bn_ops) > 10
  assert performance.count_ops(folded, bn_ops) == 0
  assert spec.name == model_name
  images = np.random.RandomState(2).uniform(
      -1, 1, [2, size, size, 3]).astype(np.float32)

  def logits_of(graph_def):
    with tf.Graph().as_default() as g:
      tf.import_graph_def(graph_def, name='')
      with tf.Session() as session:
        return session.run(g.get_tensor_by_name(metadata['logits'] + ':0'),
                           {g.get_tensor_by_name('input:0'): images})

  expected, actual = logits_of(frozen), logits_of(folded)
  assert np.abs(expected).max() > 1e-3  # the logits carry signal
  scale = max(1.0, float(np.abs(expected).max()))
  np.testing.assert_allclose(actual, expected, atol=1e-4 * scale)


# ------------------------------------------- accuracy with mixed precision


def _digits_arrays(dataset_dir, split):
  """(images, labels) of a digits split, preprocessed, in file order."""
  from slim_zoo.preprocessing import preprocessing_factory
  spec = dataset_factory.get_dataset('digits', split, dataset_dir)
  with tf.Graph().as_default():
    data = input_pipeline.build_dataset(
        spec, preprocessing_factory.get_preprocessing('lenet'),
        input_pipeline.InputConfig(batch_size=spec.num_samples,
                                   image_size=(28, 28), is_training=False))
    batch = tf.data.make_one_shot_iterator(data).get_next()
    with tf.Session() as session:
      return session.run(batch)


def _train_lenet_and_evaluate(train, test, config, steps=150, batch=32):
  """Trains lenet on (images, labels) `train` with session `config`.

  The batches come in a fixed, seeded order and the initial weights are
  seeded, so two runs differ only by what `config` changes.

  Returns:
    (accuracy on `test`, whether the executed graph computed in bfloat16).
  """
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    data = tf.data.Dataset.from_tensor_slices(train).shuffle(
        len(train[1]), seed=0).repeat().batch(batch)
    images, labels = tf.data.make_one_shot_iterator(data).get_next()
    network_fn = nets_factory.get_network_fn('lenet', num_classes=10,
                                             is_training=True)
    logits, _ = network_fn(images)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = tf.train.MomentumOptimizer(0.01, 0.9).minimize(loss)
    eval_fn = nets_factory.get_network_fn('lenet', num_classes=10)
    test_logits, _ = eval_fn(tf.constant(test[0]), reuse=True)
    correct = tf.equal(tf.argmax(test_logits, 1), test[1])
    accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
    with tf.Session(config=config) as session:
      session.run(tf.global_variables_initializer())
      metadata = tf.RunMetadata()
      session.run(train_op, run_metadata=metadata,
                  options=tf.RunOptions(output_partition_graphs=True))
      bf16 = any(node.attr['T'].type == tf.bfloat16.as_datatype_enum
                 for graph in metadata.partition_graphs
                 for node in graph.node)
      for _ in range(steps - 1):
        session.run(train_op)
      return float(session.run(accuracy)), bf16


def test_bfloat16_training_keeps_lenet_accuracy(digits_dir):
  train = _digits_arrays(digits_dir, 'train')
  test = _digits_arrays(digits_dir, 'test')
  fp32, fp32_used_bf16 = _train_lenet_and_evaluate(
      train, test, performance.session_config())
  bf16, bf16_used_bf16 = _train_lenet_and_evaluate(
      train, test, performance.session_config(mixed_precision='bfloat16'))
  # The rewrite really ran (convolutions and matmuls in bf16) and only when
  # asked; the variables' updates stay float32 (ApplyMomentum T=float).
  assert bf16_used_bf16 and not fp32_used_bf16
  assert fp32 > 0.85, fp32  # the run learned something
  assert abs(bf16 - fp32) <= 0.02, (fp32, bf16)


def _executed_types(session, fetch, op_types):
  """{op type: set of T dtypes} of the ops `session` ran for `fetch`."""
  metadata = tf.RunMetadata()
  session.run(fetch, run_metadata=metadata,
              options=tf.RunOptions(output_partition_graphs=True))
  types = {}
  for graph in metadata.partition_graphs:
    for node in graph.node:
      for op_type in op_types:  # oneDNN renames ops, e.g. _MklNativeConv2D.
        if node.op.endswith(op_type):
          types.setdefault(op_type, set()).add(tf.as_dtype(node.attr['T'].type))
  return types


def test_bfloat16_keeps_depthwise_gradients_in_float32():
  with tf.Graph().as_default():
    train_op, _ = benchmark.build_synthetic_train_op('mobilenet_v2', 2, 32)
    config = performance.session_config(mixed_precision='bfloat16')
    with tf.Session(config=config) as session:
      session.run([tf.global_variables_initializer(),
                   tf.local_variables_initializer()])
      types = _executed_types(session, train_op, (
          'Conv2DBackpropFilter', 'DepthwiseConv2dNative',
          'DepthwiseConv2dNativeBackpropFilter',
          'DepthwiseConv2dNativeBackpropInput'))
  assert types['Conv2DBackpropFilter'] == {tf.bfloat16}
  assert types['DepthwiseConv2dNative'] == {tf.bfloat16}
  assert types['DepthwiseConv2dNativeBackpropFilter'] == {tf.float32}
  assert types['DepthwiseConv2dNativeBackpropInput'] == {tf.float32}


@pytest.mark.parametrize('script,default', [
    ('train_image_classifier.py', 'auto'), ('classify_image.py', 'auto'),
    ('eval_image_classifier.py', 'none')])
def test_mixed_precision_defaults_of_the_scripts(script, default):
  """Speed by default for training and inference; exact float32 for eval."""
  proc = subprocess.run([sys.executable, os.path.join(ROOT, script),
                         '--helpfull'], capture_output=True, text=True,
                        cwd=ROOT, timeout=300)
  text = proc.stdout + proc.stderr
  start = text.index('--mixed_precision: ')
  assert f"(default: '{default}')" in text[start:start + 600], text[start:]


# ---------------------------------------------------------------- benchmark


def test_expand_model_names_wildcards_and_errors():
  names = nets_factory.names()
  assert benchmark.expand_model_names('resnet_v1_*', names) == [
      'resnet_v1_50', 'resnet_v1_101', 'resnet_v1_152', 'resnet_v1_200']
  assert benchmark.expand_model_names('lenet, lenet,cifarnet', names) == [
      'lenet', 'cifarnet']
  with pytest.raises(ValueError, match="'resnet_v9_\\*'"):
    benchmark.expand_model_names('resnet_v9_*', names)
  with pytest.raises(ValueError,
                     match="'resnet_v1_5O'. Did you mean resnet_v1_50"):
    benchmark.expand_model_names('resnet_v1_5O', names)


def test_registry_keras_twins_exist():
  """benchmark.py --compare=keras times the registry's keras_twin."""
  import tf_keras
  twins = {spec.name: spec.keras_twin for spec in nets_factory.REGISTRY.values()
           if spec.keras_twin}
  assert twins['resnet_v1_50'] == 'ResNet50'
  assert twins['mobilenet_v2'] == 'MobileNetV2'
  assert twins['inception_v3'] == 'InceptionV3'
  assert len(twins) == 16
  for name, twin in twins.items():
    assert callable(getattr(tf_keras.applications, twin, None)), (name, twin)


def test_parse_variants():
  base = {'xla': False, 'mixed_precision': 'none', 'inter_op_threads': 0,
          'intra_op_threads': 0, 'fold_batch_norms': True,
          'onednn': 'default'}
  assert benchmark.parse_variants('', base) == [(benchmark.OURS, base)]
  variants = benchmark.parse_variants(
      'base:; fast: xla=true,intra_op_threads=2,mixed_precision=bfloat16',
      base)
  assert [label for label, _ in variants] == ['base', 'fast']
  assert variants[1][1] == dict(base, xla=True, intra_op_threads=2,
                                mixed_precision='bfloat16')
  with pytest.raises(ValueError, match="'speed=1'.*xla"):
    benchmark.parse_variants('a:speed=1', base)
  with pytest.raises(ValueError, match='unique'):
    benchmark.parse_variants('a:;a:xla=1', base)


def test_workers_measure_lenet_in_process():
  options = {'xla': False, 'mixed_precision': 'none', 'inter_op_threads': 0,
             'intra_op_threads': 0, 'fold_batch_norms': True}
  common = {'model': 'lenet', 'image_size': 28, 'batch_size': 4,
            'warmup': 1, 'steps': 2, 'options': options}
  train = benchmark.run_worker(dict(common, kind='train'))
  infer = benchmark.run_worker(dict(common, kind='inference'))
  profile = benchmark.run_worker({'kind': 'profile', 'model': 'lenet',
                                  'image_size': 28})
  for result in (train, infer):
    assert result['precision'] == 'none'
    assert len(result['step_times']) == 2
    assert result['images_per_sec'] > 0
    assert result['max_rss_mb'] > 50
  assert np.isfinite(train['final_loss'])
  # LeNet on the benchmark's RGB input: conv1 5x5x3x32, conv2 5x5x32x64,
  # fc3 3136x1024, fc4 1024x10.
  params = (5 * 5 * 3 * 32 + 32) + (5 * 5 * 32 * 64 + 64) + (
      7 * 7 * 64 * 1024 + 1024) + (1024 * 10 + 10)
  assert profile['params'] == params
  # Conv and matmul multiply-adds (x2) at least; the profiler adds the
  # element-wise ops it has statistics for.
  macs = 28 * 28 * 25 * 3 * 32 + 14 * 14 * 25 * 32 * 64 + 3136 * 1024 + 10240
  assert 2 * macs <= profile['forward_flops'] < 2.5 * macs
  peak = benchmark.run_worker({'kind': 'peak', 'dtype': 'bfloat16',
                               'size': 64, 'warmup': 1, 'steps': 2})
  assert peak['gflops'] > 0 and len(peak['step_times']) == 2


def test_xla_clusters_under_absl_app_run():
  """--xla reaches TensorFlow in a script started by absl's app.run.

  TF parses TF_XLA_FLAGS before main() runs there; setting only the
  environment variable clustered nothing (a silent no-op).
  """
  job = {'kind': 'train', 'model': 'lenet', 'image_size': 28,
         'batch_size': 2, 'warmup': 1, 'steps': 1, 'profile_ops': True,
         'options': {'xla': True, 'mixed_precision': 'none',
                     'inter_op_threads': 0, 'intra_op_threads': 0,
                     'fold_batch_norms': True, 'onednn': 'default'}}
  env = {k: v for k, v in os.environ.items() if k != 'TF_XLA_FLAGS'}
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'benchmark.py'),
       '--worker=' + json.dumps(job)], capture_output=True, text=True,
      cwd=ROOT, timeout=300, env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  line = next(line for line in proc.stdout.splitlines()
              if line.startswith(benchmark.RESULT_PREFIX))
  result = json.loads(line[len(benchmark.RESULT_PREFIX):])
  ops = {op for op, _, _ in result['op_profile']['ops']}
  assert '_XlaCompile' in ops, sorted(ops)


def test_benchmark_script_with_keras_twin(tmp_path):
  """One tiny end-to-end run: profile, ours and the keras twin, files."""
  command = [
      sys.executable, os.path.join(ROOT, 'benchmark.py'),
      '--model_name=mobilenet_v2', '--image_size=32', '--measure=inference',
      '--inference_batch_size=2', '--num_runs=1', '--num_steps=2',
      '--num_warmup_steps=1', '--matmul_size=0', '--compare=keras',
      '--profile_ops',
      f'--output_dir={tmp_path}', '--output_name=run']
  proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                        timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  report = json.loads((tmp_path / 'run.json').read_text())
  assert report['matmul_peak_gflops'] == {}  # --matmul_size=0 skips it
  rows = {row['implementation']: row for row in report['results']}
  assert set(rows) == {'slim', 'keras'}
  assert rows['keras']['keras_model'] == 'MobileNetV2'
  ours = rows['slim']
  assert ours['images_per_sec'] > 0 and rows['keras']['images_per_sec'] > 0
  assert ours['ratio_vs_keras'] == pytest.approx(
      ours['images_per_sec'] / rows['keras']['images_per_sec'])
  assert ours['achieved_gflops'] > 0 and 'pct_fp32_peak' not in ours
  assert report['load_average'] is not None
  csv_text = (tmp_path / 'run.csv').read_text()
  assert csv_text.splitlines()[0].startswith('model,implementation')
  assert len(csv_text.splitlines()) == 3
  markdown = (tmp_path / 'run.md').read_text()
  # The default precision is 'auto': what it resolved to on this CPU.
  assert json.loads(ours['options'])['mixed_precision'] == 'auto'
  resolved = performance.resolve_mixed_precision('auto')
  assert ours['precision'] == resolved
  what = 'bf16' if resolved == 'bfloat16' else 'fp32'
  assert f'| mobilenet_v2 | inference ({what}) | 2 | 32 |' in markdown
  assert ours['images_per_cpu_sec'] > 0 and ours['cpu_ratio_vs_keras'] > 0
  assert 'MobileNetV2' in markdown
  # --profile_ops: time per op type of one traced step; convolutions lead.
  profile = ours['op_profile']
  assert profile['total_ms'] > 0
  assert sum(ms for _, ms, _ in profile['ops']) == pytest.approx(
      profile['total_ms'])
  assert any('Conv2D' in op for op, _, _ in profile['ops'])
  assert rows['keras']['op_profile'] is None
  assert 'Op profile' in markdown and 'mobilenet_v2 inference (slim)' in markdown
  # The table's rows as a bar chart beside it (tests/test_plots.py checks
  # the bars): a real picture.
  import matplotlib.image
  from slim_zoo import plots
  width, height = plots.png_size((tmp_path / 'run.png').read_bytes())
  assert width >= 500 and height >= 400
  pixels = matplotlib.image.imread(str(tmp_path / 'run.png'))[..., :3]
  assert (pixels < 0.95).any(axis=-1).mean() > 0.02 and pixels.std() > 0.05
