"""keras.applications weights -> TF-Slim checkpoints of the zoo's networks.

keras.applications ports several TF-Slim (and Caffe) models; their weights
files (`~/.keras/models/*.h5`, `*.weights.h5`) can become checkpoints of our
networks when the architectures are the same. The mapping is structural, not
by name: the keras model's weight layers (convolutions, depthwise
convolutions, dense layers, each with the batch norm that follows it) are
read in the order a depth-first walk of the keras graph reaches them, which
is the order TF-Slim creates its variables (branches in concatenation
order, a residual unit's shortcut first), and are paired one to one with the
slim network's layers; every pair is checked by shape.

Per pair the values are carried over so the slim layer computes what the
keras layer did, in eval mode: kernels as they are (both HWIO), dense
kernels reshaped into the slim 1x1 (or VGG's 7x7) convolutions, a keras
convolution bias in front of a slim batch norm folded into its moving mean,
each batch norm's epsilon difference folded into its moving variance (or its
gamma), and, for keras models fed BGR (Caffe preprocessing), the first
kernel's input channels reversed so the checkpoint takes the RGB images of
our VGG preprocessing. A 1000-class keras head becomes a 1001-class slim
head with a background row (zero weights, bias -1e4: it never wins) or
stays at 1000 with labels_offset=1. Slim variables keras has no counterpart
for (Inception's auxiliary logits) keep their fresh initialization (seeded);
`convert` names them.

keras runs eagerly, and this project's TensorFlow runs in graph mode (eager
execution off for the whole process), so keras models are read in a child
process (`extract_file`) or, in the user's own eager process, from a model
in memory (`extract_model`, which imports nothing of the project's graph
code). Both give `KerasWeights`, which `convert` writes as a checkpoint.
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Optional

import numpy as np

from slim_zoo.errors import UsageError

# Background-class bias of a 1000 -> 1001 class head: its softmax
# probability is exp(-1e4 - ...) = 0, yet it is finite for fine-tuning
# (and for float16/bfloat16).
BACKGROUND_BIAS = -1e4

# keras.applications classes that can become a zoo network, with the facts
# of the class the conversion needs (architecture facts, not network names;
# the registry's `keras_twin` says which network each one is):
#   bgr: the keras model is fed BGR (Caffe-style preprocess_input); the
#     zoo's VGG preprocessing gives RGB.
#   alpha: the class takes a width multiplier (keras `alpha`).
#   difference: how the conversion differs from keras, if at all.
#   unsupported: why the class cannot be converted.
_RESNET_V1_DIFFERENCE = (
    'keras strides the first unit of a stage on its 1x1 convolution (Caffe '
    'ResNet), TF-Slim resnet_v1 the last unit of the previous block on its '
    '3x3 convolution, and keras pads pool1 on the top/left where TF-Slim '
    'SAME pads bottom/right: same variables and shapes, logits equal only '
    'when every feature map is 1x1 (a 2x2 input), not at 224')


@dataclasses.dataclass(frozen=True)
class _KerasClass:
  bgr: bool = False
  alpha: bool = False
  difference: Optional[str] = None
  unsupported: Optional[str] = None


KERAS_CLASSES = {
    'VGG16': _KerasClass(bgr=True),
    'VGG19': _KerasClass(bgr=True),
    'InceptionV3': _KerasClass(),
    'InceptionResNetV2': _KerasClass(),
    'ResNet50': _KerasClass(bgr=True, difference=_RESNET_V1_DIFFERENCE),
    'ResNet101': _KerasClass(bgr=True, difference=_RESNET_V1_DIFFERENCE),
    'ResNet152': _KerasClass(bgr=True, difference=_RESNET_V1_DIFFERENCE),
    'MobileNet': _KerasClass(alpha=True),
    'MobileNetV2': _KerasClass(alpha=True),
    'ResNet50V2': _KerasClass(unsupported=(
        'keras pads pool1 with zeros on the top/left of the un-activated conv1 '
        'output, TF-Slim SAME-pads it bottom/right with -inf: every input '
        'size gives other logits')),
    'MobileNetV3Small': _KerasClass(unsupported=(
        'keras builds MobileNetV3 with its own head and rescaling layers; not '
        'compared layer by layer yet')),
    'NASNetMobile': _KerasClass(unsupported=(
        'keras NASNet cells create their layers in another order than TF-Slim '
        'cells; not mapped')),
}
KERAS_CLASSES['ResNet101V2'] = KERAS_CLASSES['ResNet50V2']
KERAS_CLASSES['ResNet152V2'] = KERAS_CLASSES['ResNet50V2']
KERAS_CLASSES['MobileNetV3Large'] = KERAS_CLASSES['MobileNetV3Small']
KERAS_CLASSES['NASNetLarge'] = KERAS_CLASSES['NASNetMobile']


@dataclasses.dataclass
class Unit:
  """One keras weight layer with the batch norm that follows it.

  Attributes:
    name: keras layer name.
    kind: 'conv', 'depthwise' or 'dense'.
    kernel: the kernel (HWIO, HW-in-multiplier or in-out).
    bias: the bias or None.
    bn: None, or dict with 'gamma' / 'beta' (None when the layer has no
      scale / center), 'mean', 'variance' and 'epsilon'.
  """
  name: str
  kind: str
  kernel: np.ndarray
  bias: Optional[np.ndarray] = None
  bn: Optional[dict] = None


@dataclasses.dataclass
class KerasWeights:
  """A keras model's weight layers in depth-first order (see module doc)."""
  model_name: str
  units: list

  def save(self, path):
    """Writes the units to an .npz file `path` (for the child process)."""
    arrays, meta = {}, []
    for i, unit in enumerate(self.units):
      arrays[f'{i}/kernel'] = unit.kernel
      if unit.bias is not None:
        arrays[f'{i}/bias'] = unit.bias
      bn = None
      if unit.bn:
        bn = {'epsilon': float(unit.bn['epsilon'])}
        for key in ('gamma', 'beta', 'mean', 'variance'):
          if unit.bn.get(key) is not None:
            arrays[f'{i}/bn/{key}'] = unit.bn[key]
      meta.append({'name': unit.name, 'kind': unit.kind, 'bn': bn})
    arrays['meta'] = np.frombuffer(
        json.dumps({'model_name': self.model_name, 'units': meta}).encode(),
        np.uint8)
    np.savez(path, **arrays)

  @classmethod
  def load(cls, path):
    with np.load(path) as data:
      meta = json.loads(bytes(data['meta']).decode())
      units = []
      for i, m in enumerate(meta['units']):
        bn = None
        if m['bn']:
          bn = dict(m['bn'])
          for key in ('gamma', 'beta', 'mean', 'variance'):
            bn[key] = data[f'{i}/bn/{key}'] if f'{i}/bn/{key}' in data else None
        units.append(Unit(m['name'], m['kind'], data[f'{i}/kernel'],
                          data[f'{i}/bias'] if f'{i}/bias' in data else None,
                          bn))
    return cls(meta['model_name'], units)


