"""VGG networks A, D and E (vgg_a, vgg_16, vgg_19), TF-Slim checkpoint layout.

Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale
Image Recognition", ICLR 2015 (arXiv:1409.1556). The fully connected layers
are written as convolutions (fc6 is a 7x7 'VALID' convolution, fc7 and fc8
are 1x1), so the network evaluates densely on inputs larger than 224 and
the published (Caffe-converted, 1000-class) checkpoints load unchanged.

The variants differ only in the number of 3x3 convolutions per block, so
each named builder is one call of the generic `vgg` with its configuration.
`conv_classifier_head` is the fc6-fc7-fc8 head shared with AlexNet and
OverFeat.
"""

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.nets_utils import EndPoints
from slim_zoo.errors import UsageError

_BLOCK_DEPTHS = (64, 128, 256, 512, 512)
_FC_CONV_PADDINGS = ('VALID', 'SAME')


def conv_classifier_head(net, end_points, scope_name, num_classes,
                         is_training, dropout_keep_prob, spatial_squeeze,
                         global_pool, fc_conv_padding, fc6_kernel, fc6_depth,
                         fc7_depth, fc_initializers=None):
  """fc6 (kxk conv) -> dropout -> fc7 (1x1) -> [pool] -> dropout -> fc8.

  Shared by VGG, AlexNet v2 and OverFeat, whose checkpoints store the fully
  connected layers as convolution kernels. Must be called inside the
  network's variable scope.

  Args:
    net: Tensor [batch, height, width, channels], the last pooling output.
    end_points: `EndPoints` to record fc6, fc7, global_pool and fc8 in.
    scope_name: name of the network's variable scope (end point prefix).
    num_classes: number of classes; 0 or None stops after fc7 (and the
      global pool, if any) and builds no fc8 variables.
    is_training: enables dropout.
    dropout_keep_prob: fraction of fc6 and fc7 activations kept in training.
    spatial_squeeze: squeeze fc8 to [batch, num_classes]; needs a 1x1 map.
    global_pool: average fc7 over space, so any input size gives 1x1 logits.
    fc_conv_padding: 'VALID' (fc6 consumes the whole kxk map: 1x1 output at
      the default size) or 'SAME' (fc6 keeps the spatial size).
    fc6_kernel: fc6 kernel size (the last feature map's size at the default
      input size).
    fc6_depth: fc6 output channels.
    fc7_depth: fc7 output channels.
    fc_initializers: optional dict of conv2d initializer arguments for fc6
      and fc7 (AlexNet and OverFeat use their own).

  Returns:
    fc8 logits [batch, num_classes] (or [batch, h, w, num_classes] without
    squeeze), or the fc7 features when num_classes is 0 or None.

  Raises:
    ValueError: if `fc_conv_padding` is unknown, or the feature map is
      smaller than the fc6 kernel with 'VALID' padding.
  """
  if fc_conv_padding not in _FC_CONV_PADDINGS:
    raise UsageError(
        f'fc_conv_padding must be one of {", ".join(_FC_CONV_PADDINGS)}, got '
        f'{fc_conv_padding!r}.')
  height, width = net.shape.as_list()[1:3]
  if fc_conv_padding == 'VALID' and any(
      d is not None and d < fc6_kernel for d in (height, width)):
    raise UsageError(
        f'{scope_name}: the input is too small; the last feature map is '
        f'{height}x{width} but fc6 needs at least {fc6_kernel}x{fc6_kernel}. '
        f'Use the default image size or larger, or fc_conv_padding=\'SAME\'.')
  initializers = dict(fc_initializers or {})
  net = slim.conv2d(net, fc6_depth, [fc6_kernel, fc6_kernel],
                    padding=fc_conv_padding, scope='fc6', **initializers)
  end_points.add(scope_name + '/fc6', net)
  net = slim.dropout(net, dropout_keep_prob, is_training=is_training,
                     scope='dropout6')
  net = slim.conv2d(net, fc7_depth, [1, 1], scope='fc7', **initializers)
  end_points.add(scope_name + '/fc7', net)
  if global_pool:
    net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
    end_points.add('global_pool', net)
  if not num_classes:
    return net
  net = slim.dropout(net, dropout_keep_prob, is_training=is_training,
                     scope='dropout7')
  net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None,
                    normalizer_fn=None,
                    biases_initializer=tf.zeros_initializer(), scope='fc8')
  if spatial_squeeze:
    net = tf.squeeze(net, [1, 2], name='fc8/squeezed')
  end_points.add(scope_name + '/fc8', net)
  return net


