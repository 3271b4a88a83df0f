"""Options of the video networks I3D and S3D-G (nets.i3d, nets.s3dg).

The registry test checks both against the published manifests at
64 x 224 x 224; this file covers other clip sizes, the builders' options and
their errors, and one training step each. Graphs are built without running
them except in the training tests; most tests stop the trunk early because
building the full 3-D Inception graph takes seconds.
"""

import math

import numpy as np
import pytest

from slim_zoo.nets import i3d, i3d_utils, s3dg
from slim_zoo.nets.compat import slim, tf

# Channels of every trunk end point at depth_multiplier 1.
_CHANNELS = {
    'Conv2d_1a_7x7': 64, 'MaxPool_2a_3x3': 64, 'Conv2d_2b_1x1': 64,
    'Conv2d_2c_3x3': 192, 'MaxPool_3a_3x3': 192, 'Mixed_3b': 256,
    'Mixed_3c': 480, 'MaxPool_4a_3x3': 480, 'Mixed_4b': 512, 'Mixed_4c': 512,
    'Mixed_4d': 512, 'Mixed_4e': 528, 'Mixed_4f': 832, 'MaxPool_5a_2x2': 832,
    'Mixed_5b': 832, 'Mixed_5c': 1024,
}
# (time, space) stride of the layer that introduces each end point.
_STRIDES = {'Conv2d_1a_7x7': (2, 2), 'MaxPool_2a_3x3': (1, 2),
            'MaxPool_3a_3x3': (1, 2), 'MaxPool_4a_3x3': (2, 2),
            'MaxPool_5a_2x2': (2, 2)}


def _expected_shapes(batch, frames, size):
  """End point -> NDHWC shape, from 'SAME' padding arithmetic."""
  shapes = {}
  t, s = frames, size
  for name in i3d_utils.END_POINTS:
    stride_t, stride_s = _STRIDES.get(name, (1, 1))
    t, s = math.ceil(t / stride_t), math.ceil(s / stride_s)
    shapes[name] = [batch, t, s, s, _CHANNELS[name]]
  return shapes


def _variables(graph):
  with graph.as_default():
    return {v.op.name: v.shape.as_list() for v in tf.global_variables()}


def _build(fn, shape, **kwargs):
  graph = tf.Graph()
  with graph.as_default():
    inputs = tf.placeholder(tf.float32, shape)
    with slim.arg_scope(i3d_utils.inception_3d_arg_scope(weight_decay=0.0)):
      net, end_points = fn(inputs, **kwargs)
  return graph, net, end_points


@pytest.mark.parametrize('fn,frames,size', [(i3d.i3d, 8, 32),
                                            (s3dg.s3dg, 16, 64)])
def test_end_point_shapes_for_small_clips(fn, frames, size):
  _, logits, end_points = _build(fn, [2, frames, size, size, 3],
                                 num_classes=7)
  shapes = {k: v.shape.as_list() for k, v in end_points.items()}
  expected = _expected_shapes(2, frames, size)
  expected.update(Logits=[2, 7], Predictions=[2, 7])
  assert shapes == expected
  assert list(end_points) == list(expected)  # in network order
  assert logits.shape.as_list() == [2, 7]


def test_i3d_and_s3dg_differ_only_where_the_papers_say():
  i3d_graph, _, _ = _build(i3d.i3d_base, [1, 8, 32, 32, 3],
                           final_endpoint='Mixed_3b')
  s3dg_graph, _, _ = _build(s3dg.s3dg_base, [1, 8, 32, 32, 3],
                            final_endpoint='Mixed_3b')
  i3d_vars, s3dg_vars = _variables(i3d_graph), _variables(s3dg_graph)
  prefix = 'InceptionV1/Mixed_3b/Branch_1/Conv2d_0b_3x3/'
  assert i3d_vars['InceptionV1/Conv2d_1a_7x7/weights'] == [7, 7, 7, 3, 64]
  assert s3dg_vars['InceptionV1/Conv2d_1a_7x7/weights'] == [3, 7, 7, 3, 64]
  assert i3d_vars[prefix + 'weights'] == [3, 3, 3, 96, 128]
  assert s3dg_vars[prefix + 'weights'] == [1, 3, 3, 96, 128]
  assert s3dg_vars[prefix + 'temporal/weights'] == [3, 1, 1, 128, 128]
  assert s3dg_vars[prefix + 'self_gating/transformer_W/weights'] == [
      1, 1, 1, 128, 128]
  assert not any('temporal' in v or 'self_gating' in v for v in i3d_vars)