_KINDS = {'Conv2D': 'conv', 'DepthwiseConv2D': 'depthwise', 'Dense': 'dense'}


def _parents(layer):
  """The layers feeding `layer` (keras 3 and tf_keras functional models)."""
  parents = []
  for node in getattr(layer, '_inbound_nodes', [])[:1]:
    tensors = getattr(node, 'input_tensors', None)
    if tensors is None:
      tensors = getattr(node, 'keras_inputs', [])
    for tensor in tensors:
      history = tensor._keras_history  # pylint: disable=protected-access
      parents.append(getattr(history, 'operation', None) or history[0])
  return parents


def _depth_first(model):
  """The model's layers in depth-first post-order from its outputs (a
  layer's inputs, in argument order, before the layer)."""
  order, seen = [], set()
  for output in model.outputs:
    stack = [(output._keras_history[0], False)]  # pylint: disable=protected-access
    while stack:
      layer, expanded = stack.pop()
      if expanded:
        order.append(layer)
        continue
      if id(layer) in seen:
        continue
      seen.add(id(layer))
      stack.append((layer, True))
      for parent in reversed(_parents(layer)):
        if id(parent) not in seen:
          stack.append((parent, False))
  return order


def extract_model(model):
  """Reads a built keras functional model (keras 3 or tf_keras) into
  `KerasWeights`; call it where keras runs (an eager process).

  Raises:
    UsageError: a weight layer this converter does not know (it names it).
  """
  units = []
  for layer in _depth_first(model):
    kind = type(layer).__name__
    if not layer.weights:
      continue
    if kind in _KINDS:
      # keras 3 calls a depthwise kernel `kernel`, tf_keras `depthwise_kernel`.
      kernel = np.asarray((getattr(layer, 'depthwise_kernel', None) or
                           layer.kernel).numpy())
      bias = layer.bias.numpy() if getattr(layer, 'bias', None) is not None \
          else None
      units.append(Unit(layer.name, _KINDS[kind], kernel,
                        None if bias is None else np.asarray(bias)))
    elif kind == 'BatchNormalization':
      if not units or _parents(layer)[0].name != units[-1].name or \
          units[-1].bn is not None:
        raise UsageError(f'keras layer {layer.name} is a batch norm that does '
                         'not follow a convolution; this model is not one the '
                         'converter knows.')

      def value(var):
        return None if var is None else np.asarray(var.numpy())
      units[-1].bn = {'gamma': value(getattr(layer, 'gamma', None)),
                      'beta': value(getattr(layer, 'beta', None)),
                      'mean': value(layer.moving_mean),
                      'variance': value(layer.moving_variance),
                      'epsilon': float(layer.epsilon)}
    else:
      raise UsageError(f'keras layer {layer.name} ({kind}) has weights the '
                       'converter does not map; this model is not one of the '
                       'keras.applications twins.')
  return KerasWeights(model.name, units)


