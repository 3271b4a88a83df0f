"""Inception v3, checkpoint-compatible with TF-Slim's InceptionV3.

Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
2015 (https://arxiv.org/abs/1512.00567).

The Mixed blocks are written out in place on purpose: the published
checkpoint's scope names are irregular (see the "Checkpoint name" comments)
and a generic block builder would have to carry every exception as data.
Blocks that repeat one layout are loops over their few differences.
"""

from slim_zoo.nets import inception_utils
from slim_zoo.nets.compat import slim, tf

trunc_normal = inception_utils.trunc_normal

END_POINTS = (
    'Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3', 'MaxPool_3a_3x3',
    'Conv2d_3b_1x1', 'Conv2d_4a_3x3', 'MaxPool_5a_3x3', 'Mixed_5b', 'Mixed_5c',
    'Mixed_5d', 'Mixed_6a', 'Mixed_6b', 'Mixed_6c', 'Mixed_6d', 'Mixed_6e',
    'Mixed_7a', 'Mixed_7b', 'Mixed_7c')


def inception_v3_base(inputs, final_endpoint='Mixed_7c', min_depth=16,
                      depth_multiplier=1.0, scope=None):
  """Inception v3 up to `final_endpoint`.

  Args:
    inputs: float Tensor [batch, height, width, channels]; 299 x 299 for the
      published model, 75 x 75 at least to reach Mixed_7c.
    final_endpoint: end point to stop at; one of END_POINTS.
    min_depth: minimum channels of every convolution.
    depth_multiplier: float > 0 scaling every convolution's channels.
    scope: variable scope (string or VariableScope).

  Returns:
    (net, end_points): the tensor at `final_endpoint` (Mixed_7c at 299 x 299:
    [batch, 8, 8, 2048]) and an ordered dict of every end point built.

  Raises:
    ValueError: on an unknown final_endpoint (the message lists the valid
      ones) or a depth_multiplier <= 0.
  """
  depth = inception_utils.depth_fn(depth_multiplier, min_depth)
  end_points = inception_utils.new_end_points(final_endpoint, END_POINTS)
  with tf.variable_scope(scope, 'InceptionV3', [inputs]):
    with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d],
                        stride=1, padding='VALID'):
      # 299 x 299 x 3
      net = slim.conv2d(inputs, depth(32), [3, 3], stride=2,
                        scope='Conv2d_1a_3x3')
      if end_points.add('Conv2d_1a_3x3', net):
        return net, end_points
      # 149 x 149 x 32
      net = slim.conv2d(net, depth(32), [3, 3], scope='Conv2d_2a_3x3')
      if end_points.add('Conv2d_2a_3x3', net):
        return net, end_points
      # 147 x 147 x 32
      net = slim.conv2d(net, depth(64), [3, 3], padding='SAME',
                        scope='Conv2d_2b_3x3')
      if end_points.add('Conv2d_2b_3x3', net):
        return net, end_points
      # 147 x 147 x 64
      net = slim.max_pool2d(net, [3, 3], stride=2, scope='MaxPool_3a_3x3')
      if end_points.add('MaxPool_3a_3x3', net):
        return net, end_points
      # 73 x 73 x 64
      net = slim.conv2d(net, depth(80), [1, 1], scope='Conv2d_3b_1x1')
      if end_points.add('Conv2d_3b_1x1', net):
        return net, end_points
      # 73 x 73 x 80
      net = slim.conv2d(net, depth(192), [3, 3], scope='Conv2d_4a_3x3')
      if end_points.add('Conv2d_4a_3x3', net):
        return net, end_points
      # 71 x 71 x 192
      net = slim.max_pool2d(net, [3, 3], stride=2, scope='MaxPool_5a_3x3')
      if end_points.add('MaxPool_5a_3x3', net):
        return net, end_points
      # 35 x 35 x 192

    with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d],
                        stride=1, padding='SAME'):
      # Mixed_5b..5d share one layout. Checkpoint names: Mixed_5c's Branch_1
      # is 'Conv2d_0b_1x1' then 'Conv_1_0c_5x5'.
      for name, branch_1_scopes, pool_depth in (
          ('Mixed_5b', ('Conv2d_0a_1x1', 'Conv2d_0b_5x5'), 32),
          ('Mixed_5c', ('Conv2d_0b_1x1', 'Conv_1_0c_5x5'), 64),
          ('Mixed_5d', ('Conv2d_0a_1x1', 'Conv2d_0b_5x5'), 64)):
        with tf.variable_scope(name):
          with tf.variable_scope('Branch_0'):
            branch_0 = slim.conv2d(net, depth(64), [1, 1],
                                   scope='Conv2d_0a_1x1')
          with tf.variable_scope('Branch_1'):
            branch_1 = slim.conv2d(net, depth(48), [1, 1],
                                   scope=branch_1_scopes[0])
            branch_1 = slim.conv2d(branch_1, depth(64), [5, 5],
                                   scope=branch_1_scopes[1])
          with tf.variable_scope('Branch_2'):
            branch_2 = slim.conv2d(net, depth(64), [1, 1],
                                   scope='Conv2d_0a_1x1')
            branch_2 = slim.conv2d(branch_2, depth(96), [3, 3],
                                   scope='Conv2d_0b_3x3')
            branch_2 = slim.conv2d(branch_2, depth(96), [3, 3],
                                   scope='Conv2d_0c_3x3')
          with tf.variable_scope('Branch_3'):
            branch_3 = slim.avg_pool2d(net, [3, 3], scope='AvgPool_0a_3x3')
            branch_3 = slim.conv2d(branch_3, depth(pool_depth), [1, 1],
                                   scope='Conv2d_0b_1x1')
          net = tf.concat(axis=3,
                          values=[branch_0, branch_1, branch_2, branch_3])
        if end_points.add(name, net):
          return net, end_points
        # 35 x 35 x 256 after Mixed_5b, 35 x 35 x 288 after 5c and 5d

      with tf.variable_scope('Mixed_6a'):
        # Checkpoint names: the strided 3x3 convolutions are 'Conv2d_1a_1x1'.
        with tf.variable_scope('Branch_0'):
          branch_0 = slim.conv2d(net, depth(384), [3, 3], stride=2,
                                 padding='VALID', scope='Conv2d_1a_1x1')
        with tf.variable_scope('Branch_1'):
          branch_1 = slim.conv2d(net, depth(64), [1, 1], scope='Conv2d_0a_1x1')
          branch_1 = slim.conv2d(branch_1, depth(96), [3, 3],
                                 scope='Conv2d_0b_3x3')
          branch_1 = slim.conv2d(branch_1, depth(96), [3, 3], stride=2,
                                 padding='VALID', scope='Conv2d_1a_1x1')
        with tf.variable_scope('Branch_2'):
          branch_2 = slim.max_pool2d(net, [3, 3], stride=2, padding='VALID',
                                     scope='MaxPool_1a_3x3')
        net = tf.concat(axis=3, values=[branch_0, branch_1, branch_2])
      if end_points.add('Mixed_6a', net):
        return net, end_points
      # 17 x 17 x 768

      # Mixed_6b..6e share one layout and differ only in the 7x7 towers'
      # inner depth.
      for name, inner in (('Mixed_6b', 128), ('Mixed_6c', 160),
                          ('Mixed_6d', 160), ('Mixed_6e', 192)):
        with tf.variable_scope(name):
          with tf.variable_scope('Branch_0'):
            branch_0 = slim.conv2d(net, depth(192), [1, 1],
                                   scope='Conv2d_0a_1x1')
          with tf.variable_scope('Branch_1'):
            branch_1 = slim.conv2d(net, depth(inner), [1, 1],
                                   scope='Conv2d_0a_1x1')
            branch_1 = slim.conv2d(branch_1, depth(inner), [1, 7],
                                   scope='Conv2d_0b_1x7')
            branch_1 = slim.conv2d(branch_1, depth(192), [7, 1],
                                   scope='Conv2d_0c_7x1')
          with tf.variable_scope('Branch_2'):
            branch_2 = slim.conv2d(net, depth(inner), [1, 1],
                                   scope='Conv2d_0a_1x1')
            branch_2 = slim.conv2d(branch_2, depth(inner), [7, 1],
                                   scope='Conv2d_0b_7x1')
            branch_2 = slim.conv2d(branch_2, depth(inner), [1, 7],
                                   scope='Conv2d_0c_1x7')
            branch_2 = slim.conv2d(branch_2, depth(inner), [7, 1],
                                   scope='Conv2d_0d_7x1')
            branch_2 = slim.conv2d(branch_2, depth(192), [1, 7],
                                   scope='Conv2d_0e_1x7')
          with tf.variable_scope('Branch_3'):
            branch_3 = slim.avg_pool2d(net, [3, 3], scope='AvgPool_0a_3x3')
            branch_3 = slim.conv2d(branch_3, depth(192), [1, 1],
                                   scope='Conv2d_0b_1x1')
          net = tf.concat(axis=3,
                          values=[branch_0, branch_1, branch_2, branch_3])
        if end_points.add(name, net):
          return net, end_points
        # 17 x 17 x 768

      with tf.variable_scope('Mixed_7a'):
        with tf.variable_scope('Branch_0'):
          branch_0 = slim.conv2d(net, depth(192), [1, 1], scope='Conv2d_0a_1x1')
          branch_0 = slim.conv2d(branch_0, depth(320), [3, 3], stride=2,
                                 padding='VALID', scope='Conv2d_1a_3x3')
        with tf.variable_scope('Branch_1'):
          branch_1 = slim.conv2d(net, depth(192), [1, 1], scope='Conv2d_0a_1x1')
          branch_1 = slim.conv2d(branch_1, depth(192), [1, 7],
                                 scope='Conv2d_0b_1x7')
          branch_1 = slim.conv2d(branch_1, depth(192), [7, 1],
                                 scope='Conv2d_0c_7x1')
          branch_1 = slim.conv2d(branch_1, depth(192), [3, 3], stride=2,
                                 padding='VALID', scope='Conv2d_1a_3x3')
        with tf.variable_scope('Branch_2'):
          branch_2 = slim.max_pool2d(net, [3, 3], stride=2, padding='VALID',
                                     scope='MaxPool_1a_3x3')
        net = tf.concat(axis=3, values=[branch_0, branch_1, branch_2])
      if end_points.add('Mixed_7a', net):
        return net, end_points
      # 8 x 8 x 1280

      # Checkpoint names: Branch_1's 3x1 is 'Conv2d_0b_3x1' in Mixed_7b but
      # 'Conv2d_0c_3x1' in Mixed_7c.
      for name, branch_1_3x1 in (('Mixed_7b', 'Conv2d_0b_3x1'),
                                 ('Mixed_7c', 'Conv2d_0c_3x1')):
        with tf.variable_scope(name):
          with tf.variable_scope('Branch_0'):
            branch_0 = slim.conv2d(net, depth(320), [1, 1],
                                   scope='Conv2d_0a_1x1')
          with tf.variable_scope('Branch_1'):
            branch_1 = slim.conv2d(net, depth(384), [1, 1],
                                   scope='Conv2d_0a_1x1')
            branch_1 = tf.concat(axis=3, values=[
                slim.conv2d(branch_1, depth(384), [1, 3],
                            scope='Conv2d_0b_1x3'),
                slim.conv2d(branch_1, depth(384), [3, 1],
                            scope=branch_1_3x1)])
          with tf.variable_scope('Branch_2'):
            branch_2 = slim.conv2d(net, depth(448), [1, 1],
                                   scope='Conv2d_0a_1x1')
            branch_2 = slim.conv2d(branch_2, depth(384), [3, 3],
                                   scope='Conv2d_0b_3x3')
            branch_2 = tf.concat(axis=3, values=[
                slim.conv2d(branch_2, depth(384), [1, 3],
                            scope='Conv2d_0c_1x3'),
                slim.conv2d(branch_2, depth(384), [3, 1],
                            scope='Conv2d_0d_3x1')])
          with tf.variable_scope('Branch_3'):
            branch_3 = slim.avg_pool2d(net, [3, 3], scope='AvgPool_0a_3x3')
            branch_3 = slim.conv2d(branch_3, depth(192), [1, 1],
                                   scope='Conv2d_0b_1x1')
          net = tf.concat(axis=3,
                          values=[branch_0, branch_1, branch_2, branch_3])
        if end_points.add(name, net):
          return net, end_points
        # 8 x 8 x 2048
  end_points.check_reached(END_POINTS)
  return net, end_points


