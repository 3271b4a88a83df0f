"""Quantization-aware training (slim_zoo/quantize.py): the rewrite's variable
names against the quantized manifests, QAT train -> eval --quantize -> fully
integer TFLite -> classify_image with integer I/O, accuracy against float,
and the bad-input errors.

One float lenet run on digits and one QAT fine-tune of it (from the float
checkpoint, moving averages on) are shared by the module.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from slim_zoo import evaluate as eval_lib
from slim_zoo import export_utils
from slim_zoo import quantize
from slim_zoo import train as train_lib
from slim_zoo.datasets import dataset_factory
from slim_zoo.datasets import input_pipeline
from slim_zoo.errors import UsageError
from slim_zoo.nets import nets_factory
from slim_zoo.nets.compat import tf
from slim_zoo.preprocessing import preprocessing_factory
from tests import train_helpers as th

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMA = 0.99
_OPT = dict(optimizer='momentum', learning_rate=0.01, momentum=0.9,
            learning_rate_decay_type='fixed')


@pytest.fixture(scope='module')
def float_dir(digits_dir, tmp_path_factory):
  directory = tmp_path_factory.mktemp('qat_float')
  train_lib.train(th.config(directory, digits_dir, batch_size=32,
                            max_number_of_steps=200, optimizer=_OPT,
                            log_every_n_steps=100))
  return str(directory)


@pytest.fixture(scope='module')
def qat_dir(float_dir, digits_dir, tmp_path_factory):
  """Fine-tuned from the float checkpoint with quantization from step 0."""
  directory = tmp_path_factory.mktemp('qat')
  train_lib.train(th.config(directory, digits_dir, batch_size=32,
                            max_number_of_steps=60, quantize_delay=0,
                            checkpoint_path=float_dir,
                            moving_average_decay=EMA,
                            optimizer=dict(_OPT, learning_rate=0.002),
                            log_every_n_steps=100))
  return str(directory)


def _export(checkpoint, export_dir, **config):
  """The int8 TFLite model (with --quantize: from the trained ranges)."""
  config = export_utils.GraphConfig(model_name='lenet', num_classes=10,
                                    channels=1, **config)
  return export_utils.export(
      config, export_utils.ExportPaths(
          tflite_int8_file=os.path.join(str(export_dir), 'model_int8.tflite'),
          export_dir=str(export_dir)),
      checkpoint_path=checkpoint)


@pytest.fixture(scope='module')
def qat_models(qat_dir, tmp_path_factory):
  """{io type: path of the QAT int8 TFLite model}."""
  models = {}
  for io_type in ('int8', 'float32'):
    directory = tmp_path_factory.mktemp(f'qat_export_{io_type}')
    _export(qat_dir, directory, quantize=True, tflite_io_type=io_type)
    models[io_type] = os.path.join(str(directory), 'model_int8.tflite')
  return models


def _test_split(digits_dir):
  """(images [360, 28, 28, 1] float32, labels [360]) with lenet's
  evaluation preprocessing."""
  spec = dataset_factory.get_dataset('digits', 'test', digits_dir)
  fn = preprocessing_factory.get_preprocessing('lenet', is_training=False)
  config = input_pipeline.InputConfig(batch_size=spec.num_samples,
                                      image_size=(28, 28), is_training=False,
                                      num_readers=1)
  with tf.Graph().as_default():
    data = input_pipeline.build_dataset(spec, fn, config)
    batch = tf.data.make_one_shot_iterator(data).get_next()
    with tf.Session() as session:
      images, labels = session.run(batch)
  assert len(labels) == 360
  return images, labels


def _tflite_accuracy(path, images, labels):
  model = export_utils.load_model(path)
  probabilities = model.run(images)['probabilities']
  return float(np.mean(np.argmax(probabilities, -1) == labels))


# --------------------------------------------------------------------------
# Names


# The smallest member of each MobileNet family and lenet: graphs are built,
# not run (the inference rewrite creates the same variables as training's).
_NAME_CHECKS = ('lenet', 'mobilenet_v1_025', 'mobilenet_v2_035')


def _built_range_variables(name, num_clones=1, is_training=False):
  spec = nets_factory.get_spec(name)
  with tf.Graph().as_default():
    tf.train.get_or_create_global_step()
    network_fn = nets_factory.get_network_fn(
        name, num_classes=spec.num_classes, is_training=is_training)
    for clone in range(num_clones):
      with tf.name_scope(f'clone_{clone}' if num_clones > 1 else None):
        with tf.variable_scope(tf.get_variable_scope(), reuse=clone > 0):
          size = spec.default_image_size
          network_fn(tf.zeros([1, size, size, 3]))
          if is_training:
            quantize.rewrite_clone(tf.zeros([1]), {}, quant_delay=0)
          else:
            quantize.rewrite(is_training=False)
    return {v.op.name: v.shape.as_list() for v in quantize.range_variables()}


@pytest.mark.parametrize('name', _NAME_CHECKS)
def test_range_variables_match_the_quantized_manifest(name):
  expected = {n: s for n, s in quantize.load_manifest(name)['range_variables']}
  assert _built_range_variables(name) == expected


def test_manifests_carry_tf_contrib_quantize_names():
  # tf.contrib.quantize's scheme: weights_quant / act_quant under the
  # layer's op scope (MobilenetV1's base re-enters its variable scope, so its
  # ops, and these names, read MobilenetV1/MobilenetV1/...; the published
  # mobilenet_v1_*_quant graphs carry them so); a residual sum adds
  # <layer>/conv_quant and <block>/add_quant, with the block's act_quant.
  v1 = dict(quantize.load_manifest('mobilenet_v1_025')['range_variables'])
  for layer in ('MobilenetV1/MobilenetV1/Conv2d_0',
                'MobilenetV1/MobilenetV1/Conv2d_1_depthwise',
                'MobilenetV1/MobilenetV1/Conv2d_13_pointwise',
                'MobilenetV1/Logits/Conv2d_1c_1x1'):
    for kind in ('weights_quant', 'act_quant'):
      for end in ('min', 'max'):
        assert f'{layer}/{kind}/{end}' in v1
  v2 = dict(quantize.load_manifest('mobilenet_v2_035')['range_variables'])
  block = 'MobilenetV2/expanded_conv_2'  # 24 -> 24 channels, stride 1.
  for name in (f'{block}/project/conv_quant/min', f'{block}/add_quant/min',
               f'{block}/act_quant/min', f'{block}/expand/weights_quant/max',
               f'{block}/depthwise/act_quant/max'):
    assert name in v2
  # Weights: one range per output channel; activations: one per tensor.
  assert v1['MobilenetV1/MobilenetV1/Conv2d_0/weights_quant/min'] == [8]
  assert v1['MobilenetV1/MobilenetV1/Conv2d_0/act_quant/min'] == []


def test_clones_share_the_range_variables():
  single = _built_range_variables('lenet', is_training=True)
  assert single == _built_range_variables('lenet')
  assert _built_range_variables('lenet', num_clones=2,
                                is_training=True) == single


# --------------------------------------------------------------------------
# Train, evaluate, export, classify


def test_fine_tune_from_float_restores_weights_and_starts_new_ranges(
    float_dir, qat_dir):
  reader = tf.train.load_checkpoint(qat_dir)
  names = reader.get_variable_to_shape_map()
  manifest = dict(quantize.load_manifest('lenet')['range_variables'])
  assert set(manifest) <= set(names)
  assert 'LeNet/conv1/weights/ExponentialMovingAverage' in names
  # Ranges are not averaged (global, not model, variables).
  assert not any('_quant/' in n and 'ExponentialMovingAverage' in n
                 for n in names)
  # The learned activation range moved from its [0, 6] start and holds 0.
  low = reader.get_tensor('LeNet/conv1/act_quant/min')
  high = reader.get_tensor('LeNet/conv1/act_quant/max')
  assert low <= 0 < high and high != 6.0
  # The weights range is the last value of max |w| per output channel.
  weights = reader.get_tensor('LeNet/conv1/weights')
  np.testing.assert_allclose(
      reader.get_tensor('LeNet/conv1/weights_quant/max'),
      np.abs(weights).max(axis=(0, 1, 2)), rtol=0.05)


def test_qat_int8_accuracy_within_half_a_point_of_float(
    float_dir, qat_dir, qat_models, digits_dir, tmp_path):
  images, labels = _test_split(digits_dir)
  float_eval = eval_lib.evaluate(eval_lib.EvalConfig(
      checkpoint_path=float_dir, eval_dir=str(tmp_path / 'float'),
      model_name='lenet', dataset_name='digits', dataset_dir=digits_dir,
      batch_size=360, num_readers=1))
  qat_eval = eval_lib.evaluate(eval_lib.EvalConfig(
      checkpoint_path=qat_dir, eval_dir=str(tmp_path / 'qat'),
      model_name='lenet', dataset_name='digits', dataset_dir=digits_dir,
      batch_size=360, num_readers=1, quantize=True,
      moving_average_decay=EMA))
  int8 = _tflite_accuracy(qat_models['int8'], images, labels)
  assert float_eval['eval/Accuracy'] > 0.9
  assert int8 >= float_eval['eval/Accuracy'] - 0.005
  # eval --quantize computes what the int8 model does, up to rounding.
  assert abs(qat_eval['eval/Accuracy'] - int8) <= 0.01


def test_qat_tflite_is_fully_integer(qat_models):
  with open(qat_models['int8'], 'rb') as f:
    flatbuffer = f.read()
  assert quantize.integer_problems(flatbuffer) == []
  interpreter = tf.lite.Interpreter(
      model_content=flatbuffer,
      experimental_op_resolver_type=(
          tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
  interpreter.allocate_tensors()
  ops = interpreter._get_ops_details()  # pylint: disable=protected-access
  kinds = {op['op_name'] for op in ops}
  assert {'CONV_2D', 'FULLY_CONNECTED', 'SOFTMAX'} <= kinds
  assert not kinds & {'QUANTIZE', 'DEQUANTIZE'}
  tensors = {t['index']: t for t in interpreter.get_tensor_details()}
  for op in ops:
    for index in list(op['inputs']) + list(op['outputs']):
      if index >= 0:
        assert tensors[index]['dtype'] in (np.int8, np.int32), (
            op['op_name'], tensors[index]['name'])
  # Weights per output channel, zero point 0 (TFLite's int8 spec).
  conv = next(op for op in ops if op['op_name'] == 'CONV_2D')
  weights = tensors[conv['inputs'][1]]['quantization_parameters']
  assert len(weights['scales']) == 32 and not np.any(weights['zero_points'])


def test_metadata_records_io_scale_and_zero_point(qat_models):
  with open(qat_models['int8'] + '.json', encoding='utf-8') as f:
    metadata = json.load(f)
  interpreter = tf.lite.Interpreter(model_path=qat_models['int8'])
  detail = interpreter.get_input_details()[0]
  assert metadata['tflite_io_type'] == 'int8'
  assert metadata['input_quantization'] == {
      'scale': pytest.approx(detail['quantization'][0]),
      'zero_point': detail['quantization'][1]}
  assert metadata['input_quantization']['scale'] == pytest.approx(2 / 255)
  assert set(metadata['output_quantization']) == {'logits', 'probabilities'}
  assert metadata['output_quantization']['probabilities'] == {
      'scale': pytest.approx(1 / 256), 'zero_point': -128}


def test_integer_io_end_to_end_through_classify_image(qat_models, digits_dir):
  image = os.path.join(digits_dir, 'test_images',
                       sorted(os.listdir(os.path.join(digits_dir,
                                                      'test_images')))[0])
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'classify_image.py'),
       f'--graph={qat_models["int8"]}',
       f'--labels_file={os.path.join(digits_dir, "labels.txt")}',
       f'--image_files={image}', '--top_k=3'],
      capture_output=True, text=True, check=True, cwd=ROOT)
  rows = [line.split() for line in result.stdout.splitlines()[1:4]]
  # The same model with float I/O (quantize / dequantize ops inside the
  # model) gives the same classes and probabilities.
  top = export_utils.classify(qat_models['float32'], [image], top_k=3)[0]
  printed = [(int(r[0]), float(r[-1])) for r in rows]
  assert [c for c, _ in printed] == [c for c, _ in top]
  for (_, p), (_, q) in zip(printed, top):
    assert p == pytest.approx(q, abs=1 / 256 + 1e-4)


def _bn_statistics(reader):
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if name.endswith(('/moving_mean', '/moving_variance'))}


def test_freeze_bn_delay_stops_the_moving_statistics(digits_dir, tmp_path):
  # lenet has no batch norm: the smallest quantizable network with it, at
  # its smallest input. Step 0 updates the statistics; from step 1 on they
  # stay, while the weights keep training.
  cfg = th.config(tmp_path, digits_dir, model_name='mobilenet_v1_025',
                  preprocessing_name='lenet', train_image_size=32,
                  batch_size=2, max_number_of_steps=1, quantize_delay=0,
                  freeze_bn_delay=1)
  train_lib.train(cfg)
  at_freeze = tf.train.load_checkpoint(str(tmp_path))
  statistics = _bn_statistics(at_freeze)
  assert len(statistics) == 2 * 27  # 27 batch norms in MobileNet v1.
  for name, value in statistics.items():
    initial = 0.0 if name.endswith('mean') else 1.0
    assert np.any(value != initial), f'{name} did not move before the freeze'
  train_lib.train(th.replace(cfg, max_number_of_steps=3))
  later = tf.train.load_checkpoint(str(tmp_path))
  assert later.get_tensor('global_step') == 3
  for name, value in _bn_statistics(later).items():
    np.testing.assert_array_equal(value, statistics[name], err_msg=name)
  weights = 'MobilenetV1/Conv2d_1_pointwise/weights'
  assert np.any(later.get_tensor(weights) != at_freeze.get_tensor(weights))


# --------------------------------------------------------------------------
# Bad input: one clear error, nothing written


def test_quantize_delay_on_a_network_the_rewrite_cannot_handle(
    digits_dir, tmp_path):
  unsupported = next(n for n in sorted(nets_factory.REGISTRY)
                     if n not in quantize.quantizable_networks() and
                     nets_factory.get_spec(n).input_kind == 'image')
  train_dir = tmp_path / 'train'
  with pytest.raises(UsageError, match=f'{unsupported} cannot be quantized'):
    train_lib.train(th.config(train_dir, digits_dir, model_name=unsupported,
                              quantize_delay=0))
  assert not train_dir.exists()


@pytest.mark.parametrize('flags, message', [
    (dict(quantize_delay=-2), '--quantize_delay must be -1'),
    (dict(freeze_bn_delay=5), 'set --quantize_delay too'),
])
def test_bad_quantize_flags(flags, message, digits_dir, tmp_path):
  with pytest.raises(UsageError, match=message):
    train_lib.train(th.config(tmp_path / 'train', digits_dir, **flags))
  assert not (tmp_path / 'train').exists()


def test_quantize_on_a_checkpoint_without_ranges(float_dir, digits_dir,
                                                 tmp_path):
  with pytest.raises(UsageError, match='no quantization range variables'):
    _export(float_dir, tmp_path / 'export', quantize=True)
  assert not (tmp_path / 'export').exists()
  with pytest.raises(UsageError, match='no quantization range variables'):
    eval_lib.evaluate(eval_lib.EvalConfig(
        checkpoint_path=float_dir, eval_dir=str(tmp_path / 'eval'),
        model_name='lenet', dataset_name='digits', dataset_dir=digits_dir,
        quantize=True))
  assert not (tmp_path / 'eval').exists()


def test_tflite_io_type_with_a_float_model(float_dir, tmp_path):
  config = export_utils.GraphConfig(model_name='lenet', num_classes=10,
                                    channels=1, tflite_io_type='int8')
  paths = export_utils.ExportPaths(
      tflite_file=str(tmp_path / 'export' / 'model_float.tflite'),
      export_dir=str(tmp_path / 'export'))
  with pytest.raises(UsageError, match='--tflite_io_type=int8 sets the '
                     'input/output type of an int8 TFLite model'):
    export_utils.export(config, paths, checkpoint_path=float_dir)
  assert not (tmp_path / 'export').exists()
