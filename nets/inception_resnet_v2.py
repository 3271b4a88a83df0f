"""Inception-ResNet-v2, checkpoint-compatible with TF-Slim's InceptionResnetV2.

Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning", 2016 (https://arxiv.org/abs/1602.07261).

A straight-line stem, 10 x Block35, Reduction-A (Mixed_6a), 20 x Block17,
Reduction-B (Mixed_7a), 9 x Block8, a last Block8 without activation and a
1x1 projection to 1536 channels. Each residual block adds a scaled linear
projection of its concatenated branches to its input.
"""

from slim_zoo.nets import inception_utils
from slim_zoo.nets.compat import slim, tf
from slim_zoo.errors import UsageError


def _identity_depth(d):
  return d


def _residual(net, mixed, scale, activation_fn):
  """net + scale * linear_1x1(mixed), then the activation (if any)."""
  up = slim.conv2d(mixed, net.get_shape()[3], 1, normalizer_fn=None,
                   activation_fn=None, scope='Conv2d_1x1')
  scaled_up = up * scale
  if activation_fn == tf.nn.relu6:
    # Keep the residual inside relu6's range so the sum cannot saturate it
    # in one step.
    scaled_up = tf.clip_by_value(scaled_up, -6.0, 6.0)
  net += scaled_up
  if activation_fn:
    net = activation_fn(net)
  return net


def block35(net, scale=1.0, activation_fn=tf.nn.relu, scope=None, reuse=None,
            depth=_identity_depth):
  """35 x 35 residual block (Inception-ResNet-A): shape preserved.

  `depth` maps the published branch channel counts to the built ones (see
  inception_utils.depth_fn); the residual keeps the input's channels.
  """
  with tf.variable_scope(scope, 'Block35', [net], reuse=reuse):
    with tf.variable_scope('Branch_0'):
      tower_0 = slim.conv2d(net, depth(32), 1, scope='Conv2d_1x1')
    with tf.variable_scope('Branch_1'):
      tower_1 = slim.conv2d(net, depth(32), 1, scope='Conv2d_0a_1x1')
      tower_1 = slim.conv2d(tower_1, depth(32), 3, scope='Conv2d_0b_3x3')
    with tf.variable_scope('Branch_2'):
      tower_2 = slim.conv2d(net, depth(32), 1, scope='Conv2d_0a_1x1')
      tower_2 = slim.conv2d(tower_2, depth(48), 3, scope='Conv2d_0b_3x3')
      tower_2 = slim.conv2d(tower_2, depth(64), 3, scope='Conv2d_0c_3x3')
    mixed = tf.concat(axis=3, values=[tower_0, tower_1, tower_2])
    return _residual(net, mixed, scale, activation_fn)


def block17(net, scale=1.0, activation_fn=tf.nn.relu, scope=None, reuse=None,
            depth=_identity_depth):
  """17 x 17 residual block (Inception-ResNet-B): shape preserved."""
  with tf.variable_scope(scope, 'Block17', [net], reuse=reuse):
    with tf.variable_scope('Branch_0'):
      tower_0 = slim.conv2d(net, depth(192), 1, scope='Conv2d_1x1')
    with tf.variable_scope('Branch_1'):
      tower_1 = slim.conv2d(net, depth(128), 1, scope='Conv2d_0a_1x1')
      tower_1 = slim.conv2d(tower_1, depth(160), [1, 7], scope='Conv2d_0b_1x7')
      tower_1 = slim.conv2d(tower_1, depth(192), [7, 1], scope='Conv2d_0c_7x1')
    mixed = tf.concat(axis=3, values=[tower_0, tower_1])
    return _residual(net, mixed, scale, activation_fn)


