"""Layers of the MobileNet v2 / v3 / EdgeTPU family.

The inverted-residual block (`expanded_conv`) of Sandler et al.,
"MobileNetV2: Inverted Residuals and Linear Bottlenecks", 2018
(https://arxiv.org/abs/1801.04381), with the squeeze-and-excitation and
hard-swish additions of Howard et al., "Searching for MobileNetV3", 2019
(https://arxiv.org/abs/1905.02244) and the fused (no depthwise) form of the
EdgeTPU models. Scope names ('expand', 'depthwise', 'project',
'squeeze_excite/Conv', 'squeeze_excite/Conv_1') are those of the published
checkpoints.
"""

from slim_zoo.nets.compat import slim, tf
from slim_zoo.errors import UsageError


# research/slim's squeeze-excite gate multiplies by this rounded 1/6; the
# published v3 checkpoints were trained with it, so the gate keeps it.
GATE_SCALE = 0.16667


def hard_sigmoid(x, name='hard_sigmoid'):
  """The squeeze-excite gate: relu6(x + 3) * 0.16667, same shape as `x`.

  0.16667 rather than 1/6 is research/slim's constant (see `GATE_SCALE`).
  """
  with tf.name_scope(name):
    return tf.nn.relu6(x + 3.0) * GATE_SCALE


def hard_swish(x, name='hard_swish'):
  """x * relu6(x + 3) / 6: the cheap swish of MobileNet v3, shape of `x`.

  research/slim's hard swish uses exactly 1/6 (only its gate rounds it).
  """
  with tf.name_scope(name):
    return x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0)


def make_divisible(value, divisor=8, min_value=None):
  """Rounds a channel count to a multiple of `divisor` (hardware friendly).

  Rounds to the nearest multiple, never below `min_value` (default
  `divisor`) and never more than 10% below `value`.

  Args:
    value: the ideal channel count (float allowed).
    divisor: the result is a multiple of this.
    min_value: smallest allowed result.

  Returns:
    int.
  """
  if min_value is None:
    min_value = divisor
  new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
  if new_value < 0.9 * value:
    new_value += divisor
  return int(new_value)


def expand_input_by_factor(n, divisible_by=8):
  """Returns an `expansion_size` callable: input depth x `n`, rounded."""
  return lambda num_inputs, **_: make_divisible(num_inputs * n, divisible_by)


