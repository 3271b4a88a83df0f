"""Training and fine-tuning: the library behind train_image_classifier.

`train(TrainConfig(...))` validates the configuration and resolves the
network, dataset and preprocessing once (`plan_run`), takes --train_dir's
lock, builds the graph through model_deploy (clones, replicas, parameter
servers), and runs a MonitoredTrainingSession with the logging, signal and
NaN hooks. The flags of slim_zoo/cli/train_image_classifier.py are the
TrainConfig / OptimizerConfig fields of the same names; tests and users call
these functions directly.
"""

import contextlib
import dataclasses
import json
import math
import os
import shutil
import signal
import tempfile
import threading
import time

from absl import logging

from slim_zoo import checkpoint_inspect
from slim_zoo import checkpoint_utils
from slim_zoo import cluster
from slim_zoo import errors
from slim_zoo import common_flags
from slim_zoo import performance
from slim_zoo import quantize
from slim_zoo import train_dir_lock
from slim_zoo.datasets import dataset_factory
from slim_zoo.datasets import dataset_utils
from slim_zoo.datasets import input_pipeline
from slim_zoo.deployment import model_deploy
from slim_zoo.nets import nets_factory
from slim_zoo.nets.compat import slim, tf
from slim_zoo.preprocessing import preprocessing_factory
from slim_zoo.errors import UsageError

CONFIG_FILENAME = 'train_config.json'
AUX_LOSS_WEIGHT = 0.4  # TF-Slim's weight of the Inception auxiliary head.
_NON_FINITE = 'non-finite value (NaN or Inf) in the'


class NonFiniteLossError(UsageError):
  """Training met a NaN or Inf loss or gradient; nothing bad was saved."""


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  """Optimizer, its hyper-parameters and the learning-rate schedule.

  Field names and meanings are the flags of the same names.
  """
  optimizer: str = 'rmsprop'
  learning_rate: float = 0.01
  learning_rate_decay_type: str = 'exponential'
  learning_rate_decay_factor: float = 0.94
  num_epochs_per_decay: float = 2.0
  end_learning_rate: float = 0.0001
  warmup_epochs: float = 0.0
  clip_gradient_norm: float = 0.0
  adadelta_rho: float = 0.95
  adagrad_initial_accumulator_value: float = 0.1
  adam_beta1: float = 0.9
  adam_beta2: float = 0.999
  opt_epsilon: float = 1.0
  ftrl_learning_rate_power: float = -0.5
  ftrl_initial_accumulator_value: float = 0.1
  ftrl_l1: float = 0.0
  ftrl_l2: float = 0.0
  momentum: float = 0.9
  rmsprop_momentum: float = 0.9
  rmsprop_decay: float = 0.9


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """One training run; field names and meanings are the flags'."""
  train_dir: str
  model_name: str
  dataset_name: str
  dataset_dir: str
  dataset_split_name: str = 'train'
  preprocessing_name: str = None
  batch_size: int = 32
  train_image_size: int = None
  max_number_of_steps: int = None
  weight_decay: float = 0.00004
  label_smoothing: float = 0.0
  labels_offset: int = 0
  num_readers: int = 4
  num_preprocessing_threads: int = 4
  use_grayscale: bool = False
  log_every_n_steps: int = 10
  save_summaries_secs: int = 600
  save_interval_secs: int = 600
  checkpoint_path: str = None
  checkpoint_exclude_scopes: str = None
  trainable_scopes: str = None
  ignore_missing_vars: bool = False
  moving_average_decay: float = None
  master: str = ''
  num_clones: int = 1
  clone_on_cpu: bool = False
  worker_replicas: int = 1
  num_ps_tasks: int = 0
  task: int = 0
  sync_replicas: bool = False
  replicas_to_aggregate: int = None
  seed: int = None
  mixed_precision: str = 'auto'
  xla: bool = False
  inter_op_threads: int = 0
  intra_op_threads: int = 0
  allow_config_change: bool = False
  master_wait_secs: int = 120
  quantize_delay: int = -1
  freeze_bn_delay: int = -1
  optimizer: OptimizerConfig = OptimizerConfig()

  @property
  def is_chief(self):
    return self.task == 0


