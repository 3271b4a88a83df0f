"""Quantization-aware training: the rewrite behind --quantize_delay / --quantize.

TF-Slim trained its quantized MobileNets with tf.contrib.quantize
(`create_training_graph` / `create_eval_graph`, Jacob et al. 2018, "Quantization
and Training of Neural Networks for Efficient Integer-Arithmetic-Only
Inference"), which no longer exists. `rewrite` does the same to a graph that
is already built, before gradients are taken:

* Batch norm after a convolution, depthwise convolution or fully connected
  layer is folded into its weights (w * gamma / sigma) and a bias. While
  training, the folded weights use the moving sigma and the output is
  corrected to the batch statistics; once batch norm is frozen
  (`freeze_bn_delay`) the correction switches to the moving statistics, so
  training computes what inference will; `freeze_batch_norm_updates` stops
  the moving statistics' updates from the same step.
* The (folded) weights are fake-quantized to 8 bits per output channel,
  symmetric with the narrow range [-127, 127] and zero point 0: TFLite's int8
  specification for convolution and fully connected weights.
* Every layer output (after its activation), every residual sum and the
  network input are fake-quantized per tensor; the activation ranges are
  exponential moving averages of the batch min / max (decay 0.999, after
  the warm-up of `range_decay`). An
  activation TFLite does not fuse into the layer (hard swish, hard sigmoid)
  is quantized before and after; a product of two quantized tensors and
  the spatial means of its factors (squeeze-excite) are quantized too.
* Each tensor is fake-quantized once, at the range TFLite gives it: a sum
  read through an Identity (a block's output) only after the Identity, and
  the quantized inputs of a concatenation at the union of their ranges
  (TFLite's CONCATENATION has one scale; an unquantized input, a pooling
  branch, is quantized to it on its way in).
* A depthwise convolution with depth multiplier > 1 is quantized per
  output channel in * multiplier, TensorFlow's and TFLite's common order.
* A batch norm that follows no layer (ResNet v2's pre-activation 'preact'
  and 'postnorm', after a sum or a pooling) becomes a per-channel affine,
  a 1x1 depthwise convolution with the scale as weights (per channel) and
  the offset as bias: batch statistics while training, the moving ones in
  inference.
* Local response normalization (CifarNet) has no int8 TFLite kernel: the
  quantized network leaves it out (`removed_ops`), in training, evaluation
  and export alike.
* Quantization starts at global step `quant_delay`; the ranges are learned
  from step 0, so they are settled when it starts.

The range variables carry tf.contrib.quantize's names (`<layer>/weights_quant/
{min,max}`, `<layer>/act_quant/{min,max}`, and for a residual sum
`<layer>/conv_quant` and `<block>/act_quant`, or `<block>/add_quant` when
neither an Identity nor an activation follows the sum; before an
unfused activation `<layer>/conv_quant`, inside the hard sigmoid
`<layer>/hard_sigmoid/act_quant`, for squeeze-excite `<se>/pool_quant` and
`<se>/mul_quant`, names of ours in its scheme; the folded ops
`<layer>/mul_fold`, `<layer>/<op>_Fold`, `<layer>/add_fold`,
`<layer>/BatchNorm_Fold/...`), so checkpoints trained with it restore. They
are global variables, not model variables (as in tf.contrib.quantize): weight
decay and --moving_average_decay leave them alone. The weights' ranges are
recomputed from the weights at every step (they are the last value, as
tf.contrib.quantize's were), so a published per-tensor (scalar) weights range
is not restored into the per-channel variable.

The variable names of each quantized network are recorded in
nets/manifests/quantized/<name>.json, written by
scripts/make_quantized_manifests.py only for networks whose rewritten graph
converts to a fully integer TFLite model; a network without one cannot be
quantized (`check_supported`).
"""

import json
import os
import re

from absl import logging

from slim_zoo.errors import UsageError
from slim_zoo.nets import manifests as _manifests
from slim_zoo.nets.compat import tf

NUM_BITS = 8
EMA_DECAY = 0.999
# tf.contrib.quantize's initial ranges: [-6, 6], and [0, 6] after an
# activation.
_INIT_RANGE = (-6.0, 6.0)
_RANGE_COLLECTION = 'quantization_ranges'
_REMOVED_COLLECTION = 'quantization_removed_ops'
# Weights tensors of this many elements or more are quantized per tensor:
# TF 2.21's TFLite converter does not lower a per-channel FakeQuant of them
# (measured: 7x7x512x1300 = 32.6M weights convert; 4x4x2048x1024 = 2**25
# and 7x7x512x1400 fail with "tf.FakeQuantWithMinMaxVarsPerChannel is
# neither a custom op nor a flex op").
_PER_TENSOR_WEIGHTS_FROM = 2 ** 25
_LAYER_TYPES = ('Conv2D', 'DepthwiseConv2dNative', 'MatMul')
_ACTIVATION_TYPES = ('Relu', 'Relu6')
_ADD_TYPES = ('Add', 'AddV2')
_MANIFEST_DIR = os.path.join(os.path.dirname(_manifests.__file__),
                             'quantized')

# The value range of each preprocessing family's output, which the input is
# quantized to (TF-Slim gave the TFLite converter the same as mean/std:
# 128/128 for [-1, 1]). cifarnet's per-image standardization has no bound:
# +-4 standard deviations keeps all but the rarest pixels.
INPUT_RANGES = {
    'inception': (-1.0, 1.0),
    'lenet': (-1.0, 1.0),
    'cifarnet': (-4.0, 4.0),
    'vgg': (-123.68, 255.0 - 103.94),
}


def manifest_path(model_name):
  return os.path.join(_MANIFEST_DIR, f'{model_name}.json')


def quantizable_networks():
  """Names of the networks with a quantized manifest, sorted."""
  if not os.path.isdir(_MANIFEST_DIR):
    return []
  return sorted(name[:-5] for name in os.listdir(_MANIFEST_DIR)
                if name.endswith('.json'))


def load_manifest(model_name):
  with open(manifest_path(model_name), encoding='utf-8') as f:
    return json.load(f)


