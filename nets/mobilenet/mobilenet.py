"""One generic builder for MobileNet v2, v3 and EdgeTPU.

A network is data: a tuple of op records (`Conv`, `ExpandedConv`,
`GlobalPool`) that `mobilenet_base` reads in order. Layer `i` (counting from
1) records the end point 'layer_<i>' and, for inverted-residual blocks,
'layer_<i>/expansion_output', 'layer_<i>/depthwise_output' and
'layer_<i>/output'. Variable scopes are numbered per kind ('Conv', 'Conv_1',
'expanded_conv', 'expanded_conv_1', ...) as in the published checkpoints.
Variants are derived with the pure functions `replace_ops` and
`with_fixed_last_layer`; a spec is never modified in place.

Papers: Sandler et al., "MobileNetV2", 2018 (https://arxiv.org/abs/1801.04381);
Howard et al., "Searching for MobileNetV3", 2019
(https://arxiv.org/abs/1905.02244).
"""

import collections
import dataclasses
from typing import Any, Callable, Optional, Tuple

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.mobilenet import conv_blocks
from slim_zoo.nets.nets_utils import EndPoints, validate_depth_multiplier
from slim_zoo.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Conv:
  """A full convolution, with batch norm unless `batch_norm` is False.

  Attributes:
    num_outputs: output channels before the depth multiplier.
    kernel_size: (height, width) of the kernel.
    stride: spatial stride.
    activation_fn: activation (None for linear).
    batch_norm: batch norm after the convolution; without it the layer has
      biases.
    scale_depth: whether `depth_multiplier` applies to `num_outputs`.
  """
  num_outputs: int
  kernel_size: Tuple[int, int] = (3, 3)
  stride: int = 1
  activation_fn: Optional[Callable[..., Any]] = tf.nn.relu6
  batch_norm: bool = True
  scale_depth: bool = True

  scope_base = 'Conv'


@dataclasses.dataclass(frozen=True)
class ExpandedConv:
  """An inverted-residual block, see `conv_blocks.expanded_conv`.

  Attributes:
    num_outputs: output channels before the depth multiplier.
    expansion_factor: inner channels = input channels x this factor, rounded
      to a multiple of `expansion_divisible_by`.
    expansion_divisible_by: rounding of the inner channel count.
    kernel_size: (height, width) of the depthwise (or fused) kernel.
    stride: spatial stride.
    activation_fn: activation of the inner convolutions.
    squeeze_excite: add squeeze-and-excitation on the inner activations.
    fused: one full kxk expansion convolution instead of 1x1 + depthwise.
    residual: add the input when stride is 1 and depths match.
    scale_depth: whether `depth_multiplier` applies to `num_outputs`.
  """
  num_outputs: int
  expansion_factor: float = 6.0
  expansion_divisible_by: int = 8
  kernel_size: Tuple[int, int] = (3, 3)
  stride: int = 1
  activation_fn: Optional[Callable[..., Any]] = tf.nn.relu6
  squeeze_excite: bool = False
  fused: bool = False
  residual: bool = True
  scale_depth: bool = True

  scope_base = 'expanded_conv'


@dataclasses.dataclass(frozen=True)
class GlobalPool:
  """Averages the feature map to 1 x 1 (MobileNet v3 pools before its last
  convolution). Has no variables and no stride."""
  stride = 1
  scope_base = 'GlobalPool'


OP_TYPES = (Conv, ExpandedConv, GlobalPool)


def replace_ops(conv_defs, select, **changes):
  """Returns a new spec where the ops chosen by `select` get `changes`.

  Args:
    conv_defs: sequence of op records.
    select: predicate on an op record.
    **changes: fields to replace (see `dataclasses.replace`).

  Returns:
    A new tuple; `conv_defs` is left untouched.
  """
  return tuple(dataclasses.replace(op, **changes) if select(op) else op
               for op in conv_defs)


def with_fixed_last_layer(conv_defs):
  """Returns a copy of `conv_defs` whose last layer ignores the multiplier."""
  conv_defs = tuple(conv_defs)
  return conv_defs[:-1] + replace_ops(conv_defs[-1:], lambda op: True,
                                      scale_depth=False)


def _validate(images, conv_defs, depth_multiplier, output_stride,
              final_endpoint):
  if images.shape.rank != 4:
    raise UsageError(f'MobileNet expects images [batch, height, width, '
                     f'channels], got shape {images.shape}.')
  validate_depth_multiplier(depth_multiplier)
  if not conv_defs:
    raise UsageError('conv_defs is empty; give at least one op record '
                     '(Conv, ExpandedConv or GlobalPool).')
  for i, op in enumerate(conv_defs):
    if not isinstance(op, OP_TYPES):
      raise UsageError(f'conv_defs[{i}] is {op!r}; every op must be one of '
                       f'{", ".join(t.__name__ for t in OP_TYPES)}.')
  if output_stride is not None and (
      output_stride <= 0 or (output_stride > 1 and output_stride % 2)):
    raise UsageError(f'output_stride must be None, 1 or a positive even '
                     f'number (8, 16, 32 ...), got {output_stride!r}.')
  valid = [f'layer_{i + 1}' for i in range(len(conv_defs))]
  if final_endpoint is not None and final_endpoint not in valid:
    raise UsageError(f'Unknown final endpoint {final_endpoint!r}; valid end '
                     f'points are: {", ".join(valid)}.')


