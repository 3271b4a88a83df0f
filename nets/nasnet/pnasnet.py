"""PNASNet-5 for ImageNet (mobile and large).

Liu, Zoph, Neumann, Shlens, Hua, Li, Fei-Fei, Yuille, Huang, Murphy,
"Progressive Neural Architecture Search", 2017
(https://arxiv.org/abs/1712.00559).

Unlike NASNet-A, PNASNet-5 has a single cell: the ImageNet stem's two cells
and the reductions are the same cell called with stride 2, so reduction
positions are ordinary `cell_i` scopes whose filters grow by
`filter_scaling_rate`. The cells, stems, aux head and classifier come from
nasnet_utils; variables live at the graph root as in the published
checkpoints.

Each published model is a frozen NasNetConfig; derive variants with
`config.replace(...)` and pass them as `config=`. The TF-Slim config
functions (`large_imagenet_config()` ...) return a fresh NasNetHParams over
that record, which takes research/slim's `config.set_hparam(name, value)`
overrides; builders accept either.
"""

from slim_zoo.nets.compat import tf
from slim_zoo.nets.nasnet import nasnet_utils
from slim_zoo.nets.nasnet.nasnet_utils import Architecture, NasNetConfig, Training
from slim_zoo.nets.nets_utils import EndPoints

MOBILE_IMAGENET_CONFIG = NasNetConfig(
    architecture=Architecture(
        num_cells=9, num_conv_filters=54, stem_multiplier=1.0,
        stem_type='imagenet', skip_reduction_layer_input=True),
    training=Training(drop_path_keep_prob=1.0, total_training_steps=250000,
                      dense_dropout_keep_prob=0.5))

LARGE_IMAGENET_CONFIG = NasNetConfig(
    architecture=Architecture(
        num_cells=12, num_conv_filters=216, stem_multiplier=3.0,
        stem_type='imagenet', skip_reduction_layer_input=True),
    training=Training(drop_path_keep_prob=0.6, total_training_steps=250000,
                      dense_dropout_keep_prob=0.5))


def mobile_imagenet_config():
  """The PNASNet-5 mobile config, as TF-Slim's mobile_imagenet_config().

  Returns:
    A new NasNetHParams over MOBILE_IMAGENET_CONFIG: `set_hparam` on it changes only
    this copy.
  """
  return nasnet_utils.NasNetHParams(MOBILE_IMAGENET_CONFIG)


def large_imagenet_config():
  """The PNASNet-5 large config, as TF-Slim's large_imagenet_config().

  Returns:
    A new NasNetHParams over LARGE_IMAGENET_CONFIG: `set_hparam` on it changes only
    this copy.
  """
  return nasnet_utils.NasNetHParams(LARGE_IMAGENET_CONFIG)


def pnasnet_mobile_arg_scope(weight_decay=4e-5, batch_norm_decay=0.9997,
                             batch_norm_epsilon=1e-3):
  """Arg scope of PNASNet-5 mobile (see nasnet_utils.nasnet_arg_scope)."""
  return nasnet_utils.nasnet_arg_scope(weight_decay, batch_norm_decay,
                                       batch_norm_epsilon)


def pnasnet_large_arg_scope(weight_decay=4e-5, batch_norm_decay=0.9997,
                            batch_norm_epsilon=1e-3):
  """Arg scope of PNASNet-5 large (see nasnet_utils.nasnet_arg_scope)."""
  return nasnet_utils.nasnet_arg_scope(weight_decay, batch_norm_decay,
                                       batch_norm_epsilon)


def end_point_names(config, num_classes=1):
  """The end points a PNASNet of `config` records, in order (no AuxLogits).

  Args:
    config: NasNetConfig or NasNetHParams.
    num_classes: 0/None drops 'Logits' and 'Predictions'.

  Returns:
    List of names valid as `final_endpoint`.
  """
  names = ['Stem']
  names += [f'Cell_{i}' for i in range(config.architecture.num_cells)]
  names.append('global_pool')
  if num_classes:
    names += ['Logits', 'Predictions']
  return names


