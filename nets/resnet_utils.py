"""Pieces shared by ResNet v1 and v2: blocks as data, atrous stacking, head.

He et al., "Deep Residual Learning for Image Recognition", 2015 (v1) and
"Identity Mappings in Deep Residual Networks", 2016 (v2). The two versions
differ only in their bottleneck unit and in where batch norm sits around the
stack (v2 normalizes after the last unit and not after the root convolution),
so one builder here serves both; resnet_v1.py and resnet_v2.py add the unit
functions and the named variants.

A network is a list of `Block`s, each a list of unit arguments; the ImageNet
variants are rows of `_IMAGENET_UNITS` (units per block per depth). With
`output_stride` smaller than the nominal 32 the stack switches to atrous
(dilated) convolution once the requested stride is reached, which keeps the
variables identical and only changes the feature-map resolution
(Chen et al., "DeepLab", 2016).
"""

import collections

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.nets_utils import EndPoints
from slim_zoo.errors import UsageError


class Block(collections.namedtuple('Block', ['scope', 'unit_fn', 'args'])):
  """A stage of residual units that share a variable scope.

  Attributes:
    scope: variable scope of the block, e.g. 'block1'.
    unit_fn: unit builder called as
      ``unit_fn(net, depth=..., depth_bottleneck=..., stride=..., rate=...)``.
    args: one dict of `unit_fn` keyword arguments per unit (with 'stride').
  """


# Units per block of the published ImageNet ResNets, by depth. Base depths and
# strides are the same for every depth (see `imagenet_blocks`).
_IMAGENET_UNITS = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
    200: (3, 24, 36, 3),
}
_IMAGENET_BASE_DEPTHS = (64, 128, 256, 512)
# The stride sits on the last unit of blocks 1-3, as in the published
# checkpoints (the original paper strides the first unit instead).
_IMAGENET_STRIDES = (2, 2, 2, 1)
_ROOT_DEPTH = 64
_ROOT_STRIDE = 4  # 7x7 stride-2 convolution, then 3x3 stride-2 max pooling.


def imagenet_depths():
  """The depths (50, 101, ...) that have a published ImageNet variant."""
  return tuple(_IMAGENET_UNITS)


def bottleneck_block(scope, unit_fn, base_depth, num_units, stride):
  """One block of bottleneck units, strided in its last unit.

  Args:
    scope: block scope, e.g. 'block1'.
    unit_fn: bottleneck unit builder.
    base_depth: bottleneck depth; units output 4 * base_depth channels.
    num_units: number of units.
    stride: stride of the last unit (the others have stride 1).

  Returns:
    A `Block`.
  """
  unit = {'depth': base_depth * 4, 'depth_bottleneck': base_depth, 'stride': 1}
  return Block(scope, unit_fn,
               [unit] * (num_units - 1) + [dict(unit, stride=stride)])


def _check_depth_options(min_base_depth, depth_multiplier):
  # TF-Slim accepts a multiplier of 0 (every block at min_base_depth), so
  # only negative multipliers and depths that would build empty layers fail.
  if (isinstance(depth_multiplier, bool)
      or not isinstance(depth_multiplier, (int, float))
      or depth_multiplier < 0):
    raise UsageError(
        f'depth_multiplier must be a number >= 0 (0 puts every block at '
        f'min_base_depth), got {depth_multiplier!r}.')
  if (isinstance(min_base_depth, bool) or not isinstance(min_base_depth, int)
      or min_base_depth < 1):
    raise UsageError(f'min_base_depth must be an integer >= 1, got '
                     f'{min_base_depth!r}.')


def imagenet_blocks(unit_fn, depth, min_base_depth=8, depth_multiplier=1):
  """Blocks of the ImageNet ResNet of the given depth.

  Args:
    unit_fn: bottleneck unit builder (v1 or v2).
    depth: 50, 101, 152 or 200.
    min_base_depth: lower bound of every block's bottleneck depth once
      `depth_multiplier` is applied.
    depth_multiplier: scales every block's bottleneck depth (not the root);
      0 puts every block at `min_base_depth`, as in TF-Slim.

  Returns:
    A list of four `Block`s.

  Raises:
    ValueError: if `depth` has no published variant, `depth_multiplier` is
      negative or `min_base_depth` is below 1.
  """
  if depth not in _IMAGENET_UNITS:
    raise UsageError(
        f'ResNet depth {depth!r} has no unit table; valid depths are '
        f'{", ".join(map(str, _IMAGENET_UNITS))}. For another architecture '
        f'pass your own blocks to the generic resnet_v1/resnet_v2 builder.')
  _check_depth_options(min_base_depth, depth_multiplier)
  return [
      bottleneck_block(f'block{i + 1}', unit_fn,
                       max(int(base * depth_multiplier), min_base_depth),
                       num_units, stride)
      for i, (base, num_units, stride) in enumerate(zip(
          _IMAGENET_BASE_DEPTHS, _IMAGENET_UNITS[depth], _IMAGENET_STRIDES))
  ]


