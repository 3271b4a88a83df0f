"""eval_image_classifier --tflite_file: exported TFLite models on a split.

One LeNet is trained briefly on the digits and exported (frozen graph, float
TFLite and post-training int8 TFLite); a fully integer model (int8 input
and output, fixed batch 1, no metadata beside it) is converted from its
frozen graph here. Each is evaluated over the whole test split and compared
with the evaluation of the checkpoint it came from: the float model must
classify exactly the same number of examples correctly, the int8 ones
within two points.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from slim_zoo import evaluate as eval_lib
from slim_zoo import export_utils
from slim_zoo import tflite_eval
from slim_zoo import train as train_lib
from slim_zoo.nets.compat import tf
from tests import train_helpers as th

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_TEST = 360  # The digits test split.


@pytest.fixture(scope='module')
def exported(digits_dir, tmp_path_factory):
  """(train dir, export dir, checkpoint evaluation results)."""
  root = tmp_path_factory.mktemp('tflite_eval')
  train_dir = str(root / 'train')
  train_lib.train(th.config(
      train_dir, digits_dir, max_number_of_steps=100, batch_size=32,
      optimizer=dict(optimizer='momentum', learning_rate=0.01)))
  checkpoint = tf.train.latest_checkpoint(train_dir)
  num_classes, channels = export_utils.classes_and_channels(
      'lenet', 'digits', digits_dir)
  export_dir = str(root / 'export')
  export_utils.export(
      export_utils.GraphConfig('lenet', num_classes, channels=channels),
      export_utils.ExportPaths(
          frozen_graph=os.path.join(export_dir, 'frozen_graph.pb'),
          tflite_file=os.path.join(export_dir, 'model_float.tflite'),
          tflite_int8_file=os.path.join(export_dir, 'model_int8.tflite')),
      checkpoint_path=checkpoint,
      calibration=export_utils.CalibrationConfig(
          'digits', digits_dir, 'train', num_images=50))
  results = eval_lib.evaluate(eval_lib.EvalConfig(
      checkpoint_path=train_dir, eval_dir=str(root / 'eval_checkpoint'),
      model_name='lenet', dataset_name='digits', dataset_dir=digits_dir,
      dataset_split_name='test', batch_size=100, num_readers=1,
      num_preprocessing_threads=1))
  assert results['num_examples'] == NUM_TEST
  assert results['eval/Accuracy'] > 0.5  # Trained: chance is 0.1.
  return train_dir, export_dir, results


def _integer_io_model(frozen_graph, digits_dir, path):
  """Converts `frozen_graph` to int8 weights, activations, input and output,
  with a fixed batch of 1, calibrated on 50 digits training images."""
  metadata = json.load(open(frozen_graph + '.json'))
  graph_def = tf.GraphDef()
  with open(frozen_graph, 'rb') as f:
    graph_def.ParseFromString(f.read())
  calibration = export_utils.calibration_images(
      export_utils.CalibrationConfig('digits', digits_dir, 'train', 50),
      metadata)
  with tf.Graph().as_default() as graph:
    shape = [1] + metadata['input_shape'][1:]
    image = tf.placeholder(tf.float32, shape, name='input')
    outputs = tf.import_graph_def(
        graph_def, input_map={'input:0': image},
        return_elements=[n + ':0' for n in metadata['outputs'].values()],
        name='')
    converter = tf.lite.TFLiteConverter(graph.as_graph_def(), [image],
                                        outputs)
  converter.optimizations = [tf.lite.Optimize.DEFAULT]
  converter.representative_dataset = lambda: ([x] for x in calibration)
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
  converter.inference_input_type = tf.int8
  converter.inference_output_type = tf.int8
  with open(path, 'wb') as f:
    f.write(converter.convert())


def _tflite_config(path, digits_dir, eval_dir, **overrides):
  values = dict(tflite_file=str(path), eval_dir=str(eval_dir),
                dataset_name='digits', dataset_dir=digits_dir,
                dataset_split_name='test', batch_size=100, num_readers=1,
                num_preprocessing_threads=1)
  values.update(overrides)
  return tflite_eval.TFLiteEvalConfig(**values)


def _correct(results):
  return round(results['eval/Accuracy'] * results['num_examples'])


def test_float_int8_and_integer_io_models_match_the_checkpoint(
    exported, digits_dir, tmp_path):
  _, export_dir, checkpoint = exported
  float_file = os.path.join(export_dir, 'model_float.tflite')
  # The command: the metadata beside the model gives network and
  # preprocessing; the printed numbers and eval_results.json are the
  # checkpoint evaluation's.
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'eval_image_classifier.py'),
       f'--tflite_file={float_file}', f'--eval_dir={tmp_path / "float"}',
       '--dataset_name=digits', '--dataset_split_name=test',
       f'--dataset_dir={digits_dir}', '--batch_size=64', '--num_readers=1'],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  as_float = json.loads((tmp_path / 'float' /
                         eval_lib.RESULTS_FILENAME).read_text())
  assert f'eval/Accuracy[{as_float["eval/Accuracy"]:.4f}]' in result.stdout
  assert f'Evaluated {NUM_TEST} examples of TFLite model' in result.stdout
  assert any(name.startswith('events.out.tfevents')
             for name in os.listdir(tmp_path / 'float'))  # TensorBoard
  assert as_float['num_examples'] == NUM_TEST
  assert as_float['num_batches'] == 6  # 5 x 64 + 40: one pass
  assert as_float['global_step'] == checkpoint['global_step'] == 100
  assert not as_float['quantized'] and as_float['input_type'] == 'float32'
  assert _correct(as_float) == _correct(checkpoint)
  assert _correct(as_float) == round(checkpoint['eval/Accuracy'] * NUM_TEST)
  assert as_float['eval/Recall_5'] == pytest.approx(
      checkpoint['eval/Recall_5'])
  # The same per-class report and pictures as the checkpoint's, counted in
  # the same pass.
  per_class = as_float['per_class_accuracy']
  assert sum(c['num_examples'] for c in per_class) == NUM_TEST
  assert round(sum(c['accuracy'] * c['num_examples'] for c in per_class)) == (
      _correct(as_float))
  assert (tmp_path / 'float' / as_float['confusion_matrix_png']).is_file()

  int8 = tflite_eval.evaluate(_tflite_config(
      os.path.join(export_dir, 'model_int8.tflite'), digits_dir,
      tmp_path / 'int8'))
  assert int8['quantized'] and int8['input_type'] == 'float32'
  assert int8['num_examples'] == NUM_TEST

  # Fully integer, fixed batch 1, no metadata: --model_name names the net,
  # and the int8 input/output are (de)quantized with the model's own scale
  # and zero point.
  integer_file = str(tmp_path / 'integer.tflite')
  _integer_io_model(os.path.join(export_dir, 'frozen_graph.pb'), digits_dir,
                    integer_file)
  integer = tflite_eval.evaluate(_tflite_config(
      integer_file, digits_dir, tmp_path / 'integer', model_name='lenet'))
  assert integer['input_type'] == integer['output_type'] == 'int8'
  assert integer['invoke_batch'] == 1
  assert integer['num_examples'] == NUM_TEST
  assert integer['checkpoint'] is None
  print(f'top-1 on {NUM_TEST} digits: checkpoint '
        f'{checkpoint["eval/Accuracy"]:.4f}, float TFLite '
        f'{as_float["eval/Accuracy"]:.4f}, int8 TFLite '
        f'{int8["eval/Accuracy"]:.4f}, integer-I/O int8 TFLite '
        f'{integer["eval/Accuracy"]:.4f}')
  for quantized in (int8, integer):
    assert abs(_correct(quantized) - _correct(checkpoint)) <= 0.02 * NUM_TEST
    assert abs(quantized['eval/Recall_5'] -
               checkpoint['eval/Recall_5']) <= 0.02


def test_quantize_and_dequantize_use_the_tensor_parameters():
  detail = {'name': 'input', 'dtype': np.int8, 'quantization': (0.5, -3)}
  values = tflite_eval.quantize(np.array([-100.0, -1.0, 0.0, 0.74, 200.0]),
                                detail)
  assert values.dtype == np.int8
  assert values.tolist() == [-128, -5, -3, -2, 127]  # clipped, rounded
  assert tflite_eval.dequantize(values, detail).tolist() == [
      -62.5, -1.0, 0.0, 0.5, 65.0]
  unsigned = {'name': 'out', 'dtype': np.uint8, 'quantization': (0.25, 128)}
  assert tflite_eval.dequantize(np.array([128, 132], np.uint8),
                                unsigned).tolist() == [0.0, 1.0]
  with pytest.raises(ValueError, match="'x' is int16"):
    tflite_eval.quantize(np.zeros(2), {'name': 'x', 'dtype': np.int16,
                                       'quantization': (0.1, 0)})
  # Ties at the k-th score count as in the top k, as tf.nn.in_top_k has it.
  scores = np.array([[3.0, 2.0, 2.0, 1.0], [0.0, 1.0, 2.0, np.nan]])
  assert tflite_eval.in_top_k(scores, np.array([2, 3]), 2).tolist() == [
      True, False]


def test_bad_input_is_one_line_and_writes_nothing(exported, digits_dir,
                                                  tmp_path):
  _, export_dir, _ = exported
  eval_dir = tmp_path / 'eval'
  frozen = os.path.join(export_dir, 'frozen_graph.pb')
  with pytest.raises(ValueError, match='is not a TFLite flatbuffer .no TFL3'):
    tflite_eval.evaluate(_tflite_config(frozen, digits_dir, eval_dir))
  with pytest.raises(ValueError, match='does not exist'):
    tflite_eval.evaluate(_tflite_config(tmp_path / 'missing.tflite',
                                        digits_dir, eval_dir))
  # A model without metadata needs --model_name; a contradicting one fails.
  bare = tmp_path / 'bare.tflite'
  shutil.copy(os.path.join(export_dir, 'model_float.tflite'), bare)
  with pytest.raises(ValueError, match='has no metadata.*pass --model_name'):
    tflite_eval.evaluate(_tflite_config(bare, digits_dir, eval_dir))
  with pytest.raises(ValueError, match='--model_name=cifarnet contradicts'):
    tflite_eval.evaluate(_tflite_config(
        os.path.join(export_dir, 'model_float.tflite'), digits_dir, eval_dir,
        model_name='cifarnet'))
  with pytest.raises(ValueError, match='scores 10 classes but digits has 10 '
                     r'\(--labels_offset=1\)'):
    tflite_eval.evaluate(_tflite_config(
        os.path.join(export_dir, 'model_float.tflite'), digits_dir, eval_dir,
        labels_offset=1))
  assert not eval_dir.exists()

  # Checkpoint flags with --tflite_file (eval_image_classifier.py passes
  # the flags given on its command line).
  tflite_eval.check_flags_given(['dataset_dir', 'batch_size'])
  with pytest.raises(ValueError) as error:
    tflite_eval.check_flags_given(['batch_size', 'checkpoint_path'])
  assert str(error.value) == (
      '--checkpoint_path does not apply with --tflite_file (the TFLite model '
      'carries its weights); drop --checkpoint_path, or drop --tflite_file to '
      'evaluate a checkpoint.')
  with pytest.raises(ValueError, match='--moving_average_decay does not'):
    tflite_eval.check_flags_given(['moving_average_decay'])
  assert not eval_dir.exists()