def check_supported(model_name, flag='--quantize_delay'):
  """Raises UsageError unless `model_name` has a quantized manifest.

  Checked before any graph is built or file written.
  """
  if os.path.exists(manifest_path(model_name)):
    return
  raise UsageError(
      f'{flag}: --model_name={model_name} cannot be quantized (the rewrite '
      'folds batch norm into convolution / depthwise / fully connected '
      'layers and TFLite\'s int8 kernels must cover its other ops; see the '
      'README\'s "Quantization-aware training" section). Quantizable: '
      f'{", ".join(quantizable_networks())}.')


def input_range(preprocessing):
  """(min, max) of the preprocessed images of family `preprocessing`."""
  if preprocessing not in INPUT_RANGES:
    raise UsageError(f'No input range for preprocessing {preprocessing!r}; '
                     f'quantized inputs support {", ".join(INPUT_RANGES)}.')
  return INPUT_RANGES[preprocessing]


def quantize_input(images, preprocessing):
  """Fake-quantizes the network input to its preprocessing's fixed range."""
  low, high = input_range(preprocessing)
  return tf.quantization.fake_quant_with_min_max_args(
      images, min=low, max=high, num_bits=NUM_BITS, name='input_quant')


def range_variables(graph=None):
  """The range variables the rewrite created (min/max of every quant op)."""
  graph = graph or tf.get_default_graph()
  return graph.get_collection(_RANGE_COLLECTION)


def is_range_variable(name):
  return bool(re.search(r'/(weights|act|conv|add|mul(_\d+)?|pool|'
                        r'post_activation_bypass)_quant/(min|max)$', name))


def restorable_ranges(checkpoint, variables):
  """Splits range variables into those to restore from `checkpoint` and not.

  A range missing from the checkpoint (a float checkpoint) is new and keeps
  its initial value; a weights range of another shape (tf.contrib.quantize
  kept one scalar range per tensor, ours is per channel) is recomputed from
  the weights on the first step.

  Returns:
    (to_restore, skipped) lists of variables.
  """
  shapes = tf.train.load_checkpoint(checkpoint).get_variable_to_shape_map()
  restore, skipped = [], []
  for v in variables:
    name = v.op.name
    if name in shapes and list(shapes[name]) == v.shape.as_list():
      restore.append(v)
    else:
      skipped.append(v)
  return restore, skipped


# --------------------------------------------------------------------------
# The rewrite