def subsample(inputs, factor, scope=None):
  """Spatially subsamples `inputs` by `factor` (identity when factor is 1).

  Args:
    inputs: Tensor [batch, height, width, channels].
    factor: subsampling factor.
    scope: name scope of the pooling op.

  Returns:
    Tensor [batch, ceil(height / factor), ceil(width / factor), channels].
  """
  if factor == 1:
    return inputs
  # A 1x1 max pool with a stride is the cheapest strided slice slim offers.
  return slim.max_pool2d(inputs, [1, 1], stride=factor, scope=scope)


def conv2d_same(inputs, num_outputs, kernel_size, stride, rate=1, scope=None):
  """Strided 2-D convolution whose output does not depend on input parity.

  With stride 1 this is a 'SAME' convolution. With a larger stride the input
  is padded explicitly (independently of its size) and convolved 'VALID', so
  that the result equals a stride-1 'SAME' convolution subsampled by
  `stride`. That equivalence is what lets `stack_blocks_dense` trade strides
  for atrous rates without changing the features.

  Args:
    inputs: Tensor [batch, height, width, channels].
    num_outputs: number of output filters.
    kernel_size: int, square kernel size.
    stride: int, output stride.
    rate: int, atrous rate.
    scope: variable scope.

  Returns:
    Tensor [batch, ceil(height / stride), ceil(width / stride), num_outputs].
  """
  if stride == 1:
    return slim.conv2d(inputs, num_outputs, kernel_size, stride=1, rate=rate,
                       padding='SAME', scope=scope)
  effective_kernel = kernel_size + (kernel_size - 1) * (rate - 1)
  pad_total = effective_kernel - 1
  pad_begin = pad_total // 2
  pad_end = pad_total - pad_begin
  inputs = tf.pad(inputs, [[0, 0], [pad_begin, pad_end], [pad_begin, pad_end],
                           [0, 0]])
  return slim.conv2d(inputs, num_outputs, kernel_size, stride=stride,
                     rate=rate, padding='VALID', scope=scope)


def _reachable_strides(blocks):
  """Output strides the blocks pass through, starting at 1 (unit order)."""
  strides = [1]
  for block in blocks:
    for unit in block.args:
      if unit.get('stride', 1) != 1:
        strides.append(strides[-1] * unit['stride'])
  return strides


@slim.add_arg_scope
def stack_blocks_dense(net, blocks, output_stride=None,
                       store_non_strided_activations=False,
                       outputs_collections=None):
  """Stacks ResNet blocks, switching to atrous convolution at `output_stride`.

  Once the product of the unit strides so far equals `output_stride`, later
  units run with stride 1 and an atrous rate equal to the stride they skipped,
  so the variables are the same as at the nominal stride.

  Args:
    net: Tensor [batch, height, width, channels].
    blocks: list of `Block`s.
    output_stride: desired stride of the output relative to `net`, or None for
      the nominal stride (the product of all unit strides).
    store_non_strided_activations: if True, each block's last unit runs at
      stride 1 and the block's end point is recorded before the block's
      subsampling, giving end points at the pre-subsampling resolution
      (useful for dense prediction); the block output is the same.
    outputs_collections: collection that receives each block's output.

  Returns:
    Tensor [batch, height / s, width / s, depth of the last unit], where s is
    `output_stride` (or the nominal stride).

  Raises:
    ValueError: if `output_stride` is not one of the strides the blocks pass
      through.
  """
  if output_stride is not None:
    reachable = _reachable_strides(blocks)
    if output_stride not in reachable:
      raise UsageError(
          f'output_stride {output_stride!r} cannot be reached by these blocks; '
          f'valid values are {", ".join(map(str, reachable))} or None.')
  current_stride = 1
  rate = 1  # Atrous rate of the next unit once output_stride is reached.
  for block in blocks:
    with tf.variable_scope(block.scope, 'block', [net]) as sc:
      block_stride = 1
      for i, unit in enumerate(block.args):
        unit = dict(unit)
        stride = unit.pop('stride', 1)
        if store_non_strided_activations and i == len(block.args) - 1:
          block_stride, stride = stride, 1
        with tf.variable_scope(f'unit_{i + 1}', values=[net]):
          if output_stride is not None and current_stride == output_stride:
            net = block.unit_fn(net, stride=1, rate=rate, **unit)
            rate *= stride
          else:
            net = block.unit_fn(net, stride=stride, rate=1, **unit)
            current_stride *= stride
      net = slim.utils.collect_named_outputs(outputs_collections, sc.name, net)
      if output_stride is not None and current_stride == output_stride:
        rate *= block_stride
      else:
        net = subsample(net, block_stride)
        current_stride *= block_stride
  return net