def validate_config(cfg):
  """Rejects flag values that cannot work, before any graph is built.

  Raises:
    ValueError: naming the bad value, what is valid and the fix.
  """
  # Mixed precision and thread counts, checked by building the config once.
  performance.session_config(
      inter_op_threads=cfg.inter_op_threads,
      intra_op_threads=cfg.intra_op_threads,
      mixed_precision=cfg.mixed_precision, master=cfg.master)
  opt = cfg.optimizer
  if not cfg.dataset_dir:
    raise UsageError('--dataset_dir is required: the directory with the '
                     'dataset\'s TFRecords.')
  if not cfg.train_dir:
    raise UsageError('--train_dir is required: the directory for checkpoints '
                     'and summaries.')
  if cfg.batch_size <= 0:
    raise UsageError(f'--batch_size must be positive, got {cfg.batch_size}.')
  if cfg.num_clones < 1:
    raise UsageError(f'--num_clones must be at least 1, got '
                     f'{cfg.num_clones}.')
  if cfg.batch_size % cfg.num_clones:
    raise UsageError(
        f'--num_clones={cfg.num_clones} does not divide '
        f'--batch_size={cfg.batch_size}: each clone gets an equal share of '
        'the batch; use a --batch_size that is a multiple of --num_clones.')
  if cfg.worker_replicas < 1:
    raise UsageError(f'--worker_replicas must be at least 1, got '
                     f'{cfg.worker_replicas}.')
  if not 0 <= cfg.task < cfg.worker_replicas:
    raise UsageError(f'--task={cfg.task} is not a worker of '
                     f'--worker_replicas={cfg.worker_replicas}; valid tasks '
                     f'are 0..{cfg.worker_replicas - 1}.')
  if cfg.num_ps_tasks < 0:
    raise UsageError(f'--num_ps_tasks must be >= 0, got {cfg.num_ps_tasks}.')
  if cfg.sync_replicas and cfg.worker_replicas <= 1:
    raise UsageError(
        f'--sync_replicas needs --worker_replicas > 1 (got '
        f'{cfg.worker_replicas}): there is nothing to synchronise with one '
        'worker; drop --sync_replicas or start more workers.')
  if cfg.replicas_to_aggregate is not None:
    if not cfg.sync_replicas:
      raise UsageError('--replicas_to_aggregate only applies with '
                       '--sync_replicas; add --sync_replicas or drop it.')
    if cfg.replicas_to_aggregate < 1:
      raise UsageError(f'--replicas_to_aggregate must be at least 1, got '
                       f'{cfg.replicas_to_aggregate}.')
  if cfg.worker_replicas > 1 and cfg.num_ps_tasks < 1:
    raise UsageError(
        f'--worker_replicas={cfg.worker_replicas} needs --num_ps_tasks >= 1: '
        'the workers share the variables through parameter servers.')
  if (cfg.worker_replicas > 1 or cfg.num_ps_tasks > 0) and not cfg.master:
    raise UsageError(
        f'--worker_replicas={cfg.worker_replicas} / --num_ps_tasks='
        f'{cfg.num_ps_tasks} describe a cluster but --master is empty; pass '
        '--master=grpc://HOST:PORT of this worker\'s server (see '
        'start_tf_server.py).')
  if cfg.max_number_of_steps is not None and cfg.max_number_of_steps <= 0:
    raise UsageError(f'--max_number_of_steps must be positive, got '
                     f'{cfg.max_number_of_steps}.')
  if opt.optimizer not in common_flags.OPTIMIZERS:
    raise UsageError(f'Unknown optimizer {opt.optimizer!r}; valid: '
                     f'{", ".join(common_flags.OPTIMIZERS)}.')
  if opt.learning_rate_decay_type not in common_flags.DECAY_TYPES:
    raise UsageError(f'Unknown learning_rate_decay_type '
                     f'{opt.learning_rate_decay_type!r}; valid: '
                     f'{", ".join(common_flags.DECAY_TYPES)}.')
  if (opt.learning_rate_decay_type == 'cosine' and
      not cfg.max_number_of_steps):
    raise UsageError('--learning_rate_decay_type=cosine decays to '
                     '--end_learning_rate at --max_number_of_steps; set '
                     '--max_number_of_steps.')
  if opt.learning_rate <= 0:
    raise UsageError(f'--learning_rate must be positive, got '
                     f'{opt.learning_rate}.')
  if opt.warmup_epochs < 0:
    raise UsageError(f'--warmup_epochs must be >= 0, got '
                     f'{opt.warmup_epochs}.')
  if opt.clip_gradient_norm < 0:
    raise UsageError(f'--clip_gradient_norm must be >= 0 (0 = off), got '
                     f'{opt.clip_gradient_norm}.')
  if opt.num_epochs_per_decay <= 0:
    raise UsageError(f'--num_epochs_per_decay must be positive, got '
                     f'{opt.num_epochs_per_decay}.')
  if not 0.0 <= cfg.label_smoothing < 1.0:
    raise UsageError(f'--label_smoothing must be in [0, 1), got '
                     f'{cfg.label_smoothing}.')
  if (cfg.moving_average_decay is not None and
      not 0.0 < cfg.moving_average_decay < 1.0):
    raise UsageError(f'--moving_average_decay must be in (0, 1), e.g. '
                     f'0.9999, got {cfg.moving_average_decay}.')
  if cfg.master_wait_secs < 0:
    raise UsageError(f'--master_wait_secs must be >= 0, got '
                     f'{cfg.master_wait_secs}.')
  spec = nets_factory.get_spec(cfg.model_name)
  if spec.input_kind != 'image':
    raise UsageError(f'--model_name={cfg.model_name} is a {spec.input_kind} '
                     'model; this script reads image datasets. Choose an '
                     'image model (see nets/nets_factory.py).')
  quantize.check_train_flags(spec.name, cfg.quantize_delay,
                             cfg.freeze_bn_delay)
  return spec


def _steps_per_epoch(num_samples_per_epoch, batch_size, replicas_to_aggregate):
  # With synchronous replicas one global step consumes one batch per
  # aggregated replica (TF-Slim divides its decay steps the same way).
  return num_samples_per_epoch / float(batch_size * replicas_to_aggregate)


def configure_learning_rate(cfg, num_samples_per_epoch, batch_size,
                            global_step, max_number_of_steps=None,
                            replicas_to_aggregate=1):
  """Learning-rate tensor of the schedule in `cfg` (an OptimizerConfig).

  A linear warm-up from 0 to cfg.learning_rate over cfg.warmup_epochs comes
  first; the decay counts its steps from the end of the warm-up:
    fixed: cfg.learning_rate.
    exponential: lr * factor ** floor(t / decay_steps) (staircase).
    polynomial: linear from lr to end_learning_rate over decay_steps.
    cosine: lr -> end_learning_rate along half a cosine, reaching it at
      max_number_of_steps.
  decay_steps is num_epochs_per_decay epochs of batch_size (times
  replicas_to_aggregate) examples.

  Raises:
    ValueError: unknown decay type, or cosine without max_number_of_steps.
  """
  steps_per_epoch = _steps_per_epoch(num_samples_per_epoch, batch_size,
                                     replicas_to_aggregate)
  decay_steps = max(1, int(steps_per_epoch * cfg.num_epochs_per_decay))
  warmup_steps = int(steps_per_epoch * cfg.warmup_epochs)
  step = tf.cast(global_step, tf.int64)
  decay_step = tf.maximum(step - warmup_steps, 0)
  kind = cfg.learning_rate_decay_type
  if kind == 'fixed':
    lr = tf.constant(cfg.learning_rate, tf.float32)
  elif kind == 'exponential':
    lr = tf.train.exponential_decay(
        cfg.learning_rate, decay_step, decay_steps,
        cfg.learning_rate_decay_factor, staircase=True)
  elif kind == 'polynomial':
    lr = tf.train.polynomial_decay(
        cfg.learning_rate, decay_step, decay_steps, cfg.end_learning_rate,
        power=1.0, cycle=False)
  elif kind == 'cosine':
    if not max_number_of_steps:
      raise UsageError('--learning_rate_decay_type=cosine needs '
                       '--max_number_of_steps.')
    horizon = max(1, max_number_of_steps - warmup_steps)
    progress = tf.minimum(tf.cast(decay_step, tf.float32) / horizon, 1.0)
    cosine = 0.5 * (1.0 + tf.cos(math.pi * progress))
    lr = cfg.end_learning_rate + (
        cfg.learning_rate - cfg.end_learning_rate) * cosine
  else:
    raise UsageError(f'Unknown learning_rate_decay_type {kind!r}; valid: '
                     f'{", ".join(common_flags.DECAY_TYPES)}.')
  if warmup_steps > 0:
    warmup = cfg.learning_rate * tf.cast(step, tf.float32) / warmup_steps
    lr = tf.where(step < warmup_steps, warmup, lr)
  return tf.identity(lr, name=f'{kind}_learning_rate')


