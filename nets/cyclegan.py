"""CycleGAN's ResNet generator.

Zhu, Park, Isola and Efros, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", ICCV 2017
(https://arxiv.org/abs/1703.10593), generator after Johnson et al.,
"Perceptual Losses for Real-Time Style Transfer and Super-Resolution".

A 7x7 input convolution, two stride-2 encoder convolutions, a stack of
residual blocks at 1/4 resolution, two 2x upsampling decoder layers and a 7x7
output convolution with tanh. Convolutions use reflection padding and
instance norm. Variables are created at the top level (input/, encoder/,
residual_blocks/, decoder/, output/) as in TF-Slim; open a variable scope
around the call to name a generator.
"""

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.nets_utils import EndPoints
from slim_zoo.errors import UsageError

UPSAMPLE_METHODS = ('nn_upsample_conv', 'bilinear_upsample_conv',
                    'conv2d_transpose')


def cyclegan_arg_scope(instance_norm_center=True, instance_norm_scale=True,
                       instance_norm_epsilon=0.001, weights_init_stddev=0.02,
                       weight_decay=0.0):
  """Arg scope of the CycleGAN generator: instance norm, N(0, 0.02) init.

  Args:
    instance_norm_center: learn an offset (beta) in instance norm.
    instance_norm_scale: learn a scale (gamma) in instance norm.
    instance_norm_epsilon: added to the variance in instance norm.
    weights_init_stddev: standard deviation of the normal weight init.
    weight_decay: L2 regularization of the weights (0 disables it).

  Returns:
    An arg scope for `slim.conv2d`.
  """
  instance_norm_params = {'center': instance_norm_center,
                          'scale': instance_norm_scale,
                          'epsilon': instance_norm_epsilon}
  regularizer = slim.l2_regularizer(weight_decay) if weight_decay else None
  with slim.arg_scope(
      [slim.conv2d], normalizer_fn=slim.instance_norm,
      normalizer_params=instance_norm_params,
      weights_initializer=tf.random_normal_initializer(0, weights_init_stddev),
      weights_regularizer=regularizer) as sc:
    return sc


def _spatial_size(net):
  """(height, width) as ints when static, else as scalar tensors."""
  static = net.shape.as_list()[1:3]
  if None not in static:
    return static
  dynamic = tf.shape(net)
  return [dynamic[1] if static[0] is None else static[0],
          dynamic[2] if static[1] is None else static[1]]


def cyclegan_upsample(net, num_outputs, stride, method='conv2d_transpose',
                      pad_mode='REFLECT', align_corners=False):
  """Upsamples by `stride` and convolves to `num_outputs` channels.

  Args:
    net: Tensor [batch, height, width, channels].
    num_outputs: output channels.
    stride: [2, 2]-like list of the height and width factors.
    method: 'nn_upsample_conv' (nearest-neighbour resize, reflection pad,
      3x3 conv), 'bilinear_upsample_conv' (bilinear resize, pad, 3x3 conv)
      or 'conv2d_transpose' (3x3 transposed conv, cropped by one pixel).
    pad_mode: tf.pad mode of the resize methods.
    align_corners: align_corners of the bilinear resize.

  Returns:
    Tensor [batch, height * stride[0], width * stride[1], num_outputs].

  Raises:
    ValueError: for an unknown `method`.
  """
  if method not in UPSAMPLE_METHODS:
    raise UsageError(f'Unknown upsample method {method!r}; valid methods are '
                     f'{", ".join(UPSAMPLE_METHODS)}.')
  with tf.variable_scope('upconv'):
    if method == 'conv2d_transpose':
      # A 'VALID' 3x3 transposed convolution gives 2n + 1 pixels; dropping
      # the first row and column aligns it with the encoder's convolutions.
      net = slim.conv2d_transpose(net, num_outputs, kernel_size=[3, 3],
                                  stride=stride, padding='VALID')
      return net[:, 1:, 1:, :]
    height, width = _spatial_size(net)
    size = [height * stride[0], width * stride[1]]
    if method == 'nn_upsample_conv':
      net = tf.image.resize_nearest_neighbor(net, size)
    else:
      net = tf.image.resize_bilinear(net, size, align_corners=align_corners)
    # Reflection-pad by one so the 'VALID' 3x3 convolution keeps the size.
    net = tf.pad(net, [[0, 0], [1, 1], [1, 1], [0, 0]], mode=pad_mode)
    return slim.conv2d(net, num_outputs, kernel_size=[3, 3], padding='VALID')


