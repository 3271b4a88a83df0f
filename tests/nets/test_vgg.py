"""Options of the classic convolutional nets: VGG, AlexNet v2 and OverFeat.

Names and shapes at the default size are covered by tests/nets/test_registry.py
(against the published manifests); these tests cover what the registry does
not: dense evaluation on larger inputs, global pooling, fc6 padding, the
VGG configuration table, reuse, unknown batch size and one short training
run per family. Graphs are built without running them except in the
training tests.
"""

import numpy as np
import pytest

from slim_zoo.nets import alexnet, overfeat, vgg
from slim_zoo.nets.compat import slim, tf

# (builder, arg scope, default size, input size giving a 2x2 fc8 map).
NETS = {
    'vgg_a': (vgg.vgg_a, vgg.vgg_arg_scope, 224, 256),
    'vgg_16': (vgg.vgg_16, vgg.vgg_arg_scope, 224, 256),
    'vgg_19': (vgg.vgg_19, vgg.vgg_arg_scope, 224, 256),
    'alexnet_v2': (alexnet.alexnet_v2, alexnet.alexnet_v2_arg_scope, 224, 256),
    'overfeat': (overfeat.overfeat, overfeat.overfeat_arg_scope, 231, 263),
}
NUM_CLASSES = 10


def _build(name, size, batch=1, **kwargs):
  """Builds `name` on a [batch, size, size, 3] placeholder in a new graph."""
  builder, arg_scope, _, _ = NETS[name]
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [batch, size, size, 3])
    kwargs.setdefault('num_classes', NUM_CLASSES)
    with slim.arg_scope(arg_scope(weight_decay=0.0)):
      net, end_points = builder(images, **kwargs)
  return graph, net, end_points


def _variable_names(graph):
  with graph.as_default():
    return [v.op.name for v in tf.global_variables()]


@pytest.mark.parametrize('name', sorted(NETS))
def test_larger_input_gives_spatial_logits(name):
  _, _, _, size = NETS[name]
  _, logits, end_points = _build(name, size, is_training=False,
                                 spatial_squeeze=False)
  assert logits.shape.as_list() == [1, 2, 2, NUM_CLASSES]
  assert end_points[f'{name}/fc8'] is logits


@pytest.mark.parametrize('name', ['vgg_16', 'alexnet_v2', 'overfeat'])
def test_global_pool_gives_one_logit_per_image_at_any_size(name):
  _, _, _, size = NETS[name]
  _, logits, end_points = _build(name, size, is_training=False,
                                 global_pool=True)
  assert logits.shape.as_list() == [1, NUM_CLASSES]
  fc7_depth = end_points[f'{name}/fc7'].shape.as_list()[-1]
  assert end_points['global_pool'].shape.as_list() == [1, 1, 1, fc7_depth]
  assert end_points[f'{name}/fc7'].shape.as_list()[1:3] == [2, 2]


@pytest.mark.parametrize('name,fc6_map', [('vgg_a', 7), ('alexnet_v2', 5),
                                          ('overfeat', 6)])
def test_same_fc_conv_padding_keeps_the_feature_map_size(name, fc6_map):
  _, _, default_size, _ = NETS[name]
  _, logits, end_points = _build(name, default_size, is_training=False,
                                 fc_conv_padding='SAME', spatial_squeeze=False)
  assert end_points[f'{name}/fc6'].shape.as_list()[1:3] == [fc6_map, fc6_map]
  assert logits.shape.as_list() == [1, fc6_map, fc6_map, NUM_CLASSES]


def test_unknown_fc_conv_padding_is_rejected():
  with pytest.raises(ValueError, match="fc_conv_padding.*'FULL'"):
    _build('vgg_a', 224, fc_conv_padding='FULL')


@pytest.mark.parametrize('name,size', [('vgg_a', 64), ('alexnet_v2', 128),
                                       ('overfeat', 128)])
def test_too_small_input_with_valid_fc6_names_the_fix(name, size):
  with pytest.raises(ValueError, match="too small.*fc_conv_padding='SAME'"):
    _build(name, size)


@pytest.mark.parametrize('name,num_convs', [('vgg_a', 8), ('vgg_16', 13),
                                            ('vgg_19', 16)])
def test_configurations_differ_only_in_convs_per_block(name, num_convs):
  graph, _, end_points = _build(name, 224)
  conv_weights = [v for v in _variable_names(graph)
                  if '/conv' in v and v.endswith('/weights')]
  assert len(conv_weights) == num_convs
  # Every block ends with the same pool5 and classifier head.
  assert end_points[f'{name}/pool5'].shape.as_list() == [1, 7, 7, 512]
  names = list(end_points)
  assert names[0] == f'{name}/conv1/conv1_1' and names[-1] == f'{name}/fc8'


def test_convs_per_block_must_name_five_blocks():
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [1, 224, 224, 3])
    with pytest.raises(ValueError, match=r'5 counts.*\(1, 1, 2\)'):
      vgg.vgg(images, (1, 1, 2))


@pytest.mark.parametrize('name', ['vgg_a', 'alexnet_v2', 'overfeat'])
def test_unknown_batch_size(name):
  _, _, default_size, _ = NETS[name]
  _, logits, end_points = _build(name, default_size, batch=None,
                                 is_training=False)
  assert logits.shape.as_list() == [None, NUM_CLASSES]
  assert end_points[f'{name}/pool1'].shape.as_list()[0] is None


@pytest.mark.parametrize('name', ['vgg_a', 'alexnet_v2', 'overfeat'])
def test_reuse_builds_no_new_variables(name):
  builder, arg_scope, size, _ = NETS[name]
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [1, size, size, 3])
    with slim.arg_scope(arg_scope(weight_decay=0.0)):
      first, _ = builder(images, num_classes=NUM_CLASSES, is_training=True)
      count = len(tf.global_variables())
      second, end_points = builder(images, num_classes=NUM_CLASSES,
                                   is_training=False, reuse=True)
      assert len(tf.global_variables()) == count
  assert first is not second
  assert f'{name}/fc8' in end_points


def test_pre_logits_mode_returns_fc7_without_fc8_variables():
  graph, features, end_points = _build('alexnet_v2', 224, num_classes=0,
                                       global_pool=True)
  assert features.shape.as_list() == [1, 1, 1, 4096]
  assert 'alexnet_v2/fc8' not in end_points
  assert not [v for v in _variable_names(graph) if '/fc8/' in v]


def _train_losses(builder, arg_scope, size, steps=3, **kwargs):
  """Losses of `steps` SGD steps on one fixed tiny batch, in train mode."""
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    rng = np.random.RandomState(0)
    images = tf.constant(rng.rand(2, size, size, 3).astype(np.float32))
    labels = tf.constant([0, 1])
    with slim.arg_scope(arg_scope(weight_decay=0.0)):
      logits, _ = builder(images, num_classes=3, is_training=True, **kwargs)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = tf.train.GradientDescentOptimizer(0.05).minimize(loss)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return [sess.run([loss, train_op])[0] for _ in range(steps)]


@pytest.mark.parametrize('name,size', [('vgg_a', 32), ('alexnet_v2', 67)])
def test_training_decreases_the_loss(name, size):
  builder, arg_scope, _, _ = NETS[name]
  # The smallest inputs the nets accept: 'SAME' fc6 on a 1x1 map, pooled.
  # Dropout off so that the three losses differ only by the updates.
  losses = _train_losses(builder, arg_scope, size, fc_conv_padding='SAME',
                         global_pool=True, dropout_keep_prob=1.0)
  assert np.all(np.isfinite(losses))
  assert losses[-1] < losses[0], losses
