"""MobileNet v1.

Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile
Vision Applications", 2017 (https://arxiv.org/abs/1704.04861).

The architecture is data: a list of `Conv` / `DepthSepConv` records read by
`mobilenet_v1_base`. A depthwise-separable layer `i` becomes the two scopes
`Conv2d_<i>_depthwise` and `Conv2d_<i>_pointwise`, a plain convolution the
scope `Conv2d_<i>`, as in the published TF-Slim checkpoints. Depth
multipliers (1.0, 0.75, 0.5, 0.25) are builder arguments, not new functions.
"""

import collections
import contextlib

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.nets_utils import EndPoints, validate_depth_multiplier
from slim_zoo.errors import UsageError

Conv = collections.namedtuple('Conv', ['kernel', 'stride', 'depth'])
Conv.__doc__ = """A full convolution + batch norm + ReLU6 layer.

Attributes:
  kernel: [height, width] of the kernel.
  stride: spatial stride.
  depth: output channels before the depth multiplier.
"""

DepthSepConv = collections.namedtuple('DepthSepConv',
                                      ['kernel', 'stride', 'depth'])
DepthSepConv.__doc__ = """A 3x3 depthwise conv followed by a 1x1 pointwise conv.

Attributes:
  kernel: [height, width] of the depthwise kernel.
  stride: spatial stride of the depthwise convolution.
  depth: output channels of the pointwise convolution before the multiplier.
"""

# The 28-layer network of the paper (Table 1): a stem convolution and 13
# depthwise-separable layers, output stride 32.
MOBILENETV1_CONV_DEFS = (
    Conv(kernel=[3, 3], stride=2, depth=32),
    DepthSepConv(kernel=[3, 3], stride=1, depth=64),
    DepthSepConv(kernel=[3, 3], stride=2, depth=128),
    DepthSepConv(kernel=[3, 3], stride=1, depth=128),
    DepthSepConv(kernel=[3, 3], stride=2, depth=256),
    DepthSepConv(kernel=[3, 3], stride=1, depth=256),
    DepthSepConv(kernel=[3, 3], stride=2, depth=512),
    DepthSepConv(kernel=[3, 3], stride=1, depth=512),
    DepthSepConv(kernel=[3, 3], stride=1, depth=512),
    DepthSepConv(kernel=[3, 3], stride=1, depth=512),
    DepthSepConv(kernel=[3, 3], stride=1, depth=512),
    DepthSepConv(kernel=[3, 3], stride=1, depth=512),
    DepthSepConv(kernel=[3, 3], stride=2, depth=1024),
    DepthSepConv(kernel=[3, 3], stride=1, depth=1024),
)

_VALID_OUTPUT_STRIDES = (8, 16, 32)


def _fixed_padding(inputs, kernel_size, rate=1):
  """Pads height and width so a VALID convolution acts like SAME at stride 1.

  Explicit padding makes the padded border independent of the input size,
  which some accelerators and exported graphs need.

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


def _end_point_names(conv_defs):
  names = []
  for i, conv_def in enumerate(conv_defs):
    if isinstance(conv_def, DepthSepConv):
      names += [f'Conv2d_{i}_depthwise', f'Conv2d_{i}_pointwise']
    else:
      names.append(f'Conv2d_{i}')
  return names


def _unset_in_arg_scope(func, params):
  """The entries of `params` that the caller's arg scope leaves unset."""
  given = slim.current_arg_scope().get(slim.arg_scope_func_key(func), {})
  return {k: v for k, v in params.items() if k not in given}