# --- which keras model a registry row is -----------------------------------

@dataclasses.dataclass(frozen=True)
class Twin:
  """The keras.applications model of a registry row.

  Attributes:
    keras_class: keras.applications class name ('MobileNet', ...).
    alpha: width multiplier for classes that take one, else None.
    facts: its `_KerasClass` record.
  """
  keras_class: str
  alpha: Optional[float]
  facts: _KerasClass

  def describe(self):
    return self.keras_class + (f'(alpha={self.alpha:g})' if self.alpha else '')


def _depth_multiplier(spec):
  kwargs = spec.kwargs
  if 'depth_multiplier' in kwargs:
    return float(kwargs['depth_multiplier'])
  # MobileNet v2 variants are named builder functions (mobilenet.variant)
  # whose defaults hold the multiplier.
  builder = spec.load_builder()
  for cell in getattr(builder, '__closure__', None) or ():
    if isinstance(cell.cell_contents, dict) and \
        'depth_multiplier' in cell.cell_contents:
      return float(cell.cell_contents['depth_multiplier'])
  return 1.0


def twin_of(model_name):
  """The `Twin` of registry row `model_name`, or None if it has none.

  A row's twin is its `keras_twin`; a width variant (mobilenet_v1_025,
  mobilenet_v2_140 ...) is the twin of its family's row with keras `alpha`
  set to its depth multiplier.
  """
  from slim_zoo.nets import nets_factory
  spec = nets_factory.get_spec(model_name)
  twin = spec.keras_twin
  if twin is None:
    module = spec.builder.partition(':')[0]
    family = {s.keras_twin for s in nets_factory.REGISTRY.values()
              if s.keras_twin and s.builder.partition(':')[0] == module}
    if len(family) != 1 or not KERAS_CLASSES.get(next(iter(family)),
                                                 _KerasClass()).alpha:
      return None
    twin = family.pop()
  facts = KERAS_CLASSES.get(twin, _KerasClass(
      unsupported='not compared with the TF-Slim network'))
  return Twin(twin, _depth_multiplier(spec) if facts.alpha else None, facts)


def _convertible_twin(model_name):
  from slim_zoo.nets import nets_factory
  spec = nets_factory.get_spec(model_name)
  twin = twin_of(spec.name)
  if twin is None:
    convertible = sorted(n for n in nets_factory.names()
                         if (t := twin_of(n)) and not t.facts.unsupported)
    raise UsageError(f'--model_name={spec.name} has no keras.applications '
                     f'twin; networks that convert: {", ".join(convertible)}.')
  if twin.facts.unsupported:
    raise UsageError(f'keras {twin.keras_class} cannot be converted into '
                     f'{spec.name}: {twin.facts.unsupported}.')
  return spec, twin


# --- reading a weights file (in a child process that runs keras) ----------

