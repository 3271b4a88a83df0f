"""The cell library shared by NASNet-A and PNASNet-5.

Zoph et al., "Learning Transferable Architectures for Scalable Image
Recognition", 2017 (NASNet-A), and Liu et al., "Progressive Neural
Architecture Search", 2017 (PNASNet-5). Both networks stack searched cells; a
cell combines two hidden states (the outputs of the two previous cells) with
five pairs of operations and concatenates the states nobody consumed.

This module holds everything the two families share: the frozen config
records, the cell specifications as data, the base cell, drop path and its
schedule, factorized reduction, global average pooling, the ImageNet and CIFAR
stems, the auxiliary head and the final classifier. Scope names (`cell_stem_0`,
`comb_iter_3/left`, `bn_sep_5x5_2`, `path1_conv` ...) are the published
checkpoints' names; do not rename them.

Nothing here reads an ambient arg scope for anything that changes the graph:
`is_training` and `data_format` travel explicitly, conv layers are built
without biases or activations and batch norm with a learned scale. The
arg-scope functions of nasnet.py / pnasnet.py only add training knobs
(weight decay, initializer, batch-norm decay and epsilon).
"""

import dataclasses
import difflib
import numbers
import re

from slim_zoo.nets.compat import slim, tf
from slim_zoo.errors import UsageError

DATA_FORMATS = ('NHWC', 'NCHW')
# TF-Slim's "no data_format given" default of get_channel_index,
# get_channel_dim and factorized_reduction, which read it from an arg_scope.
INVALID = 'null'
STEM_TYPES = ('imagenet', 'cifar')
# Bounded activations clip cell outputs to [-6, 6] (quantization friendly).
CLIP_BY_VALUE_CAP = 6.0
# The ImageNet stem is a strided conv followed by this many stem cells.
NUM_IMAGENET_STEM_CELLS = 2


# ---------------------------------------------------------------------------
# Config records.
# ---------------------------------------------------------------------------


def _check(condition, message):
  if not condition:
    raise UsageError(message)


@dataclasses.dataclass(frozen=True)
class Architecture:
  """Fields that shape the graph (and so the checkpoint's variables).

  Attributes:
    num_cells: normal cells after the stem (reduction cells not counted).
    num_conv_filters: filters of one cell branch at the first stage; a cell
      outputs this times the number of concatenated states.
    stem_multiplier: scales the 32 (ImageNet) or `num_conv_filters` (CIFAR)
      filters of the first convolution.
    stem_type: 'imagenet' (strided conv + two stem cells, /4 ... /8) or
      'cifar' (one 3x3 conv, full resolution).
    filter_scaling_rate: filter growth at every reduction.
    num_reduction_layers: number of stride-2 stages inside the cell stack.
    skip_reduction_layer_input: whether the cell after a reduction takes the
      state from before the reduction cell as its second input.
    use_aux_head: build the auxiliary classifier (training mode only).
    data_format: 'NHWC' or 'NCHW'; variables are identical in both, and
      TensorFlow 2.21 runs NCHW on CPUs as well as GPUs (tested).
    use_bounded_activation: ReLU6 and clipped cell outputs instead of ReLU.
  """
  num_cells: int
  num_conv_filters: int
  stem_multiplier: float
  stem_type: str = 'imagenet'
  filter_scaling_rate: float = 2.0
  num_reduction_layers: int = 2
  skip_reduction_layer_input: bool = False
  use_aux_head: bool = True
  data_format: str = 'NHWC'
  use_bounded_activation: bool = False

  def __post_init__(self):
    _check(isinstance(self.num_cells, int) and self.num_cells >= 1,
           f'num_cells must be an integer >= 1, got {self.num_cells!r}.')
    _check(isinstance(self.num_reduction_layers, int)
           and 0 <= self.num_reduction_layers <= self.num_cells,
           f'num_reduction_layers must be an integer in [0, num_cells='
           f'{self.num_cells}] so every reduction gets its own position, got '
           f'{self.num_reduction_layers!r}; lower it or raise num_cells.')
    _check(isinstance(self.num_conv_filters, int)
           and self.num_conv_filters >= 1,
           f'num_conv_filters must be an integer >= 1, got '
           f'{self.num_conv_filters!r}.')
    _check(self.stem_multiplier > 0,
           f'stem_multiplier must be > 0, got {self.stem_multiplier!r}.')
    _check(self.filter_scaling_rate > 0,
           f'filter_scaling_rate must be > 0, got '
           f'{self.filter_scaling_rate!r}.')
    _check(self.stem_type in STEM_TYPES,
           f'stem_type must be one of {STEM_TYPES}, got {self.stem_type!r}.')
    _check(self.data_format in DATA_FORMATS,
           f'data_format must be one of {DATA_FORMATS}, got '
           f'{self.data_format!r}.')