class _Rewriter:
  """Rewrites the layers of one network (one clone) in place."""

  def __init__(self, graph, is_training, quant_delay, freeze_bn_delay,
               ema_decay, name_prefix):
    self.graph = graph
    self.is_training = is_training
    self.quant_delay = quant_delay
    self.freeze_bn_delay = freeze_bn_delay
    self.ema_decay = ema_decay
    self.prefix = name_prefix
    self.replaced = {}  # old tensor -> the tensor that took its place.
    self.quantized = set()  # Outputs of quantize_activation.
    self._step = None
    self._decay = None

  # Names -----------------------------------------------------------------

  def var_scope(self, op_scope):
    """The variable scope of an op scope: no clone prefix."""
    if self.prefix and op_scope.startswith(self.prefix):
      return op_scope[len(self.prefix):]
    return op_scope

  def step(self):
    if self._step is None:
      step = tf.train.get_global_step(self.graph)
      if step is None:
        raise ValueError('A quantize delay needs the global step; create it '
                         'before the rewrite.')
      self._step = tf.cast(step, tf.int64)
    return self._step

  def range_decay(self):
    """The activation ranges' moving-average decay at this step.

    min(ema_decay, (1 + step) / (10 + step)), the schedule of
    tf.train.ExponentialMovingAverage's num_updates: the first steps of a
    run (a fine-tune from a float checkpoint starts at step 0) move the
    ranges most of the way to the batch ranges, where 0.999 from step 0
    would keep 55% of the initial [-6, 6] after 600 steps.
    """
    if self._decay is None:
      step = tf.cast(self.step(), tf.float32)
      self._decay = tf.minimum(self.ema_decay, (1.0 + step) / (10.0 + step),
                               name='range_decay')
    return self._decay

  # Graph surgery -----------------------------------------------------------

  def _reroute(self, old, new, keep_ops):
    """Makes every consumer of `old` outside `keep_ops` read `new`."""
    count = 0
    for consumer in list(old.consumers()):
      if consumer in keep_ops:
        continue
      for index, tensor in enumerate(consumer.inputs):
        if tensor is old:
          consumer._update_input(index, new)  # pylint: disable=protected-access
          count += 1
    self.replaced[old] = new
    return count

  def _new_ops(self, start):
    return set(self.graph.get_operations()[start:])

  # Quantizers --------------------------------------------------------------

  def _range_vars(self, scope, shape, init):
    with tf.variable_scope(self.var_scope(scope), reuse=tf.AUTO_REUSE,
                           auxiliary_name_scope=False):
      variables = []
      for name, value in zip(('min', 'max'), init):
        v = tf.get_variable(
            name, shape, tf.float32,
            initializer=tf.constant_initializer(value), trainable=False,
            collections=[tf.GraphKeys.GLOBAL_VARIABLES])
        if v not in self.graph.get_collection(_RANGE_COLLECTION):
          self.graph.add_to_collection(_RANGE_COLLECTION, v)
        variables.append(v)
    return variables

  def _delayed(self, quantized, unquantized, scope):
    if not self.is_training or not self.quant_delay:
      return quantized
    active = tf.greater_equal(self.step(), self.quant_delay,
                              name='activate_quant')
    return tf.where(active, quantized, unquantized, name='delayed_quant')

  def quantize_weights(self, weights, scope):
    """Symmetric narrow-range fake quantization: per output channel for
    convolutions, per tensor for fully connected layers."""
    shape = weights.shape.as_list()
    if self._depthwise and shape[-1] != 1:
      return self._quantize_multiplier_weights(weights, scope)
    with tf.name_scope(scope + '/weights_quant/'):
      # Per channel along the last axis, which is TFLite's output channel
      # for convolutions and fully connected layers (a depthwise filter
      # [h, w, in, 1] becomes [1, h, w, in]). The fake quant op feeds the
      # layer directly, the pattern the TFLite converter turns into int8
      # weights.
      # A fully connected layer's weights get one range: the converter
      # transposes them to TFLite's [out, in] and cannot carry a per-channel
      # axis through that (TFLite's int8 spec has them per tensor).
      # So is a convolution with more weights than the TFLite converter
      # quantizes per channel (VGG's fc6, a 7x7 convolution to 4096).
      per_channel = len(shape) == 4 and (
          self._depthwise or
          weights.shape.num_elements() < _PER_TENSOR_WEIGHTS_FROM)
      channels = shape[-1] if not self._depthwise else shape[-2]
      reduce_axes = list(range(len(shape) - 1)) if per_channel else None
      low_var, high_var = self._range_vars(
          scope + '/weights_quant', [channels] if per_channel else [],
          _INIT_RANGE)
      # Symmetric: zero maps to the integer 0 exactly. The floor keeps an
      # all-zero channel (a dead filter) from having an empty range.
      if self._depthwise:
        high = tf.reduce_max(tf.abs(weights), axis=[0, 1, 3])
      else:
        high = tf.reduce_max(tf.abs(weights), axis=reduce_axes)
      high = tf.maximum(high, 1e-6)
      low = -high
      if self.is_training:
        with tf.control_dependencies([tf.assign(low_var, low),
                                      tf.assign(high_var, high)]):
          low, high = tf.identity(low), tf.identity(high)
      source = weights
      if self._depthwise:
        source = tf.transpose(weights, [0, 1, 3, 2])
      fake_quant = (
          tf.quantization.fake_quant_with_min_max_vars_per_channel
          if per_channel else tf.quantization.fake_quant_with_min_max_vars)
      quantized = fake_quant(source, low, high, num_bits=NUM_BITS,
                             narrow_range=True)
      if self._depthwise:
        quantized = tf.transpose(quantized, [0, 1, 3, 2])
      return self._delayed(quantized, weights, scope)

  def _quantize_multiplier_weights(self, weights, scope):
    """Per-channel weights of a depthwise convolution with depth multiplier
    > 1: filter [h, w, in, multiplier].

    TensorFlow's output channel c * multiplier + m reads filter[..., c, m],
    and TFLite's depthwise filter [1, h, w, in * multiplier] keeps that order,
    so the per-channel ranges are those of the filter reshaped to
    [h, w, 1, in * multiplier] (for multiplier 1 that is `quantize_weights`'
    transpose).
    """
    height, width, channels, multiplier = weights.shape.as_list()
    outputs = channels * multiplier
    with tf.name_scope(scope + '/weights_quant/'):
      low_var, high_var = self._range_vars(scope + '/weights_quant',
                                           [outputs], _INIT_RANGE)
      source = tf.reshape(weights, [height, width, 1, outputs])
      high = tf.maximum(tf.reduce_max(tf.abs(source), axis=[0, 1, 2]), 1e-6)
      low = -high
      if self.is_training:
        with tf.control_dependencies([tf.assign(low_var, low),
                                      tf.assign(high_var, high)]):
          low, high = tf.identity(low), tf.identity(high)
      quantized = tf.quantization.fake_quant_with_min_max_vars_per_channel(
          source, low, high, num_bits=NUM_BITS, narrow_range=True)
      quantized = tf.reshape(quantized, [height, width, channels, multiplier])
      return self._delayed(quantized, weights, scope)

  def quantize_activation(self, tensor, scope, init=_INIT_RANGE):
    """Per-tensor fake quantization with EMA ranges; reroutes consumers.

    Returns the fake-quantized tensor.
    """
    for consumer in tensor.consumers():
      if consumer.type.startswith('FakeQuantWithMinMax'):
        return consumer.outputs[0]  # Already quantized (overlapping match).
    start = len(self.graph.get_operations())
    with tf.name_scope(scope + '/'):
      low_var, high_var = self._range_vars(scope, [], init)
      if self.is_training:
        # The range always holds zero, so zero is exact (as TFLite needs).
        batch_low = tf.minimum(tf.reduce_min(tensor), 0.0)
        batch_high = tf.maximum(tf.reduce_max(tensor), 0.0)
        rate = 1.0 - self.range_decay()
        low = tf.assign_sub(low_var, (low_var - batch_low) * rate)
        high = tf.assign_sub(high_var, (high_var - batch_high) * rate)
      else:
        low, high = low_var, high_var
      quantized = tf.quantization.fake_quant_with_min_max_vars(
          tensor, low, high, num_bits=NUM_BITS)
      out = self._delayed(quantized, tensor, scope)
    self._reroute(tensor, out, self._new_ops(start))
    self.quantized.add(out)
    return out

  # Layers ------------------------------------------------------------------

  def layer_ops(self):
    ops = []
    for op in self.graph.get_operations():
      if (op.type in _LAYER_TYPES and op.name.startswith(self.prefix) and
          not op.name.endswith('_Fold') and self._weights_of(op) is not None):
        ops.append(op)
    return ops

  @staticmethod
  def _weights_of(op):
    """The variable read feeding `op` as its weights, or None."""
    weights = op.inputs[1]
    read = weights.op
    if read.type == 'Identity' and read.inputs and read.inputs[0].op.type in (
        'VariableV2', 'Variable'):
      return weights
    if read.type == 'ReadVariableOp':
      return weights
    return None

  @staticmethod
  def _sole_consumer(tensor, types):
    consumers = [c for c in tensor.consumers()]
    if len(consumers) == 1 and consumers[0].type in types:
      return consumers[0]
    return None

  def rewrite_layer(self, op):
    scope = op.name.rpartition('/')[0]
    self._depthwise = op.type == 'DepthwiseConv2dNative'
    if op.type != 'MatMul' and op.get_attr('data_format') != b'NHWC':
      raise UsageError(f'{op.name}: quantization needs NHWC convolutions, got '
                       f'{op.get_attr("data_format").decode()}.')
    out = op.outputs[0]
    bn = self._sole_consumer(out, ('FusedBatchNormV3', 'FusedBatchNorm'))
    if bn is not None:
      out = self._fold(op, bn, scope)
    else:
      quantized = self.quantize_weights(op.inputs[1], scope)
      op._update_input(1, quantized)  # pylint: disable=protected-access
      bias = self._sole_consumer(out, ('BiasAdd',))
      if bias is not None:
        out = bias.outputs[0]
    act_scope = scope
    bypass = self._bypass_of(out)
    activation = None
    if bypass is not None:
      act_scope = scope.rpartition('/')[0]
      out_after = bypass.outputs[0]
      self.quantize_activation(out, scope + '/conv_quant')
      out = out_after
      activation = self._sole_consumer(
          out, _ACTIVATION_TYPES + ('Identity',))
      if activation is None:
        # A sum read by several ops (ResNet v2: the next unit's batch norm
        # and its shortcut) and no activation: tf.contrib.quantize's
        # add_quant alone.
        self.quantize_activation(out, act_scope + '/add_quant')
        return
      # An Identity after the sum (the block's named output) is quantized
      # once, after the Identity (`<block>/act_quant`): a second fake quant
      # of the sum before it (an add_quant) would be a clipping at its own
      # range that the TFLite converter drops (it keeps one scale per
      # tensor, the first one's).
    else:
      activation = self._sole_consumer(out,
                                       _ACTIVATION_TYPES + ('Identity',))
    if activation is not None:
      out = activation.outputs[0]
      # Relu6 after Identity (the block's named output) is the activation.
      follow = self._sole_consumer(out, ('Identity',))
      if activation.type in _ACTIVATION_TYPES and follow is not None:
        out = follow.outputs[0]
    elif bypass is None:
      unfused = self._quantize_unfused_activation(out, scope)
      if unfused is not None:
        out, activation = unfused, unfused.op
    # [0, 6] only after a ReLU: a linear output (an Identity after it, such
    # as MobileNet v2's projections or the logits) goes negative, and [0, 6]
    # would clip it to zero until the moving average found the minimum.
    relu = activation is not None and activation.type in _ACTIVATION_TYPES
    init = (0.0, 6.0) if relu else _INIT_RANGE
    self.quantize_activation(out, act_scope + '/act_quant', init)

  def _bypass_of(self, tensor):
    add = self._sole_consumer(tensor, _ADD_TYPES)
    if add is None:
      return None
    other = [t for t in add.inputs if t is not tensor]
    if not other or other[0].op.type == 'Const' or (
        other[0].shape.as_list() != tensor.shape.as_list()):
      return None
    return add

  # Activations TFLite does not fuse into the layer ------------------------

  @staticmethod
  def _other_input(op, tensor):
    """The input of binary `op` that is not `tensor` (None if both are)."""
    others = [t for t in op.inputs if t is not tensor]
    return others[0] if len(others) == 1 else None

  def _is_const_operand(self, op, tensor):
    other = self._other_input(op, tensor)
    return other is not None and other.op.type == 'Const'

  def _hard_swish_output(self, x):
    """The output of x * relu6(x + 3) * (1 / 6) built on `x`, or None."""
    consumers = x.consumers()
    shift = [c for c in consumers
             if c.type in _ADD_TYPES and self._is_const_operand(c, x)]
    if len(consumers) != 2 or len(shift) != 1:
      return None
    relu6 = self._sole_consumer(shift[0].outputs[0], ('Relu6',))
    product = relu6 and self._sole_consumer(relu6.outputs[0], ('Mul',))
    if product is None or product not in consumers:
      return None
    scale = self._sole_consumer(product.outputs[0], ('Mul',))
    if scale is None or not self._is_const_operand(scale, product.outputs[0]):
      return None
    return scale.outputs[0]

  def _hard_sigmoid_output(self, x):
    """The (relu6, output) tensors of relu6(x + 3) * scale (squeeze-excite's
    gate), or None."""
    shift = self._sole_consumer(x, _ADD_TYPES)
    if shift is None or not self._is_const_operand(shift, x):
      return None
    relu6 = self._sole_consumer(shift.outputs[0], ('Relu6',))
    scale = relu6 and self._sole_consumer(relu6.outputs[0], ('Mul',))
    if scale is None or not self._is_const_operand(scale, relu6.outputs[0]):
      return None
    return relu6.outputs[0], scale.outputs[0]

  def _quantize_unfused_activation(self, out, scope):
    """Hard swish or hard sigmoid after a layer: quantizes the layer output
    (`<layer>/conv_quant`) and returns the activation's output (for
    `<layer>/act_quant`), or None if `out` feeds neither.

    No fake quant goes inside the hard swish: the TFLite converter fuses its
    ops into one int8 HARD_SWISH only without one there. The hard sigmoid
    has no TFLite op: it runs as ADD (with the ReLU6 fused) and MUL, so the
    ReLU6 output is quantized too (`<layer>/hard_sigmoid/act_quant`, the
    ReLU6's scope).
    """
    activation = self._hard_swish_output(out)
    if activation is not None:
      self.quantize_activation(out, scope + '/conv_quant')
      return activation
    gate = self._hard_sigmoid_output(out)
    if gate is None:
      return None
    relu6, activation = gate
    self.quantize_activation(out, scope + '/conv_quant')
    self.quantize_activation(relu6, relu6.op.name.rpartition('/')[0] +
                             '/act_quant', (0.0, 6.0))
    return activation

  @staticmethod
  def _quant_scope(op):
    """`<scope>/<name>_quant` for the op `<scope>/<name>`."""
    scope, _, base = op.name.rpartition('/')
    return f'{scope}/{base}_quant' if scope else f'{base}_quant'

  def rewrite_products(self):
    """Quantizes every product of two quantized tensors (squeeze-excite's
    channel rescaling) and the spatial means taken of its factors
    (squeeze-excite's squeeze).

    TFLite's int8 MUL needs its output range. Its MEAN converts without
    one (writing at its input's scale, a rounding the fake-quantized graph
    would not model); with one it rounds to the means' own range, as the
    graph does. Named after the op: `<scope>/mul_quant` for `<scope>/mul`,
    `<se>/pool_quant` for the mean `<se>/pool`.

    Returns:
      how many tensors were quantized.
    """
    def quantized(tensor):
      while tensor.op.type == 'Identity':  # A block's named output.
        tensor = tensor.op.inputs[0]
      return tensor in self.quantized

    count = 0
    for op in list(self.graph.get_operations()):
      if (op.type == 'Mul' and op.name.startswith(self.prefix) and
          all(quantized(t) for t in op.inputs)):
        for factor in op.inputs:
          for mean in factor.consumers():
            if mean.type == 'Mean' and self._is_spatial_mean(mean):
              self.quantize_activation(mean.outputs[0],
                                       self._quant_scope(mean))
              count += 1
        self.quantize_activation(op.outputs[0], self._quant_scope(op))
        count += 1
    return count

  @staticmethod
  def _fake_quant_of(tensor):
    """The FakeQuant op writing `tensor` (through the quant delay's select),
    or None."""
    op = tensor.op
    if op.type in ('Select', 'SelectV2') and op.name.endswith('delayed_quant'):
      op = op.inputs[1].op
    return op if op.type == 'FakeQuantWithMinMaxVars' else None

  def unify_concat_ranges(self):
    """Gives the inputs of every concatenation of quantized tensors one range.

    TFLite's int8 CONCATENATION reads and writes a single scale: the
    converter gives every fake-quantized input (and the output) the
    widest of their ranges, [min of the mins, max of the maxes], and
    requantizes any other input (a pooling branch, Inception's Mixed_4a)
    to it. The fake-quantized graph models exactly that: each quantized
    input's fake quant takes the shared range (its own moving average
    still learns its own statistics, the shared range is the union of
    them), and an unquantized input is fake-quantized to the shared range
    on its way into the concatenation. No variable is added.

    Returns:
      how many concatenations were unified.
    """
    count = 0
    for op in list(self.graph.get_operations()):
      if op.type != 'ConcatV2' or not op.name.startswith(self.prefix):
        continue
      values = list(op.inputs)[:-1]  # The last input is the axis.
      fakes = [self._fake_quant_of(t) if t in self.quantized else None
               for t in values]
      quantized = [f for f in fakes if f is not None]
      if not quantized or (len(quantized) == len(values) and len(
          {(f.inputs[1].name, f.inputs[2].name) for f in quantized}) == 1):
        continue
      with tf.name_scope(op.name + '_quant/'):
        low = tf.reduce_min(tf.stack([f.inputs[1] for f in quantized]),
                            name='min')
        high = tf.reduce_max(tf.stack([f.inputs[2] for f in quantized]),
                             name='max')
        for index, (value, fake) in enumerate(zip(values, fakes)):
          if fake is not None:
            fake._update_input(1, low)  # pylint: disable=protected-access
            fake._update_input(2, high)  # pylint: disable=protected-access
            continue
          requantized = self._delayed(
              tf.quantization.fake_quant_with_min_max_vars(
                  value, low, high, num_bits=NUM_BITS), value, op.name)
          op._update_input(index, requantized)  # pylint: disable=protected-access
      count += 1
    return count

  @staticmethod
  def _is_spatial_mean(op):
    """A mean over height and width that keeps them: [b, 1, 1, c]."""
    shape = op.outputs[0].shape
    return shape.rank == 4 and shape.as_list()[1:3] == [1, 1]

  def _fold(self, op, bn, scope):
    """Replaces conv -> batch norm by the folded conv; returns its output."""
    weights = op.inputs[1]
    gamma, beta, moving_mean, moving_var = bn.inputs[1:5]
    eps = bn.get_attr('epsilon')
    out = op.outputs[0]
    start = len(self.graph.get_operations())
    with tf.name_scope(scope + '/'):
      with tf.name_scope('BatchNorm_Fold'):
        recip_sigma_mv = tf.math.rsqrt(moving_var + eps)
        mv_multiplier = gamma * recip_sigma_mv
        if self.is_training:
          # Batch statistics of the float layer output, differentiable (the
          # fused batch norm keeps updating the moving averages from it).
          axes = list(range(out.shape.rank - 1))
          mean, variance = tf.nn.moments(out, axes)
          recip_sigma = tf.math.rsqrt(variance + eps)
          batch_bias = tf.subtract(beta, mean * gamma * recip_sigma,
                                   name='bias')
          moving_bias = beta - moving_mean * mv_multiplier
          correction_recip = tf.identity(recip_sigma / recip_sigma_mv,
                                         name='correction_recip')
        else:
          moving_bias = tf.subtract(beta, moving_mean * mv_multiplier,
                                    name='bias')
        multiplier = mv_multiplier
        if self._depthwise:
          shape = weights.shape.as_list()
          multiplier = tf.reshape(multiplier, shape[2:], name='scale_reshape')
      folded = tf.multiply(weights, multiplier, name='mul_fold')
      quantized = self.quantize_weights(folded, scope)
      conv = self._clone_layer(op, quantized)
      if self.is_training:
        batch_out = conv * correction_recip + batch_bias
        moving_out = conv + moving_bias
        if self.freeze_bn_delay is not None:
          frozen = tf.greater_equal(self.step(), self.freeze_bn_delay,
                                    name='use_moving_average')
          result = tf.where(frozen, moving_out, batch_out)
        else:
          result = batch_out
        result = tf.identity(result, name='add_fold')
      else:
        result = tf.add(conv, moving_bias, name='add_fold')
    self._reroute(bn.outputs[0], result, self._new_ops(start))
    return result

  # Batch norm that follows no layer ------------------------------------------

  def unfolded_batch_norms(self):
    """Batch norms the layer rewrite did not fold (their output is still
    read): ResNet v2's 'preact' and 'postnorm', which follow a sum or a
    pooling."""
    return [op for op in self.graph.get_operations()
            if op.type in ('FusedBatchNormV3', 'FusedBatchNorm') and
            op.name.startswith(self.prefix) and op.outputs[0].consumers()]

  def rewrite_batch_norm(self, bn):
    """Replaces a batch norm that follows no layer by a per-channel affine.

    y = x * scale + offset (scale = gamma / sigma, offset = beta - mean *
    scale), computed as a 1x1 depthwise convolution whose weights are the
    scale and whose bias is the offset: TFLite runs it as an int8
    DEPTHWISE_CONV_2D with one weight scale per channel (a MUL would take
    one scale for the whole vector) and fuses the ReLU after it. While
    training, mean and sigma are the batch statistics (as the fused batch
    norm computes them; it keeps updating the moving ones), switched to
    the moving statistics from `freeze_bn_delay`; inference uses the
    moving ones. The scale is fake-quantized per channel
    (`<bn>/weights_quant`, exact: one weight per channel), the output
    after its activation per tensor (`<bn>/act_quant`).
    """
    scope = bn.name.rpartition('/')[0]
    x = bn.inputs[0]
    if x.shape.rank != 4 or bn.get_attr('data_format') != b'NHWC':
      raise UsageError(f'{bn.name}: a batch norm that follows no layer is '
                       'quantized on NHWC images only, got '
                       f'{bn.get_attr("data_format").decode()} of rank '
                       f'{x.shape.rank}.')
    gamma, beta, moving_mean, moving_var = bn.inputs[1:5]
    eps = bn.get_attr('epsilon')
    start = len(self.graph.get_operations())
    with tf.name_scope(scope + '/'):
      with tf.name_scope('BatchNorm_Fold'):
        moving_scale = gamma * tf.math.rsqrt(moving_var + eps)
        moving_offset = beta - moving_mean * moving_scale
        if self.is_training:
          mean, variance = tf.nn.moments(x, [0, 1, 2])
          batch_scale = gamma * tf.math.rsqrt(variance + eps)
          batch_offset = beta - mean * batch_scale
          scale, offset = batch_scale, batch_offset
          if self.freeze_bn_delay is not None:
            frozen = tf.greater_equal(self.step(), self.freeze_bn_delay,
                                      name='use_moving_average')
            scale = tf.where(frozen, moving_scale, batch_scale)
            offset = tf.where(frozen, moving_offset, batch_offset)
        else:
          scale, offset = moving_scale, moving_offset
        scale = tf.identity(scale, name='scale')
        offset = tf.identity(offset, name='bias')
        channels = x.shape.as_list()[-1]
        weights = tf.reshape(scale, [1, 1, channels, 1],
                             name='scale_reshape')
      self._depthwise = True
      quantized = self.quantize_weights(weights, scope)
      conv = tf.raw_ops.DepthwiseConv2dNative(
          input=x, filter=quantized, strides=[1, 1, 1, 1], padding='VALID',
          data_format='NHWC', name='depthwise_Fold')
      result = tf.nn.bias_add(conv, offset, name='add_fold')
    self._reroute(bn.outputs[0], result, self._new_ops(start))
    out = result
    activation = self._sole_consumer(out, _ACTIVATION_TYPES + ('Identity',))
    if activation is not None:
      out = activation.outputs[0]
      follow = self._sole_consumer(out, ('Identity',))
      if activation.type in _ACTIVATION_TYPES and follow is not None:
        out = follow.outputs[0]
    init = (0.0, 6.0) if activation is not None else _INIT_RANGE
    self.quantize_activation(out, scope + '/act_quant', init)

  # Ops without an int8 kernel -------------------------------------------------

  def remove_lrn(self):
    """Takes local response normalization out of the graph (CifarNet's
    norm1, norm2): TFLite has no int8 kernel for it. Its consumers read its
    input; it has no variables, so float checkpoints still restore and
    fine-tuning adapts the layers around it. Returns the removed ops."""
    removed = [op for op in self.graph.get_operations()
               if op.type == 'LRN' and op.name.startswith(self.prefix)]
    for op in removed:
      self._reroute(op.outputs[0], op.inputs[0], set())
      self.graph.add_to_collection(_REMOVED_COLLECTION,
                                   self.var_scope(op.name))
    return removed

  def _clone_layer(self, op, weights):
    name = op.name.rpartition('/')[2] + '_Fold'
    x = op.inputs[0]
    if op.type == 'MatMul':
      return tf.raw_ops.MatMul(a=x, b=weights,
                               transpose_a=op.get_attr('transpose_a'),
                               transpose_b=op.get_attr('transpose_b'),
                               name=name)
    common = dict(strides=op.get_attr('strides'),
                  padding=op.get_attr('padding'),
                  explicit_paddings=op.get_attr('explicit_paddings'),
                  data_format=op.get_attr('data_format'),
                  dilations=op.get_attr('dilations'), name=name)
    if op.type == 'Conv2D':
      return tf.raw_ops.Conv2D(input=x, filter=weights, **common)
    return tf.raw_ops.DepthwiseConv2dNative(input=x, filter=weights, **common)


