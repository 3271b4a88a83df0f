r"""Measures the speed of the zoo's networks, and of their keras twins.

For every network chosen (``--model_name``, or ``--model_list`` of names and
wildcards such as ``resnet_v1_*``) the benchmark reports:

* parameters and forward FLOPs per image (TF profiler ``float_ops`` of the
  inference graph at batch 1; a multiply-add counts as two);
* training images/sec: forward + backward + momentum update on synthetic
  in-graph data (no input pipeline on the critical path), batch
  ``--batch_size`` at the registry's image size;
* inference images/sec of the exported frozen graph: the inference graph
  export_inference_graph.py builds, frozen, optionally optimized
  (``--fold_batch_norms``), run on a fed batch of ``--inference_batch_size``;
* with ``--measure=...,tflite``: TFLite inference images/sec of the float
  and the int8 model (``export_utils.convert_tflite``; int8 is its
  post-training quantization with float input/output, calibrated on 8
  synthetic images) in ``tf.lite.Interpreter`` (XNNPACK, its default
  delegate; ``--tflite_threads``) at each ``--tflite_batch_sizes``, beside
  the frozen graph at the same batches, with the int8/float and
  TFLite/frozen ratios of the same run;
* peak memory (``ru_maxrss`` of the process that made the measurement);
* the machine's own fp32 and bf16 matmul peak (large square matmuls through
  TF, measured in the same run) and the achieved GFLOP/s as a % of it
  (training counts 3x the forward FLOPs: forward, input and weight gradients).

Every measurement runs in a fresh process (this script re-invoked with
``--worker``), so no run inherits another's caches, threads or memory. A run
is ``--num_warmup_steps`` untimed steps then ``--num_steps`` timed ones; its
speed is batch / median step time. ``--num_runs`` runs are made for each
measurement and the median (and min..max) across runs is reported.

``--compare=keras`` also times the keras.applications twin (``weights=None``,
same batch, image size and optimizer, ``train_on_batch`` and ``predict``),
alternating ours and keras run by run so that load changes hit both, and
prints the our/keras ratio at equal precision: when ours computes in bf16,
the twin is also timed under keras' ``mixed_bfloat16`` policy and that is
the ratio (``ratio_vs_keras``; the bf16-vs-fp32 one stays in the JSON as
``ratio_vs_keras_fp32``). ``--variants`` compares configurations of ours
the same way (the levers of performance.py). Ours runs at the scripts'
default, ``--mixed_precision=auto`` (bf16 on CPUs with native bf16); each
row records the precision it resolved to. ``--profile_ops`` adds the
milliseconds per op type of one traced step (where a step's time goes).

Results go to ``--output_dir`` as ``<name>.json``, ``<name>.csv``, a
markdown table ``<name>.md`` (the README's performance section) and the same
rows as a bar chart of images/sec, ours beside keras, ``<name>.png``.

Example:

  slim_zoo_benchmark --model_list=resnet_v1_50,inception_v3,mobilenet_v2 \\
      --compare=keras --num_runs=3
"""

import datetime
import json

from absl import flags

from slim_zoo import benchmark
from slim_zoo import common_flags

FLAGS = flags.FLAGS