def configure_optimizer(cfg, learning_rate):
  """The optimizer named in `cfg` (an OptimizerConfig)."""
  name = cfg.optimizer
  if name == 'adadelta':
    return tf.train.AdadeltaOptimizer(learning_rate, rho=cfg.adadelta_rho,
                                      epsilon=cfg.opt_epsilon)
  if name == 'adagrad':
    return tf.train.AdagradOptimizer(
        learning_rate,
        initial_accumulator_value=cfg.adagrad_initial_accumulator_value)
  if name == 'adam':
    return tf.train.AdamOptimizer(learning_rate, beta1=cfg.adam_beta1,
                                  beta2=cfg.adam_beta2,
                                  epsilon=cfg.opt_epsilon)
  if name == 'ftrl':
    return tf.train.FtrlOptimizer(
        learning_rate, learning_rate_power=cfg.ftrl_learning_rate_power,
        initial_accumulator_value=cfg.ftrl_initial_accumulator_value,
        l1_regularization_strength=cfg.ftrl_l1,
        l2_regularization_strength=cfg.ftrl_l2)
  if name == 'momentum':
    return tf.train.MomentumOptimizer(learning_rate, momentum=cfg.momentum,
                                      name='Momentum')
  if name == 'rmsprop':
    return tf.train.RMSPropOptimizer(learning_rate, decay=cfg.rmsprop_decay,
                                     momentum=cfg.rmsprop_momentum,
                                     epsilon=cfg.opt_epsilon)
  if name == 'sgd':
    return tf.train.GradientDescentOptimizer(learning_rate)
  raise UsageError(f'Unknown optimizer {name!r}; valid: '
                   f'{", ".join(common_flags.OPTIMIZERS)}.')


def split_scopes(scopes):
  """'a, b/' -> ['a', 'b']."""
  return [s.strip().rstrip('/') for s in (scopes or '').split(',')
          if s.strip().rstrip('/')]


def in_scopes(name, scopes):
  """Whether variable `name` lies in one of `scopes` (whole name parts)."""
  return any(name == s or name.startswith(s + '/') for s in scopes)


def _unmatched_scopes(scopes, variables):
  return [s for s in scopes
          if not any(in_scopes(v.op.name, [s]) for v in variables)]


def _scope_examples(variables):
  tops = sorted({v.op.name.split('/')[0] for v in variables})
  return ', '.join(tops[:5])


def variables_to_train(trainable_scopes):
  """Trainable variables under `trainable_scopes` (all when empty).

  Raises:
    ValueError: if a scope matches no trainable variable.
  """
  scopes = split_scopes(trainable_scopes)
  trainable = tf.trainable_variables()
  if not scopes:
    return trainable
  unmatched = _unmatched_scopes(scopes, trainable)
  if unmatched:
    raise UsageError(
        f'--trainable_scopes: {", ".join(map(repr, unmatched))} matches no '
        f'trainable variable of the model (top-level scopes: '
        f'{_scope_examples(trainable)}); fix the scope names.')
  return [v for v in trainable if in_scopes(v.op.name, scopes)]


def _suggested_exclusions(spec, mismatched_names):
  """The registry's scopes if they cover every mismatch, else the parents."""
  logits = list(spec.logits_scopes)
  if all(in_scopes(n, logits) for n in mismatched_names):
    return ','.join(logits)
  parents = sorted({n.rsplit('/', 1)[0] for n in mismatched_names})
  return ','.join(parents)


def build_init_fn(checkpoint_path, model_name, checkpoint_exclude_scopes=None,
                  ignore_missing_vars=False):
  """Restore function for fine-tuning from `checkpoint_path`.

  Call after the model is built. Restores the model variables (slim model
  variables) outside the exclude scopes. With checkpoint_exclude_scopes=None,
  the registry's logits scopes are excluded when any of their variables has a
  different shape in the checkpoint (a new number of classes).

  Returns:
    (init_fn(scaffold, session), list of restored variables).

  Raises:
    ValueError: missing checkpoint, an exclude scope matching no variable,
      shape mismatches (every mismatched variable is named and exclude scopes
      are suggested), or variables missing from the checkpoint without
      ignore_missing_vars.
  """
  checkpoint = checkpoint_utils.resolve_checkpoint(checkpoint_path)
  spec = nets_factory.get_spec(model_name)
  model_name = spec.name
  model_vars = slim.get_model_variables()
  if checkpoint_exclude_scopes is None:
    logits_vars = [v for v in model_vars
                   if in_scopes(v.op.name, spec.logits_scopes)]
    mismatched, _ = checkpoint_utils.compare_with_checkpoint(checkpoint,
                                                             logits_vars)
    exclusions = list(spec.logits_scopes) if mismatched else []
    if exclusions:
      logging.info('The logits of %s differ in shape from the model (%s): not '
                   'restoring %s', checkpoint, '; '.join(mismatched),
                   ', '.join(exclusions))
  else:
    exclusions = split_scopes(checkpoint_exclude_scopes)
    unmatched = _unmatched_scopes(exclusions, model_vars)
    if unmatched:
      raise UsageError(
          f'--checkpoint_exclude_scopes: {", ".join(map(repr, unmatched))} '
          f'matches no variable of {model_name} (its exclude scopes are '
          f'{spec.exclude_scopes}); fix the scope names.')
  restore = [v for v in model_vars if not in_scopes(v.op.name, exclusions)]
  mismatched, missing = checkpoint_utils.compare_with_checkpoint(checkpoint,
                                                               restore)
  if mismatched:
    # Names the registered network the checkpoint really is, if it is one.
    checkpoint_inspect.check_network(checkpoint, model_name)
    names = [m.split(' ', 1)[0] for m in mismatched]
    raise UsageError(
        f'Checkpoint {checkpoint} does not fit {model_name}: '
        f'{len(mismatched)} variables differ in shape: {"; ".join(mismatched)}.'
        f' Exclude them with --checkpoint_exclude_scopes='
        f'{_suggested_exclusions(spec, names)}.')
  if missing and not ignore_missing_vars:
    checkpoint_inspect.check_network(checkpoint, model_name)
    raise UsageError(
        f'Checkpoint {checkpoint} lacks {len(missing)} variables of '
        f'{model_name}: {", ".join(missing[:10])}'
        f'{" ..." if len(missing) > 10 else ""}; pass --ignore_missing_vars '
        'to train them from scratch, or exclude their scopes with '
        '--checkpoint_exclude_scopes.')
  if missing:
    logging.warning('--ignore_missing_vars: not restoring %d variables '
                    'missing from %s: %s', len(missing), checkpoint,
                    ', '.join(missing))
  restore = [v for v in restore if v.op.name not in missing]
  # Quantization ranges (global, not model, variables) come along when the
  # checkpoint has them (a quantized one); from a float one they start anew.
  ranges, new_ranges = quantize.restorable_ranges(
      checkpoint, quantize.range_variables())
  if new_ranges:
    logging.info('Quantization: %d range variables are not in %s and start '
                 'from their initial values.', len(new_ranges), checkpoint)
  restore += ranges
  if not restore:
    raise UsageError(f'Nothing to restore from {checkpoint}: every variable '
                     'of the model is excluded or missing; check '
                     '--checkpoint_exclude_scopes.')
  saver = tf.train.Saver(restore)
  logging.info('Fine-tuning: restoring %d variables from %s', len(restore),
               checkpoint)

  def init_fn(unused_scaffold, session):
    saver.restore(session, checkpoint)

  return init_fn, restore


