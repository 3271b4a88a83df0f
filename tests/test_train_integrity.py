"""Nothing lost, nothing silently wrong in --train_dir (issue: integrity).

Real script runs on lenet + digits: one run per train_dir (a lock, stale
after kill -9), nothing written before the flags are validated, a resumed
run keeps its recorded configuration, damaged checkpoints are told from bad
data (and resume falls back to the newest intact checkpoint), a corrupt
record stops the run with one line after a checkpoint, a dead --master is a
bounded wait, and environment errors (a file as --train_dir, a read-only or
full disk) are one line before the work starts.
"""

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from slim_zoo import checkpoint_utils
from slim_zoo import train as train_lib
from slim_zoo import train_dir_lock
from tests import train_helpers as th
from tests.conftest import ROOT


def _command(train_dir, dataset_dir, *extra):
  return [sys.executable, os.path.join(ROOT, 'train_image_classifier.py'),
          f'--train_dir={train_dir}', '--dataset_name=digits',
          f'--dataset_dir={dataset_dir}', '--model_name=lenet',
          '--batch_size=4', '--optimizer=sgd', '--learning_rate=0.01',
          '--learning_rate_decay_type=fixed', '--num_readers=1',
          '--num_preprocessing_threads=1', '--save_summaries_secs=3600',
          '--mixed_precision=none', '--weight_decay=0', *extra]


def _run(train_dir, dataset_dir, *extra, **kwargs):
  return subprocess.run(_command(train_dir, dataset_dir, *extra),
                        capture_output=True, text=True, timeout=300, cwd=ROOT,
                        **kwargs)


def _error(result):
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert not any(line.startswith('Traceback') for line in lines), (
      result.stderr[-3000:])
  return lines[-1] if lines else ''


def _lock_holder(train_dir):
  path = os.path.join(train_dir, train_dir_lock.LOCK_FILENAME)
  try:
    text = open(path).read()
  except OSError:
    return None
  return json.loads(text) if text.strip() else None


