"""One generic builder for MobileNet v2, v3 and EdgeTPU.

A network is data, laid out as research/slim's conv_defs: a dict with
'spec', the list of layers `mobilenet_base` reads in order, and 'defaults'
(and optionally 'overrides'), arg-scope defaults keyed by tuples of slim
functions. A layer is an op record (`Conv`, `ExpandedConv`, `GlobalPool`) or
research/slim's generic `op(opfunc, **params)`; a plain sequence of layers is
accepted too. Copy a module-level spec (`copy.deepcopy`) before editing it;
the builder only reads it. Layer `i` (counting from
1) records the end point 'layer_<i>' and, for inverted-residual blocks,
'layer_<i>/expansion_output', 'layer_<i>/depthwise_output' and
'layer_<i>/output'. Variable scopes are numbered per kind ('Conv', 'Conv_1',
'expanded_conv', 'expanded_conv_1', ...) as in the published checkpoints.
Variants are derived with the pure functions `replace_ops` and
`with_fixed_last_layer`, which return new specs.

Papers: Sandler et al., "MobileNetV2", 2018 (https://arxiv.org/abs/1801.04381);
Howard et al., "Searching for MobileNetV3", 2019
(https://arxiv.org/abs/1905.02244).
"""

import collections
import contextlib
import dataclasses
from collections.abc import Mapping
from typing import Any, Callable, Optional, Tuple

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.mobilenet import conv_blocks
from slim_zoo.nets.nets_utils import EndPoints, validate_depth_multiplier
from slim_zoo.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Conv:
  """A full convolution, normalized unless `batch_norm` is False.

  Attributes:
    num_outputs: output channels before the depth multiplier.
    kernel_size: (height, width) of the kernel.
    stride: spatial stride.
    activation_fn: activation (None for linear).
    batch_norm: normalize after the convolution, with the spec's normalizer
      (batch norm unless its 'defaults' name another); without it the layer
      has biases.
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

# research/slim's generic layer: `op` is called as op(net, **params) after
# `multiplier_func(params, depth_multiplier)` scaled params['num_outputs'].
Op = collections.namedtuple('Op', ['op', 'params', 'multiplier_func'])
_Op = Op  # research/slim's name.

# What every MobileNet spec of this package sets (and research/slim's do):
# batch norm with a learned offset and scale.
BASE_DEFAULTS = {(slim.batch_norm,): {'center': True, 'scale': True}}


@slim.add_arg_scope
def depth_multiplier(output_params, multiplier, divisible_by=8, min_depth=8,
                     **unused_kwargs):
  """Scales output_params['num_outputs'] in place by `multiplier`.

  research/slim's default `multiplier_func` of `op`; an arg scope on it sets
  `divisible_by` and `min_depth` for every layer of a network.

  Args:
    output_params: dict of layer parameters; left alone without
      'num_outputs'.
    multiplier: the depth multiplier.
    divisible_by: the result is rounded to a multiple of this.
    min_depth: smallest result.
    **unused_kwargs: ignored, so callers may pass more.
  """
  if 'num_outputs' not in output_params:
    return
  output_params['num_outputs'] = conv_blocks.make_divisible(
      output_params['num_outputs'] * multiplier, divisible_by, min_depth)


def op(opfunc, multiplier_func=depth_multiplier, **params):
  """A generic spec layer, research/slim's form: `opfunc(net, **params)`.

  Args:
    opfunc: a layer function taking the input tensor first, e.g.
      `slim.conv2d` or `conv_blocks.expanded_conv`.
    multiplier_func: called as multiplier_func(params, depth_multiplier)
      on a copy of `params` before the layer is built.
    **params: the layer's keyword arguments ('stride' is read for
      output_stride); 'multiplier_transform' is an alias of
      `multiplier_func`.

  Returns:
    An `Op` for a conv_defs 'spec' list.
  """
  multiplier_func = params.pop('multiplier_transform', multiplier_func)
  return Op(opfunc, params=params, multiplier_func=multiplier_func)


def _layers(conv_defs):
  """The layer list of a conv_defs dict or plain sequence."""
  if isinstance(conv_defs, Mapping):
    return conv_defs.get('spec')
  return conv_defs


def _with_layers(conv_defs, layers):
  """A new spec of the same form as `conv_defs` with other layers."""
  if isinstance(conv_defs, Mapping):
    new = dict(conv_defs)
    new['defaults'] = dict(conv_defs.get('defaults', {}))
    new['spec'] = list(layers)
    return new
  return tuple(layers)


def replace_ops(conv_defs, select, **changes):
  """Returns a new spec where the op records chosen by `select` get `changes`.

  Args:
    conv_defs: conv_defs dict or sequence of layers.
    select: predicate on an op record (generic `Op` layers are kept as
      they are).
    **changes: fields to replace (see `dataclasses.replace`).

  Returns:
    A new spec of the same form; `conv_defs` is left untouched.
  """
  return _with_layers(conv_defs, [
      dataclasses.replace(layer, **changes)
      if isinstance(layer, OP_TYPES) and select(layer) else layer
      for layer in _layers(conv_defs)])


def _keep_depth(params, multiplier, **unused_kwargs):
  del params, multiplier  # The layer keeps its specified depth.


def with_fixed_last_layer(conv_defs):
  """Returns a copy of `conv_defs` whose last layer ignores the multiplier."""
  layers = list(_layers(conv_defs))
  last = layers[-1]
  if isinstance(last, Op):
    layers[-1] = last._replace(multiplier_func=_keep_depth)
  else:
    layers[-1] = dataclasses.replace(last, scale_depth=False)
  return _with_layers(conv_defs, layers)


def _table_items(table, name):
  if not isinstance(table, Mapping):
    raise UsageError(f"conv_defs['{name}'] must be a dict from tuples of "
                     f'slim functions to keyword arguments, got {table!r}.')
  for key, params in table.items():
    yield (tuple(key) if isinstance(key, (tuple, list)) else (key,)), params


def _parse(conv_defs):
  """Returns (defaults, overrides, layers) of a conv_defs dict or sequence."""
  if isinstance(conv_defs, Mapping):
    if 'spec' not in conv_defs:
      raise UsageError(f"conv_defs has no 'spec' (its keys are "
                       f"{sorted(conv_defs)}); give dict(defaults={{...}}, "
                       f"spec=[...]) or a sequence of layers.")
    return (list(_table_items(conv_defs.get('defaults', {}), 'defaults')),
            list(_table_items(conv_defs.get('overrides', {}), 'overrides')),
            tuple(conv_defs['spec']))
  return list(_table_items(BASE_DEFAULTS, 'defaults')), [], tuple(conv_defs)


def _normalizer(defaults, overrides):
  """The spec's normalizer of full convolutions (batch norm by default)."""
  normalizer = slim.batch_norm
  for funcs, params in defaults + overrides:
    if slim.conv2d in funcs and 'normalizer_fn' in params:
      normalizer = params['normalizer_fn']
  return normalizer


