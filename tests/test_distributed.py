"""Multi-worker training on a real local TensorFlow cluster (127.0.0.1).

scripts/start_local_cluster.sh starts one parameter server and two worker
servers (start_tf_server.py) on ports it finds free, and prints one
train_image_classifier.py command per worker. The test runs those commands
(lenet on the digits TFRecords, synchronous replicas, a few steps), kills
worker 1 mid-run and restarts it, checks that the chief finishes and wrote
the checkpoints, then stops the cluster with Ctrl-C (SIGINT). Every process
is killed at the end, whatever happens.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from slim_zoo import tf_server as start_tf_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_STEPS = 30
STEP_RE = re.compile(r'step (\d+): loss = ([0-9.]+)')


class _Processes:
  """Starts scripts of the repository as subprocesses logging to files."""

  def __init__(self, log_dir):
    self._log_dir = log_dir
    self.procs = []
    env = dict(os.environ)
    env.update({'CUDA_VISIBLE_DEVICES': '', 'PYTHONUNBUFFERED': '1',
                'TF_CPP_MIN_LOG_LEVEL': '2'})
    self._env = env

  def start(self, name, script, args):
    log = os.path.join(self._log_dir, name + '.log')
    with open(log, 'ab') as out:
      proc = subprocess.Popen([sys.executable, script] + args, cwd=ROOT,
                              env=self._env, stdout=out,
                              stderr=subprocess.STDOUT)
    proc.log = log
    self.procs.append(proc)
    return proc

  def kill_all(self):
    for proc in self.procs:
      if proc.poll() is None:
        proc.kill()
    for proc in self.procs:
      try:
        proc.wait(timeout=10)
      except subprocess.TimeoutExpired:
        pass


def _read(proc):
  with open(proc.log, errors='replace') as f:
    return f.read()


def _tail(proc, n=25):
  return '\n'.join(_read(proc).splitlines()[-n:])


def _wait_for(proc, predicate, what, timeout):
  """Polls proc's log until predicate(text) is true; fails on exit/timeout."""
  deadline = time.time() + timeout
  while time.time() < deadline:
    text = _read(proc)
    if predicate(text):
      return text
    if proc.poll() is not None:
      pytest.fail(f'{proc.args[1]} exited with {proc.returncode} before '
                  f'{what}:\n{_tail(proc)}')
    time.sleep(0.2)
  pytest.fail(f'timed out after {timeout}s waiting for {what}:\n{_tail(proc)}')


def _steps(text):
  return [int(m.group(1)) for m in STEP_RE.finditer(text)]


def _listening(port):
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    return s.connect_ex(('127.0.0.1', port)) == 0


def _start_cluster_script(tmp_path, digits_dir, train_dir):
  """Runs scripts/start_local_cluster.sh; returns (process, its output)."""
  log = str(tmp_path / 'cluster.out')
  env = dict(os.environ, PYTHON=sys.executable, LOG_DIR=str(tmp_path / 'logs'),
             CUDA_VISIBLE_DEVICES='', TRAIN_DIR=train_dir,
             DATASET_DIR=digits_dir)
  with open(log, 'wb') as out:
    script = subprocess.Popen(['bash', 'scripts/start_local_cluster.sh'],
                              cwd=ROOT, env=env, stdout=out,
                              stderr=subprocess.STDOUT, start_new_session=True)
  script.log = log
  text = _wait_for(script, lambda t: 'Press Ctrl-C' in t,
                   'the cluster to start', 120)
  return script, text


def _stop_cluster_script(script, ports):
  """Ctrl-C (SIGINT) must stop every server of the script."""
  script.send_signal(signal.SIGINT)
  try:
    # Generous: on a loaded 2-core machine (the suite runs two workers) the
    # servers' exit once took over 30 s.
    code = script.wait(timeout=90)
  except subprocess.TimeoutExpired:
    os.killpg(script.pid, signal.SIGKILL)
    raise AssertionError('the cluster script did not stop within 90 s of '
                         f'Ctrl-C:\n{_tail(script)}') from None
  assert code == 130, _tail(script)
  text = _read(script)
  pids = [int(p) for p in re.search(r'Stopping the cluster \(pids ([\d ]+)\)',
                                    text).group(1).split()]
  assert len(pids) == 3
  for pid in pids:
    with pytest.raises(ProcessLookupError):
      os.kill(pid, 0)
  assert not any(_listening(p) for p in ports)


