"""Inception v2 (BN-Inception), checkpoint-compatible with TF-Slim's InceptionV2.

Ioffe and Szegedy, "Batch Normalization: Accelerating Deep Network Training
by Reducing Internal Covariate Shift", 2015 (https://arxiv.org/abs/1502.03167).

After the stem, the network is two kinds of blocks with regular scope names:
four-branch Inception modules (1x1; 1x1 -> 3x3; 1x1 -> 3x3 -> 3x3;
pool -> 1x1) and grid-size reductions (two strided towers and a max pool),
so the body is a table of depths read by two block builders.
"""

import collections

from slim_zoo.nets import inception_utils
from slim_zoo.nets.compat import slim, tf
from slim_zoo.errors import UsageError

trunc_normal = inception_utils.trunc_normal

# Four-branch module: Branch_0 1x1 depth; Branch_1 (1x1, 3x3) depths;
# Branch_2 (1x1, 3x3) depths, the 3x3 applied twice; Branch_3 pool kind
# ('avg' or 'max') and the 1x1 depth after it.
_Module = collections.namedtuple(
    '_Module', ['name', 'branch_0', 'branch_1', 'branch_2', 'pool',
                'branch_3'])
# Reduction: Branch_0 (1x1, strided 3x3) depths; Branch_1 (1x1, 3x3,
# strided 3x3) depths, the last two equal; Branch_2 is a strided max pool.
_Reduction = collections.namedtuple(
    '_Reduction', ['name', 'branch_0', 'branch_1'])

# Everything after the root block, in order. Spatial sizes are for 224 x 224.
_BODY = (
    _Module('Mixed_3b', 64, (64, 64), (64, 96), 'avg', 32),  # 28 x 28 x 256
    _Module('Mixed_3c', 64, (64, 96), (64, 96), 'avg', 64),  # 28 x 28 x 320
    _Reduction('Mixed_4a', (128, 160), (64, 96)),  # 14 x 14 x 576
    _Module('Mixed_4b', 224, (64, 96), (96, 128), 'avg', 128),  # 14x14x576
    _Module('Mixed_4c', 192, (96, 128), (96, 128), 'avg', 128),  # 14x14x576
    _Module('Mixed_4d', 160, (128, 160), (128, 160), 'avg', 96),  # 14x14x576
    _Module('Mixed_4e', 96, (128, 192), (160, 192), 'avg', 96),  # 14x14x576
    _Reduction('Mixed_5a', (128, 192), (192, 256)),  # 7 x 7 x 1024
    _Module('Mixed_5b', 352, (192, 320), (160, 224), 'avg', 128),  # 7x7x1024
    _Module('Mixed_5c', 352, (192, 320), (192, 224), 'max', 128),  # 7x7x1024
)

_ROOT_END_POINTS = ('Conv2d_1a_7x7', 'MaxPool_2a_3x3', 'Conv2d_2b_1x1',
                    'Conv2d_2c_3x3', 'MaxPool_3a_3x3')
END_POINTS = _ROOT_END_POINTS + tuple(block.name for block in _BODY)


def _inception_module(net, block, depth, concat_dim):
  """Four-branch module, stride 1: [N, H, W, C] -> [N, H, W, C']."""
  with tf.variable_scope(block.name):
    with tf.variable_scope('Branch_0'):
      branch_0 = slim.conv2d(net, depth(block.branch_0), [1, 1],
                             scope='Conv2d_0a_1x1')
    with tf.variable_scope('Branch_1'):
      branch_1 = slim.conv2d(net, depth(block.branch_1[0]), [1, 1],
                             weights_initializer=trunc_normal(0.09),
                             scope='Conv2d_0a_1x1')
      branch_1 = slim.conv2d(branch_1, depth(block.branch_1[1]), [3, 3],
                             scope='Conv2d_0b_3x3')
    with tf.variable_scope('Branch_2'):
      branch_2 = slim.conv2d(net, depth(block.branch_2[0]), [1, 1],
                             weights_initializer=trunc_normal(0.09),
                             scope='Conv2d_0a_1x1')
      branch_2 = slim.conv2d(branch_2, depth(block.branch_2[1]), [3, 3],
                             scope='Conv2d_0b_3x3')
      branch_2 = slim.conv2d(branch_2, depth(block.branch_2[1]), [3, 3],
                             scope='Conv2d_0c_3x3')
    with tf.variable_scope('Branch_3'):
      if block.pool == 'avg':
        branch_3 = slim.avg_pool2d(net, [3, 3], scope='AvgPool_0a_3x3')
      else:
        branch_3 = slim.max_pool2d(net, [3, 3], scope='MaxPool_0a_3x3')
      branch_3 = slim.conv2d(branch_3, depth(block.branch_3), [1, 1],
                             weights_initializer=trunc_normal(0.1),
                             scope='Conv2d_0b_1x1')
    return tf.concat(axis=concat_dim,
                     values=[branch_0, branch_1, branch_2, branch_3])