def define_flags():
  with common_flags.group('Benchmark'):
    flags.DEFINE_string('model_name', None,
                        'One network to benchmark (overrides --model_list).')
    flags.DEFINE_string('model_list', 'resnet_v1_50,inception_v3,mobilenet_v2',
                        'Comma-separated network names or wildcards '
                        '(e.g. "resnet_v1_*,mobilenet_v2").')
    flags.DEFINE_list('measure', ['train', 'inference'],
                      'What to time per network: train, inference, tflite '
                      '(frozen graph, float and int8 TFLite at '
                      '--tflite_batch_sizes).')
    flags.DEFINE_list('tflite_batch_sizes', ['1', '8'],
                      'Batches of the tflite measurement.')
    flags.DEFINE_integer('tflite_threads', 2, 'TFLite interpreter threads.')
    flags.DEFINE_integer('batch_size', 16, 'Training batch size.')
    flags.DEFINE_integer('inference_batch_size', 32, 'Inference batch size.')
    flags.DEFINE_integer('image_size', None,
                         'Input height/width; None takes the registry default.')
    flags.DEFINE_integer('num_runs', 3,
                         'Processes per measurement (median across them).')
    flags.DEFINE_integer('num_warmup_steps', 2, 'Untimed steps per run.')
    flags.DEFINE_integer('num_steps', 5, 'Timed steps per run.')
    flags.DEFINE_enum('compare', 'none', ['none', 'keras'],
                      'Also time the keras.applications twin.')
    flags.DEFINE_enum('keras_package', 'tf_keras', ['tf_keras', 'keras'],
                      'Keras to compare with: tf_keras (Keras 2) or keras '
                      '(Keras 3, TensorFlow backend).')
    flags.DEFINE_bool('xla', False, 'XLA auto-clustering (global_jit_level).')
    flags.DEFINE_string('mixed_precision', 'auto',
                        'none, bfloat16 (oneDNN auto mixed precision) or auto '
                        '(bfloat16 where the CPU computes it natively): the '
                        'default of train_image_classifier.py and '
                        'classify_image.py.')
    flags.DEFINE_integer('inter_op_threads', 0, 'Inter-op threads (0 = auto).')
    flags.DEFINE_integer('intra_op_threads', 0, 'Intra-op threads (0 = auto).')
    flags.DEFINE_bool('fold_batch_norms', True,
                      'Fold batch norm into convolutions in the frozen graph.')
    flags.DEFINE_enum('onednn', 'default', ['default', 'on', 'off'],
                      'TF_ENABLE_ONEDNN_OPTS for our measurement processes.')
    flags.DEFINE_string('variants', '',
                        'Semicolon-separated configurations of ours to compare, '
                        'each "label:key=value,key=value" with keys xla, '
                        'mixed_precision, inter_op_threads, intra_op_threads, '
                        'fold_batch_norms, onednn; e.g. '
                        '"base:;xla:xla=true". Empty: one configuration from '
                        'the flags above.')
    flags.DEFINE_bool('profile_ops', False,
                      'Also trace one step of each of our train/inference runs '
                      'and report milliseconds per op type (JSON "op_profile" '
                      'and a markdown section). With inter_op_threads=1 the op '
                      'times add up to the step time.')
    flags.DEFINE_integer('matmul_size', 2048,
                         'Side of the square matmuls measuring the peak '
                         '(0 skips the peak measurement).')
    flags.DEFINE_bool('input_pipeline', False,
                      'Also time decode + inception training preprocessing at '
                      '224 and compare it with mobilenet_v1 training.')
    flags.DEFINE_integer('input_pipeline_images', 256,
                         'JPEG images in the synthetic input-pipeline dataset.')
    flags.DEFINE_string('output_dir', 'benchmark_results',
                        'Directory for the results files.')
    flags.DEFINE_string('output_name', None,
                        'Base name of the results files (default: '
                        'benchmark_<UTC time>).')
    flags.DEFINE_integer('worker_timeout', 1800,
                         'Seconds before a measurement process is killed.')
    flags.DEFINE_string('worker', None, 'Internal: run one measurement (JSON).')


def main(argv):
  if FLAGS.worker:
    job = json.loads(FLAGS.worker)
    print(benchmark.RESULT_PREFIX + json.dumps(benchmark.run_worker(job)), flush=True)
    return

  def run_benchmark():
    from slim_zoo.nets import nets_factory
    from slim_zoo import performance
    performance.validate_mixed_precision(FLAGS.mixed_precision)
    models = benchmark.expand_model_names(FLAGS.model_name or FLAGS.model_list,
                                nets_factory.names())
    variants = benchmark.parse_variants(FLAGS.variants, benchmark.default_options(FLAGS))
    config = benchmark.config_from_flags(FLAGS, argv)
    name = FLAGS.output_name or 'benchmark_' + datetime.datetime.now(
        datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    report = benchmark.Benchmark(
        models, variants, config,
        on_progress=lambda r: benchmark.write_report(r, FLAGS.output_dir, name)).run()
    for path in benchmark.write_report(report, FLAGS.output_dir, name):
      print('wrote', path)
    print(benchmark.to_markdown(report))

  run_benchmark()

def run():
  from slim_zoo import cli
  cli.run(__doc__, define_flags, main)


if __name__ == '__main__':
  run()