def test_local_cluster_sync_training_survives_a_worker_restart(digits_dir,
                                                               tmp_path):
  train_dir = str(tmp_path / 'train')
  procs = _Processes(str(tmp_path))
  script = None
  try:
    # 1 ps + 2 worker servers from the documented recipe.
    script, text = _start_cluster_script(tmp_path, digits_dir, train_dir)
    match = re.search(r'Cluster up: ps 127\.0\.0\.1:(\d+); workers '
                      r'127\.0\.0\.1:(\d+),127\.0\.0\.1:(\d+)', text)
    assert match, text
    ports = [int(p) for p in match.groups()]
    assert all(_listening(p) for p in ports)
    commands = [line.split()[1:] for line in text.splitlines()
                if 'train_image_classifier.py' in line]
    assert len(commands) == 2
    for task, command in enumerate(commands):
      assert command[0] == 'train_image_classifier.py'
      for flag in (f'--master=grpc://127.0.0.1:{ports[task + 1]}',
                   f'--task={task}', '--worker_replicas=2',
                   '--num_ps_tasks=1', '--sync_replicas',
                   f'--train_dir={train_dir}', f'--dataset_dir={digits_dir}',
                   '--dataset_name=digits', '--model_name=lenet'):
        assert flag in command, (flag, command)

    def trainer(task, run):
      # The printed command, plus small-run settings (later flags win).
      return procs.start(f'worker{task}_train{run}', commands[task][0],
                         commands[task][1:] + [
                             '--batch_size=8', '--optimizer=sgd',
                             '--learning_rate=0.01',
                             '--learning_rate_decay_type=fixed',
                             '--weight_decay=0',
                             f'--max_number_of_steps={MAX_STEPS}',
                             '--log_every_n_steps=1',
                             '--save_interval_secs=3',
                             '--save_summaries_secs=3', '--num_readers=1',
                             '--num_preprocessing_threads=1'])

    # A non-chief that finds the model uninitialised sleeps 30s before it
    # looks again, and a sync-replicas chief can aggregate its own gradients
    # and train alone. So the test starts the chief, waits until it has
    # initialised the variables and trained, and holds it (SIGSTOP) while
    # worker 1 joins; then both train together.
    chief = trainer(0, 0)
    _wait_for(chief, _steps, 'the chief to train', 120)
    chief.send_signal(signal.SIGSTOP)
    worker1 = trainer(1, 0)
    _wait_for(worker1, lambda t: 'Done running local_init_op' in t,
              'worker 1 to join', 120)
    chief.send_signal(signal.SIGCONT)
    _wait_for(worker1, lambda t: any(s >= 10 for s in _steps(t)),
              'worker 1 to train to step 10', 60)
    worker1.send_signal(signal.SIGKILL)
    chief.send_signal(signal.SIGSTOP)
    worker1.wait(timeout=10)
    killed_at = max(_steps(_read(worker1)))
    assert 10 <= killed_at < MAX_STEPS

    restarted = trainer(1, 1)
    _wait_for(restarted, lambda t: 'Done running local_init_op' in t,
              'the restarted worker 1 to join', 120)
    chief.send_signal(signal.SIGCONT)
    chief_code = chief.wait(timeout=120)
    chief_log = _read(chief)
    assert chief_code == 0, _tail(chief)
    assert f'Finished training at step {MAX_STEPS}' in chief_log, _tail(chief)
    assert max(_steps(chief_log)) == MAX_STEPS
    # The restarted worker continued the shared global step (from where the
    # cluster was, not from 0) and trained with the chief.
    restarted_steps = _steps(_wait_for(restarted, _steps,
                                       'the restarted worker to train', 30))
    assert killed_at <= min(restarted_steps) < MAX_STEPS
    # The restarted worker normally stops at MAX_STEPS too; in a rare
    # interleaving a SyncReplicasOptimizer non-chief can instead wait for a
    # token no further update will push (then it is killed below).
    try:
      assert restarted.wait(timeout=30) == 0, _tail(restarted)
      assert 'Finished training at step' in _read(restarted)
    except subprocess.TimeoutExpired:
      pass
    # The chief, and only the chief, wrote the checkpoints, the last one at
    # MAX_STEPS.
    assert 'Saving checkpoints' not in _read(worker1) + _read(restarted)
    with open(os.path.join(train_dir, 'checkpoint')) as f:
      state = f.read()
    assert f'model_checkpoint_path: "model.ckpt-{MAX_STEPS}"' in state
    assert any(name.startswith(f'model.ckpt-{MAX_STEPS}.')
               for name in os.listdir(train_dir))
    assert any(name.startswith('events.') for name in os.listdir(train_dir))

    _stop_cluster_script(script, ports)
  finally:
    procs.kill_all()
    if script is not None:
      try:
        os.killpg(script.pid, signal.SIGKILL)
      except ProcessLookupError:
        pass
      script.wait(timeout=10)


def test_server_flags_are_validated():
  assert start_tf_server.parse_hosts(' a:1, b:65535 ,', 'ps_hosts') == [
      'a:1', 'b:65535']
  with pytest.raises(ValueError, match=r"--worker_hosts: 'a:0' is not "
                     'host:port'):
    start_tf_server.parse_hosts('a:0', 'worker_hosts')
  with pytest.raises(ValueError, match=r"--ps_hosts: 'nohost' is not"):
    start_tf_server.parse_hosts('nohost', 'ps_hosts')
  with pytest.raises(ValueError, match='--worker_hosts is empty'):
    start_tf_server.cluster_spec(['a:1'], [])
  with pytest.raises(ValueError, match='a:1 appears twice'):
    start_tf_server.cluster_spec(['a:1'], ['a:1'])
  spec = start_tf_server.cluster_spec(['a:1'], ['b:2', 'c:3'])
  assert spec.as_dict() == {'ps': ['a:1'], 'worker': ['b:2', 'c:3']}
  with pytest.raises(ValueError, match=r'--task=2 is out of range for job '
                     r"'worker' with 2 host\(s\); valid tasks are 0\.\.1"):
    start_tf_server.start_server(['a:1'], ['b:2', 'c:3'], 'worker', 2)
  with pytest.raises(ValueError, match="--job_name='ps' has no hosts"):
    start_tf_server.start_server([], ['b:2'], 'ps', 0)
  config = start_tf_server.server_config('ps')
  assert config.device_count['GPU'] == 0
  assert start_tf_server.server_config('worker', 2).device_count['CPU'] == 2



def test_port_in_use_is_named_before_grpc_fails():
  with socket.socket() as taken:
    taken.bind(('127.0.0.1', 0))
    taken.listen()
    port = taken.getsockname()[1]
    with pytest.raises(ValueError, match=f'Port {port} of 127.0.0.1:{port} '
                       r'\(--ps_hosts\) is in use'):
      start_tf_server.start_server([f'127.0.0.1:{port}'], ['127.0.0.1:1'],
                                   'ps', 0)