def rewrite(is_training, quant_delay=0, freeze_bn_delay=None,
            ema_decay=EMA_DECAY, graph=None, name_prefix=''):
  """Rewrites the network in `graph` for simulated 8-bit quantization.

  Call after the network is built and before gradients are taken (training)
  or the session is created (evaluation, export). With several clones call
  it once per clone with name_prefix = the clone's name scope ('clone_1/'):
  the clones share the range variables.

  Args:
    is_training: the training rewrite (batch statistics, EMA range updates,
      quant_delay) or the inference one.
    quant_delay: global step at which fake quantization starts (training).
    freeze_bn_delay: global step from which the folded batch norm uses the
      moving statistics (training); None never freezes (tf.contrib.quantize's
      default).
    ema_decay: decay of the activation ranges' moving averages.
    graph: the graph (default graph when None).
    name_prefix: only ops whose names start with it are rewritten.

  Returns:
    dict old tensor -> new tensor for every tensor whose consumers now read a
    quantized (or folded) tensor instead; map outputs built before the
    rewrite through it (`remap`).

  Raises:
    UsageError: no layer to quantize, or a layer the rewrite cannot handle.
  """
  graph = graph or tf.get_default_graph()
  rewriter = _Rewriter(graph, is_training, quant_delay, freeze_bn_delay,
                       ema_decay, name_prefix)
  removed = rewriter.remove_lrn()
  if removed:
    logging.info('Quantization rewrite: removed %d local response '
                 'normalization ops (%s): TFLite has no int8 kernel for '
                 'them; the quantized network computes without them.',
                 len(removed), ', '.join(op.name for op in removed))
  layers = rewriter.layer_ops()
  if not layers:
    raise UsageError('Quantization found no convolution or fully connected '
                     'layer with weights to rewrite.')
  with graph.as_default():
    for op in layers:
      rewriter.rewrite_layer(op)
    batch_norms = rewriter.unfolded_batch_norms()
    for op in batch_norms:
      rewriter.rewrite_batch_norm(op)
    rewriter.rewrite_products()
    rewriter.unify_concat_ranges()
  logging.info('Quantization rewrite: %d layers, %d range variables.',
               len(layers), len(range_variables(graph)))
  if batch_norms:
    logging.info('Quantization rewrite: %d batch norms that follow no layer '
                 'run as per-channel affines (1x1 depthwise).',
                 len(batch_norms))
  return rewriter.replaced


