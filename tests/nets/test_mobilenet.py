"""MobileNet v2 / v3 / EdgeTPU: the generic builder, its specs and options.

Names and shapes of the published models are checked by test_registry.py;
this file covers the options of the generic builder. Graphs are built
without running them, except for the hard-swish values and one short
training run per family.
"""

import copy
import dataclasses
import inspect

import numpy as np
import pytest

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.mobilenet import conv_blocks
from slim_zoo.nets.mobilenet import mobilenet as lib
from slim_zoo.nets.mobilenet import mobilenet_v2, mobilenet_v3
from slim_zoo.nets.mobilenet.mobilenet import Conv, ExpandedConv, GlobalPool


def _variables(graph):
  with graph.as_default():
    return {v.op.name: v.shape.as_list() for v in tf.global_variables()}


def _build(fn, shape=(1, 64, 64, 3), **kwargs):
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, shape)
    net, end_points = fn(images, **kwargs)
  return graph, net, end_points


# A small spec using every op type and block option, for fast tests.
TINY = (
    Conv(8, stride=2),
    ExpandedConv(8, expansion_factor=2),
    ExpandedConv(16, expansion_factor=2, stride=2, squeeze_excite=True,
                 activation_fn=conv_blocks.hard_swish, kernel_size=(5, 5)),
    ExpandedConv(16, expansion_factor=2, fused=True),
    GlobalPool(),
    Conv(32, kernel_size=(1, 1), batch_norm=False),
)


def test_make_divisible_rounds_to_multiples_within_ten_percent():
  assert conv_blocks.make_divisible(32 * 0.35) == 16  # 8 is > 10% below 11.2
  assert conv_blocks.make_divisible(1280 * 0.35) == 448
  assert conv_blocks.make_divisible(20) == 24
  assert conv_blocks.make_divisible(3) == 8
  assert conv_blocks.make_divisible(3, 8, min_value=4) == 4
  assert conv_blocks.make_divisible(24, 16) == 32


def test_hard_swish_values():
  with tf.Graph().as_default(), tf.Session() as sess:
    x = tf.constant([-4.0, -3.0, 0.0, 1.0, 3.0, 4.0])
    values = sess.run(conv_blocks.hard_swish(x))
  np.testing.assert_allclose(values, [0, 0, 0, 4.0 / 6.0, 3, 4], atol=1e-6)


def test_custom_conv_defs_build_every_op_type():
  graph, logits, end_points = _build(lib.mobilenet, conv_defs=TINY,
                                     num_classes=5, scope='Tiny')
  assert logits.shape.as_list() == [1, 5]
  assert logits.op.name == 'Tiny/Logits/output'
  shapes = {k: v.shape.as_list() for k, v in end_points.items()}
  assert shapes['layer_1'] == [1, 32, 32, 8]
  assert 'layer_2/expansion_output' in shapes  # 8 x 2 = 16 > 8 channels
  assert shapes['layer_3/depthwise_output'] == [1, 16, 16, 16]
  assert 'layer_4/depthwise_output' not in shapes  # fused: no depthwise
  assert shapes['layer_4/expansion_output'] == [1, 16, 16, 32]
  assert shapes['layer_5'] == [1, 1, 1, 16]
  assert shapes['layer_6'] == [1, 1, 1, 32]
  assert shapes['global_pool'] == [1, 1, 1, 32]
  variables = _variables(graph)
  assert variables['Tiny/expanded_conv_1/depthwise/depthwise_weights'] == [
      5, 5, 16, 1]
  assert variables['Tiny/expanded_conv_1/squeeze_excite/Conv/biases'] == [8]
  assert variables['Tiny/expanded_conv_1/squeeze_excite/Conv_1/weights'] == [
      1, 1, 8, 16]
  assert variables['Tiny/expanded_conv_2/expand/weights'] == [3, 3, 16, 32]
  assert variables['Tiny/Conv_1/biases'] == [32]
  assert 'Tiny/Conv_1/BatchNorm/gamma' not in variables
  assert variables['Tiny/Conv/BatchNorm/moving_mean'] == [8]