@contextlib.contextmanager
def _arg_scopes(items):
  with contextlib.ExitStack() as stack:
    for funcs, params in items:
      stack.enter_context(slim.arg_scope(list(funcs), **params))
    yield


def _validate(images, conv_defs, depth_multiplier, output_stride,
              final_endpoint):
  if images.shape.rank != 4:
    raise UsageError(f'MobileNet expects images [batch, height, width, '
                     f'channels], got shape {images.shape}.')
  validate_depth_multiplier(depth_multiplier)
  _, _, conv_defs = _parse(conv_defs)
  if not conv_defs:
    raise UsageError('conv_defs is empty; give at least one layer (Conv, '
                     'ExpandedConv, GlobalPool or op(...)).')
  for i, layer in enumerate(conv_defs):
    if not isinstance(layer, OP_TYPES + (Op,)):
      raise UsageError(f'conv_defs[{i}] is {layer!r}; every op must be one '
                       f'of {", ".join(t.__name__ for t in OP_TYPES)} or '
                       f'an op(...) layer.')
  if output_stride is not None and (
      output_stride <= 0 or (output_stride > 1 and output_stride % 2)):
    raise UsageError(f'output_stride must be None, 1 or a positive even '
                     f'number (8, 16, 32 ...), got {output_stride!r}.')
  valid = [f'layer_{i + 1}' for i in range(len(conv_defs))]
  if final_endpoint is not None and final_endpoint not in valid:
    raise UsageError(f'Unknown final endpoint {final_endpoint!r}; valid end '
                     f'points are: {", ".join(valid)}.')


# Scope names research/slim's layer functions take when unnamed; generic
# layers share the numbering of op records ('Conv', 'Conv_1', ...).
_SCOPE_BASES = {slim.conv2d: 'Conv', conv_blocks.expanded_conv: 'expanded_conv'}