def _reduction(net, block, depth, concat_dim):
  """Grid reduction, stride 2: [N, H, W, C] -> [N, H/2, W/2, C']."""
  with tf.variable_scope(block.name):
    with tf.variable_scope('Branch_0'):
      branch_0 = slim.conv2d(net, depth(block.branch_0[0]), [1, 1],
                             weights_initializer=trunc_normal(0.09),
                             scope='Conv2d_0a_1x1')
      branch_0 = slim.conv2d(branch_0, depth(block.branch_0[1]), [3, 3],
                             stride=2, scope='Conv2d_1a_3x3')
    with tf.variable_scope('Branch_1'):
      branch_1 = slim.conv2d(net, depth(block.branch_1[0]), [1, 1],
                             weights_initializer=trunc_normal(0.09),
                             scope='Conv2d_0a_1x1')
      branch_1 = slim.conv2d(branch_1, depth(block.branch_1[1]), [3, 3],
                             scope='Conv2d_0b_3x3')
      branch_1 = slim.conv2d(branch_1, depth(block.branch_1[1]), [3, 3],
                             stride=2, scope='Conv2d_1a_3x3')
    with tf.variable_scope('Branch_2'):
      branch_2 = slim.max_pool2d(net, [3, 3], stride=2, scope='MaxPool_1a_3x3')
    return tf.concat(axis=concat_dim, values=[branch_0, branch_1, branch_2])


def inception_v2_base(inputs, final_endpoint='Mixed_5c', min_depth=16,
                      depth_multiplier=1.0, use_separable_conv=True,
                      data_format='NHWC', include_root_block=True,
                      scope=None):
  """Inception v2 up to `final_endpoint`.

  Args:
    inputs: float Tensor [batch, height, width, channels] (NHWC) or
      [batch, channels, height, width] (NCHW); 224 x 224 for the published
      model, 32 x 32 at least to reach Mixed_5c.
    final_endpoint: end point to stop at; one of END_POINTS.
    min_depth: minimum channels of every convolution.
    depth_multiplier: float > 0 scaling every convolution's channels.
    use_separable_conv: make the first 7x7 convolution depthwise separable,
      as in the published checkpoint; False uses a plain convolution.
    data_format: 'NHWC' or 'NCHW' (the latter needs
      use_separable_conv=False).
    include_root_block: build the stem before Mixed_3b; when False, `inputs`
      is fed to Mixed_3b directly.
    scope: variable scope (string or VariableScope).

  Returns:
    (net, end_points): the tensor at `final_endpoint` (Mixed_5c: [batch,
    height/32, width/32, 1024] in NHWC) and an ordered dict of every end
    point built.

  Raises:
    ValueError: on an unknown final_endpoint, a depth_multiplier <= 0, an
      unknown data_format, or NCHW with use_separable_conv.
  """
  depth = inception_utils.depth_fn(depth_multiplier, min_depth)
  if data_format not in ('NHWC', 'NCHW'):
    raise UsageError(f"data_format must be 'NHWC' or 'NCHW', got "
                     f'{data_format!r}.')
  if data_format == 'NCHW' and use_separable_conv:
    raise UsageError("data_format='NCHW' needs use_separable_conv=False: "
                     'separable convolutions only support NHWC.')
  concat_dim = 3 if data_format == 'NHWC' else 1
  end_points = inception_utils.new_end_points(final_endpoint, END_POINTS)
  with tf.variable_scope(scope, 'InceptionV2', [inputs]):
    with slim.arg_scope(
        [slim.conv2d, slim.max_pool2d, slim.avg_pool2d], stride=1,
        padding='SAME', data_format=data_format):
      net = inputs
      if include_root_block:
        # 224 x 224 x 3
        if use_separable_conv:
          # The depthwise step widens the 3 input channels to at most 24 so
          # the pointwise step has something to mix.
          depthwise_multiplier = min(int(depth(64) / 3), 8)
          net = slim.separable_conv2d(
              net, depth(64), [7, 7], depth_multiplier=depthwise_multiplier,
              stride=2, padding='SAME', weights_initializer=trunc_normal(1.0),
              scope='Conv2d_1a_7x7')
        else:
          net = slim.conv2d(net, depth(64), [7, 7], stride=2,
                            weights_initializer=trunc_normal(1.0),
                            scope='Conv2d_1a_7x7')
        if end_points.add('Conv2d_1a_7x7', net):
          return net, end_points
        # 112 x 112 x 64
        net = slim.max_pool2d(net, [3, 3], stride=2, scope='MaxPool_2a_3x3')
        if end_points.add('MaxPool_2a_3x3', net):
          return net, end_points
        # 56 x 56 x 64
        net = slim.conv2d(net, depth(64), [1, 1],
                          weights_initializer=trunc_normal(0.1),
                          scope='Conv2d_2b_1x1')
        if end_points.add('Conv2d_2b_1x1', net):
          return net, end_points
        net = slim.conv2d(net, depth(192), [3, 3], scope='Conv2d_2c_3x3')
        if end_points.add('Conv2d_2c_3x3', net):
          return net, end_points
        # 56 x 56 x 192
        net = slim.max_pool2d(net, [3, 3], stride=2, scope='MaxPool_3a_3x3')
        if end_points.add('MaxPool_3a_3x3', net):
          return net, end_points
        # 28 x 28 x 192
      for block in _BODY:
        if isinstance(block, _Reduction):
          net = _reduction(net, block, depth, concat_dim)
        else:
          net = _inception_module(net, block, depth, concat_dim)
        if end_points.add(block.name, net):
          return net, end_points
  end_points.check_reached(END_POINTS)
  return net, end_points