def _check_h5(path):
  """One line for a file that is not a readable HDF5 weights file."""
  import h5py
  if not os.path.isfile(path):
    raise UsageError(f'--keras_weights={path} does not exist; pass a keras '
                     'weights file (.h5 or .weights.h5).')
  try:
    with h5py.File(path, 'r') as f:
      if not len(f.keys()):
        raise UsageError(f'--keras_weights={path} is an HDF5 file without '
                         'weights; pass a keras weights file.')
  except OSError as e:
    reason = str(e).split('(', 1)[-1].rstrip(')') if '(' in str(e) else str(e)
    raise UsageError(f'--keras_weights={path} is not a readable HDF5 file '
                     f'({reason}); download or save it again.') from None


def _make_divisible(value, divisor=8):
  new = max(divisor, int(value + divisor / 2) // divisor * divisor)
  return new + divisor if new < 0.9 * value else new


def _stem_filters(keras_class, alpha):
  """Filters of the first convolution of keras `keras_class(alpha=alpha)`."""
  if keras_class == 'MobileNetV2':
    return _make_divisible(32 * alpha)
  return int(32 * alpha)


def _file_stem_filters(path):
  """Output channels of the file's kernels that take 3 input channels
  (the first convolution's), or None."""
  import h5py
  found = set()

  def visit(_, obj):
    if isinstance(obj, h5py.Dataset) and obj.ndim == 4 and obj.shape[2] == 3:
      found.add(obj.shape[3])
  with h5py.File(path, 'r') as f:
    f.visititems(visit)
  return found.pop() if len(found) == 1 else None


def _check_width(path, spec, twin):
  """Names the width a MobileNet file holds when it is not the row's."""
  from slim_zoo.nets import nets_factory
  filters = _file_stem_filters(path)
  if filters is None or filters == _stem_filters(twin.keras_class,
                                                   twin.alpha):
    return
  rows = [(n, t.alpha) for n in nets_factory.names()
          if (t := twin_of(n)) and t.keras_class == twin.keras_class and
          _stem_filters(t.keras_class, t.alpha) == filters]
  fix = (f'it holds keras {twin.keras_class}(alpha={rows[0][1]:g}): use '
         f'--model_name={rows[0][0]}' if rows else
         'no registered width has that many')
  raise UsageError(
      f'--keras_weights={path} has a first convolution of {filters} '
      f'filters, keras {twin.describe()} (the twin of {spec.name}) '
      f'{_stem_filters(twin.keras_class, twin.alpha)}; {fix}.')


def _child_extract(keras_class, alpha, path, out):
  """In the child: builds the keras model, loads `path`, writes `out`.

  Prints one JSON line: {'ok': True, 'alpha': ...} or {'error': ...}.
  """
  import keras  # pylint: disable=import-outside-toplevel
  builder = getattr(keras.applications, keras_class)

  def build(alpha, include_top):
    kwargs = {'weights': None, 'include_top': include_top}
    if alpha is not None:
      kwargs['alpha'] = alpha
    if not include_top:
      kwargs['input_shape'] = (None, None, 3)
    return builder(**kwargs)

  def try_load(alpha):
    errors = []
    for include_top in (True, False):
      model = build(alpha, include_top)
      try:
        model.load_weights(path)
        return model, None
      except Exception as e:  # pylint: disable=broad-except
        errors.append(' '.join(str(e).split())[:300])
    return None, errors[0]

  model, error = try_load(alpha)
  if model is None:
    print(json.dumps({'error': error}))
    return
  extract_model(model).save(out)
  print(json.dumps({'ok': True}))


def extract_file(path, model_name):
  """Loads keras weights file `path` into `model_name`'s keras twin, in a
  child process, and returns its `KerasWeights`.

  Raises:
    UsageError: no twin, an unreadable or truncated file, or a file of
      another architecture or width (naming the width it fits, if one).
  """
  spec, twin = _convertible_twin(model_name)
  _check_h5(path)
  if twin.alpha is not None:
    _check_width(path, spec, twin)
  tmp = tempfile.mkdtemp(prefix='keras_weights-')
  try:
    out = os.path.join(tmp, 'units.npz')
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', KERAS_BACKEND='tensorflow',
               CUDA_VISIBLE_DEVICES='')
    args = json.dumps([twin.keras_class, twin.alpha, os.path.abspath(path),
                       out])
    proc = subprocess.run([sys.executable, '-m', 'slim_zoo.keras_weights',
                           '--child', args], capture_output=True, text=True,
                          env=env, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('{')]
    if proc.returncode or not lines:
      tail = (proc.stderr.strip().splitlines() or ['no output'])[-1]
      raise UsageError(f'Reading --keras_weights={path} with keras failed: '
                       f'{tail}')
    result = json.loads(lines[-1])
    if 'error' in result:
      raise UsageError(f'--keras_weights={path} is not keras '
                       f'{twin.describe()} weights (the twin of {spec.name}): '
                       f'{result["error"]}; pass the --model_name of the '
                       'network the file was saved from.')
    return KerasWeights.load(out)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