class _LoggingHook(tf.train.SessionRunHook):
  """Logs step, loss, learning rate, images/sec and ETA every N steps."""

  def __init__(self, loss, learning_rate, global_step, every_n, batch_size,
               max_steps):
    self._fetches = {'loss': loss, 'lr': learning_rate, 'step': global_step}
    self._every_n = max(1, every_n)
    self._batch_size = batch_size
    self._max_steps = max_steps
    self._count = 0
    self._last_time = None
    self.last_values = None

  def before_run(self, run_context):
    return tf.train.SessionRunArgs(self._fetches)

  def after_run(self, run_context, run_values):
    self._count += 1
    values = run_values.results
    self.last_values = values
    if self._last_time is None:  # The first step includes graph start-up.
      self._last_time = time.time()
      self._count = 0
      return
    if self._count % self._every_n:
      return
    now = time.time()
    rate = self._count * self._batch_size / max(now - self._last_time, 1e-9)
    step = int(values['step'])
    eta = ''
    if self._max_steps:
      remaining = (self._max_steps - step) * self._batch_size / max(rate, 1e-9)
      eta = f', ETA {remaining:.0f}s'
    logging.info('step %d: loss = %.4f, lr = %.6g, %.1f images/sec%s', step,
                 values['loss'], values['lr'], rate, eta)
    self._last_time = now
    self._count = 0


class _StopOnSignal(tf.train.SessionRunHook):
  """SIGTERM / SIGINT request a clean stop after the current step.

  The stop goes through MonitoredSession, so the chief's CheckpointSaverHook
  writes a final checkpoint in end(). A second Ctrl-C interrupts at once.
  Used as a context manager that installs and restores the handlers (only
  possible in the main thread; elsewhere signals keep their handlers).
  """

  _SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.received = None
    self._previous = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in self._SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *unused_exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}

  def _handle(self, signum, unused_frame):
    if self.received is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.received = signal.Signals(signum).name
    logging.warning('Received %s: stopping after this step and writing a '
                    'final checkpoint.', self.received)

  def after_run(self, run_context, run_values):
    if self.received is not None:
      run_context.request_stop()


def _save_config(train_dir, cfg):
  os.makedirs(train_dir, exist_ok=True)
  dataset_utils.write_text_atomic(
      os.path.join(train_dir, CONFIG_FILENAME),
      json.dumps(dataclasses.asdict(cfg), indent=2, sort_keys=True) + '\n')


def deployment_config(cfg):
  """model_deploy.DeploymentConfig of the run."""
  # --clone_on_cpu clones each get a CPU device of their own (the session
  # is configured with that many), so they run in parallel; research/slim
  # put them all on /device:CPU:0.
  return model_deploy.DeploymentConfig(
      num_clones=cfg.num_clones, clone_on_cpu=cfg.clone_on_cpu,
      separate_cpu_devices=cfg.clone_on_cpu,
      replica_id=cfg.task, num_replicas=cfg.worker_replicas,
      num_ps_tasks=cfg.num_ps_tasks)


def _add_losses(logits, end_points, labels, num_classes, label_smoothing):
  """TF-Slim's classification losses, added to the LOSSES collection."""
  onehot = tf.one_hot(labels, num_classes)
  if 'AuxLogits' in end_points:
    aux = tf.reshape(end_points['AuxLogits'], [tf.shape(labels)[0], -1])
    tf.losses.softmax_cross_entropy(onehot, aux,
                                    label_smoothing=label_smoothing,
                                    weights=AUX_LOSS_WEIGHT, scope='aux_loss')
  logits = tf.reshape(logits, [tf.shape(labels)[0], -1])
  tf.losses.softmax_cross_entropy(onehot, logits,
                                  label_smoothing=label_smoothing, weights=1.0)


def _add_summaries(clones, first_clone_scope, total_loss, learning_rate,
                   grad_norm):
  """Input images, activations, sparsity, losses, variables, lr, grad norm."""
  outputs = clones[0].outputs
  tf.summary.image('images', outputs['images'], max_outputs=3)
  for name, tensor in outputs['end_points'].items():
    tf.summary.histogram('activations/' + name, tensor)
    tf.summary.scalar('sparsity/' + name, tf.nn.zero_fraction(tensor))
  for loss in tf.get_collection(tf.GraphKeys.LOSSES, first_clone_scope):
    tf.summary.scalar('losses/' + loss.op.name, loss)
  # model_deploy adds each clone's loss and the regularization loss.
  for variable in slim.get_model_variables():
    tf.summary.histogram('variables/' + variable.op.name, variable)
  tf.summary.scalar('losses/total_loss', total_loss)
  tf.summary.scalar('learning_rate', learning_rate)
  tf.summary.scalar('gradient_global_norm', grad_norm)