@dataclasses.dataclass(frozen=True)
class Training:
  """Fields that only act in training mode (the regularization schedule).

  Attributes:
    drop_path_keep_prob: keep probability of drop path at the last cell and
      the end of training; 1.0 disables drop path.
    total_training_steps: steps over which drop path ramps up linearly from
      nothing (step 0) to `drop_path_keep_prob` (this step and later).
    dense_dropout_keep_prob: dropout keep probability before the classifier.
  """
  drop_path_keep_prob: float = 1.0
  total_training_steps: int = 250000
  dense_dropout_keep_prob: float = 0.5

  def __post_init__(self):
    _check(0.0 < self.drop_path_keep_prob <= 1.0,
           f'drop_path_keep_prob must be in (0, 1], got '
           f'{self.drop_path_keep_prob!r}; use 1.0 to disable drop path.')
    _check(isinstance(self.total_training_steps, int)
           and self.total_training_steps >= 1,
           f'total_training_steps must be an integer >= 1, got '
           f'{self.total_training_steps!r}.')
    _check(0.0 < self.dense_dropout_keep_prob <= 1.0,
           f'dense_dropout_keep_prob must be in (0, 1], got '
           f'{self.dense_dropout_keep_prob!r}.')


_ARCH_FIELDS = tuple(f.name for f in dataclasses.fields(Architecture))
_TRAINING_FIELDS = tuple(f.name for f in dataclasses.fields(Training))


@dataclasses.dataclass(frozen=True)
class NasNetConfig:
  """A network configuration: architecture plus training schedule.

  Derive variants with `replace`, which copies; a config is never mutated:

      tiny = nasnet.CIFAR_CONFIG.replace(num_cells=3, num_conv_filters=8)
  """
  architecture: Architecture
  training: Training

  def replace(self, **changes):
    """Returns a copy with fields of either record replaced.

    Args:
      **changes: field names of `Architecture` or `Training` (or the records
        `architecture` / `training` themselves) and their new values.

    Returns:
      A new NasNetConfig.

    Raises:
      ValueError: for an unknown field name or an invalid value.
    """
    valid = _ARCH_FIELDS + _TRAINING_FIELDS + ('architecture', 'training')
    unknown = sorted(set(changes) - set(valid))
    _check(not unknown,
           f'Unknown config field(s) {unknown}; valid fields are: '
           f'{", ".join(valid)}.')
    architecture = changes.pop('architecture', self.architecture)
    training = changes.pop('training', self.training)
    arch_changes = {k: v for k, v in changes.items() if k in _ARCH_FIELDS}
    training_changes = {k: v for k, v in changes.items()
                        if k in _TRAINING_FIELDS}
    return NasNetConfig(
        architecture=dataclasses.replace(architecture, **arch_changes),
        training=dataclasses.replace(training, **training_changes))


_FIELD_TYPES = {f.name: f.type for f in (dataclasses.fields(Architecture) +
                                          dataclasses.fields(Training))}


def _cast_hparam(name, value):
  """`value` as the type of field `name`, with HParams' casting rules."""
  field_type = _FIELD_TYPES[name]
  if field_type is bool:
    # TF-Slim's HParams stored use_aux_head as the int 1, so its users set
    # 0/1; bools are accepted too.
    if isinstance(value, bool) or (isinstance(value, numbers.Integral)
                                   and value in (0, 1)):
      return bool(value)
    kind = 'a bool (or 0/1)'
  elif field_type is int:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
      return int(value)
    kind = 'an int'
  elif field_type is float:
    # Ints widen to float, as in HParams; bools are not numbers here.
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
      return float(value)
    kind = 'a number'
  else:
    if isinstance(value, str):
      return value
    kind = 'a str'
  raise UsageError(f'Hyperparameter {name!r} takes {kind}, got {value!r} '
                   f'({type(value).__name__}).')


class NasNetHParams:
  """A mutable, HParams-compatible view over a frozen NasNetConfig.

  research/slim's config functions returned tf.contrib.training.HParams, and
  users override fields in place before building::

      config = nasnet.cifar_config()
      config.set_hparam('use_aux_head', 0)
      nasnet.build_nasnet_cifar(images, 10, config=config)

  Each `set_hparam` validates the name, the type and the value, then swaps
  in a new frozen NasNetConfig (`config`), so the published records are
  never mutated and builders only ever read a frozen snapshot. Fields read
  as attributes (`config.num_cells`); `architecture`, `training` and
  `replace` behave as on NasNetConfig.
  """

  def __init__(self, config):
    check_config(config)
    object.__setattr__(self, '_config', config)

  @property
  def config(self):
    """The current frozen NasNetConfig."""
    return self._config

  @property
  def architecture(self):
    return self._config.architecture

  @property
  def training(self):
    return self._config.training

  def __getattr__(self, name):
    # Private names (and copy/pickle probes) must not reach _config, which
    # may not exist yet on a half-built copy.
    if name.startswith('_'):
      raise AttributeError(name)
    if name in _ARCH_FIELDS:
      return getattr(self._config.architecture, name)
    if name in _TRAINING_FIELDS:
      return getattr(self._config.training, name)
    raise AttributeError(_unknown_hparam_message(name))

  def __setattr__(self, name, value):
    # HParams allows `config.x = v`; route it through the validation.
    self.set_hparam(name, value)

  def set_hparam(self, name, value):
    """Sets one hyperparameter, as HParams.set_hparam.

    Args:
      name: a field of Architecture or Training.
      value: its new value; ints widen to floats and 0/1 to bools.

    Raises:
      ValueError: for an unknown name, a value of the wrong type or an
        invalid value; the config is then left unchanged.
    """
    _check(name in _FIELD_TYPES, _unknown_hparam_message(name))
    new = self._config.replace(**{name: _cast_hparam(name, value)})
    object.__setattr__(self, '_config', new)

  def override_from_dict(self, values_dict):
    """Sets several hyperparameters (all or none); returns self."""
    unknown = sorted(set(values_dict) - set(_FIELD_TYPES))
    _check(not unknown, _unknown_hparam_message(', '.join(unknown)))
    new = self._config.replace(
        **{k: _cast_hparam(k, v) for k, v in values_dict.items()})
    object.__setattr__(self, '_config', new)
    return self

  def get(self, key, default=None):
    """The value of `key`, or `default` if there is no such field."""
    if key in _FIELD_TYPES:
      return getattr(self, key)
    return default

  def values(self):
    """All fields as a dict {name: value}, as HParams.values()."""
    return {**dataclasses.asdict(self._config.architecture),
            **dataclasses.asdict(self._config.training)}

  def replace(self, **changes):
    """A new NasNetHParams with fields replaced (see NasNetConfig.replace)."""
    return NasNetHParams(self._config.replace(**changes))

  def __contains__(self, key):
    return key in _FIELD_TYPES

  def __eq__(self, other):
    if isinstance(other, NasNetHParams):
      return self._config == other.config
    return NotImplemented

  __hash__ = None

  def __repr__(self):
    return f'NasNetHParams({self._config!r})'


