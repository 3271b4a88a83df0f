"""Options of the Inception family (v1-v4, Inception-ResNet-v2).

The registry test already checks every net against its published manifest;
this file covers the family's options. Shape and name tests only build
graphs (no arg scope, so no batch norm, at the smallest valid size); one
session run trains a tiny Inception v1.
"""

import numpy as np
import pytest

from slim_zoo.nets import inception
from slim_zoo.nets import inception_resnet_v2 as irv2_module
from slim_zoo.nets import inception_v1 as v1_module
from slim_zoo.nets import inception_v2 as v2_module
from slim_zoo.nets import inception_v3 as v3_module
from slim_zoo.nets import inception_v4 as v4_module
from slim_zoo.nets.compat import slim, tf

# (module, base, classifier, smallest input size, net scope)
FAMILY = {
    'inception_v1': (v1_module, v1_module.inception_v1_base,
                     v1_module.inception_v1, 32, 'InceptionV1'),
    'inception_v2': (v2_module, v2_module.inception_v2_base,
                     v2_module.inception_v2, 32, 'InceptionV2'),
    'inception_v3': (v3_module, v3_module.inception_v3_base,
                     v3_module.inception_v3, 75, 'InceptionV3'),
    'inception_v4': (v4_module, v4_module.inception_v4_base,
                     v4_module.inception_v4, 75, 'InceptionV4'),
    'inception_resnet_v2': (irv2_module,
                            irv2_module.inception_resnet_v2_base,
                            irv2_module.inception_resnet_v2, 75,
                            'InceptionResnetV2'),
}
NAMES = list(FAMILY)
WITH_AUX = ['inception_v3', 'inception_v4', 'inception_resnet_v2']


def _images(size, batch=1, channels=3):
  return tf.placeholder(tf.float32, [batch, size, size, channels])


def _var_names():
  return sorted(v.op.name for v in tf.global_variables())


def _shape(tensor):
  return tensor.shape.as_list()


@pytest.mark.parametrize('name', NAMES)
def test_every_end_point_is_a_valid_final_endpoint(name):
  module, base, _, size, _ = FAMILY[name]
  valid = list(module.END_POINTS)
  with tf.Graph().as_default():
    images = _images(size)
    # Longest build first; later, shorter builds reuse its variables, which
    # keeps them cheap (stopping is decided by the builder, not by the
    # variables that exist).
    with tf.variable_scope(tf.get_variable_scope(), reuse=tf.AUTO_REUSE):
      for i in reversed(range(len(valid))):
        net, end_points = base(images, final_endpoint=valid[i], scope='Net')
        # The first (full) build shows END_POINTS is what the base records.
        assert list(end_points) == valid[:i + 1]
        assert net is end_points[valid[i]]


@pytest.mark.parametrize('name', NAMES)
def test_unknown_final_endpoint_fails_before_building(name):
  module, base, _, size, _ = FAMILY[name]
  with tf.Graph().as_default():
    with pytest.raises(ValueError) as err:
      base(_images(size), final_endpoint='Mixed_9z')
    assert not tf.global_variables()
  message = str(err.value)
  assert 'Mixed_9z' in message
  assert all(end_point in message for end_point in module.END_POINTS)


def test_early_stop_builds_only_the_layers_before_it():
  with tf.Graph().as_default():
    net, end_points = v3_module.inception_v3_base(
        _images(75), final_endpoint='Mixed_6a')
    names = _var_names()
  assert list(end_points)[-1] == 'Mixed_6a'
  assert any(n.startswith('InceptionV3/Mixed_6a/') for n in names)
  assert not any(n.startswith('InceptionV3/Mixed_6b/') for n in names)
  assert _shape(net) == [1, 3, 3, 768]


# First Mixed block of each base and its published channel count.
_FIRST_MIXED = {
    'inception_v1': ('Mixed_3b', 256),
    'inception_v2': ('Mixed_3b', 256),
    'inception_v3': ('Mixed_5b', 256),
    'inception_v4': ('Mixed_5a', 384),
    'inception_resnet_v2': ('Mixed_5b', 320),
}


