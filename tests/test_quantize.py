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
_NAME_CHECKS = ('lenet', 'cifarnet', 'mobilenet_v1_025', 'mobilenet_v2_035',
                'mobilenet_v3_small')


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
  # <layer>/conv_quant and, read through the block's Identity, the
  # block's act_quant (no add_quant before it: one range per tensor).
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
  for name in (f'{block}/project/conv_quant/min', f'{block}/act_quant/min', f'{block}/expand/weights_quant/max',
               f'{block}/depthwise/act_quant/max'):
    assert name in v2
  assert f'{block}/add_quant/min' not in v2
  # Weights: one range per output channel; activations: one per tensor.
  assert v1['MobilenetV1/MobilenetV1/Conv2d_0/weights_quant/min'] == [8]
  assert v1['MobilenetV1/MobilenetV1/Conv2d_0/act_quant/min'] == []


def test_ranges_start_at_0_6_only_after_a_relu():
  # tf.contrib.quantize's initial ranges: [0, 6] after a ReLU, [-6, 6] for a
  # linear output, which goes negative (MobileNet v2's projections, their
  # residual sums): [0, 6] there would clip it to zero until the moving
  # average found the minimum.
  with tf.Graph().as_default():
    tf.train.get_or_create_global_step()
    network_fn = nets_factory.get_network_fn('mobilenet_v2_035',
                                             num_classes=10, is_training=True)
    network_fn(tf.zeros([1, 32, 32, 3]))
    quantize.rewrite(is_training=True)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      lows = {v.op.name: session.run(v) for v in quantize.range_variables()
              if v.op.name.endswith('_quant/min') and
              '/weights_quant/' not in v.op.name}
  block = 'MobilenetV2/expanded_conv_2'
  assert lows[f'{block}/expand/act_quant/min'] == 0.0  # ReLU6.
  assert lows[f'{block}/depthwise/act_quant/min'] == 0.0
  assert lows[f'{block}/project/conv_quant/min'] == -6.0  # Linear.
  assert lows[f'{block}/act_quant/min'] == -6.0  # The sum, no activation.
  assert lows['MobilenetV2/expanded_conv_1/project/act_quant/min'] == -6.0


def test_resnet_v2_manifest_quantizes_its_pre_activation_batch_norms():
  ranges = dict(quantize.load_manifest('resnet_v2_50')['range_variables'])
  unit = 'resnet_v2_50/block1/unit_1/bottleneck_v2'
  # preact: an affine per channel (its scale quantized per channel) with
  # the ReLU after it; the sum, with no activation, is add_quant.
  assert ranges[f'{unit}/preact/weights_quant/min'] == [64]
  for name in (f'{unit}/preact/act_quant/min', f'{unit}/add_quant/max',
               f'{unit}/conv3/conv_quant/min',
               f'{unit}/shortcut/conv_quant/min',
               'resnet_v2_50/postnorm/act_quant/max',
               'resnet_v2_50/conv1/act_quant/min'):
    assert ranges[name] == []
  assert ranges['resnet_v2_50/postnorm/weights_quant/max'] == [2048]
  assert f'{unit}/act_quant/min' not in ranges


def test_ranges_warm_up_to_the_batch_range_in_the_first_steps():
  # The decay is min(0.999, (1 + step) / (10 + step)): 0.1 at step 0, so one
  # step moves a range 90% of the way from [0, 6] to the batch's [0, 2];
  # at step 10**6 it is the steady 0.999.
  with tf.Graph().as_default():
    step = tf.train.get_or_create_global_step()
    x = tf.ones([1, 4, 4, 1])
    weights = tf.get_variable('layer/weights', [1, 1, 1, 1],
                              initializer=tf.constant_initializer(2.0))
    conv = tf.nn.conv2d(x, weights, [1, 1, 1, 1], 'SAME', name='layer/Conv2D')
    out = tf.nn.relu(conv, name='layer/Relu')
    quantize.rewrite(is_training=True)
    fake_quant = next(op for op in out.consumers()
                      if op.type.startswith('FakeQuantWithMinMax'))
    high = next(v for v in quantize.range_variables()
                if v.op.name == 'layer/act_quant/max')
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      session.run(fake_quant.outputs[0])
      assert np.isclose(session.run(high), 6.0 - (6.0 - 2.0) * 0.9)
      session.run(tf.assign(step, 10**6))
      before = session.run(high)
      session.run(fake_quant.outputs[0])
      assert np.isclose(session.run(high), before - (before - 2.0) * 0.001)