def build_train_graph(cfg, plan=None):
  """Builds input, clones, losses, train op and fine-tune restore.

  Call inside a fresh tf.Graph. `plan` is what plan_run(cfg) resolved
  (computed here when not given). Returns a dict: train_op (total loss after
  the update), loss, lr, global_step, init_fn (or None), sync_hooks (the
  SyncReplicasOptimizer's hooks, or []), restored (variables restored by
  init_fn), trained (variables trained).

  Raises:
    ValueError: unknown dataset/model/split, scopes matching nothing, a
      checkpoint that does not fit.
  """
  plan = plan or plan_run(cfg)
  spec, dataset = plan.spec, plan.dataset
  num_classes = dataset.num_classes - cfg.labels_offset
  opt = cfg.optimizer
  if cfg.seed is not None:
    tf.set_random_seed(cfg.seed)
  deploy = deployment_config(cfg)
  with tf.device(deploy.variables_device()):
    global_step = tf.train.get_or_create_global_step()

  network_fn = nets_factory.get_network_fn(
      spec, num_classes=num_classes, weight_decay=cfg.weight_decay,
      is_training=True)
  preprocessing_fn = preprocessing_factory.get_preprocessing(
      plan.preprocessing, is_training=True, use_grayscale=cfg.use_grayscale)
  # Inception's random crop is sampled from the JPEG header and only that
  # window is decoded (same crop distribution, much less decoding work).
  fused_crop = plan.preprocessing == 'inception'
  size = cfg.train_image_size or spec.default_image_size
  clone_batch = cfg.batch_size // cfg.num_clones
  with tf.device(deploy.inputs_device()):
    data = input_pipeline.build_dataset(
        dataset, preprocessing_fn,
        input_pipeline.InputConfig(
            batch_size=clone_batch, image_size=(size, size),
            is_training=True, num_readers=cfg.num_readers,
            num_parallel_calls=cfg.num_preprocessing_threads,
            labels_offset=cfg.labels_offset,
            seed=None if cfg.seed is None else cfg.seed + cfg.task,
            use_bboxes=True, fused_jpeg_crop=fused_crop))
    iterator = tf.data.make_one_shot_iterator(data)

  def clone_fn(iterator):
    with tf.device(deploy.inputs_device()):
      images, labels = iterator.get_next()
    if cfg.quantize_delay >= 0:
      images = quantize.quantize_input(images, plan.preprocessing)
    logits, end_points = network_fn(images)
    if cfg.quantize_delay >= 0:
      logits, end_points = quantize.rewrite_clone(
          logits, end_points, quant_delay=cfg.quantize_delay,
          freeze_bn_delay=cfg.freeze_bn_delay)
    _add_losses(logits, end_points, labels, num_classes, cfg.label_smoothing)
    return {'end_points': end_points, 'images': images}

  clones = model_deploy.create_clones(deploy, clone_fn, [iterator])
  first_clone_scope = deploy.clone_scope(0)
  # Batch-norm statistics are updated from the first clone only.
  update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS, first_clone_scope)
  bn_frozen = []  # Read before the optimizer increments the step.
  if cfg.quantize_delay >= 0 and cfg.freeze_bn_delay >= 0:
    bn_frozen.append(quantize.freeze_batch_norm_updates(
        update_ops, cfg.freeze_bn_delay))

  moving_average = moving_average_variables = None
  if cfg.moving_average_decay:
    moving_average_variables = slim.get_model_variables()
    moving_average = tf.train.ExponentialMovingAverage(
        cfg.moving_average_decay, global_step)

  replicas = cfg.replicas_to_aggregate or cfg.worker_replicas
  with tf.device(deploy.optimizer_device()):
    learning_rate = configure_learning_rate(
        opt, dataset.num_samples, cfg.batch_size, global_step,
        cfg.max_number_of_steps,
        replicas_to_aggregate=replicas if cfg.sync_replicas else 1)
    optimizer = configure_optimizer(opt, learning_rate)
    if cfg.sync_replicas:
      optimizer = tf.train.SyncReplicasOptimizer(
          optimizer, replicas_to_aggregate=replicas,
          total_num_replicas=cfg.worker_replicas,
          variable_averages=moving_average,
          variables_to_average=moving_average_variables)

  trained = variables_to_train(cfg.trainable_scopes)
  total_loss, grads_and_vars = model_deploy.optimize_clones(
      clones, optimizer, var_list=trained)
  grads = [g for g, _ in grads_and_vars]
  variables = [v for _, v in grads_and_vars]
  grad_norm = tf.linalg.global_norm(grads)
  if opt.clip_gradient_norm > 0:
    grads, _ = tf.clip_by_global_norm(grads, opt.clip_gradient_norm,
                                      use_norm=grad_norm)
  # The update runs only when loss and gradients are finite, so a NaN step
  # never reaches the variables (nor, through them, a checkpoint).
  checks = [tf.debugging.check_numerics(total_loss, _NON_FINITE + ' loss'),
            tf.debugging.check_numerics(grad_norm, _NON_FINITE + ' gradients')]
  with tf.control_dependencies(checks + bn_frozen):
    grad_updates = optimizer.apply_gradients(list(zip(grads, variables)),
                                             global_step=global_step)
  update_ops = list(update_ops) + [grad_updates]
  if moving_average is not None and not cfg.sync_replicas:
    with tf.control_dependencies([grad_updates]):
      update_ops.append(moving_average.apply(moving_average_variables))
  with tf.control_dependencies([tf.group(*update_ops)]):
    train_op = tf.identity(total_loss, name='train_op')
    # The step just completed, read after the update (for the logs).
    step_after = tf.identity(global_step.read_value(), name='step_after')

  if cfg.is_chief:
    _add_summaries(clones, first_clone_scope, total_loss, learning_rate,
                   grad_norm)
  init_fn, restored = None, []
  if cfg.checkpoint_path:
    if plan.resuming:
      logging.info('Ignoring --checkpoint_path: %s holds a checkpoint, '
                   'training resumes from it.', cfg.train_dir)
    else:
      init_fn, restored = build_init_fn(
          cfg.checkpoint_path, spec, cfg.checkpoint_exclude_scopes,
          cfg.ignore_missing_vars)
  elif cfg.checkpoint_exclude_scopes:
    logging.warning('--checkpoint_exclude_scopes has no effect without '
                    '--checkpoint_path.')
  sync_hooks = []
  if cfg.sync_replicas:
    sync_hooks.append(optimizer.make_session_run_hook(cfg.is_chief))
    if cfg.is_chief:
      sync_hooks.append(_ReleaseWaitingWorkers(
          optimizer.get_init_tokens_op(cfg.worker_replicas)))
  return {'train_op': train_op, 'loss': total_loss, 'lr': learning_rate,
          'global_step': global_step, 'step_after': step_after, 'init_fn': init_fn,
          'sync_hooks': sync_hooks, 'restored': restored, 'trained': trained,
          'deploy': deploy}


