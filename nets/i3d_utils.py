"""3-D building blocks shared by the video networks I3D and S3D-G.

I3D: Carreira and Zisserman, "Quo Vadis, Action Recognition? A New Model and
the Kinetics Dataset", CVPR 2017 (https://arxiv.org/abs/1705.07750).
S3D-G: Xie et al., "Rethinking Spatiotemporal Feature Learning: Speed-Accuracy
Trade-offs in Video Classification", ECCV 2018
(https://arxiv.org/abs/1712.04851).

Both networks are Inception-v1 (GoogLeNet) inflated to three dimensions and
differ only in options of one trunk: the temporal size of the first kernel,
whether 3-D convolutions are split into a spatial and a temporal part
(`separable`), and where temporal convolutions and feature gating start. This
module holds that trunk (`inception_v1_3d_base`), its pieces
(`conv3d_spatiotemporal`, `self_gating`, `inception_block_v1_3d`,
`reduced_kernel_size_3d`) and the classifier head, so `nets.i3d` and
`nets.s3dg` are thin wrappers that only fix those options.

Videos are 5-D tensors: [batch, frames, height, width, channels] ('NDHWC') or
[batch, channels, frames, height, width] ('NCDHW', S3D-G only).
"""

import collections

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.nets_utils import EndPoints, validate_depth_multiplier
from slim_zoo.errors import UsageError

DATA_FORMATS = ('NDHWC', 'NCDHW')
FIRST_TEMPORAL_KERNEL_SIZES = (1, 3, 5, 7)

# One Inception block: output depths of its branches, named after the
# checkpoint's scopes (Branch_<i>/Conv2d_<layer>).
_Mixed = collections.namedtuple(
    '_Mixed', ['b0_0a', 'b1_0a', 'b1_0b', 'b2_0a', 'b2_0b', 'b3_0b'])
_Pool = collections.namedtuple('_Pool', ['kernel', 'stride'])

# Everything after the stem, in order: (end point name, layer). The names are
# the published checkpoint's scopes; keep them as they are.
_TRUNK = (
    ('MaxPool_3a_3x3', _Pool([1, 3, 3], [1, 2, 2])),
    ('Mixed_3b', _Mixed(64, 96, 128, 16, 32, 32)),
    ('Mixed_3c', _Mixed(128, 128, 192, 32, 96, 64)),
    ('MaxPool_4a_3x3', _Pool([3, 3, 3], [2, 2, 2])),
    ('Mixed_4b', _Mixed(192, 96, 208, 16, 48, 64)),
    ('Mixed_4c', _Mixed(160, 112, 224, 24, 64, 64)),
    ('Mixed_4d', _Mixed(128, 128, 256, 24, 64, 64)),
    ('Mixed_4e', _Mixed(112, 144, 288, 32, 64, 64)),
    ('Mixed_4f', _Mixed(256, 160, 320, 32, 128, 128)),
    ('MaxPool_5a_2x2', _Pool([2, 2, 2], [2, 2, 2])),
    ('Mixed_5b', _Mixed(256, 160, 320, 32, 128, 128)),
    ('Mixed_5c', _Mixed(384, 192, 384, 48, 128, 128)),
)

_STEM = ('Conv2d_1a_7x7', 'MaxPool_2a_3x3', 'Conv2d_2b_1x1', 'Conv2d_2c_3x3')
END_POINTS = _STEM + tuple(name for name, _ in _TRUNK)
# Layers at which temporal convolutions or feature gating may be switched on:
# the 3x3 stem convolution and every Inception block.
START_POINTS = ('Conv2d_2c_3x3',) + tuple(
    name for name, layer in _TRUNK if isinstance(layer, _Mixed))


def _trunc_normal(stddev):
  return tf.truncated_normal_initializer(0.0, stddev)


def _triple(value, name):
  """Returns `value` as a list of three ints (one int is repeated)."""
  if isinstance(value, int):
    return [value] * 3
  value = list(value)
  if len(value) != 3:
    raise UsageError(f'{name} must be one int or three ints [time, height, '
                     f'width], got {value!r}.')
  return value


