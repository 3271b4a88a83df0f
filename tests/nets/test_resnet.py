"""Options of ResNet v1 and v2 and of the shared resnet_utils.

Names and shapes of the published variants are covered by
tests/nets/test_registry.py. Here a tiny network (four blocks of two units,
base depths 1-2) exercises the options through the generic builders, which is
what the named variants call: output stride (atrous), global pooling, root
block, non-strided activations, reuse, unknown batch size and one short
training run per version. Only the depth-multiplier test builds a full
ResNet-50 graph (without running it).
"""

import numpy as np
import pytest

from slim_zoo.nets import resnet_utils, resnet_v1, resnet_v2
from slim_zoo.nets.compat import slim, tf

VERSIONS = {
    'resnet_v1': (resnet_v1.resnet_v1, resnet_v1.resnet_v1_block),
    'resnet_v2': (resnet_v2.resnet_v2, resnet_v2.resnet_v2_block),
}
NUM_CLASSES = 5


def _tiny_blocks(block_fn):
  """Nominal stride 8 (32 with the root block), outputs 8 channels."""
  return [block_fn('block1', base_depth=1, num_units=2, stride=2),
          block_fn('block2', base_depth=2, num_units=2, stride=2),
          block_fn('block3', base_depth=2, num_units=2, stride=2),
          block_fn('block4', base_depth=2, num_units=2, stride=1)]


def _tiny(version, images, **kwargs):
  generic, block_fn = VERSIONS[version]
  with slim.arg_scope(resnet_utils.resnet_arg_scope(weight_decay=0.0)):
    return generic(images, _tiny_blocks(block_fn), **kwargs)


def _variables():
  return {v.op.name: v.shape.as_list() for v in tf.global_variables()}


def _spatial(tensor):
  return tensor.shape.as_list()[1:3]


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_output_stride_changes_resolution_not_variables(version):
  sizes = {}
  variables = {}
  for output_stride, expected in ((None, 3), (16, 5), (8, 9)):
    with tf.Graph().as_default():
      images = tf.placeholder(tf.float32, [1, 65, 65, 3])
      net, end_points = _tiny(version, images, is_training=False,
                              global_pool=False, output_stride=output_stride)
      sizes[output_stride] = _spatial(net)
      variables[output_stride] = _variables()
      assert _spatial(end_points[f'{version}/block4']) == [expected] * 2
  assert sizes == {None: [3, 3], 16: [5, 5], 8: [9, 9]}
  assert variables[8] == variables[16] == variables[None]


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_atrous_features_are_the_nominal_features_densified(version):
  # conv2d_same makes a strided unit equal to its stride-1 version
  # subsampled, so the stride-8 map subsampled by 4 is the stride-32 map.
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    images = tf.constant(
        np.random.RandomState(0).rand(1, 65, 65, 3).astype(np.float32))
    nominal, _ = _tiny(version, images, is_training=False, global_pool=False,
                       scope='tiny')
    dense, _ = _tiny(version, images, is_training=False, global_pool=False,
                     output_stride=8, reuse=True, scope='tiny')
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      nominal, dense = sess.run([nominal, dense])
  assert dense.shape == (1, 9, 9, 8) and nominal.shape == (1, 3, 3, 8)
  assert np.abs(nominal).max() > 0
  np.testing.assert_allclose(dense[:, ::4, ::4, :], nominal, rtol=1e-4,
                             atol=1e-4)


@pytest.mark.parametrize('output_stride', [2, 12, 64])
def test_invalid_output_stride_is_rejected(output_stride):
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [1, 64, 64, 3])
    with pytest.raises(ValueError, match=(
        rf'output_stride must be one of 4, 8, 16, 32 .*got {output_stride}')):
      _tiny('resnet_v1', images, output_stride=output_stride)


def test_stack_blocks_dense_rejects_unreachable_stride():
  blocks = _tiny_blocks(resnet_v1.resnet_v1_block)
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [1, 16, 16, 4])
    with pytest.raises(ValueError, match=r'output_stride 3 .*1, 2, 4, 8'):
      resnet_utils.stack_blocks_dense(images, blocks, output_stride=3)


def test_depth_multiplier_and_min_base_depth_set_the_channels():
  # One full ResNet-50 graph per call; v2 shares the named-builder code.
  builder = resnet_v1.resnet_v1_50
  def channels(**kwargs):
    with tf.Graph().as_default():
      images = tf.placeholder(tf.float32, [1, 32, 32, 3])
      with slim.arg_scope(resnet_utils.resnet_arg_scope()):
        net, end_points = builder(images, num_classes=None, **kwargs)
    block1 = end_points[f'{builder.__name__}/block1']
    return block1.shape.as_list()[-1], net.shape.as_list()[-1]

  # Bottleneck depths 64..512 scaled by 0.25 -> outputs 4x that.
  assert channels(depth_multiplier=0.25) == (64, 512)
  # min_base_depth lifts block1's 16 (and block2's 32) to 40.
  assert channels(depth_multiplier=0.25, min_base_depth=40) == (160, 512)


