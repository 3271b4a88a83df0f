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

# (network, image size, float steps, QAT steps, learning rate)
RUNS = (
    ('lenet', 28, 600, 200, 0.01),
    ('mobilenet_v2_035', 32, 1000, 300, 0.05),
)


def _train(train_dir, dataset_dir, name, size, steps, lr, **extra):
  train_lib.train(train_lib.TrainConfig(
      train_dir=train_dir, model_name=name, dataset_name='digits',
      dataset_dir=dataset_dir, batch_size=32, train_image_size=size,
      max_number_of_steps=steps, weight_decay=0.00004, seed=1,
      num_readers=1, save_interval_secs=3600, save_summaries_secs=3600,
      log_every_n_steps=500, mixed_precision='none',
      optimizer=train_lib.OptimizerConfig(
          optimizer='momentum', learning_rate=lr,
          learning_rate_decay_type='cosine', end_learning_rate=lr / 100),
      **extra))


def _test_split(dataset_dir, name, size):
  spec = dataset_factory.get_dataset('digits', 'test', dataset_dir)
  channels = 1 if name == 'lenet' else 3
  spec = dataclasses.replace(spec, channels=channels)
  fn = preprocessing_factory.get_preprocessing(name, is_training=False)
  config = input_pipeline.InputConfig(batch_size=spec.num_samples,
                                      image_size=(size, size),
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


def measure(dataset_dir, work_dir, name, size, float_steps, qat_steps, lr):
  float_dir = os.path.join(work_dir, name, 'float')
  qat_dir = os.path.join(work_dir, name, 'qat')
  _train(float_dir, dataset_dir, name, size, float_steps, lr)
  _train(qat_dir, dataset_dir, name, size, qat_steps, lr / 10,
         checkpoint_path=float_dir, quantize_delay=0)
  float_top1 = eval_lib.evaluate(eval_lib.EvalConfig(
      checkpoint_path=float_dir, eval_dir=os.path.join(float_dir, 'eval'),
      model_name=name, dataset_name='digits', dataset_dir=dataset_dir,
      eval_image_size=size, batch_size=360))['eval/Accuracy']
  channels = 1 if name == 'lenet' else 3
  graph = dict(model_name=name, num_classes=10, image_size=size,
               channels=channels)
  ptq = os.path.join(work_dir, name, 'ptq', 'model_int8.tflite')
  export_utils.export(
      export_utils.GraphConfig(**graph),
      export_utils.ExportPaths(tflite_int8_file=ptq),
      checkpoint_path=float_dir,
      calibration=export_utils.CalibrationConfig(
          dataset_name='digits', dataset_dir=dataset_dir,
          split_name='train', num_images=300))
  qat = os.path.join(work_dir, name, 'qat_export', 'model_int8.tflite')
  export_utils.export(
      export_utils.GraphConfig(quantize=True, **graph),
      export_utils.ExportPaths(tflite_int8_file=qat),
      checkpoint_path=qat_dir)
  images, labels = _test_split(dataset_dir, name, size)
  return float_top1, _tflite_top1(ptq, images, labels), _tflite_top1(
      qat, images, labels)


def main():
  from absl import logging
  logging.set_verbosity(logging.INFO)
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--dataset_dir', required=True)
  parser.add_argument('--work_dir', required=True)
  parser.add_argument('--models', default=','.join(r[0] for r in RUNS))
  args = parser.parse_args()
  rows = []
  for name, size, float_steps, qat_steps, lr in RUNS:
    if name not in args.models.split(','):
      continue
    result = measure(args.dataset_dir, args.work_dir, name, size,
                     float_steps, qat_steps, lr)
    rows.append((name, size, float_steps, qat_steps) + result)
    print(rows[-1], flush=True)
  print('| network | input | float | post-training int8 | QAT int8 |')
  print('| --- | --- | --- | --- | --- |')
  for name, size, fs, qs, f, p, q in rows:
    print(f'| {name} ({fs} float + {qs} QAT steps) | {size} | {100 * f:.2f} '
          f'| {100 * p:.2f} | {100 * q:.2f} |')


if __name__ == '__main__':
  main()
