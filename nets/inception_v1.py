"""Inception v1 (GoogLeNet), checkpoint-compatible with TF-Slim's InceptionV1.

Szegedy et al., "Going Deeper with Convolutions", 2014
(https://arxiv.org/abs/1409.4842), with batch norm as in TF-Slim.

Every Inception module has the same four branches (1x1; 1x1 -> 3x3;
1x1 -> 3x3; 3x3 max pool -> 1x1), so the body is a table of module depths
read by one module builder.
"""

import collections

from slim_zoo.nets import inception_utils
from slim_zoo.nets.compat import slim, tf

# One Inception module: output depths of Branch_0 1x1; Branch_1 1x1 and 3x3;
# Branch_2 1x1 and 3x3; Branch_3 1x1 after the max pool.
_Module = collections.namedtuple(
    '_Module', ['name', 'depths', 'branch_2_3x3_scope'])
_MaxPool = collections.namedtuple('_MaxPool', ['name', 'kernel_size'])


def _module(name, depths, branch_2_3x3_scope='Conv2d_0b_3x3'):
  return _Module(name, depths, branch_2_3x3_scope)


# Everything after the root block, in order. Spatial sizes are for 224 x 224.
_BODY = (
    _module('Mixed_3b', (64, 96, 128, 16, 32, 32)),  # 28 x 28 x 256
    _module('Mixed_3c', (128, 128, 192, 32, 96, 64)),  # 28 x 28 x 480
    _MaxPool('MaxPool_4a_3x3', [3, 3]),  # 14 x 14 x 480
    _module('Mixed_4b', (192, 96, 208, 16, 48, 64)),  # 14 x 14 x 512
    _module('Mixed_4c', (160, 112, 224, 24, 64, 64)),  # 14 x 14 x 512
    _module('Mixed_4d', (128, 128, 256, 24, 64, 64)),  # 14 x 14 x 512
    _module('Mixed_4e', (112, 144, 288, 32, 64, 64)),  # 14 x 14 x 528
    _module('Mixed_4f', (256, 160, 320, 32, 128, 128)),  # 14 x 14 x 832
    _MaxPool('MaxPool_5a_2x2', [2, 2]),  # 7 x 7 x 832
    # Checkpoint name: the published model calls this 3x3 'Conv2d_0a_3x3'.
    _module('Mixed_5b', (256, 160, 320, 32, 128, 128),
            branch_2_3x3_scope='Conv2d_0a_3x3'),  # 7 x 7 x 832
    _module('Mixed_5c', (384, 192, 384, 48, 128, 128)),  # 7 x 7 x 1024
)

_ROOT_END_POINTS = ('Conv2d_1a_7x7', 'MaxPool_2a_3x3', 'Conv2d_2b_1x1',
                    'Conv2d_2c_3x3', 'MaxPool_3a_3x3')
END_POINTS = _ROOT_END_POINTS + tuple(layer.name for layer in _BODY)


def _inception_module(net, module, depth):
  """Builds one four-branch Inception module [N, H, W, C] -> [N, H, W, C']."""
  d0, d1a, d1b, d2a, d2b, d3 = (depth(d) for d in module.depths)
  with tf.variable_scope(module.name):
    with tf.variable_scope('Branch_0'):
      branch_0 = slim.conv2d(net, d0, [1, 1], scope='Conv2d_0a_1x1')
    with tf.variable_scope('Branch_1'):
      branch_1 = slim.conv2d(net, d1a, [1, 1], scope='Conv2d_0a_1x1')
      branch_1 = slim.conv2d(branch_1, d1b, [3, 3], scope='Conv2d_0b_3x3')
    with tf.variable_scope('Branch_2'):
      branch_2 = slim.conv2d(net, d2a, [1, 1], scope='Conv2d_0a_1x1')
      branch_2 = slim.conv2d(branch_2, d2b, [3, 3],
                             scope=module.branch_2_3x3_scope)
    with tf.variable_scope('Branch_3'):
      branch_3 = slim.max_pool2d(net, [3, 3], scope='MaxPool_0a_3x3')
      branch_3 = slim.conv2d(branch_3, d3, [1, 1], scope='Conv2d_0b_1x1')
    return tf.concat(axis=3, values=[branch_0, branch_1, branch_2, branch_3])


