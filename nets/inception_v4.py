"""Inception v4, checkpoint-compatible with TF-Slim's InceptionV4.

Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning", 2016 (https://arxiv.org/abs/1602.07261).

A straight-line stem, then 4 Inception-A, a Reduction-A, 7 Inception-B, a
Reduction-B and 3 Inception-C blocks; each block kind is one function and
the sequence is a table.
"""

from slim_zoo.nets import inception_utils
from slim_zoo.nets.compat import slim, tf


def _identity_depth(d):
  return d


def block_inception_a(inputs, scope=None, reuse=None, depth=_identity_depth):
  """Inception-A: [N, 35, 35, 384] -> [N, 35, 35, 384].

  `depth` maps the published channel counts to the built ones (see
  inception_utils.depth_fn).
  """
  with slim.arg_scope([slim.conv2d, slim.avg_pool2d, slim.max_pool2d],
                      stride=1, padding='SAME'):
    with tf.variable_scope(scope, 'BlockInceptionA', [inputs], reuse=reuse):
      with tf.variable_scope('Branch_0'):
        branch_0 = slim.conv2d(inputs, depth(96), [1, 1],
                               scope='Conv2d_0a_1x1')
      with tf.variable_scope('Branch_1'):
        branch_1 = slim.conv2d(inputs, depth(64), [1, 1],
                               scope='Conv2d_0a_1x1')
        branch_1 = slim.conv2d(branch_1, depth(96), [3, 3],
                               scope='Conv2d_0b_3x3')
      with tf.variable_scope('Branch_2'):
        branch_2 = slim.conv2d(inputs, depth(64), [1, 1],
                               scope='Conv2d_0a_1x1')
        branch_2 = slim.conv2d(branch_2, depth(96), [3, 3],
                               scope='Conv2d_0b_3x3')
        branch_2 = slim.conv2d(branch_2, depth(96), [3, 3],
                               scope='Conv2d_0c_3x3')
      with tf.variable_scope('Branch_3'):
        branch_3 = slim.avg_pool2d(inputs, [3, 3], scope='AvgPool_0a_3x3')
        branch_3 = slim.conv2d(branch_3, depth(96), [1, 1],
                               scope='Conv2d_0b_1x1')
      return tf.concat(axis=3, values=[branch_0, branch_1, branch_2, branch_3])


def block_reduction_a(inputs, scope=None, reuse=None, depth=_identity_depth):
  """Reduction-A: [N, 35, 35, 384] -> [N, 17, 17, 1024]."""
  with slim.arg_scope([slim.conv2d, slim.avg_pool2d, slim.max_pool2d],
                      stride=1, padding='SAME'):
    with tf.variable_scope(scope, 'BlockReductionA', [inputs], reuse=reuse):
      with tf.variable_scope('Branch_0'):
        branch_0 = slim.conv2d(inputs, depth(384), [3, 3], stride=2,
                               padding='VALID', scope='Conv2d_1a_3x3')
      with tf.variable_scope('Branch_1'):
        branch_1 = slim.conv2d(inputs, depth(192), [1, 1],
                               scope='Conv2d_0a_1x1')
        branch_1 = slim.conv2d(branch_1, depth(224), [3, 3],
                               scope='Conv2d_0b_3x3')
        branch_1 = slim.conv2d(branch_1, depth(256), [3, 3], stride=2,
                               padding='VALID', scope='Conv2d_1a_3x3')
      with tf.variable_scope('Branch_2'):
        branch_2 = slim.max_pool2d(inputs, [3, 3], stride=2, padding='VALID',
                                   scope='MaxPool_1a_3x3')
      return tf.concat(axis=3, values=[branch_0, branch_1, branch_2])


def block_inception_b(inputs, scope=None, reuse=None, depth=_identity_depth):
  """Inception-B: [N, 17, 17, 1024] -> [N, 17, 17, 1024]."""
  with slim.arg_scope([slim.conv2d, slim.avg_pool2d, slim.max_pool2d],
                      stride=1, padding='SAME'):
    with tf.variable_scope(scope, 'BlockInceptionB', [inputs], reuse=reuse):
      with tf.variable_scope('Branch_0'):
        branch_0 = slim.conv2d(inputs, depth(384), [1, 1],
                               scope='Conv2d_0a_1x1')
      with tf.variable_scope('Branch_1'):
        branch_1 = slim.conv2d(inputs, depth(192), [1, 1],
                               scope='Conv2d_0a_1x1')
        branch_1 = slim.conv2d(branch_1, depth(224), [1, 7],
                               scope='Conv2d_0b_1x7')
        branch_1 = slim.conv2d(branch_1, depth(256), [7, 1],
                               scope='Conv2d_0c_7x1')
      with tf.variable_scope('Branch_2'):
        branch_2 = slim.conv2d(inputs, depth(192), [1, 1],
                               scope='Conv2d_0a_1x1')
        branch_2 = slim.conv2d(branch_2, depth(192), [7, 1],
                               scope='Conv2d_0b_7x1')
        branch_2 = slim.conv2d(branch_2, depth(224), [1, 7],
                               scope='Conv2d_0c_1x7')
        branch_2 = slim.conv2d(branch_2, depth(224), [7, 1],
                               scope='Conv2d_0d_7x1')
        branch_2 = slim.conv2d(branch_2, depth(256), [1, 7],
                               scope='Conv2d_0e_1x7')
      with tf.variable_scope('Branch_3'):
        branch_3 = slim.avg_pool2d(inputs, [3, 3], scope='AvgPool_0a_3x3')
        branch_3 = slim.conv2d(branch_3, depth(128), [1, 1],
                               scope='Conv2d_0b_1x1')
      return tf.concat(axis=3, values=[branch_0, branch_1, branch_2, branch_3])


