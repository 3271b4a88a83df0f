"""MobileNet v1 options: depth multiplier, output stride, conv defs, end points.

Names and shapes of the published models are checked by test_registry.py;
this file covers the options. Graphs are built without running them, except
for one short training run.
"""

import numpy as np
import pytest

from slim_zoo.nets import mobilenet_v1
from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.mobilenet_v1 import Conv, DepthSepConv


def _variables(graph):
  with graph.as_default():
    return {v.op.name: v.shape.as_list() for v in tf.global_variables()}


def _base(shape=(1, 64, 64, 3), **kwargs):
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, shape)
    net, end_points = mobilenet_v1.mobilenet_v1_base(images, **kwargs)
  return graph, net, end_points


def _classifier(shape=(1, 64, 64, 3), num_classes=10, **kwargs):
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, shape)
    logits, end_points = mobilenet_v1.mobilenet_v1(
        images, num_classes=num_classes, **kwargs)
  return graph, logits, end_points


def test_depth_multiplier_scales_channels_with_min_depth():
  _, net, end_points = _base(depth_multiplier=0.5)
  assert end_points['Conv2d_0'].shape.as_list() == [1, 32, 32, 16]
  assert end_points['Conv2d_1_pointwise'].shape[-1] == 32
  assert net.shape.as_list() == [1, 2, 2, 512]
  # 32 x 0.1 = 3 channels would be too thin: min_depth keeps 8.
  _, _, end_points = _base(depth_multiplier=0.1, min_depth=8,
                           final_endpoint='Conv2d_1_pointwise')
  assert end_points['Conv2d_0'].shape[-1] == 8
  assert end_points['Conv2d_1_pointwise'].shape[-1] == 8


@pytest.mark.parametrize('bad', [0, -0.5])
def test_non_positive_depth_multiplier_is_rejected(bad):
  with pytest.raises(ValueError, match='depth_multiplier'):
    _base(depth_multiplier=bad)
  with pytest.raises(ValueError, match=f'got {bad!r}'):
    _classifier(depth_multiplier=bad)


def test_output_stride_keeps_resolution_and_variables():
  graph32, net32, _ = _base(depth_multiplier=0.25)
  graph8, net8, end_points = _base(depth_multiplier=0.25, output_stride=8)
  graph16, net16, _ = _base(depth_multiplier=0.25, output_stride=16)
  assert net32.shape.as_list() == [1, 2, 2, 256]
  assert net16.shape.as_list() == [1, 4, 4, 256]
  assert net8.shape.as_list() == [1, 8, 8, 256]
  assert end_points['Conv2d_6_depthwise'].shape.as_list()[1:3] == [8, 8]
  assert _variables(graph8) == _variables(graph32) == _variables(graph16)
  with pytest.raises(ValueError, match='output_stride.*12'):
    _base(output_stride=12)


def test_explicit_padding_matches_same_padding_shapes():
  graph_same, net_same, points_same = _base(depth_multiplier=0.25)
  graph_pad, net_pad, points_pad = _base(depth_multiplier=0.25,
                                         use_explicit_padding=True)
  assert net_pad.shape.as_list() == net_same.shape.as_list()
  assert ({k: v.shape.as_list() for k, v in points_pad.items()} ==
          {k: v.shape.as_list() for k, v in points_same.items()})
  assert _variables(graph_pad) == _variables(graph_same)
  with graph_pad.as_default():
    assert any(op.type == 'Pad' for op in graph_pad.get_operations())


def test_custom_conv_defs_build():
  conv_defs = [Conv(kernel=[3, 3], stride=2, depth=16),
               DepthSepConv(kernel=[3, 3], stride=2, depth=24),
               DepthSepConv(kernel=[5, 5], stride=1, depth=40)]
  graph, net, end_points = _base(conv_defs=conv_defs, final_endpoint=None)
  assert list(end_points) == [
      'Conv2d_0', 'Conv2d_1_depthwise', 'Conv2d_1_pointwise',
      'Conv2d_2_depthwise', 'Conv2d_2_pointwise']
  assert net.shape.as_list() == [1, 16, 16, 40]
  variables = _variables(graph)
  assert variables['MobilenetV1/Conv2d_2_depthwise/depthwise_weights'] == [
      5, 5, 24, 1]
  assert variables['MobilenetV1/Conv2d_2_pointwise/weights'] == [1, 1, 24, 40]
  with pytest.raises(ValueError, match=r'conv_defs\[1\]'):
    _base(conv_defs=[conv_defs[0], ('conv', 3, 1, 8)], final_endpoint=None)


def test_final_endpoint_stops_early():
  graph, net, end_points = _base(final_endpoint='Conv2d_3_depthwise')
  assert list(end_points)[-1] == 'Conv2d_3_depthwise'
  assert net is end_points['Conv2d_3_depthwise']
  names = _variables(graph)
  assert 'MobilenetV1/Conv2d_3_depthwise/depthwise_weights' in names
  assert not any(n.startswith('MobilenetV1/Conv2d_3_pointwise') for n in names)
  with pytest.raises(ValueError, match="Conv2d_99.*Conv2d_13_pointwise"):
    _base(final_endpoint='Conv2d_99')


