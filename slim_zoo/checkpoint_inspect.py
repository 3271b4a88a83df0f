"""What a checkpoint is: which zoo network it fits, its classes, what else it holds.

Reads only a checkpoint's index (variable names, shapes and dtypes through
`tf.train.load_checkpoint`), never its tensor data unless one tensor is
asked for, and compares it with the manifests (nets/manifests/*.json: every
variable a registered network creates, with its shape) and the registry:

* which networks it fits: exactly (every variable of the network, batch-norm
  statistics included, with its shape), with another class count, without
  aux logits, at another input size or width; else the closest networks and
  what differs;
* the classes of the logits (and aux logits) and what follows for each
  dataset of the factory (--labels_offset, or a fine-tune excluding the
  logits);
* what else it holds: moving-average shadows (--moving_average_decay),
  global_step, optimizer slots, quantization ranges;
* for one --model_name, the restore plan train_image_classifier would follow.

`check_network` is the check train, eval and export make before building
anything: it names the network a checkpoint really is.
"""

import collections
import dataclasses
import os
import re
from typing import Optional

from slim_zoo import checkpoint_utils
from slim_zoo.errors import UsageError
from slim_zoo.nets import manifests
from slim_zoo.nets import nets_factory
from slim_zoo.nets.compat import tf

# Optimizer slot (and accumulator) names -> optimizer.
_SLOTS = {'Momentum': 'momentum', 'RMSProp': 'rmsprop', 'RMSProp_1': 'rmsprop',
          'Adam': 'adam', 'Adam_1': 'adam', 'Adagrad': 'adagrad',
          'Ftrl': 'ftrl', 'Ftrl_1': 'ftrl', 'Adadelta': 'adadelta',
          'Adadelta_1': 'adadelta', 'AdagradDA': 'adagrad_da',
          'ProximalAdagrad': 'proximal_adagrad'}
_ACCUMULATORS = {'beta1_power': 'adam', 'beta2_power': 'adam'}
_QUANT = re.compile(r'/(weights_quant|act_quant)/(min|max)$')
_EMA = '/ExponentialMovingAverage'


def classify(name):
  """'model', 'ema', 'optimizer', 'global_step' or 'quantization'."""
  leaf = name.rsplit('/', 1)[-1]
  if leaf == 'global_step':
    return 'global_step'
  if _QUANT.search(name):
    return 'quantization'
  if leaf in _SLOTS or leaf in _ACCUMULATORS:
    return 'optimizer'
  if name.endswith(_EMA):
    return 'ema'
  return 'model'


def _optimizer(name):
  leaf = name.rsplit('/', 1)[-1]
  return _SLOTS.get(leaf) or _ACCUMULATORS.get(leaf)


def read_index(checkpoint):
  """{name: (shape list, dtype name)} from the checkpoint's index only."""
  reader = tf.train.load_checkpoint(checkpoint)
  shapes = reader.get_variable_to_shape_map()
  dtypes = reader.get_variable_to_dtype_map()
  return {name: (list(shapes[name]), dtypes[name].name) for name in shapes}


@dataclasses.dataclass
class Match:
  """How a checkpoint compares with one network's manifest.

  Attributes:
    name: registry name.
    kind: 'exact', 'classes' (only the logits' class count differs),
      'no_aux' (aux logits absent, else exact or classes), 'input_size'
      (only fully connected layers sized by the input differ), 'width'
      (every name present, channel counts differ) or 'partial'.
    score: share of the manifest's variables present with their shape.
    missing, unexpected, mismatched: names (mismatched: 'name [ckpt] vs
      [network]'), all of them.
    num_classes, aux_classes: the checkpoint's, if it has those layers.
    width: checkpoint channels / network channels for kind 'width'.
  """
  name: str
  kind: str
  score: float
  missing: list
  unexpected: list
  mismatched: list
  num_classes: Optional[int] = None
  aux_classes: Optional[int] = None
  width: Optional[float] = None

  @property
  def fits(self):
    return self.kind in ('exact', 'classes', 'no_aux')

  def describe(self):
    """One phrase: 'mobilenet_v2_140 (1001 classes)', '... other width'."""
    text = self.name
    if self.num_classes:
      text += f' ({self.num_classes} classes)'
    extra = {'no_aux': 'without aux logits',
             'input_size': 'trained at another input size',
             'width': f'at {self.width:.3g}x its width' if self.width else
                      'at another width',
             'partial': f'{self.score:.0%} of its variables fit'}.get(self.kind)
    return text + (f', {extra}' if extra else '')


