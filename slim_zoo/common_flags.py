"""Flag groups shared by the commands, --help, and the error exit.

Each command defines its flags once, when it starts (`slim_zoo.cli.run`),
by calling the define_* groups it needs and `group(...)` for its own; no
module defines flags when it is imported. Names and meanings follow
TF-Slim's scripts; a flag left at None means "take it from the registry".
`--help` lists every flag of the command, by group.
"""

import collections
import contextlib
import functools
import sys
import textwrap

from absl import flags

from slim_zoo import errors

FLAGS = flags.FLAGS

# Group title -> names of the flags defined in it, in definition order.
_GROUPS = collections.OrderedDict()


@contextlib.contextmanager
def group(title):
  """Flags defined inside `with group(title):` are listed under it in --help."""
  before = set(FLAGS)
  yield
  names = _GROUPS.setdefault(title, [])
  for name in FLAGS:
    if name not in before and FLAGS[name].name == name and name not in names:
      names.append(name)


def _group(title):
  """Decorator: the flags a define_* function defines belong to `title`."""
  def decorate(define):
    @functools.wraps(define)
    def wrapper(*args, **kwargs):
      with group(title):
        define(*args, **kwargs)
    return wrapper
  return decorate


def groups():
  """[(title, [flag names])] of the flags defined so far, in order."""
  return [(title, list(names)) for title, names in _GROUPS.items() if names]


def _describe(flag):
  lines = [f'  --{flag.name}: ' + ' '.join(flag.help.split())]
  parser = getattr(flag, 'parser', None)
  choices = getattr(parser, 'enum_values', None)
  if choices:
    lines.append(f'    one of: {", ".join(choices)}')
  default = flag.default
  if isinstance(default, bool):
    lines.append(f'    (default: {str(default).lower()})')
  elif isinstance(default, (list, tuple)):
    lines.append(f'    (default: {",".join(map(str, default))})')
  elif isinstance(default, str):
    lines.append(f'    (default: {default!r})')
  elif default is not None:
    lines.append(f'    (default: {default})')
  return '\n'.join(textwrap.fill(line, 79, subsequent_indent='      ')
                   if len(line) > 79 else line for line in lines)


def help_text(doc):
  """The command's --help: its docstring, then every flag by group."""
  parts = [doc.strip(), '']
  for title, names in groups():
    parts.append(f'{title} flags:')
    parts.extend(_describe(FLAGS[name]) for name in names)
    parts.append('')
  parts.append('--helpfull also lists absl\'s logging and flag-file flags.')
  return '\n'.join(parts)


def _validate_model_name(name):
  from slim_zoo.nets import nets_factory
  if name is None or name in nets_factory.REGISTRY:
    return True
  raise flags.ValidationError(str(nets_factory.unknown_name_error(
      'model_name', name, nets_factory.REGISTRY)))


@_group('Model')
def define_model_flags():
  flags.DEFINE_string('model_name', 'inception_v3',
                      'Name of the network (see nets/nets_factory.py).')
  flags.register_validator('model_name', _validate_model_name)


@_group('Dataset')
def define_dataset_flags():
  flags.DEFINE_string('dataset_name', 'imagenet', 'Name of the dataset.')
  flags.DEFINE_string('dataset_split_name', 'train', 'Split to read.')
  flags.DEFINE_string('dataset_dir', None,
                      'Directory holding the dataset\'s TFRecords.')
  flags.DEFINE_integer('labels_offset', 0,
                       'Offset subtracted from the dataset labels; use 1 to '
                       'evaluate a 1000-class model on 1001-class data.')
  flags.DEFINE_integer('num_readers', 4,
                       'Number of TFRecord files read in parallel.')
  flags.DEFINE_integer('num_preprocessing_threads', 4,
                       'Parallel decode/preprocess calls (0 = autotune).')


@_group('Dataset')
def define_batch_size_flag(default):
  """--batch_size; each script has its TF-Slim default (train 32, eval 100)."""
  flags.DEFINE_integer('batch_size', default, 'Images per batch.')


@_group('Checkpoint')
def define_checkpoint_path_flag(default, help_text):
  """--checkpoint_path with the script's own default and meaning."""
  flags.DEFINE_string('checkpoint_path', default, help_text)


@_group('Preprocessing')
def define_preprocessing_flags():
  flags.DEFINE_string('preprocessing_name', None,
                      'Preprocessing to use; None takes the model\'s from '
                      'the registry.')
  flags.DEFINE_bool('use_grayscale', False,
                    'Convert images to grayscale in preprocessing.')


@_group('Cluster')
def define_master_flag():
  flags.DEFINE_string('master', '',
                      'Address of the TensorFlow master, e.g. '
                      'grpc://localhost:2222 (empty = in-process).')


@_group('Performance')
def define_performance_flags(mixed_precision='auto'):
  """Speed levers measured in BENCHMARKS.md (performance.session_config).

  Args:
    mixed_precision: the script's --mixed_precision default: 'auto' where
      speed matters (training, classify_image.py), 'none' where exact float32
      numbers are the point (evaluation).
  """
  flags.DEFINE_enum('mixed_precision', mixed_precision,
                    ['none', 'bfloat16', 'auto'],
                    'none: float32 everywhere. bfloat16: oneDNN bf16 auto '
                    'mixed precision (fp32 variables and updates; 1.7-2.3x '
                    'faster for ResNet/Inception on CPUs with AVX512-BF16 or '
                    'AMX). auto: bfloat16 when the CPU computes it natively, '
                    'no GPU is visible and there is no --master, else none.')
  flags.DEFINE_bool('xla', False, 'XLA auto-clustering (measured no faster '
                    'on CPUs; see BENCHMARKS.md).')
  flags.DEFINE_integer('inter_op_threads', 0,
                       'Threads running independent ops (0 = TensorFlow '
                       'default).')
  flags.DEFINE_integer('intra_op_threads', 0,
                       'Threads inside one op (0 = TensorFlow default).')