def inception_v3(inputs, num_classes=1000, is_training=True,
                 dropout_keep_prob=0.8, min_depth=16, depth_multiplier=1.0,
                 prediction_fn=slim.softmax, spatial_squeeze=True, reuse=None,
                 create_aux_logits=True, scope='InceptionV3',
                 global_pool=False):
  """Inception v3 classifier with its auxiliary head.

  Inputs smaller than 299 x 299 (down to 75 x 75) shrink the fixed pooling
  and auxiliary kernels to the feature map; the auxiliary 5x5 convolution's
  scope then names the smaller kernel, as in TF-Slim.

  Args:
    inputs: float Tensor [batch, height, width, 3].
    num_classes: number of classes; 0 or None returns the pooled features
      [batch, 1, 1, 2048] and builds no logits or auxiliary variables.
    is_training: batch norm in training mode and dropout on.
    dropout_keep_prob: fraction of pooled activations kept in training.
    min_depth: minimum channels of every convolution.
    depth_multiplier: float > 0 scaling every convolution's channels.
    prediction_fn: maps logits to 'Predictions'.
    spatial_squeeze: squeeze logits [batch, 1, 1, classes] to
      [batch, classes].
    reuse: whether to reuse the scope's variables.
    create_aux_logits: build the auxiliary classifier on Mixed_6e.
    scope: variable scope.
    global_pool: average over the whole feature map (any input size gives
      1 x 1) instead of the fixed 8 x 8 window.

  Returns:
    (logits [batch, num_classes] or features, end_points).

  Raises:
    ValueError: if depth_multiplier <= 0.
  """
  depth = inception_utils.depth_fn(depth_multiplier, min_depth)
  with tf.variable_scope(scope, 'InceptionV3', [inputs], reuse=reuse) as sc:
    with slim.arg_scope([slim.batch_norm, slim.dropout],
                        is_training=is_training):
      net, end_points = inception_v3_base(
          inputs, scope=sc, min_depth=min_depth,
          depth_multiplier=depth_multiplier)

      if create_aux_logits and num_classes:
        with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d],
                            stride=1, padding='SAME'):
          aux_logits = end_points['Mixed_6e']
          with tf.variable_scope('AuxLogits'):
            kernel_size = inception_utils.reduced_kernel_size_for_small_input(
                aux_logits, [5, 5])
            aux_logits = slim.avg_pool2d(aux_logits, kernel_size, stride=3,
                                         padding='VALID',
                                         scope='AvgPool_1a_5x5')
            aux_logits = slim.conv2d(aux_logits, depth(128), [1, 1],
                                     scope='Conv2d_1b_1x1')
            # 5 x 5 x 128 at 299 x 299.
            kernel_size = inception_utils.reduced_kernel_size_for_small_input(
                aux_logits, [5, 5])
            aux_logits = slim.conv2d(
                aux_logits, depth(768), kernel_size,
                weights_initializer=trunc_normal(0.01), padding='VALID',
                scope='Conv2d_2a_{}x{}'.format(*kernel_size))
            aux_logits = slim.conv2d(
                aux_logits, num_classes, [1, 1], activation_fn=None,
                normalizer_fn=None, weights_initializer=trunc_normal(0.001),
                scope='Conv2d_2b_1x1')
            if spatial_squeeze:
              aux_logits = tf.squeeze(aux_logits, [1, 2],
                                      name='SpatialSqueeze')
            end_points.add('AuxLogits', aux_logits)

      with tf.variable_scope('Logits'):
        if global_pool:
          net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
          end_points.add('global_pool', net)
        else:
          kernel_size = inception_utils.reduced_kernel_size_for_small_input(
              net, [8, 8])
          net = slim.avg_pool2d(net, kernel_size, padding='VALID',
                                scope='AvgPool_1a_{}x{}'.format(*kernel_size))
          end_points.add('AvgPool_1a', net)
        if not num_classes:
          return net, end_points
        # 1 x 1 x 2048
        net = slim.dropout(net, keep_prob=dropout_keep_prob, scope='Dropout_1b')
        end_points.add('PreLogits', net)
        logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None,
                             normalizer_fn=None, scope='Conv2d_1c_1x1')
        if spatial_squeeze:
          logits = tf.squeeze(logits, [1, 2], name='SpatialSqueeze')
      end_points.add('Logits', logits)
      end_points.add('Predictions', prediction_fn(logits, scope='Predictions'))
  return logits, end_points


inception_v3.default_image_size = 299

inception_v3_arg_scope = inception_utils.inception_arg_scope