def _build_base(images, conv_defs, multiplier, min_depth, divisible_by,
                final_endpoint, output_stride, use_explicit_padding,
                is_training):
  """Builds the layers of `conv_defs` in the current variable scope."""
  defaults, overrides, layers = _parse(conv_defs)
  normalizer = _normalizer(defaults, overrides)
  # Only explicit values, so a caller's arg scope on `depth_multiplier`
  # (research/slim's way to set min_depth for a whole net) still applies.
  depth_args = {k: v for k, v in (('min_depth', min_depth),
                                  ('divisible_by', divisible_by))
                if v is not None}
  batch_norm_args = {}
  if is_training is not None:
    batch_norm_args['is_training'] = is_training
  padding = 'VALID' if use_explicit_padding else 'SAME'
  end_points = EndPoints(final_endpoint)
  scope_counts = collections.Counter()

  def next_scope(base):
    count = scope_counts[base]
    scope_counts[base] += 1
    return base + (f'_{count}' if count else '')

  def scaled(params, multiplier_func=depth_multiplier):
    params = dict(params)
    with slim.arg_scope([depth_multiplier], **depth_args):
      multiplier_func(params, multiplier)
    return params

  # Once the running stride reaches output_stride, later strides become
  # atrous rates: same variables, larger feature maps.
  current_stride, rate = 1, 1
  net = images
  with slim.arg_scope([slim.batch_norm], **batch_norm_args), \
      _arg_scopes(defaults), _arg_scopes(overrides):
    for i, layer in enumerate(layers):
      params = scaled(layer.params, layer.multiplier_func) \
          if isinstance(layer, Op) else None
      stride = params.get('stride', 1) if params is not None else layer.stride
      if output_stride is not None and current_stride == output_stride:
        layer_stride, layer_rate = 1, rate
        rate *= stride
      else:
        layer_stride, layer_rate = stride, 1
        current_stride *= stride
      name = f'layer_{i + 1}'
      block_end_points = {}

      if params is not None:
        net = _build_op(net, layer.op, params, layer_stride, layer_rate,
                        use_explicit_padding, next_scope, block_end_points)
      elif isinstance(layer, GlobalPool):
        net = conv_blocks.global_pool(net, name=next_scope(layer.scope_base))
      else:
        depth = layer.num_outputs
        if layer.scale_depth:
          depth = scaled({'num_outputs': depth})['num_outputs']
        scope = next_scope(layer.scope_base)
        if isinstance(layer, Conv):
          kernel = list(layer.kernel_size)
          if use_explicit_padding:
            net = conv_blocks.fixed_padding(net, kernel, layer_rate)
          net = slim.conv2d(
              net, depth, kernel, stride=layer_stride, rate=layer_rate,
              padding=padding, activation_fn=layer.activation_fn,
              normalizer_fn=normalizer if layer.batch_norm else None,
              scope=scope)
        else:
          net = conv_blocks.expanded_conv(
              net, depth,
              expansion_size=conv_blocks.expand_input_by_factor(
                  layer.expansion_factor, layer.expansion_divisible_by),
              kernel_size=layer.kernel_size, stride=layer_stride,
              rate=layer_rate, activation_fn=layer.activation_fn,
              residual=layer.residual, use_squeeze_excite=layer.squeeze_excite,
              fused=layer.fused, use_explicit_padding=use_explicit_padding,
              end_points=block_end_points, normalizer_fn=normalizer,
              scope=scope)
      for key, tensor in block_end_points.items():
        end_points.add(f'{name}/{key}', tensor)
      if end_points.add(name, net):
        break
  return net, end_points


def _build_op(net, opfunc, params, stride, rate, use_explicit_padding,
              next_scope, block_end_points):
  """Builds one generic `op(...)` layer as research/slim's builder does."""
  params['stride'] = stride
  if rate > 1:
    params['rate'] = rate
  if use_explicit_padding:
    if 'kernel_size' in params:
      net = conv_blocks.fixed_padding(net, list(params['kernel_size']), rate)
      params['padding'] = 'VALID'
    else:
      params['use_explicit_padding'] = True
  base = _SCOPE_BASES.get(opfunc)
  if base is not None and params.get('scope') is None:
    params['scope'] = next_scope(base)
  if opfunc is conv_blocks.expanded_conv:
    params.setdefault('end_points', block_end_points)
  return opfunc(net, **params)


