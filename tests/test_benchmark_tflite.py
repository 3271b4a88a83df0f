"""benchmark.py's TFLite rows and its equal-precision keras ratios.

The measurement processes run in this process (benchmark.launch replaced by
run_worker). The TFLite path is real on LeNet: conversion to float and int8
flatbuffers, the interpreter, the frozen graph beside it, one step each;
the keras-parity planning uses workers that return given step times, so the
ratios can be checked against the times they must come from. Speed itself
is never asserted.
"""

import os
import statistics

import pytest

from slim_zoo import benchmark
from slim_zoo.nets import nets_factory

FP32 = {'xla': False, 'mixed_precision': 'none', 'inter_op_threads': 0,
        'intra_op_threads': 0, 'fold_batch_norms': True, 'onednn': 'default'}


def _config(**overrides):
  config = {'measure': ['tflite'], 'batch_size': 2, 'inference_batch_size': 2,
            'image_size': None, 'num_runs': 1, 'num_warmup_steps': 0,
            'num_steps': 1, 'compare': 'none', 'keras_package': 'tf_keras',
            'matmul_size': 0, 'input_pipeline': False, 'profile_ops': False,
            'input_pipeline_images': 0, 'worker_timeout': 600,
            'tflite_threads': 2, 'tflite_batch_sizes': [1, 2],
            'command': 'test'}
  config.update(overrides)
  return config


@pytest.fixture
def in_process(monkeypatch):
  """Runs every measurement in this process; returns the jobs launched."""
  jobs = []

  def launch(job, timeout):
    del timeout
    jobs.append(job)
    return benchmark.run_worker(job)

  monkeypatch.setattr(benchmark, 'launch', launch)
  return jobs


def _speed(row):
  times = [t for run in row['raw_runs'] for t in run['step_times']]
  return row['batch_size'] / statistics.median(times)


def test_tflite_rows_beside_the_frozen_graph(in_process):
  bench = benchmark.Benchmark(['lenet'], [('slim', FP32)], _config(),
                              log=lambda _: None)
  report = bench.run()
  rows = {(r['implementation'], r['batch_size']): r
          for r in report['results']}
  assert sorted(rows) == [(kind, batch) for kind in
                          ('slim', 'tflite_float', 'tflite_int8')
                          for batch in (1, 2)]
  converts = [job for job in in_process if job['kind'] == 'tflite_convert']
  assert len(converts) == 1  # One conversion serves every batch.
  models = report['tflite_models']['lenet']
  assert models['bytes']['tflite_int8'] * 3 < models['bytes']['tflite_float']
  assert not os.path.exists(converts[0]['directory'])  # Cleaned up.
  for batch in (1, 2):
    frozen, lite, int8 = (rows[(kind, batch)] for kind in
                          ('slim', 'tflite_float', 'tflite_int8'))
    assert (frozen['precision'], lite['precision'], int8['precision']) == (
        'none', 'float', 'int8')
    assert lite['threads'] == int8['threads'] == 2
    for row in (frozen, lite, int8):
      assert row['measurement'] == 'tflite'
      assert row['images_per_sec'] == pytest.approx(_speed(row))
    assert int8['ratio_vs_tflite_float'] == pytest.approx(
        _speed(int8) / _speed(lite))
    assert int8['ratio_vs_frozen'] == pytest.approx(
        _speed(int8) / _speed(frozen))
    assert lite['ratio_vs_frozen'] == pytest.approx(
        _speed(lite) / _speed(frozen))
    assert int8['frozen_precision'] == 'none'
  markdown = benchmark.to_markdown(report)
  int8 = rows[('tflite_int8', 2)]
  assert (f'| lenet | 2 | 28 | {rows[("slim", 2)]["images_per_sec"]:.2f}'
          in markdown)
  assert f'| {int8["ratio_vs_tflite_float"]:.2f} |' in markdown
  assert 'XNNPACK delegate, 2 threads' in markdown
  assert 'tflite_int8' in benchmark.to_csv(report)


