"""Flag groups shared by the scripts, each flag defined once, and error exit.

Scripts call the define_* groups they need; names and meanings follow
TF-Slim's scripts. A flag left at None means "take it from the registry".
"""

import sys

from absl import flags

FLAGS = flags.FLAGS
_DEFINED = set()


def _once(group):
  def wrapper(*args, **kwargs):
    if group.__name__ not in _DEFINED:
      _DEFINED.add(group.__name__)
      group(*args, **kwargs)
  wrapper.__name__ = group.__name__
  return wrapper


def _validate_model_name(name):
  from nets import nets_factory
  if name is None or name in nets_factory.REGISTRY:
    return True
  raise flags.ValidationError(str(nets_factory.unknown_name_error(
      'model_name', name, nets_factory.REGISTRY)))


@_once
def define_model_flags():
  flags.DEFINE_string('model_name', 'inception_v3',
                      'Name of the network (see nets/nets_factory.py).')
  flags.register_validator('model_name', _validate_model_name)


@_once
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


def define_batch_size_flag(default):
  """--batch_size; each script has its TF-Slim default (train 32, eval 100).

  Scripts run one per process; when several are imported into one process
  (tests), the first definition stays.
  """
  if 'batch_size' not in FLAGS:
    flags.DEFINE_integer('batch_size', default, 'Images per batch.')


def define_checkpoint_path_flag(default, help_text):
  """--checkpoint_path with the script's own default and meaning."""
  if 'checkpoint_path' not in FLAGS:
    flags.DEFINE_string('checkpoint_path', default, help_text)


@_once
def define_preprocessing_flags():
  flags.DEFINE_string('preprocessing_name', None,
                      'Preprocessing to use; None takes the model\'s from '
                      'the registry.')
  flags.DEFINE_bool('use_grayscale', False,
                    'Convert images to grayscale in preprocessing.')


@_once
def define_master_flag():
  flags.DEFINE_string('master', '',
                      'Address of the TensorFlow master, e.g. '
                      'grpc://localhost:2222 (empty = in-process).')


@_once
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


@_once
def define_moving_average_flag():
  flags.DEFINE_float('moving_average_decay', None,
                     'Decay of the exponential moving average of the model '
                     'variables; training keeps the averages and evaluation '
                     'restores them. None = no moving averages.')


@_once
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


@_once
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


def run_or_exit(fn):
  """Runs fn(); a user error becomes one 'ERROR: ...' line and exit code 2."""
  from datasets.dataset_utils import DatasetError
  try:
    return fn()
  except (ValueError, DatasetError, FileNotFoundError) as e:
    message = ' '.join(str(e).split())
    sys.stderr.write(f'ERROR: {message}\n')
    sys.stderr.flush()
    sys.exit(2)


def parse_flags_or_exit(argv):
  """absl flags parser for app.run: a bad flag is one 'ERROR: ...' line."""
  try:
    return FLAGS(argv)
  except flags.Error as e:
    message = ' '.join(str(e).split())
    sys.stderr.write(f'ERROR: {message} (see --helpfull)\n')
    sys.stderr.flush()
    sys.exit(2)