def test_invalid_specs_are_rejected():
  with pytest.raises(ValueError, match=r'conv_defs\[1\].*ExpandedConv'):
    _build(lib.mobilenet_base, conv_defs=(Conv(8), ('expanded_conv', 16)))
  with pytest.raises(ValueError, match='empty'):
    _build(lib.mobilenet_base, conv_defs=())
  with pytest.raises(ValueError, match='fused block with stride 2'):
    _build(lib.mobilenet_base,
           conv_defs=(Conv(8), ExpandedConv(8, expansion_factor=1, stride=2,
                                            fused=True)))


def test_residual_only_when_shapes_allow():
  def adds(conv_defs):
    graph, _, _ = _build(lib.mobilenet_base, conv_defs=conv_defs, scope='R')
    # Block-level additions only (batch norm has its own inside its scope).
    return sorted(op.name.split('/')[1] for op in graph.get_operations()
                  if op.type in ('Add', 'AddV2') and op.name.count('/') == 2)
  assert adds((Conv(8), ExpandedConv(8), ExpandedConv(16))) == ['expanded_conv']
  assert adds((Conv(8), ExpandedConv(8, residual=False))) == []
  assert adds((Conv(8), ExpandedConv(8, stride=2))) == []


def test_depth_multiplier_v2():
  _, net, end_points = _build(mobilenet_v2.mobilenet_base,
                              depth_multiplier=0.5)
  assert end_points['layer_1'].shape[-1] == 16
  assert end_points['layer_18'].shape[-1] == 160
  assert net.shape.as_list() == [1, 2, 2, 640]
  _, net, _ = _build(mobilenet_v2.mobilenet_base, depth_multiplier=0.5,
                     finegrain_classification_mode=True)
  assert net.shape[-1] == 1280
  # v2's finegrain mode only widens; a multiplier above 1 still scales.
  _, net, end_points = _build(mobilenet_v2.mobilenet_base,
                              depth_multiplier=1.4,
                              finegrain_classification_mode=True)
  assert net.shape[-1] == 1792
  assert end_points['layer_2'].shape[-1] == 24


def test_min_depth_and_divisible_by():
  _, _, end_points = _build(mobilenet_v2.mobilenet_base, depth_multiplier=0.1,
                            min_depth=16, final_endpoint='layer_3')
  assert end_points['layer_1'].shape[-1] == 16
  assert end_points['layer_2'].shape[-1] == 16
  _, _, end_points = _build(mobilenet_v2.mobilenet_base, divisible_by=16,
                            final_endpoint='layer_3')
  assert end_points['layer_3'].shape[-1] == 32  # 24 rounded up to 32


def test_depth_multiplier_v3_and_finegrain_keeps_last_layer():
  _, features, _ = _build(mobilenet_v3.small, num_classes=0,
                          depth_multiplier=0.5)
  assert features.shape.as_list() == [1, 1, 1, 512]
  _, features, end_points = _build(mobilenet_v3.small, num_classes=0,
                                   depth_multiplier=0.5,
                                   finegrain_classification_mode=True)
  assert features.shape.as_list() == [1, 1, 1, 1024]
  assert end_points['layer_13'].shape[-1] == 288  # 576 x 0.5


@pytest.mark.parametrize('fn', [mobilenet_v2.mobilenet, mobilenet_v3.large,
                                mobilenet_v3.edge_tpu])
@pytest.mark.parametrize('bad', [0, -1.0])
def test_non_positive_depth_multiplier_is_rejected(fn, bad):
  with pytest.raises(ValueError, match=f'depth_multiplier.*{bad}'):
    _build(fn, depth_multiplier=bad)


def test_output_stride_v2_keeps_variables():
  graph32, net32, _ = _build(mobilenet_v2.mobilenet_base,
                             depth_multiplier=0.35)
  graph8, net8, end_points = _build(mobilenet_v2.mobilenet_base,
                                    depth_multiplier=0.35, output_stride=8)
  assert net32.shape.as_list()[1:3] == [2, 2]
  assert net8.shape.as_list()[1:3] == [8, 8]
  assert end_points['layer_15/depthwise_output'].shape.as_list()[1:3] == [8, 8]
  assert _variables(graph8) == _variables(graph32)
  with pytest.raises(ValueError, match='output_stride.*3'):
    _build(mobilenet_v2.mobilenet_base, output_stride=3)