def removed_ops(graph=None):
  """Names (without clone prefix, each once) of the ops the rewrite took
  out of the graph: local response normalization."""
  graph = graph or tf.get_default_graph()
  return sorted(set(graph.get_collection(_REMOVED_COLLECTION)))


def remap(tensor, replaced):
  """The tensor that replaced `tensor` in the rewrite (itself if none)."""
  while tensor in replaced:
    tensor = replaced[tensor]
  return tensor


def check_train_flags(model_name, quantize_delay, freeze_bn_delay):
  """Validates --quantize_delay / --freeze_bn_delay (before any graph)."""
  if quantize_delay < -1:
    raise UsageError(f'--quantize_delay must be -1 (off) or the global step '
                     f'at which quantization starts (>= 0), got '
                     f'{quantize_delay}.')
  if freeze_bn_delay < -1:
    raise UsageError(f'--freeze_bn_delay must be -1 (never) or a global step '
                     f'(>= 0), got {freeze_bn_delay}.')
  if freeze_bn_delay >= 0 and quantize_delay < 0:
    raise UsageError('--freeze_bn_delay freezes the batch norm folded by '
                     'the quantization rewrite; set --quantize_delay too, or '
                     'drop --freeze_bn_delay.')
  if quantize_delay >= 0:
    check_supported(model_name)