def block8(net, scale=1.0, activation_fn=tf.nn.relu, scope=None, reuse=None,
           depth=_identity_depth):
  """8 x 8 residual block (Inception-ResNet-C): shape preserved."""
  with tf.variable_scope(scope, 'Block8', [net], reuse=reuse):
    with tf.variable_scope('Branch_0'):
      tower_0 = slim.conv2d(net, depth(192), 1, scope='Conv2d_1x1')
    with tf.variable_scope('Branch_1'):
      tower_1 = slim.conv2d(net, depth(192), 1, scope='Conv2d_0a_1x1')
      tower_1 = slim.conv2d(tower_1, depth(224), [1, 3], scope='Conv2d_0b_1x3')
      tower_1 = slim.conv2d(tower_1, depth(256), [3, 1], scope='Conv2d_0c_3x1')
    mixed = tf.concat(axis=3, values=[tower_0, tower_1])
    return _residual(net, mixed, scale, activation_fn)


def _repeat(net, scope, block, count, **kwargs):
  """`count` blocks named <block>_1 .. <block>_<count> inside `scope`."""
  with tf.variable_scope(scope):
    for i in range(1, count + 1):
      net = block(net, scope=f'{block.__name__}_{i}', **kwargs)
  return net


END_POINTS = ('Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3',
              'MaxPool_3a_3x3', 'Conv2d_3b_1x1', 'Conv2d_4a_3x3',
              'MaxPool_5a_3x3', 'Mixed_5b', 'Mixed_6a', 'PreAuxLogits',
              'Mixed_7a', 'Conv2d_7b_1x1')