@pytest.mark.parametrize('options,temporal,gated', [
    # Temporal convolutions from Mixed_3c on: Conv2d_2c and Mixed_3b spatial.
    (dict(temporal_conv_startat='Mixed_3c', gating_startat=None),
     ['Mixed_3c'], []),
    # No temporal convolutions at all; gating from Mixed_3b.
    (dict(temporal_conv_startat=None, gating_startat='Mixed_3b'),
     [], ['Mixed_3b', 'Mixed_3c']),
    (dict(first_temporal_kernel_size=5), ['Conv2d_2c_3x3', 'Mixed_3b',
                                          'Mixed_3c'],
     ['Conv2d_2c_3x3', 'Mixed_3b', 'Mixed_3c']),
])
def test_s3dg_start_points(options, temporal, gated):
  graph, _, _ = _build(s3dg.s3dg_base, [1, 8, 32, 32, 3],
                       final_endpoint='Mixed_3c', **options)
  names = _variables(graph)

  def layers_with(part):
    return sorted({n.split('/')[1] for n in names if f'/{part}/' in n})

  assert layers_with('temporal') == sorted(temporal)
  assert layers_with('self_gating') == sorted(gated)
  first = options.get('first_temporal_kernel_size', 3)
  assert names['InceptionV1/Conv2d_1a_7x7/weights'] == [first, 7, 7, 3, 64]


def test_s3dg_ncdhw_has_the_same_variables_and_transposed_end_points():
  graphs, end_points = [], []
  for data_format, shape in (('NDHWC', [2, 8, 32, 32, 3]),
                             ('NCDHW', [2, 3, 8, 32, 32])):
    graph, logits, points = _build(s3dg.s3dg, shape, num_classes=5,
                                   final_endpoint='Mixed_3c',
                                   data_format=data_format)
    assert logits.shape.as_list() == [2, 5]
    graphs.append(graph)
    end_points.append(points)
  assert _variables(graphs[0]) == _variables(graphs[1])
  # Batch norm must normalize channels, not the last (width) axis.
  assert _variables(graphs[1])[
      'InceptionV1/Mixed_3c/Branch_0/Conv2d_0a_1x1/BatchNorm/beta'] == [128]
  for name in end_points[0]:
    if name.startswith(('Conv', 'Max', 'Mixed')):
      channels_last = end_points[0][name].shape.as_list()
      channels_first = end_points[1][name].shape.as_list()
      assert channels_first == [channels_last[0], channels_last[4],
                                *channels_last[1:4]]


def test_final_endpoint_stops_the_trunk():
  graph, net, end_points = _build(i3d.i3d_base, [1, 8, 32, 32, 3],
                                  final_endpoint='MaxPool_3a_3x3')
  assert list(end_points) == list(i3d_utils.END_POINTS[:5])
  assert net is end_points['MaxPool_3a_3x3']
  assert not any('Mixed' in v for v in _variables(graph))


def test_depth_multiplier_and_min_depth():
  _, net, end_points = _build(s3dg.s3dg_base, [1, 8, 32, 32, 3],
                              final_endpoint='Mixed_3b', depth_multiplier=0.5,
                              min_depth=16)
  assert end_points['Conv2d_1a_7x7'].shape[-1] == 32
  # Branches 64, 128, 32, 32 halve to 32, 64, 16, 16 (min_depth keeps 16).
  assert net.shape[-1] == 32 + 64 + 16 + 16
  _, net, _ = _build(s3dg.s3dg_base, [1, 8, 32, 32, 3],
                     final_endpoint='Mixed_3b', depth_multiplier=0.125,
                     min_depth=16)
  assert net.shape[-1] == 16 * 4


def test_classifier_options_and_train_eval_variables():
  variable_sets = []
  for is_training in (True, False):
    graph, logits, end_points = _build(
        i3d.i3d, [None, 8, 32, 32, 3], num_classes=5, is_training=is_training,
        spatial_squeeze=False, final_endpoint='Mixed_3c')
    assert logits.shape.as_list() == [None, 1, 1, 5]
    assert list(end_points)[-2:] == ['Logits', 'Predictions']
    variable_sets.append(_variables(graph))
  assert variable_sets[0] == variable_sets[1]
  assert 'InceptionV1/Logits/Conv2d_0c_1x1/weights' in variable_sets[0]

  graph, features, end_points = _build(i3d.i3d, [2, 8, 32, 32, 3],
                                       num_classes=0,
                                       final_endpoint='Mixed_3c')
  assert features.shape.as_list() == [2, 480]
  assert 'Logits' not in end_points
  assert not any('Logits' in v for v in _variables(graph))


