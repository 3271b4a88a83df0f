"""MobileNet v3 (large, small, minimalistic) and MobileNet EdgeTPU.

Howard et al., "Searching for MobileNetV3", 2019
(https://arxiv.org/abs/1905.02244), Tables 1 and 2; the EdgeTPU model of
Gupta & Tan, "EfficientNet-EdgeTPU" / "MobileNet EdgeTPU", 2019, which
replaces early depthwise blocks by fused full convolutions. Each network is
a spec of op records read by the generic `mobilenet.mobilenet` builder; the
minimalistic variants are derived from the full specs by `minimalistic`.
Variables live under 'MobilenetV3' ('MobilenetEdgeTPU' for EdgeTPU), as in
the published checkpoints. Specs have research/slim's layout
(dict(defaults={...}, spec=[...])): `copy.deepcopy` one before editing.
"""

import functools

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.mobilenet import mobilenet as lib
from slim_zoo.nets.mobilenet.conv_blocks import hard_swish
from slim_zoo.nets.mobilenet.mobilenet import Conv, ExpandedConv, GlobalPool

_relu = tf.nn.relu
op = lib.op

# research/slim's v3 defaults; the op records pass their activation and
# normalizer themselves, the defaults serve `op(...)` layers a user adds.
DEFAULTS = {
    (slim.conv2d, slim.fully_connected, slim.separable_conv2d): {
        'normalizer_fn': slim.batch_norm, 'activation_fn': _relu},
    (slim.batch_norm,): {'center': True, 'scale': True},
}

# research/slim's `use_groupnorm` defaults: group norm in place of batch norm
# (no moving statistics, so small or per-device batches train the same).
DEFAULTS_GROUP_NORM = {
    (slim.conv2d, slim.fully_connected, slim.separable_conv2d): {
        'normalizer_fn': slim.group_norm, 'activation_fn': _relu},
    (slim.group_norm,): {'groups': 8},
}


def _spec(*layers):
  return dict(defaults=dict(DEFAULTS), spec=list(layers))


def _block(ef, n, k, s=1, act=_relu, se=False, **kwargs):
  """Inverted residual with expansion factor `ef`, `n` outputs, kernel `k`."""
  return ExpandedConv(n, expansion_factor=ef, kernel_size=(k, k), stride=s,
                      activation_fn=act, squeeze_excite=se, **kwargs)


_block_se = functools.partial(_block, se=True)


def _fused(ef, n, k, s=1, **kwargs):
  """EdgeTPU block: one full kxk expansion convolution, no depthwise."""
  return _block(ef, n, k, s, fused=True, **kwargs)


V3_LARGE = _spec(
    Conv(16, stride=2, activation_fn=hard_swish),
    _block(ef=1, n=16, k=3),
    _block(ef=4, n=24, k=3, s=2),
    _block(ef=3, n=24, k=3),
    _block_se(ef=3, n=40, k=5, s=2),
    _block_se(ef=3, n=40, k=5),
    _block_se(ef=3, n=40, k=5),
    _block(ef=6, n=80, k=3, s=2, act=hard_swish),
    _block(ef=2.5, n=80, k=3, act=hard_swish),
    _block(ef=184 / 80., n=80, k=3, act=hard_swish),
    _block(ef=184 / 80., n=80, k=3, act=hard_swish),
    _block_se(ef=6, n=112, k=3, act=hard_swish),
    _block_se(ef=6, n=112, k=3, act=hard_swish),
    _block_se(ef=6, n=160, k=5, s=2, act=hard_swish),
    _block_se(ef=6, n=160, k=5, act=hard_swish),
    _block_se(ef=6, n=160, k=5, act=hard_swish),
    Conv(960, kernel_size=(1, 1), activation_fn=hard_swish),
    GlobalPool(),
    # The last layer works on pooled features: no batch norm, biases instead.
    Conv(1280, kernel_size=(1, 1), activation_fn=hard_swish, batch_norm=False),
)

V3_SMALL = _spec(
    Conv(16, stride=2, activation_fn=hard_swish),
    _block_se(ef=1, n=16, k=3, s=2),
    _block(ef=72. / 16, n=24, k=3, s=2),
    _block(ef=88. / 24, n=24, k=3),
    _block_se(ef=4, n=40, k=5, s=2, act=hard_swish),
    _block_se(ef=6, n=40, k=5, act=hard_swish),
    _block_se(ef=6, n=40, k=5, act=hard_swish),
    _block_se(ef=3, n=48, k=5, act=hard_swish),
    _block_se(ef=3, n=48, k=5, act=hard_swish),
    _block_se(ef=6, n=96, k=5, s=2, act=hard_swish),
    _block_se(ef=6, n=96, k=5, act=hard_swish),
    _block_se(ef=6, n=96, k=5, act=hard_swish),
    Conv(576, kernel_size=(1, 1), activation_fn=hard_swish),
    GlobalPool(),
    Conv(1024, kernel_size=(1, 1), activation_fn=hard_swish, batch_norm=False),
)