# --- writing the checkpoint -------------------------------------------------

_KERNELS = ('weights', 'depthwise_weights')


def _slim_layers(variables):
  """Model variables grouped per layer scope, in creation order:
  [(scope, {'weights'|'depthwise_weights'|'biases'|'gamma'|...: var})]."""
  layers = {}
  for var in variables:
    name = var.op.name
    scope, _, leaf = name.rpartition('/')
    if scope.endswith('/BatchNorm'):
      scope = scope[:-len('/BatchNorm')]
    layers.setdefault(scope, {})[leaf] = var
  return list(layers.items())


def _slim_epsilons(graph):
  """{moving_mean variable name: epsilon} of the graph's batch norms."""
  epsilons = {}
  for op in graph.get_operations():
    if op.type.startswith('FusedBatchNorm'):
      # Inputs: x, scale, offset, mean, variance; mean is `<var>/read`.
      mean = op.inputs[3].op.name
      epsilons[mean[:-len('/read')] if mean.endswith('/read') else mean] = \
          op.get_attr('epsilon')
  return epsilons


def _slim_epsilon(epsilons, slim_vars, scope):
  name = slim_vars['moving_mean'].op.name
  if name not in epsilons:
    raise UsageError(f'No fused batch norm reads {name} in the graph of '
                     f'{scope}; the converter needs fused batch norms.')
  return epsilons[name]


def _layer_error(unit, scope, what):
  return UsageError(f'keras layer {unit.name} does not fit TF-Slim layer '
                    f'{scope}: {what}; the keras model is not the same '
                    'architecture.')


def _convert_layer(unit, scope, slim_vars, epsilon, first, bgr, logits,
                   labels_offset):
  """{slim variable: value} for one pair."""
  values = {}
  kernel_var = next(slim_vars[k] for k in _KERNELS if k in slim_vars)
  want = kernel_var.shape.as_list()
  kernel, bias = unit.kernel, unit.bias
  if logits:
    classes = kernel.shape[-1]
    extra = want[-1] - classes
    if extra not in (0, 1) or extra != 1 - labels_offset:
      raise UsageError(
          f'The keras head {unit.name} has {classes} classes and the TF-Slim '
          f'logits {scope} {want[-1]} (labels_offset={labels_offset}).')
    if extra:
      kernel = np.concatenate([np.zeros(kernel.shape[:-1] + (1,),
                                        kernel.dtype), kernel], axis=-1)
      bias = np.concatenate([[BACKGROUND_BIAS], bias if bias is not None
                             else np.zeros(classes)]).astype(kernel.dtype)
  if kernel.size != int(np.prod(want)) or (
      unit.kind != 'dense' and list(kernel.shape) != want):
    raise _layer_error(unit, scope, f'kernel {list(kernel.shape)} vs {want}')
  kernel = kernel.reshape(want)
  if first and bgr:
    kernel = kernel[:, :, ::-1, :]
  values[kernel_var] = kernel
  has_bn = 'moving_mean' in slim_vars
  if (unit.bn is not None) != has_bn:
    raise _layer_error(unit, scope, 'batch norm in one model only')
  if 'biases' in slim_vars:
    values[slim_vars['biases']] = bias if bias is not None else np.zeros(
        want[-1], kernel.dtype)
  elif bias is not None and not has_bn and np.any(bias):
    raise _layer_error(unit, scope, 'keras has a bias, TF-Slim none')
  if has_bn:
    bn = unit.bn
    mean = bn['mean'] - (bias if bias is not None and
                         'biases' not in slim_vars else 0)
    variance = bn['variance'].astype(np.float64)
    gamma = bn['gamma']
    # In float32, as both frameworks use it (0.001 vs float32(0.001)).
    shift = float(np.float32(bn['epsilon']) - np.float32(epsilon))
    if 'gamma' in slim_vars:
      gamma = np.ones_like(mean) if gamma is None else gamma
      if shift < 0:  # keep the variance, scale gamma instead
        gamma = gamma * np.sqrt((variance + epsilon) /
                                (variance + bn['epsilon']))
        shift = 0.0
      values[slim_vars['gamma']] = gamma
    elif gamma is not None and not np.allclose(gamma, 1):
      raise _layer_error(unit, scope, 'keras batch norm has a scale, TF-Slim '
                         'none')
    if shift < 0:
      raise _layer_error(unit, scope, f'batch norm epsilon {bn["epsilon"]} < '
                         f'{epsilon} without a gamma to fold it into')
    values[slim_vars['moving_mean']] = mean
    values[slim_vars['moving_variance']] = (variance + shift).astype(
        bn['variance'].dtype)
    if 'beta' in slim_vars:
      values[slim_vars['beta']] = bn['beta'] if bn['beta'] is not None else \
          np.zeros_like(mean)
  return values