def test_reuse_shares_variables():
  graph = tf.Graph()
  with graph.as_default():
    clips = tf.placeholder(tf.float32, [1, 8, 32, 32, 3])
    s3dg.s3dg(clips, num_classes=3, final_endpoint='Mixed_3b')
    count = len(tf.global_variables())
    s3dg.s3dg(clips, num_classes=3, final_endpoint='Mixed_3b', reuse=True)
    assert len(tf.global_variables()) == count


@pytest.mark.parametrize('call,match', [
    (lambda x: i3d.i3d(x[:, 0]), 'rank 4'),
    (lambda x: s3dg.s3dg(x[:, 0], data_format='NCDHW'), 'rank 4'),
    (lambda x: s3dg.s3dg(x, first_temporal_kernel_size=2), 'one of'),
    (lambda x: s3dg.s3dg(x, gating_startat='Mixed_9z'), 'Mixed_9z'),
    (lambda x: s3dg.s3dg(x, temporal_conv_startat='Conv2d_1a_7x7'),
     'Conv2d_1a_7x7'),
    (lambda x: s3dg.s3dg(x, data_format='NHWC'), 'NHWC'),
    (lambda x: i3d.i3d_base(x, final_endpoint='Mixed_6a'), 'Mixed_5c'),
    (lambda x: i3d.i3d(x, depth_multiplier=0), 'depth_multiplier'),
])
def test_invalid_inputs_and_options_raise(call, match):
  with tf.Graph().as_default():
    clips = tf.placeholder(tf.float32, [1, 8, 32, 32, 3])
    with pytest.raises(ValueError, match=match):
      call(clips)


def test_conv3d_spatiotemporal_and_reduced_kernel_errors():
  with tf.Graph().as_default():
    net = tf.placeholder(tf.float32, [1, 4, 8, 8, 3])
    with pytest.raises(ValueError, match='scope'):
      i3d_utils.conv3d_spatiotemporal(net, 4, [3, 3, 3], separable=True)
    with pytest.raises(ValueError, match='three ints'):
      i3d_utils.conv3d_spatiotemporal(net, 4, [3, 3])
    small = tf.placeholder(tf.float32, [1, 1, 4, 8, 3])
    assert i3d_utils.reduced_kernel_size_3d(small, [2, 7, 7]) == [1, 4, 7]
    unknown = tf.placeholder(tf.float32, [1, None, None, None, 3])
    assert i3d_utils.reduced_kernel_size_3d(unknown, [2, 7, 7]) == [2, 7, 7]
    with pytest.raises(ValueError, match='5-D'):
      i3d_utils.reduced_kernel_size_3d(net[0], [2, 7, 7])


@pytest.mark.parametrize('fn,arg_scope_fn', [(i3d.i3d, i3d.i3d_arg_scope),
                                             (s3dg.s3dg, s3dg.s3dg_arg_scope)])
def test_one_training_step(fn, arg_scope_fn):
  graph = tf.Graph()
  with graph.as_default():
    tf.set_random_seed(0)
    clips = tf.constant(
        np.random.RandomState(0).uniform(-1, 1, [2, 4, 16, 16, 3]),
        tf.float32)
    with slim.arg_scope(arg_scope_fn(weight_decay=1e-4)):
      logits, _ = fn(clips, num_classes=3, is_training=True,
                     depth_multiplier=0.0625, min_depth=2)
    loss = tf.losses.sparse_softmax_cross_entropy([0, 2], logits)
    total_loss = loss + tf.add_n(tf.losses.get_regularization_losses())
    train_op = slim.learning.create_train_op(
        total_loss, tf.train.GradientDescentOptimizer(0.1))
    watched = {
        'first conv': 'InceptionV1/Conv2d_1a_7x7/weights',
        'logits': 'InceptionV1/Logits/Conv2d_0c_1x1/weights',
        # Batch-norm statistics are updated by the train op, too.
        'moving variance': 'InceptionV1/Mixed_5c/Branch_0/Conv2d_0a_1x1/'
                           'BatchNorm/moving_variance',
    }
    variables = {v.op.name: v for v in tf.global_variables()}
    watched = {k: variables[name] for k, name in watched.items()}
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      before = sess.run(watched)
      loss_value = sess.run(train_op)
      after = sess.run(watched)
  assert np.isfinite(loss_value) and loss_value > 0
  for key in watched:
    assert not np.array_equal(before[key], after[key]), f'{key} unchanged'