def test_second_run_in_a_train_dir_stops_at_once_naming_the_holder(
    digits_dir, tmp_path):
  train_dir = tmp_path / 'train'
  first = subprocess.Popen(
      _command(train_dir, digits_dir, '--max_number_of_steps=100000',
               '--save_interval_secs=3600', '--log_every_n_steps=1'),
      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
  try:
    th.wait_for(lambda: th.checkpoint_steps(train_dir), first)
    config_before = open(train_dir / 'train_config.json').read()
    second = _run(train_dir, digits_dir, '--max_number_of_steps=5')
    assert second.returncode == 2
    line = _error(second)
    assert line.startswith(f'ERROR: --train_dir={train_dir} is in use by '
                           'another training run'), line
    assert f'pid {first.pid} on {socket.gethostname()}' in line
    assert open(train_dir / 'train_config.json').read() == config_before
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
  finally:
    if first.poll() is None:
      first.kill()
      first.wait()
  # kill -9 leaves the lock file, not the lock: the next run proceeds.
  assert os.path.exists(train_dir / train_dir_lock.LOCK_FILENAME)
  steps = th.checkpoint_steps(train_dir)
  result = _run(train_dir, digits_dir, f'--max_number_of_steps={steps[-1] + 3}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert th.checkpoint_steps(train_dir)[-1] == steps[-1] + 3
  assert not os.path.exists(train_dir / train_dir_lock.LOCK_FILENAME)


def test_lock_in_process_names_holder_and_releases(tmp_path):
  with train_dir_lock.TrainDirLock(str(tmp_path)):
    with pytest.raises(ValueError, match=f'pid {os.getpid()}'):
      # A second descriptor of the same file is a second flock holder.
      train_dir_lock.TrainDirLock(str(tmp_path)).acquire()
  with train_dir_lock.TrainDirLock(str(tmp_path)):
    pass


def test_typo_and_changed_flags_leave_a_finished_run_untouched(
    digits_dir, tmp_path):
  train_dir = tmp_path / 'train'
  cfg = th.config(train_dir, digits_dir, max_number_of_steps=3)
  train_lib.train(cfg)
  recorded = open(train_dir / 'train_config.json').read()
  files = sorted(os.listdir(train_dir))

  # The command line: one error line, exit 2 (the library calls below check
  # the other cases without starting a process each).
  typo = _run(train_dir, digits_dir, '--max_number_of_steps=3',
              '--dataset_name=digitz')
  assert typo.returncode == 2
  assert "Unknown dataset_name 'digitz'" in _error(typo)
  with pytest.raises(ValueError, match=r'--batch_size: 4 -> 8') as error:
    train_lib.train(th.replace(cfg, max_number_of_steps=6, batch_size=8))
  assert '--allow_config_change' in str(error.value)
  faster = th.config(train_dir, digits_dir, max_number_of_steps=6,
                     optimizer=dict(learning_rate=0.5))
  with pytest.raises(ValueError, match=r'--learning_rate: 0.01 -> 0.5'):
    train_lib.train(faster)
  assert open(train_dir / 'train_config.json').read() == recorded
  assert sorted(os.listdir(train_dir)) == files

  # More steps with the same schedule is a plain resume.
  train_lib.train(th.replace(cfg, max_number_of_steps=5))
  train_lib.train(th.replace(cfg, max_number_of_steps=6, batch_size=8,
                             allow_config_change=True))
  assert json.load(open(train_dir / 'train_config.json'))['batch_size'] == 8
  assert th.checkpoint_steps(train_dir)[-1] == 6


def test_checkpoint_file_paths_name_their_checkpoint(digits_dir, tmp_path):
  train_lib.train(th.config(tmp_path, digits_dir))
  prefix = str(tmp_path / 'model.ckpt-2')
  for suffix in ('.index', '.data-00000-of-00001', '.meta', ''):
    assert checkpoint_utils.resolve_checkpoint(prefix + suffix) == prefix
  with pytest.raises(ValueError, match='does not exist'):
    checkpoint_utils.resolve_checkpoint(str(tmp_path / 'model.ckpt-7.index'))


def _truncate(path, keep=0.5):
  size = os.path.getsize(path)
  with open(path, 'r+b') as f:
    f.truncate(int(size * keep))


def test_resume_falls_back_to_the_newest_intact_checkpoint(digits_dir,
                                                           tmp_path):
  cfg = th.config(tmp_path, digits_dir, max_number_of_steps=2)
  train_lib.train(cfg)
  train_lib.train(th.replace(cfg, max_number_of_steps=4))
  assert th.checkpoint_steps(tmp_path) == [0, 2, 4]
  _truncate(tmp_path / 'model.ckpt-4.data-00000-of-00001')
  result = _run(tmp_path, digits_dir, '--max_number_of_steps=5', '--seed=1')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Checkpoint ' in result.stderr and 'is damaged' in result.stderr
  assert 'Resuming from' in result.stderr and 'model.ckpt-2' in result.stderr
  assert os.path.exists(tmp_path / 'model.ckpt-4.damaged.index')
  assert th.checkpoint_values(str(tmp_path))['global_step'] == 5
  # Nothing intact at all: one line, nothing touched.
  for name in os.listdir(tmp_path):
    if name.startswith('model.ckpt-') and '.data-' in name and (
        'damaged' not in name):
      _truncate(tmp_path / name, keep=0.3)
  result = _run(tmp_path, digits_dir, '--max_number_of_steps=9')
  assert result.returncode == 2
  assert 'No checkpoint in --train_dir=' in _error(result)


def test_a_damaged_fine_tuning_checkpoint_is_not_called_bad_data(
    digits_dir, tmp_path):
  source = tmp_path / 'source'
  train_lib.train(th.config(source, digits_dir))
  _truncate(source / 'model.ckpt-2.data-00000-of-00001', keep=0.9)
  result = _run(tmp_path / 'train', digits_dir, '--max_number_of_steps=2',
                f'--checkpoint_path={source}/model.ckpt-2.index')
  assert result.returncode == 2
  line = _error(result)
  assert line.startswith(f'ERROR: Checkpoint {source}/model.ckpt-2 cannot '
                         'be restored'), line
  assert 'dataset' not in line


def test_corrupt_record_stops_with_one_line_after_a_checkpoint(digits_dir,
                                                               tmp_path):
  data = tmp_path / 'digits'
  shutil.copytree(digits_dir, data)
  for name in os.listdir(data):
    if 'train' in name and name.endswith('.tfrecord'):
      path = data / name
      # TFRecord files concatenate: three copies outgrow the 2048-example
      # shuffle buffer, so the damaged record (near the end) is read only
      # after a few hundred steps, not while the buffer first fills.
      raw = bytearray(path.read_bytes() * 3)
      at = int(len(raw) * 0.9)
      raw[at:at + 64] = bytes(64)  # that record fails its CRC
      path.write_bytes(bytes(raw))
  train_dir = tmp_path / 'train'
  result = _run(train_dir, str(data), '--max_number_of_steps=100000',
                '--save_interval_secs=3600')
  assert result.returncode == 2
  line = _error(result)
  assert 'a record of digits train' in line and 'cannot be read' in line
  assert 'a checkpoint of the last step was written' in line
  stopped_at = int(line.split('Training stopped at step ')[1].split(':')[0])
  assert stopped_at > 0
  assert th.checkpoint_steps(train_dir)[-1] == stopped_at


def test_dead_master_is_a_bounded_wait_naming_the_address(digits_dir,
                                                          tmp_path):
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  start = time.time()
  result = _run(tmp_path / 'train', digits_dir, '--max_number_of_steps=2',
                f'--master=grpc://127.0.0.1:{port}', '--master_wait_secs=3')
  assert time.time() - start < 120
  assert result.returncode == 2
  line = _error(result)
  assert line.startswith(f'ERROR: Cannot reach --master=grpc://127.0.0.1:'
                         f'{port}'), line
  assert 'Waiting for --master' in result.stderr  # the logged back-off
  # SIGTERM during the wait ends the process at once.
  process = subprocess.Popen(
      _command(tmp_path / 'train', digits_dir, '--max_number_of_steps=2',
               f'--master=grpc://127.0.0.1:{port}', '--master_wait_secs=600'),
      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
  try:
    deadline = time.time() + 120
    seen = ''
    while 'Waiting for --master' not in seen and time.time() < deadline:
      seen += process.stderr.readline()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) != 0
  finally:
    if process.poll() is None:
      process.kill()
      process.wait()


def test_train_dir_that_is_a_file_is_one_line(digits_dir, tmp_path):
  path = tmp_path / 'not_a_dir'
  path.write_text('x')
  result = _run(path, digits_dir, '--max_number_of_steps=2')
  assert result.returncode == 2
  assert _error(result) == (f'ERROR: --train_dir={path} is a file, not a '
                            'directory; choose another --train_dir.')


def _mount_tmpfs(path, options):
  os.makedirs(path, exist_ok=True)
  if os.geteuid() != 0:
    return False
  return subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs',
                         str(path)], capture_output=True).returncode == 0