def vgg(inputs, convs_per_block, num_classes=1000, is_training=True,
        dropout_keep_prob=0.5, spatial_squeeze=True, reuse=None, scope='vgg',
        fc_conv_padding='VALID', global_pool=False):
  """Generic VGG: five blocks of 3x3 convolutions and 2x2 max pooling.

  Args:
    inputs: float Tensor [batch, height, width, 3]; 224x224 gives 1x1 logits
      with the default 'VALID' fc6. Larger inputs give spatial logits (use
      spatial_squeeze=False) unless global_pool is set.
    convs_per_block: five ints, the 3x3 convolutions in each block.
    num_classes: number of classes; 0 or None returns the fc7 features.
    is_training: enables dropout.
    dropout_keep_prob: fraction of fc6 and fc7 activations kept in training.
    spatial_squeeze: squeeze the logits to [batch, num_classes].
    reuse: whether to reuse the scope's variables.
    scope: variable scope.
    fc_conv_padding: padding of fc6, 'VALID' or 'SAME'.
    global_pool: average fc7 over space before the classifier.

  Returns:
    (net, end_points): logits [batch, num_classes] (or [batch, h, w,
    num_classes] without squeeze), or fc7 features [batch, h, w, 4096] when
    num_classes is 0 or None; end_points is ordered.

  Raises:
    ValueError: on a bad `convs_per_block`, `fc_conv_padding` or an input
      too small for 'VALID' fc6.
  """
  if len(convs_per_block) != len(_BLOCK_DEPTHS):
    raise UsageError(
        f'convs_per_block must give {len(_BLOCK_DEPTHS)} counts (one per '
        f'block), got {convs_per_block!r}.')
  end_points = EndPoints()
  with tf.variable_scope(scope, 'vgg', [inputs], reuse=reuse) as sc:
    net = inputs
    for block, (num_convs, depth) in enumerate(
        zip(convs_per_block, _BLOCK_DEPTHS), start=1):
      with tf.variable_scope(f'conv{block}', values=[net]):
        for i in range(1, num_convs + 1):
          net = slim.conv2d(net, depth, [3, 3], padding='SAME',
                            scope=f'conv{block}_{i}')
          end_points.add(f'{sc.name}/conv{block}/conv{block}_{i}', net)
      net = slim.max_pool2d(net, [2, 2], stride=2, padding='VALID',
                            scope=f'pool{block}')
      end_points.add(f'{sc.name}/pool{block}', net)
    net = conv_classifier_head(
        net, end_points, sc.name, num_classes, is_training, dropout_keep_prob,
        spatial_squeeze, global_pool, fc_conv_padding, fc6_kernel=7,
        fc6_depth=4096, fc7_depth=4096)
  return net, end_points


vgg.default_image_size = 224


def _named_vgg(name, convs_per_block):
  """TF-Slim's named builder `name` of one configuration of the paper.

  Args:
    name: the builder's name and default scope ('vgg_16').
    convs_per_block: 3x3 convolutions in each of the five blocks.
  """

  def builder(inputs, num_classes=1000, is_training=True,
              dropout_keep_prob=0.5, spatial_squeeze=True, reuse=None,
              scope=name, fc_conv_padding='VALID', global_pool=False):
    return vgg(inputs, convs_per_block, num_classes=num_classes,
               is_training=is_training, dropout_keep_prob=dropout_keep_prob,
               spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope,
               fc_conv_padding=fc_conv_padding, global_pool=global_pool)

  builder.__name__ = builder.__qualname__ = name
  builder.__doc__ = (
      f'{name}: VGG with {convs_per_block} 3x3 convolutions per block.\n\n'
      '  Same arguments and results as `vgg` without `convs_per_block`.\n')
  builder.default_image_size = 224
  return builder


vgg_a = _named_vgg('vgg_a', (1, 1, 2, 2, 2))   # configuration A, 11 layers
vgg_16 = _named_vgg('vgg_16', (2, 2, 3, 3, 3))  # configuration D, 16 layers
vgg_19 = _named_vgg('vgg_19', (2, 2, 4, 4, 4))  # configuration E, 19 layers
# The paper's configuration letters, as TF-Slim exported them.
vgg_d = vgg_16
vgg_e = vgg_19


def vgg_arg_scope(weight_decay=0.0005):
  """Arg scope of VGG: ReLU, L2 decay, zero biases, 'SAME' convolutions.

  Args:
    weight_decay: L2 regularization of the weights.

  Returns:
    An arg_scope dict.
  """
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      activation_fn=tf.nn.relu,
                      weights_regularizer=slim.l2_regularizer(weight_decay),
                      biases_initializer=tf.zeros_initializer()):
    with slim.arg_scope([slim.conv2d], padding='SAME') as sc:
      return sc