_BN_STATISTICS = ('moving_mean', 'moving_variance')
_ASSIGN_SUB_TYPES = ('AssignSub', 'AssignSubVariableOp')


def freeze_batch_norm_updates(update_ops, freeze_bn_delay):
  """Stops the batch norm statistics from moving at `freeze_bn_delay`.

  tf.contrib.quantize froze batch norm in two halves: from that step the
  folded layers use the moving statistics (the rewrite's `freeze_bn_delay`),
  and the moving statistics stop being updated, so the remaining steps
  train the weights against the very mean and variance inference will use.
  This is the second half. Batch norm updates each statistic as
  `variable -= (variable - batch value) * (1 - decay)`; the decrement of
  every such update of a `moving_mean` or `moving_variance` in
  `update_ops` is replaced, in place, by zero once the global step (read
  before the step's increment) reaches `freeze_bn_delay`, so a frozen
  statistic keeps its value exactly and the update ops stay the ones the
  train op runs.

  Args:
    update_ops: the UPDATE_OPS the train op runs (tensors or operations);
      others than batch norm's are left alone.
    freeze_bn_delay: the first global step that leaves the statistics as
      they are.

  Returns:
    A boolean scalar, true once frozen: make the optimizer's update depend
    on it, so the step is read before it is incremented.

  Raises:
    ValueError: the graph has no global step.
  """
  graph = tf.get_default_graph()
  step = tf.train.get_global_step(graph)
  if step is None:
    raise ValueError('Freezing batch norm needs the global step; create it '
                     'first.')
  with tf.name_scope('freeze_batch_norm'):
    frozen = tf.greater_equal(tf.cast(step, tf.int64), freeze_bn_delay,
                              name='frozen')
  count = 0
  for update in update_ops:
    op = getattr(update, 'op', update)
    if (op.type not in _ASSIGN_SUB_TYPES or
        op.inputs[0].op.name.rpartition('/')[2] not in _BN_STATISTICS):
      continue
    decrement = op.inputs[1]
    with tf.name_scope(op.name + '/'):
      gated = tf.where(frozen, tf.zeros_like(decrement), decrement,
                       name='frozen_decrement')
    op._update_input(1, gated)  # pylint: disable=protected-access
    count += 1
  logging.info('Batch norm statistics frozen from step %d: %d updates.',
               freeze_bn_delay, count)
  return frozen


