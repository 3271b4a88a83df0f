"""pix2pix: U-Net generator and PatchGAN discriminator.

Isola, Zhu, Zhou and Efros, "Image-to-Image Translation with Conditional
Adversarial Networks", CVPR 2017 (https://arxiv.org/abs/1611.07004).

The generator is a U-Net: stride-2 4x4 convolutions down to 1/2**n of the
input, then 2x upsampling layers back, each concatenated with the encoder
activation of the same size. The discriminator classifies overlapping
patches (a 70x70 receptive field with the default filters). Both use instance
norm on all but their first and last layers. Variables are created at the
top level (encoder/, decoder/, output/, conv<i>/) as in TF-Slim; open a
variable scope around a call to name a network.
"""

import collections

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.nets_utils import EndPoints
from slim_zoo.errors import UsageError

UPSAMPLE_METHODS = ('nn_upsample_conv', 'conv2d_transpose')
_INSTANCE_NORM_PARAMS = {'center': True, 'scale': True, 'epsilon': 1e-5}


class Block(collections.namedtuple('Block',
                                   ['num_filters', 'decoder_keep_prob'])):
  """One U-Net level: encoder/decoder channels and decoder dropout.

  Attributes:
    num_filters: channels of the encoder layer and of the decoder layer that
      mirrors it.
    decoder_keep_prob: dropout keep probability after that decoder layer;
      0 disables dropout.
  """


def _default_generator_blocks():
  """The 7 levels of the paper's 256x256 generator (outermost first)."""
  return [
      Block(64, 0.5),
      Block(128, 0.5),
      Block(256, 0.5),
      Block(512, 0),
      Block(512, 0),
      Block(512, 0),
      Block(512, 0),
  ]


def pix2pix_arg_scope(weight_decay=0.0, weights_init_stddev=0.02):
  """Training knobs of pix2pix: the paper's N(0, 0.02) init, weight decay.

  The builders apply instance norm themselves, so building inside this scope
  or outside it gives the same variables.

  Args:
    weight_decay: L2 regularization of the weights (0 disables it).
    weights_init_stddev: standard deviation of the normal weight init.

  Returns:
    An arg scope for `slim.conv2d` and `slim.conv2d_transpose`.
  """
  regularizer = slim.l2_regularizer(weight_decay) if weight_decay else None
  with slim.arg_scope(
      [slim.conv2d, slim.conv2d_transpose],
      weights_initializer=tf.random_normal_initializer(0, weights_init_stddev),
      weights_regularizer=regularizer) as sc:
    return sc


def _instance_norm_scope():
  return slim.arg_scope([slim.conv2d, slim.conv2d_transpose],
                        normalizer_fn=slim.instance_norm,
                        normalizer_params=_INSTANCE_NORM_PARAMS)


def upsample(net, num_outputs, kernel_size, method='nn_upsample_conv'):
  """Upsamples by `kernel_size` with a linear 4x4 convolution.

  Args:
    net: Tensor [batch, height, width, channels].
    num_outputs: output channels.
    kernel_size: [height, width] upsampling factors.
    method: 'nn_upsample_conv' (nearest-neighbour resize then 4x4 conv) or
      'conv2d_transpose' (4x4 transposed conv with that stride).

  Returns:
    Tensor [batch, height * kernel_size[0], width * kernel_size[1],
    num_outputs].

  Raises:
    ValueError: for an unknown `method`.
  """
  if method not in UPSAMPLE_METHODS:
    raise UsageError(f'Unknown upsample method {method!r}; valid methods are '
                     f'{", ".join(UPSAMPLE_METHODS)}.')
  if method == 'conv2d_transpose':
    return slim.conv2d_transpose(net, num_outputs, [4, 4], stride=kernel_size,
                                 activation_fn=None)
  static = net.shape.as_list()[1:3]
  dynamic = tf.shape(net)
  height = static[0] if static[0] is not None else dynamic[1]
  width = static[1] if static[1] is not None else dynamic[2]
  net = tf.image.resize_nearest_neighbor(
      net, [height * kernel_size[0], width * kernel_size[1]])
  return slim.conv2d(net, num_outputs, [4, 4], activation_fn=None)