def inception_v1_base(inputs, final_endpoint='Mixed_5c', min_depth=16,
                      depth_multiplier=1.0, include_root_block=True,
                      scope='InceptionV1'):
  """Inception v1 up to `final_endpoint`.

  Args:
    inputs: float Tensor [batch, height, width, channels] (224 x 224 for the
      published model; 32 x 32 is the smallest that reaches Mixed_5c).
    final_endpoint: end point to stop at; one of END_POINTS.
    min_depth: minimum channels of every convolution.
    depth_multiplier: float > 0 scaling every convolution's channels.
    include_root_block: build the stem before Mixed_3b; when False, `inputs`
      is fed to Mixed_3b directly.
    scope: variable scope (string or VariableScope).

  Returns:
    (net, end_points): the tensor at `final_endpoint` (Mixed_5c: [batch,
    height/32, width/32, 1024]) and an ordered dict of every end point built.

  Raises:
    ValueError: on an unknown final_endpoint (the message lists the valid
      ones) or a depth_multiplier <= 0.
  """
  depth = inception_utils.depth_fn(depth_multiplier, min_depth)
  end_points = inception_utils.new_end_points(final_endpoint, END_POINTS)
  with tf.variable_scope(scope, 'InceptionV1', [inputs]):
    with slim.arg_scope([slim.conv2d, slim.fully_connected],
                        weights_initializer=inception_utils.trunc_normal(0.01)):
      with slim.arg_scope([slim.conv2d, slim.max_pool2d], stride=1,
                          padding='SAME'):
        net = inputs
        if include_root_block:
          # 224 x 224 x 3
          net = slim.conv2d(net, depth(64), [7, 7], stride=2,
                            scope='Conv2d_1a_7x7')
          if end_points.add('Conv2d_1a_7x7', net):
            return net, end_points
          # 112 x 112 x 64
          net = slim.max_pool2d(net, [3, 3], stride=2, scope='MaxPool_2a_3x3')
          if end_points.add('MaxPool_2a_3x3', net):
            return net, end_points
          # 56 x 56 x 64
          net = slim.conv2d(net, depth(64), [1, 1], scope='Conv2d_2b_1x1')
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
        for layer in _BODY:
          if isinstance(layer, _MaxPool):
            net = slim.max_pool2d(net, layer.kernel_size, stride=2,
                                  scope=layer.name)
          else:
            net = _inception_module(net, layer, depth)
          if end_points.add(layer.name, net):
            return net, end_points
  end_points.check_reached(END_POINTS)
  return net, end_points


def inception_v1(inputs, num_classes=1000, is_training=True,
                 dropout_keep_prob=0.8, prediction_fn=slim.softmax,
                 spatial_squeeze=True, reuse=None, scope='InceptionV1',
                 global_pool=False, min_depth=16, depth_multiplier=1.0):
  """Inception v1 classifier.

  Args:
    inputs: float Tensor [batch, height, width, 3]; 224 x 224 by default,
      down to 32 x 32 (the final average pool shrinks to the feature map).
    num_classes: number of classes; 0 or None returns the pooled features
      [batch, 1, 1, 1024] and builds no logits variables.
    is_training: batch norm in training mode and dropout on.
    dropout_keep_prob: fraction of pooled activations kept in training.
    prediction_fn: maps logits to 'Predictions'.
    spatial_squeeze: squeeze logits [batch, 1, 1, classes] to
      [batch, classes].
    reuse: whether to reuse the scope's variables.
    scope: variable scope.
    global_pool: average over the whole feature map (any input size gives
      1 x 1) instead of the fixed 7 x 7 window.
    min_depth: minimum channels of every convolution.
    depth_multiplier: float > 0 scaling every convolution's channels.

  Returns:
    (logits [batch, num_classes] or features, end_points).

  Raises:
    ValueError: if depth_multiplier <= 0.
  """
  with tf.variable_scope(scope, 'InceptionV1', [inputs], reuse=reuse) as sc:
    with slim.arg_scope([slim.batch_norm, slim.dropout],
                        is_training=is_training):
      net, end_points = inception_v1_base(
          inputs, scope=sc, min_depth=min_depth,
          depth_multiplier=depth_multiplier)
      with tf.variable_scope('Logits'):
        if global_pool:
          net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
          end_points.add('global_pool', net)
        else:
          kernel_size = inception_utils.reduced_kernel_size_for_small_input(
              net, [7, 7])
          net = slim.avg_pool2d(net, kernel_size, stride=1,
                                scope='AvgPool_0a_7x7')
          end_points.add('AvgPool_0a_7x7', net)
        if not num_classes:
          return net, end_points
        # 1 x 1 x 1024
        net = slim.dropout(net, dropout_keep_prob, scope='Dropout_0b')
        logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None,
                             normalizer_fn=None, scope='Conv2d_0c_1x1')
        if spatial_squeeze:
          logits = tf.squeeze(logits, [1, 2], name='SpatialSqueeze')
        end_points.add('Logits', logits)
        end_points.add('Predictions',
                       prediction_fn(logits, scope='Predictions'))
  return logits, end_points


inception_v1.default_image_size = 224

inception_v1_arg_scope = inception_utils.inception_arg_scope
