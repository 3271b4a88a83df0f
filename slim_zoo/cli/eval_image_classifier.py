"""Evaluates checkpoints of a network of the zoo on one dataset split.

Usage (once):
  eval_image_classifier --checkpoint_path=/tmp/train \\
      --eval_dir=/tmp/eval --dataset_name=digits --dataset_split_name=test \\
      --dataset_dir=/tmp/digits --model_name=lenet

Following a training run: add --eval_interval_secs=60 (and optionally
--timeout=600) with --checkpoint_path set to the training directory; every
new checkpoint is evaluated as it appears, until none appears for --timeout
seconds or the checkpoint of the run's last step (--max_number_of_steps in
its train_config.json) has been evaluated. A follow loop that evaluated no
checkpoint at all within --timeout is an error (one line, exit status 2).
--eval_dir is checked for writability before anything runs.

Each evaluation reads the whole split exactly once (the last partial batch
included) and reports top-1 accuracy (`eval/Accuracy`) and top-5 recall
(`eval/Recall_5`): printed, written as TensorBoard summaries to --eval_dir and
as JSON (eval_results.json) beside them. The same pass counts the
confusion matrix: confusion_matrix.png (also a TensorBoard image) and
confusion_matrix.csv beside the JSON, whose per_class_accuracy lists each
class's accuracy. --num_examples_to_plot=N writes misclassified_examples.png,
the first N misclassified examples with their true and predicted labels.
With --moving_average_decay the moving averages kept by training are
evaluated instead of the raw weights.

Without --eval_image_size, a checkpoint of this zoo's training script is
evaluated at the size it was trained at, any other at the registry's
evaluation size of the published checkpoint (299 for resnet_v2_*, which
research/slim trained and evaluated at 299).

An exported TFLite model (float, int8, or fully integer with int8/uint8
input and output) is evaluated the same way with --tflite_file instead of
--checkpoint_path:
  eval_image_classifier --tflite_file=/tmp/export/model_int8.tflite \\
      --eval_dir=/tmp/eval --dataset_name=digits --dataset_split_name=test \\
      --dataset_dir=/tmp/digits
The network and preprocessing come from the metadata beside the model
(MODEL.tflite.json; without it pass --model_name), the image size and
channels from the model's input; --intra_op_threads sets the interpreter's
threads.
"""

import dataclasses
import os

from absl import flags
from absl import logging

from slim_zoo import common_flags

FLAGS = flags.FLAGS


def define_flags():
  common_flags.define_model_flags()
  common_flags.define_dataset_flags()
  common_flags.define_batch_size_flag(100)
  common_flags.define_preprocessing_flags()
  common_flags.define_checkpoint_path_flag(
      '/tmp/tfmodel/', 'Checkpoint file, or directory whose latest checkpoint '
      'is evaluated (or followed, with --eval_interval_secs).')
  with common_flags.group('Evaluation'):
    flags.DEFINE_string('eval_dir', '/tmp/tfmodel/',
                        'Directory for the evaluation summaries and JSON.')
    flags.DEFINE_integer('eval_image_size', None,
                         'Evaluation image size; None takes the training '
                         'run\'s size (its train_config.json), else the '
                         'registry\'s size for the published checkpoint '
                         '(resnet_v2_*: 299, as research/slim evaluated '
                         'them).')
    flags.DEFINE_integer('max_num_batches', None,
                         'Evaluate at most this many batches (None = whole '
                         'split).')
    flags.DEFINE_integer('eval_interval_secs', 0,
                         'Follow --checkpoint_path (a directory): evaluate '
                         'each new checkpoint, looking at most this often. '
                         '0 = evaluate the latest checkpoint once.')
    flags.DEFINE_integer('timeout', None,
                         'With --eval_interval_secs: stop after this many '
                         'seconds without a new checkpoint (None = wait until '
                         'the training run\'s last step is evaluated).')
    flags.DEFINE_integer('num_examples_to_plot', 0,
                         'Also write misclassified_examples.png: a grid of '
                         'the first N misclassified examples with their true '
                         'and predicted labels (0 = none, at most 100).')
  common_flags.define_moving_average_flag()
  common_flags.define_master_flag()
  common_flags.define_performance_flags(mixed_precision='none')
  with common_flags.group('TFLite'):
    flags.DEFINE_string('tflite_file', None,
                        'Evaluate this exported .tflite model (float, int8 or '
                        'integer I/O) instead of a checkpoint; the network '
                        'comes from its metadata file MODEL.tflite.json '
                        '(else --model_name).')
  with common_flags.group('Quantization'):
    flags.DEFINE_bool('quantize', False,
                      'Evaluate the fake-quantized graph of a checkpoint '
                      'trained with --quantize_delay (batch norm folded, '
                      '8-bit weights and activations with the trained '
                      'ranges): what the int8 TFLite model computes.')