def check_video_input(inputs, data_format='NDHWC'):
  """Raises ValueError unless `inputs` is a 5-D video tensor.

  Args:
    inputs: the tensor given to a video network.
    data_format: 'NDHWC' or 'NCDHW'.
  """
  if data_format not in DATA_FORMATS:
    raise UsageError(f'data_format must be one of {DATA_FORMATS}, got '
                     f'{data_format!r}.')
  rank = inputs.shape.ndims
  if rank != 5:
    layout = ('[batch, frames, height, width, channels]'
              if data_format == 'NDHWC' else
              '[batch, channels, frames, height, width]')
    raise UsageError(
        f'Video networks take a 5-D input {layout} ({data_format}), got an '
        f'input of rank {rank} and shape {inputs.shape}. Stack the frames of '
        f'each clip on a time axis (a single image is a 1-frame clip).')


@slim.add_arg_scope
def conv3d_spatiotemporal(inputs, num_outputs, kernel_size, stride=1,
                          separable=False, scope=None, **kwargs):
  """A 3-D convolution, optionally split into spatial and temporal parts.

  With `separable` and a temporal kernel size above 1 (S3D), a [t, k, k]
  convolution becomes a [1, k, k] convolution named `scope` (normalized like
  any other layer) followed by a [t, 1, 1] convolution named
  `scope + '/temporal'` with biases and no normalizer, which is how the
  published S3D-G checkpoint stores it.

  Args:
    inputs: 5-D Tensor.
    num_outputs: output channels of both parts.
    kernel_size: [time, height, width].
    stride: int or [time, height, width].
    separable: whether to split the convolution.
    scope: variable scope; required when the convolution is split.
    **kwargs: passed to `slim.conv3d` (activation_fn, data_format, ...).

  Returns:
    5-D Tensor with `num_outputs` channels.

  Raises:
    ValueError: for a malformed kernel size or stride, or a split
      convolution without a scope.
  """
  kernel_size = _triple(kernel_size, 'kernel_size')
  stride = _triple(stride, 'stride')
  if not separable or kernel_size[0] == 1:
    return slim.conv3d(inputs, num_outputs, kernel_size, stride=stride,
                       scope=scope, **kwargs)
  if not scope:
    raise UsageError('A separable conv3d_spatiotemporal needs a scope to name '
                     'its temporal part; pass scope=...')
  net = slim.conv3d(inputs, num_outputs, [1] + kernel_size[1:],
                    stride=[1] + stride[1:], scope=scope, **kwargs)
  temporal_kwargs = {k: v for k, v in kwargs.items()
                     if k not in ('normalizer_fn', 'normalizer_params')}
  return slim.conv3d(net, num_outputs, [kernel_size[0], 1, 1],
                     stride=[stride[0], 1, 1], normalizer_fn=None,
                     scope=scope + '/temporal', **temporal_kwargs)


def self_gating(inputs, scope, data_format='NDHWC'):
  """Feature gating of S3D-G: channels scaled by a function of their mean.

  Each channel is multiplied by sigmoid(W m), where m is the vector of
  channel means over time and space, so the gate depends on the whole clip.

  Args:
    inputs: 5-D Tensor.
    scope: scope of the gated layer; the weights live in
      `scope + '/self_gating/transformer_W'`.
    data_format: 'NDHWC' or 'NCDHW'.

  Returns:
    Tensor of the same shape as `inputs`.
  """
  axes = [data_format.index(axis) for axis in 'DHW']
  num_channels = inputs.shape[data_format.index('C')]
  # A mean rather than an average pool over the static size keeps the gate
  # valid for inputs whose size is only known at run time.
  context = tf.reduce_mean(inputs, axis=axes, keepdims=True)
  weights = slim.conv3d(
      context, num_channels, [1, 1, 1], stride=1, activation_fn=None,
      normalizer_fn=None, biases_initializer=None,
      weights_initializer=_trunc_normal(1.0), data_format=data_format,
      scope=scope + '/self_gating/transformer_W')
  return tf.sigmoid(weights) * inputs