@dataclasses.dataclass(frozen=True)
class ConvertResult:
  """What `convert` wrote.

  Attributes:
    checkpoint: the checkpoint prefix written.
    model_name: registry name.
    num_classes: classes of the checkpoint's logits (None: no keras head).
    labels_offset: the --labels_offset to use with 1001-label datasets.
    converted: number of slim variables set from keras.
    fresh: slim variables keras has no counterpart for (initialized fresh).
    difference: how the network differs from keras, if it does.
  """
  checkpoint: str
  model_name: str
  num_classes: Optional[int]
  labels_offset: int
  converted: int
  fresh: tuple
  difference: Optional[str]


def _write_checkpoint(arrays, output):
  """Writes {name: array} as checkpoint `output` (one SaveV2, no variables),
  through a temporary directory beside it; the index is moved in last."""
  from slim_zoo.nets.compat import tf
  parent = os.path.dirname(os.path.abspath(output))
  tmp = tempfile.mkdtemp(prefix='.convert-', dir=parent)
  try:
    names = sorted(arrays)
    with tf.Graph().as_default():
      feeds = {tf.placeholder(arrays[n].dtype, arrays[n].shape): arrays[n]
               for n in names}
      save = tf.raw_ops.SaveV2(prefix=os.path.join(tmp, 'model.ckpt'),
                               tensor_names=names,
                               shape_and_slices=[''] * len(names),
                               tensors=list(feeds))
      with tf.Session() as session:
        session.run(save, feeds)
    # Data first, index last: a checkpoint exists once its index does.
    for name in sorted(os.listdir(tmp), key=lambda f: f.endswith('.index')):
      os.replace(os.path.join(tmp, name),
                 os.path.abspath(output) + name[len('model.ckpt'):])
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


def _check_output(output):
  if not output:
    raise UsageError('--output is empty; pass the checkpoint prefix to write '
                     '(e.g. /tmp/resnet_v1_50.ckpt).')
  parent = os.path.dirname(os.path.abspath(output))
  if not os.path.isdir(parent):
    raise UsageError(f'--output={output}: directory {parent} does not exist; '
                     'create it first.')
  if os.path.isdir(output):
    raise UsageError(f'--output={output} is a directory; pass a checkpoint '
                     f'prefix inside it (e.g. {output}/model.ckpt).')


def check_request(model_name, output, labels_offset=None):
  """Checks a conversion up front (before keras runs or anything is written).

  Returns:
    (NetSpec, Twin, labels_offset resolved from the registry if None).

  Raises:
    UsageError: no convertible twin, a bad --output or --labels_offset.
  """
  spec, twin = _convertible_twin(model_name)
  _check_output(output)
  if labels_offset is None:
    labels_offset = spec.labels_offset
  if labels_offset not in (0, 1):
    raise UsageError(f'--labels_offset={labels_offset}: pass 0 (background '
                     'class added) or 1 (keras classes as they are).')
  return spec, twin, labels_offset


