"""MobileNet v2 / v3 / EdgeTPU: the generic builder, its specs and options.

Names and shapes of the published models are checked by test_registry.py;
this file covers the options of the generic builder. Graphs are built
without running them, except for the hard-swish values and one short
training run per family.
"""

import dataclasses

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
  snapshot = tuple(dataclasses.astuple(op) for op in large)
  minimal = mobilenet_v3.minimalistic(large)
  assert tuple(dataclasses.astuple(op) for op in large) == snapshot
  assert any(getattr(op, 'squeeze_excite', False) for op in large)
  assert not any(getattr(op, 'squeeze_excite', False) for op in minimal)
  assert {op.kernel_size for op in minimal
          if isinstance(op, ExpandedConv)} == {(3, 3)}
  assert not any(getattr(op, 'activation_fn', None) is conv_blocks.hard_swish
                 for op in minimal)
  fixed = lib.with_fixed_last_layer(large)
  assert not fixed[-1].scale_depth and large[-1].scale_depth
  with pytest.raises(dataclasses.FrozenInstanceError):
    large[0].num_outputs = 8


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