def inception_block_v1_3d(inputs, num_outputs_0_0a, num_outputs_1_0a,
                          num_outputs_1_0b, num_outputs_2_0a, num_outputs_2_0b,
                          num_outputs_3_0b, temporal_kernel_size=3,
                          self_gating_fn=None, separable=False,
                          data_format='NDHWC', scope='InceptionBlock'):
  """An Inception-v1 block inflated to 3-D.

  Four branches concatenated on channels: 1x1x1; 1x1x1 then [t, 3, 3];
  1x1x1 then [t, 3, 3]; 3x3x3 max pool then 1x1x1.

  Args:
    inputs: 5-D Tensor.
    num_outputs_0_0a: channels of Branch_0/Conv2d_0a_1x1.
    num_outputs_1_0a: channels of Branch_1/Conv2d_0a_1x1.
    num_outputs_1_0b: channels of Branch_1/Conv2d_0b_3x3.
    num_outputs_2_0a: channels of Branch_2/Conv2d_0a_1x1.
    num_outputs_2_0b: channels of Branch_2/Conv2d_0b_3x3.
    num_outputs_3_0b: channels of Branch_3/Conv2d_0b_1x1.
    temporal_kernel_size: t of the [t, 3, 3] convolutions.
    self_gating_fn: None, or fn(net, scope) gating each branch's output.
    separable: split the [t, 3, 3] convolutions (S3D).
    data_format: 'NDHWC' or 'NCDHW'.
    scope: variable scope.

  Returns:
    5-D Tensor with the sum of the branch channels.
  """
  def gate(net, layer_scope):
    return self_gating_fn(net, scope=layer_scope) if self_gating_fn else net

  def conv(net, depth, kernel, layer_scope):
    return conv3d_spatiotemporal(
        net, depth, kernel, stride=1, separable=separable, padding='SAME',
        data_format=data_format, scope=layer_scope)

  spatiotemporal = [temporal_kernel_size, 3, 3]
  with tf.variable_scope(scope):
    with tf.variable_scope('Branch_0'):
      branch_0 = conv(inputs, num_outputs_0_0a, [1, 1, 1], 'Conv2d_0a_1x1')
      branch_0 = gate(branch_0, 'Conv2d_0a_1x1')
    with tf.variable_scope('Branch_1'):
      branch_1 = conv(inputs, num_outputs_1_0a, [1, 1, 1], 'Conv2d_0a_1x1')
      branch_1 = conv(branch_1, num_outputs_1_0b, spatiotemporal,
                      'Conv2d_0b_3x3')
      branch_1 = gate(branch_1, 'Conv2d_0b_3x3')
    with tf.variable_scope('Branch_2'):
      branch_2 = conv(inputs, num_outputs_2_0a, [1, 1, 1], 'Conv2d_0a_1x1')
      branch_2 = conv(branch_2, num_outputs_2_0b, spatiotemporal,
                      'Conv2d_0b_3x3')
      branch_2 = gate(branch_2, 'Conv2d_0b_3x3')
    with tf.variable_scope('Branch_3'):
      branch_3 = slim.max_pool3d(inputs, [3, 3, 3], stride=1, padding='SAME',
                                 data_format=data_format,
                                 scope='MaxPool_0a_3x3')
      branch_3 = conv(branch_3, num_outputs_3_0b, [1, 1, 1], 'Conv2d_0b_1x1')
      branch_3 = gate(branch_3, 'Conv2d_0b_1x1')
    return tf.concat([branch_0, branch_1, branch_2, branch_3],
                     axis=data_format.index('C'))


def reduced_kernel_size_3d(input_tensor, kernel_size):
  """Shrinks a pooling kernel to fit a small NDHWC input.

  Args:
    input_tensor: 5-D Tensor [batch, time, height, width, channels].
    kernel_size: desired [time, height, width].

  Returns:
    [time, height, width], each at most the input's size; `kernel_size`
    unchanged when any of those sizes is unknown.

  Raises:
    ValueError: if the input is not 5-D or the kernel size is malformed.
  """
  kernel_size = _triple(kernel_size, 'kernel_size')
  shape = input_tensor.shape.as_list() if input_tensor.shape.ndims else None
  if shape is None or len(shape) != 5:
    raise UsageError(f'reduced_kernel_size_3d needs a 5-D NDHWC tensor, got '
                     f'shape {input_tensor.shape}.')
  if None in shape[1:4]:
    return kernel_size
  return [min(size, k) for size, k in zip(shape[1:4], kernel_size)]


def _check_start_point(value, name):
  if value is not None and value not in START_POINTS:
    raise UsageError(f'{name} must be None or one of {", ".join(START_POINTS)}'
                     f'; got {value!r}.')