def _unknown_hparam_message(name):
  valid = sorted(_FIELD_TYPES)
  close = difflib.get_close_matches(name, valid, n=3)
  hint = f' Did you mean {" or ".join(close)}?' if close else ''
  return (f'Unknown NASNet hyperparameter {name!r}.{hint} Valid names are: '
          f'{", ".join(valid)}.')


def check_config(config):
  """The frozen NasNetConfig of `config` (a NasNetConfig or NasNetHParams).

  Raises:
    ValueError: for anything else.
  """
  if isinstance(config, NasNetHParams):
    return config.config
  _check(isinstance(config, NasNetConfig),
         f'config must be a NasNetConfig or NasNetHParams (e.g. '
         f'nasnet.mobile_imagenet_config() or nasnet.MOBILE_IMAGENET_CONFIG'
         f'.replace(...)), got {type(config).__name__}.')
  return config


# ---------------------------------------------------------------------------
# Cell specifications (the searched architectures, as data).
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CellSpec:
  """One searched cell.

  Attributes:
    operations: 10 operation names, a (left, right) pair per combination.
      'separable_KxK_N' is N stacked ReLU-separable-conv-BN layers,
      'avg_pool_KxK' / 'max_pool_KxK' pooling, 'none' the identity.
    hiddenstate_indices: 10 indices into the list of hidden states (0: this
      cell's 1x1-projected input, 1: the previous cell's, 2+: earlier
      combinations), one per operation.
    used_hiddenstates: 7 flags; states not consumed by any combination are
      concatenated into the cell output.
  """
  operations: tuple
  hiddenstate_indices: tuple
  used_hiddenstates: tuple


NASNET_A_NORMAL = CellSpec(
    operations=('separable_5x5_2', 'separable_3x3_2',
                'separable_5x5_2', 'separable_3x3_2',
                'avg_pool_3x3', 'none',
                'avg_pool_3x3', 'avg_pool_3x3',
                'separable_3x3_2', 'none'),
    hiddenstate_indices=(0, 1, 1, 1, 0, 1, 1, 1, 0, 0),
    used_hiddenstates=(1, 0, 0, 0, 0, 0, 0))

NASNET_A_REDUCTION = CellSpec(
    operations=('separable_5x5_2', 'separable_7x7_2',
                'max_pool_3x3', 'separable_7x7_2',
                'avg_pool_3x3', 'separable_5x5_2',
                'none', 'avg_pool_3x3',
                'separable_3x3_2', 'max_pool_3x3'),
    hiddenstate_indices=(0, 1, 0, 1, 0, 1, 3, 2, 2, 0),
    used_hiddenstates=(1, 1, 1, 0, 0, 0, 0))

PNASNET_5_NORMAL = CellSpec(
    operations=('separable_5x5_2', 'max_pool_3x3',
                'separable_7x7_2', 'max_pool_3x3',
                'separable_5x5_2', 'separable_3x3_2',
                'separable_3x3_2', 'max_pool_3x3',
                'separable_3x3_2', 'none'),
    hiddenstate_indices=(1, 1, 0, 0, 0, 0, 4, 0, 1, 0),
    used_hiddenstates=(1, 1, 0, 0, 0, 0, 0))


# ---------------------------------------------------------------------------
# Small layer helpers (explicit is_training / data_format, no biases).
# ---------------------------------------------------------------------------


def calc_reduction_layers(num_cells, num_reduction_layers):
  """Cell indices before which a reduction happens, evenly spaced.

  Args:
    num_cells: number of normal cells.
    num_reduction_layers: number of reductions.

  Returns:
    List of `num_reduction_layers` increasing ints, e.g. (18, 2) -> [6, 12].
  """
  return [int(float(i) / (num_reduction_layers + 1) * num_cells)
          for i in range(1, num_reduction_layers + 1)]


def channel_axis(data_format):
  """Index of the channel dimension of a 4-D tensor in `data_format`."""
  return 3 if data_format == 'NHWC' else 1