def _layer_defaults():
  """Arg scopes giving the published layers where the caller gives nothing.

  research/slim's base takes normalizer and activation from the caller's arg
  scope, and detection / segmentation code builds it under its own scope, so
  a caller's choice wins. A caller who picks the normalizer also configures
  it (tf_slim's defaults: offset, no scale), as with research/slim; without
  one the base builds the published layers: batch norm with offset and scale,
  then ReLU6.
  """
  layer = {'activation_fn': tf.nn.relu6, 'normalizer_fn': slim.batch_norm}
  conv = _unset_in_arg_scope(slim.conv2d, layer)
  separable = _unset_in_arg_scope(slim.separable_conv2d, layer)
  batch_norm = {}
  if 'normalizer_fn' in conv:
    batch_norm = _unset_in_arg_scope(slim.batch_norm,
                                     {'center': True, 'scale': True})
  stack = contextlib.ExitStack()
  stack.enter_context(slim.arg_scope([slim.conv2d], **conv))
  stack.enter_context(slim.arg_scope([slim.separable_conv2d], **separable))
  stack.enter_context(slim.arg_scope([slim.batch_norm], **batch_norm))
  return stack


def mobilenet_v1_base(inputs, final_endpoint='Conv2d_13_pointwise',
                      min_depth=8, depth_multiplier=1.0, conv_defs=None,
                      output_stride=None, use_explicit_padding=False,
                      scope=None, is_training=None):
  """MobileNet v1 feature extractor, from the input to `final_endpoint`.

  Batch norm (with offset and scale) and ReLU6 follow every convolution
  unless the caller's arg scope on `slim.conv2d` / `slim.separable_conv2d`
  sets `normalizer_fn` or `activation_fn`: as in research/slim, a caller's
  scope composes with the base (a caller-chosen normalizer is configured by
  the caller's scope too, e.g. tf_slim's batch norm has no scale by
  default). `mobilenet_v1_arg_scope` gives the published layers.

  Args:
    inputs: float Tensor [batch, height, width, channels].
    final_endpoint: end point to stop at, e.g. 'Conv2d_0' or
      'Conv2d_5_pointwise'; None builds every layer of `conv_defs`.
    min_depth: smallest channel count a layer is shrunk to by
      `depth_multiplier`.
    depth_multiplier: positive float scaling every layer's channel count.
    conv_defs: sequence of `Conv` / `DepthSepConv` records; None means
      `MOBILENETV1_CONV_DEFS`.
    output_stride: None, 8, 16 or 32: the ratio of input to output size.
      Strides past it become atrous rates, so the variables do not change.
    use_explicit_padding: pad explicitly and convolve with VALID padding
      instead of SAME.
    scope: variable scope; defaults to 'MobilenetV1'.
    is_training: batch-norm mode; None leaves it to the caller's arg scope.

  Returns:
    (net [batch, height / output_stride, width / output_stride, depth] at
    `final_endpoint`, end_points).

  Raises:
    ValueError: for a non-positive depth multiplier, an output stride other
      than None/8/16/32, an unknown record type or an unknown final end point.
  """
  validate_depth_multiplier(depth_multiplier)
  if output_stride is not None and output_stride not in _VALID_OUTPUT_STRIDES:
    raise UsageError(f'output_stride must be None or one of '
                     f'{_VALID_OUTPUT_STRIDES}, got {output_stride!r}.')
  conv_defs = MOBILENETV1_CONV_DEFS if conv_defs is None else tuple(conv_defs)
  for i, conv_def in enumerate(conv_defs):
    if not isinstance(conv_def, (Conv, DepthSepConv)):
      raise UsageError(f'conv_defs[{i}] is {conv_def!r}; every layer must be '
                       f'a mobilenet_v1.Conv or mobilenet_v1.DepthSepConv.')
  valid_names = _end_point_names(conv_defs)
  if final_endpoint is not None and final_endpoint not in valid_names:
    raise UsageError(f'Unknown final endpoint {final_endpoint!r}; valid end '
                     f'points are: {", ".join(valid_names)}.')

  def depth(d):
    return max(int(d * depth_multiplier), min_depth)

  padding = 'VALID' if use_explicit_padding else 'SAME'
  batch_norm_args = {}
  if is_training is not None:
    batch_norm_args['is_training'] = is_training
  end_points = EndPoints(final_endpoint)
  with tf.variable_scope(scope, 'MobilenetV1', [inputs]), _layer_defaults(), \
      slim.arg_scope([slim.conv2d, slim.separable_conv2d], padding=padding), \
      slim.arg_scope([slim.batch_norm], **batch_norm_args):
    # Once the running stride reaches output_stride, later strides turn into
    # dilation so the feature map keeps its size.
    current_stride, rate = 1, 1
    net = inputs
    for i, conv_def in enumerate(conv_defs):
      if output_stride is not None and current_stride == output_stride:
        layer_stride, layer_rate = 1, rate
        rate *= conv_def.stride
      else:
        layer_stride, layer_rate = conv_def.stride, 1
        current_stride *= conv_def.stride

      if isinstance(conv_def, Conv):
        if use_explicit_padding:
          net = _fixed_padding(net, conv_def.kernel, layer_rate)
        net = slim.conv2d(net, depth(conv_def.depth), conv_def.kernel,
                          stride=layer_stride, rate=layer_rate,
                          scope=f'Conv2d_{i}')
        if end_points.add(f'Conv2d_{i}', net):
          return net, end_points
        continue

      if use_explicit_padding:
        net = _fixed_padding(net, conv_def.kernel, layer_rate)
      net = slim.separable_conv2d(net, None, conv_def.kernel,
                                  depth_multiplier=1, stride=layer_stride,
                                  rate=layer_rate,
                                  scope=f'Conv2d_{i}_depthwise')
      if end_points.add(f'Conv2d_{i}_depthwise', net):
        return net, end_points
      net = slim.conv2d(net, depth(conv_def.depth), [1, 1], stride=1,
                        scope=f'Conv2d_{i}_pointwise')
      if end_points.add(f'Conv2d_{i}_pointwise', net):
        return net, end_points
  return net, end_points


