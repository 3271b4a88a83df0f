"""Pieces shared by the Inception family (v1-v4, Inception-ResNet-v2).

The arg scope with the batch-norm settings the published checkpoints were
trained with, the depth function behind `depth_multiplier`/`min_depth`, the
fail-fast end point check and the kernel-size reduction that lets the fixed
pooling and auxiliary heads run on inputs smaller than the default size.
"""

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.nets_utils import EndPoints, validate_depth_multiplier
from slim_zoo.errors import UsageError


def trunc_normal(stddev):
  """Truncated-normal initializer with mean 0 and the given stddev."""
  return tf.truncated_normal_initializer(0.0, stddev)


def depth_fn(depth_multiplier, min_depth):
  """Returns `depth(d) = max(int(d * depth_multiplier), min_depth)`.

  Args:
    depth_multiplier: float > 0 scaling every convolution's output channels.
    min_depth: channel floor applied after scaling (only bites when
      depth_multiplier < 1).

  Raises:
    ValueError: if depth_multiplier is not greater than zero.
  """
  validate_depth_multiplier(depth_multiplier)
  return lambda d: max(int(d * depth_multiplier), min_depth)


def new_end_points(final_endpoint, valid_names):
  """EndPoints that stop at `final_endpoint`, rejecting unknown names early.

  Checking before building anything means a typo costs no graph
  construction, and the message lists every valid name.

  Args:
    final_endpoint: end point name to stop at, or None to build everything.
    valid_names: the end point names the base network records, in order.

  Raises:
    ValueError: if final_endpoint is not None and not in valid_names.
  """
  end_points = EndPoints(final_endpoint)
  if final_endpoint is not None and final_endpoint not in valid_names:
    end_points.check_reached(valid_names)
  return end_points


def reduced_kernel_size_for_small_input(input_tensor, kernel_size):
  """Clips a [height, width] kernel to the input's static spatial size.

  The fixed 5x5/7x7/8x8 pooling windows and auxiliary convolutions were
  sized for the default input; a smaller input would leave them larger than
  the feature map and VALID padding would fail. At the default size (or an
  unknown one) the kernel is returned unchanged, so checkpoints still load.

  Args:
    input_tensor: NHWC Tensor [batch, height, width, channels].
    kernel_size: [kernel_height, kernel_width].

  Returns:
    [min(kernel_height, height), min(kernel_width, width)].
  """
  shape = input_tensor.get_shape().as_list()
  if shape[1] is None or shape[2] is None:
    return list(kernel_size)
  return [min(shape[1], kernel_size[0]), min(shape[2], kernel_size[1])]


def static_spatial_size(input_tensor, what):
  """Returns [height, width] of an NHWC tensor, which must be static.

  Args:
    input_tensor: NHWC Tensor.
    what: name of the layer that needs the size, for the error message.

  Raises:
    ValueError: if the height or width is unknown at graph construction.
  """
  size = input_tensor.get_shape().as_list()[1:3]
  if None in size:
    raise UsageError(
        f'{what} sizes its kernel from the feature map, but the feature map '
        f'{input_tensor.name} has unknown spatial size {size}; give the input '
        'a static height and width or pass create_aux_logits=False.')
  return size


def inception_arg_scope(
    weight_decay=0.00004,
    use_batch_norm=True,
    batch_norm_decay=0.9997,
    batch_norm_epsilon=0.001,
    activation_fn=tf.nn.relu,
    batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS,
    batch_norm_scale=False,
    weights_initializer=None,
    regularize_biases=False):
  """Arg scope of the Inception family.

  Convolutions get batch norm (no gamma unless batch_norm_scale, matching
  the published checkpoints), the activation and L2 weight decay; fully
  connected layers get weight decay. `is_training` is not set here: every
  builder passes it to batch norm and dropout itself.

  Args:
    weight_decay: L2 regularization factor for weights.
    use_batch_norm: whether convolutions are followed by batch norm.
    batch_norm_decay: moving-average decay of the batch-norm statistics.
    batch_norm_epsilon: added to the variance to avoid division by zero.
    activation_fn: activation of every convolution.
    batch_norm_updates_collections: collection for the moving-average update
      ops.
    batch_norm_scale: whether batch norm learns a gamma.
    weights_initializer: initializer of convolution weights; None means
      variance scaling (Inception v1-v4).
    regularize_biases: also apply the L2 decay to biases
      (Inception-ResNet-v2).

  Returns:
    An arg scope for `slim.arg_scope`.
  """
  batch_norm_params = {
      'decay': batch_norm_decay,
      'epsilon': batch_norm_epsilon,
      'updates_collections': batch_norm_updates_collections,
      'fused': None,
      'scale': batch_norm_scale,
  }
  if use_batch_norm:
    normalizer_fn, normalizer_params = slim.batch_norm, batch_norm_params
  else:
    normalizer_fn, normalizer_params = None, {}
  regularizer = slim.l2_regularizer(weight_decay)
  if weights_initializer is None:
    weights_initializer = slim.variance_scaling_initializer()
  with slim.arg_scope(
      [slim.conv2d, slim.fully_connected],
      weights_regularizer=regularizer,
      biases_regularizer=regularizer if regularize_biases else None):
    with slim.arg_scope(
        [slim.conv2d],
        weights_initializer=weights_initializer,
        activation_fn=activation_fn,
        normalizer_fn=normalizer_fn,
        normalizer_params=normalizer_params) as sc:
      return sc