def build_resnet(inputs, blocks, num_classes, is_training, global_pool,
                 output_stride, include_root_block, spatial_squeeze,
                 store_non_strided_activations, reuse, scope, default_scope,
                 pre_activation):
  """The generic ResNet: root, blocks, optional batch norm, pooling, logits.

  resnet_v1.resnet_v1 and resnet_v2.resnet_v2 document the arguments; this
  function adds:

  Args:
    default_scope: scope name used when `scope` is None.
    pre_activation: True for v2 (full pre-activation units): the root
      convolution has no batch norm or ReLU and a batch norm + ReLU
      ('postnorm') follows the last block.

  Returns:
    (net, end_points): logits [batch, num_classes] (or [batch, h, w,
    num_classes] without spatial squeeze), or the pooled features
    [batch, 1, 1, channels] when num_classes is 0 or None.

  Raises:
    ValueError: on an `output_stride` the architecture cannot produce.
  """
  root_stride = _ROOT_STRIDE if include_root_block else 1
  if output_stride is not None:
    valid = [root_stride * s for s in _reachable_strides(blocks)]
    if output_stride not in valid:
      raise UsageError(
          f'output_stride must be one of {", ".join(map(str, valid))} or None '
          f'(the strides this network passes through), got {output_stride!r}.')
    output_stride //= root_stride

  with tf.variable_scope(scope, default_scope, [inputs], reuse=reuse) as sc:
    collection = sc.original_name_scope + '_end_points'
    # The end points are the outputs of every convolution, unit and block.
    # is_training must also reach the batch norms that conv2d adds through
    # normalizer_fn, which only an arg scope on batch_norm can do.
    with slim.arg_scope([slim.conv2d, stack_blocks_dense] + _unit_fns(blocks),
                        outputs_collections=collection), \
        slim.arg_scope([slim.batch_norm], is_training=is_training):
      net = inputs
      if include_root_block:
        if pre_activation:
          # v2 units normalize their own inputs, so the root stays linear.
          with slim.arg_scope([slim.conv2d], activation_fn=None,
                              normalizer_fn=None):
            net = conv2d_same(net, _ROOT_DEPTH, 7, stride=2, scope='conv1')
        else:
          net = conv2d_same(net, _ROOT_DEPTH, 7, stride=2, scope='conv1')
        net = slim.max_pool2d(net, [3, 3], stride=2, padding='SAME',
                              scope='pool1')
      net = stack_blocks_dense(net, blocks, output_stride,
                               store_non_strided_activations)
      if pre_activation:
        net = slim.batch_norm(net, activation_fn=tf.nn.relu, scope='postnorm')

      end_points = EndPoints()
      for name, tensor in slim.utils.convert_collection_to_dict(
          collection).items():
        end_points.add(name, tensor)
      if global_pool:
        net = tf.reduce_mean(net, [1, 2], name='pool5', keepdims=True)
        end_points.add('global_pool', net)
      if not num_classes:
        return net, end_points
      net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None,
                        normalizer_fn=None, scope='logits')
      end_points.add(sc.name + '/logits', net)
      if spatial_squeeze:
        net = tf.squeeze(net, [1, 2], name='SpatialSqueeze')
        end_points.add(sc.name + '/spatial_squeeze', net)
      end_points.add('predictions', slim.softmax(net, scope='predictions'))
  return net, end_points


def _unit_fns(blocks):
  """The distinct unit functions of `blocks` that accept an arg scope."""
  fns = []
  for block in blocks:
    if block.unit_fn not in fns and slim.has_arg_scope(block.unit_fn):
      fns.append(block.unit_fn)
  return fns


