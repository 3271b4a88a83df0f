"""NASNet-A for CIFAR-10 and ImageNet (mobile and large).

Zoph, Vasudevan, Shlens, Le, "Learning Transferable Architectures for
Scalable Image Recognition", 2017 (https://arxiv.org/abs/1707.07012).

The stack is: stem, then `num_cells` NASNet-A normal cells with a NASNet-A
reduction cell (stride 2, filters x `filter_scaling_rate`) inserted before
evenly spaced positions, then ReLU, global average pooling, dropout and a
fully connected classifier. Variables live at the graph root (`cell_0/...`,
`reduction_cell_1/...`, `final_layer/FC/...`, `aux_11/...`), as in the
published checkpoints.

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

CIFAR_CONFIG = NasNetConfig(
    architecture=Architecture(
        num_cells=18, num_conv_filters=32, stem_multiplier=3.0,
        stem_type='cifar', skip_reduction_layer_input=False),
    # 600 epochs at batch size 32 on CIFAR-10's 50000 images.
    training=Training(drop_path_keep_prob=0.6, total_training_steps=937500,
                      dense_dropout_keep_prob=1.0))

MOBILE_IMAGENET_CONFIG = NasNetConfig(
    architecture=Architecture(
        num_cells=12, num_conv_filters=44, stem_multiplier=1.0,
        stem_type='imagenet', skip_reduction_layer_input=False),
    training=Training(drop_path_keep_prob=1.0, total_training_steps=250000,
                      dense_dropout_keep_prob=0.5))

LARGE_IMAGENET_CONFIG = NasNetConfig(
    architecture=Architecture(
        num_cells=18, num_conv_filters=168, stem_multiplier=3.0,
        stem_type='imagenet', skip_reduction_layer_input=True),
    training=Training(drop_path_keep_prob=0.7, total_training_steps=250000,
                      dense_dropout_keep_prob=0.5))


def cifar_config():
  """The NASNet-A 6@768 CIFAR-10 config, as TF-Slim's cifar_config().

  Returns:
    A new NasNetHParams over CIFAR_CONFIG: `set_hparam` on it changes only
    this copy.
  """
  return nasnet_utils.NasNetHParams(CIFAR_CONFIG)


def mobile_imagenet_config():
  """The NASNet-A 4@1056 (mobile) config, as TF-Slim's mobile_imagenet_config().

  Returns:
    A new NasNetHParams over MOBILE_IMAGENET_CONFIG: `set_hparam` on it changes only
    this copy.
  """
  return nasnet_utils.NasNetHParams(MOBILE_IMAGENET_CONFIG)


def large_imagenet_config():
  """The NASNet-A 6@4032 (large) config, as TF-Slim's large_imagenet_config().

  Returns:
    A new NasNetHParams over LARGE_IMAGENET_CONFIG: `set_hparam` on it changes only
    this copy.
  """
  return nasnet_utils.NasNetHParams(LARGE_IMAGENET_CONFIG)


def nasnet_cifar_arg_scope(weight_decay=5e-4, batch_norm_decay=0.9,
                           batch_norm_epsilon=1e-5):
  """Arg scope of NASNet-A CIFAR (see nasnet_utils.nasnet_arg_scope)."""
  return nasnet_utils.nasnet_arg_scope(weight_decay, batch_norm_decay,
                                       batch_norm_epsilon)


def nasnet_mobile_arg_scope(weight_decay=4e-5, batch_norm_decay=0.9997,
                            batch_norm_epsilon=1e-3):
  """Arg scope of NASNet-A mobile (see nasnet_utils.nasnet_arg_scope)."""
  return nasnet_utils.nasnet_arg_scope(weight_decay, batch_norm_decay,
                                       batch_norm_epsilon)


def nasnet_large_arg_scope(weight_decay=5e-5, batch_norm_decay=0.9997,
                           batch_norm_epsilon=1e-3):
  """Arg scope of NASNet-A large (see nasnet_utils.nasnet_arg_scope)."""
  return nasnet_utils.nasnet_arg_scope(weight_decay, batch_norm_decay,
                                       batch_norm_epsilon)


def end_point_names(config, num_classes=1):
  """The end points a NASNet of `config` records, in order (no AuxLogits).

  Args:
    config: NasNetConfig or NasNetHParams.
    num_classes: 0/None drops 'Logits' and 'Predictions'.

  Returns:
    List of names valid as `final_endpoint`.
  """
  arch = config.architecture
  reductions = nasnet_utils.calc_reduction_layers(arch.num_cells,
                                                  arch.num_reduction_layers)
  names = ['Stem']
  for cell_num in range(arch.num_cells):
    if cell_num in reductions:
      names.append(f'Reduction_Cell_{reductions.index(cell_num)}')
    names.append(f'Cell_{cell_num}')
  names.append('global_pool')
  if num_classes:
    names += ['Logits', 'Predictions']
  return names


def build_nasnet(images, num_classes, config, is_training=True,
                 final_endpoint=None, current_step=None, reuse=None):
  """Builds a NASNet-A of any config.

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
    'Cell_i' and 'Reduction_Cell_j' (NHWC or NCHW per config), 'AuxLogits'
    (training with use_aux_head), 'global_pool', 'Logits', 'Predictions'.

  Raises:
    ValueError: for a bad config or final_endpoint.
  """
  config = nasnet_utils.check_config(config)
  arch, training = config.architecture, config.training
  nasnet_utils.check_final_endpoint(final_endpoint,
                                    end_point_names(config, num_classes))
  reductions = nasnet_utils.calc_reduction_layers(arch.num_cells,
                                                  arch.num_reduction_layers)
  cell_args = dict(
      num_conv_filters=arch.num_conv_filters,
      # Drop path is a training-only regularizer.
      drop_path_keep_prob=training.drop_path_keep_prob if is_training else 1.0,
      total_num_cells=(arch.num_cells + len(reductions) +
                       nasnet_utils.num_stem_cells(arch)),
      total_training_steps=training.total_training_steps,
      use_bounded_activation=arch.use_bounded_activation,
      is_training=is_training, data_format=arch.data_format)
  normal_cell = nasnet_utils.NasNetANormalCell(**cell_args)
  reduction_cell = nasnet_utils.NasNetAReductionCell(**cell_args)
  act = tf.nn.relu6 if arch.use_bounded_activation else tf.nn.relu
  end_points = EndPoints(final_endpoint)

  # Re-enter the caller's variable scope only to apply `reuse`; keep the
  # caller's name scope (clones collect their update ops by it).
  with tf.variable_scope(tf.get_variable_scope(), reuse=reuse,
                         auxiliary_name_scope=False):
    if arch.data_format == 'NCHW':
      images = tf.transpose(images, [0, 3, 1, 2])
    if arch.stem_type == 'imagenet':
      # The ImageNet stem cells are reduction cells.
      net, cell_outputs = nasnet_utils.imagenet_stem(
          images, arch, reduction_cell, is_training, current_step)
    else:
      net, cell_outputs = nasnet_utils.cifar_stem(images, arch, is_training)
    if end_points.add('Stem', net):
      return net, end_points

    aux_cells = nasnet_utils.aux_head_cells(reductions)
    filter_scaling = 1.0
    cell_position = nasnet_utils.num_stem_cells(arch)
    prev_layer = None
    for cell_num in range(arch.num_cells):
      if arch.skip_reduction_layer_input:
        # The cell after a reduction sees the state before the reduction.
        prev_layer = cell_outputs[-2]
      if cell_num in reductions:
        index = reductions.index(cell_num)
        filter_scaling *= arch.filter_scaling_rate
        net = reduction_cell(
            net, scope=f'reduction_cell_{index}',
            filter_scaling=filter_scaling, stride=2,
            prev_layer=cell_outputs[-2], cell_num=cell_position,
            current_step=current_step)
        if end_points.add(f'Reduction_Cell_{index}', net):
          return net, end_points
        cell_position += 1
        cell_outputs.append(net)
      if not arch.skip_reduction_layer_input:
        prev_layer = cell_outputs[-2]
      net = normal_cell(
          net, scope=f'cell_{cell_num}', filter_scaling=filter_scaling,
          stride=1, prev_layer=prev_layer, cell_num=cell_position,
          current_step=current_step)
      if end_points.add(f'Cell_{cell_num}', net):
        return net, end_points
      cell_position += 1
      if (arch.use_aux_head and cell_num in aux_cells and num_classes and
          is_training):
        nasnet_utils.build_aux_head(act(net), end_points, num_classes, arch,
                                    is_training, scope=f'aux_{cell_num}')
      cell_outputs.append(net)

    logits = nasnet_utils.build_final_layer(net, end_points, num_classes,
                                            arch, training, is_training)
  return logits, end_points


def build_nasnet_cifar(images, num_classes=10, is_training=True, config=None,
                       current_step=None, final_endpoint=None, reuse=None):
  """NASNet-A 6@768 for 32x32 CIFAR images (see build_nasnet).

  Args:
    images: float Tensor [batch, 32, 32, 3].
    num_classes: classes (10 for the published model); 0/None: features.
    is_training: training mode.
    config: NasNetConfig or NasNetHParams; default CIFAR_CONFIG.
    current_step: optional drop-path step Tensor.
    final_endpoint: optional end point to stop at.
    reuse: reuse variables.

  Returns:
    (logits [batch, num_classes], end_points).
  """
  return build_nasnet(images, num_classes, config or CIFAR_CONFIG,
                      is_training=is_training, final_endpoint=final_endpoint,
                      current_step=current_step, reuse=reuse)


build_nasnet_cifar.default_image_size = 32


def build_nasnet_mobile(images, num_classes=1001, is_training=True,
                        final_endpoint=None, config=None, current_step=None,
                        reuse=None):
  """NASNet-A 4@1056 (mobile) for 224x224 ImageNet images (see build_nasnet).

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
  return build_nasnet(images, num_classes, config or MOBILE_IMAGENET_CONFIG,
                      is_training=is_training, final_endpoint=final_endpoint,
                      current_step=current_step, reuse=reuse)


build_nasnet_mobile.default_image_size = 224


def build_nasnet_large(images, num_classes=1001, is_training=True,
                       final_endpoint=None, config=None, current_step=None,
                       reuse=None):
  """NASNet-A 6@4032 (large) for 331x331 ImageNet images (see build_nasnet).

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
  return build_nasnet(images, num_classes, config or LARGE_IMAGENET_CONFIG,
                      is_training=is_training, final_endpoint=final_endpoint,
                      current_step=current_step, reuse=reuse)


build_nasnet_large.default_image_size = 331