def inception_v1_3d_base(inputs, first_temporal_kernel_size=3,
                         temporal_conv_startat='Conv2d_2c_3x3',
                         gating_startat='Conv2d_2c_3x3', separable=True,
                         final_endpoint='Mixed_5c', min_depth=16,
                         depth_multiplier=1.0, data_format='NDHWC',
                         is_training=None, scope='InceptionV1'):
  """The 3-D Inception-v1 trunk of I3D and S3D-G, from input to Mixed_5c.

  Args:
    inputs: 5-D Tensor [batch, frames, height, width, 3] (NDHWC) or
      [batch, 3, frames, height, width] (NCDHW).
    first_temporal_kernel_size: temporal size of Conv2d_1a_7x7, one of
      1, 3, 5, 7 (I3D: 7, S3D-G: 3).
    temporal_conv_startat: first layer of START_POINTS whose 3x3
      convolutions get a temporal size of 3 (1 before it); None keeps every
      such convolution purely spatial.
    gating_startat: first layer of START_POINTS with feature gating; None
      disables gating (I3D, S3D).
    separable: split [t, 3, 3] convolutions into spatial and temporal parts.
    final_endpoint: end point of END_POINTS at which to stop; None builds
      the whole trunk.
    min_depth: minimum number of channels of every convolution.
    depth_multiplier: scales the channels of every convolution.
    data_format: 'NDHWC' or 'NCDHW'.
    is_training: None leaves batch norm's mode to the caller's arg scope;
      True/False sets it.
    scope: variable scope.

  Returns:
    (net at `final_endpoint`, ordered end points). At a 64x224x224 input,
    Mixed_5c is [batch, 8, 7, 7, 1024].

  Raises:
    ValueError: for a non-5-D input or an invalid option.
  """
  check_video_input(inputs, data_format)
  validate_depth_multiplier(depth_multiplier)
  if first_temporal_kernel_size not in FIRST_TEMPORAL_KERNEL_SIZES:
    raise UsageError(f'first_temporal_kernel_size must be one of '
                     f'{FIRST_TEMPORAL_KERNEL_SIZES}, got '
                     f'{first_temporal_kernel_size!r}.')
  _check_start_point(temporal_conv_startat, 'temporal_conv_startat')
  _check_start_point(gating_startat, 'gating_startat')
  if final_endpoint is not None and final_endpoint not in END_POINTS:
    # Checked before building: the whole trunk is slow to build for nothing.
    raise UsageError(f'Unknown final endpoint {final_endpoint!r}; valid end '
                     f'points are: {", ".join(END_POINTS)}.')

  def depth(d):
    return max(int(d * depth_multiplier), min_depth)

  def gating_fn(net, scope):
    return self_gating(net, scope, data_format=data_format)

  bn_scope = {'data_format': 'NCHW' if data_format == 'NCDHW' else 'NHWC'}
  if is_training is not None:
    bn_scope['is_training'] = is_training

  end_points = EndPoints(final_endpoint)
  t = 1
  use_gating = False
  with tf.variable_scope(scope, 'InceptionV1', [inputs]), \
      slim.arg_scope([slim.conv3d], weights_initializer=_trunc_normal(0.01),
                     activation_fn=tf.nn.relu,
                     normalizer_fn=slim.batch_norm), \
      slim.arg_scope([slim.conv3d, slim.max_pool3d, conv3d_spatiotemporal],
                     stride=1, padding='SAME', data_format=data_format), \
      slim.arg_scope([slim.batch_norm], **bn_scope):
    # 32 x 112 x 112 x 64 at 64 x 224 x 224. Not separable even in S3D-G:
    # a split convolution is slow on the 3 input channels.
    net = conv3d_spatiotemporal(inputs, depth(64),
                                [first_temporal_kernel_size, 7, 7], stride=2,
                                separable=False, scope='Conv2d_1a_7x7')
    if end_points.add('Conv2d_1a_7x7', net):
      return net, end_points
    # 32 x 56 x 56 x 64
    net = slim.max_pool3d(net, [1, 3, 3], stride=[1, 2, 2],
                          scope='MaxPool_2a_3x3')
    if end_points.add('MaxPool_2a_3x3', net):
      return net, end_points
    # 32 x 56 x 56 x 64
    net = slim.conv3d(net, depth(64), [1, 1, 1], scope='Conv2d_2b_1x1')
    if end_points.add('Conv2d_2b_1x1', net):
      return net, end_points
    # 32 x 56 x 56 x 192
    name = 'Conv2d_2c_3x3'
    t = 3 if temporal_conv_startat == name else t
    use_gating = use_gating or gating_startat == name
    net = conv3d_spatiotemporal(net, depth(192), [t, 3, 3],
                                separable=separable, scope=name)
    if use_gating:
      net = gating_fn(net, name)
    if end_points.add(name, net):
      return net, end_points

    for name, layer in _TRUNK:
      if isinstance(layer, _Pool):
        net = slim.max_pool3d(net, layer.kernel, stride=layer.stride,
                              scope=name)
      else:
        t = 3 if temporal_conv_startat == name else t
        use_gating = use_gating or gating_startat == name
        net = inception_block_v1_3d(
            net, *[depth(d) for d in layer], temporal_kernel_size=t,
            self_gating_fn=gating_fn if use_gating else None,
            separable=separable, data_format=data_format, scope=name)
      if end_points.add(name, net):
        return net, end_points
  return net, end_points