def _check_data_format(data_format, function):
  _check(data_format != INVALID,
         f'{function} needs a data_format: pass data_format=\'NHWC\' or '
         f'\'NCHW\', or set it with slim.arg_scope([nasnet_utils.{function}]'
         f', data_format=...).')
  _check(data_format in DATA_FORMATS,
         f'data_format must be one of {DATA_FORMATS}, got {data_format!r}.')


@slim.add_arg_scope
def get_channel_index(data_format=INVALID):
  """Index of the channel dimension in `data_format` (TF-Slim's name).

  Args:
    data_format: 'NHWC' or 'NCHW'; as in TF-Slim it may come from an
      arg_scope, and without one it must be given.

  Returns:
    3 for NHWC, 1 for NCHW.

  Raises:
    ValueError: if data_format is missing or invalid.
  """
  _check_data_format(data_format, 'get_channel_index')
  return channel_axis(data_format)


@slim.add_arg_scope
def get_channel_dim(shape, data_format=INVALID):
  """The channel count of a 4-D `shape` in `data_format` (TF-Slim's name).

  Args:
    shape: a 4-D TensorShape or list.
    data_format: 'NHWC' or 'NCHW'; as in TF-Slim it may come from an
      arg_scope, and without one it must be given.

  Returns:
    The channel count as an int.

  Raises:
    ValueError: if data_format is missing or invalid, or `shape` is not 4-D
      with a known channel count.
  """
  _check_data_format(data_format, 'get_channel_dim')
  dims = list(tf.TensorShape(shape).as_list()) if shape is not None else []
  _check(len(dims) == 4, f'get_channel_dim takes a 4-D shape, got {shape}.')
  channels = dims[channel_axis(data_format)]
  _check(channels is not None,
         f'get_channel_dim needs a known channel count, got {shape}.')
  return int(channels)


def _channels(net, data_format):
  return int(net.shape[channel_axis(data_format)])


def _width(net, data_format):
  # Static width; None for an unknown spatial size.
  return net.shape.as_list()[2 if data_format == 'NHWC' else 3]


def _activation(use_bounded_activation):
  return tf.nn.relu6 if use_bounded_activation else tf.nn.relu


def _conv(net, filters, kernel_size, scope, data_format, stride=1,
          padding='SAME'):
  return slim.conv2d(net, filters, kernel_size, stride=stride, padding=padding,
                     activation_fn=None, normalizer_fn=None,
                     biases_initializer=None, data_format=data_format,
                     scope=scope)


def _bn(net, scope, is_training, data_format):
  if is_training is None:
    # Only TF-Slim-style callers of factorized_reduction get here: batch
    # norm then follows their arg_scope (or slim's default, training).
    return slim.batch_norm(net, scale=True, data_format=data_format,
                           scope=scope)
  return slim.batch_norm(net, scale=True, is_training=is_training,
                         data_format=data_format, scope=scope)


def global_avg_pool(net, data_format='NHWC'):
  """Mean over the spatial dimensions.

  Args:
    net: Tensor [batch, height, width, channels] (NHWC) or
      [batch, channels, height, width] (NCHW).
    data_format: 'NHWC' or 'NCHW'.

  Returns:
    Tensor [batch, channels].
  """
  axes = [1, 2] if data_format == 'NHWC' else [2, 3]
  return tf.reduce_mean(net, axes)