@pytest.mark.parametrize('name', NAMES)
def test_depth_multiplier_scales_channels(name):
  _, base, _, size, _ = FAMILY[name]
  end_point, channels = _FIRST_MIXED[name]
  shapes = {}
  for multiplier in (1.0, 0.5):
    with tf.Graph().as_default():
      net, _ = base(_images(size), final_endpoint=end_point,
                    depth_multiplier=multiplier)
      shapes[multiplier] = _shape(net)
  assert shapes[1.0][-1] == channels
  assert shapes[0.5][-1] == channels // 2
  assert shapes[1.0][:3] == shapes[0.5][:3]


def test_min_depth_floors_scaled_channels():
  with tf.Graph().as_default():
    net, end_points = v1_module.inception_v1_base(
        _images(32), final_endpoint='Mixed_3b', depth_multiplier=0.01,
        min_depth=8)
  assert _shape(end_points['Conv2d_1a_7x7'])[-1] == 8
  assert _shape(net)[-1] == 4 * 8


@pytest.mark.parametrize('multiplier', [0, -0.5])
@pytest.mark.parametrize('name', NAMES)
def test_invalid_depth_multiplier_raises(name, multiplier):
  _, _, classifier, size, _ = FAMILY[name]
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match='depth_multiplier'):
      classifier(_images(size), num_classes=10,
                 depth_multiplier=multiplier)
    assert not tf.global_variables()


def test_unknown_batch_size_v1():
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [None, 32, 32, 3])
    logits, end_points = v1_module.inception_v1(images, num_classes=7)
  assert _shape(logits) == [None, 7]
  assert _shape(end_points['Mixed_5c']) == [None, 1, 1, 1024]


def test_pre_logits_v1_with_num_classes_none():
  with tf.Graph().as_default():
    features, end_points = v1_module.inception_v1(_images(32),
                                                  num_classes=None)
    names = _var_names()
  assert _shape(features) == [1, 1, 1, 1024]
  assert 'Logits' not in end_points
  assert not any('/Logits/' in n for n in names)


def test_v1_options_spatial_squeeze_and_prediction_fn():
  calls = []

  def prediction_fn(logits, scope):
    calls.append(scope)
    return tf.nn.sigmoid(logits, name=scope)

  with tf.Graph().as_default():
    logits, end_points = v1_module.inception_v1(
        _images(32), num_classes=5, spatial_squeeze=False,
        prediction_fn=prediction_fn)
  assert _shape(logits) == [1, 1, 1, 5]
  assert calls == ['Predictions']
  assert end_points['Predictions'].op.type == 'Sigmoid'


@pytest.mark.parametrize('name', ['inception_v1', 'inception_v2',
                                  'inception_v3'])
def test_global_pool_at_a_larger_input(name):
  _, _, classifier, _, _ = FAMILY[name]
  # At 400 x 400 the final feature map (13 x 13 for v1/v2, 11 x 11 for v3)
  # is larger than the fixed 7 x 7 / 8 x 8 pooling window.
  kwargs = {'create_aux_logits': False} if name == 'inception_v3' else {}
  with tf.Graph().as_default():
    fixed, _ = classifier(_images(400), num_classes=4, spatial_squeeze=False,
                          **kwargs)
  with tf.Graph().as_default():
    pooled, end_points = classifier(_images(400), num_classes=4,
                                    global_pool=True, **kwargs)
  assert _shape(fixed)[1] > 1 and _shape(fixed)[2] > 1
  assert _shape(pooled) == [1, 4]
  channels = 2048 if name == 'inception_v3' else 1024
  assert _shape(end_points['global_pool']) == [1, 1, 1, channels]