def config_from_flags():
  """EvalConfig of the parsed flags."""
  from slim_zoo import evaluate  # Imports TensorFlow: not for --help.
  names = [f.name for f in dataclasses.fields(evaluate.EvalConfig)]
  return evaluate.EvalConfig(**{n: FLAGS[n].value for n in names})


def _print(results):
  from slim_zoo import evaluate  # Imports TensorFlow: not for --help.
  for key in ('eval/Accuracy', 'eval/Recall_5'):
    print(f'{key}[{results[key]:.4f}]')
  print(f'Evaluated {results["num_examples"]} examples of checkpoint '
        f'{results["checkpoint"]} (step {results["global_step"]}); results '
        f'in {os.path.join(FLAGS.eval_dir, evaluate.RESULTS_FILENAME)}',
        flush=True)


def tflite_config_from_flags():
  """TFLiteEvalConfig of the parsed flags.

  Raises:
    UsageError: a flag of the checkpoint evaluation given with --tflite_file.
  """
  from slim_zoo import tflite_eval  # Imports TensorFlow: not for --help.
  tflite_eval.check_flags_given([name for name in tflite_eval.NOT_FOR_TFLITE
                                 if FLAGS[name].present])
  return tflite_eval.TFLiteEvalConfig(
      tflite_file=FLAGS.tflite_file, eval_dir=FLAGS.eval_dir,
      dataset_name=FLAGS.dataset_name, dataset_dir=FLAGS.dataset_dir,
      dataset_split_name=FLAGS.dataset_split_name,
      # The default network is no guess for a model without metadata.
      model_name=FLAGS.model_name if FLAGS['model_name'].present else None,
      preprocessing_name=FLAGS.preprocessing_name,
      batch_size=FLAGS.batch_size, labels_offset=FLAGS.labels_offset,
      num_readers=FLAGS.num_readers,
      num_preprocessing_threads=FLAGS.num_preprocessing_threads,
      max_num_batches=FLAGS.max_num_batches,
      num_threads=FLAGS.intra_op_threads or None)


def _print_tflite(results):
  from slim_zoo import evaluate  # Imports TensorFlow: not for --help.
  for key in ('eval/Accuracy', 'eval/Recall_5'):
    print(f'{key}[{results[key]:.4f}]')
  kind = 'quantized' if results['quantized'] else 'float'
  print(f'Evaluated {results["num_examples"]} examples of TFLite model '
        f'{results["tflite_file"]} ({kind}, {results["input_type"]} input); '
        f'results in {os.path.join(FLAGS.eval_dir, evaluate.RESULTS_FILENAME)}',
        flush=True)


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  if FLAGS.tflite_file is not None:
    from slim_zoo import tflite_eval  # Imports TensorFlow: not for --help.
    _print_tflite(tflite_eval.evaluate(tflite_config_from_flags()))
    return
  from slim_zoo import evaluate  # Imports TensorFlow: not for --help.
  evaluate.run(config_from_flags(), on_result=_print)


def run():
  from slim_zoo import cli
  cli.run(__doc__, define_flags, main)


if __name__ == '__main__':
  run()