@slim.add_arg_scope
def factorized_reduction(net, output_filters, stride, data_format=INVALID,
                         is_training=None):
  """Brings `net` to `output_filters` channels and 1/stride resolution.

  Stride 1 is a 1x1 conv + BN. Stride 2 concatenates two half-width 1x1
  convs over the input sampled at even and at odd pixels, so no pixel is
  dropped the way a single strided 1x1 conv would drop three of four.

  Args:
    net: 4-D Tensor in `data_format`.
    output_filters: output channels.
    stride: 1 or 2.
    data_format: 'NHWC' or 'NCHW'; as in TF-Slim it may come from an
      arg_scope, and without one it must be given.
    is_training: batch-norm mode; None (TF-Slim's signature, which has no
      such argument) leaves it to the caller's batch_norm arg_scope. Our
      cells always pass it.

  Returns:
    4-D Tensor with `output_filters` channels, spatial size ceil(size/stride).

  Raises:
    ValueError: if data_format is missing or invalid.
  """
  _check_data_format(data_format, 'factorized_reduction')
  if stride == 1:
    net = _conv(net, output_filters, 1, 'path_conv', data_format)
    return _bn(net, 'path_bn', is_training, data_format)
  path1 = tf.nn.avg_pool2d(net, 1, stride, 'VALID', data_format=data_format)
  path1 = _conv(path1, output_filters // 2, 1, 'path1_conv', data_format)
  # Shift by one pixel (pad bottom/right, drop top/left) to sample the odd
  # positions.
  if data_format == 'NHWC':
    path2 = tf.pad(net, [[0, 0], [0, 1], [0, 1], [0, 0]])[:, 1:, 1:, :]
  else:
    path2 = tf.pad(net, [[0, 0], [0, 0], [0, 1], [0, 1]])[:, :, 1:, 1:]
  path2 = tf.nn.avg_pool2d(path2, 1, stride, 'VALID', data_format=data_format)
  # An odd filter count gives the extra filter to the second path.
  path2 = _conv(path2, output_filters // 2 + output_filters % 2, 1,
                'path2_conv', data_format)
  net = tf.concat([path1, path2], axis=channel_axis(data_format))
  return _bn(net, 'final_path_bn', is_training, data_format)


# ---------------------------------------------------------------------------
# Drop path.
# ---------------------------------------------------------------------------


def global_step_tensor():
  """The graph's global step, created at the graph's root if missing.

  TF-Slim created it inside the first cell's variable scope (a stray
  `cell_stem_0/comb_iter_0/left/global_step`); creating it at the root keeps
  it the one step every optimizer and hook finds.
  """
  step = tf.train.get_global_step()
  if step is not None:
    return step
  root = tf.VariableScope(reuse=False, name='')
  with tf.variable_scope(root, auxiliary_name_scope=False):
    return tf.train.create_global_step()


def drop_path_keep_prob(base_keep_prob, cell_num, total_num_cells,
                        current_step, total_training_steps):
  """The scheduled drop-path keep probability of one cell at one step.

  Deeper cells drop more: the drop rate (1 - base_keep_prob) is scaled by
  (cell_num + 1) / total_num_cells. It then ramps up linearly with training
  progress min(1, current_step / total_training_steps).

  Args:
    base_keep_prob: float in (0, 1], the keep probability of the last cell
      at the end of the ramp.
    cell_num: 0-based position of the cell, stem and reduction cells counted.
    total_num_cells: number of positions.
    current_step: scalar Tensor or number, the training step.
    total_training_steps: length of the ramp in steps.

  Returns:
    float32 scalar Tensor in [base_keep_prob, 1].
  """
  layer_ratio = (cell_num + 1) / float(total_num_cells)
  keep_prob = 1.0 - layer_ratio * (1.0 - base_keep_prob)
  step = tf.cast(current_step, tf.float32)
  progress = tf.minimum(1.0, step / float(total_training_steps))
  return 1.0 - progress * (1.0 - keep_prob)


def drop_path(net, keep_prob, is_training):
  """Zeroes whole examples of a branch with probability 1 - keep_prob.

  Kept examples are scaled by 1 / keep_prob so the expectation is unchanged.
  Outside training this is the identity and adds no ops.

  Args:
    net: 4-D Tensor [batch, ...].
    keep_prob: scalar (float or Tensor) in (0, 1].
    is_training: whether to drop.

  Returns:
    Tensor shaped like `net`.
  """
  if not is_training:
    return net
  with tf.name_scope('drop_path'):
    noise_shape = tf.stack([tf.shape(net)[0], 1, 1, 1])
    keep_prob = tf.cast(keep_prob, net.dtype)
    mask = tf.floor(keep_prob + tf.random.uniform(noise_shape, dtype=net.dtype))
    return net * (mask / keep_prob)


# ---------------------------------------------------------------------------
# Cells.
# ---------------------------------------------------------------------------


def _kernel_size(operation):
  # 'separable_5x5_2' -> 5, 'avg_pool_3x3' -> 3.
  match = re.search(r'_(\d+)x(\d+)', operation)
  if match is None:
    raise UsageError(f'Operation {operation!r} names no KxK kernel.')
  height, width = match.groups()
  if height != width:
    raise UsageError(f'Operation {operation!r} has a non-square kernel; only '
                     f'KxK kernels are supported.')
  return int(height)


def _num_layers(operation):
  # 'separable_5x5_2' -> 2 stacked layers; 'separable_3x3' -> 1.
  match = re.search(r'_\d+x\d+_(\d+)$', operation)
  return int(match.group(1)) if match else 1


class NasNetABaseCell:
  """A cell: two inputs, five combinations, concatenated unused states.

  Calling the cell builds it under `scope`; a cell object holds no variables
  and is called once per position.
  """

  def __init__(self, num_conv_filters, operations, used_hiddenstates,
               hiddenstate_indices, drop_path_keep_prob, total_num_cells,
               total_training_steps, use_bounded_activation=False, *,
               is_training=False, data_format='NHWC'):
    """Creates the cell.

    Args:
      num_conv_filters: filters per branch before `filter_scaling`.
      operations: 10 operation names (see CellSpec).
      used_hiddenstates: 7 flags (see CellSpec).
      hiddenstate_indices: 10 state indices (see CellSpec).
      drop_path_keep_prob: base drop-path keep probability; drop path only
        runs when `is_training` and this is below 1.
      total_num_cells: positions in the whole network (drop-path schedule).
      total_training_steps: length of the drop-path ramp.
      use_bounded_activation: ReLU6 and clipping instead of ReLU.
      is_training: batch-norm mode and drop path.
      data_format: 'NHWC' or 'NCHW'.
    """
    if len(operations) != 10 or len(hiddenstate_indices) != 10:
      raise UsageError(f'A cell needs 10 operations and 10 hidden-state '
                       f'indices (5 left/right pairs), got '
                       f'{len(operations)} and {len(hiddenstate_indices)}.')
    self._num_conv_filters = num_conv_filters
    self._operations = tuple(operations)
    self._used_hiddenstates = tuple(used_hiddenstates)
    self._hiddenstate_indices = tuple(hiddenstate_indices)
    self._drop_path_keep_prob = drop_path_keep_prob
    self._total_num_cells = total_num_cells
    self._total_training_steps = total_training_steps
    self._use_bounded_activation = use_bounded_activation
    self._is_training = is_training
    self._data_format = data_format
    self._act = _activation(use_bounded_activation)

  def __call__(self, net, scope=None, filter_scaling=1, stride=1,
               prev_layer=None, cell_num=-1, current_step=None):
    """Builds the cell.

    Args:
      net: the previous cell's output, 4-D Tensor.
      scope: variable scope of this cell ('cell_3', 'reduction_cell_0' ...).
      filter_scaling: multiplies `num_conv_filters`.
      stride: 2 in reduction positions, else 1.
      prev_layer: the output of the cell before the previous one (None:
        reuse `net`).
      cell_num: position for the drop-path schedule.
      current_step: step Tensor for the drop-path ramp; None uses the global
        step.

    Returns:
      4-D Tensor, filter_size * (number of unused states) channels.
    """
    self._cell_num = cell_num
    self._filter_size = int(self._num_conv_filters * filter_scaling)
    with tf.variable_scope(scope):
      states = self._cell_base(net, prev_layer)
      for iteration in range(5):
        with tf.variable_scope(f'comb_iter_{iteration}'):
          left_idx, right_idx = self._hiddenstate_indices[2 * iteration:
                                                          2 * iteration + 2]
          left_op, right_op = self._operations[2 * iteration:
                                               2 * iteration + 2]
          with tf.variable_scope('left'):
            h1 = self._apply_conv_operation(states[left_idx], left_op, stride,
                                            left_idx < 2, current_step)
          with tf.variable_scope('right'):
            h2 = self._apply_conv_operation(states[right_idx], right_op,
                                            stride, right_idx < 2,
                                            current_step)
          with tf.variable_scope('combine'):
            h = h1 + h2
            if self._use_bounded_activation:
              h = tf.nn.relu6(h)
          states.append(h)
      with tf.variable_scope('cell_output'):
        return self._combine_unused_states(states)

  def _reduce_prev_layer(self, prev_layer, curr_layer):
    """Matches prev_layer's resolution and channels to the cell's."""
    if prev_layer is None:
      return curr_layer
    fmt = self._data_format
    if _width(curr_layer, fmt) != _width(prev_layer, fmt):
      prev_layer = self._act(prev_layer)
      return factorized_reduction(prev_layer, self._filter_size, 2,
                                  data_format=fmt,
                                  is_training=self._is_training)
    if _channels(prev_layer, fmt) != self._filter_size:
      prev_layer = self._act(prev_layer)
      prev_layer = _conv(prev_layer, self._filter_size, 1, 'prev_1x1', fmt)
      return _bn(prev_layer, 'prev_bn', self._is_training, fmt)
    return prev_layer

  def _cell_base(self, net, prev_layer):
    """The two input states: 1x1-projected `net` and the matched prev."""
    prev_layer = self._reduce_prev_layer(prev_layer, net)
    net = self._act(net)
    net = _conv(net, self._filter_size, 1, '1x1', self._data_format)
    net = _bn(net, 'beginning_bn', self._is_training, self._data_format)
    return [net, prev_layer]

  def _apply_conv_operation(self, net, operation, stride,
                            is_from_original_input, current_step):
    """One branch of a combination, followed by drop path."""
    # Only the cell's inputs are strided; later states are already reduced.
    if stride > 1 and not is_from_original_input:
      stride = 1
    fmt = self._data_format
    input_filters = _channels(net, fmt)
    filter_size = self._filter_size
    bounded = self._use_bounded_activation
    if operation.startswith('separable'):
      net = self._stacked_separable_conv(net, stride, operation)
      if bounded:
        net = tf.clip_by_value(net, -CLIP_BY_VALUE_CAP, CLIP_BY_VALUE_CAP)
    elif operation == 'none':
      if bounded:
        net = tf.nn.relu6(net)
      if stride > 1 or input_filters != filter_size:
        if not bounded:
          net = tf.nn.relu(net)
        net = _conv(net, filter_size, 1, '1x1', fmt, stride=stride)
        net = _bn(net, 'bn_1', self._is_training, fmt)
        if bounded:
          net = tf.clip_by_value(net, -CLIP_BY_VALUE_CAP, CLIP_BY_VALUE_CAP)
    elif operation.startswith(('avg_pool_', 'max_pool_')):
      if bounded:
        net = tf.nn.relu6(net)
      pool = slim.avg_pool2d if operation.startswith('avg') else (
          slim.max_pool2d)
      net = pool(net, _kernel_size(operation), stride=stride, padding='SAME',
                 data_format=fmt)
      if input_filters != filter_size:
        net = _conv(net, filter_size, 1, '1x1', fmt)
        net = _bn(net, 'bn_1', self._is_training, fmt)
      if bounded:
        net = tf.clip_by_value(net, -CLIP_BY_VALUE_CAP, CLIP_BY_VALUE_CAP)
    else:
      raise UsageError(f'Unknown cell operation {operation!r}; valid are '
                       f'separable_KxK_N, avg_pool_KxK, max_pool_KxK, none.')
    if operation != 'none':
      net = self._apply_drop_path(net, current_step)
    return net

  def _stacked_separable_conv(self, net, stride, operation):
    kernel_size = _kernel_size(operation)
    for layer in range(1, _num_layers(operation) + 1):
      net = self._act(net)
      net = slim.separable_conv2d(
          net, self._filter_size, kernel_size, depth_multiplier=1,
          stride=stride, padding='SAME', activation_fn=None,
          normalizer_fn=None, biases_initializer=None,
          data_format=self._data_format,
          scope=f'separable_{kernel_size}x{kernel_size}_{layer}')
      net = _bn(net, f'bn_sep_{kernel_size}x{kernel_size}_{layer}',
                self._is_training, self._data_format)
      stride = 1  # Only the first layer of the stack reduces.
    return net

  def _combine_unused_states(self, states):
    """Concatenates the states no combination consumed."""
    if len(states) != len(self._used_hiddenstates):
      raise UsageError(f'used_hiddenstates has {len(self._used_hiddenstates)}'
                       f' flags but the cell has {len(states)} states.')
    fmt = self._data_format
    final_width = _width(states[-1], fmt)
    final_filters = _channels(states[-1], fmt)
    for idx, used in enumerate(self._used_hiddenstates):
      if used:
        continue
      width = _width(states[idx], fmt)
      if width != final_width or _channels(states[idx], fmt) != final_filters:
        stride = 2 if width != final_width else 1
        with tf.variable_scope(f'reduction_{idx}'):
          states[idx] = factorized_reduction(
              states[idx], final_filters, stride, data_format=fmt,
              is_training=self._is_training)
    unused = [h for h, used in zip(states, self._used_hiddenstates)
              if not used]
    return tf.concat(unused, axis=channel_axis(fmt))

  def _apply_drop_path(self, net, current_step):
    if not self._is_training or self._drop_path_keep_prob >= 1.0:
      return net
    if current_step is None:
      current_step = global_step_tensor()
    keep_prob = drop_path_keep_prob(
        self._drop_path_keep_prob, self._cell_num, self._total_num_cells,
        current_step, self._total_training_steps)
    return drop_path(net, keep_prob, is_training=True)


def _cell_from_spec(spec, num_conv_filters, drop_path_keep_prob,
                    total_num_cells, total_training_steps,
                    use_bounded_activation, is_training, data_format):
  return dict(num_conv_filters=num_conv_filters,
              operations=spec.operations,
              used_hiddenstates=spec.used_hiddenstates,
              hiddenstate_indices=spec.hiddenstate_indices,
              drop_path_keep_prob=drop_path_keep_prob,
              total_num_cells=total_num_cells,
              total_training_steps=total_training_steps,
              use_bounded_activation=use_bounded_activation,
              is_training=is_training, data_format=data_format)


class NasNetANormalCell(NasNetABaseCell):
  """NASNet-A normal cell (NASNET_A_NORMAL)."""

  def __init__(self, num_conv_filters, drop_path_keep_prob, total_num_cells,
               total_training_steps, use_bounded_activation=False, *,
               is_training=False, data_format='NHWC'):
    super().__init__(**_cell_from_spec(
        NASNET_A_NORMAL, num_conv_filters, drop_path_keep_prob,
        total_num_cells, total_training_steps, use_bounded_activation,
        is_training, data_format))


class NasNetAReductionCell(NasNetABaseCell):
  """NASNet-A reduction cell (NASNET_A_REDUCTION); called with stride 2."""

  def __init__(self, num_conv_filters, drop_path_keep_prob, total_num_cells,
               total_training_steps, use_bounded_activation=False, *,
               is_training=False, data_format='NHWC'):
    super().__init__(**_cell_from_spec(
        NASNET_A_REDUCTION, num_conv_filters, drop_path_keep_prob,
        total_num_cells, total_training_steps, use_bounded_activation,
        is_training, data_format))


class PNasNetNormalCell(NasNetABaseCell):
  """PNASNet-5 cell (PNASNET_5_NORMAL); strided in reduction positions."""

  def __init__(self, num_conv_filters, drop_path_keep_prob, total_num_cells,
               total_training_steps, use_bounded_activation=False, *,
               is_training=False, data_format='NHWC'):
    super().__init__(**_cell_from_spec(
        PNASNET_5_NORMAL, num_conv_filters, drop_path_keep_prob,
        total_num_cells, total_training_steps, use_bounded_activation,
        is_training, data_format))


# ---------------------------------------------------------------------------
# Stems, heads and the network skeleton pieces.
# ---------------------------------------------------------------------------


def imagenet_stem(images, architecture, stem_cell, is_training,
                  current_step=None):
  """3x3/2 conv and two strided stem cells: /8 (331 -> 42, 224 -> 28).

  Args:
    images: 4-D Tensor in `architecture.data_format`.
    architecture: Architecture record.
    stem_cell: the cell class instance used for the stem cells.
    is_training: batch-norm mode.
    current_step: optional drop-path step Tensor.

  Returns:
    (net, cell_outputs): the last stem cell's output and the list
    [None, conv0, cell_stem_0, cell_stem_1] of states for the cell stack.
  """
  fmt = architecture.data_format
  num_stem_filters = int(32 * architecture.stem_multiplier)
  net = _conv(images, num_stem_filters, 3, 'conv0', fmt, stride=2,
              padding='VALID')
  net = _bn(net, 'conv0_bn', is_training, fmt)
  cell_outputs = [None, net]
  filter_scaling = 1.0 / (
      architecture.filter_scaling_rate ** NUM_IMAGENET_STEM_CELLS)
  for cell_num in range(NUM_IMAGENET_STEM_CELLS):
    net = stem_cell(net, scope=f'cell_stem_{cell_num}',
                    filter_scaling=filter_scaling, stride=2,
                    prev_layer=cell_outputs[-2], cell_num=cell_num,
                    current_step=current_step)
    cell_outputs.append(net)
    filter_scaling *= architecture.filter_scaling_rate
  return net, cell_outputs


def cifar_stem(images, architecture, is_training):
  """One 3x3 conv at full resolution.

  Args:
    images: 4-D Tensor in `architecture.data_format`.
    architecture: Architecture record.
    is_training: batch-norm mode.

  Returns:
    (net, [None, net]).
  """
  fmt = architecture.data_format
  num_stem_filters = int(architecture.num_conv_filters *
                         architecture.stem_multiplier)
  net = _conv(images, num_stem_filters, 3, 'l1_stem_3x3', fmt)
  net = _bn(net, 'l1_stem_bn', is_training, fmt)
  return net, [None, net]


def num_stem_cells(architecture):
  """Cells the stem contributes to the drop-path cell count."""
  return NUM_IMAGENET_STEM_CELLS if architecture.stem_type == 'imagenet' else 0


def aux_head_cells(reduction_indices):
  """Cell indices after which the auxiliary head attaches."""
  return [reduction_indices[1] - 1] if len(reduction_indices) >= 2 else []


def build_aux_head(net, end_points, num_classes, architecture, is_training,
                   scope):
  """Auxiliary classifier; records end_points['AuxLogits'].

  Args:
    net: activated cell output, 4-D Tensor with a known spatial size >= 5.
    end_points: EndPoints to record into.
    num_classes: number of classes.
    architecture: Architecture record.
    is_training: batch-norm mode.
    scope: variable scope ('aux_7' ...).

  Raises:
    ValueError: if the feature map is too small or of unknown size.
  """
  fmt = architecture.data_format
  act = _activation(architecture.use_bounded_activation)
  spatial = net.shape.as_list()[1:3] if fmt == 'NHWC' else (
      net.shape.as_list()[2:4])
  if None in spatial or min(spatial) < 5:
    raise UsageError(f'The auxiliary head at {scope} needs a known feature '
                     f'map of at least 5x5, got {spatial}; feed larger '
                     f'images or set use_aux_head=False.')
  with tf.variable_scope(scope):
    aux = tf.identity(net)
    with tf.variable_scope('aux_logits'):
      aux = slim.avg_pool2d(aux, [5, 5], stride=3, padding='VALID',
                            data_format=fmt)
      aux = _conv(aux, 128, 1, 'proj', fmt)
      aux = act(_bn(aux, 'aux_bn0', is_training, fmt))
      # A conv over the whole remaining map acts as a dense layer.
      shape = aux.shape.as_list()[1:3] if fmt == 'NHWC' else (
          aux.shape.as_list()[2:4])
      aux = _conv(aux, 768, shape, 'Conv', fmt, padding='VALID')
      aux = act(_bn(aux, 'aux_bn1', is_training, fmt))
      aux = slim.flatten(aux)
      aux = slim.fully_connected(aux, num_classes, activation_fn=None,
                                 scope='FC')
  end_points.add('AuxLogits', aux)


def build_final_layer(net, end_points, num_classes, architecture, training,
                      is_training):
  """ReLU, global pool, dropout, classifier under scope 'final_layer'.

  Args:
    net: last cell output, 4-D Tensor.
    end_points: EndPoints ('global_pool', 'Logits', 'Predictions').
    num_classes: classes; 0 or None stops after global_pool.
    architecture: Architecture record.
    training: Training record (dense dropout).
    is_training: dropout mode.

  Returns:
    logits [batch, num_classes], or the pooled features [batch, channels]
    when num_classes is 0/None or the final end point is 'global_pool'.
  """
  fmt = architecture.data_format
  with tf.variable_scope('final_layer'):
    net = _activation(architecture.use_bounded_activation)(net)
    net = global_avg_pool(net, fmt)
    if end_points.add('global_pool', net) or not num_classes:
      return net
    net = slim.dropout(net, training.dense_dropout_keep_prob,
                       is_training=is_training, scope='dropout')
    logits = slim.fully_connected(net, num_classes, activation_fn=None,
                                  scope='FC')
    if end_points.add('Logits', logits):
      return logits
    end_points.add('Predictions', tf.nn.softmax(logits, name='predictions'))
  return logits


def nasnet_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon):
  """Training knobs of NASNet/PNASNet: L2 decay, He init, batch-norm stats.

  Args:
    weight_decay: L2 regularization of conv, separable and dense weights.
    batch_norm_decay: moving-average decay of the batch-norm statistics.
    batch_norm_epsilon: batch-norm epsilon.

  Returns:
    An arg scope.
  """
  with slim.arg_scope(
      [slim.fully_connected, slim.conv2d, slim.separable_conv2d],
      weights_regularizer=slim.l2_regularizer(weight_decay),
      weights_initializer=slim.variance_scaling_initializer(mode='FAN_OUT')):
    with slim.arg_scope([slim.batch_norm], decay=batch_norm_decay,
                        epsilon=batch_norm_epsilon, fused=True) as sc:
      return sc


def check_final_endpoint(final_endpoint, valid_names):
  """Raises ValueError unless final_endpoint is None or in valid_names."""
  if final_endpoint is not None and final_endpoint not in valid_names:
    raise UsageError(f'Unknown final endpoint {final_endpoint!r}; valid end '
                     f'points are: {", ".join(valid_names)}.')