class _ReleaseWaitingWorkers(tf.train.SessionRunHook):
  """The sync chief's last act: one token for every worker.

  A SyncReplicasOptimizer worker's step ends by taking a token that the
  chief pushes once it has aggregated a step's gradients. After the chief's
  last step nothing aggregates any more, so a worker inside a step would
  wait for ever; these tokens let it finish that step, see the last global
  step and stop by itself.
  """

  def __init__(self, tokens_op):
    self._tokens_op = tokens_op

  def end(self, session):
    session.run(self._tokens_op)


def _session_config(cfg, deploy):
  config = performance.session_config(
      inter_op_threads=cfg.inter_op_threads,
      intra_op_threads=cfg.intra_op_threads, xla=cfg.xla,
      mixed_precision=cfg.mixed_precision, config=deploy.session_config(),
      master=cfg.master)
  if cfg.master and (cfg.num_ps_tasks > 0 or cfg.worker_replicas > 1):
    # Talk only to the parameter servers and this worker, so a worker can
    # (re)start while the others are down.
    config.device_filters.extend(['/job:ps', f'/job:worker/task:{cfg.task}'])
  return config


class _WorkerSessionCreator(tf.train.SessionCreator):
  """A non-chief worker's session, polling every second for the chief.

  tf.train.WorkerSessionCreator waits 30 s between checks that the chief has
  initialised the variables, so a worker that starts first idles that long.
  """

  def __init__(self, scaffold, master, config, max_wait_secs=30 * 60):
    self._scaffold = scaffold
    self._master = master
    self._config = config
    self._max_wait_secs = max_wait_secs

  def create_session(self):
    self._scaffold.finalize()
    manager = tf.train.SessionManager(
        local_init_op=self._scaffold.local_init_op,
        local_init_feed_dict=self._scaffold.local_init_feed_dict,
        ready_op=self._scaffold.ready_op,
        ready_for_local_init_op=self._scaffold.ready_for_local_init_op,
        graph=tf.get_default_graph(), recovery_wait_secs=1)
    return manager.wait_for_session(self._master, config=self._config,
                                    max_wait_secs=self._max_wait_secs)


def _monitored_session(cfg, scaffold, hooks, deploy):
  """The chief's MonitoredTrainingSession, or a worker's MonitoredSession."""
  config = _session_config(cfg, deploy)
  rewrite = config.graph_options.rewrite_options
  bf16 = rewrite.auto_mixed_precision_onednn_bfloat16 == rewrite.ON
  logging.info('Precision: %s (--mixed_precision=%s)',
               'bfloat16 compute, float32 variables' if bf16 else 'float32',
               cfg.mixed_precision)
  # tf.data needs no queue runners; only SyncReplicasOptimizer's chief runner
  # may block at the end, so do not wait the default 2 minutes.
  grace = 5
  if not cfg.is_chief:
    return tf.train.MonitoredSession(
        session_creator=_WorkerSessionCreator(scaffold, cfg.master, config),
        hooks=hooks, stop_grace_period_secs=grace)
  return tf.train.MonitoredTrainingSession(
      master=cfg.master, is_chief=True, checkpoint_dir=cfg.train_dir,
      scaffold=scaffold, hooks=hooks,
      save_checkpoint_secs=cfg.save_interval_secs,
      save_summaries_secs=cfg.save_summaries_secs,
      save_summaries_steps=None, log_step_count_steps=0,
      stop_grace_period_secs=grace, config=config)


def _non_finite_error(cfg, logging_hook):
  """NonFiniteLossError saying where the run can restart from."""
  values = logging_hook.last_values or {}
  step = int(values['step']) if values else 0
  state = tf.train.get_checkpoint_state(cfg.train_dir)
  kept = [os.path.basename(p) for p in (
      state.all_model_checkpoint_paths if state else [])]
  last_finite = (f' The last finite loss was {values["loss"]:.4g} at step '
                 f'{step}.' if values else '')
  if kept:
    where = (f' Checkpoints kept: {", ".join(kept)}. Running again resumes '
             f'from {kept[-1]}; if the loss was already rising there, start '
             f'a new --train_dir with --checkpoint_path='
             f'{os.path.join(cfg.train_dir, kept[0])} (an earlier one).')
  else:
    where = ' No checkpoint was written yet: running again starts over.'
  return NonFiniteLossError(
      f'Training stopped after step {step}: the loss or the gradients became '
      f'NaN or Inf; the update was not applied.{last_finite}{where} Lower '
      '--learning_rate (or set --clip_gradient_norm).')


def _is_non_finite(error):
  message = error.message or ''
  return (_NON_FINITE in message or 'Nan in summary histogram' in message or
          'Infinity in summary histogram' in message)


@dataclasses.dataclass(frozen=True)
class RunPlan:
  """What a run resolves once, before anything is written.

  Attributes:
    spec: the network's registry record.
    dataset: the dataset spec of the training split.
    preprocessing: the preprocessing family.
    resuming: --train_dir holds a checkpoint to resume from.
  """
  spec: nets_factory.NetSpec
  dataset: dataset_utils.DatasetSpec
  preprocessing: str
  resuming: bool


def plan_run(cfg):
  """Validates cfg and resolves network, dataset and preprocessing once.

  Writes nothing. Raises UsageError for anything that cannot work: bad flag
  values, an unknown model/dataset/split, a --train_dir that is a file, a
  missing fine-tuning checkpoint.
  """
  spec = validate_config(cfg)
  dataset = dataset_factory.get_dataset(cfg.dataset_name,
                                        cfg.dataset_split_name,
                                        cfg.dataset_dir)
  preprocessing = preprocessing_factory.resolve_family(
      cfg.preprocessing_name or spec.name)
  if os.path.exists(cfg.train_dir) and not os.path.isdir(cfg.train_dir):
    raise UsageError(f'--train_dir={cfg.train_dir} is a file, not a '
                     'directory; choose another --train_dir.')
  resuming = bool(os.path.isdir(cfg.train_dir) and
                  tf.train.get_checkpoint_state(cfg.train_dir))
  if cfg.checkpoint_path and not resuming:
    checkpoint_utils.resolve_checkpoint(cfg.checkpoint_path)
  return RunPlan(spec=spec, dataset=dataset, preprocessing=preprocessing,
                 resuming=resuming)