def _build_base(images, conv_defs, depth_multiplier, min_depth, divisible_by,
                final_endpoint, output_stride, use_explicit_padding,
                is_training):
  """Builds the ops of `conv_defs` in the current variable scope."""
  batch_norm_args = {'center': True, 'scale': True}
  if is_training is not None:
    batch_norm_args['is_training'] = is_training
  padding = 'VALID' if use_explicit_padding else 'SAME'
  end_points = EndPoints(final_endpoint)
  scope_counts = collections.Counter()
  # Once the running stride reaches output_stride, later strides become
  # atrous rates: same variables, larger feature maps.
  current_stride, rate = 1, 1
  net = images
  with slim.arg_scope([slim.batch_norm], **batch_norm_args):
    for i, op in enumerate(conv_defs):
      if output_stride is not None and current_stride == output_stride:
        layer_stride, layer_rate = 1, rate
        rate *= op.stride
      else:
        layer_stride, layer_rate = op.stride, 1
        current_stride *= op.stride
      count = scope_counts[op.scope_base]
      scope_counts[op.scope_base] += 1
      scope = op.scope_base + (f'_{count}' if count else '')
      layer = f'layer_{i + 1}'

      if isinstance(op, GlobalPool):
        net = conv_blocks.global_pool(net, name=scope)
      else:
        depth = op.num_outputs
        if op.scale_depth:
          depth = conv_blocks.make_divisible(depth * depth_multiplier,
                                             divisible_by, min_depth)
        if isinstance(op, Conv):
          kernel = list(op.kernel_size)
          if use_explicit_padding:
            net = conv_blocks.fixed_padding(net, kernel, layer_rate)
          net = slim.conv2d(
              net, depth, kernel, stride=layer_stride, rate=layer_rate,
              padding=padding, activation_fn=op.activation_fn,
              normalizer_fn=slim.batch_norm if op.batch_norm else None,
              scope=scope)
        else:
          in_depth = net.shape.as_list()[3]
          block_end_points = {}
          net = conv_blocks.expanded_conv(
              net, depth,
              expansion_size=conv_blocks.make_divisible(
                  in_depth * op.expansion_factor, op.expansion_divisible_by),
              kernel_size=op.kernel_size, stride=layer_stride,
              rate=layer_rate, activation_fn=op.activation_fn,
              residual=op.residual, use_squeeze_excite=op.squeeze_excite,
              fused=op.fused, use_explicit_padding=use_explicit_padding,
              end_points=block_end_points, scope=scope)
          for name, tensor in block_end_points.items():
            end_points.add(f'{layer}/{name}', tensor)
      if end_points.add(layer, net):
        break
  return net, end_points


@slim.add_arg_scope
def mobilenet_base(images, conv_defs, depth_multiplier=1.0, min_depth=8,
                   divisible_by=8, final_endpoint=None, output_stride=None,
                   use_explicit_padding=False, is_training=False,
                   scope='Mobilenet', reuse=None):
  """The feature extractor described by `conv_defs`, without the head.

  Args:
    images: float Tensor [batch, height, width, channels].
    conv_defs: sequence of op records (`Conv`, `ExpandedConv`, `GlobalPool`).
    depth_multiplier: positive float scaling every op's `num_outputs`
      (ops with `scale_depth=False` excepted).
    min_depth: smallest channel count after the multiplier.
    divisible_by: scaled channel counts are rounded to multiples of this.
    final_endpoint: 'layer_<i>' to stop at; None builds every op.
    output_stride: None, 1 or an even number: the ratio of input to output
      size. Strides past it become atrous rates; variables do not change.
    use_explicit_padding: pad explicitly and convolve with VALID padding.
    is_training: batch-norm mode; None leaves it to the caller's arg scope.
    scope: variable scope.
    reuse: whether to reuse the scope's variables.

  Returns:
    (features [batch, height / stride, width / stride, depth], end_points).

  Raises:
    ValueError: for images that are not rank 4, a non-positive multiplier,
      an empty spec or unknown op, an invalid output stride or an unknown
      final end point.
  """
  _validate(images, conv_defs, depth_multiplier, output_stride, final_endpoint)
  with tf.variable_scope(scope, 'Mobilenet', [images], reuse=reuse):
    return _build_base(images, tuple(conv_defs), depth_multiplier, min_depth,
                       divisible_by, final_endpoint, output_stride,
                       use_explicit_padding, is_training)


