"""ResNet v1 (post-activation residual units), TF-Slim checkpoint layout.

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016
(arXiv:1512.03385). As in the published TF-Slim checkpoints (converted from
the authors' Caffe models), each block strides in its last unit and every
convolution is followed by batch norm. The generic builder and the atrous
machinery live in resnet_utils; this module adds the v1 bottleneck unit and
the named variants resnet_v1_50/101/152/200.
"""

from slim_zoo.nets import resnet_utils
from slim_zoo.nets.compat import slim, tf

resnet_arg_scope = resnet_utils.resnet_arg_scope


@slim.add_arg_scope
def bottleneck(inputs, depth, depth_bottleneck, stride, rate=1,
               outputs_collections=None, scope=None):
  """Bottleneck unit: 1x1 -> 3x3 (strided, atrous) -> 1x1, plus a shortcut.

  Args:
    inputs: Tensor [batch, height, width, channels].
    depth: output channels.
    depth_bottleneck: channels of the inner 1x1 and 3x3 convolutions.
    stride: stride of the unit (on the 3x3 convolution and the shortcut).
    rate: atrous rate of the 3x3 convolution.
    outputs_collections: collection that receives the unit's output.
    scope: variable scope (default 'bottleneck_v1').

  Returns:
    Tensor [batch, ceil(height / stride), ceil(width / stride), depth].
  """
  with tf.variable_scope(scope, 'bottleneck_v1', [inputs]) as sc:
    depth_in = slim.utils.last_dimension(inputs.get_shape(), min_rank=4)
    if depth == depth_in:
      shortcut = resnet_utils.subsample(inputs, stride, 'shortcut')
    else:
      shortcut = slim.conv2d(inputs, depth, [1, 1], stride=stride,
                             activation_fn=None, scope='shortcut')
    residual = slim.conv2d(inputs, depth_bottleneck, [1, 1], stride=1,
                           scope='conv1')
    residual = resnet_utils.conv2d_same(residual, depth_bottleneck, 3, stride,
                                        rate=rate, scope='conv2')
    # No ReLU before the sum: the unit's activation follows the addition.
    residual = slim.conv2d(residual, depth, [1, 1], stride=1,
                           activation_fn=None, scope='conv3')
    output = tf.nn.relu(shortcut + residual)
    return slim.utils.collect_named_outputs(outputs_collections, sc.name,
                                            output)


def resnet_v1(inputs, blocks, num_classes=None, is_training=True,
              global_pool=True, output_stride=None, include_root_block=True,
              spatial_squeeze=True, store_non_strided_activations=False,
              reuse=None, scope=None):
  """Generic ResNet v1 over any list of blocks.

  Args:
    inputs: float Tensor [batch, height, width, channels].
    blocks: list of `resnet_utils.Block` (see `resnet_v1_block`).
    num_classes: number of classes; 0 or None returns the features of the
      last block (pooled when `global_pool`).
    is_training: batch norm uses batch statistics and updates its moving ones.
    global_pool: average-pool the last block to 1x1 before the logits; False
      keeps the spatial map (dense prediction).
    output_stride: stride of the last block's output relative to the input
      (8, 16, 32 or None for the nominal stride with the ImageNet blocks);
      smaller values use atrous convolution with the same variables.
    include_root_block: start with the 7x7/2 convolution and 3x3/2 max pool;
      False feeds `inputs` straight to the first block.
    spatial_squeeze: squeeze the logits to [batch, num_classes]; needs 1x1
      logits (global_pool or a matching input size).
    store_non_strided_activations: record each block's end point before its
      subsampling (see `resnet_utils.stack_blocks_dense`).
    reuse: whether to reuse the scope's variables.
    scope: variable scope (default 'resnet_v1').

  Returns:
    (net, end_points): logits [batch, num_classes] ([batch, h, w,
    num_classes] without squeeze) or features [batch, 1, 1, channels]
    (or [batch, h, w, channels] without global_pool); end_points is ordered.

  Raises:
    ValueError: if `output_stride` is not a stride the network passes through.
  """
  return resnet_utils.build_resnet(
      inputs, blocks, num_classes=num_classes, is_training=is_training,
      global_pool=global_pool, output_stride=output_stride,
      include_root_block=include_root_block, spatial_squeeze=spatial_squeeze,
      store_non_strided_activations=store_non_strided_activations,
      reuse=reuse, scope=scope, default_scope='resnet_v1',
      pre_activation=False)


resnet_v1.default_image_size = 224


def resnet_v1_block(scope, base_depth, num_units, stride):
  """A block of v1 bottleneck units with 4 * base_depth output channels.

  Args:
    scope: block scope, e.g. 'block1'.
    base_depth: bottleneck depth.
    num_units: number of units.
    stride: stride of the block's last unit.

  Returns:
    A `resnet_utils.Block`.
  """
  return resnet_utils.bottleneck_block(scope, bottleneck, base_depth,
                                       num_units, stride)


resnet_v1_50 = resnet_utils.named_builder(resnet_v1, bottleneck, 'resnet_v1',
                                          50)
resnet_v1_101 = resnet_utils.named_builder(resnet_v1, bottleneck, 'resnet_v1',
                                           101)
resnet_v1_152 = resnet_utils.named_builder(resnet_v1, bottleneck, 'resnet_v1',
                                           152)
resnet_v1_200 = resnet_utils.named_builder(resnet_v1, bottleneck, 'resnet_v1',
                                           200)