def named_builder(generic_fn, unit_fn, prefix, depth, default_image_size=224):
  """Returns the TF-Slim named builder (e.g. resnet_v1_50) for one depth.

  The named builders differ only by their row of `_IMAGENET_UNITS` and their
  default scope, so they are made here instead of written out four times.

  Args:
    generic_fn: resnet_v1.resnet_v1 or resnet_v2.resnet_v2.
    unit_fn: the matching bottleneck unit.
    prefix: 'resnet_v1' or 'resnet_v2'.
    depth: a key of `_IMAGENET_UNITS`.
    default_image_size: input size of the published checkpoint.

  Returns:
    A function ``(inputs, num_classes=None, is_training=True, ...)`` returning
    ``(net, end_points)``.
  """
  name = f'{prefix}_{depth}'

  def builder(inputs, num_classes=None, is_training=True, global_pool=True,
              output_stride=None, spatial_squeeze=True,
              store_non_strided_activations=False, min_base_depth=8,
              depth_multiplier=1, reuse=None, scope=name):
    blocks = imagenet_blocks(unit_fn, depth, min_base_depth, depth_multiplier)
    return generic_fn(
        inputs, blocks, num_classes=num_classes, is_training=is_training,
        global_pool=global_pool, output_stride=output_stride,
        include_root_block=True, spatial_squeeze=spatial_squeeze,
        store_non_strided_activations=store_non_strided_activations,
        reuse=reuse, scope=scope)

  builder.__name__ = builder.__qualname__ = name
  builder.__module__ = generic_fn.__module__
  builder.__doc__ = f"""{name}: {depth}-layer {prefix} with the ImageNet units.

  Args:
    inputs: float Tensor [batch, height, width, 3] ({default_image_size} for
      the published checkpoint; any size works).
    num_classes: number of classes; 0 or None returns the pooled features.
    is_training: batch norm uses batch statistics and updates its moving ones.
    global_pool: average-pool the last block to 1x1 before the logits.
    output_stride: 8, 16, 32 or None (32); smaller values use atrous
      convolution and keep the variables unchanged.
    spatial_squeeze: squeeze the 1x1 logits to [batch, num_classes].
    store_non_strided_activations: record block end points before their
      subsampling.
    min_base_depth: lower bound of the bottleneck depths.
    depth_multiplier: scales the bottleneck depths (0: all at min_base_depth).
    reuse: whether to reuse the scope's variables.
    scope: variable scope.

  Returns:
    (net, end_points): logits [batch, num_classes] or features
    [batch, 1, 1, {_IMAGENET_BASE_DEPTHS[-1] * 4}] (spatial without
    global_pool; channels scale with depth_multiplier), and the ordered end
    points.

  Raises:
    ValueError: on an invalid output_stride, depth_multiplier or
      min_base_depth.
  """
  builder.default_image_size = default_image_size
  return builder


def resnet_arg_scope(weight_decay=0.0001, batch_norm_decay=0.997,
                     batch_norm_epsilon=1e-5, batch_norm_scale=True,
                     activation_fn=tf.nn.relu, use_batch_norm=True,
                     batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS):
  """Training knobs of ResNet v1/v2: L2 decay, He init, batch norm settings.

  Args:
    weight_decay: L2 regularization of the convolution weights.
    batch_norm_decay: moving-average decay of the batch-norm statistics.
    batch_norm_epsilon: added to the variance before normalizing.
    batch_norm_scale: learn a batch-norm scale (gamma); the published
      checkpoints have one.
    activation_fn: activation of the convolutions.
    use_batch_norm: follow convolutions with batch norm.
    batch_norm_updates_collections: collection of the moving-average updates.

  Returns:
    An arg_scope dict.
  """
  batch_norm_params = {
      'decay': batch_norm_decay,
      'epsilon': batch_norm_epsilon,
      'scale': batch_norm_scale,
      'updates_collections': batch_norm_updates_collections,
  }
  with slim.arg_scope(
      [slim.conv2d],
      weights_regularizer=slim.l2_regularizer(weight_decay),
      weights_initializer=slim.variance_scaling_initializer(),
      activation_fn=activation_fn,
      normalizer_fn=slim.batch_norm if use_batch_norm else None,
      normalizer_params=batch_norm_params):
    with slim.arg_scope([slim.batch_norm], **batch_norm_params):
      with slim.arg_scope([slim.max_pool2d], padding='SAME') as sc:
        return sc
