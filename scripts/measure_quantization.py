"""Measures float, post-training int8 and QAT int8 top-1 on the digits test split.

For each network: trains a float model on digits train, evaluates it, exports
a post-training int8 TFLite model (calibrated on the train split) and a QAT
int8 TFLite model (fine-tuned from the float checkpoint with
--quantize_delay=0, exported with --quantize from the trained ranges), and
runs both int8 models in the TFLite interpreter on the whole test split.

  python scripts/measure_quantization.py --dataset_dir=/tmp/digits \\
      --work_dir=/tmp/qat_measure

Prints one Markdown table row per network (the README's table).
"""

import argparse
import dataclasses
import os
import sys
import time

import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:  # Run as a file of the checkout.
  sys.path.insert(0, _ROOT)

from slim_zoo import evaluate as eval_lib  # noqa: E402
from slim_zoo import export_utils  # noqa: E402
from slim_zoo import train as train_lib  # noqa: E402
from slim_zoo.datasets import dataset_factory  # noqa: E402
from slim_zoo.datasets import input_pipeline  # noqa: E402
from slim_zoo.nets.compat import tf  # noqa: E402
from slim_zoo.preprocessing import preprocessing_factory  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Run:
  """One network's schedule: float training, then QAT at a tenth of the rate.

  MobileNet trains from scratch with Adam and LeNet's preprocessing (no
  augmentation: Inception's flips and crops do not suit digits). Its batch
  norm statistics decay at 0.997 and start at mean 0 / variance 1, so the
  float stage needs a few thousand steps before they forget that start
  (after 1000 steps the moving variances were several times the batch ones
  and top-1 was at chance).
  """
  name: str
  size: int
  float_steps: int
  qat_steps: int
  optimizer: str
  learning_rate: float
  preprocessing: str = None  # None: the registry's.

  @property
  def channels(self):
    return 1 if self.preprocessing == 'lenet' or self.name == 'lenet' else 3


RUNS = (
    Run('lenet', 28, 600, 200, 'momentum', 0.01),
    Run('mobilenet_v2_035', 32, 3000, 600, 'adam', 0.003,
        preprocessing='lenet'),
)


def _train(train_dir, dataset_dir, run, steps, lr, **extra):
  train_lib.train(train_lib.TrainConfig(
      train_dir=train_dir, model_name=run.name, dataset_name='digits',
      dataset_dir=dataset_dir, batch_size=32, train_image_size=run.size,
      preprocessing_name=run.preprocessing, max_number_of_steps=steps,
      weight_decay=0.00004, seed=1, num_readers=1, save_interval_secs=3600,
      save_summaries_secs=3600, log_every_n_steps=500, mixed_precision='none',
      optimizer=train_lib.OptimizerConfig(
          optimizer=run.optimizer, learning_rate=lr,
          # TF-Slim's default epsilon (1.0) is RMSProp's; Adam's is 1e-8.
          opt_epsilon=1e-8 if run.optimizer == 'adam' else 1.0,
          learning_rate_decay_type='cosine', end_learning_rate=lr / 100),
      **extra))


def _test_split(dataset_dir, run):
  spec = dataset_factory.get_dataset('digits', 'test', dataset_dir)
  spec = dataclasses.replace(spec, channels=run.channels)
  fn = preprocessing_factory.get_preprocessing(run.preprocessing or run.name,
                                               is_training=False)
  config = input_pipeline.InputConfig(batch_size=spec.num_samples,
                                      image_size=(run.size, run.size),
                                      is_training=False, num_readers=1)
  with tf.Graph().as_default():
    data = input_pipeline.build_dataset(spec, fn, config)
    batch = tf.data.make_one_shot_iterator(data).get_next()
    with tf.Session() as session:
      return session.run(batch)


def _tflite_top1(path, images, labels):
  probabilities = export_utils.load_model(path).run(images)['probabilities']
  return float(np.mean(np.argmax(probabilities.reshape(len(labels), -1), -1)
                       == labels))


def measure(dataset_dir, work_dir, run):
  """(float top-1, post-training int8 top-1, QAT int8 top-1, float training
  seconds, QAT training seconds) of `run`."""
  float_dir = os.path.join(work_dir, run.name, 'float')
  qat_dir = os.path.join(work_dir, run.name, 'qat')
  start = time.time()
  _train(float_dir, dataset_dir, run, run.float_steps, run.learning_rate)
  float_seconds = time.time() - start
  start = time.time()
  _train(qat_dir, dataset_dir, run, run.qat_steps, run.learning_rate / 10,
         checkpoint_path=float_dir, quantize_delay=0)
  qat_seconds = time.time() - start
  float_top1 = eval_lib.evaluate(eval_lib.EvalConfig(
      checkpoint_path=float_dir, eval_dir=os.path.join(float_dir, 'eval'),
      model_name=run.name, dataset_name='digits', dataset_dir=dataset_dir,
      preprocessing_name=run.preprocessing, eval_image_size=run.size,
      batch_size=360))['eval/Accuracy']
  graph = dict(model_name=run.name, num_classes=10, image_size=run.size,
               channels=run.channels, preprocessing_name=run.preprocessing)
  ptq = os.path.join(work_dir, run.name, 'ptq', 'model_int8.tflite')
  export_utils.export(
      export_utils.GraphConfig(**graph),
      export_utils.ExportPaths(tflite_int8_file=ptq),
      checkpoint_path=float_dir,
      calibration=export_utils.CalibrationConfig(
          dataset_name='digits', dataset_dir=dataset_dir,
          split_name='train', num_images=300))
  qat = os.path.join(work_dir, run.name, 'qat_export', 'model_int8.tflite')
  export_utils.export(
      export_utils.GraphConfig(quantize=True, **graph),
      export_utils.ExportPaths(tflite_int8_file=qat),
      checkpoint_path=qat_dir)
  images, labels = _test_split(dataset_dir, run)
  return (float_top1, _tflite_top1(ptq, images, labels),
          _tflite_top1(qat, images, labels), float_seconds, qat_seconds)


def main():
  from absl import logging
  logging.set_verbosity(logging.INFO)
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--dataset_dir', required=True)
  parser.add_argument('--work_dir', required=True)
  parser.add_argument('--models', default=','.join(r.name for r in RUNS))
  args = parser.parse_args()
  rows = []
  for run in RUNS:
    if run.name not in args.models.split(','):
      continue
    result = measure(args.dataset_dir, args.work_dir, run)
    rows.append((run,) + result)
    print(run, result, flush=True)
  print('| network | input | steps (float + QAT) | float | post-training int8 '
        '| QAT int8 |')
  print('| --- | --- | --- | --- | --- | --- |')
  for run, f, p, q, *_ in rows:
    print(f'| {run.name} | {run.size} | {run.float_steps} + {run.qat_steps} '
          f'| {100 * f:.2f} | {100 * p:.2f} | {100 * q:.2f} |')
  for run, *_, fs, qs in rows:
    print(f'{run.name}: training {fs:.0f} s float + {qs:.0f} s QAT')


if __name__ == '__main__':
  main()