def test_explicit_padding_keeps_shapes_and_variables():
  graph_same, net_same, _ = _build(lib.mobilenet_base, conv_defs=TINY)
  graph_pad, net_pad, _ = _build(lib.mobilenet_base, conv_defs=TINY,
                                 use_explicit_padding=True)
  assert net_pad.shape.as_list() == net_same.shape.as_list()
  assert _variables(graph_pad) == _variables(graph_same)
  assert any(op.type == 'Pad' for op in graph_pad.get_operations())


def test_final_endpoint_stops_early():
  graph, net, end_points = _build(mobilenet_v2.mobilenet_base,
                                  final_endpoint='layer_5')
  assert list(end_points)[-1] == 'layer_5'
  assert net is end_points['layer_5']
  assert net.shape.as_list() == [1, 8, 8, 32]
  names = _variables(graph)
  assert any(n.startswith('MobilenetV2/expanded_conv_3/') for n in names)
  assert not any(n.startswith('MobilenetV2/expanded_conv_4/') for n in names)
  assert not any('Logits' in n for n in names)
  with pytest.raises(ValueError, match='layer_99.*layer_19'):
    _build(mobilenet_v2.mobilenet_base, final_endpoint='layer_99')


def test_specs_are_derived_not_mutated():
  large = mobilenet_v3.V3_LARGE
  snapshot = copy.deepcopy(large)
  minimal = mobilenet_v3.minimalistic(large)
  fixed = lib.with_fixed_last_layer(large)
  _build(mobilenet_v3.large, use_groupnorm=True,
         finegrain_classification_mode=True, depth_multiplier=0.5)
  assert large == snapshot
  assert any(getattr(op, 'squeeze_excite', False) for op in large['spec'])
  assert not any(getattr(op, 'squeeze_excite', False)
                 for op in minimal['spec'])
  assert {op.kernel_size for op in minimal['spec']
          if isinstance(op, ExpandedConv)} == {(3, 3)}
  assert not any(getattr(op, 'activation_fn', None) is conv_blocks.hard_swish
                 for op in minimal['spec'])
  assert minimal['defaults'] == large['defaults']
  assert minimal['defaults'] is not large['defaults']
  assert not fixed['spec'][-1].scale_depth and large['spec'][-1].scale_depth
  with pytest.raises(dataclasses.FrozenInstanceError):
    large['spec'][0].num_outputs = 8


def test_unknown_batch_and_spatial_size():
  _, logits, _ = _build(mobilenet_v3.small, shape=(None, None, None, 3),
                        num_classes=7)
  assert logits.shape.as_list() == [None, 7]


def test_reuse_shares_variables():
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, 32, 32, 3])
    logits, _ = lib.mobilenet(images, conv_defs=TINY, num_classes=3,
                              scope='MobilenetV2')
    count = len(tf.global_variables())
    lib.mobilenet(images, conv_defs=TINY, num_classes=3, scope='MobilenetV2',
                  reuse=True)
    assert len(tf.global_variables()) == count
  assert logits.op.name == 'MobilenetV2/Logits/output'


def test_is_training_explicit_beats_training_scope_default():
  def update_ops(**kwargs):
    graph = tf.Graph()
    with graph.as_default():
      images = tf.placeholder(tf.float32, [1, 32, 32, 3])
      with slim.arg_scope(mobilenet_v2.training_scope(weight_decay=0.01)):
        mobilenet_v2.mobilenet(images, conv_defs=TINY, num_classes=3,
                               **kwargs)
      return (len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)),
              len(tf.losses.get_regularization_losses()))
  # TINY has 9 batch norms (2 moving averages each) and 11 full
  # convolutions (squeeze-excite and logits included); depthwise kernels are
  # not regularized.
  assert update_ops(is_training=False) == (0, 11)
  assert update_ops() == (18, 11)  # training_scope defaults to training


def _train(build_logits, steps=12, num_classes=3, size=64, batch=6):
  """Trains on a fixed batch whose class sets the mean colour; returns losses."""
  rng = np.random.RandomState(0)
  labels = np.arange(batch) % num_classes
  images = rng.normal(0, 0.2, (batch, size, size, 3)).astype(np.float32)
  images[..., 0] += labels[:, None, None] - 1.0
  graph = tf.Graph()
  with graph.as_default():
    tf.set_random_seed(0)
    logits = build_logits(tf.constant(images), num_classes)
    loss = tf.losses.sparse_softmax_cross_entropy(tf.constant(labels), logits)
    optimizer = tf.train.AdamOptimizer(0.003)
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
      train_op = optimizer.minimize(loss)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return [sess.run([train_op, loss])[1] for _ in range(steps)]


