"""I3D: the Two-Stream Inflated 3D ConvNet (RGB stream) for video.

Carreira and Zisserman, "Quo Vadis, Action Recognition? A New Model and the
Kinetics Dataset", CVPR 2017 (https://arxiv.org/abs/1705.07750).

Inception-v1 with every 2-D kernel inflated to 3-D: a 7x7x7 first
convolution, full [3, 3, 3] convolutions from Conv2d_2c_3x3 on, no feature
gating. The trunk is shared with S3D-G in `nets.i3d_utils`; variable names
match the published Kinetics-400 checkpoint (scope `InceptionV1`).
"""

from slim_zoo.nets import i3d_utils
from slim_zoo.nets.compat import slim

# The options of the shared trunk that make it I3D.
_I3D_OPTIONS = dict(first_temporal_kernel_size=7,
                    temporal_conv_startat='Conv2d_2c_3x3',
                    gating_startat=None, separable=False, data_format='NDHWC')


def i3d_base(inputs, final_endpoint='Mixed_5c', min_depth=16,
             depth_multiplier=1.0, scope='InceptionV1'):
  """The I3D trunk, from the input to `final_endpoint`.

  Args:
    inputs: float Tensor [batch, frames, height, width, 3].
    final_endpoint: one of `i3d_utils.END_POINTS` (Conv2d_1a_7x7 ...
      Mixed_5c) at which to stop.
    min_depth: minimum number of channels of every convolution.
    depth_multiplier: scales the channels of every convolution.
    scope: variable scope.

  Returns:
    (net at `final_endpoint`, ordered end points). At 64 x 224 x 224,
    Mixed_5c is [batch, 8, 7, 7, 1024].

  Raises:
    ValueError: if `inputs` is not 5-D or an option is invalid.
  """
  return i3d_utils.inception_v1_3d_base(
      inputs, final_endpoint=final_endpoint, min_depth=min_depth,
      depth_multiplier=depth_multiplier, scope=scope, **_I3D_OPTIONS)


def i3d(inputs, num_classes=400, is_training=True, dropout_keep_prob=0.8,
        prediction_fn=slim.softmax, spatial_squeeze=True, reuse=None,
        final_endpoint='Mixed_5c', min_depth=16, depth_multiplier=1.0,
        scope='InceptionV1'):
  """I3D video classifier.

  Args:
    inputs: float Tensor [batch, frames, height, width, 3]; the published
      model takes 64 x 224 x 224 RGB clips.
    num_classes: number of classes (400 for Kinetics); 0 or None returns the
      time-averaged pooled features [batch, 1024] instead.
    is_training: batch norm and dropout in training mode.
    dropout_keep_prob: fraction of pooled activations kept in training.
    prediction_fn: maps logits to predictions.
    spatial_squeeze: drop the 1x1 spatial dimensions of the logits.
    reuse: whether to reuse the scope's variables.
    final_endpoint: last trunk end point before the logits head.
    min_depth: minimum number of channels of every convolution.
    depth_multiplier: scales the channels of every convolution.
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
      final_endpoint=final_endpoint, min_depth=min_depth,
      depth_multiplier=depth_multiplier, **_I3D_OPTIONS)


i3d.default_image_size = 224


def i3d_arg_scope(weight_decay=1e-7, batch_norm_decay=0.999,
                  batch_norm_epsilon=0.001, use_renorm=False):
  """Arg scope of I3D: L2 weight decay and batch norm settings.

  Args:
    weight_decay: L2 regularization of the convolution weights.
    batch_norm_decay: moving-average decay of batch norm statistics.
    batch_norm_epsilon: added to the variance in batch norm.
    use_renorm: use batch renormalization.

  Returns:
    An arg scope.
  """
  return i3d_utils.inception_3d_arg_scope(
      weight_decay=weight_decay, batch_norm_decay=batch_norm_decay,
      batch_norm_epsilon=batch_norm_epsilon, use_renorm=use_renorm)
