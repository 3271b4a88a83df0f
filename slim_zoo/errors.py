"""The project's error type and the commands' top-level handler.

Library code raises `UsageError` (a ValueError) for anything the user can
fix: a bad flag value, a missing dataset, a checkpoint that does not fit.
The commands run their work through `run_or_exit`, which prints such an
error, and the everyday environment errors (a missing or read-only path, a
full disk, a port in use), as one 'ERROR: ...' line and exits 2. Anything
else is a bug and keeps its traceback.
"""

import errno
import sys


class UsageError(ValueError):
  """A problem the user can fix; the message names it and the fix."""


# errno -> what to do about it, for OSErrors that are the environment's.
_OS_FIXES = {
    errno.ENOENT: 'check the path',
    errno.ENOTDIR: 'a directory was expected; choose another path',
    errno.EISDIR: 'a file was expected; choose another path',
    errno.EEXIST: 'remove it or choose another path',
    errno.EACCES: 'choose a writable location or fix its permissions',
    errno.EPERM: 'choose a writable location or fix its permissions',
    errno.EROFS: 'the filesystem is read-only; choose another location',
    errno.ENOSPC: 'the disk is full; free space or choose another location',
    errno.EDQUOT: 'the disk quota is exceeded; free space or choose another '
                  'location',
    errno.EFBIG: 'the file size limit (ulimit -f) is reached; raise it or '
                 'write less',
    errno.EADDRINUSE: 'the port is in use; choose another port or stop the '
                      'process holding it',
}

# TensorFlow error classes (by name: importing TensorFlow here would slow
# every command) that are the environment's, with what to do.
_TF_FIXES = {
    'PermissionDeniedError': 'choose a writable location or fix its '
                             'permissions',
    'ResourceExhaustedError': 'out of disk or memory; free space, or lower '
                              '--batch_size',
    'UnavailableError': 'check that the server is running and reachable',
}


def one_line(error):
  """The 'ERROR: ...' text of an expected error, or None for a bug."""
  if isinstance(error, UsageError):
    return ' '.join(str(error).split())
  if isinstance(error, OSError) and error.errno in _OS_FIXES:
    where = error.filename or ''
    if error.filename2:
      where += f' -> {error.filename2}'
    reason = error.strerror or str(error)
    text = f'{reason}: {where}' if where else reason
    return f'{text} ({_OS_FIXES[error.errno]}).'
  name = type(error).__name__
  if name in _TF_FIXES and type(error).__module__.startswith('tensorflow'):
    return f'{tf_reason(error)} ({_TF_FIXES[name]}).'
  return None


def tf_reason(error):
  """The line of a TensorFlow OpError's message that says what went wrong
  (its message also holds the node, the graph's call stack ...)."""
  lines = [line.strip() for line in (
      getattr(error, 'message', None) or str(error)).splitlines()]
  lines = [line for line in lines if line and not line.startswith(
      ('[[', 'Node:', 'File ', 'Detected at', 'Graph execution error'))
           and not line.endswith(':')]
  return lines[-1] if lines else type(error).__name__


def run_or_exit(fn):
  """Runs fn(); an expected error becomes one 'ERROR: ...' line and exit 2."""
  try:
    return fn()
  except Exception as e:  # noqa: BLE001 - re-raised below unless expected.
    message = one_line(e)
    if message is None:
      raise
    sys.stdout.flush()
    sys.stderr.write(f'ERROR: {message}\n')
    sys.stderr.flush()
    sys.exit(2)