def test_keras_twin_is_timed_at_our_precision(in_process, monkeypatch):
  """Ours in bf16 is compared with keras under mixed_bfloat16; fp32 with
  fp32. The workers report given step times (seconds)."""
  ours_times = {'bfloat16': 0.5, 'none': 1.0}
  keras_times = {'mixed_bfloat16': 2.0, 'float32': 3.0}

  def timed(seconds):
    benchmark._CPU_TIMES.append(seconds)
    return {'step_times': [seconds]}

  monkeypatch.setitem(benchmark._WORKERS, 'profile', lambda job: {
      'params': 1, 'trainable_params': 1, 'forward_flops': 1e9})
  monkeypatch.setitem(benchmark._WORKERS, 'inference', lambda job: timed(
      ours_times[job['options']['mixed_precision']]))
  monkeypatch.setitem(benchmark._WORKERS, 'keras_inference', lambda job: timed(
      keras_times[job['keras_policy']]))
  variants = [('default', dict(FP32, mixed_precision='bfloat16')),
              ('fp32', FP32)]
  bench = benchmark.Benchmark(
      ['mobilenet_v2'], variants,
      _config(measure=['inference'], compare='keras'), log=lambda _: None)
  report = bench.run()
  policies = [job['keras_policy'] for job in in_process
              if job['kind'] == 'keras_inference']
  assert policies == ['float32', 'mixed_bfloat16']
  rows = {r['implementation']: r for r in report['results']}
  assert rows['keras_bf16']['precision'] == 'bfloat16'
  assert rows['keras']['precision'] == 'none'
  assert rows['default']['keras_precision'] == 'bfloat16'
  assert rows['default']['ratio_vs_keras'] == pytest.approx(2.0 / 0.5)
  assert rows['default']['ratio_vs_keras_fp32'] == pytest.approx(3.0 / 0.5)
  assert rows['fp32']['keras_precision'] == 'none'
  assert rows['fp32']['ratio_vs_keras'] == pytest.approx(3.0 / 1.0)
  assert 'ratio_vs_keras_fp32' not in rows['fp32']
  markdown = benchmark.to_markdown(report)
  assert '| 4.00 |' in markdown and 'MobileNetV2 bf16' in markdown

  # All fp32: no bf16 twin is timed.
  del in_process[:]
  benchmark.Benchmark(['mobilenet_v2'], [('fp32', FP32)],
                      _config(measure=['inference'], compare='keras'),
                      log=lambda _: None).run()
  assert [job.get('keras_policy') for job in in_process
          if job['kind'] == 'keras_inference'] == ['float32']


def test_keras_twin_under_mixed_bfloat16_computes_in_bf16():
  import tf_keras
  from tf_keras.src.engine import base_layer_utils
  was_on = base_layer_utils.v2_dtype_behavior_enabled()
  try:
    keras, model = benchmark._keras_model({
        'keras_package': 'tf_keras', 'twin': 'MobileNetV2', 'image_size': 32,
        'keras_policy': 'mixed_bfloat16'})
  finally:
    if not was_on:  # The measurement process keeps it; this one must not.
      base_layer_utils.disable_v2_dtype_behavior()
  conv = next(layer for layer in model.layers
              if isinstance(layer, keras.layers.Conv2D))
  assert conv.compute_dtype == 'bfloat16'
  assert conv.kernel.dtype == 'float32'  # Variables stay float32.
  assert tf_keras.mixed_precision.global_policy().name == 'float32'


def test_variant_labels_cannot_take_row_names():
  for label in ('keras_bf16', 'tflite_int8'):
    with pytest.raises(ValueError, match='not start with'):
      benchmark.parse_variants(f'{label}:', FP32)
  assert nets_factory.get_spec('mobilenet_v2').keras_twin == 'MobileNetV2'