def _reduced_kernel_size_for_small_input(tensor, kernel_size):
  """Shrinks the pooling kernel to the feature map for small inputs."""
  height, width = tensor.shape.as_list()[1:3]
  if height is None or width is None:
    return kernel_size
  return [min(height, kernel_size[0]), min(width, kernel_size[1])]


def mobilenet_v1(inputs, num_classes=1000, dropout_keep_prob=0.999,
                 is_training=True, min_depth=8, depth_multiplier=1.0,
                 conv_defs=None, prediction_fn=slim.softmax,
                 spatial_squeeze=True, reuse=None, scope='MobilenetV1',
                 global_pool=False, output_stride=None,
                 use_explicit_padding=False):
  """MobileNet v1 classifier.

  Args:
    inputs: float Tensor [batch, height, width, 3]; 224 x 224 for the
      published checkpoints.
    num_classes: number of classes; 0 or None returns the pooled features
      [batch, 1, 1, depth] and builds no logits layer.
    dropout_keep_prob: fraction of pooled features kept during training.
    is_training: batch norm uses batch statistics and dropout is active.
    min_depth: smallest channel count after `depth_multiplier`.
    depth_multiplier: positive float scaling every layer's channel count
      (0.75, 0.5 and 0.25 have published checkpoints).
    conv_defs: sequence of `Conv` / `DepthSepConv` records; None means
      `MOBILENETV1_CONV_DEFS`.
    prediction_fn: maps logits to predictions.
    spatial_squeeze: squeeze logits to [batch, num_classes].
    reuse: whether to reuse the scope's variables.
    scope: variable scope.
    global_pool: average over the whole feature map ('global_pool' end
      point) instead of a 7 x 7 average pool ('AvgPool_1a').
    output_stride: None, 8, 16 or 32, see `mobilenet_v1_base`.
    use_explicit_padding: see `mobilenet_v1_base`.

  Returns:
    (logits [batch, num_classes] (or [batch, 1, 1, num_classes] without
    spatial_squeeze), or pooled features when num_classes is 0/None,
    end_points).

  Raises:
    ValueError: if `inputs` is not rank 4, or see `mobilenet_v1_base`.
  """
  if inputs.shape.rank != 4:
    raise UsageError(f'mobilenet_v1 expects images [batch, height, width, '
                     f'channels], got shape {inputs.shape}.')
  with tf.variable_scope(scope, 'MobilenetV1', [inputs], reuse=reuse) as sc:
    with slim.arg_scope([slim.dropout], is_training=is_training):
      net, end_points = mobilenet_v1_base(
          inputs, final_endpoint=None, scope=sc, min_depth=min_depth,
          depth_multiplier=depth_multiplier, conv_defs=conv_defs,
          output_stride=output_stride,
          use_explicit_padding=use_explicit_padding, is_training=is_training)
      with tf.variable_scope('Logits'):
        if global_pool:
          net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
          end_points.add('global_pool', net)
        else:
          kernel_size = _reduced_kernel_size_for_small_input(net, [7, 7])
          net = slim.avg_pool2d(net, kernel_size, padding='VALID',
                                scope='AvgPool_1a')
          end_points.add('AvgPool_1a', net)
        # 1 x 1 x 1024 (times depth_multiplier)
        if not num_classes:
          return net, end_points
        net = slim.dropout(net, keep_prob=dropout_keep_prob, scope='Dropout_1b')
        logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None,
                             normalizer_fn=None, scope='Conv2d_1c_1x1')
        if spatial_squeeze:
          logits = tf.squeeze(logits, [1, 2], name='SpatialSqueeze')
      end_points.add('Logits', logits)
      if prediction_fn:
        end_points.add('Predictions', prediction_fn(logits, scope='Predictions'))
  return logits, end_points