@pytest.mark.parametrize('fn,module', [
    (mobilenet_v2.mobilenet, mobilenet_v2),
    (mobilenet_v3.small, mobilenet_v3),
])
def test_short_training_run_reduces_loss(fn, module):
  def build(images, num_classes):
    with slim.arg_scope(module.training_scope(weight_decay=0.0)):
      logits, _ = fn(images, num_classes=num_classes, depth_multiplier=0.35,
                     is_training=True, dropout_keep_prob=1.0)
    return logits

  losses = _train(build)
  assert np.all(np.isfinite(losses))
  assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:2]), losses


def _conv2d_depths(graph):
  return [o.outputs[0].shape.as_list()[-1] for o in graph.get_operations()
          if o.type == 'Conv2D']


def test_depth_multiplier_and_op_are_research_slims():
  params = {'num_outputs': 32, 'stride': 2}
  assert lib.depth_multiplier(params, 0.35) is None  # scales in place
  assert params == {'num_outputs': 16, 'stride': 2}  # 11.2 -> 8 < 0.9 x 11.2
  params = {'num_outputs': 320}
  lib.depth_multiplier(params, 0.1, divisible_by=8, min_depth=48, extra=1)
  assert params == {'num_outputs': 48}
  params = {'kernel_size': [3, 3]}
  lib.depth_multiplier(params, 0.5)
  assert params == {'kernel_size': [3, 3]}
  with slim.arg_scope([lib.depth_multiplier], divisible_by=16):
    params = {'num_outputs': 24}
    lib.depth_multiplier(params, 1.0)
  assert params == {'num_outputs': 32}

  assert list(inspect.signature(lib.depth_multiplier).parameters) == [
      'output_params', 'multiplier', 'divisible_by', 'min_depth',
      'unused_kwargs']
  layer = lib.op(slim.conv2d, kernel_size=[1, 1], num_outputs=8)
  assert layer.op is slim.conv2d
  assert layer.params == {'kernel_size': [1, 1], 'num_outputs': 8}
  assert layer.multiplier_func is lib.depth_multiplier
  assert isinstance(layer, lib._Op)
  custom = lib.op(slim.conv2d, num_outputs=8, multiplier_transform=print)
  assert custom.multiplier_func is print and 'multiplier_transform' not in (
      custom.params)


def test_op_layers_in_an_edited_copy_of_v2_def():
  # research/slim's mobilenet_v2_test.testMultiplier: the first layer's own
  # multiplier_func undoes the 0.1 (16 / 0.1 = 160); the others follow
  # max(8, depth x 0.1) and expansion 6 (8 x 6 = 48).
  def inverse_multiplier(output_params, multiplier):
    output_params['num_outputs'] = int(output_params['num_outputs'] /
                                       multiplier)
  v2_def = copy.deepcopy(mobilenet_v2.V2_DEF)
  v2_def['spec'][0] = lib.op(slim.conv2d, kernel_size=(3, 3), stride=2,
                             multiplier_func=inverse_multiplier,
                             num_outputs=16)
  graph, _, end_points = _build(mobilenet_v2.mobilenet_base,
                                conv_defs=v2_def, depth_multiplier=0.1)
  assert _conv2d_depths(graph)[:5] == [160, 8, 48, 8, 48]
  assert end_points['layer_1'].shape.as_list() == [1, 32, 32, 160]
  # Same variable names as the published first layer.
  assert _variables(graph)['MobilenetV2/Conv/weights'] == [3, 3, 3, 160]
  assert 'MobilenetV2/Conv/BatchNorm/gamma' in _variables(graph)
  assert isinstance(mobilenet_v2.V2_DEF['spec'][0], Conv)  # copy edited