def _remap_end_points(end_points, replaced):
  return type(end_points)(
      (key, remap(value, replaced)) for key, value in end_points.items())


def rewrite_clone(logits, end_points, quant_delay, freeze_bn_delay=-1):
  """The training rewrite of the clone just built (under its name scope).

  Returns:
    (logits, end_points) mapped to the quantized tensors.
  """
  scope = tf.get_default_graph().get_name_scope()
  replaced = rewrite(is_training=True, quant_delay=quant_delay,
                     freeze_bn_delay=(None if freeze_bn_delay < 0
                                      else freeze_bn_delay),
                     name_prefix=scope + '/' if scope else '')
  return remap(logits, replaced), _remap_end_points(end_points, replaced)


def rewrite_inference(outputs):
  """The inference rewrite of the graph just built; maps `outputs` (a dict
  of tensors) to their quantized tensors."""
  replaced = rewrite(is_training=False)
  mapped = {}
  for key, value in outputs.items():
    new = remap(value, replaced)
    if new is not value:
      # The TFLite converter keeps an output float when a FakeQuant op
      # writes it: a reshape (to its own shape) comes between.
      shape = [-1] + new.shape.as_list()[1:]
      new = tf.reshape(new, shape, name=value.op.name + '_quant')
    mapped[key] = new
  return mapped


