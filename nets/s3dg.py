"""S3D-G: separable 3-D Inception with feature gating, for video.

Xie et al., "Rethinking Spatiotemporal Feature Learning: Speed-Accuracy
Trade-offs in Video Classification", ECCV 2018
(https://arxiv.org/abs/1712.04851).

The I3D trunk with every [t, 3, 3] convolution split into a [1, 3, 3] spatial
and a [t, 1, 1] temporal convolution (S3D), a 3x7x7 first convolution, and
self-gating of every branch (the "G"). `temporal_conv_startat` and
`gating_startat` give the paper's "bottom-heavy"/"top-heavy" variants. The
trunk is shared with I3D in `nets.i3d_utils`; variable names match the
published Kinetics-400 checkpoint (scope `InceptionV1`).
"""

from slim_zoo.nets import i3d_utils
from slim_zoo.nets.compat import slim


def s3dg_base(inputs, first_temporal_kernel_size=3,
              temporal_conv_startat='Conv2d_2c_3x3',
              gating_startat='Conv2d_2c_3x3', final_endpoint='Mixed_5c',
              min_depth=16, depth_multiplier=1.0, data_format='NDHWC',
              scope='InceptionV1'):
  """The S3D-G trunk, from the input to `final_endpoint`.

  Args:
    inputs: float Tensor [batch, frames, height, width, 3] (NDHWC) or
      [batch, 3, frames, height, width] (NCDHW).
    first_temporal_kernel_size: temporal size of the first convolution, one
      of 1, 3, 5, 7.
    temporal_conv_startat: first layer (Conv2d_2c_3x3 or a Mixed_* block)
      with temporal convolutions; None makes the network purely spatial
      after the first convolution.
    gating_startat: first layer (same choices) with feature gating; None
      gives S3D without gating.
    final_endpoint: one of `i3d_utils.END_POINTS` at which to stop.
    min_depth: minimum number of channels of every convolution.
    depth_multiplier: scales the channels of every convolution.
    data_format: 'NDHWC' or 'NCDHW'.
    scope: variable scope.

  Returns:
    (net at `final_endpoint`, ordered end points). At 64 x 224 x 224 NDHWC,
    Mixed_5c is [batch, 8, 7, 7, 1024].

  Raises:
    ValueError: if `inputs` is not 5-D or an option is invalid.
  """
  return i3d_utils.inception_v1_3d_base(
      inputs, first_temporal_kernel_size=first_temporal_kernel_size,
      temporal_conv_startat=temporal_conv_startat,
      gating_startat=gating_startat, separable=True,
      final_endpoint=final_endpoint, min_depth=min_depth,
      depth_multiplier=depth_multiplier, data_format=data_format, scope=scope)


def s3dg(inputs, num_classes=400, is_training=True,
         first_temporal_kernel_size=3, temporal_conv_startat='Conv2d_2c_3x3',
         gating_startat='Conv2d_2c_3x3', final_endpoint='Mixed_5c',
         min_depth=16, depth_multiplier=1.0, dropout_keep_prob=0.8,
         prediction_fn=slim.softmax, spatial_squeeze=True, reuse=None,
         data_format='NDHWC', scope='InceptionV1'):
  """S3D-G video classifier.

  Args:
    inputs: float Tensor [batch, frames, height, width, 3] (NDHWC) or
      [batch, 3, frames, height, width] (NCDHW); the published model takes
      64 x 224 x 224 RGB clips.
    num_classes: number of classes (400 for Kinetics); 0 or None returns the
      time-averaged pooled features [batch, 1024] instead.
    is_training: batch norm and dropout in training mode.
    first_temporal_kernel_size: see `s3dg_base`.
    temporal_conv_startat: see `s3dg_base`.
    gating_startat: see `s3dg_base`.
    final_endpoint: last trunk end point before the logits head.
    min_depth: minimum number of channels of every convolution.
    depth_multiplier: scales the channels of every convolution.
    dropout_keep_prob: fraction of pooled activations kept in training.
    prediction_fn: maps logits to predictions.
    spatial_squeeze: drop the 1x1 spatial dimensions of the logits.
    reuse: whether to reuse the scope's variables.
    data_format: 'NDHWC' or 'NCDHW' (the logits are the same either way).
    scope: variable scope.

  Returns:
    (logits [batch, num_classes], ordered end points Conv2d_1a_7x7 ...
    Mixed_5c, Logits, Predictions).

  Raises:
    ValueError: if `inputs` is not 5-D or an option is invalid.
  """
  return i3d_utils.inception_v1_3d(
      inputs, num_classes=num_classes, is_training=is_training,
      dropout_keep_prob=dropout_keep_prob, prediction_fn=prediction_fn,
      spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope,
      data_format=data_format,
      first_temporal_kernel_size=first_temporal_kernel_size,
      temporal_conv_startat=temporal_conv_startat,
      gating_startat=gating_startat, separable=True,
      final_endpoint=final_endpoint, min_depth=min_depth,
      depth_multiplier=depth_multiplier)


s3dg.default_image_size = 224


def s3dg_arg_scope(weight_decay=1e-7, batch_norm_decay=0.999,
                   batch_norm_epsilon=0.001):
  """Arg scope of S3D-G: L2 weight decay and batch norm settings.

  Args:
    weight_decay: L2 regularization of the convolution weights.
    batch_norm_decay: moving-average decay of batch norm statistics.
    batch_norm_epsilon: added to the variance in batch norm.

  Returns:
    An arg scope.
  """
  return i3d_utils.inception_3d_arg_scope(
      weight_decay=weight_decay, batch_norm_decay=batch_norm_decay,
      batch_norm_epsilon=batch_norm_epsilon)