def test_v2_def_is_a_dict_of_defaults_and_spec():
  spec = dict(mobilenet_v2.V2_DEF)
  assert isinstance(spec['defaults'], dict) and len(spec['spec']) == 19
  spec['defaults'] = dict(spec['defaults'])
  spec['defaults'].update({(slim.batch_norm,): {'center': True,
                                                'scale': False}})
  graph, _, end_points = _build(lib.mobilenet, conv_defs=spec)
  # research/slim's count: all but the first two and the last layer have
  # two full convolutions, plus the logits.
  assert len(_conv2d_depths(graph)) == len(spec['spec']) * 2 - 2
  for i in range(2, 17):
    assert f'layer_{i}/depthwise_output' in end_points
  names = _variables(graph)
  assert 'Mobilenet/Conv/BatchNorm/beta' in names
  assert 'Mobilenet/Conv/BatchNorm/gamma' not in names  # the edited default
  assert mobilenet_v2.V2_DEF['defaults'][(slim.batch_norm,)]['scale']


def test_depth_multiplier_arg_scope_sets_min_depth_of_the_net():
  # research/slim's testDivisibleByWithArgScope: every depth below 32 is
  # raised to 32 (expansions 32 x 6 = 192, last layer 1280 x 0.1 = 128).
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, 32, 32, 3])
    with slim.arg_scope([lib.depth_multiplier], min_depth=32):
      mobilenet_v2.mobilenet(images, conv_defs=mobilenet_v2.V2_DEF,
                             depth_multiplier=0.1)
  assert set(_conv2d_depths(graph)) == {32, 192, 128, 1001}


@pytest.mark.parametrize('module', [mobilenet_v2, mobilenet_v3])
def test_training_scope_is_training_none_leaves_modes_out(module):
  batch_norm = slim.arg_scope_func_key(slim.batch_norm)
  dropout = slim.arg_scope_func_key(slim.dropout)
  scope = module.training_scope(is_training=None)
  assert 'is_training' not in scope[batch_norm]
  assert 'is_training' not in scope.get(dropout, {})
  assert scope[batch_norm]['decay'] == 0.997
  assert module.training_scope(is_training=False)[batch_norm][
      'is_training'] is False
  assert module.training_scope()[batch_norm]['is_training'] is True
  # research/slim's signature, positional order included.
  assert list(inspect.signature(module.training_scope).parameters) == [
      'is_training', 'weight_decay', 'stddev', 'dropout_keep_prob',
      'bn_decay']
  assert module.training_scope(True, 0.0, 0.09, 0.9)[dropout][
      'keep_prob'] == 0.9
  # Builds under it, the caller's own scope then deciding the mode.
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, 32, 32, 3])
    with slim.arg_scope(scope), slim.arg_scope([slim.batch_norm],
                                               is_training=False):
      lib.mobilenet(images, conv_defs=TINY, num_classes=3)
    assert not tf.get_collection(tf.GraphKeys.UPDATE_OPS)


def test_squeeze_excite_gate_uses_research_slims_constant():
  x = np.array([-4.0, -3.0, -1.5, 0.0, 0.5, 1.0, 2.9, 3.0, 7.0], np.float32)
  with tf.Graph().as_default(), tf.Session() as sess:
    gate = sess.run(conv_blocks.hard_sigmoid(tf.constant(x)))
  expected = np.clip(x.astype(np.float64) + 3.0, 0.0, 6.0) * 0.16667
  np.testing.assert_allclose(gate, expected, rtol=1e-6, atol=0)
  # Exactly 1/6 would be off by 2e-5 relative: the test can tell them apart.
  assert not np.allclose(gate, expected / (6 * 0.16667), rtol=1e-6, atol=0)