V3_EDGETPU = _spec(
    Conv(32, stride=2, activation_fn=_relu),
    _fused(ef=1, n=16, k=3),
    _fused(ef=8, n=32, k=3, s=2),
    _fused(ef=4, n=32, k=3),
    _fused(ef=4, n=32, k=3),
    _fused(ef=4, n=32, k=3),
    _fused(ef=8, n=48, k=3, s=2),
    _fused(ef=4, n=48, k=3),
    _fused(ef=4, n=48, k=3),
    _fused(ef=4, n=48, k=3),
    _block(ef=8, n=96, k=3, s=2),
    _block(ef=4, n=96, k=3),
    _block(ef=4, n=96, k=3),
    _block(ef=4, n=96, k=3),
    _block(ef=8, n=96, k=3, residual=False),
    _block(ef=4, n=96, k=3),
    _block(ef=4, n=96, k=3),
    _block(ef=4, n=96, k=3),
    _block(ef=8, n=160, k=5, s=2),
    _block(ef=4, n=160, k=5),
    _block(ef=4, n=160, k=5),
    _block(ef=4, n=160, k=5),
    _block(ef=8, n=192, k=3),
    Conv(1280, kernel_size=(1, 1), activation_fn=_relu),
)


def minimalistic(conv_defs):
  """Returns the 'minimalistic' copy of a v3 spec.

  Removes what hardware accelerators handle poorly: squeeze-excite, hard
  swish (-> ReLU) and 5x5 kernels (-> 3x3). `conv_defs` is not modified.
  """
  conv_defs = lib.replace_ops(conv_defs, lambda op: isinstance(
      op, ExpandedConv), squeeze_excite=False, kernel_size=(3, 3))
  return lib.replace_ops(conv_defs, lambda op: getattr(
      op, 'activation_fn', None) is hard_swish, activation_fn=_relu)


V3_LARGE_MINIMALISTIC = minimalistic(V3_LARGE)
V3_SMALL_MINIMALISTIC = minimalistic(V3_SMALL)


def mobilenet(images, num_classes=1001, depth_multiplier=1.0,
              scope='MobilenetV3', conv_defs=None,
              finegrain_classification_mode=False, use_groupnorm=False,
              groups=8, **kwargs):
  """MobileNet v3 / EdgeTPU classifier (or features).

  Args:
    images: float Tensor [batch, height, width, 3]; 224 x 224 for the
      published checkpoints.
    num_classes: number of classes; 0 or None returns the pooled features
      [batch, 1, 1, depth of the last layer].
    depth_multiplier: positive float scaling every layer's channel count.
    scope: variable scope.
    conv_defs: a spec (see `mobilenet.mobilenet_base`); None means
      `V3_LARGE`.
    finegrain_classification_mode: keep the last layer at its specified
      depth whatever the multiplier.
    use_groupnorm: normalize with `slim.group_norm` (variables
      '.../GroupNorm/beta' and 'gamma', no moving statistics) instead of
      batch norm: the spec's defaults become `DEFAULTS_GROUP_NORM`.
    groups: number of groups of the group norm; every normalized layer's
      depth must be a multiple of it.
    **kwargs: `is_training`, `min_depth`, `divisible_by`, `output_stride`,
      `use_explicit_padding`, `final_endpoint`, `base_only`,
      `dropout_keep_prob`, `prediction_fn`, `reuse` of `mobilenet.mobilenet`.

  Returns:
    (logits [batch, num_classes], end_points): end points 'layer_<i>',
    'layer_<i>/expansion_output', 'layer_<i>/depthwise_output',
    'layer_<i>/output', 'global_pool', 'Logits', 'Predictions'.

  Raises:
    ValueError: for a non-positive depth multiplier and the other invalid
      arguments listed in `mobilenet.mobilenet_base`.
  """
  conv_defs = V3_LARGE if conv_defs is None else conv_defs
  if use_groupnorm:
    conv_defs = dict(lib.replace_ops(conv_defs, lambda layer: False))
    conv_defs['defaults'] = dict(DEFAULTS_GROUP_NORM)
    conv_defs['defaults'][(slim.group_norm,)] = {'groups': groups}
    conv_defs.pop('overrides', None)
  return lib.mobilenet(images, conv_defs=conv_defs, num_classes=num_classes,
                       depth_multiplier=depth_multiplier, scope=scope,
                       finegrain_classification_mode=(
                           finegrain_classification_mode), **kwargs)


mobilenet.default_image_size = 224

large = lib.variant('large', mobilenet, conv_defs=V3_LARGE)
small = lib.variant('small', mobilenet, conv_defs=V3_SMALL)
large_minimalistic = lib.variant('large_minimalistic', mobilenet,
                                 conv_defs=V3_LARGE_MINIMALISTIC)
small_minimalistic = lib.variant('small_minimalistic', mobilenet,
                                 conv_defs=V3_SMALL_MINIMALISTIC)
edge_tpu = lib.variant('edge_tpu', mobilenet, conv_defs=V3_EDGETPU,
                       scope='MobilenetEdgeTPU')
edge_tpu_075 = lib.variant('edge_tpu_075', mobilenet, conv_defs=V3_EDGETPU,
                           scope='MobilenetEdgeTPU', depth_multiplier=0.75,
                           finegrain_classification_mode=True)

training_scope = lib.training_scope