def fixed_padding(inputs, kernel_size, rate=1):
  """Pads height and width so a VALID convolution acts like SAME at stride 1.

  Args:
    inputs: Tensor [batch, height, width, channels].
    kernel_size: [kernel_height, kernel_width].
    rate: atrous rate of the convolution that follows.

  Returns:
    Tensor [batch, height + pad_h, width + pad_w, channels].
  """
  effective = [k + (k - 1) * (rate - 1) for k in kernel_size]
  pad_h, pad_w = effective[0] - 1, effective[1] - 1
  return tf.pad(inputs, [[0, 0], [pad_h // 2, pad_h - pad_h // 2],
                         [pad_w // 2, pad_w - pad_w // 2], [0, 0]])


def global_pool(inputs, name='global_pool'):
  """Averages over height and width: [b, h, w, c] -> [b, 1, 1, c].

  A mean over the axes works for unknown spatial sizes too, unlike an
  average pool whose kernel must be static.
  """
  return tf.reduce_mean(inputs, [1, 2], keepdims=True, name=name)


def squeeze_excite(inputs, squeeze_factor=4, divisible_by=8,
                   inner_activation_fn=tf.nn.relu, gating_fn=hard_sigmoid,
                   scope='squeeze_excite'):
  """Squeeze-and-excitation: rescales channels by a gate of their means.

  Hu et al., "Squeeze-and-Excitation Networks", 2018, with the MobileNet v3
  choices (squeeze to a quarter, hard-sigmoid gate).

  Args:
    inputs: Tensor [batch, height, width, channels].
    squeeze_factor: the bottleneck has channels / squeeze_factor channels
      (rounded by `make_divisible`).
    divisible_by: rounding of the bottleneck width.
    inner_activation_fn: activation of the bottleneck.
    gating_fn: maps the excitation to per-channel scales.
    scope: variable scope.

  Returns:
    Tensor with the shape of `inputs`.
  """
  channels = inputs.shape.as_list()[3]
  squeeze_channels = make_divisible(channels / squeeze_factor, divisible_by)
  with tf.variable_scope(scope):
    pooled = global_pool(inputs, name='pool')
    squeeze = slim.conv2d(pooled, squeeze_channels, [1, 1],
                          activation_fn=inner_activation_fn,
                          normalizer_fn=None, scope='Conv')
    excite = slim.conv2d(squeeze, channels, [1, 1], activation_fn=gating_fn,
                         normalizer_fn=None, scope='Conv_1')
    return inputs * excite


@slim.add_arg_scope
def expanded_conv(inputs, num_outputs, expansion_size, kernel_size=(3, 3),
                  stride=1, rate=1, activation_fn=tf.nn.relu6, residual=True,
                  use_squeeze_excite=False, fused=False,
                  use_explicit_padding=False, end_points=None,
                  normalizer_fn=slim.batch_norm, scope='expanded_conv'):
  """Inverted residual block: expand, depthwise, (squeeze-excite), project.

  1x1 expansion to `expansion_size` channels (skipped when that is not more
  than the input depth), kxk depthwise convolution, optional squeeze-excite,
  then a linear 1x1 projection to `num_outputs`, with a residual connection
  when shapes allow. A `fused` block replaces expansion + depthwise by one
  full kxk convolution (EdgeTPU). Every convolution is normalized by
  `normalizer_fn`; the caller sets batch norm's mode through an arg scope on
  `slim.batch_norm`.

  Args:
    inputs: Tensor [batch, height, width, in_depth].
    num_outputs: output channels.
    expansion_size: inner channels, or a callable mapping
      `num_inputs=<input depth>` to them (see `expand_input_by_factor`).
    kernel_size: [height, width] of the depthwise (or fused) kernel.
    stride: spatial stride.
    rate: atrous rate of the depthwise (or fused) convolution.
    activation_fn: activation after the expansion and depthwise convolutions
      (the projection is linear).
    residual: add the input to the output when stride is 1 and depths match.
    use_squeeze_excite: apply `squeeze_excite` to the inner activations.
    fused: use a full kxk expansion convolution and no depthwise one.
    use_explicit_padding: pad explicitly and convolve with VALID padding.
    end_points: optional dict receiving 'expansion_output',
      'depthwise_output' and 'output' of this block.
    normalizer_fn: normalization after each convolution (batch norm, or
      `slim.group_norm`); None gives the convolutions biases instead.
    scope: variable scope.

  Returns:
    Tensor [batch, height / stride, width / stride, num_outputs].

  Raises:
    ValueError: for a strided fused block that has no expansion to carry
      the stride.
  """
  end_points = {} if end_points is None else end_points
  kernel_size = list(kernel_size)
  padding = 'VALID' if use_explicit_padding else 'SAME'
  in_depth = inputs.shape.as_list()[3]
  if callable(expansion_size):
    expansion_size = expansion_size(num_inputs=in_depth)
  expand = expansion_size > in_depth
  if fused and not expand and stride > 1:
    raise UsageError(f'{scope}: a fused block with stride {stride} needs an '
                     f'expansion wider than its {in_depth} input channels, got '
                     f'expansion_size {expansion_size}; raise the expansion '
                     f'factor or use stride 1.')

  def pad(tensor):
    return fixed_padding(tensor, kernel_size, rate) if use_explicit_padding \
        else tensor

  with tf.variable_scope(scope):
    net = inputs
    if expand:
      if fused:
        net = slim.conv2d(pad(net), expansion_size, kernel_size, stride=stride,
                          rate=rate, padding=padding,
                          activation_fn=activation_fn,
                          normalizer_fn=normalizer_fn, scope='expand')
      else:
        net = slim.conv2d(net, expansion_size, [1, 1],
                          activation_fn=activation_fn,
                          normalizer_fn=normalizer_fn, scope='expand')
      net = tf.identity(net, name='expansion_output')
      end_points['expansion_output'] = net
    if not fused:
      net = slim.separable_conv2d(pad(net), None, kernel_size,
                                  depth_multiplier=1, stride=stride, rate=rate,
                                  padding=padding, activation_fn=activation_fn,
                                  normalizer_fn=normalizer_fn,
                                  scope='depthwise')
      net = tf.identity(net, name='depthwise_output')
      end_points['depthwise_output'] = net
    if use_squeeze_excite:
      net = squeeze_excite(net)
    # Linear bottleneck: a non-linearity here would destroy information in
    # the low-dimensional projection (the paper's section 3.2).
    net = slim.conv2d(net, num_outputs, [1, 1], activation_fn=None,
                      normalizer_fn=normalizer_fn, scope='project')
    if residual and stride == 1 and num_outputs == in_depth:
      net += inputs
    net = tf.identity(net, name='output')
    end_points['output'] = net
  return net