mobilenet_v1.default_image_size = 224


def mobilenet_v1_arg_scope(is_training=True, weight_decay=0.00004,
                           stddev=0.09, regularize_depthwise=False,
                           batch_norm_decay=0.9997, batch_norm_epsilon=0.001,
                           batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS,
                           normalizer_fn=slim.batch_norm):
  """MobileNet v1's arg scope: the published layers and training knobs.

  Args:
    is_training: default batch-norm mode; `mobilenet_v1` overrides it with
      its own `is_training`. None leaves it out of the scope (to the
      caller's own scope or `mobilenet_v1_base(is_training=...)`).
    weight_decay: L2 regularization of the full and pointwise convolutions.
    stddev: standard deviation of the truncated-normal weight initializer.
    regularize_depthwise: also regularize the depthwise kernels.
    batch_norm_decay: moving-average decay of the batch-norm statistics.
    batch_norm_epsilon: added to the variance before dividing.
    batch_norm_updates_collections: collection for the moving-average updates.
    normalizer_fn: normalization after every convolution but the logits.

  Returns:
    An arg scope.
  """
  regularizer = slim.l2_regularizer(weight_decay)
  depthwise_regularizer = regularizer if regularize_depthwise else None
  batch_norm_params = {
      'center': True, 'scale': True, 'decay': batch_norm_decay,
      'epsilon': batch_norm_epsilon,
      'updates_collections': batch_norm_updates_collections}
  if is_training is not None:
    batch_norm_params['is_training'] = is_training
  with slim.arg_scope(
      [slim.conv2d, slim.separable_conv2d],
      weights_initializer=tf.truncated_normal_initializer(stddev=stddev),
      activation_fn=tf.nn.relu6, normalizer_fn=normalizer_fn), \
      slim.arg_scope([slim.batch_norm], **batch_norm_params), \
      slim.arg_scope([slim.conv2d], weights_regularizer=regularizer), \
      slim.arg_scope([slim.separable_conv2d],
                     weights_regularizer=depthwise_regularizer) as sc:
    return sc