# Fields of train_config.json a resumed run may not change silently: they
# define the model, its data or its schedule (the optimizer's fields too).
_RESUME_FIELDS = ('model_name', 'dataset_name', 'dataset_split_name',
                  'batch_size', 'num_clones', 'train_image_size',
                  'labels_offset', 'preprocessing_name', 'use_grayscale',
                  'weight_decay', 'label_smoothing', 'moving_average_decay',
                  'trainable_scopes', 'sync_replicas', 'worker_replicas',
                  'replicas_to_aggregate', 'quantize_delay', 'freeze_bn_delay')


def config_changes(recorded, cfg):
  """['--flag: recorded -> now'] for the fields a resume must keep."""
  now = dataclasses.asdict(cfg)
  names = list(_RESUME_FIELDS)
  if now['optimizer']['learning_rate_decay_type'] == 'cosine':
    names.append('max_number_of_steps')  # It sets the cosine's length.
  changes = [f'--{n}: {recorded.get(n)!r} -> {now[n]!r}' for n in names
             if n in recorded and recorded.get(n) != now[n]]
  old_opt = recorded.get('optimizer') or {}
  changes += [f'--{n}: {old_opt.get(n)!r} -> {v!r}'
              for n, v in now['optimizer'].items()
              if n in old_opt and old_opt.get(n) != v]
  return changes


def _read_recorded_config(train_dir):
  path = os.path.join(train_dir, CONFIG_FILENAME)
  if not os.path.exists(path):
    return None
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise UsageError(f'{path} is unreadable ({e}); it records the run this '
                     '--train_dir resumes: restore it, or pass '
                     '--allow_config_change to record the current flags.'
                     ) from None


def _check_resume_config(cfg):
  """A resumed run keeps the recorded model, data and schedule."""
  recorded = _read_recorded_config(cfg.train_dir)
  if recorded is None:
    return
  changes = config_changes(recorded, cfg)
  if not changes:
    return
  if cfg.allow_config_change:
    logging.warning('--allow_config_change: resuming %s with changed '
                    'settings: %s', cfg.train_dir, '; '.join(changes))
    return
  raise UsageError(
      f'--train_dir={cfg.train_dir} holds a run recorded with other settings '
      f'({"; ".join(changes)}); resuming would mix them. Use the recorded '
      f'flags ({CONFIG_FILENAME}), another --train_dir, or '
      '--allow_config_change to resume with the new ones.')


def _check_writable(train_dir):
  try:
    os.makedirs(train_dir, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix='.write_test_', dir=train_dir)
    os.close(fd)
    os.remove(probe)
  except OSError as e:
    raise UsageError(f'--train_dir={train_dir} is not writable '
                     f'({e.strerror}); choose a writable directory or fix '
                     'its permissions.') from None


def _checkpoint_bytes(variables):
  return sum(v.shape.num_elements() * v.dtype.base_dtype.size
             for v in variables if v.shape.is_fully_defined())


def _check_free_space(train_dir, variables):
  """One checkpoint (twice: the next is written before the old is deleted)
  plus room for summaries must fit, or the run stops before it starts."""
  needed = 2 * _checkpoint_bytes(variables) + (16 << 20)
  free = shutil.disk_usage(train_dir).free
  if free < needed:
    raise UsageError(
        f'--train_dir={train_dir} has {free / 2**20:.1f} MiB free; a '
        f'checkpoint of this model needs about {needed / 2**20:.1f} MiB. '
        'Free space or choose another --train_dir.')


def _remove_partial_checkpoints(train_dir):
  """Deletes the temporary files a failed checkpoint write leaves."""
  try:
    names = os.listdir(train_dir)
  except OSError:
    return
  for name in names:
    if '_temp' in name or '.tempstate' in name:
      path = os.path.join(train_dir, name)
      try:
        if os.path.isdir(path):
          shutil.rmtree(path)
        else:
          os.remove(path)
        logging.info('Removed the partial checkpoint file %s', path)
      except OSError:
        pass


def _checkpoint_is_intact(prefix):
  """True when every tensor of checkpoint `prefix` reads (checksums)."""
  try:
    reader = tf.train.load_checkpoint(prefix)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
    return True
  # The reader raises IndexError ('Read less bytes than requested') for a
  # truncated .data file, OpErrors for checksum failures.
  except (tf.errors.OpError, ValueError, OSError, IndexError) as e:
    logging.warning('Checkpoint %s is damaged (%s).', prefix,
                    errors.tf_reason(e))
    return False


def _resume_from_intact_checkpoint(train_dir):
  """Points --train_dir's checkpoint state at its newest intact checkpoint.

  Damaged checkpoints (a truncated or bit-flipped .data/.index file) are
  renamed to <name>.damaged.<suffix>, kept for inspection, and the
  previous intact one is used, with a warning.

  Raises:
    UsageError: no checkpoint in train_dir is intact.
  """
  state = tf.train.get_checkpoint_state(train_dir)
  if not state:
    return None
  paths = list(state.all_model_checkpoint_paths) or [
      state.model_checkpoint_path]
  paths = [p if os.path.isabs(p) else os.path.join(train_dir, p)
           for p in paths]
  newest_first = list(reversed(paths))
  for i, prefix in enumerate(newest_first):
    if _checkpoint_is_intact(prefix):
      if i:
        for damaged in newest_first[:i]:
          for path in tf.io.gfile.glob(damaged + '.*'):
            base = os.path.basename(damaged)
            suffix = os.path.basename(path)[len(base) + 1:]
            os.replace(path, os.path.join(
                os.path.dirname(path), f'{base}.damaged.{suffix}'))
        kept = [os.path.basename(p) for p in reversed(newest_first[i:])]
        tf.train.update_checkpoint_state(
            train_dir, os.path.basename(prefix),
            all_model_checkpoint_paths=kept)
        logging.warning('Resuming from %s, the newest intact checkpoint; the '
                        'damaged newer ones were renamed *.damaged.*.', prefix)
      return prefix
  raise UsageError(
      f'No checkpoint in --train_dir={train_dir} is intact (all of '
      f'{", ".join(os.path.basename(p) for p in paths)} fail their '
      'checksums); move them away to start over, or restore them from a '
      'backup.')