def inception_v2(inputs, num_classes=1000, is_training=True,
                 dropout_keep_prob=0.8, min_depth=16, depth_multiplier=1.0,
                 prediction_fn=slim.softmax, spatial_squeeze=True, reuse=None,
                 scope='InceptionV2', global_pool=False):
  """Inception v2 classifier.

  Args:
    inputs: float Tensor [batch, height, width, 3]; 224 x 224 by default,
      down to 32 x 32 (the final average pool shrinks to the feature map).
    num_classes: number of classes; 0 or None returns the pooled features
      [batch, 1, 1, 1024] and builds no logits variables.
    is_training: batch norm in training mode and dropout on.
    dropout_keep_prob: fraction of pooled activations kept in training.
    min_depth: minimum channels of every convolution.
    depth_multiplier: float > 0 scaling every convolution's channels.
    prediction_fn: maps logits to 'Predictions'.
    spatial_squeeze: squeeze logits [batch, 1, 1, classes] to
      [batch, classes].
    reuse: whether to reuse the scope's variables.
    scope: variable scope.
    global_pool: average over the whole feature map (any input size gives
      1 x 1) instead of the fixed 7 x 7 window.

  Returns:
    (logits [batch, num_classes] or features, end_points).

  Raises:
    ValueError: if depth_multiplier <= 0.
  """
  with tf.variable_scope(scope, 'InceptionV2', [inputs], reuse=reuse) as sc:
    with slim.arg_scope([slim.batch_norm, slim.dropout],
                        is_training=is_training):
      net, end_points = inception_v2_base(
          inputs, scope=sc, min_depth=min_depth,
          depth_multiplier=depth_multiplier)
      with tf.variable_scope('Logits'):
        if global_pool:
          net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
          end_points.add('global_pool', net)
        else:
          kernel_size = inception_utils.reduced_kernel_size_for_small_input(
              net, [7, 7])
          net = slim.avg_pool2d(net, kernel_size, padding='VALID',
                                scope='AvgPool_1a_{}x{}'.format(*kernel_size))
          end_points.add('AvgPool_1a', net)
        if not num_classes:
          return net, end_points
        # 1 x 1 x 1024
        net = slim.dropout(net, keep_prob=dropout_keep_prob, scope='Dropout_1b')
        end_points.add('PreLogits', net)
        logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None,
                             normalizer_fn=None, scope='Conv2d_1c_1x1')
        if spatial_squeeze:
          logits = tf.squeeze(logits, [1, 2], name='SpatialSqueeze')
      end_points.add('Logits', logits)
      end_points.add('Predictions', prediction_fn(logits, scope='Predictions'))
  return logits, end_points


inception_v2.default_image_size = 224

inception_v2_arg_scope = inception_utils.inception_arg_scope
