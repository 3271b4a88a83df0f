"""DCGAN generator and discriminator.

Radford, Metz and Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", ICLR 2016
(https://arxiv.org/abs/1511.06434).

The generator maps a noise vector to a square image by doubling the
resolution with 4x4 stride-2 transposed convolutions while halving the
channels; the discriminator mirrors it with stride-2 convolutions and leaky
ReLUs. Batch norm (with zero-debiased moving means) follows every layer but
the discriminator's first and the generator's last. Variable names match
TF-Slim's `Generator` / `Discriminator` scopes. The zero-debiasing
accumulators of the moving means (`.../moving_mean/biased`, `.../local_step`)
exist only in training graphs (is_training=True): evaluation graphs restore
the rest of a training checkpoint.
"""

import math

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.nets_utils import EndPoints
from slim_zoo.errors import UsageError


def _is_power_of_2(value):
  return isinstance(value, int) and value > 0 and value & (value - 1) == 0


def _batch_norm_args(is_training, fused_batch_norm):
  return {'is_training': is_training, 'zero_debias_moving_mean': True,
          'fused': fused_batch_norm}


def _check_depth(depth):
  if not isinstance(depth, int) or depth <= 0:
    raise UsageError(f'depth must be a positive int, got {depth!r}.')


def _validate_image_inputs(inputs):
  """Raises ValueError unless `inputs` is [batch, s, s, c] with s = 2**k."""
  shape = inputs.shape
  if shape.ndims != 4:
    raise UsageError(f'The discriminator takes images [batch, size, size, '
                     f'channels], got an input of shape {shape}.')
  height, width = shape.as_list()[1:3]
  if height is None or width is None:
    raise UsageError(f'The discriminator needs a static image size to choose '
                     f'its number of layers, got shape {shape}; give the '
                     f'input placeholder a fixed height and width.')
  # The messages keep TF-Slim's phrases ('not have equal width and height',
  # 'not a power of 2'), which callers and tests match.
  if height != width:
    raise UsageError(f'The discriminator takes square images; the input does '
                     f'not have equal width and height (got {height}x{width}); '
                     f'resize or crop to a square.')
  if not _is_power_of_2(width):
    raise UsageError(f'The discriminator takes images whose size is a power '
                     f'of 2 (e.g. 32, 64); the input size {width} is not a '
                     f'power of 2; resize the images.')


def discriminator(inputs, depth=64, is_training=True, reuse=None,
                  scope='Discriminator', fused_batch_norm=False):
  """DCGAN discriminator.

  log2(size) stride-2 4x4 convolutions conv1, conv2, ... with depth,
  2 * depth, 4 * depth, ... channels, down to 1x1, then a 1x1 convolution to
  one logit.

  Args:
    inputs: float Tensor [batch, size, size, channels], size a power of 2,
      values roughly in [-1, 1].
    depth: channels of the first convolution.
    is_training: batch norm in training mode.
    reuse: whether to reuse the scope's variables.
    scope: variable scope.
    fused_batch_norm: use the fused batch norm kernel.

  Returns:
    (logits [batch, 1], ordered end points conv1 ... conv<log2(size)>,
    logits).

  Raises:
    ValueError: if the input is not a square image whose size is a power of
      2, or `depth` is not positive.
  """
  _validate_image_inputs(inputs)
  _check_depth(depth)
  num_layers = int(math.log2(inputs.shape.as_list()[1]))

  end_points = EndPoints()
  with tf.variable_scope(scope, values=[inputs], reuse=reuse), \
      slim.arg_scope([slim.batch_norm],
                     **_batch_norm_args(is_training, fused_batch_norm)), \
      slim.arg_scope([slim.conv2d], stride=2, kernel_size=4,
                     activation_fn=tf.nn.leaky_relu):
    net = inputs
    for i in range(num_layers):
      name = f'conv{i + 1}'
      # No batch norm on the first layer, as in the paper.
      net = slim.conv2d(net, depth * 2**i,
                        normalizer_fn=None if i == 0 else slim.batch_norm,
                        scope=name)
      end_points.add(name, net)
    logits = slim.conv2d(net, 1, kernel_size=1, stride=1, padding='VALID',
                         normalizer_fn=None, activation_fn=None)
    logits = tf.reshape(logits, [-1, 1])
    end_points.add('logits', logits)
  return logits, end_points


