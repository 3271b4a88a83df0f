"""Trains or fine-tunes a network of the zoo on a TFRecord dataset.

Usage (from scratch):
  python train_image_classifier.py --train_dir=/tmp/train --dataset_name=digits \
      --dataset_dir=/tmp/digits --model_name=lenet --max_number_of_steps=1000

Fine-tuning adds --checkpoint_path (file or directory) and usually
--checkpoint_exclude_scopes / --trainable_scopes; by default the exclude scopes
come from the registry when the class count differs from the checkpoint's.
Checkpoints and TensorBoard summaries go to --train_dir; running the same
command again resumes from the latest checkpoint there.
"""

import dataclasses
import json
import os
import sys
import time

from absl import app
from absl import flags
from absl import logging

import checkpoint_utils
import common_flags
from datasets import dataset_factory
from datasets import dataset_utils
from datasets import input_pipeline
from nets import nets_factory
from nets.compat import slim, tf
from preprocessing import preprocessing_factory

common_flags.define_model_flags()
common_flags.define_dataset_flags()
common_flags.define_preprocessing_flags()
common_flags.define_batch_size_flag(32)

flags.DEFINE_string('train_dir', '/tmp/tfmodel/',
                    'Directory for checkpoints and event logs.')
flags.DEFINE_string('master', '', 'Address of the TensorFlow master.')
flags.DEFINE_integer('log_every_n_steps', 10,
                     'How often (in steps) to log loss and speed.')
flags.DEFINE_integer('save_summaries_secs', 600,
                     'How often (in seconds) to write summaries.')
flags.DEFINE_integer('save_interval_secs', 600,
                     'How often (in seconds) to save a checkpoint.')
flags.DEFINE_float('weight_decay', 0.00004, 'L2 weight decay of the model.')
flags.DEFINE_enum('optimizer', 'rmsprop',
                  ['adadelta', 'adagrad', 'adam', 'ftrl', 'momentum', 'sgd',
                   'rmsprop'], 'Optimizer.')
flags.DEFINE_float('adadelta_rho', 0.95, 'Decay rate of adadelta.')
flags.DEFINE_float('adagrad_initial_accumulator_value', 0.1,
                   'Starting value of the AdaGrad accumulators.')
flags.DEFINE_float('adam_beta1', 0.9, 'Adam beta1.')
flags.DEFINE_float('adam_beta2', 0.999, 'Adam beta2.')
flags.DEFINE_float('opt_epsilon', 1.0, 'Epsilon of the optimizer.')
flags.DEFINE_float('ftrl_learning_rate_power', -0.5, 'FTRL learning rate power.')
flags.DEFINE_float('ftrl_initial_accumulator_value', 0.1,
                   'FTRL initial accumulator value.')
flags.DEFINE_float('ftrl_l1', 0.0, 'FTRL l1 regularization strength.')
flags.DEFINE_float('ftrl_l2', 0.0, 'FTRL l2 regularization strength.')
flags.DEFINE_float('momentum', 0.9, 'Momentum of MomentumOptimizer.')
flags.DEFINE_float('rmsprop_momentum', 0.9, 'Momentum of RMSProp.')
flags.DEFINE_float('rmsprop_decay', 0.9, 'Decay of RMSProp.')
flags.DEFINE_enum('learning_rate_decay_type', 'exponential',
                  ['fixed', 'exponential', 'polynomial'],
                  'How the learning rate decays.')
flags.DEFINE_float('learning_rate', 0.01, 'Initial learning rate.')
flags.DEFINE_float('end_learning_rate', 0.0001,
                   'Final learning rate of the polynomial decay.')
flags.DEFINE_float('label_smoothing', 0.0, 'Label smoothing amount.')
flags.DEFINE_float('learning_rate_decay_factor', 0.94,
                   'Learning rate decay factor.')
flags.DEFINE_float('num_epochs_per_decay', 2.0,
                   'Epochs after which the learning rate decays.')
flags.DEFINE_integer('train_image_size', None,
                     'Training image size; None takes the registry default.')
flags.DEFINE_integer('max_number_of_steps', None,
                     'Number of training steps (None = until stopped).')
flags.DEFINE_string('checkpoint_path', None,
                    'Checkpoint file or directory to fine-tune from.')
flags.DEFINE_string('checkpoint_exclude_scopes', None,
                    'Comma-separated scopes not restored from '
                    '--checkpoint_path; None takes the registry\'s logits '
                    'scopes when the class count differs from the checkpoint.')
flags.DEFINE_string('trainable_scopes', None,
                    'Comma-separated scopes to train; None trains all.')
flags.DEFINE_bool('ignore_missing_vars', False,
                  'Skip variables missing from the checkpoint.')
flags.DEFINE_integer('seed', None, 'Graph-level random seed.')

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  optimizer: str = 'rmsprop'
  learning_rate: float = 0.01
  learning_rate_decay_type: str = 'exponential'
  learning_rate_decay_factor: float = 0.94
  num_epochs_per_decay: float = 2.0
  end_learning_rate: float = 0.0001
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
  master: str = ''
  seed: int = None
  optimizer: OptimizerConfig = OptimizerConfig()