def pix2pix_generator(net, num_outputs, blocks=None,
                      upsample_method='nn_upsample_conv', is_training=False):
  """pix2pix U-Net generator.

  Args:
    net: float Tensor [batch, height, width, channels]; height and width must
      be multiples of 2**len(blocks) (128 with the default blocks).
    num_outputs: output channels.
    blocks: list of `Block`, outermost first; None uses the paper's 7.
    upsample_method: see `upsample`.
    is_training: unused: dropout is applied in training and inference alike,
      which is how the paper makes the generator stochastic.

  Returns:
    (logits [batch, height, width, num_outputs], ordered end points
    encoder0 ... encoder<n-1>, decoder0 ... decoder<n-1>, logits,
    predictions (tanh of the logits)).

  Raises:
    ValueError: if `net` is not 4-D, its size does not divide by
      2**len(blocks), `blocks` is empty or the method is unknown.
  """
  del is_training
  blocks = list(blocks) if blocks is not None else _default_generator_blocks()
  if not blocks:
    raise UsageError('blocks must list at least one Block.')
  if upsample_method not in UPSAMPLE_METHODS:
    raise UsageError(f'Unknown upsample method {upsample_method!r}; valid '
                     f'methods are {", ".join(UPSAMPLE_METHODS)}.')
  if net.shape.ndims != 4:
    raise UsageError(f'The generator takes images [batch, height, width, '
                     f'channels], got an input of shape {net.shape}.')
  factor = 2**len(blocks)
  for name, size in zip(('height', 'width'), net.shape.as_list()[1:3]):
    if size is not None and size % factor:
      raise UsageError(
          f'With {len(blocks)} blocks the U-Net halves the input '
          f'{len(blocks)} times, so its {name} must be a multiple of '
          f'{factor}; got {size}. Resize the input or use fewer blocks.')

  end_points = EndPoints()
  encoder_activations = []
  with _instance_norm_scope():
    with tf.variable_scope('encoder'), \
        slim.arg_scope([slim.conv2d], kernel_size=[4, 4], stride=2,
                       activation_fn=tf.nn.leaky_relu):
      for block_id, block in enumerate(blocks):
        if block_id == 0:
          # No normalization on the first layer (paper, section 6.1.1).
          net = slim.conv2d(net, block.num_filters, normalizer_fn=None)
        elif block_id < len(blocks) - 1:
          net = slim.conv2d(net, block.num_filters)
        else:
          # The innermost (1x1 at 256x256) layer: no activation or norm.
          net = slim.conv2d(net, block.num_filters, activation_fn=None,
                            normalizer_fn=None)
        encoder_activations.append(net)
        end_points.add(f'encoder{block_id}', net)

    with tf.variable_scope('decoder'):
      for block_id, block in enumerate(reversed(blocks)):
        if block_id > 0:
          net = tf.concat([net, encoder_activations[-block_id - 1]], axis=3)
        # The ReLU comes before the upsampling layer.
        net = tf.nn.relu(net)
        net = upsample(net, block.num_filters, [2, 2], method=upsample_method)
        if block.decoder_keep_prob > 0:
          net = slim.dropout(net, keep_prob=block.decoder_keep_prob,
                             is_training=True)
        end_points.add(f'decoder{block_id}', net)

    with tf.variable_scope('output'):
      logits = slim.conv2d(net, num_outputs, [4, 4], activation_fn=None,
                           normalizer_fn=None)
      end_points.add('logits', logits)
      end_points.add('predictions', tf.tanh(logits))
  return logits, end_points


def pix2pix_discriminator(net, num_filters, padding=2, pad_mode='REFLECT',
                          activation_fn=tf.nn.leaky_relu, is_training=False):
  """pix2pix PatchGAN discriminator.

  len(num_filters) padded 4x4 convolutions conv0 ... (stride 2, the last one
  stride 1), then a stride-1 4x4 convolution to one logit per patch.

  Args:
    net: float Tensor [batch, height, width, channels].
    num_filters: channels of each layer, e.g. [64, 128, 256, 512] (the
      paper's 70x70 PatchGAN); at least two.
    padding: pixels padded on each side before every convolution; 0 for
      none.
    pad_mode: tf.pad mode.
    activation_fn: activation of every layer but the logits.
    is_training: unused (no batch norm or dropout); kept for a uniform
      builder signature.

  Returns:
    (logits [batch, h, w, 1] (35x35 for a 256x256 input and the default
    filters), ordered end points conv0 ... conv<n-1>, logits, predictions
    (sigmoid of the logits)).

  Raises:
    ValueError: if `net` is not 4-D or `num_filters` has fewer than two
      entries.
  """
  del is_training
  num_filters = list(num_filters)
  if len(num_filters) < 2:
    raise UsageError(f'num_filters must list at least two layers (e.g. '
                     f'[64, 128, 256, 512]), got {num_filters!r}.')
  if net.shape.ndims != 4:
    raise UsageError(f'The discriminator takes images [batch, height, width, '
                     f'channels], got an input of shape {net.shape}.')
  num_layers = len(num_filters)

  def padded(net, scope):
    if not padding:
      return net
    with tf.variable_scope(scope):
      return tf.pad(net, [[0, 0], [padding, padding], [padding, padding],
                          [0, 0]], mode=pad_mode)

  end_points = EndPoints()
  with _instance_norm_scope(), \
      slim.arg_scope([slim.conv2d], kernel_size=[4, 4], stride=2,
                     padding='VALID', activation_fn=activation_fn):
    # No normalization on the input layer.
    net = slim.conv2d(padded(net, 'conv0'), num_filters[0],
                      normalizer_fn=None, scope='conv0')
    end_points.add('conv0', net)
    for i in range(1, num_layers):
      name = f'conv{i}'
      # The last hidden layer keeps the resolution (stride 1).
      stride = 1 if i == num_layers - 1 else 2
      net = slim.conv2d(padded(net, name), num_filters[i], stride=stride,
                        scope=name)
      end_points.add(name, net)
    name = f'conv{num_layers}'
    logits = slim.conv2d(padded(net, name), 1, stride=1, activation_fn=None,
                         normalizer_fn=None, scope=name)
    end_points.add('logits', logits)
    end_points.add('predictions', tf.sigmoid(logits))
  return logits, end_points