def inception_resnet_v2_base(inputs, final_endpoint='Conv2d_7b_1x1',
                             output_stride=16, align_feature_maps=False,
                             scope=None, activation_fn=tf.nn.relu,
                             min_depth=16, depth_multiplier=1.0):
  """Inception-ResNet-v2 up to `final_endpoint`.

  Args:
    inputs: float Tensor [batch, height, width, channels]; 299 x 299 for the
      published model, 75 x 75 at least to reach Conv2d_7b_1x1.
    final_endpoint: end point to stop at; one of END_POINTS.
    output_stride: 16, or 8 for a denser PreAuxLogits (Mixed_6a keeps its
      resolution and the Block17s use atrous rate 2); 8 stops at
      PreAuxLogits.
    align_feature_maps: SAME instead of VALID padding in the stem and
      reductions, so feature maps are ceil(input / stride) and align with the
      input (Conv2d_7b_1x1 is 10 x 10 instead of 8 x 8 at 299 x 299).
    scope: variable scope (string or VariableScope).
    activation_fn: activation after each residual sum.
    min_depth: minimum channels of every branch convolution.
    depth_multiplier: float > 0 scaling every branch convolution's channels.

  Returns:
    (net, end_points): the tensor at `final_endpoint` (Conv2d_7b_1x1 at
    299 x 299: [batch, 8, 8, 1536]) and an ordered dict of every end point
    built.

  Raises:
    ValueError: on an unknown final_endpoint (the message lists the valid
      ones), a depth_multiplier <= 0, an output_stride other than 8 or 16,
      or output_stride 8 with an end point past PreAuxLogits.
  """
  if output_stride not in (8, 16):
    raise UsageError(f'output_stride must be 8 or 16, got {output_stride!r}.')
  depth = inception_utils.depth_fn(depth_multiplier, min_depth)
  end_points = inception_utils.new_end_points(final_endpoint, END_POINTS)
  padding = 'SAME' if align_feature_maps else 'VALID'
  use_atrous = output_stride == 8
  if use_atrous and (final_endpoint is None or END_POINTS.index(final_endpoint)
                     > END_POINTS.index('PreAuxLogits')):
    raise UsageError(
        f'output_stride=8 only reaches PreAuxLogits, but final_endpoint is '
        f"{final_endpoint!r}; pass final_endpoint='PreAuxLogits' (or an "
        'earlier one) or output_stride=16.')
  reduction_stride = 1 if use_atrous else 2

  with tf.variable_scope(scope, 'InceptionResnetV2', [inputs]):
    with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d],
                        stride=1, padding='SAME'):
      # 299 x 299 x 3
      net = slim.conv2d(inputs, depth(32), 3, stride=2, padding=padding,
                        scope='Conv2d_1a_3x3')
      if end_points.add('Conv2d_1a_3x3', net):
        return net, end_points
      # 149 x 149 x 32
      net = slim.conv2d(net, depth(32), 3, padding=padding,
                        scope='Conv2d_2a_3x3')
      if end_points.add('Conv2d_2a_3x3', net):
        return net, end_points
      # 147 x 147 x 32
      net = slim.conv2d(net, depth(64), 3, scope='Conv2d_2b_3x3')
      if end_points.add('Conv2d_2b_3x3', net):
        return net, end_points
      # 147 x 147 x 64
      net = slim.max_pool2d(net, 3, stride=2, padding=padding,
                            scope='MaxPool_3a_3x3')
      if end_points.add('MaxPool_3a_3x3', net):
        return net, end_points
      # 73 x 73 x 64
      net = slim.conv2d(net, depth(80), 1, padding=padding,
                        scope='Conv2d_3b_1x1')
      if end_points.add('Conv2d_3b_1x1', net):
        return net, end_points
      # 73 x 73 x 80
      net = slim.conv2d(net, depth(192), 3, padding=padding,
                        scope='Conv2d_4a_3x3')
      if end_points.add('Conv2d_4a_3x3', net):
        return net, end_points
      # 71 x 71 x 192
      net = slim.max_pool2d(net, 3, stride=2, padding=padding,
                            scope='MaxPool_5a_3x3')
      if end_points.add('MaxPool_5a_3x3', net):
        return net, end_points
      # 35 x 35 x 192

      with tf.variable_scope('Mixed_5b'):
        with tf.variable_scope('Branch_0'):
          tower_0 = slim.conv2d(net, depth(96), 1, scope='Conv2d_1x1')
        with tf.variable_scope('Branch_1'):
          tower_1 = slim.conv2d(net, depth(48), 1, scope='Conv2d_0a_1x1')
          tower_1 = slim.conv2d(tower_1, depth(64), 5, scope='Conv2d_0b_5x5')
        with tf.variable_scope('Branch_2'):
          tower_2 = slim.conv2d(net, depth(64), 1, scope='Conv2d_0a_1x1')
          tower_2 = slim.conv2d(tower_2, depth(96), 3, scope='Conv2d_0b_3x3')
          tower_2 = slim.conv2d(tower_2, depth(96), 3, scope='Conv2d_0c_3x3')
        with tf.variable_scope('Branch_3'):
          tower_3 = slim.avg_pool2d(net, 3, scope='AvgPool_0a_3x3')
          tower_3 = slim.conv2d(tower_3, depth(64), 1, scope='Conv2d_0b_1x1')
        net = tf.concat(axis=3, values=[tower_0, tower_1, tower_2, tower_3])
      if end_points.add('Mixed_5b', net):
        return net, end_points
      # 35 x 35 x 320

      # Checkpoint names: the repeated blocks live in 'Repeat', 'Repeat_1'
      # and 'Repeat_2' (the scopes slim.repeat chose).
      net = _repeat(net, 'Repeat', block35, 10, scale=0.17,
                    activation_fn=activation_fn, depth=depth)

      with tf.variable_scope('Mixed_6a'):
        with tf.variable_scope('Branch_0'):
          tower_0 = slim.conv2d(net, depth(384), 3, stride=reduction_stride,
                                padding=padding, scope='Conv2d_1a_3x3')
        with tf.variable_scope('Branch_1'):
          tower_1 = slim.conv2d(net, depth(256), 1, scope='Conv2d_0a_1x1')
          tower_1 = slim.conv2d(tower_1, depth(256), 3, scope='Conv2d_0b_3x3')
          tower_1 = slim.conv2d(tower_1, depth(384), 3,
                                stride=reduction_stride, padding=padding,
                                scope='Conv2d_1a_3x3')
        with tf.variable_scope('Branch_2'):
          tower_2 = slim.max_pool2d(net, 3, stride=reduction_stride,
                                    padding=padding, scope='MaxPool_1a_3x3')
        net = tf.concat(axis=3, values=[tower_0, tower_1, tower_2])
      if end_points.add('Mixed_6a', net):
        return net, end_points
      # 17 x 17 x 1088 (33 x 33 with output_stride 8)

      with slim.arg_scope([slim.conv2d], rate=2 if use_atrous else 1):
        net = _repeat(net, 'Repeat_1', block17, 20, scale=0.10,
                      activation_fn=activation_fn, depth=depth)
      if end_points.add('PreAuxLogits', net):
        return net, end_points

      with tf.variable_scope('Mixed_7a'):
        with tf.variable_scope('Branch_0'):
          tower_0 = slim.conv2d(net, depth(256), 1, scope='Conv2d_0a_1x1')
          tower_0 = slim.conv2d(tower_0, depth(384), 3, stride=2,
                                padding=padding, scope='Conv2d_1a_3x3')
        with tf.variable_scope('Branch_1'):
          tower_1 = slim.conv2d(net, depth(256), 1, scope='Conv2d_0a_1x1')
          tower_1 = slim.conv2d(tower_1, depth(288), 3, stride=2,
                                padding=padding, scope='Conv2d_1a_3x3')
        with tf.variable_scope('Branch_2'):
          tower_2 = slim.conv2d(net, depth(256), 1, scope='Conv2d_0a_1x1')
          tower_2 = slim.conv2d(tower_2, depth(288), 3, scope='Conv2d_0b_3x3')
          tower_2 = slim.conv2d(tower_2, depth(320), 3, stride=2,
                                padding=padding, scope='Conv2d_1a_3x3')
        with tf.variable_scope('Branch_3'):
          tower_3 = slim.max_pool2d(net, 3, stride=2, padding=padding,
                                    scope='MaxPool_1a_3x3')
        net = tf.concat(axis=3, values=[tower_0, tower_1, tower_2, tower_3])
      if end_points.add('Mixed_7a', net):
        return net, end_points
      # 8 x 8 x 2080

      net = _repeat(net, 'Repeat_2', block8, 9, scale=0.20,
                    activation_fn=activation_fn, depth=depth)
      # Checkpoint name: the last, linear block is 'Block8'.
      net = block8(net, activation_fn=None, scope='Block8', depth=depth)

      net = slim.conv2d(net, depth(1536), 1, scope='Conv2d_7b_1x1')
      if end_points.add('Conv2d_7b_1x1', net):
        return net, end_points
      # 8 x 8 x 1536
  end_points.check_reached(END_POINTS)
  return net, end_points