def fold_ranges(frozen_graph_def, output_names):
  """`frozen_graph_def` with every computed FakeQuant range made a constant.

  The weights' ranges are computed from the weights (max |w| per channel);
  the TFLite converter lowers a FakeQuant op only when its range is
  constant, and its own constant folding skips very large weights (VGG's
  fc6, 7x7x512x4096: its range stayed a float REDUCE_MAX and the fake
  quantization a TensorFlow op the converter cannot translate). The ranges
  are evaluated here instead, from the graph's constants.
  """
  graph_def = tf.GraphDef()
  graph_def.CopyFrom(frozen_graph_def)
  nodes = {node.name: node for node in graph_def.node}
  fetch = {}
  for node in graph_def.node:
    if not node.op.startswith('FakeQuantWithMinMaxVars'):
      continue
    for index in (1, 2):
      source = node.input[index].split(':')[0].lstrip('^')
      if nodes[source].op != 'Const':
        fetch[(node.name, index)] = node.input[index]
  if not fetch:
    return graph_def
  with tf.Graph().as_default() as graph:
    tf.import_graph_def(frozen_graph_def, name='')
    tensors = {key: graph.get_tensor_by_name(
        name if ':' in name else name + ':0') for key, name in fetch.items()}
    with tf.Session() as session:
      values = session.run(tensors)
  for (name, index), value in values.items():
    const = graph_def.node.add()
    const.name = f'{name}/{"min" if index == 1 else "max"}_folded'
    const.op = 'Const'
    const.attr['dtype'].type = tf.float32.as_datatype_enum
    const.attr['value'].tensor.CopyFrom(tf.make_tensor_proto(value))
    nodes[name].input[index] = const.name
  return tf.graph_util.extract_sub_graph(graph_def, list(output_names))


def integer_problems(flatbuffer):
  """What keeps a TFLite model from being fully integer ([] if nothing).

  Every tensor an op reads or writes between the model's input and output
  must be int8 or int32 (biases), and no DEQUANTIZE may sit in the middle
  (a QUANTIZE / DEQUANTIZE at the edges of a float-I/O model is allowed).

  Returns:
    list of strings, one per offending op.
  """
  import numpy as np
  interpreter = tf.lite.Interpreter(
      model_content=flatbuffer,
      experimental_op_resolver_type=(
          tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
  interpreter.allocate_tensors()
  tensors = {t['index']: t for t in interpreter.get_tensor_details()}
  edges = ({d['index'] for d in interpreter.get_input_details()} |
           {d['index'] for d in interpreter.get_output_details()})
  problems = []
  for op in interpreter._get_ops_details():  # pylint: disable=protected-access
    indices = [i for i in list(op['inputs']) + list(op['outputs']) if i >= 0]
    if op['op_name'] in ('QUANTIZE', 'DEQUANTIZE') and any(
        i in edges for i in indices):
      continue  # The float-I/O conversion at the model's edge.
    if op['op_name'] == 'DEQUANTIZE':
      problems.append(f'DEQUANTIZE of {tensors[indices[0]]["name"]}')
      continue
    floats = [tensors[i]['name'] for i in indices
              if tensors[i]['dtype'] not in (np.int8, np.int32)
              and i not in edges]
    if floats:
      problems.append(f'{op["op_name"]} on non-integer {", ".join(floats)}')
  return problems


def input_stats(preprocessing):
  """(mean, std) of the int8 input for the TFLite converter.

  The converter maps an int8 input q to (q - mean) / std; these are the
  scale and zero point of the input's fake quantization (its range nudged
  so that 0.0 is exact, as FakeQuant does).
  """
  low, high = input_range(preprocessing)
  scale = (high - low) / (2 ** NUM_BITS - 1)
  zero_point = min(max(round(-low / scale), 0), 2 ** NUM_BITS - 1)
  return float(zero_point - 2 ** (NUM_BITS - 1)), 1.0 / scale


def to_integer(values, detail):
  """Float values -> the TFLite input `detail`'s type (quantized if integer)."""
  import numpy as np
  dtype = np.dtype(detail['dtype'])
  if dtype.kind == 'f':
    return values.astype(dtype)
  scale, zero_point = detail['quantization']
  info = np.iinfo(dtype)
  q = np.round(values / scale + zero_point)
  return np.clip(q, info.min, info.max).astype(dtype)


def to_real(values, detail):
  """A TFLite output of `detail` -> float32 (dequantized if integer)."""
  import numpy as np
  if np.dtype(detail['dtype']).kind == 'f':
    return values
  scale, zero_point = detail['quantization']
  return (values.astype(np.float32) - zero_point) * np.float32(scale)


def check_checkpoint_has_ranges(checkpoint, flag):
  """UsageError unless `checkpoint` holds activation ranges (act_quant)."""
  names = tf.train.load_checkpoint(checkpoint).get_variable_to_shape_map()
  if any(is_range_variable(name) and '/act_quant/' in name for name in names):
    return
  raise UsageError(
      f'{flag}: checkpoint {checkpoint} has no quantization range variables '
      '(.../act_quant/min, max): it was not trained with --quantize_delay. '
      'Train or fine-tune it with --quantize_delay first, or drop '
      f'{flag} (a float checkpoint exports post-training int8 with '
      '--dataset_dir).')


def without_weight_ranges(variables):
  """`variables` (a list, or a dict name -> variable) without the weights'
  range variables, which only training writes: inference takes the ranges
  from the weights (a published per-tensor range need not fit)."""
  if isinstance(variables, dict):
    return {name: v for name, v in variables.items()
            if '/weights_quant/' not in v.op.name}
  return [v for v in variables if '/weights_quant/' not in v.op.name]
