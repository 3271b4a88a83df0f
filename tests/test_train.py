"""train_image_classifier: schedules, optimizers, fine-tuning, frozen scopes,
moving averages, clones, summaries, NaN guard, bad flags, crash safety.

Library functions run in-process on lenet + digits (batch 4, a few steps);
only the crash tests (SIGKILL / SIGTERM) and the one-line error exit run the
script as a subprocess.
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from slim_zoo import performance
from slim_zoo import train as train_lib
from slim_zoo.nets import nets_factory
from slim_zoo.nets.compat import slim, tf
from tests import train_helpers as th

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------- learning rates


def _lr_at(opt, steps, num_samples=100, batch_size=10, max_steps=None,
           replicas=1):
  with tf.Graph().as_default():
    step = tf.placeholder(tf.int64, [])
    lr = train_lib.configure_learning_rate(opt, num_samples, batch_size, step,
                                           max_steps, replicas)
    with tf.Session() as session:
      return [float(session.run(lr, {step: s})) for s in steps]


def test_learning_rate_schedules_numerically():
  # 100 examples / batch 10 = 10 steps per epoch; 2 epochs per decay = 20.
  base = dict(learning_rate=0.1, num_epochs_per_decay=2.0,
              end_learning_rate=0.01)
  opt = train_lib.OptimizerConfig
  np.testing.assert_allclose(
      _lr_at(opt(learning_rate_decay_type='fixed', **base), [0, 7, 500]),
      [0.1, 0.1, 0.1], rtol=1e-6)
  np.testing.assert_allclose(
      _lr_at(opt(learning_rate_decay_type='exponential',
                 learning_rate_decay_factor=0.5, **base), [0, 19, 20, 45]),
      [0.1, 0.1, 0.05, 0.025], rtol=1e-6)
  np.testing.assert_allclose(
      _lr_at(opt(learning_rate_decay_type='polynomial', **base),
             [0, 10, 20, 30]), [0.1, 0.055, 0.01, 0.01], rtol=1e-6)
  np.testing.assert_allclose(
      _lr_at(opt(learning_rate_decay_type='cosine', **base), [0, 25, 50, 60],
             max_steps=50), [0.1, 0.055, 0.01, 0.01], rtol=1e-6)
  # One warm-up epoch (10 steps): linear 0 -> 0.1, then the cosine over the
  # remaining 40 steps.
  np.testing.assert_allclose(
      _lr_at(opt(learning_rate_decay_type='cosine', warmup_epochs=1.0,
                 **base), [0, 5, 10, 30, 50], max_steps=50),
      [0.0, 0.05, 0.1, 0.055, 0.01], rtol=1e-6, atol=1e-9)
  # Warm-up delays an exponential decay by its length.
  np.testing.assert_allclose(
      _lr_at(opt(learning_rate_decay_type='exponential', warmup_epochs=1.0,
                 learning_rate_decay_factor=0.5, **base), [5, 29, 30]),
      [0.05, 0.1, 0.05], rtol=1e-6)
  # Synchronous replicas: one step consumes 2 batches, so decay after 10.
  np.testing.assert_allclose(
      _lr_at(opt(learning_rate_decay_type='exponential',
                 learning_rate_decay_factor=0.5, **base), [9, 10],
             replicas=2), [0.1, 0.05], rtol=1e-6)


# ------------------------------------------------------ optimizers and runs

_OPTIMIZER_RUNS = [
    ('adadelta', 'fixed', {'learning_rate': 1.0}),
    ('adagrad', 'exponential', {}),
    ('adam', 'polynomial', {'learning_rate': 0.001, 'opt_epsilon': 1e-8}),
    ('ftrl', 'cosine', {}),
    ('momentum', 'exponential', {'clip_gradient_norm': 0.5}),
    ('rmsprop', 'polynomial', {'learning_rate': 0.001}),
    ('sgd', 'cosine', {'warmup_epochs': 0.01}),
]


@pytest.mark.parametrize('name,decay,extra', _OPTIMIZER_RUNS,
                         ids=[r[0] for r in _OPTIMIZER_RUNS])
def test_each_optimizer_and_decay_takes_steps(name, decay, extra, digits_dir,
                                              tmp_path):
  cfg = th.config(tmp_path, digits_dir, optimizer=dict(
      optimizer=name, learning_rate_decay_type=decay, **extra))
  result = train_lib.train(cfg)
  assert result['step'] == 2 and np.isfinite(result['loss'])
  assert th.checkpoint_steps(tmp_path) == [0, 2]
  before = th.checkpoint_values(str(tmp_path / 'model.ckpt-0'))
  after = th.checkpoint_values(str(tmp_path / 'model.ckpt-2'))
  assert after['global_step'] == 2
  for var in ('LeNet/conv1/weights', 'LeNet/fc4/biases'):
    assert not np.allclose(before[var], after[var]), (name, var)
  saved = json.load(open(tmp_path / 'train_config.json'))
  assert saved['optimizer']['optimizer'] == name


def test_gradient_clipping_bounds_the_update(digits_dir, tmp_path):
  # With sgd and lr 1, the update is the (clipped) gradient itself.
  cfg = th.config(tmp_path, digits_dir, max_number_of_steps=1,
                  optimizer=dict(learning_rate=1.0, clip_gradient_norm=1e-3))
  train_lib.train(cfg)
  before = th.checkpoint_values(str(tmp_path / 'model.ckpt-0'))
  after = th.checkpoint_values(str(tmp_path / 'model.ckpt-1'))
  squares = sum(float(np.sum((after[k] - before[k]) ** 2)) for k in before
                if k.startswith('LeNet/'))
  assert np.sqrt(squares) == pytest.approx(1e-3, rel=1e-3)


def test_two_clones_on_cpu_train_and_summaries(digits_dir, tmp_path):
  cfg = th.config(tmp_path, digits_dir, num_clones=2, clone_on_cpu=True,
                  max_number_of_steps=3, save_summaries_secs=1)
  result = train_lib.train(cfg)
  assert result['step'] == 3 and np.isfinite(result['loss'])
  values = th.checkpoint_values(str(tmp_path))
  assert values['global_step'] == 3
  # One set of variables shared by both clones.
  assert not any(k.startswith('clone_') for k in values)
  tags = set()
  for path in glob.glob(str(tmp_path / 'events.out.tfevents*')):
    for event in tf.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  for tag in ('losses/total_loss', 'learning_rate', 'activations/Logits',
              'sparsity/conv1', 'variables/LeNet/conv1/weights',
              'gradient_global_norm', 'clone_0/clone_loss',
              'clone_1/clone_loss'):
    assert tag in tags, (tag, sorted(tags))
  for prefix in ('images/', 'losses/clone_0/softmax_cross_entropy'):
    assert any(t.startswith(prefix) for t in tags), (prefix, sorted(tags))


# ----------------------------------------------------------------- losses


def test_aux_logits_loss_weight_and_label_smoothing():
  logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]], np.float32)
  aux = np.array([[0.0, 1.0, 0.0], [1.0, -1.0, 2.0]], np.float32)
  labels = np.array([0, 2])
  smoothing = 0.1

  def xent(x):
    target = np.eye(3)[labels] * (1 - smoothing) + smoothing / 3
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    return float(np.mean(-(target * logp).sum(1)))

  with tf.Graph().as_default():
    train_lib._add_losses(tf.constant(logits), {'AuxLogits': tf.constant(aux)},
                          tf.constant(labels), 3, smoothing)
    losses = {t.op.name.split('/')[0]: t for t in tf.losses.get_losses()}
    with tf.Session() as session:
      values = session.run(losses)
  assert values['aux_loss'] == pytest.approx(0.4 * xent(aux), rel=1e-5)
  assert values['softmax_cross_entropy_loss'] == pytest.approx(xent(logits),
                                                               rel=1e-5)


# ------------------------------------------------------------- fine-tuning


def _lenet_checkpoint(directory, num_classes, only_scope=None):
  """Saves a randomly initialised lenet with `num_classes`; returns values."""
  with tf.Graph().as_default():
    tf.set_random_seed(7)
    images = tf.zeros([1, 28, 28, 1])
    nets_factory.get_network_fn('lenet', num_classes)(images)
    variables = slim.get_model_variables()
    if only_scope:
      variables = [v for v in variables if v.op.name.startswith(only_scope)]
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      path = tf.train.Saver(variables).save(session,
                                            os.path.join(directory, 'src'))
      return path, {v.op.name: session.run(v) for v in variables}


def test_fine_tune_other_class_count_uses_registry_exclude_scopes(
    digits_dir, tmp_path):
  source, values = _lenet_checkpoint(str(tmp_path), num_classes=5)
  train_dir = tmp_path / 'train'
  cfg = th.config(train_dir, digits_dir, checkpoint_path=str(tmp_path),
                  max_number_of_steps=1, optimizer=dict(learning_rate=0.001))
  train_lib.train(cfg)
  start = th.checkpoint_values(str(train_dir / 'model.ckpt-0'))
  for name, value in values.items():
    if name.startswith('LeNet/fc4/'):
      assert start[name].shape[-1] == 10  # new logits, not restored
    else:
      np.testing.assert_array_equal(start[name], value, err_msg=name)

  # A later run resumes from train_dir and never reads --checkpoint_path
  # again (here it no longer exists).
  os.remove(source + '.index')
  train_lib.train(th.replace(cfg, max_number_of_steps=2))
  assert th.checkpoint_steps(train_dir) == [0, 1, 2]
  step1 = th.checkpoint_values(str(train_dir / 'model.ckpt-1'))
  step2 = th.checkpoint_values(str(train_dir / 'model.ckpt-2'))
  assert step2['global_step'] == 2
  assert any(not np.array_equal(step2[k], step1[k]) for k in values)


def _init_fn_error(checkpoint, **kwargs):
  with tf.Graph().as_default():
    nets_factory.get_network_fn('lenet', 10)(tf.zeros([1, 28, 28, 1]))
    with pytest.raises(ValueError) as error:
      train_lib.build_init_fn(checkpoint, 'lenet', **kwargs)
  return str(error.value)


def test_fine_tune_errors_name_the_variables_and_the_fix(tmp_path):
  source, _ = _lenet_checkpoint(str(tmp_path), num_classes=5)
  # No exclusions at all: both logits variables are named, the registry's
  # exclude scope is suggested.
  message = _init_fn_error(source, checkpoint_exclude_scopes='')
  assert 'LeNet/fc4/weights (model [1024, 10], checkpoint [1024, 5])' in message
  assert 'LeNet/fc4/biases' in message
  assert '--checkpoint_exclude_scopes=LeNet/fc4' in message
  message = _init_fn_error(source, checkpoint_exclude_scopes='LeNet/fc5')
  assert "'LeNet/fc5' matches no variable of lenet" in message
  message = _init_fn_error(str(tmp_path / 'nothing_here'))
  assert 'does not exist' in message


def test_ignore_missing_vars_logs_what_it_skips(tmp_path, caplog):
  source, values = _lenet_checkpoint(str(tmp_path), 10, only_scope='LeNet/conv')
  message = _init_fn_error(source)
  assert 'lacks 4 variables of lenet' in message and 'LeNet/fc3' in message
  with tf.Graph().as_default():
    nets_factory.get_network_fn('lenet', 10)(tf.zeros([1, 28, 28, 1]))
    with caplog.at_level('WARNING'):
      init_fn, restored = train_lib.build_init_fn(source, 'lenet',
                                                  ignore_missing_vars=True)
    assert sorted(v.op.name for v in restored) == sorted(values)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      init_fn(None, session)
      conv1 = [v for v in restored if v.op.name == 'LeNet/conv1/weights'][0]
      np.testing.assert_array_equal(session.run(conv1),
                                    values['LeNet/conv1/weights'])
  assert 'LeNet/fc3/weights' in caplog.text and 'not restoring 4' in caplog.text


def test_trainable_scopes_freeze_the_rest(digits_dir, tmp_path):
  cfg = th.config(tmp_path, digits_dir, trainable_scopes='LeNet/fc4',
                  max_number_of_steps=3, weight_decay=0.01,
                  optimizer=dict(optimizer='momentum', learning_rate=0.1))
  train_lib.train(cfg)
  before = th.checkpoint_values(str(tmp_path / 'model.ckpt-0'))
  after = th.checkpoint_values(str(tmp_path / 'model.ckpt-3'))
  changed = sorted(k for k in before if k.startswith('LeNet/') and
                   k.endswith(('weights', 'biases')) and
                   not np.array_equal(before[k], after[k]))
  assert changed == ['LeNet/fc4/biases', 'LeNet/fc4/weights']
  # No optimizer slots for frozen variables.
  assert not any(k.startswith('LeNet/conv1') and 'Momentum' in k
                 for k in after)


# ---------------------------------------------------------- moving averages


def test_moving_average_is_the_documented_average(digits_dir, tmp_path):
  decay = 0.5
  cfg = th.config(tmp_path, digits_dir, max_number_of_steps=1,
                  moving_average_decay=decay)
  train_lib.train(cfg)
  start = th.checkpoint_values(str(tmp_path / 'model.ckpt-0'))
  end = th.checkpoint_values(str(tmp_path / 'model.ckpt-1'))
  # ExponentialMovingAverage(decay, num_updates=global_step) uses
  # min(decay, (1 + step) / (10 + step)); the average is taken after the
  # update, when the global step is already 1.
  effective = min(decay, 2.0 / 11.0)
  name = 'LeNet/conv1/weights'
  average = end[name + '/ExponentialMovingAverage']
  np.testing.assert_array_equal(start[name + '/ExponentialMovingAverage'],
                                start[name])
  np.testing.assert_allclose(
      average, effective * start[name] + (1 - effective) * end[name],
      rtol=1e-5, atol=1e-7)
  assert not np.allclose(average, end[name])


# ---------------------------------------------------------------- NaN guard


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_checkpoint(
    digits_dir, tmp_path):
  cfg = th.config(tmp_path, digits_dir, max_number_of_steps=2)
  train_lib.train(cfg)
  good = th.checkpoint_values(str(tmp_path))
  exploding = th.replace(cfg, max_number_of_steps=50, allow_config_change=True,
                         optimizer=train_lib.OptimizerConfig(
                             optimizer='sgd', learning_rate=1e30,
                             learning_rate_decay_type='fixed'))
  with pytest.raises(train_lib.NonFiniteLossError,
                     match='became NaN or Inf') as error:
    train_lib.train(exploding)
  assert str(tmp_path) in str(error.value)
  assert th.checkpoint_steps(tmp_path) == [0, 2]
  latest = th.checkpoint_values(str(tmp_path))
  assert th.all_finite(latest)
  np.testing.assert_array_equal(latest['LeNet/conv1/weights'],
                                good['LeNet/conv1/weights'])


# ---------------------------------------------------------------- bad flags


@pytest.mark.parametrize('changes,expected', [
    (dict(num_clones=3), '--num_clones=3 does not divide --batch_size=4'),
    (dict(sync_replicas=True), '--sync_replicas needs --worker_replicas > 1'),
    (dict(worker_replicas=2, task=2), '--task=2 is not a worker'),
    (dict(worker_replicas=2), 'needs --num_ps_tasks >= 1'),
    (dict(worker_replicas=2, num_ps_tasks=1), '--master is empty'),
    (dict(replicas_to_aggregate=2), 'only applies with --sync_replicas'),
    (dict(moving_average_decay=1.5), '--moving_average_decay must be in'),
    (dict(max_number_of_steps=None, optimizer=train_lib.OptimizerConfig(
        learning_rate_decay_type='cosine')), 'set --max_number_of_steps'),
    (dict(dataset_dir=''), '--dataset_dir is required'),
    (dict(model_name='lenet_v9'), 'Unknown model_name'),
])
def test_bad_flag_combinations_fail_before_any_graph(changes, expected,
                                                     digits_dir, tmp_path):
  cfg = th.replace(th.config(tmp_path / 'train', digits_dir), **changes)
  with tf.Graph().as_default() as graph:
    with pytest.raises(ValueError, match=expected):
      train_lib.train(cfg)
    assert not graph.get_operations()
  assert not os.path.exists(tmp_path / 'train')


@pytest.mark.parametrize('changes,expected', [
    (dict(trainable_scopes='LeNet/fc9'),
     "'LeNet/fc9' matches no trainable variable"),
    (dict(checkpoint_path='SOURCE', checkpoint_exclude_scopes='LeNet/fc4,Foo'),
     "'Foo' matches no variable of lenet"),
])
def test_scopes_matching_nothing_fail_before_any_session(changes, expected,
                                                         digits_dir, tmp_path):
  if changes.get('checkpoint_path') == 'SOURCE':
    changes['checkpoint_path'], _ = _lenet_checkpoint(str(tmp_path), 10)
  cfg = th.config(tmp_path / 'train', digits_dir, **changes)
  with pytest.raises(ValueError, match=expected):
    train_lib.train(cfg)
  assert th.checkpoint_steps(tmp_path / 'train') == []


# ------------------------------------------------------ script and crashes


def _script(train_dir, digits_dir, *extra):
  return [sys.executable, os.path.join(ROOT, 'train_image_classifier.py'),
          f'--train_dir={train_dir}', '--dataset_name=digits',
          f'--dataset_dir={digits_dir}', '--model_name=lenet',
          '--batch_size=4', '--optimizer=sgd', '--learning_rate=0.01',
          '--learning_rate_decay_type=fixed', '--num_readers=1',
          '--num_preprocessing_threads=1', '--save_summaries_secs=3600',
          *extra]


def test_script_bad_flags_give_one_error_line(digits_dir, tmp_path):
  result = subprocess.run(
      _script(tmp_path / 'train', digits_dir, '--num_clones=3'),
      capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert result.returncode == 2
  lines = [s for s in result.stderr.splitlines() if s.strip()]
  assert lines[-1].startswith('ERROR: --num_clones=3 does not divide '
                              '--batch_size=4'), result.stderr[-2000:]
  assert not any(s.startswith('Traceback') for s in lines)
  assert not os.path.exists(tmp_path / 'train')


def _logged_steps(log_path):
  steps = []
  for line in open(log_path):
    if '] step ' in line and 'loss =' in line:
      steps.append(int(line.split('] step ')[1].split(':')[0]))
  return steps


def test_sigkill_then_resume_and_sigterm_writes_a_final_checkpoint(
    digits_dir, tmp_path):
  train_dir = tmp_path / 'train'
  log = tmp_path / 'log1.txt'
  with open(log, 'w') as stderr:
    process = subprocess.Popen(
        _script(train_dir, digits_dir, '--max_number_of_steps=100000',
                '--save_interval_secs=1', '--log_every_n_steps=1'),
        stderr=stderr, stdout=subprocess.DEVNULL, cwd=ROOT)
    try:
      th.wait_for(lambda: any(s > 0 for s in th.checkpoint_steps(train_dir)),
                process)
      time.sleep(0.7)  # somewhere between two saves, maybe inside one
      process.send_signal(signal.SIGKILL)
      process.wait(timeout=60)
    finally:
      if process.poll() is None:
        process.kill()
        process.wait()
  # Every checkpoint the state file lists is complete and readable.
  saved = th.checkpoint_steps(train_dir)
  assert saved and saved[-1] > 0
  for step in saved:
    values = th.checkpoint_values(str(train_dir / f'model.ckpt-{step}'))
    assert values['global_step'] == step
  killed_at = saved[-1]

  # Restart with the same flags: resumes at the saved step. Stop it with
  # SIGTERM (then, restarted again, with Ctrl-C) once it has made progress:
  # it saves where it stopped.
  previous = killed_at
  for sig in (signal.SIGTERM, signal.SIGINT):
    log = tmp_path / f'log_{sig.name}.txt'
    with open(log, 'w') as stderr:
      process = subprocess.Popen(
          _script(train_dir, digits_dir, '--max_number_of_steps=100000',
                  '--save_interval_secs=3600', '--log_every_n_steps=1'),
          stderr=stderr, stdout=subprocess.DEVNULL, cwd=ROOT)
      try:
        th.wait_for(lambda log=log: len(_logged_steps(log)) >= 3, process)
        process.send_signal(sig)
        # Stopped before its last step: 128 + the signal, so an orchestrator
        # does not mark the job done (143 for SIGTERM, 130 for Ctrl-C).
        assert process.wait(timeout=120) == 128 + sig.value
      finally:
        if process.poll() is None:
          process.kill()
          process.wait()
    steps = _logged_steps(log)
    # The first step is not logged (it times the start-up), the second is.
    assert steps[0] == previous + 2, (previous, steps)
    assert f'Received {sig.name}' in open(log).read()
    final = th.checkpoint_steps(train_dir)[-1]
    assert final >= steps[-1]
    assert th.checkpoint_values(str(train_dir))['global_step'] == final
    previous = final


def test_performance_flags_reach_the_session_config(digits_dir, tmp_path):
  cfg = th.config(str(tmp_path), digits_dir, mixed_precision='bfloat16',
                  intra_op_threads=2, inter_op_threads=1, num_clones=2,
                  clone_on_cpu=True)
  config = train_lib._session_config(cfg, train_lib.deployment_config(cfg))
  rewrite = config.graph_options.rewrite_options
  assert rewrite.auto_mixed_precision_onednn_bfloat16 == rewrite.ON
  assert (config.intra_op_parallelism_threads,
          config.inter_op_parallelism_threads) == (2, 1)
  assert config.device_count['CPU'] == 2  # The clones' devices are kept.
  assert config.allow_soft_placement
  plain = th.config(str(tmp_path), digits_dir, mixed_precision='none')
  plain = train_lib._session_config(plain, train_lib.deployment_config(plain))
  assert (plain.graph_options.rewrite_options
          .auto_mixed_precision_onednn_bfloat16 != rewrite.ON)
  # The default, 'auto', is bf16 exactly where this CPU computes it.
  assert train_lib.TrainConfig.mixed_precision == 'auto'
  auto = th.config(str(tmp_path), digits_dir, mixed_precision='auto')
  auto = train_lib._session_config(auto, train_lib.deployment_config(auto))
  assert ((auto.graph_options.rewrite_options
           .auto_mixed_precision_onednn_bfloat16 == rewrite.ON)
          == (performance.resolve_mixed_precision('auto') == 'bfloat16'))
  with pytest.raises(ValueError, match='mixed_precision'):
    train_lib.train(th.replace(cfg, mixed_precision='fp8'))
  with pytest.raises(ValueError, match='bfloat16 does not work with --master'):
    train_lib.train(th.replace(cfg, master='grpc://localhost:2222'))
  assert not os.listdir(tmp_path)  # Rejected before anything was written.