def inception_resnet_v2(inputs, num_classes=1001, is_training=True,
                        dropout_keep_prob=0.8, reuse=None,
                        scope='InceptionResnetV2', create_aux_logits=True,
                        activation_fn=tf.nn.relu, global_pool=False,
                        prediction_fn=slim.softmax, align_feature_maps=False,
                        min_depth=16, depth_multiplier=1.0):
  """Inception-ResNet-v2 classifier with its auxiliary head.

  Args:
    inputs: float Tensor [batch, height, width, 3]; 299 x 299 by default,
      down to 75 x 75.
    num_classes: number of classes; 0 or None returns the pooled features
      [batch, 1, 1, 1536] and builds no logits or auxiliary variables.
    is_training: batch norm in training mode and dropout on.
    dropout_keep_prob: fraction of pooled activations kept in training.
    reuse: whether to reuse the scope's variables.
    scope: variable scope.
    create_aux_logits: build the auxiliary classifier on PreAuxLogits (it
      needs a static input size).
    activation_fn: activation after each residual sum.
    global_pool: always pool with a mean over the feature map; otherwise an
      average pool spans the static feature map (a mean when its size is
      unknown).
    prediction_fn: maps logits to 'Predictions'.
    align_feature_maps: SAME padding in the stem and reductions (see
      inception_resnet_v2_base).
    min_depth: minimum channels of every branch convolution.
    depth_multiplier: float > 0 scaling every branch convolution's channels.

  Returns:
    (logits [batch, num_classes] or features, end_points).

  Raises:
    ValueError: if depth_multiplier <= 0, or aux logits are requested for an
      input of unknown spatial size.
  """
  depth = inception_utils.depth_fn(depth_multiplier, min_depth)
  with tf.variable_scope(scope, 'InceptionResnetV2', [inputs],
                         reuse=reuse) as sc:
    with slim.arg_scope([slim.batch_norm, slim.dropout],
                        is_training=is_training):
      net, end_points = inception_resnet_v2_base(
          inputs, scope=sc, activation_fn=activation_fn,
          align_feature_maps=align_feature_maps, min_depth=min_depth,
          depth_multiplier=depth_multiplier)

      if create_aux_logits and num_classes:
        with tf.variable_scope('AuxLogits'):
          # 17 x 17 x 1088
          aux = end_points['PreAuxLogits']
          kernel_size = inception_utils.reduced_kernel_size_for_small_input(
              aux, [5, 5])
          # Checkpoint name: this average pool is scoped 'Conv2d_1a_3x3'.
          aux = slim.avg_pool2d(aux, kernel_size, stride=3, padding='VALID',
                                scope='Conv2d_1a_3x3')
          aux = slim.conv2d(aux, depth(128), 1, scope='Conv2d_1b_1x1')
          # 5 x 5 x 128 at 299 x 299; the kernel spans the whole map.
          aux = slim.conv2d(
              aux, depth(768),
              inception_utils.static_spatial_size(aux, 'AuxLogits'),
              padding='VALID', scope='Conv2d_2a_5x5')
          aux = slim.flatten(aux)
          aux = slim.fully_connected(aux, num_classes, activation_fn=None,
                                     scope='Logits')
          end_points.add('AuxLogits', aux)

      with tf.variable_scope('Logits'):
        # 8 x 8 x 1536
        kernel_size = net.get_shape()[1:3]
        if global_pool or not kernel_size.is_fully_defined():
          net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
        else:
          net = slim.avg_pool2d(net, kernel_size, padding='VALID',
                                scope='AvgPool_1a_8x8')
        end_points.add('global_pool', net)
        if not num_classes:
          return net, end_points
        net = slim.flatten(net)
        net = slim.dropout(net, dropout_keep_prob, scope='Dropout')
        end_points.add('PreLogitsFlatten', net)
        logits = slim.fully_connected(net, num_classes, activation_fn=None,
                                      scope='Logits')
        end_points.add('Logits', logits)
        end_points.add('Predictions',
                       prediction_fn(logits, scope='Predictions'))
  return logits, end_points