def convert(weights, model_name, output, labels_offset=None):
  """Writes `weights` (KerasWeights) as a checkpoint of `model_name`.

  Args:
    weights: `KerasWeights` from `extract_model` or `extract_file`.
    model_name: registry row whose keras twin `weights` is.
    output: checkpoint prefix to write (`output.index`, `output.data-*`).
    labels_offset: 0 for a 1001-class checkpoint (background row added to a
      1000-class keras head), 1 to keep the keras class count; None takes
      the registry's (1 for vgg_* and resnet_v1_*).

  Returns:
    ConvertResult.

  Raises:
    UsageError: no twin, a keras model of another architecture or width
      (naming the first layer that does not fit), a bad output path. Nothing
      is written then.
  """
  from slim_zoo.nets.compat import slim, tf
  from slim_zoo.nets import nets_factory
  spec, twin, labels_offset = check_request(model_name, output, labels_offset)
  units = list(weights.units)
  head = units[-1] if units and units[-1].kind == 'dense' or (
      units and units[-1].name in ('conv_preds', 'predictions')) else None
  num_classes = None
  if head is not None:
    num_classes = head.kernel.shape[-1] + 1 - labels_offset
  with tf.Graph().as_default() as graph:
    tf.set_random_seed(0)
    network_fn = nets_factory.get_network_fn(
        spec, num_classes=num_classes or spec.num_classes, is_training=False)
    size = spec.default_image_size
    network_fn(tf.placeholder(tf.float32, [1, size, size, 3]))
    layers = _slim_layers(slim.get_model_variables())
    logits_scope, aux_scopes = spec.logits_scopes[0], spec.logits_scopes[1:]

    def under(scope, scopes):
      return any(scope == s or scope.startswith(s + '/') for s in scopes)
    fresh_layers = [(s, v) for s, v in layers if under(s, aux_scopes)]
    logits_layers = [(s, v) for s, v in layers if under(s, [logits_scope])]
    body = [(s, v) for s, v in layers
            if not under(s, aux_scopes) and not under(s, [logits_scope])]
    keras_body = units[:-1] if head is not None else units
    if len(keras_body) != len(body) or len(logits_layers) != 1:
      raise UsageError(
          f'The keras model {weights.model_name} has {len(keras_body)} weight '
          f'layers below its head, {spec.name} has {len(body)}: not the same '
          f'architecture (or not keras {twin.describe()}).')
    if head is None:
      fresh_layers += logits_layers
    values, epsilons = {}, _slim_epsilons(graph)
    for i, (unit, (scope, slim_vars)) in enumerate(zip(keras_body, body)):
      eps = _slim_epsilon(epsilons, slim_vars, scope) if 'moving_mean' in slim_vars else 0
      values.update(_convert_layer(unit, scope, slim_vars, eps, i == 0,
                                   twin.facts.bgr, False, labels_offset))
    if head is not None:
      values.update(_convert_layer(head, *logits_layers[0], 0, False,
                                   twin.facts.bgr, True, labels_offset))
    fresh = tuple(v.op.name for _, layer in fresh_layers
                  for v in layer.values())
    fresh_vars = [v for _, layer in fresh_layers for v in layer.values()]
    with tf.Session() as session:
      # Fresh values from the network's own (seeded) initializers.
      fresh_values = session.run([v.initial_value for v in fresh_vars])
    arrays = {v.op.name: np.asarray(value, v.dtype.as_numpy_dtype)
              for v, value in values.items()}
    arrays.update((v.op.name, value) for v, value in zip(fresh_vars,
                                                           fresh_values))
    left = [v.op.name for v in slim.get_model_variables()
            if v.op.name not in arrays]
    if left:
      raise UsageError(f'No keras value for {", ".join(left[:4])}; the keras '
                       'model is not the same architecture.')
  _write_checkpoint(arrays, output)
  return ConvertResult(checkpoint=output, model_name=spec.name,
                       num_classes=num_classes, labels_offset=labels_offset,
                       converted=len(values), fresh=fresh,
                       difference=twin.facts.difference)


def _main(argv):
  if len(argv) == 3 and argv[1] == '--child':
    try:
      _child_extract(*json.loads(argv[2]))
    except UsageError as e:
      print(json.dumps({'error': str(e)}))
    return 0
  print('usage: python -m slim_zoo.keras_weights --child JSON (internal)',
        file=sys.stderr)
  return 2


if __name__ == '__main__':
  sys.exit(_main(sys.argv))