def _limit_file_size(limit):
  def preexec():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
  return preexec


def test_full_disk_is_one_line_and_leaves_no_partial_files(digits_dir,
                                                          tmp_path):
  """A 8 MiB tmpfs (as root) cannot hold lenet's 13 MB checkpoints: refused
  up front. Without mount rights a 1 MB file-size limit fails the first
  checkpoint write instead: one line, and no temporary files left."""
  mount = tmp_path / 'small'
  if _mount_tmpfs(mount, 'size=8m'):
    try:
      result = _run(mount / 'train', digits_dir, '--max_number_of_steps=2')
      assert result.returncode == 2
      line = _error(result)
      assert f'--train_dir={mount}/train has' in line and 'MiB free' in line
      assert not os.path.exists(mount / 'train')  # nothing left behind
    finally:
      subprocess.run(['umount', str(mount)], check=True)
  else:
    result = _run(mount / 'train', digits_dir, '--max_number_of_steps=2',
                  preexec_fn=_limit_file_size(1 << 20))
    assert result.returncode == 2
    assert _error(result).startswith('ERROR: '), result.stderr[-2000:]
    leftovers = [n for n in os.listdir(mount / 'train')
                 if '_temp' in n or 'tempstate' in n]
    assert not leftovers


def test_read_only_train_dir_is_one_line_before_any_work(digits_dir,
                                                        tmp_path):
  mount = tmp_path / 'ro'
  if _mount_tmpfs(mount, 'ro,size=1m'):
    try:
      result = _run(mount, digits_dir, '--max_number_of_steps=2')
    finally:
      subprocess.run(['umount', str(mount)], check=True)
  else:
    os.chmod(mount, 0o555)
    result = _run(mount, digits_dir, '--max_number_of_steps=2')
    os.chmod(mount, 0o755)
  assert result.returncode == 2
  line = _error(result)
  assert line.startswith(f'ERROR: --train_dir={mount} is not writable'), line
  assert 'Saving checkpoints' not in result.stderr