def cyclegan_generator_resnet(images, arg_scope_fn=cyclegan_arg_scope,
                              num_resnet_blocks=6, num_filters=64,
                              upsample_fn=cyclegan_upsample, kernel_size=3,
                              tanh_linear_slope=0.0, is_training=False):
  """CycleGAN ResNet generator (image to image of the same shape).

  Args:
    images: float Tensor [batch, height, width, channels] with height and
      width multiples of 4 (or unknown) and static channels.
    arg_scope_fn: returns the arg scope the generator builds in (instance
      norm and init); called with no arguments.
    num_resnet_blocks: residual blocks at 1/4 resolution (6 for 128x128, 9
      for 256x256 in the paper).
    num_filters: channels of the input stage; the encoder doubles them twice.
    upsample_fn: fn(net, num_outputs, stride) of each decoder layer, e.g.
      `functools.partial(cyclegan_upsample, method='nn_upsample_conv')`.
    kernel_size: int or [height, width] kernel of the encoder, residual and
      decoder convolutions.
    tanh_linear_slope: slope of a linear term added to the tanh output
      (keeps gradients alive for saturated pixels).
    is_training: unused (no batch norm or dropout); kept for a uniform
      builder signature.

  Returns:
    (predictions [batch, height, width, channels] in (-1, 1) for a zero
    slope, ordered end points encoder_0 ... encoder_2, resnet_block_<i>,
    decoder1, decoder2, logits, predictions).

  Raises:
    ValueError: if `images` is not 4-D, its height or width is not a
      multiple of 4, or its channels are unknown.
  """
  del is_training
  if images.shape.ndims != 4:
    raise UsageError(f'The generator takes images [batch, height, width, '
                     f'channels], got an input of shape {images.shape}.')
  _, height, width, num_outputs = images.shape.as_list()
  for name, size in (('height', height), ('width', width)):
    if size is not None and size % 4:
      # Starts with TF-Slim's sentence, which callers and tests match.
      raise UsageError(
          f'The input {name} must be a multiple of 4, as the CycleGAN '
          f'generator downsamples twice by 2; got {size}. Resize or crop to '
          f'e.g. {size - size % 4 or 4}.')
  if num_outputs is None:
    raise UsageError(f'The generator needs a static channel count to '
                     f'produce an image of the same shape; got {images.shape}.')
  if isinstance(kernel_size, int):
    kernel_size = [kernel_size, kernel_size]
  kernel_height, kernel_width = kernel_size
  # Reflection padding so the 'VALID' convolutions act like 'SAME' ones
  # without the dark borders of zero padding.
  paddings = [[0, 0], [(kernel_height - 1) // 2, kernel_height // 2],
              [(kernel_width - 1) // 2, kernel_width // 2], [0, 0]]
  pad_3 = [[0, 0], [3, 3], [3, 3], [0, 0]]

  def pad(net, spec):
    return tf.pad(net, spec, mode='REFLECT')

  end_points = EndPoints()
  with slim.arg_scope(arg_scope_fn()):
    with tf.variable_scope('input'):
      net = slim.conv2d(pad(images, pad_3), num_filters, kernel_size=[7, 7],
                        padding='VALID')
      end_points.add('encoder_0', net)

    with tf.variable_scope('encoder'), \
        slim.arg_scope([slim.conv2d], kernel_size=kernel_size, stride=2,
                       activation_fn=tf.nn.relu, padding='VALID'):
      net = slim.conv2d(pad(net, paddings), num_filters * 2)
      end_points.add('encoder_1', net)
      net = slim.conv2d(pad(net, paddings), num_filters * 4)
      end_points.add('encoder_2', net)

    with tf.variable_scope('residual_blocks'), \
        slim.arg_scope([slim.conv2d], kernel_size=kernel_size, stride=1,
                       activation_fn=tf.nn.relu, padding='VALID'):
      for block_id in range(num_resnet_blocks):
        with tf.variable_scope(f'block_{block_id}'):
          residual = slim.conv2d(pad(net, paddings), num_filters * 4)
          residual = slim.conv2d(pad(residual, paddings), num_filters * 4,
                                 activation_fn=None)
          net += residual
          end_points.add(f'resnet_block_{block_id}', net)

    with tf.variable_scope('decoder'), \
        slim.arg_scope([slim.conv2d], kernel_size=kernel_size, stride=1,
                       activation_fn=tf.nn.relu):
      with tf.variable_scope('decoder1'):
        net = upsample_fn(net, num_outputs=num_filters * 2, stride=[2, 2])
      end_points.add('decoder1', net)
      with tf.variable_scope('decoder2'):
        net = upsample_fn(net, num_outputs=num_filters, stride=[2, 2])
      end_points.add('decoder2', net)

    with tf.variable_scope('output'):
      logits = slim.conv2d(pad(net, pad_3), num_outputs, [7, 7],
                           activation_fn=None, normalizer_fn=None,
                           padding='VALID')
      end_points.add('logits', logits)
      predictions = tf.tanh(logits) + logits * tanh_linear_slope
      end_points.add('predictions', predictions)
  return predictions, end_points