def configure_learning_rate(cfg, num_samples_per_epoch, batch_size,
                            global_step):
  """Learning-rate tensor of the schedule in `cfg` (an OptimizerConfig)."""
  decay_steps = int(num_samples_per_epoch * cfg.num_epochs_per_decay /
                    batch_size)
  decay_steps = max(decay_steps, 1)
  if cfg.learning_rate_decay_type == 'exponential':
    return tf.train.exponential_decay(
        cfg.learning_rate, global_step, decay_steps,
        cfg.learning_rate_decay_factor, staircase=True,
        name='exponential_decay_learning_rate')
  if cfg.learning_rate_decay_type == 'fixed':
    return tf.constant(cfg.learning_rate, name='fixed_learning_rate')
  if cfg.learning_rate_decay_type == 'polynomial':
    return tf.train.polynomial_decay(
        cfg.learning_rate, global_step, decay_steps, cfg.end_learning_rate,
        power=1.0, cycle=False, name='polynomial_decay_learning_rate')
  raise ValueError(f'Unknown learning_rate_decay_type '
                   f'{cfg.learning_rate_decay_type!r}; valid: exponential, '
                   'fixed, polynomial.')


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
  raise ValueError(f'Unknown optimizer {name!r}; valid: adadelta, adagrad, '
                   'adam, ftrl, momentum, rmsprop, sgd.')


def _split_scopes(scopes):
  return [s.strip() for s in (scopes or '').split(',') if s.strip()]


def variables_to_train(trainable_scopes):
  """Trainable variables under `trainable_scopes` (all when empty)."""
  scopes = _split_scopes(trainable_scopes)
  if not scopes:
    return tf.trainable_variables()
  selected = []
  for scope in scopes:
    found = tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope)
    if not found:
      raise ValueError(f'--trainable_scopes: scope {scope!r} matches no '
                       'trainable variable of the model.')
    selected.extend(found)
  return selected


def _fine_tune_init_fn(cfg, num_classes):
  """Returns an init_fn restoring --checkpoint_path, or None."""
  if not cfg.checkpoint_path:
    return None
  checkpoint = checkpoint_utils.resolve_checkpoint(cfg.checkpoint_path)
  exclusions = _split_scopes(cfg.checkpoint_exclude_scopes)
  spec = nets_factory.get_spec(cfg.model_name)
  if cfg.checkpoint_exclude_scopes is None and num_classes != spec.num_classes:
    exclusions = list(spec.logits_scopes)
    logging.info('Fine-tuning on %d classes (checkpoint has %d): not restoring '
                 '%s', num_classes, spec.num_classes, ', '.join(exclusions))
  model_vars = slim.get_model_variables()
  restore = [v for v in model_vars
             if not any(v.op.name == s or v.op.name.startswith(s + '/')
                        for s in exclusions)]
  mismatched, missing = checkpoint_utils.compare_with_checkpoint(checkpoint,
                                                               restore)
  if mismatched:
    raise ValueError(
        f'Checkpoint {checkpoint} does not fit the model: shape mismatch for '
        f'{"; ".join(mismatched)}. Exclude these with '
        f'--checkpoint_exclude_scopes={spec.exclude_scopes}.')
  if missing and not cfg.ignore_missing_vars:
    raise ValueError(
        f'Checkpoint {checkpoint} lacks {len(missing)} model variables '
        f'(first: {", ".join(missing[:5])}); pass --ignore_missing_vars or '
        'exclude their scopes with --checkpoint_exclude_scopes.')
  if missing:
    logging.warning('Not restoring %d variables missing from the checkpoint: '
                    '%s', len(missing), ', '.join(missing))
  restore = [v for v in restore if v.op.name not in missing]
  saver = tf.train.Saver(restore)
  logging.info('Restoring %d variables from %s', len(restore), checkpoint)

  def init_fn(unused_scaffold, session):
    saver.restore(session, checkpoint)

  return init_fn


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
    if self._last_time is None:
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


def _save_flags(train_dir, cfg):
  os.makedirs(train_dir, exist_ok=True)
  dataset_utils.write_text_atomic(
      os.path.join(train_dir, 'train_config.json'),
      json.dumps(dataclasses.asdict(cfg), indent=2, sort_keys=True) + '\n')