def generator(inputs, depth=64, final_size=32, num_outputs=3,
              is_training=True, reuse=None, scope='Generator',
              fused_batch_norm=False):
  """DCGAN generator.

  The noise vector becomes a 4x4 map with depth * final_size / 4 channels
  (deconv1), then each stride-2 layer doubles the size and halves the
  channels until deconv<log2(final_size) - 1> reaches final_size with
  `depth` channels (no batch norm, no activation); a 1x1 convolution makes
  the `num_outputs` output channels.

  Args:
    inputs: float Tensor [batch, noise_dim].
    depth: channels of the last transposed convolution.
    final_size: output height and width, a power of 2 of at least 8.
    num_outputs: output channels.
    is_training: batch norm in training mode.
    reuse: whether to reuse the scope's variables.
    scope: variable scope.
    fused_batch_norm: use the fused batch norm kernel.

  Returns:
    (logits [batch, final_size, final_size, num_outputs] (unbounded; apply
    tanh for images in [-1, 1]), ordered end points deconv1 ... logits).

  Raises:
    ValueError: if `inputs` is not 2-D, `final_size` is not a power of 2 of
      at least 8, or `depth` is not positive.
  """
  if inputs.shape.ndims != 2:
    raise UsageError(f'The generator takes noise vectors [batch, noise_dim], '
                     f'got an input of shape {inputs.shape}.')
  # The messages keep TF-Slim's phrases ('must be a power of 2', 'must be
  # greater than 8'), which callers and tests match; 8 itself is valid.
  if not _is_power_of_2(final_size):
    raise UsageError(f'final_size must be a power of 2 (e.g. 32, 64), got '
                     f'{final_size!r}.')
  if final_size < 8:
    raise UsageError(f'final_size must be greater than 8 or equal to it, as '
                     f'the generator starts at 4x4 and doubles at least once; '
                     f'got {final_size!r}.')
  _check_depth(depth)
  num_layers = int(math.log2(final_size)) - 1

  end_points = EndPoints()
  with tf.variable_scope(scope, values=[inputs], reuse=reuse), \
      slim.arg_scope([slim.batch_norm],
                     **_batch_norm_args(is_training, fused_batch_norm)), \
      slim.arg_scope([slim.conv2d_transpose], normalizer_fn=slim.batch_norm,
                     stride=2, kernel_size=4):
    net = inputs[:, tf.newaxis, tf.newaxis, :]
    # The first layer turns the 1x1 noise "image" into a 4x4 map.
    net = slim.conv2d_transpose(net, depth * 2**(num_layers - 1), stride=1,
                                padding='VALID', scope='deconv1')
    end_points.add('deconv1', net)
    for i in range(2, num_layers):
      name = f'deconv{i}'
      net = slim.conv2d_transpose(net, depth * 2**(num_layers - i),
                                  scope=name)
      end_points.add(name, net)
    name = f'deconv{num_layers}'
    net = slim.conv2d_transpose(net, depth, normalizer_fn=None,
                                activation_fn=None, scope=name)
    end_points.add(name, net)
    logits = slim.conv2d(net, num_outputs, kernel_size=1, stride=1,
                         padding='VALID', normalizer_fn=None,
                         activation_fn=None, scope='logits')
    end_points.add('logits', logits)
  return logits, end_points


def dcgan_arg_scope(weight_decay=0.0, weights_init_stddev=0.02):
  """Training knobs of DCGAN: the paper's N(0, 0.02) init and weight decay.

  The builders do not need it; enter it around them to train as in the
  paper.

  Args:
    weight_decay: L2 regularization of the weights (0 disables it).
    weights_init_stddev: standard deviation of the normal weight init.

  Returns:
    An arg scope.
  """
  regularizer = slim.l2_regularizer(weight_decay) if weight_decay else None
  with slim.arg_scope(
      [slim.conv2d, slim.conv2d_transpose],
      weights_initializer=tf.random_normal_initializer(0, weights_init_stddev),
      weights_regularizer=regularizer) as sc:
    return sc
