"""Evaluates a checkpoint of a network of the zoo on one dataset split.

Usage:
  python eval_image_classifier.py --checkpoint_path=/tmp/train \
      --eval_dir=/tmp/eval --dataset_name=digits --dataset_split_name=test \
      --dataset_dir=/tmp/digits --model_name=lenet

Reads the whole split exactly once (the last partial batch included) and
reports top-1 accuracy (`eval/Accuracy`) and top-5 recall (`eval/Recall_5`),
printed, written as TensorBoard summaries to --eval_dir and as JSON
(eval_results.json) beside them.
"""

import dataclasses
import json
import os
import sys
import time

from absl import app
from absl import flags
from absl import logging

import checkpoint_utils
import common_flags
from datasets import dataset_factory
from datasets import dataset_utils
from datasets import input_pipeline
from nets import nets_factory
from nets.compat import tf
from preprocessing import preprocessing_factory

common_flags.define_model_flags()
common_flags.define_dataset_flags()
common_flags.define_preprocessing_flags()
common_flags.define_batch_size_flag(100)

flags.DEFINE_string('checkpoint_path', '/tmp/tfmodel/',
                    'Checkpoint file, or directory whose latest checkpoint is '
                    'evaluated.')
flags.DEFINE_string('eval_dir', '/tmp/tfmodel/',
                    'Directory for the evaluation summaries and JSON.')
flags.DEFINE_string('master', '', 'Address of the TensorFlow master.')
flags.DEFINE_integer('eval_image_size', None,
                     'Evaluation image size; None takes the registry default.')
flags.DEFINE_integer('max_num_batches', None,
                     'Evaluate at most this many batches (None = whole split).')

FLAGS = flags.FLAGS

RESULTS_FILENAME = 'eval_results.json'


@dataclasses.dataclass(frozen=True)
class EvalConfig:
  checkpoint_path: str
  eval_dir: str
  model_name: str
  dataset_name: str
  dataset_dir: str
  dataset_split_name: str = 'test'
  preprocessing_name: str = None
  batch_size: int = 100
  eval_image_size: int = None
  labels_offset: int = 0
  num_readers: int = 4
  num_preprocessing_threads: int = 4
  use_grayscale: bool = False
  max_num_batches: int = None
  master: str = ''


def evaluate(cfg):
  """Evaluates the checkpoint once; returns a dict of results."""
  if cfg.batch_size <= 0:
    raise ValueError(f'--batch_size must be positive, got {cfg.batch_size}.')
  spec = nets_factory.get_spec(cfg.model_name)
  dataset = dataset_factory.get_dataset(cfg.dataset_name,
                                        cfg.dataset_split_name,
                                        cfg.dataset_dir)
  checkpoint = checkpoint_utils.resolve_checkpoint(cfg.checkpoint_path)
  num_classes = dataset.num_classes - cfg.labels_offset
  with tf.Graph().as_default():
    global_step = tf.train.get_or_create_global_step()
    network_fn = nets_factory.get_network_fn(
        cfg.model_name, num_classes=num_classes, is_training=False)
    preprocessing_fn = preprocessing_factory.get_preprocessing(
        cfg.preprocessing_name or cfg.model_name, is_training=False,
        use_grayscale=cfg.use_grayscale)
    size = cfg.eval_image_size or spec.default_image_size
    data = input_pipeline.build_dataset(
        dataset, preprocessing_fn,
        input_pipeline.InputConfig(
            batch_size=cfg.batch_size, image_size=(size, size),
            is_training=False, num_readers=cfg.num_readers,
            num_parallel_calls=cfg.num_preprocessing_threads,
            labels_offset=cfg.labels_offset))
    images, labels = tf.data.make_one_shot_iterator(data).get_next()
    logits, _ = network_fn(images)
    logits = tf.reshape(logits, [tf.shape(logits)[0], -1])
    predictions = tf.argmax(logits, 1)
    labels = tf.squeeze(labels)
    labels = tf.reshape(labels, [-1])
    correct = tf.cast(tf.equal(predictions, labels), tf.float32)
    in_top5 = tf.cast(tf.nn.in_top_k(logits, labels, min(5, num_classes)),
                      tf.float32)
    saver = tf.train.Saver(tf.global_variables())
    totals = {'correct': 0.0, 'top5': 0.0, 'count': 0}
    start = time.time()
    with tf.Session(cfg.master) as session:
      saver.restore(session, checkpoint)
      step = int(session.run(global_step))
      batches = 0
      while cfg.max_num_batches is None or batches < cfg.max_num_batches:
        try:
          c, t = session.run([correct, in_top5])
        except tf.errors.OutOfRangeError:
          break
        totals['correct'] += float(c.sum())
        totals['top5'] += float(t.sum())
        totals['count'] += int(c.shape[0])
        batches += 1
    if not totals['count']:
      raise ValueError(f'Split {cfg.dataset_split_name} of {cfg.dataset_name} '
                       'yielded no examples; convert the dataset again.')
    results = {
        'eval/Accuracy': totals['correct'] / totals['count'],
        'eval/Recall_5': totals['top5'] / totals['count'],
        'num_examples': totals['count'],
        'global_step': step,
        'checkpoint': checkpoint,
        'seconds': round(time.time() - start, 3),
    }
  _write_results(cfg.eval_dir, results)
  return results


def _write_results(eval_dir, results):
  os.makedirs(eval_dir, exist_ok=True)
  writer = tf.summary.FileWriter(eval_dir)
  summary = tf.Summary(value=[
      tf.Summary.Value(tag=k, simple_value=v) for k, v in results.items()
      if k.startswith('eval/')])
  writer.add_summary(summary, results['global_step'])
  writer.close()
  dataset_utils.write_text_atomic(
      os.path.join(eval_dir, RESULTS_FILENAME),
      json.dumps(results, indent=2, sort_keys=True) + '\n')


def config_from_flags():
  names = [f.name for f in dataclasses.fields(EvalConfig)]
  return EvalConfig(**{n: getattr(FLAGS, n) for n in names})


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)

  def run():
    try:
      results = evaluate(config_from_flags())
    except tf.errors.DataLossError as e:
      raise ValueError(f'Corrupt TFRecord data in {FLAGS.dataset_dir} '
                       f'({e.message}); convert the dataset again.') from None
    for key in ('eval/Accuracy', 'eval/Recall_5'):
      print(f'{key}[{results[key]:.4f}]')
    print(f'Evaluated {results["num_examples"]} examples of checkpoint '
          f'{results["checkpoint"]} (step {results["global_step"]}); results '
          f'in {os.path.join(FLAGS.eval_dir, RESULTS_FILENAME)}')

  common_flags.run_or_exit(run)


if __name__ == '__main__':
  sys.exit(app.run(main, flags_parser=common_flags.parse_flags_or_exit))