def test_clones_share_the_range_variables():
  single = _built_range_variables('lenet', is_training=True)
  assert single == _built_range_variables('lenet')
  assert _built_range_variables('lenet', num_clones=2,
                                is_training=True) == single


# --------------------------------------------------------------------------
# Hard swish, squeeze-excite and depth multipliers against the converter


def _tiny_int8(build, image_shape, fill=None):
  """(fake-quantized TF output, int8 TFLite output, the output's scale,
  interpreter, {range variable: shape}) of the inference rewrite of
  `build(images)` on one random image. `fill(session)` sets variables
  first."""
  image = np.random.RandomState(0).uniform(-1, 1, image_shape).astype(
      np.float32)
  with tf.Graph().as_default() as graph:
    images = tf.placeholder(tf.float32, image_shape, name='input')
    net = build(quantize.quantize_input(images, 'inception'))
    net = quantize.rewrite_inference({'output': net})['output']
    ranges = {v.op.name: v.shape.as_list() for v in quantize.range_variables()}
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      if fill:
        fill(session)
      expected = session.run(net, {images: image})
      frozen = export_utils.freeze(session, graph.as_graph_def(),
                                   [net.op.name])
  metadata = {'model_name': 'tiny', 'input': 'input',
              'outputs': {'output': net.op.name},
              'preprocessing': 'inception'}
  flatbuffer = export_utils.convert_tflite_quantized(frozen, metadata, 'int8')
  assert quantize.integer_problems(flatbuffer) == []
  interpreter = tf.lite.Interpreter(
      model_content=flatbuffer,
      experimental_op_resolver_type=(
          tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
  interpreter.allocate_tensors()
  detail = interpreter.get_input_details()[0]
  interpreter.set_tensor(detail['index'], quantize.to_integer(image, detail))
  interpreter.invoke()
  out = interpreter.get_output_details()[0]
  actual = quantize.to_real(interpreter.get_tensor(out['index']), out)
  return expected, actual, out['quantization'][0], interpreter, ranges


def _random_statistics(session):
  """Moving statistics and scales away from 0 / 1, so folding matters;
  activation ranges [-4, 4] (their initial [0, 6] would clip the linear
  outputs' negative half)."""
  rng = np.random.RandomState(1)
  for v in quantize.range_variables():
    if not v.shape.rank:
      v.load(-4.0 if v.op.name.endswith('min') else 4.0, session)
  for v in tf.global_variables():
    name = v.op.name
    if name.endswith(('moving_variance', 'gamma')):
      v.load(rng.uniform(0.5, 2.0, v.shape).astype(np.float32), session)
    elif name.endswith(('moving_mean', 'beta')):
      v.load(rng.uniform(-0.3, 0.3, v.shape).astype(np.float32), session)


def _sum_and_concat(images):
  """A residual sum read through an Identity (a MobileNet v2 block's
  output), then an Inception block: two convolution branches and a max
  pool branch concatenated."""
  from slim_zoo.nets.compat import slim
  with tf.variable_scope('block'):
    x = slim.conv2d(images, 8, [3, 3], activation_fn=tf.nn.relu6,
                    scope='expand')
    y = slim.conv2d(x, 8, [1, 1], activation_fn=None, scope='project')
    block = tf.identity(x + y, name='output')
  branches = [
      slim.conv2d(block, 4, [1, 1], activation_fn=tf.nn.relu, scope='b0'),
      slim.conv2d(block, 6, [3, 3], activation_fn=tf.nn.relu, scope='b1'),
      slim.max_pool2d(block, [3, 3], stride=1, padding='SAME', scope='b2')]
  mixed = tf.concat(branches, 3, name='mixed')
  return slim.conv2d(mixed, 5, [1, 1], activation_fn=None, scope='logits')


def test_sums_and_concatenations_compute_as_in_tflite():
  # Ranges that clip: every tensor quantized in the graph must be rounded
  # and clipped where the int8 model rounds and clips. (Before: the sum's
  # add_quant and the block output's act_quant were both applied, TFLite
  # kept the first range only; the concatenated branches each kept their
  # own range, TFLite gave them the widest one and requantized the pool
  # branch to it. Both disagreed by tens of steps.)
  ranges = {'block/expand/act_quant': (0.0, 2.0),
            'block/project/conv_quant': (-1.5, 1.5),
            'block/act_quant': (-0.5, 2.5), 'b0/act_quant': (0.0, 0.5),
            'b1/act_quant': (0.0, 1.5), 'logits/act_quant': (-3.0, 3.0)}

  def fill(session):
    for v in quantize.range_variables():
      scope, _, end = v.op.name.rpartition('/')
      if scope in ranges:
        v.load(ranges[scope][end == 'max'], session)

  expected, actual, scale, _, names = _tiny_int8(_sum_and_concat,
                                                 [1, 8, 8, 3], fill)
  assert {n.rpartition('/')[0] for n in names
          if '/weights_quant/' not in n} == set(ranges)
  assert np.abs(expected).max() > 10 * scale
  np.testing.assert_allclose(actual, expected, atol=2 * scale)


def test_hard_swish_and_squeeze_excite_run_as_int8_kernels():
  from slim_zoo.nets.compat import slim
  from slim_zoo.nets.mobilenet import conv_blocks

  def build(images):
    with slim.arg_scope([slim.batch_norm], is_training=False):
      net = slim.conv2d(images, 8, [3, 3], stride=2, scope='Conv',
                        normalizer_fn=slim.batch_norm,
                        activation_fn=conv_blocks.hard_swish)
      return conv_blocks.expanded_conv(
          net, 12, 16, activation_fn=conv_blocks.hard_swish,
          use_squeeze_excite=True)

  expected, actual, scale, interpreter, ranges = _tiny_int8(
      build, [1, 16, 16, 3], _random_statistics)
  kinds = [op['op_name'] for op in
           interpreter._get_ops_details()]  # pylint: disable=protected-access
  # The hard swish fused into one kernel (no fake quant inside it), the gate
  # as int8 ADD (+ ReLU6) and MUL, the rescaling as an int8 MUL.
  assert kinds.count('HARD_SWISH') == 3
  assert {'MEAN', 'MUL', 'ADD', 'DEPTHWISE_CONV_2D'} <= set(kinds)
  assert 'DEQUANTIZE' not in kinds and 'QUANTIZE' not in kinds
  # The int8 model computes what the fake-quantized graph does, up to a
  # few rounding steps of the output.
  assert np.abs(actual - expected).max() <= 3 * scale
  assert np.ptp(expected) > 20 * scale  # Not a constant output.
  # The layer's output before the activation is conv_quant, after it
  # act_quant; the gate's ReLU6 gets its own; nothing inside the hard swish.
  for name in ('Conv/conv_quant', 'Conv/act_quant',
               'expanded_conv/depthwise/conv_quant',
               'expanded_conv/squeeze_excite/Conv_1/conv_quant',
               'expanded_conv/squeeze_excite/Conv_1/hard_sigmoid/act_quant',
               'expanded_conv/squeeze_excite/Conv_1/act_quant',
               'expanded_conv/squeeze_excite/pool_quant',
               'expanded_conv/squeeze_excite/mul_quant'):
    assert ranges[name + '/min'] == [] and ranges[name + '/max'] == []
  assert not [name for name in ranges if 'hard_swish' in name]


def test_depth_multiplier_channels_keep_tensorflow_order_in_tflite():
  # TensorFlow's depthwise output channel c * multiplier + m reads
  # filter[..., c, m]; TFLite's filter [1, h, w, in * multiplier] must carry
  # each channel's own scale. Magnitudes 100x apart per channel make a
  # mixed-up order clip or coarsen channels.
  from slim_zoo.nets.compat import slim
  rng = np.random.RandomState(2)
  magnitudes = {'Depthwise': rng.permutation(np.geomspace(0.01, 1.0, 6)),
                'Separable': rng.permutation(np.geomspace(0.01, 1.0, 12))}

  def build(images):
    with slim.arg_scope([slim.separable_conv2d], depth_multiplier=2,
                        normalizer_fn=slim.batch_norm,
                        activation_fn=tf.nn.relu6), \
        slim.arg_scope([slim.batch_norm], is_training=False, scale=True):
      # 3 -> 6 channels, batch norm folded into the depthwise filter; then
      # 6 -> 12 -> 4 (inception_v2's Conv2d_1a_7x7 form).
      net = slim.separable_conv2d(images, None, [3, 3], scope='Depthwise')
      return slim.separable_conv2d(net, 4, [3, 3], activation_fn=None,
                                   scope='Separable')

  expected_max = {}

  def fill(session):
    _random_statistics(session)
    for scope, scale in magnitudes.items():
      v = tf.global_variables(scope + '/depthwise_weights')[0]
      h, w, channels, multiplier = v.shape.as_list()
      weights = rng.uniform(-1, 1, (h, w, channels * multiplier)) * scale
      v.load(weights.reshape(h, w, channels, multiplier), session)
      if scope == 'Depthwise':  # Folded: w * gamma / sigma per channel.
        gamma, variance = session.run(
            [tf.global_variables(scope + '/BatchNorm/gamma')[0],
             tf.global_variables(scope + '/BatchNorm/moving_variance')[0]])
        weights = weights * gamma / np.sqrt(variance + 0.001)
      expected_max[channels * multiplier] = np.abs(weights).max(axis=(0, 1))

  expected, actual, scale, interpreter, ranges = _tiny_int8(
      build, [1, 8, 8, 3], fill)
  # Per-channel ranges over in * multiplier; the pointwise part of the
  # separable convolution has its own (no collision).
  assert ranges['Depthwise/weights_quant/max'] == [6]
  assert ranges['Separable/separable_conv2d/weights_quant/max'] == [12]
  assert ranges['Separable/weights_quant/max'] == [4]
  tensors = {t['index']: t for t in interpreter.get_tensor_details()}
  depthwise = [op for op in interpreter._get_ops_details()  # pylint: disable=protected-access
               if op['op_name'] == 'DEPTHWISE_CONV_2D']
  assert len(depthwise) == 2
  for op in depthwise:
    filter_tensor = tensors[op['inputs'][1]]
    channels = filter_tensor['shape'][-1]
    scales = filter_tensor['quantization_parameters']['scales']
    np.testing.assert_allclose(scales * 127, expected_max[channels],
                               rtol=1e-3)
  assert np.abs(actual - expected).max() <= 3 * scale
  assert np.ptp(expected) > 20 * scale  # Not a constant output.


# --------------------------------------------------------------------------
# Patterns beyond conv -> batch norm, on tiny graphs


def _preact_block(images, is_training):
  """ResNet v2's pattern: a linear convolution, a batch norm + ReLU on it
  ('preact', no layer to fold into), a biased convolution summed with the
  input (no activation after the sum) and a final batch norm ('postnorm')."""
  from slim_zoo.nets.compat import slim
  with slim.arg_scope([slim.batch_norm], is_training=is_training,
                      scale=True), \
      slim.arg_scope([slim.conv2d], normalizer_fn=None, activation_fn=None):
    root = slim.conv2d(images, 8, [3, 3], scope='net/conv1')
    preact = slim.batch_norm(root, activation_fn=tf.nn.relu,
                             scope='net/unit/preact')
    residual = slim.conv2d(preact, 8, [1, 1], scope='net/unit/conv3')
    net = tf.add(root, residual, name='net/unit/add')
    net = slim.batch_norm(net, activation_fn=tf.nn.relu, scope='net/postnorm')
    return tf.reduce_mean(net, [1, 2], name='net/pool')


def _randomize_batch_norms(session, rng):
  for v in tf.global_variables():
    name = v.op.name
    size = v.shape.as_list()
    if name.endswith(('/gamma', '/moving_variance')):
      session.run(v.assign(rng.uniform(0.5, 2.0, size).astype(np.float32)))
    elif name.endswith(('/beta', '/moving_mean')):
      session.run(v.assign(rng.uniform(-0.5, 0.5, size).astype(np.float32)))


def test_batch_norm_after_a_sum_trains_as_the_fused_batch_norm():
  rng = np.random.default_rng(0)
  with tf.Graph().as_default() as graph:
    tf.train.get_or_create_global_step()
    images = tf.constant(rng.uniform(-1, 1, [2, 6, 6, 3]), tf.float32)
    _preact_block(images, is_training=True)
    fused = graph.get_operation_by_name('net/unit/preact/FusedBatchNormV3')
    # Quantization delayed: the rewritten graph must compute the float one.
    quantize.rewrite(is_training=True, quant_delay=10 ** 6)
    names = {v.op.name: v.shape.as_list()
             for v in quantize.range_variables()}
    affine = graph.get_tensor_by_name('net/unit/preact/add_fold:0')
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      _randomize_batch_norms(session, rng)
      expected, got = session.run([fused.outputs[0], affine])
  # Batch statistics, as the fused batch norm normalizes with them.
  np.testing.assert_allclose(got, expected, atol=1e-5)
  assert not fused.outputs[0].consumers()
  assert names['net/unit/preact/weights_quant/min'] == [8]
  for name in ('net/unit/preact/act_quant/min', 'net/postnorm/act_quant/min',
               'net/unit/conv3/conv_quant/min', 'net/unit/add_quant/min'):
    assert names[name] == []
  assert 'net/unit/act_quant/min' not in names


def test_batch_norm_after_a_sum_freezes_to_the_moving_statistics():
  rng = np.random.default_rng(3)
  with tf.Graph().as_default() as graph:
    tf.train.get_or_create_global_step()
    images = tf.constant(rng.uniform(-1, 1, [2, 6, 6, 3]), tf.float32)
    _preact_block(images, is_training=True)
    fused = graph.get_operation_by_name('net/unit/preact/FusedBatchNormV3')
    quantize.rewrite(is_training=True, quant_delay=10 ** 6,
                     freeze_bn_delay=0)
    affine = graph.get_tensor_by_name('net/unit/preact/add_fold:0')
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      _randomize_batch_norms(session, rng)
      x, gamma, beta, mean, variance, got = session.run(
          list(fused.inputs[:5]) + [affine])
  expected = gamma * (x - mean) / np.sqrt(variance + 0.001) + beta
  np.testing.assert_allclose(got, expected, atol=1e-5)


def test_batch_norm_after_a_sum_converts_fully_integer():
  rng = np.random.default_rng(1)
  with tf.Graph().as_default() as graph:
    placeholder = tf.placeholder(tf.float32, [1, 8, 8, 3], name='input')
    output = _preact_block(quantize.quantize_input(placeholder, 'inception'),
                           is_training=False)
    output = quantize.rewrite_inference({'features': output})['features']
    image = rng.uniform(-1, 1, [1, 8, 8, 3]).astype(np.float32)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      _randomize_batch_norms(session, rng)
      expected = session.run(output, {placeholder: image})
      frozen = export_utils.freeze(session, graph.as_graph_def(),
                                   [output.op.name])
  metadata = {'model_name': 'preact_block', 'input': 'input',
              'outputs': {'features': output.op.name},
              'preprocessing': 'inception'}
  # Raises unless every tensor between input and output is integer.
  flatbuffer = export_utils.convert_tflite_quantized(frozen, metadata)
  interpreter = tf.lite.Interpreter(model_content=flatbuffer)
  interpreter.allocate_tensors()
  kinds = [op['op_name'] for op in interpreter._get_ops_details()]  # pylint: disable=protected-access
  assert kinds.count('DEPTHWISE_CONV_2D') == 2 and 'MUL' not in kinds
  interpreter.set_tensor(interpreter.get_input_details()[0]['index'], image)
  interpreter.invoke()
  got = interpreter.get_tensor(interpreter.get_output_details()[0]['index'])
  # The same function up to int8 rounding: within two steps of the output
  # range (the [0, 6] initial range, 6 / 255 a step).
  np.testing.assert_allclose(got, expected, atol=2 * 6 / 255)
  assert np.abs(expected).max() > 0.1


def test_quantized_cifarnet_computes_without_its_lrn():
  spec = nets_factory.get_spec('cifarnet')
  with tf.Graph().as_default() as graph:
    network_fn = nets_factory.get_network_fn('cifarnet', num_classes=10)
    logits, _ = network_fn(tf.zeros([1, 32, 32, 3]))
    logits = quantize.rewrite_inference({'logits': logits})['logits']
    ancestors, pending = set(), [logits.op]
    while pending:
      op = pending.pop()
      if op not in ancestors:
        ancestors.add(op)
        pending.extend(t.op for t in op.inputs)
    assert [op.name for op in graph.get_operations() if op.type == 'LRN'] == [
        'CifarNet/norm1', 'CifarNet/norm2']
    assert not any(op.type == 'LRN' for op in ancestors)
    assert quantize.removed_ops() == ['CifarNet/norm1', 'CifarNet/norm2']
  manifest = quantize.load_manifest(spec.name)
  assert manifest['removed_ops'] == ['CifarNet/norm1', 'CifarNet/norm2']
  assert 'local response normalization' in manifest['note']


def test_weights_too_large_for_per_channel_convert_per_tensor(monkeypatch):
  # VGG's fc6 (7x7x512x4096 weights) is past the converter's per-channel
  # limit; a limit lowered to this tiny layer's size exercises the same
  # path: one range for the layer, computed ranges folded to constants
  # before conversion, a fully integer model.
  monkeypatch.setattr(quantize, '_PER_TENSOR_WEIGHTS_FROM', 3 * 3 * 3 * 8)
  from slim_zoo.nets.compat import slim
  rng = np.random.default_rng(2)
  with tf.Graph().as_default() as graph:
    placeholder = tf.placeholder(tf.float32, [1, 6, 6, 3], name='input')
    net = quantize.quantize_input(placeholder, 'inception')
    net = slim.conv2d(net, 8, [3, 3], padding='VALID', scope='big')
    net = slim.conv2d(net, 4, [1, 1], scope='small')
    output = quantize.rewrite_inference({'features': net})['features']
    ranges = {v.op.name: v.shape.as_list()
              for v in quantize.range_variables()}
    image = rng.uniform(-1, 1, [1, 6, 6, 3]).astype(np.float32)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      expected = session.run(output, {placeholder: image})
      frozen = export_utils.freeze(session, graph.as_graph_def(),
                                   [output.op.name])
  assert ranges['big/weights_quant/min'] == []
  assert ranges['small/weights_quant/min'] == [4]
  folded = quantize.fold_ranges(frozen, [output.op.name])
  nodes = {node.name: node for node in folded.node}
  fake_quants = [n for n in folded.node if n.op.startswith('FakeQuant')]
  assert len(fake_quants) == 5  # input, 2 x (weights, activation)
  for node in fake_quants:
    for name in node.input[1:3]:
      assert nodes[name].op == 'Const'
  metadata = {'model_name': 'tiny', 'input': 'input',
              'outputs': {'features': output.op.name},
              'preprocessing': 'inception'}
  flatbuffer = export_utils.convert_tflite_quantized(frozen, metadata)
  interpreter = tf.lite.Interpreter(model_content=flatbuffer)
  interpreter.allocate_tensors()
  details = interpreter.get_tensor_details()
  weights = [d for d in details if d['name'].startswith(
      ('big/Conv2D', 'small/Conv2D')) and len(d['shape']) == 4 and
      d['shape'][0] in (8, 4) and d['dtype'] == np.int8]
  scales = sorted(len(d['quantization_parameters']['scales'])
                  for d in weights)
  assert scales == [1, 4]
  interpreter.set_tensor(interpreter.get_input_details()[0]['index'], image)
  interpreter.invoke()
  got = interpreter.get_tensor(interpreter.get_output_details()[0]['index'])
  np.testing.assert_allclose(got, expected, atol=2 * 6 / 255)


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