@pytest.mark.parametrize('name', WITH_AUX)
def test_create_aux_logits_off_and_global_pool(name):
  _, _, classifier, size, scope = FAMILY[name]
  with tf.Graph().as_default():
    _, end_points = classifier(_images(size), num_classes=10,
                               create_aux_logits=False, global_pool=True,
                               depth_multiplier=0.1)
    names = _var_names()
  assert 'AuxLogits' not in end_points
  assert not any(n.startswith(scope + '/AuxLogits/') for n in names)
  assert any(n.startswith(scope + '/Logits/') for n in names)
  # v4 and Inception-ResNet-v2 pool over the static map by default; the
  # flag must still give a mean, as exported graphs of unknown size need.
  assert end_points['global_pool'].op.type == 'Mean'
  assert _shape(end_points['Logits']) == [1, 10]


@pytest.mark.parametrize('name', WITH_AUX)
def test_aux_logits_at_the_smallest_input(name):
  # At 75 x 75 the auxiliary head's 5 x 5 pool and convolution shrink to
  # the 3 x 3 / 1 x 1 maps instead of failing.
  _, _, classifier, size, scope = FAMILY[name]
  with tf.Graph().as_default():
    _, end_points = classifier(_images(size), num_classes=6,
                               depth_multiplier=0.1)
    shapes = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
  assert _shape(end_points['AuxLogits']) == [1, 6]
  aux_conv = {'inception_v3': 'AuxLogits/Conv2d_2a_1x1',
              'inception_v4': 'AuxLogits/Conv2d_2a',
              'inception_resnet_v2': 'AuxLogits/Conv2d_2a_5x5'}[name]
  assert shapes[f'{scope}/{aux_conv}/weights'][:2] == [1, 1]


@pytest.mark.parametrize('name', ['inception_v1', 'inception_v3'])
def test_reuse_builds_no_new_variables(name):
  _, _, classifier, size, _ = FAMILY[name]
  with tf.Graph().as_default():
    images = _images(size)
    logits, _ = classifier(images, num_classes=3, depth_multiplier=0.1)
    names = _var_names()
    logits_2, _ = classifier(images, num_classes=3, depth_multiplier=0.1,
                             reuse=True)
    assert _var_names() == names
    assert logits_2.op.name != logits.op.name  # A second tower, shared vars.
    with pytest.raises(ValueError, match='already exists'):
      classifier(images, num_classes=3, depth_multiplier=0.1)


def test_aux_logits_need_a_static_size():
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [1, None, None, 3])
    with pytest.raises(ValueError, match='create_aux_logits=False'):
      v4_module.inception_v4(images, num_classes=3, depth_multiplier=0.1)


def test_irv2_align_feature_maps_changes_spatial_sizes():
  # TF-Slim's documented sizes at 299 x 299: SAME padding gives
  # ceil(299 / stride) = 150/75/38/19/10 where the VALID default (pinned by
  # the registry's manifest test) gives 149/147/73/71/35/17/8.
  with tf.Graph().as_default():
    _, end_points = irv2_module.inception_resnet_v2_base(
        _images(299), align_feature_maps=True)
  assert list(end_points) == list(irv2_module.END_POINTS)
  assert [_shape(t)[1] for t in end_points.values()] == [
      150, 150, 150, 75, 75, 75, 38, 38, 19, 19, 10, 10]


def test_irv2_output_stride():
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match='PreAuxLogits'):
      irv2_module.inception_resnet_v2_base(_images(75), output_stride=8)
    with pytest.raises(ValueError, match='output_stride must be 8 or 16'):
      irv2_module.inception_resnet_v2_base(_images(75), output_stride=32)
    assert not tf.global_variables()
    net, _ = irv2_module.inception_resnet_v2_base(
        _images(75), final_endpoint='PreAuxLogits', output_stride=8)
    op_types = {op.type for op in tf.get_default_graph().get_operations()
                if op.name.startswith('InceptionResnetV2/Repeat_1/')}
  # Mixed_6a keeps the 7 x 7 map (3 x 3 VALID: 5 x 5) instead of halving it
  # to 3 x 3, and the Block17s make up for it with atrous convolutions.
  assert _shape(net) == [1, 5, 5, 1088]
  assert 'SpaceToBatchND' in op_types


