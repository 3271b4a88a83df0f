"""A TF_CONFIG cluster on 127.0.0.1: the way Kubeflow's TFJob runs replicas.

Four processes run the same train_image_classifier.py command line and get
only TF_CONFIG (no cluster flag): 1 chief, 1 worker, 1 ps and 1 evaluator
(lenet on the digits TFRecords, synchronous replicas, a few steps), all
started at once. Worker 0 is killed with SIGKILL mid-run and restarted with
the same environment, as a rescheduled pod would be. Training reaches its last step, the evaluator evaluates the final
checkpoint, and every process exits by itself with status 0.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_STEPS = 24
# Time-outs only bound a failing run: on a loaded 2-core machine importing
# TensorFlow alone has taken minutes.
STEP_RE = re.compile(r'step (\d+): loss = ([0-9.]+)')


def _free_ports(n):
  """n ports free now (all held at once, so they differ)."""
  socks = [socket.socket() for _ in range(n)]
  try:
    for s in socks:
      s.bind(('127.0.0.1', 0))
    return [s.getsockname()[1] for s in socks]
  finally:
    for s in socks:
      s.close()


def _listening(port):
  with socket.socket() as s:
    return s.connect_ex(('127.0.0.1', port)) == 0


def _read(proc):
  with open(proc.log, errors='replace') as f:
    return f.read()


def _tail(proc, n=30):
  return '\n'.join(_read(proc).splitlines()[-n:])


def _wait_for(proc, predicate, what, timeout):
  deadline = time.time() + timeout
  while time.time() < deadline:
    text = _read(proc)
    if predicate(text):
      return text
    if proc.poll() is not None:
      pytest.fail(f'{proc.name} exited with {proc.returncode} before '
                  f'{what}:\n{_tail(proc)}')
    time.sleep(0.2)
  pytest.fail(f'timed out after {timeout}s waiting for {what}:\n{_tail(proc)}')


def _steps(text):
  return [int(m.group(1)) for m in STEP_RE.finditer(text)]


def test_tf_config_cluster_trains_evaluates_and_exits_by_itself(digits_dir,
                                                                tmp_path):
  train_dir = str(tmp_path / 'train')
  chief, worker, ps, evaluator = (f'127.0.0.1:{p}' for p in _free_ports(4))
  cluster = {'chief': [chief], 'worker': [worker], 'ps': [ps],
             'evaluator': [evaluator]}
  # One command line for every replica, as in deployment/kubernetes.
  command = [sys.executable, 'train_image_classifier.py',
             f'--train_dir={train_dir}', '--dataset_name=digits',
             f'--dataset_dir={digits_dir}', '--model_name=lenet',
             '--sync_replicas', '--batch_size=8', '--optimizer=sgd',
             '--learning_rate=0.01', '--learning_rate_decay_type=fixed',
             '--weight_decay=0', f'--max_number_of_steps={MAX_STEPS}',
             '--log_every_n_steps=1', '--save_interval_secs=30',
             '--save_summaries_secs=30', '--num_readers=1',
             '--num_preprocessing_threads=1', '--eval_interval_secs=2',
             '--master_wait_secs=600']
  procs = []

  def start(name, task_type):
    env = {k: v for k, v in os.environ.items() if k != 'TF_CONFIG'}
    env.update({'CUDA_VISIBLE_DEVICES': '', 'PYTHONUNBUFFERED': '1',
                'TF_CPP_MIN_LOG_LEVEL': '2',
                'TF_CONFIG': json.dumps({
                    'cluster': cluster,
                    'task': {'type': task_type, 'index': 0}})})
    log = str(tmp_path / f'{name}.log')
    with open(log, 'wb') as out:
      proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                              stderr=subprocess.STDOUT)
    proc.log, proc.name = log, name
    procs.append(proc)
    return proc

  try:
    # Pods start in any order and import TensorFlow at their own pace.
    chief_proc = start('chief', 'chief')
    worker_proc = start('worker_run0', 'worker')
    eval_proc = start('evaluator', 'evaluator')
    ps_proc = start('ps', 'ps')
    # A sync-replicas chief can aggregate its own gradients and train alone,
    # so it is held (SIGSTOP) until the worker has joined; then both train.
    _wait_for(chief_proc, _steps, 'the chief to train', 600)
    chief_proc.send_signal(signal.SIGSTOP)
    _wait_for(worker_proc, lambda t: 'Done running local_init_op' in t,
              'the worker to join', 300)
    # --train_dir's lock is the chief's (a worker taking it would fail).
    with open(os.path.join(train_dir, '.train.lock')) as f:
      assert json.load(f)['pid'] == chief_proc.pid
    chief_proc.send_signal(signal.SIGCONT)
    _wait_for(worker_proc, lambda t: any(s >= 8 for s in _steps(t)),
              'the worker to train to step 8', 300)
    worker_proc.send_signal(signal.SIGKILL)
    chief_proc.send_signal(signal.SIGSTOP)
    worker_proc.wait(timeout=10)
    killed_at = max(_steps(_read(worker_proc)))
    assert 8 <= killed_at < MAX_STEPS

    # The rescheduled pod: the same command and environment.
    restarted = start('worker_run1', 'worker')
    _wait_for(restarted, lambda t: 'Done running local_init_op' in t,
              'the restarted worker to join', 600)
    chief_proc.send_signal(signal.SIGCONT)

    # Every process ends by itself.
    for proc in (chief_proc, restarted, ps_proc, eval_proc):
      try:
        code = proc.wait(timeout=300)
      except subprocess.TimeoutExpired:
        pytest.fail(f'{proc.name} did not exit by itself:\n{_tail(proc)}')
      assert code == 0, f'{proc.name} exited with {code}:\n{_tail(proc)}'

    chief_log = _read(chief_proc)
    assert f'Finished training at step {MAX_STEPS}' in chief_log
    assert max(_steps(chief_log)) == MAX_STEPS
    # The restarted worker went on from the shared global step.
    restarted_steps = _steps(_read(restarted))
    assert restarted_steps and killed_at <= min(restarted_steps) < MAX_STEPS
    assert 'Finished training at step' in _read(restarted)
    # Only the chief wrote checkpoints; the last one is the last step.
    assert 'Saving checkpoints' not in (_read(worker_proc) +
                                        _read(restarted))
    with open(os.path.join(train_dir, 'checkpoint')) as f:
      assert f'model_checkpoint_path: "model.ckpt-{MAX_STEPS}"' in f.read()
    # The evaluator evaluated the final checkpoint, into <train_dir>/eval.
    eval_log = _read(eval_proc)
    assert f'Evaluated the last step ({MAX_STEPS})' in eval_log
    with open(os.path.join(train_dir, 'eval', 'eval_results.json')) as f:
      results = json.load(f)
    assert results['global_step'] == MAX_STEPS
    assert results['checkpoint'].endswith(f'model.ckpt-{MAX_STEPS}')
    assert results['num_examples'] > 0
    assert 0.0 <= results['eval/Accuracy'] <= 1.0
    # The ps saw both trainers finish; no server is left listening.
    assert 'trainer(s) [0, 1] of 2 finished' in _read(ps_proc)
    for address in (chief, worker, ps):
      assert not _listening(int(address.rpartition(':')[2])), address
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
    for proc in procs:
      proc.wait(timeout=10)