def inception_v1_3d(inputs, num_classes=400, is_training=True,
                    dropout_keep_prob=0.8, prediction_fn=slim.softmax,
                    spatial_squeeze=True, reuse=None, scope='InceptionV1',
                    data_format='NDHWC', **base_kwargs):
  """Video classifier: the 3-D trunk, average pooling and 1x1x1 logits.

  Logits are computed per remaining time step and averaged over time, as in
  the published I3D and S3D-G models.

  Args:
    inputs: 5-D video Tensor (see `inception_v1_3d_base`).
    num_classes: number of classes; 0 or None returns the pooled features
      (time-averaged) instead, [batch, channels] with `spatial_squeeze`.
    is_training: batch norm and dropout in training mode.
    dropout_keep_prob: fraction of pooled activations kept in training.
    prediction_fn: maps logits to predictions.
    spatial_squeeze: drop the 1x1 spatial dimensions of the logits (the
      pooled map is 1x1 up to 224x224 inputs).
    reuse: whether to reuse the scope's variables.
    scope: variable scope.
    data_format: 'NDHWC' or 'NCDHW'.
    **base_kwargs: options of `inception_v1_3d_base`.

  Returns:
    (logits [batch, num_classes] (or [batch, h, w, num_classes] without
    `spatial_squeeze`), ordered end points).
  """
  with tf.variable_scope(scope, 'InceptionV1', [inputs], reuse=reuse) as sc, \
      slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
    net, end_points = inception_v1_3d_base(
        inputs, data_format=data_format, is_training=is_training, scope=sc,
        **base_kwargs)
    with tf.variable_scope('Logits'):
      if data_format == 'NCDHW':
        net = tf.transpose(net, [0, 2, 3, 4, 1])
      kernel_size = reduced_kernel_size_3d(net, [2, 7, 7])
      net = slim.avg_pool3d(net, kernel_size, stride=1, padding='VALID',
                            data_format='NDHWC', scope='AvgPool_0a_7x7')
      if not num_classes:
        # Averaging the features over time before the (linear) logits layer
        # equals averaging the logits over time, as the classifier does.
        net = tf.reduce_mean(net, axis=1)
        if spatial_squeeze:
          net = tf.squeeze(net, [1, 2], name='SpatialSqueeze')
        return net, end_points
      net = slim.dropout(net, dropout_keep_prob, is_training=is_training,
                         scope='Dropout_0b')
      logits = slim.conv3d(net, num_classes, [1, 1, 1], activation_fn=None,
                           normalizer_fn=None, data_format='NDHWC',
                           scope='Conv2d_0c_1x1')
      logits = tf.reduce_mean(logits, axis=1)  # average over time
      if spatial_squeeze:
        logits = tf.squeeze(logits, [1, 2], name='SpatialSqueeze')
      end_points.add('Logits', logits)
      end_points.add('Predictions', prediction_fn(logits, scope='Predictions'))
  return logits, end_points


def inception_3d_arg_scope(weight_decay=1e-7, batch_norm_decay=0.999,
                           batch_norm_epsilon=0.001, use_renorm=False):
  """Training knobs of I3D and S3D-G: L2 weight decay and batch norm.

  Args:
    weight_decay: L2 regularization of the convolution weights.
    batch_norm_decay: moving-average decay of batch norm statistics.
    batch_norm_epsilon: added to the variance in batch norm.
    use_renorm: use batch renormalization.

  Returns:
    An arg scope.
  """
  with slim.arg_scope([slim.conv3d],
                      weights_regularizer=slim.l2_regularizer(weight_decay)), \
      slim.arg_scope(
          [slim.batch_norm], decay=batch_norm_decay,
          epsilon=batch_norm_epsilon, renorm=use_renorm, fused=False,
          variables_collections={'beta': None, 'gamma': None,
                                 'moving_mean': ['moving_vars'],
                                 'moving_variance': ['moving_vars']}) as sc:
    return sc