@slim.add_arg_scope
def mobilenet_base(images, conv_defs, depth_multiplier=1.0, min_depth=None,
                   divisible_by=None, final_endpoint=None, output_stride=None,
                   use_explicit_padding=False, is_training=False,
                   scope='Mobilenet', reuse=None):
  """The feature extractor described by `conv_defs`, without the head.

  Args:
    images: float Tensor [batch, height, width, channels].
    conv_defs: dict(defaults={...}, spec=[...]) or a sequence of layers
      (`Conv`, `ExpandedConv`, `GlobalPool`, `op(...)`); only read.
    depth_multiplier: positive float scaling every op's `num_outputs`
      (ops with `scale_depth=False` excepted).
    min_depth: smallest channel count after the multiplier; None means
      8 or the caller's arg scope on `depth_multiplier`.
    divisible_by: scaled channel counts are rounded to multiples of this;
      None means 8 or the caller's arg scope on `depth_multiplier`.
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
    return _build_base(images, conv_defs, depth_multiplier, min_depth,
                       divisible_by, final_endpoint, output_stride,
                       use_explicit_padding, is_training)


@slim.add_arg_scope
def mobilenet(images, conv_defs, num_classes=1001, is_training=False,
              depth_multiplier=1.0, min_depth=None, divisible_by=None,
              finegrain_classification_mode=False, output_stride=None,
              use_explicit_padding=False, final_endpoint=None,
              base_only=False, dropout_keep_prob=None,
              prediction_fn=slim.softmax, reuse=None, scope='Mobilenet'):
  """MobileNet classifier: `conv_defs`, global pool, dropout, 1x1 logits.

  Args:
    images: float Tensor [batch, height, width, 3].
    conv_defs: see `mobilenet_base`.
    num_classes: number of classes; 0 or None returns the pooled features
      [batch, 1, 1, depth] ('global_pool') and builds no logits layer.
    is_training: batch norm uses batch statistics and dropout is active;
      None leaves both to the caller's arg scope.
    depth_multiplier: positive float scaling every layer's channel count.
    min_depth: see `mobilenet_base`.
    divisible_by: see `mobilenet_base`.
    finegrain_classification_mode: keep the last layer at its specified
      depth whatever the multiplier (helps small multipliers on ImageNet).
    output_stride: see `mobilenet_base`.
    use_explicit_padding: see `mobilenet_base`.
    final_endpoint: stop at this 'layer_<i>' and return the base features
      (implies `base_only`).
    base_only: return the features of the last op, without pooling or head.
    dropout_keep_prob: fraction of pooled features kept during training;
      None means the caller's arg scope on `slim.dropout` (as
      `training_scope(dropout_keep_prob=...)` sets), else 0.8.
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
      dropout_args = {} if is_training is None else {
          'is_training': is_training}
      if dropout_keep_prob is not None:
        dropout_args['keep_prob'] = dropout_keep_prob
      elif 'keep_prob' not in slim.current_arg_scope().get(
          slim.arg_scope_func_key(slim.dropout), {}):
        # tf_slim's own default (0.5) is not MobileNet's.
        dropout_args['keep_prob'] = _DROPOUT_KEEP_PROB
      net = slim.dropout(net, scope='Dropout', **dropout_args)
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


_DROPOUT_KEEP_PROB = 0.8


def training_scope(is_training=True, weight_decay=0.00004, stddev=0.09,
                   dropout_keep_prob=_DROPOUT_KEEP_PROB, bn_decay=0.997):
  """Training knobs of the MobileNet v2/v3 family (architecture is in specs).

  Args:
    is_training: default mode of batch norm and of `mobilenet` /
      `mobilenet_base` when the caller does not pass one; None leaves the
      batch-norm and dropout modes out of the scope (research/slim's).
    weight_decay: L2 regularization of full convolutions (depthwise kernels
      are not regularized).
    stddev: standard deviation of the truncated-normal initializer; a
      negative value selects Xavier initialization.
    dropout_keep_prob: default fraction of pooled features kept by the
      head's dropout.
    bn_decay: moving-average decay of the batch-norm statistics.

  Returns:
    An arg scope.
  """
  if stddev < 0:
    initializer = slim.initializers.xavier_initializer()
  else:
    initializer = tf.truncated_normal_initializer(stddev=stddev)
  mode = {} if is_training is None else {'is_training': is_training}
  with slim.arg_scope([slim.conv2d, slim.fully_connected,
                       slim.separable_conv2d],
                      weights_initializer=initializer), \
      slim.arg_scope([mobilenet, mobilenet_base], is_training=is_training), \
      slim.arg_scope([slim.batch_norm], decay=bn_decay, **mode), \
      slim.arg_scope([slim.dropout], keep_prob=dropout_keep_prob, **mode), \
      slim.arg_scope([slim.conv2d],
                     weights_regularizer=slim.l2_regularizer(weight_decay)), \
      slim.arg_scope([slim.separable_conv2d], weights_regularizer=None) as sc:
    return sc