def block_reduction_b(inputs, scope=None, reuse=None, depth=_identity_depth):
  """Reduction-B: [N, 17, 17, 1024] -> [N, 8, 8, 1536]."""
  with slim.arg_scope([slim.conv2d, slim.avg_pool2d, slim.max_pool2d],
                      stride=1, padding='SAME'):
    with tf.variable_scope(scope, 'BlockReductionB', [inputs], reuse=reuse):
      with tf.variable_scope('Branch_0'):
        branch_0 = slim.conv2d(inputs, depth(192), [1, 1],
                               scope='Conv2d_0a_1x1')
        branch_0 = slim.conv2d(branch_0, depth(192), [3, 3], stride=2,
                               padding='VALID', scope='Conv2d_1a_3x3')
      with tf.variable_scope('Branch_1'):
        branch_1 = slim.conv2d(inputs, depth(256), [1, 1],
                               scope='Conv2d_0a_1x1')
        branch_1 = slim.conv2d(branch_1, depth(256), [1, 7],
                               scope='Conv2d_0b_1x7')
        branch_1 = slim.conv2d(branch_1, depth(320), [7, 1],
                               scope='Conv2d_0c_7x1')
        branch_1 = slim.conv2d(branch_1, depth(320), [3, 3], stride=2,
                               padding='VALID', scope='Conv2d_1a_3x3')
      with tf.variable_scope('Branch_2'):
        branch_2 = slim.max_pool2d(inputs, [3, 3], stride=2, padding='VALID',
                                   scope='MaxPool_1a_3x3')
      return tf.concat(axis=3, values=[branch_0, branch_1, branch_2])


def block_inception_c(inputs, scope=None, reuse=None, depth=_identity_depth):
  """Inception-C: [N, 8, 8, 1536] -> [N, 8, 8, 1536]."""
  with slim.arg_scope([slim.conv2d, slim.avg_pool2d, slim.max_pool2d],
                      stride=1, padding='SAME'):
    with tf.variable_scope(scope, 'BlockInceptionC', [inputs], reuse=reuse):
      with tf.variable_scope('Branch_0'):
        branch_0 = slim.conv2d(inputs, depth(256), [1, 1],
                               scope='Conv2d_0a_1x1')
      with tf.variable_scope('Branch_1'):
        branch_1 = slim.conv2d(inputs, depth(384), [1, 1],
                               scope='Conv2d_0a_1x1')
        branch_1 = tf.concat(axis=3, values=[
            slim.conv2d(branch_1, depth(256), [1, 3], scope='Conv2d_0b_1x3'),
            slim.conv2d(branch_1, depth(256), [3, 1], scope='Conv2d_0c_3x1')])
      with tf.variable_scope('Branch_2'):
        branch_2 = slim.conv2d(inputs, depth(384), [1, 1],
                               scope='Conv2d_0a_1x1')
        branch_2 = slim.conv2d(branch_2, depth(448), [3, 1],
                               scope='Conv2d_0b_3x1')
        branch_2 = slim.conv2d(branch_2, depth(512), [1, 3],
                               scope='Conv2d_0c_1x3')
        branch_2 = tf.concat(axis=3, values=[
            slim.conv2d(branch_2, depth(256), [1, 3], scope='Conv2d_0d_1x3'),
            slim.conv2d(branch_2, depth(256), [3, 1], scope='Conv2d_0e_3x1')])
      with tf.variable_scope('Branch_3'):
        branch_3 = slim.avg_pool2d(inputs, [3, 3], scope='AvgPool_0a_3x3')
        branch_3 = slim.conv2d(branch_3, depth(256), [1, 1],
                               scope='Conv2d_0b_1x1')
      return tf.concat(axis=3, values=[branch_0, branch_1, branch_2, branch_3])