def test_unknown_batch_and_spatial_size():
  _, logits, end_points = _classifier(shape=(None, 64, 64, 3),
                                      depth_multiplier=0.25)
  assert logits.shape.as_list() == [None, 10]
  _, logits, _ = _classifier(shape=(None, None, None, 3),
                             depth_multiplier=0.25, global_pool=True)
  assert logits.shape.as_list() == [None, 10]


def test_head_options():
  graph, features, end_points = _classifier(num_classes=0,
                                            depth_multiplier=0.25)
  assert features.shape.as_list() == [1, 1, 1, 256]
  assert 'Logits' not in end_points
  assert not any('Logits/Conv2d_1c_1x1' in n for n in _variables(graph))
  _, logits, end_points = _classifier(depth_multiplier=0.25, global_pool=True,
                                      spatial_squeeze=False)
  assert logits.shape.as_list() == [1, 1, 1, 10]
  assert end_points['global_pool'].shape.as_list() == [1, 1, 1, 256]
  assert 'AvgPool_1a' not in end_points
  assert logits.op.name != 'MobilenetV1/Logits/SpatialSqueeze'
  _, logits, _ = _classifier(depth_multiplier=0.25)
  assert logits.op.name == 'MobilenetV1/Logits/SpatialSqueeze'


def test_reuse_shares_variables():
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, 32, 32, 3])
    mobilenet_v1.mobilenet_v1(images, num_classes=5, depth_multiplier=0.25)
    count = len(tf.global_variables())
    mobilenet_v1.mobilenet_v1(images, num_classes=5, depth_multiplier=0.25,
                              reuse=True)
    assert len(tf.global_variables()) == count


def test_is_training_overrides_arg_scope_and_weight_decay_applies():
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, 32, 32, 3])
    with slim.arg_scope(mobilenet_v1.mobilenet_v1_arg_scope(
        is_training=True, weight_decay=0.01)):
      mobilenet_v1.mobilenet_v1(images, num_classes=5, depth_multiplier=0.25,
                                is_training=False)
    assert not tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    # Conv2d_0, 13 pointwise convolutions and the logits; depthwise kernels
    # are not regularized by default.
    assert len(tf.losses.get_regularization_losses()) == 15


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


def test_short_training_run_reduces_loss():
  def build(images, num_classes):
    with slim.arg_scope(mobilenet_v1.mobilenet_v1_arg_scope(weight_decay=0.0)):
      logits, _ = mobilenet_v1.mobilenet_v1(
          images, num_classes=num_classes, depth_multiplier=0.25,
          is_training=True, dropout_keep_prob=1.0)
    return logits

  losses = _train(build)
  assert np.all(np.isfinite(losses))
  assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:2]), losses


def _model_parameters(graph):
  with graph.as_default():
    return sum(v.shape.num_elements() for v in slim.get_model_variables())


def test_base_composes_with_callers_arg_scope():
  # research/slim's count for this scope (its mobilenet_v1_test): tf_slim's
  # batch norm has offset and no scale unless the caller's scope asks.
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, 64, 64, 3])
    with slim.arg_scope([slim.conv2d, slim.separable_conv2d],
                        normalizer_fn=slim.batch_norm):
      mobilenet_v1.mobilenet_v1_base(images)
  assert _model_parameters(graph) == 3217920
  names = _variables(graph)
  assert 'MobilenetV1/Conv2d_0/BatchNorm/beta' in names
  assert 'MobilenetV1/Conv2d_0/BatchNorm/gamma' not in names

  # A caller without a normalizer gets biases, as with research/slim.
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, 64, 64, 3])
    with slim.arg_scope([slim.conv2d, slim.separable_conv2d],
                        normalizer_fn=None):
      mobilenet_v1.mobilenet_v1_base(images,
                                     final_endpoint='Conv2d_1_pointwise')
  assert _variables(graph)['MobilenetV1/Conv2d_1_pointwise/biases'] == [64]
  assert not any('BatchNorm' in n for n in _variables(graph))


def test_published_layers_with_and_without_arg_scope():
  graph_plain, _, _ = _classifier(num_classes=1001)
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, 64, 64, 3])
    with slim.arg_scope(mobilenet_v1.mobilenet_v1_arg_scope()):
      mobilenet_v1.mobilenet_v1(images, num_classes=1001)
  names = _variables(graph)
  assert names == _variables(graph_plain)
  assert names['MobilenetV1/Conv2d_13_pointwise/BatchNorm/gamma'] == [1024]
  # 3,217,920 plus one scale per normalized channel (10,944) plus the
  # logits (1024 x 1001 weights and 1001 biases).
  assert _model_parameters(graph) == 3217920 + 10944 + 1024 * 1001 + 1001


def test_arg_scope_is_training_none_leaves_batch_norm_mode_out():
  key = slim.arg_scope_func_key(slim.batch_norm)
  scope = mobilenet_v1.mobilenet_v1_arg_scope(is_training=None)
  assert 'is_training' not in scope[key]
  assert scope[key]['scale'] and scope[key]['center']
  assert mobilenet_v1.mobilenet_v1_arg_scope(is_training=False)[key][
      'is_training'] is False
  assert mobilenet_v1.mobilenet_v1_arg_scope()[key]['is_training'] is True