@slim.add_arg_scope
def mobilenet(images, conv_defs, num_classes=1001, is_training=False,
              depth_multiplier=1.0, min_depth=8, divisible_by=8,
              finegrain_classification_mode=False, output_stride=None,
              use_explicit_padding=False, final_endpoint=None,
              base_only=False, dropout_keep_prob=0.8,
              prediction_fn=slim.softmax, reuse=None, scope='Mobilenet'):
  """MobileNet classifier: `conv_defs`, global pool, dropout, 1x1 logits.

  Args:
    images: float Tensor [batch, height, width, 3].
    conv_defs: sequence of op records (`Conv`, `ExpandedConv`, `GlobalPool`).
    num_classes: number of classes; 0 or None returns the pooled features
      [batch, 1, 1, depth] ('global_pool') and builds no logits layer.
    is_training: batch norm uses batch statistics and dropout is active.
    depth_multiplier: positive float scaling every layer's channel count.
    min_depth: smallest channel count after the multiplier.
    divisible_by: scaled channel counts are rounded to multiples of this.
    finegrain_classification_mode: keep the last layer at its specified
      depth whatever the multiplier (helps small multipliers on ImageNet).
    output_stride: see `mobilenet_base`.
    use_explicit_padding: see `mobilenet_base`.
    final_endpoint: stop at this 'layer_<i>' and return the base features
      (implies `base_only`).
    base_only: return the features of the last op, without pooling or head.
    dropout_keep_prob: fraction of pooled features kept during training.
    prediction_fn: maps logits to predictions.
    reuse: whether to reuse the scope's variables.
    scope: variable scope.

  Returns:
    (logits [batch, num_classes], end_points), or the features when
    `num_classes` is 0/None, `base_only` or `final_endpoint` is set. The
    logits tensor is named '<scope>/Logits/output'.

  Raises:
    ValueError: see `mobilenet_base`.
  """
  _validate(images, conv_defs, depth_multiplier, output_stride, final_endpoint)
  conv_defs = tuple(conv_defs)
  if finegrain_classification_mode:
    conv_defs = with_fixed_last_layer(conv_defs)
  with tf.variable_scope(scope, 'Mobilenet', [images], reuse=reuse):
    net, end_points = _build_base(
        images, conv_defs, depth_multiplier, min_depth, divisible_by,
        final_endpoint, output_stride, use_explicit_padding, is_training)
    if base_only or final_endpoint is not None:
      return net, end_points
    with tf.variable_scope('Logits'):
      net = conv_blocks.global_pool(net)
      end_points.add('global_pool', net)
      if not num_classes:
        return net, end_points
      net = slim.dropout(net, keep_prob=dropout_keep_prob,
                         is_training=is_training, scope='Dropout')
      # 'Conv2d_1c_1x1' is the published checkpoints' name for the logits.
      logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None,
                           normalizer_fn=None,
                           biases_initializer=tf.zeros_initializer(),
                           scope='Conv2d_1c_1x1')
      logits = tf.squeeze(logits, [1, 2])
      logits = tf.identity(logits, name='output')
    end_points.add('Logits', logits)
    if prediction_fn:
      end_points.add('Predictions', prediction_fn(logits, scope='Predictions'))
  return logits, end_points


def variant(name, builder, **defaults):
  """Returns `builder` with other defaults, as a named function (a registry
  row or a user can point at it)."""
  def fn(images, **kwargs):
    return builder(images, **{**defaults, **kwargs})
  settings = ', '.join(f'{k}={v!r}' for k, v in defaults.items()
                       if k != 'conv_defs')
  fn.__name__ = fn.__qualname__ = name
  fn.__module__ = builder.__module__
  fn.__doc__ = (f'`{builder.__name__}` with {settings or "its defaults"}'
                f'{" and its own conv_defs" if "conv_defs" in defaults else ""}'
                f'; see `{builder.__name__}` for the arguments.')
  fn.default_image_size = 224
  return fn


def training_scope(is_training=True, weight_decay=0.00004, stddev=0.09,
                   bn_decay=0.997):
  """Training knobs of the MobileNet v2/v3 family (architecture is in specs).

  Args:
    is_training: default mode of batch norm and of `mobilenet` /
      `mobilenet_base` when the caller does not pass one.
    weight_decay: L2 regularization of full convolutions (depthwise kernels
      are not regularized).
    stddev: standard deviation of the truncated-normal initializer; a
      negative value selects Xavier initialization.
    bn_decay: moving-average decay of the batch-norm statistics.

  Returns:
    An arg scope.
  """
  if stddev < 0:
    initializer = slim.initializers.xavier_initializer()
  else:
    initializer = tf.truncated_normal_initializer(stddev=stddev)
  with slim.arg_scope([slim.conv2d, slim.fully_connected,
                       slim.separable_conv2d],
                      weights_initializer=initializer), \
      slim.arg_scope([mobilenet, mobilenet_base], is_training=is_training), \
      slim.arg_scope([slim.batch_norm], decay=bn_decay,
                     is_training=is_training), \
      slim.arg_scope([slim.dropout], is_training=is_training), \
      slim.arg_scope([slim.conv2d],
                     weights_regularizer=slim.l2_regularizer(weight_decay)), \
      slim.arg_scope([slim.separable_conv2d], weights_regularizer=None) as sc:
    return sc
