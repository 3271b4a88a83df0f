"""One training run per --train_dir: an advisory lock held for the run's life.

The lock is `fcntl.flock` on `<train_dir>/.train.lock`. The kernel drops it
when the holding process ends in any way (kill -9 included) and it does not
survive a reboot, so a stale lock never needs cleaning: after a kill the
file may remain, the lock does not. A run that ends normally removes it. The file records who holds it (host, pid, start time,
command) so a second run can name the holder. In a cluster only the chief
takes it (the workers write nothing to --train_dir). Filesystems without
flock support (some NFS mounts) get a warning and no lock.
"""

import errno
import fcntl
import json
import os
import socket
import sys
import time

from absl import logging

from slim_zoo.errors import UsageError

LOCK_FILENAME = '.train.lock'


class TrainDirLock:
  """Context manager: holds the lock of `train_dir` or raises UsageError."""

  def __init__(self, train_dir):
    self.train_dir = train_dir
    self.path = os.path.join(train_dir, LOCK_FILENAME)
    self._fd = None

  def __enter__(self):
    self.acquire()
    return self

  def __exit__(self, *unused_exc):
    self.release()

  def acquire(self):
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
        holder = _read_holder(fd)
        os.close(fd)
        raise UsageError(
            f'--train_dir={self.train_dir} is in use by another training run'
            f' ({holder}); wait for it to finish, stop it, or choose another '
            '--train_dir.') from None
      if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
        logging.warning('The filesystem of %s does not support locks; not '
                        'guarding against a second run in it.', self.train_dir)
        os.close(fd)
        return
      os.close(fd)
      raise
    holder = {'host': socket.gethostname(), 'pid': os.getpid(),
              'started': time.strftime('%Y-%m-%d %H:%M:%S'),
              'command': ' '.join(sys.argv)}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(holder) + '\n').encode(), 0)
    self._fd = fd

  def release(self):
    if self._fd is not None:
      # Unlinked while still held: a run starting now creates a new file
      # and finds it free, which it is once this process closes.
      try:
        os.remove(self.path)
      except OSError:
        pass
      os.close(self._fd)  # Closing drops the flock.
      self._fd = None


def _read_holder(fd):
  try:
    info = json.loads(os.pread(fd, 4096, 0).decode() or '{}')
  except (OSError, ValueError):
    info = {}
  if not info:
    return 'holder unknown'
  return (f'pid {info.get("pid")} on {info.get("host")}, started '
          f'{info.get("started")}: {info.get("command", "")[:200]}')