def build_train_graph(cfg):
  """Builds input, model, loss and train op; returns a dict of tensors."""
  spec = nets_factory.get_spec(cfg.model_name)
  dataset = dataset_factory.get_dataset(cfg.dataset_name,
                                        cfg.dataset_split_name,
                                        cfg.dataset_dir)
  num_classes = dataset.num_classes - cfg.labels_offset
  if cfg.seed is not None:
    tf.set_random_seed(cfg.seed)
  global_step = tf.train.get_or_create_global_step()
  network_fn = nets_factory.get_network_fn(
      cfg.model_name, num_classes=num_classes, weight_decay=cfg.weight_decay,
      is_training=True)
  preprocessing_fn = preprocessing_factory.get_preprocessing(
      cfg.preprocessing_name or cfg.model_name, is_training=True,
      use_grayscale=cfg.use_grayscale)
  size = cfg.train_image_size or spec.default_image_size
  input_config = input_pipeline.InputConfig(
      batch_size=cfg.batch_size, image_size=(size, size), is_training=True,
      num_readers=cfg.num_readers,
      num_parallel_calls=cfg.num_preprocessing_threads,
      labels_offset=cfg.labels_offset, seed=cfg.seed, use_bboxes=True)
  with tf.device('/cpu:0'):
    data = input_pipeline.build_dataset(dataset, preprocessing_fn,
                                        input_config)
    images, labels = tf.data.make_one_shot_iterator(data).get_next()
  logits, end_points = network_fn(images)
  onehot = tf.one_hot(labels, num_classes)
  if 'AuxLogits' in end_points:
    tf.losses.softmax_cross_entropy(onehot, end_points['AuxLogits'],
                                    label_smoothing=cfg.label_smoothing,
                                    weights=0.4, scope='aux_loss')
  tf.losses.softmax_cross_entropy(onehot, logits,
                                  label_smoothing=cfg.label_smoothing,
                                  weights=1.0)
  total_loss = tf.losses.get_total_loss(name='total_loss')
  learning_rate = configure_learning_rate(cfg.optimizer, dataset.num_samples,
                                          cfg.batch_size, global_step)
  optimizer = configure_optimizer(cfg.optimizer, learning_rate)
  train_op = slim.learning.create_train_op(
      total_loss, optimizer, global_step=global_step,
      variables_to_train=variables_to_train(cfg.trainable_scopes))
  tf.summary.scalar('total_loss', total_loss)
  tf.summary.scalar('learning_rate', learning_rate)
  tf.summary.image('images', images, max_outputs=3)
  for name, tensor in end_points.items():
    tf.summary.histogram('activations/' + name, tensor)
  init_fn = _fine_tune_init_fn(cfg, num_classes)
  return {'train_op': train_op, 'loss': total_loss, 'lr': learning_rate,
          'global_step': global_step, 'init_fn': init_fn}


def train(cfg):
  """Runs training to cfg.max_number_of_steps; returns the final loss."""
  if cfg.batch_size <= 0:
    raise ValueError(f'--batch_size must be positive, got {cfg.batch_size}.')
  _save_flags(cfg.train_dir, cfg)
  with tf.Graph().as_default():
    ops = build_train_graph(cfg)
    logging_hook = _LoggingHook(ops['loss'], ops['lr'], ops['global_step'],
                                cfg.log_every_n_steps, cfg.batch_size,
                                cfg.max_number_of_steps)
    hooks = [logging_hook, tf.train.NanTensorHook(ops['loss'])]
    if cfg.max_number_of_steps:
      hooks.append(tf.train.StopAtStepHook(last_step=cfg.max_number_of_steps))
    scaffold = tf.train.Scaffold(
        init_fn=ops['init_fn'],
        saver=tf.train.Saver(max_to_keep=5, save_relative_paths=True))
    start = time.time()
    with tf.train.MonitoredTrainingSession(
        master=cfg.master, is_chief=True, checkpoint_dir=cfg.train_dir,
        scaffold=scaffold, hooks=hooks,
        save_checkpoint_secs=cfg.save_interval_secs,
        save_summaries_secs=cfg.save_summaries_secs,
        log_step_count_steps=0) as session:
      while not session.should_stop():
        session.run(ops['train_op'])
    values = logging_hook.last_values or {}
    logging.info('Finished training at step %s in %.1fs; last loss %.4f',
                 values.get('step'), time.time() - start,
                 values.get('loss', float('nan')))
    return values


def config_from_flags():
  opt = OptimizerConfig(**{f.name: getattr(FLAGS, f.name)
                           for f in dataclasses.fields(OptimizerConfig)})
  names = [f.name for f in dataclasses.fields(TrainConfig)
           if f.name != 'optimizer']
  return TrainConfig(optimizer=opt, **{n: getattr(FLAGS, n) for n in names})


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)

  def run():
    if not FLAGS.dataset_dir:
      raise ValueError('--dataset_dir is required: the directory with the '
                       'dataset\'s TFRecords.')
    try:
      train(config_from_flags())
    except tf.train.NanLossDuringTrainingError:
      raise ValueError('Training stopped: the loss became NaN. The last good '
                       f'checkpoint in {FLAGS.train_dir} is kept; lower '
                       '--learning_rate and resume.') from None
    except tf.errors.DataLossError as e:
      raise ValueError(f'Corrupt TFRecord data in {FLAGS.dataset_dir} '
                       f'({e.message}); convert the dataset again.') from None

  common_flags.run_or_exit(run)


if __name__ == '__main__':
  sys.exit(app.run(main, flags_parser=common_flags.parse_flags_or_exit))