def test_irv2_activation_fn_is_used_after_residual_sums():
  with tf.Graph().as_default():
    irv2_module.inception_resnet_v2_base(
        _images(75), final_endpoint='Mixed_6a', activation_fn=tf.nn.relu6)
    op_types = {op.type for op in tf.get_default_graph().get_operations()}
    block_ops = [op for op in tf.get_default_graph().get_operations()
                 if op.name.startswith('InceptionResnetV2/Repeat/block35_1/')]
  assert 'Relu6' in op_types
  assert any('clip_by_value' in op.name for op in block_ops)


def test_v2_use_separable_conv_and_data_format():
  with tf.Graph().as_default():
    v2_module.inception_v2_base(_images(32), final_endpoint='Conv2d_1a_7x7')
    separable = {v.op.name: _shape(v) for v in tf.global_variables()}
  assert separable['InceptionV2/Conv2d_1a_7x7/depthwise_weights'] == [
      7, 7, 3, 8]
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [1, 3, 32, 32])
    net, _ = v2_module.inception_v2_base(
        images, final_endpoint='Mixed_3b', use_separable_conv=False,
        data_format='NCHW')
    plain = {v.op.name: _shape(v) for v in tf.global_variables()}
  assert plain['InceptionV2/Conv2d_1a_7x7/weights'] == [7, 7, 3, 64]
  assert not any('depthwise' in n for n in plain)
  assert _shape(net) == [1, 256, 4, 4]
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match='use_separable_conv=False'):
      v2_module.inception_v2_base(_images(32), data_format='NCHW')
    with pytest.raises(ValueError, match="'NHCW'"):
      v2_module.inception_v2_base(_images(32), data_format='NHCW')


def test_arg_scopes_and_reexports():
  assert inception.inception_v3 is v3_module.inception_v3
  assert inception.inception_resnet_v2_base is (
      irv2_module.inception_resnet_v2_base)
  with tf.Graph().as_default():
    with slim.arg_scope(inception.inception_v1_arg_scope(weight_decay=0.1)):
      v1_module.inception_v1_base(_images(32), final_endpoint='Conv2d_1a_7x7')
    names = _var_names()
    losses = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
  assert names == ['InceptionV1/Conv2d_1a_7x7/BatchNorm/beta',
                   'InceptionV1/Conv2d_1a_7x7/BatchNorm/moving_mean',
                   'InceptionV1/Conv2d_1a_7x7/BatchNorm/moving_variance',
                   'InceptionV1/Conv2d_1a_7x7/weights']
  assert len(losses) == 1
  with tf.Graph().as_default():
    with slim.arg_scope(
        irv2_module.inception_resnet_v2_arg_scope(weight_decay=0.1)):
      slim.fully_connected(tf.zeros([1, 4]), 2, scope='fc')
    losses = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
  assert len(losses) == 2  # Inception-ResNet-v2 also decays biases.


def test_inception_v1_trains():
  """One session: a tiny Inception v1 fits a small batch in train mode."""
  rng = np.random.RandomState(0)
  labels = np.arange(8) % 3
  # Each class has its own mean colour, so the batch is learnable.
  images = (rng.normal(0.0, 0.3, (8, 64, 64, 3))
            + np.eye(3)[labels][:, None, None, :]).astype(np.float32)
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    inputs = tf.constant(images)
    with slim.arg_scope(v1_module.inception_v1_arg_scope(weight_decay=0.0)):
      logits, _ = v1_module.inception_v1(
          inputs, num_classes=3, is_training=True, depth_multiplier=0.1,
          min_depth=4, dropout_keep_prob=1.0)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = slim.learning.create_train_op(
        loss, tf.train.AdamOptimizer(0.002))
    moving_mean = [v for v in tf.global_variables()
                   if v.op.name == 'InceptionV1/Conv2d_1a_7x7/BatchNorm/'
                   'moving_mean'][0]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      losses = [sess.run(train_op) for _ in range(8)]
      mean_after = sess.run(moving_mean)
  assert np.all(np.isfinite(losses))
  assert losses[-1] < 0.5 * losses[0], losses
  assert np.any(mean_after != 0.0)  # create_train_op ran the BN updates.