# The blocks after the stem, in order. Spatial sizes are for 299 x 299.
_BODY = (
    (('Mixed_5b', 'Mixed_5c', 'Mixed_5d', 'Mixed_5e'),
     block_inception_a),  # 35 x 35 x 384
    (('Mixed_6a',), block_reduction_a),  # 17 x 17 x 1024
    (('Mixed_6b', 'Mixed_6c', 'Mixed_6d', 'Mixed_6e', 'Mixed_6f', 'Mixed_6g',
      'Mixed_6h'), block_inception_b),  # 17 x 17 x 1024
    (('Mixed_7a',), block_reduction_b),  # 8 x 8 x 1536
    (('Mixed_7b', 'Mixed_7c', 'Mixed_7d'), block_inception_c),  # 8x8x1536
)

END_POINTS = (
    ('Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3', 'Mixed_3a',
     'Mixed_4a', 'Mixed_5a')
    + tuple(name for names, _ in _BODY for name in names))


def inception_v4_base(inputs, final_endpoint='Mixed_7d', scope=None,
                      min_depth=16, depth_multiplier=1.0):
  """Inception v4 up to `final_endpoint`.

  Args:
    inputs: float Tensor [batch, height, width, channels]; 299 x 299 for the
      published model, 75 x 75 at least to reach Mixed_7d.
    final_endpoint: end point to stop at; one of END_POINTS.
    scope: variable scope (string or VariableScope).
    min_depth: minimum channels of every convolution.
    depth_multiplier: float > 0 scaling every convolution's channels.

  Returns:
    (net, end_points): the tensor at `final_endpoint` (Mixed_7d at 299 x 299:
    [batch, 8, 8, 1536]) and an ordered dict of every end point built.

  Raises:
    ValueError: on an unknown final_endpoint (the message lists the valid
      ones) or a depth_multiplier <= 0.
  """
  depth = inception_utils.depth_fn(depth_multiplier, min_depth)
  end_points = inception_utils.new_end_points(final_endpoint, END_POINTS)
  with tf.variable_scope(scope, 'InceptionV4', [inputs]):
    with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d],
                        stride=1, padding='SAME'):
      # 299 x 299 x 3
      net = slim.conv2d(inputs, depth(32), [3, 3], stride=2, padding='VALID',
                        scope='Conv2d_1a_3x3')
      if end_points.add('Conv2d_1a_3x3', net):
        return net, end_points
      # 149 x 149 x 32
      net = slim.conv2d(net, depth(32), [3, 3], padding='VALID',
                        scope='Conv2d_2a_3x3')
      if end_points.add('Conv2d_2a_3x3', net):
        return net, end_points
      # 147 x 147 x 32
      net = slim.conv2d(net, depth(64), [3, 3], scope='Conv2d_2b_3x3')
      if end_points.add('Conv2d_2b_3x3', net):
        return net, end_points
      # 147 x 147 x 64
      with tf.variable_scope('Mixed_3a'):
        with tf.variable_scope('Branch_0'):
          branch_0 = slim.max_pool2d(net, [3, 3], stride=2, padding='VALID',
                                     scope='MaxPool_0a_3x3')
        with tf.variable_scope('Branch_1'):
          branch_1 = slim.conv2d(net, depth(96), [3, 3], stride=2,
                                 padding='VALID', scope='Conv2d_0a_3x3')
        net = tf.concat(axis=3, values=[branch_0, branch_1])
      if end_points.add('Mixed_3a', net):
        return net, end_points
      # 73 x 73 x 160
      with tf.variable_scope('Mixed_4a'):
        with tf.variable_scope('Branch_0'):
          branch_0 = slim.conv2d(net, depth(64), [1, 1], scope='Conv2d_0a_1x1')
          branch_0 = slim.conv2d(branch_0, depth(96), [3, 3], padding='VALID',
                                 scope='Conv2d_1a_3x3')
        with tf.variable_scope('Branch_1'):
          branch_1 = slim.conv2d(net, depth(64), [1, 1], scope='Conv2d_0a_1x1')
          branch_1 = slim.conv2d(branch_1, depth(64), [1, 7],
                                 scope='Conv2d_0b_1x7')
          branch_1 = slim.conv2d(branch_1, depth(64), [7, 1],
                                 scope='Conv2d_0c_7x1')
          branch_1 = slim.conv2d(branch_1, depth(96), [3, 3], padding='VALID',
                                 scope='Conv2d_1a_3x3')
        net = tf.concat(axis=3, values=[branch_0, branch_1])
      if end_points.add('Mixed_4a', net):
        return net, end_points
      # 71 x 71 x 192
      with tf.variable_scope('Mixed_5a'):
        with tf.variable_scope('Branch_0'):
          branch_0 = slim.conv2d(net, depth(192), [3, 3], stride=2,
                                 padding='VALID', scope='Conv2d_1a_3x3')
        with tf.variable_scope('Branch_1'):
          branch_1 = slim.max_pool2d(net, [3, 3], stride=2, padding='VALID',
                                     scope='MaxPool_1a_3x3')
        net = tf.concat(axis=3, values=[branch_0, branch_1])
      if end_points.add('Mixed_5a', net):
        return net, end_points
      # 35 x 35 x 384
      for names, block in _BODY:
        for name in names:
          net = block(net, name, depth=depth)
          if end_points.add(name, net):
            return net, end_points
  end_points.check_reached(END_POINTS)
  return net, end_points