def _wait_for_master(master, wait_secs):
  """Waits (bounded, logged back-off) until --master accepts connections."""
  address = master.split('://', 1)[-1]
  host, _, port = address.rpartition(':')
  if not host or not port.isdigit():
    raise UsageError(f'--master={master} is not grpc://HOST:PORT.')
  cluster.wait_until_reachable(
      address, f'--master={master}', wait_secs,
      fix='start its server (start_tf_server.py), fix the address, or wait '
      'longer with --master_wait_secs')


@contextlib.contextmanager
def _default_signals():
  """SIGTERM and Ctrl-C end the process at once while TensorFlow blocks in
  C++ (connecting, restoring), where Python handlers would never run."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  previous = {sig: signal.signal(sig, signal.SIG_DFL)
              for sig in (signal.SIGTERM, signal.SIGINT)}
  try:
    yield
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)


class CorruptDataError(UsageError):
  """A training record could not be read or decoded."""


def train(cfg):
  """Trains to cfg.max_number_of_steps (or until a signal).

  Everything is validated before anything is written; the chief holds
  --train_dir's lock for the run's life; a resumed run keeps its recorded
  configuration (cfg.allow_config_change overrides) and starts from the
  newest intact checkpoint.

  Returns:
    dict with the last 'loss', 'lr' and 'step' seen, and 'stopped_by' (the
    signal name, or None).

  Raises:
    UsageError: bad configuration (before any graph is built), bad scopes or
      checkpoint (before any session), a damaged checkpoint, corrupt data
      (CorruptDataError, after a checkpoint of the last step is written),
      NonFiniteLossError, or a --train_dir in use by another run.
  """
  plan = plan_run(cfg)
  if cfg.master:
    _wait_for_master(cfg.master, cfg.master_wait_secs)
  lock = contextlib.nullcontext()
  created = not os.path.exists(cfg.train_dir)
  if cfg.is_chief:
    _check_writable(cfg.train_dir)
    lock = train_dir_lock.TrainDirLock(cfg.train_dir)
  try:
    with lock:
      if cfg.is_chief and plan.resuming:
        _check_resume_config(cfg)
        _resume_from_intact_checkpoint(cfg.train_dir)
      try:
        return _train(cfg, plan)
      except (tf.errors.ResourceExhaustedError, OSError):
        if cfg.is_chief:
          _remove_partial_checkpoints(cfg.train_dir)
        raise
  finally:
    # A run that stopped before writing anything leaves no empty directory.
    if created and cfg.is_chief and os.path.isdir(cfg.train_dir) and (
        not os.listdir(cfg.train_dir)):
      os.rmdir(cfg.train_dir)


def _train(cfg, plan):
  with tf.Graph().as_default():
    ops = build_train_graph(cfg, plan)
    if cfg.is_chief:
      _check_free_space(cfg.train_dir, tf.global_variables())
      _save_config(cfg.train_dir, cfg)
    logging_hook = _LoggingHook(ops['loss'], ops['lr'], ops['step_after'],
                                cfg.log_every_n_steps, cfg.batch_size,
                                cfg.max_number_of_steps)
    stopper = _StopOnSignal()
    hooks = [logging_hook, stopper, tf.train.NanTensorHook(ops['loss'])]
    hooks.extend(ops['sync_hooks'])
    if cfg.max_number_of_steps:
      hooks.append(tf.train.StopAtStepHook(last_step=cfg.max_number_of_steps))
    scaffold = tf.train.Scaffold(
        init_fn=ops['init_fn'],
        saver=tf.train.Saver(max_to_keep=5, save_relative_paths=True,
                             sharded=cfg.num_ps_tasks > 0))
    start = time.time()
    data_error = None
    try:
      with _default_signals():
        session = _create_session(cfg, scaffold, hooks, ops['deploy'])
      with stopper, session:
        while not session.should_stop():
          try:
            session.run(ops['train_op'])
          except (tf.errors.DataLossError,
                  tf.errors.InvalidArgumentError) as e:
            if _is_non_finite(e):
              raise
            # Leaving the `with` normally writes the final checkpoint.
            data_error = e
            break
    except tf.train.NanLossDuringTrainingError:
      raise _non_finite_error(cfg, logging_hook) from None
    except tf.errors.InvalidArgumentError as e:
      if _is_non_finite(e):
        raise _non_finite_error(cfg, logging_hook) from None
      raise
    if data_error is not None:
      label_error = input_pipeline.label_range_error(data_error)
      if label_error is not None:
        raise CorruptDataError(
            f'Training stopped at step {_last_step(logging_hook)} (a '
            f'checkpoint of it was written): {label_error}') from None
      raise CorruptDataError(
          f'Training stopped at step {_last_step(logging_hook)}: a record of '
          f'{plan.dataset.name} {plan.dataset.split_name} '
          f'({plan.dataset.file_pattern}) cannot be read '
          f'({errors.tf_reason(data_error)}); a checkpoint of the last step '
          'was written. Convert the dataset again, then run the same command to '
          'resume.')
    values = dict(logging_hook.last_values or {})
    values['stopped_by'] = stopper.received
    logging.info('%s training at step %s after %.1fs; last loss %.4f',
                 f'Stopped by {stopper.received}:' if stopper.received
                 else 'Finished', values.get('step'), time.time() - start,
                 values.get('loss', float('nan')))
    return values


def _create_session(cfg, scaffold, hooks, deploy):
  """The monitored session; a checkpoint that cannot be restored (resume or
  --checkpoint_path) is reported as such, not as a data problem."""
  try:
    return _monitored_session(cfg, scaffold, hooks, deploy)
  except (tf.errors.DataLossError, tf.errors.InvalidArgumentError,
          tf.errors.OutOfRangeError, tf.errors.NotFoundError) as e:
    resumed = tf.train.latest_checkpoint(cfg.train_dir)
    if resumed:
      source, fix = resumed, ('move its files out of --train_dir to resume '
                              'from the one before')
    else:
      source = checkpoint_utils.resolve_checkpoint(cfg.checkpoint_path)
      fix = 'pass another --checkpoint_path'
    raise UsageError(
        f'Checkpoint {source} cannot be restored ({errors.tf_reason(e)}): '
        f'it is damaged or does not belong to this model; {fix}.') from None


def _last_step(logging_hook):
  values = logging_hook.last_values
  return int(values['step']) if values else 0


def run(cfg):
  """Trains (see train()); returns its dict."""
  return train(cfg)