@_group('Moving averages')
def define_moving_average_flag():
  flags.DEFINE_float('moving_average_decay', None,
                     'Decay of the exponential moving average of the model '
                     'variables; training keeps the averages and evaluation '
                     'restores them. None = no moving averages.')


@_group('Deployment')
def define_deployment_flags():
  """Clones on this machine and replicas / parameter servers of a cluster."""
  flags.DEFINE_integer('num_clones', 1,
                       'Model clones per worker (one per GPU); must divide '
                       '--batch_size.')
  flags.DEFINE_bool('clone_on_cpu', False, 'Place the clones on the CPU.')
  flags.DEFINE_integer('worker_replicas', 1, 'Number of worker replicas.')
  flags.DEFINE_integer('num_ps_tasks', 0,
                       'Number of parameter servers; 0 keeps variables on '
                       'this worker.')
  flags.DEFINE_integer('task', 0, 'Task id of this worker (0 is the chief).')
  flags.DEFINE_bool('sync_replicas', False,
                    'Aggregate gradients of the workers synchronously '
                    '(tf.train.SyncReplicasOptimizer).')
  flags.DEFINE_integer('replicas_to_aggregate', None,
                       'Gradients aggregated per update with '
                       '--sync_replicas; None = --worker_replicas.')


OPTIMIZERS = ('adadelta', 'adagrad', 'adam', 'ftrl', 'momentum', 'sgd',
              'rmsprop')
DECAY_TYPES = ('fixed', 'exponential', 'polynomial', 'cosine')


@_group('Optimizer and learning rate')
def define_optimizer_flags():
  """Optimizer, its hyper-parameters and the learning-rate schedule."""
  flags.DEFINE_float('weight_decay', 0.00004, 'L2 weight decay of the model.')
  flags.DEFINE_enum('optimizer', 'rmsprop', list(OPTIMIZERS), 'Optimizer.')
  flags.DEFINE_float('adadelta_rho', 0.95, 'Decay rate of adadelta.')
  flags.DEFINE_float('adagrad_initial_accumulator_value', 0.1,
                     'Starting value of the AdaGrad accumulators.')
  flags.DEFINE_float('adam_beta1', 0.9,
                     'Exponential decay rate of the 1st moment estimates.')
  flags.DEFINE_float('adam_beta2', 0.999,
                     'Exponential decay rate of the 2nd moment estimates.')
  flags.DEFINE_float('opt_epsilon', 1.0, 'Epsilon of the optimizer.')
  flags.DEFINE_float('ftrl_learning_rate_power', -0.5,
                     'FTRL learning rate power.')
  flags.DEFINE_float('ftrl_initial_accumulator_value', 0.1,
                     'FTRL initial accumulator value.')
  flags.DEFINE_float('ftrl_l1', 0.0, 'FTRL l1 regularization strength.')
  flags.DEFINE_float('ftrl_l2', 0.0, 'FTRL l2 regularization strength.')
  flags.DEFINE_float('momentum', 0.9,
                     'Momentum of the momentum optimizer.')
  flags.DEFINE_float('rmsprop_momentum', 0.9, 'Momentum of RMSProp.')
  flags.DEFINE_float('rmsprop_decay', 0.9, 'Decay of RMSProp.')
  flags.DEFINE_enum('learning_rate_decay_type', 'exponential',
                    list(DECAY_TYPES),
                    'How the learning rate decays: fixed, exponential '
                    '(staircase), polynomial (linear to '
                    '--end_learning_rate) or cosine (to --end_learning_rate '
                    'at --max_number_of_steps).')
  flags.DEFINE_float('learning_rate', 0.01, 'Initial learning rate.')
  flags.DEFINE_float('end_learning_rate', 0.0001,
                     'Final learning rate of the polynomial and cosine '
                     'decays.')
  flags.DEFINE_float('label_smoothing', 0.0, 'Label smoothing amount.')
  flags.DEFINE_float('learning_rate_decay_factor', 0.94,
                     'Learning rate decay factor.')
  flags.DEFINE_float('num_epochs_per_decay', 2.0,
                     'Epochs after which the learning rate decays (the '
                     'length of the polynomial decay).')
  flags.DEFINE_float('warmup_epochs', 0.0,
                     'Epochs of linear warm-up from 0 to --learning_rate; '
                     'the decay starts after it.')
  flags.DEFINE_float('clip_gradient_norm', 0.0,
                     'Clip the gradients to this global norm (0 = off).')


def parse_flags_or_exit(argv, doc=''):
  """absl flags parser for app.run.

  --help (-h, -?, --helpshort) prints every flag of the command by group and
  exits 0; a bad flag is one 'ERROR: ...' line and exit code 2.
  """
  args = argv[1:argv.index('--')] if '--' in argv else argv[1:]
  if any(a in ('--help', '-h', '-help', '-?', '--helpshort') for a in args):
    sys.stdout.write(help_text(doc) + '\n')
    sys.stdout.flush()
    sys.exit(0)
  try:
    return FLAGS(argv)
  except flags.Error as e:
    message = ' '.join(str(e).split())
    sys.stderr.write(f'ERROR: {message} (see --help)\n')
    sys.stderr.flush()
    sys.exit(2)


run_or_exit = errors.run_or_exit