def test_squeeze_excite_end_point_matches_numpy():
  spec = (Conv(16, stride=1, activation_fn=None),
          ExpandedConv(16, expansion_factor=1, squeeze_excite=True,
                       activation_fn=None))
  rng = np.random.RandomState(1)
  images = rng.normal(0, 1, (2, 6, 6, 3)).astype(np.float32)
  graph = tf.Graph()
  with graph.as_default():
    tf.set_random_seed(1)
    with slim.arg_scope([slim.conv2d], weights_initializer=(
        tf.truncated_normal_initializer(stddev=0.5)),
                        biases_initializer=tf.random_normal_initializer()):
      _, end_points = lib.mobilenet_base(tf.constant(images), conv_defs=spec,
                                         scope='S')
    excited = graph.get_tensor_by_name(
        'S/expanded_conv/squeeze_excite/mul:0')
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      values = sess.run({
          'in': end_points['layer_2/depthwise_output'], 'out': excited,
          **{v.op.name: v for v in tf.global_variables()
             if 'squeeze_excite' in v.op.name}})
  se = 'S/expanded_conv/squeeze_excite/'
  pooled = values['in'].astype(np.float64).mean(axis=(1, 2))
  squeeze = np.maximum(pooled @ values[se + 'Conv/weights'][0, 0]
                       + values[se + 'Conv/biases'], 0.0)
  excite = (squeeze @ values[se + 'Conv_1/weights'][0, 0]
            + values[se + 'Conv_1/biases'])
  gate = np.clip(excite + 3.0, 0.0, 6.0) * 0.16667
  expected = values['in'] * gate[:, None, None, :]
  assert np.any((gate > 0) & (gate < 1))  # the linear part is used
  np.testing.assert_allclose(values['out'], expected, rtol=2e-6, atol=1e-7)


_V3_VARIANTS = {
    'large': mobilenet_v3.large, 'small': mobilenet_v3.small,
    'large_minimalistic': mobilenet_v3.large_minimalistic,
    'small_minimalistic': mobilenet_v3.small_minimalistic,
    'edge_tpu': mobilenet_v3.edge_tpu,
    'edge_tpu_075': mobilenet_v3.edge_tpu_075,
}


@pytest.mark.parametrize('use_groupnorm', [False, True])
@pytest.mark.parametrize('name', sorted(_V3_VARIANTS))
def test_every_v3_variant_builds_with_and_without_group_norm(name,
                                                             use_groupnorm):
  graph, logits, _ = _build(_V3_VARIANTS[name], shape=(1, 32, 32, 3),
                            use_groupnorm=use_groupnorm)
  assert logits.shape.as_list() == [1, 1001]
  names = _variables(graph)
  scope = 'MobilenetEdgeTPU' if name.startswith('edge') else 'MobilenetV3'
  norm = 'GroupNorm' if use_groupnorm else 'BatchNorm'
  other = 'BatchNorm' if use_groupnorm else 'GroupNorm'
  assert not any(f'/{other}/' in n for n in names)
  # research/slim's names: slim.group_norm's scope 'GroupNorm' holding
  # 'beta' and 'gamma' where batch norm has 'BatchNorm/...'.
  assert f'{scope}/Conv/{norm}/gamma' in names
  assert f'{scope}/expanded_conv/project/{norm}/beta' in names
  assert f'{scope}/expanded_conv_1/expand/{norm}/gamma' in names
  moving = [n for n in names if 'moving_' in n]
  assert bool(moving) != use_groupnorm


def test_group_norm_variable_names_and_groups_of_v3_small():
  graph, _, _ = _build(mobilenet_v3.small, shape=(1, 32, 32, 3),
                       use_groupnorm=True, groups=4)
  names = _variables(graph)
  # Layer 2 is a squeeze-excite block on 16 channels: no expansion (16 x 1),
  # a normalized depthwise, un-normalized squeeze-excite convolutions.
  assert names['MobilenetV3/Conv/GroupNorm/gamma'] == [16]
  assert names['MobilenetV3/expanded_conv/depthwise/GroupNorm/beta'] == [16]
  assert names['MobilenetV3/expanded_conv/squeeze_excite/Conv/biases'] == [8]
  assert not any(n.startswith('MobilenetV3/expanded_conv/squeeze_excite/')
                 and 'GroupNorm' in n for n in names)
  assert names['MobilenetV3/expanded_conv_1/expand/GroupNorm/gamma'] == [72]
  assert names['MobilenetV3/Conv_2/biases'] == [1024]  # last layer: biases
  assert 'MobilenetV3/Conv_2/GroupNorm/gamma' not in names
  with graph.as_default():
    # The norm's scale and offset are reshaped to the requested 4 groups of
    # 4 channels.
    shapes = {tuple(o.outputs[0].shape.as_list()) for o in
              graph.get_operations() if o.type == 'Reshape' and
              o.name.startswith('MobilenetV3/Conv/GroupNorm/')}
  assert (1, 1, 1, 4, 4) in shapes