def _manifest_names():
  available = set(manifests.names())
  return [n for n in nets_factory.names() if n in available]


def _classes(spec, model, scope_index):
  if len(spec.logits_scopes) <= scope_index:
    return None
  scope = spec.logits_scopes[scope_index] + '/'
  kernels = sorted(n for n in model if n.startswith(scope) and
                   n.rsplit('/', 1)[-1] in ('weights', 'biases'))
  return model[kernels[-1]][-1] if kernels else None


def _compare(spec, manifest, model):
  wanted = {name: shape for name, shape in manifest['variables']
            if classify(name) == 'model'}
  missing = [n for n in wanted if n not in model]
  unexpected = sorted(n for n in model if n not in wanted)
  mismatched = [n for n in wanted if n in model and model[n] != wanted[n]]
  same = len(wanted) - len(missing) - len(mismatched)
  score = same / max(len(wanted) + len(unexpected), 1)
  aux = spec.logits_scopes[1:]

  def in_scope(name, scopes):
    return any(name.startswith(s + '/') for s in scopes)
  logits_only = all(in_scope(n, spec.logits_scopes) and
                    model[n][:-1] == wanted[n][:-1] for n in mismatched)
  if not unexpected and not missing and not mismatched:
    kind = 'exact'
  elif not unexpected and logits_only and (
      not missing or all(in_scope(n, aux) for n in missing)):
    kind = ('no_aux' if missing else 'classes')
  elif not unexpected and not missing and all(
      len(model[n]) == 2 and model[n][1:] == wanted[n][1:] or
      in_scope(n, spec.logits_scopes) for n in mismatched):
    kind = 'input_size'
  else:
    kind = 'partial'
  width = None
  if kind == 'partial' and not missing and not unexpected:
    ratios = sorted(model[n][-1] / wanted[n][-1] for n in mismatched
                    if len(wanted[n]) == 4 and not in_scope(n,
                                                            spec.logits_scopes))
    if ratios:
      kind, width = 'width', ratios[len(ratios) // 2]
  return Match(spec.name, kind, score, missing, unexpected,
               [f'{n} (checkpoint {model[n]}, network {wanted[n]})'
                for n in mismatched],
               _classes(spec, model, 0), _classes(spec, model, 1), width)


def match_networks(model):
  """Every registered network with a manifest compared with `model`
  ({name: shape} of a checkpoint's model variables), best first."""
  matches = []
  tops = {n.split('/', 1)[0] for n in model}
  for name in _manifest_names():
    manifest = manifests.load(name)
    top = {n.split('/', 1)[0] for n, _ in manifest['variables']}
    if not top & tops:
      continue  # another network's scopes: nothing in common
    matches.append(_compare(nets_factory.get_spec(name), manifest, model))
  order = {'exact': 0, 'classes': 1, 'no_aux': 2, 'input_size': 3,
           'width': 4, 'partial': 5}
  matches.sort(key=lambda m: (order[m.kind], -m.score, m.name))
  return matches


def _dataset_classes():
  from slim_zoo.datasets import dataset_factory
  out = {}
  for name in dataset_factory.names():
    classes = getattr(dataset_factory.get_module(name), 'NUM_CLASSES', None)
    if classes:
      out[name] = classes
  return out


def dataset_advice(spec, num_classes):
  """{dataset: what to pass} for a checkpoint of `spec` with num_classes."""
  advice = {}
  for dataset, classes in _dataset_classes().items():
    if num_classes == classes:
      advice[dataset] = 'restores as is (--labels_offset=0)'
    elif num_classes == classes - 1:
      advice[dataset] = ('restores with --labels_offset=1 (no background '
                         'class)')
    else:
      advice[dataset] = (f'fine-tune: {classes} classes, logits excluded '
                         f'(--checkpoint_exclude_scopes={spec.exclude_scopes})')
  return advice


def _in_scopes(name, scopes):
  return any(name == s or name.startswith(s + '/') for s in scopes)


def restore_plan(model, model_name, checkpoint_exclude_scopes=None,
                 num_classes=None):
  """What fine-tuning `model_name` from a checkpoint with `model` variables
  restores, as train_image_classifier decides it.

  Args:
    model: {name: shape} of the checkpoint's model variables.
    model_name: registry name (with a manifest).
    checkpoint_exclude_scopes: comma-separated scopes, or None for the
      registry's default (logits excluded only when their shape differs).
    num_classes: classes of the network to train; None: the manifest's.

  Returns:
    dict of lists: 'restored', 'excluded_by_registry', 'excluded_by_flag',
    'missing', 'mismatched' (names; mismatched 'name [ckpt] vs [net]'),
    and 'exclude_scopes' (the scopes in effect).
  """
  spec = nets_factory.get_spec(model_name)
  manifest = manifests.load(spec.name)
  wanted = {}
  for name, shape in manifest['variables']:
    if classify(name) != 'model':
      continue
    if num_classes and _in_scopes(name, spec.logits_scopes):
      shape = shape[:-1] + [num_classes]
    wanted[name] = shape
  plan = {k: [] for k in ('restored', 'excluded_by_registry',
                          'excluded_by_flag', 'missing', 'mismatched')}
  if checkpoint_exclude_scopes is None:
    logits_differ = any(n in model and model[n] != shape
                        for n, shape in wanted.items()
                        if _in_scopes(n, spec.logits_scopes))
    scopes, key = (list(spec.logits_scopes) if logits_differ else []), \
        'excluded_by_registry'
  else:
    scopes = [s.strip() for s in checkpoint_exclude_scopes.split(',')
              if s.strip()]
    key = 'excluded_by_flag'
  for name, shape in wanted.items():
    if _in_scopes(name, scopes):
      plan[key].append(name)
    elif name not in model:
      plan['missing'].append(name)
    elif model[name] != shape:
      plan['mismatched'].append(
          f'{name} (checkpoint {model[name]}, network {shape})')
    else:
      plan['restored'].append(name)
  plan['exclude_scopes'] = scopes
  return plan


def inspect(checkpoint_path, model_name=None, checkpoint_exclude_scopes=None,
            num_classes=None, tensor_name=None, closest=3):
  """Everything `inspect_checkpoint` prints, as a JSON-ready dict.

  Args:
    checkpoint_path: checkpoint prefix, one of its files, or a directory
      (its latest checkpoint).
    model_name: if set, the restore plan for that network.
    checkpoint_exclude_scopes, num_classes: for the restore plan.
    tensor_name: a tensor whose values to read (the only data read).
    closest: how many near networks to list when none fits.

  Raises:
    UsageError: no checkpoint there, an unknown --model_name or tensor.
  """
  checkpoint = checkpoint_utils.resolve_checkpoint(checkpoint_path)
  if model_name is not None:
    model_name = nets_factory.get_spec(model_name).name
  index = read_index(checkpoint)
  groups = collections.defaultdict(list)
  for name in sorted(index):
    groups[classify(name)].append(name)
  model = {n: index[n][0] for n in groups['model']}
  matches = match_networks(model)
  fits = [m for m in matches if m.fits]
  best = fits[0] if fits else (matches[0] if matches else None)
  params = {kind: sum(_size(index[n][0]) for n in names)
            for kind, names in groups.items()}
  data_bytes = sum(os.path.getsize(os.path.join(os.path.dirname(checkpoint)
                                                or '.', f))
                   for f in os.listdir(os.path.dirname(checkpoint) or '.')
                   if f.startswith(os.path.basename(checkpoint) + '.data-'))
  report = {
      'checkpoint': checkpoint,
      'fits': [_match_dict(m) for m in fits],
      'closest': [] if fits else [_match_dict(m) for m in matches[:closest]],
      'num_classes': best.num_classes if best else None,
      'aux_classes': best.aux_classes if best else None,
      'datasets': (dataset_advice(nets_factory.get_spec(best.name),
                                  best.num_classes)
                   if best and best.num_classes else {}),
      'moving_averages': len(groups['ema']),
      'global_step': None,
      'optimizer': sorted({_optimizer(n) for n in groups['optimizer']}),
      'optimizer_variables': len(groups['optimizer']),
      'quantization_ranges': len(groups['quantization']),
      'dtypes': dict(collections.Counter(index[n][1] for n in index)),
      'variables': {k: len(v) for k, v in sorted(groups.items())},
      'parameters': params,
      'data_bytes': data_bytes,
  }
  if groups['global_step']:
    # One scalar: the only tensor read without being asked.
    reader = tf.train.load_checkpoint(checkpoint)
    report['global_step'] = int(reader.get_tensor(groups['global_step'][0]))
  if model_name:
    report['restore_plan'] = dict(
        model_name=model_name,
        **restore_plan(model, model_name, checkpoint_exclude_scopes,
                       num_classes))
  if tensor_name:
    if tensor_name not in index:
      raise UsageError(f'--tensor_name={tensor_name} is not in {checkpoint}; '
                       'run without it to list the variables.')
    import numpy as np
    value = tf.train.load_checkpoint(checkpoint).get_tensor(tensor_name)
    value = np.asarray(value)
    report['tensor'] = {'name': tensor_name, 'shape': list(value.shape),
                        'dtype': value.dtype.name,
                        'min': float(value.min()) if value.size else None,
                        'max': float(value.max()) if value.size else None,
                        'mean': float(value.mean()) if value.size else None,
                        'first': value.ravel()[:8].tolist()}
  return report


def _size(shape):
  size = 1
  for d in shape:
    size *= d
  return size


def _match_dict(m):
  return {'name': m.name, 'kind': m.kind, 'score': round(m.score, 4),
          'num_classes': m.num_classes, 'aux_classes': m.aux_classes,
          'width': m.width, 'description': m.describe(),
          'missing': m.missing, 'unexpected': m.unexpected,
          'mismatched': m.mismatched}


def _first(names, n=3):
  return ', '.join(names[:n]) + (f' (+{len(names) - n} more)'
                                 if len(names) > n else '')


def format_report(report):
  """The report as lines a person reads at a glance."""
  lines = [f'Checkpoint {report["checkpoint"]}']
  if report['fits']:
    lines.append('Fits: ' + '; '.join(m['description']
                                      for m in report['fits']))
  else:
    lines.append('Fits no registered network exactly.')
    for m in report['closest']:
      lines.append(f'  closest: {m["description"]}: '
                   f'{len(m["missing"])} missing, {len(m["unexpected"])} '
                   f'unexpected, {len(m["mismatched"])} mismatched')
      for key in ('missing', 'unexpected', 'mismatched'):
        if m[key]:
          lines.append(f'    {key}: {_first(m[key])}')
  if report['num_classes']:
    aux = (f', aux logits {report["aux_classes"]}'
           if report['aux_classes'] else '')
    lines.append(f'Logits: {report["num_classes"]} classes{aux}')
    for dataset, advice in sorted(report['datasets'].items()):
      lines.append(f'  --dataset_name={dataset}: {advice}')
  ema = report['moving_averages']
  lines.append(f'Moving averages: {ema} shadow variables'
               + (' (--moving_average_decay applies)' if ema else ''))
  lines.append(f'Global step: {report["global_step"]}')
  if report['optimizer_variables']:
    lines.append(f'Optimizer: {", ".join(report["optimizer"])} '
                 f'({report["optimizer_variables"]} variables)')
  else:
    lines.append('Optimizer: no slot variables')
  lines.append(f'Quantization ranges: {report["quantization_ranges"]}')
  params = report['parameters']
  lines.append(f'Parameters: {params.get("model", 0):,} in model variables '
               f'({report["variables"].get("model", 0)}), '
               f'{sum(params.values()):,} in all; dtypes '
               + ', '.join(f'{k} x{v}' for k, v in
                           sorted(report['dtypes'].items()))
               + f'; data {report["data_bytes"] / 2**20:.1f} MiB')
  plan = report.get('restore_plan')
  if plan:
    lines.append(f'Restore plan for --model_name={plan["model_name"]}: '
                 f'{len(plan["restored"])} restored, '
                 f'{len(plan["excluded_by_registry"])} excluded by the '
                 f'registry, {len(plan["excluded_by_flag"])} excluded by '
                 f'--checkpoint_exclude_scopes, {len(plan["missing"])} '
                 f'missing, {len(plan["mismatched"])} mismatched')
    for key in ('excluded_by_registry', 'excluded_by_flag', 'missing',
                'mismatched'):
      if plan[key]:
        lines.append(f'  {key}: {_first(plan[key])}')
    fits = [m['name'] for m in report['fits']]
    if (plan['missing'] or plan['mismatched']) and fits and \
        plan['model_name'] not in fits:
      lines.append(f'  the checkpoint is {fits[0]}: use --model_name='
                   f'{fits[0]}')
  tensor = report.get('tensor')
  if tensor:
    lines.append(f'Tensor {tensor["name"]} {tensor["shape"]} '
                 f'{tensor["dtype"]}: min {tensor["min"]}, max '
                 f'{tensor["max"]}, mean {tensor["mean"]}, first '
                 f'{tensor["first"]}')
  return lines


def network_hints(checkpoint, model_name, num_classes=None, variables=None):
  """What to change when `checkpoint` does not fit `model_name`: a list of
  at most one fix, for the callers' 'To fix it, ...' messages.

  Names the registered network the checkpoint is when that is another one
  than `model_name` ('use --model_name=mobilenet_v2_140 (the checkpoint is
  ...)'), or, with `num_classes` (the graph's; `variables`, {checkpoint
  name: graph variable}, gives it from the graph's logits when None), the
  label offset between a 1000-class and a 1001-class ImageNet head. A
  checkpoint of no registered network, or another class count (the callers
  name the dataset flags), gives []. Reads only the checkpoint's index.
  """
  spec = nets_factory.get_spec(model_name)
  if spec.name not in manifests.names():
    return []
  if num_classes is None and variables:
    logits = [var for name, var in sorted(variables.items())
              if name.startswith(spec.logits_scopes[0] + '/') and
              name.replace(_EMA, '').split('/')[-1] in ('weights', 'biases')]
    num_classes = logits[0].shape.as_list()[-1] if logits else None
  index = read_index(checkpoint)
  model = {n: s for n, (s, _) in index.items() if classify(n) == 'model'}
  mine = _compare(spec, manifests.load(spec.name), model)
  if mine.fits:
    if num_classes and {mine.num_classes, num_classes} == {1000, 1001}:
      offset = 1 if mine.num_classes == 1000 else 0
      return [f'pass --labels_offset={offset} (the checkpoint is '
              f'{mine.describe()}, '
              f'{"without" if offset else "with"} the background class; a '
              f'fine-tune on new classes excludes --checkpoint_exclude_scopes='
              f'{spec.exclude_scopes})']
    return []
  others = [m for m in match_networks(model) if m.fits and m.name != spec.name]
  if not others:
    return []
  other = others[0]
  differ = mine.mismatched[:1] or mine.missing[:1] or mine.unexpected[:1]
  expects = {'width': 'another width',
             'input_size': 'another input size'}.get(mine.kind,
                                                     'other variables')
  return [f'use --model_name={other.name} (the checkpoint is '
          f'{other.describe()}; --model_name={spec.name} expects {expects}'
          f'{": " + differ[0] if differ else ""})']


def check_network(checkpoint, model_name, num_classes=None, variables=None):
  """Raises UsageError with `network_hints`' fix when there is one."""
  hints = network_hints(checkpoint, model_name, num_classes, variables)
  if hints:
    raise UsageError(f'Checkpoint {checkpoint} does not fit '
                     f'{nets_factory.get_spec(model_name).name}: {hints[0]}.')