inception_resnet_v2.default_image_size = 299


def inception_resnet_v2_arg_scope(
    weight_decay=0.00004,
    batch_norm_decay=0.9997,
    batch_norm_epsilon=0.001,
    activation_fn=tf.nn.relu,
    batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS,
    batch_norm_scale=False):
  """Arg scope of Inception-ResNet-v2.

  The Inception arg scope with Glorot-uniform convolution weights and L2
  decay on biases too, as the published model was trained.

  Args:
    weight_decay: L2 regularization factor for weights and biases.
    batch_norm_decay: moving-average decay of the batch-norm statistics.
    batch_norm_epsilon: added to the variance to avoid division by zero.
    activation_fn: activation of every convolution.
    batch_norm_updates_collections: collection for the moving-average update
      ops.
    batch_norm_scale: whether batch norm learns a gamma.

  Returns:
    An arg scope for `slim.arg_scope`.
  """
  return inception_utils.inception_arg_scope(
      weight_decay=weight_decay,
      batch_norm_decay=batch_norm_decay,
      batch_norm_epsilon=batch_norm_epsilon,
      activation_fn=activation_fn,
      batch_norm_updates_collections=batch_norm_updates_collections,
      batch_norm_scale=batch_norm_scale,
      weights_initializer=slim.xavier_initializer(),
      regularize_biases=True)