def build_pnasnet(images, num_classes, config, is_training=True,
                  final_endpoint=None, current_step=None, reuse=None):
  """Builds a PNASNet-5 of any config.

  Args:
    images: float Tensor [batch, height, width, 3] (always NHWC; transposed
      inside when the config says NCHW).
    num_classes: number of classes; 0 or None returns the global-pool
      features [batch, channels] and builds no classifier or aux head.
    config: NasNetConfig or NasNetHParams.
    is_training: batch-norm mode, dropout, drop path and the aux head.
    final_endpoint: stop after this end point (see end_point_names).
    current_step: step Tensor for the drop-path ramp; None uses (and if
      needed creates) the graph's global step. Only read when training with
      drop_path_keep_prob < 1.
    reuse: reuse the variables of an earlier build in this variable scope.

  Returns:
    (logits [batch, num_classes], end_points). With `final_endpoint`, the
    tensor of that end point instead of logits. End points are 'Stem',
    'Cell_i' (NHWC or NCHW per config), 'AuxLogits' (training with
    use_aux_head), 'global_pool', 'Logits', 'Predictions'.

  Raises:
    ValueError: for a bad config or final_endpoint.
  """
  config = nasnet_utils.check_config(config)
  arch, training = config.architecture, config.training
  nasnet_utils.check_final_endpoint(final_endpoint,
                                    end_point_names(config, num_classes))
  reductions = nasnet_utils.calc_reduction_layers(arch.num_cells,
                                                  arch.num_reduction_layers)
  cell = nasnet_utils.PNasNetNormalCell(
      num_conv_filters=arch.num_conv_filters,
      # Drop path is a training-only regularizer.
      drop_path_keep_prob=training.drop_path_keep_prob if is_training else 1.0,
      total_num_cells=arch.num_cells + nasnet_utils.num_stem_cells(arch),
      total_training_steps=training.total_training_steps,
      use_bounded_activation=arch.use_bounded_activation,
      is_training=is_training, data_format=arch.data_format)
  act = tf.nn.relu6 if arch.use_bounded_activation else tf.nn.relu
  end_points = EndPoints(final_endpoint)

  # Re-enter the caller's variable scope only to apply `reuse`; keep the
  # caller's name scope (clones collect their update ops by it).
  with tf.variable_scope(tf.get_variable_scope(), reuse=reuse,
                         auxiliary_name_scope=False):
    if arch.data_format == 'NCHW':
      images = tf.transpose(images, [0, 3, 1, 2])
    if arch.stem_type == 'imagenet':
      net, cell_outputs = nasnet_utils.imagenet_stem(
          images, arch, cell, is_training, current_step)
    else:
      net, cell_outputs = nasnet_utils.cifar_stem(images, arch, is_training)
    if end_points.add('Stem', net):
      return net, end_points

    aux_cells = nasnet_utils.aux_head_cells(reductions)
    filter_scaling = 1.0
    cell_position = nasnet_utils.num_stem_cells(arch)
    prev_layer = None
    for cell_num in range(arch.num_cells):
      is_reduction = cell_num in reductions
      if is_reduction:
        filter_scaling *= arch.filter_scaling_rate
      # Without skip_reduction_layer_input a reduction keeps the previous
      # cell's second input.
      if arch.skip_reduction_layer_input or not is_reduction:
        prev_layer = cell_outputs[-2]
      net = cell(
          net, scope=f'cell_{cell_num}', filter_scaling=filter_scaling,
          stride=2 if is_reduction else 1, prev_layer=prev_layer,
          cell_num=cell_position, current_step=current_step)
      if end_points.add(f'Cell_{cell_num}', net):
        return net, end_points
      cell_position += 1
      cell_outputs.append(net)
      if (arch.use_aux_head and cell_num in aux_cells and num_classes and
          is_training):
        nasnet_utils.build_aux_head(act(net), end_points, num_classes, arch,
                                    is_training, scope=f'aux_{cell_num}')

    logits = nasnet_utils.build_final_layer(net, end_points, num_classes,
                                            arch, training, is_training)
  return logits, end_points


def build_pnasnet_mobile(images, num_classes=1001, is_training=True,
                         final_endpoint=None, config=None, current_step=None,
                         reuse=None):
  """PNASNet-5 mobile for 224x224 ImageNet images (see build_pnasnet).

  Args:
    images: float Tensor [batch, 224, 224, 3].
    num_classes: classes (1001 for the published model); 0/None: features.
    is_training: training mode.
    final_endpoint: optional end point to stop at.
    config: NasNetConfig or NasNetHParams; default MOBILE_IMAGENET_CONFIG.
    current_step: optional drop-path step Tensor.
    reuse: reuse variables.

  Returns:
    (logits [batch, num_classes], end_points).
  """
  return build_pnasnet(images, num_classes, config or MOBILE_IMAGENET_CONFIG,
                       is_training=is_training, final_endpoint=final_endpoint,
                       current_step=current_step, reuse=reuse)


build_pnasnet_mobile.default_image_size = 224


def build_pnasnet_large(images, num_classes=1001, is_training=True,
                        final_endpoint=None, config=None, current_step=None,
                        reuse=None):
  """PNASNet-5 large for 331x331 ImageNet images (see build_pnasnet).

  Args:
    images: float Tensor [batch, 331, 331, 3].
    num_classes: classes (1001 for the published model); 0/None: features.
    is_training: training mode.
    final_endpoint: optional end point to stop at.
    config: NasNetConfig or NasNetHParams; default LARGE_IMAGENET_CONFIG.
    current_step: optional drop-path step Tensor.
    reuse: reuse variables.

  Returns:
    (logits [batch, num_classes], end_points).
  """
  return build_pnasnet(images, num_classes, config or LARGE_IMAGENET_CONFIG,
                       is_training=is_training, final_endpoint=final_endpoint,
                       current_step=current_step, reuse=reuse)


build_pnasnet_large.default_image_size = 331
