"""MobileNet v2.

Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
2018 (https://arxiv.org/abs/1801.04381). The network is the spec `V2_DEF`
(Table 2 of the paper) read by the generic `mobilenet.mobilenet` builder;
variables live under 'MobilenetV2' as in the published checkpoints.
`V2_DEF` has research/slim's layout (dict(defaults={...}, spec=[...])):
`copy.deepcopy` it before editing.
"""

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.mobilenet import mobilenet as lib
from slim_zoo.nets.mobilenet.mobilenet import Conv, ExpandedConv

op = lib.op

# research/slim's V2 defaults. The op records pass their activation and
# normalizer themselves; the defaults serve `op(...)` layers a user adds.
DEFAULTS = {
    (slim.batch_norm,): {'center': True, 'scale': True},
    (slim.conv2d, slim.fully_connected, slim.separable_conv2d): {
        'normalizer_fn': slim.batch_norm, 'activation_fn': tf.nn.relu6},
    (slim.conv2d, slim.separable_conv2d): {'padding': 'SAME'},
}

# Stem, 17 inverted-residual blocks (expansion 6 except the first), 1x1 conv
# to 1280. ReLU6 everywhere except the linear projections.
V2_DEF = dict(defaults=dict(DEFAULTS), spec=[
    Conv(32, kernel_size=(3, 3), stride=2),
    ExpandedConv(16, expansion_factor=1, expansion_divisible_by=1),
    ExpandedConv(24, stride=2),
    ExpandedConv(24),
    ExpandedConv(32, stride=2),
    ExpandedConv(32),
    ExpandedConv(32),
    ExpandedConv(64, stride=2),
    ExpandedConv(64),
    ExpandedConv(64),
    ExpandedConv(64),
    ExpandedConv(96),
    ExpandedConv(96),
    ExpandedConv(96),
    ExpandedConv(160, stride=2),
    ExpandedConv(160),
    ExpandedConv(160),
    ExpandedConv(320),
    Conv(1280, kernel_size=(1, 1)),
])


def with_activation(conv_defs, activation_fn):
  """Returns a copy of `conv_defs` using `activation_fn` instead of ReLU6."""
  return lib.replace_ops(conv_defs,
                         lambda op: getattr(op, 'activation_fn', None)
                         is tf.nn.relu6, activation_fn=activation_fn)


def mobilenet(images, num_classes=1001, depth_multiplier=1.0,
              scope='MobilenetV2', conv_defs=None,
              finegrain_classification_mode=False, activation_fn=None,
              **kwargs):
  """MobileNet v2 classifier (or features, see `mobilenet.mobilenet`).

  Args:
    images: float Tensor [batch, height, width, 3]; 224 x 224 for the
      published checkpoints.
    num_classes: number of classes; 0 or None returns the pooled features
      [batch, 1, 1, 1280 x multiplier].
    depth_multiplier: positive float scaling every layer's channel count.
    scope: variable scope.
    conv_defs: a spec replacing `V2_DEF` (see `mobilenet.mobilenet_base`).
    finegrain_classification_mode: for multipliers below 1, keep the last
      layer at 1280 channels (as the published 0.35 / 0.5 models do);
      multipliers of 1 or more scale it as usual.
    activation_fn: replaces ReLU6 in every layer; None keeps ReLU6.
    **kwargs: `is_training`, `min_depth`, `divisible_by`, `output_stride`,
      `use_explicit_padding`, `final_endpoint`, `base_only`,
      `dropout_keep_prob`, `prediction_fn`, `reuse` of `mobilenet.mobilenet`.

  Returns:
    (logits [batch, num_classes], end_points): end points 'layer_1' ...
    'layer_19', 'layer_<i>/expansion_output', 'layer_<i>/depthwise_output',
    'layer_<i>/output', 'global_pool', 'Logits', 'Predictions'.

  Raises:
    ValueError: for a non-positive depth multiplier and the other invalid
      arguments listed in `mobilenet.mobilenet_base`.
  """
  conv_defs = V2_DEF if conv_defs is None else conv_defs
  if activation_fn is not None:
    conv_defs = with_activation(conv_defs, activation_fn)
  # The published v2 code widens the last layer only for multipliers < 1.
  finegrain = (finegrain_classification_mode and
               isinstance(depth_multiplier, (int, float)) and
               depth_multiplier < 1)
  return lib.mobilenet(images, conv_defs=conv_defs, num_classes=num_classes,
                       depth_multiplier=depth_multiplier, scope=scope,
                       finegrain_classification_mode=finegrain, **kwargs)


mobilenet.default_image_size = 224

mobilenet_v2_140 = lib.variant('mobilenet_v2_140', mobilenet,
                               depth_multiplier=1.4)
mobilenet_v2_035 = lib.variant('mobilenet_v2_035', mobilenet,
                               depth_multiplier=0.35,
                               finegrain_classification_mode=True)


def mobilenet_base(images, depth_multiplier=1.0, **kwargs):
  """MobileNet v2 features (no pooling, no logits); see `mobilenet`.

  Returns:
    (features [batch, height / 32, width / 32, 1280 x multiplier] or those
    of `final_endpoint`, end_points).
  """
  return mobilenet(images, depth_multiplier=depth_multiplier, base_only=True,
                   **kwargs)


training_scope = lib.training_scope