def inception_v4(inputs, num_classes=1001, is_training=True,
                 dropout_keep_prob=0.8, reuse=None, scope='InceptionV4',
                 create_aux_logits=True, global_pool=False,
                 prediction_fn=slim.softmax, min_depth=16,
                 depth_multiplier=1.0):
  """Inception v4 classifier with its auxiliary head.

  Args:
    inputs: float Tensor [batch, height, width, 3]; 299 x 299 by default,
      down to 75 x 75.
    num_classes: number of classes; 0 or None returns the pooled features
      [batch, 1, 1, 1536] and builds no logits or auxiliary variables.
    is_training: batch norm in training mode and dropout on.
    dropout_keep_prob: fraction of pooled activations kept in training.
    reuse: whether to reuse the scope's variables.
    scope: variable scope.
    create_aux_logits: build the auxiliary classifier on Mixed_6h (it needs
      a static input size).
    global_pool: always pool with a mean over the feature map; otherwise an
      average pool spans the static feature map (a mean when its size is
      unknown).
    prediction_fn: maps logits to 'Predictions'.
    min_depth: minimum channels of every convolution.
    depth_multiplier: float > 0 scaling every convolution's channels.

  Returns:
    (logits [batch, num_classes] or features, end_points).

  Raises:
    ValueError: if depth_multiplier <= 0, or aux logits are requested for an
      input of unknown spatial size.
  """
  depth = inception_utils.depth_fn(depth_multiplier, min_depth)
  with tf.variable_scope(scope, 'InceptionV4', [inputs], reuse=reuse) as sc:
    with slim.arg_scope([slim.batch_norm, slim.dropout],
                        is_training=is_training):
      net, end_points = inception_v4_base(
          inputs, scope=sc, min_depth=min_depth,
          depth_multiplier=depth_multiplier)
      with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d],
                          stride=1, padding='SAME'):
        if create_aux_logits and num_classes:
          with tf.variable_scope('AuxLogits'):
            # 17 x 17 x 1024
            aux_logits = end_points['Mixed_6h']
            kernel_size = inception_utils.reduced_kernel_size_for_small_input(
                aux_logits, [5, 5])
            aux_logits = slim.avg_pool2d(aux_logits, kernel_size, stride=3,
                                         padding='VALID',
                                         scope='AvgPool_1a_5x5')
            aux_logits = slim.conv2d(aux_logits, depth(128), [1, 1],
                                     scope='Conv2d_1b_1x1')
            # 5 x 5 x 128 at 299 x 299; the kernel spans the whole map.
            aux_logits = slim.conv2d(
                aux_logits, depth(768),
                inception_utils.static_spatial_size(aux_logits, 'AuxLogits'),
                padding='VALID', scope='Conv2d_2a')
            aux_logits = slim.flatten(aux_logits)
            aux_logits = slim.fully_connected(aux_logits, num_classes,
                                              activation_fn=None,
                                              scope='Aux_logits')
            end_points.add('AuxLogits', aux_logits)

        with tf.variable_scope('Logits'):
          # 8 x 8 x 1536
          kernel_size = net.get_shape()[1:3]
          if global_pool or not kernel_size.is_fully_defined():
            net = tf.reduce_mean(net, [1, 2], keepdims=True,
                                 name='global_pool')
          else:
            net = slim.avg_pool2d(net, kernel_size, padding='VALID',
                                  scope='AvgPool_1a')
          end_points.add('global_pool', net)
          if not num_classes:
            return net, end_points
          # 1 x 1 x 1536
          net = slim.dropout(net, dropout_keep_prob, scope='Dropout_1b')
          net = slim.flatten(net, scope='PreLogitsFlatten')
          end_points.add('PreLogitsFlatten', net)
          # 1536
          logits = slim.fully_connected(net, num_classes, activation_fn=None,
                                        scope='Logits')
          end_points.add('Logits', logits)
          end_points.add('Predictions',
                         prediction_fn(logits, scope='Predictions'))
  return logits, end_points


inception_v4.default_image_size = 299

inception_v4_arg_scope = inception_utils.inception_arg_scope