def test_depth_multiplier_zero_puts_every_block_at_min_base_depth():
  # TF-Slim's resnet_v1_50(..., min_base_depth=5, depth_multiplier=0).
  blocks = resnet_utils.imagenet_blocks(resnet_v1.bottleneck, 50,
                                        min_base_depth=5, depth_multiplier=0)
  for block in blocks:
    assert {unit['depth_bottleneck'] for unit in block.args} == {5}, block
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [1, 32, 32, 3])
    with slim.arg_scope(resnet_utils.resnet_arg_scope()):
      net, end_points = resnet_v1.resnet_v1_50(
          images, num_classes=None, min_base_depth=5, depth_multiplier=0)
  for i in range(1, 5):
    assert end_points[f'resnet_v1_50/block{i}'].shape[-1] == 4 * 5
  assert net.shape.as_list() == [1, 1, 1, 20]


@pytest.mark.parametrize('kwargs, match', [
    ({'depth_multiplier': -0.5}, r'depth_multiplier .*>= 0.*-0\.5'),
    ({'depth_multiplier': '1'}, 'depth_multiplier'),
    ({'depth_multiplier': 0, 'min_base_depth': 0}, 'min_base_depth .*>= 1'),
])
def test_invalid_depth_options_are_rejected(kwargs, match):
  with pytest.raises(ValueError, match=match):
    resnet_utils.imagenet_blocks(resnet_v1.bottleneck, 50, **kwargs)


def test_unknown_imagenet_depth_lists_the_valid_ones():
  with pytest.raises(ValueError, match=r'34.*50, 101, 152, 200'):
    resnet_utils.imagenet_blocks(resnet_v1.bottleneck, 34)


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_unknown_batch_size_and_end_point_names(version):
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [None, 32, 32, 3])
    logits, end_points = _tiny(version, images, num_classes=NUM_CLASSES,
                               is_training=False)
  assert logits.shape.as_list() == [None, NUM_CLASSES]
  unit = f'{version}/block1/unit_1/bottleneck_{version[-2:]}'
  for name in (f'{version}/conv1', unit, unit + '/conv1', unit + '/shortcut',
               f'{version}/block4', 'global_pool', f'{version}/logits',
               f'{version}/spatial_squeeze', 'predictions'):
    assert end_points[name].shape.as_list()[0] is None, name
  assert list(end_points)[0] == f'{version}/conv1'
  assert list(end_points)[-1] == 'predictions'


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_without_global_pool_logits_are_spatial(version):
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [1, 64, 64, 3])
    logits, end_points = _tiny(version, images, num_classes=NUM_CLASSES,
                               global_pool=False, spatial_squeeze=False)
  assert logits.shape.as_list() == [1, 2, 2, NUM_CLASSES]
  assert 'global_pool' not in end_points


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_reuse_builds_no_new_variables(version):
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [1, 32, 32, 3])
    _tiny(version, images, num_classes=NUM_CLASSES, is_training=True,
          scope='tiny')
    count = len(tf.global_variables())
    _, end_points = _tiny(version, images, num_classes=NUM_CLASSES,
                          is_training=False, reuse=True, scope='tiny')
    assert len(tf.global_variables()) == count
  assert 'tiny/logits' in end_points


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_store_non_strided_activations(version):
  def build(store):
    with tf.Graph().as_default():
      images = tf.placeholder(tf.float32, [1, 64, 64, 3])
      net, end_points = _tiny(version, images, global_pool=False,
                              store_non_strided_activations=store)
      return net, end_points, _variables()

  net, end_points, variables = build(False)
  stored_net, stored, stored_variables = build(True)
  # Root: 64 -> 16; block1 strides 2 in its last unit.
  assert _spatial(end_points[f'{version}/block1']) == [8, 8]
  assert _spatial(stored[f'{version}/block1']) == [16, 16]
  assert _spatial(stored[f'{version}/block3']) == [4, 4]
  assert _spatial(stored_net) == _spatial(net) == [2, 2]
  assert stored_variables == variables


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_without_root_block_the_first_block_sees_the_input(version):
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [1, 16, 16, 3])
    net, end_points = _tiny(version, images, global_pool=False,
                            include_root_block=False, output_stride=4)
    names = _variables()
  assert not [n for n in names if n.startswith(f'{version}/conv1/')]
  assert f'{version}/conv1' not in end_points
  assert _spatial(end_points[f'{version}/block1/unit_1/'
                             f'bottleneck_{version[-2:]}']) == [16, 16]
  assert _spatial(net) == [4, 4]


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_training_decreases_loss_and_updates_batch_norm(version):
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    rng = np.random.RandomState(0)
    images = tf.constant(rng.rand(2, 32, 32, 3).astype(np.float32))
    labels = tf.constant([0, 1])
    logits, _ = _tiny(version, images, num_classes=3, is_training=True)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = slim.learning.create_train_op(
        loss, tf.train.GradientDescentOptimizer(0.1))
    moving_mean = [v for v in tf.global_variables()
                   if v.op.name.endswith('moving_mean')][0]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      losses = [sess.run(train_op) for _ in range(4)]
      moved = sess.run(moving_mean)
  assert np.all(np.isfinite(losses))
  assert losses[-1] < losses[0], losses
  # Train mode must run the batch-norm updates (is_training reached BN).
  assert np.abs(moved).max() > 0
