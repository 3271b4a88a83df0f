"""Checkpoint lookup and compatibility checks shared by the scripts."""

import os
import re

from slim_zoo.nets.compat import tf
from slim_zoo.errors import UsageError


_PREFIX_SUFFIX = re.compile(r'\.(index|meta|data-\d{5}-of-\d{5})$')


def checkpoint_prefix(path):
  """'model.ckpt-5.index' or '.data-00000-of-00001' or '.meta' -> the prefix
  'model.ckpt-5' those files belong to; anything else unchanged."""
  stripped = _PREFIX_SUFFIX.sub('', path or '')
  if stripped != path and os.path.isfile(stripped + '.index'):
    return stripped
  return path


def resolve_checkpoint(path):
  """Returns the checkpoint prefix of a checkpoint file or a directory.

  A path to one of a checkpoint's own files (.index, .data-*, .meta) is
  taken as the checkpoint it belongs to.

  Raises:
    ValueError: if the path does not exist or the directory holds no
      checkpoint.
  """
  path = checkpoint_prefix(path)
  if path and os.path.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if not latest:
      raise UsageError(f'No checkpoint found in directory {path}; train first '
                       'or pass a checkpoint file.')
    return latest
  if not path or not tf.train.checkpoint_exists(path):
    raise UsageError(f'Checkpoint {path} does not exist; check '
                     '--checkpoint_path.')
  return path


def compare_with_checkpoint(checkpoint, variables):
  """Splits `variables` by how they fit `checkpoint`.

  Returns:
    (mismatched, missing): descriptions 'name (model [..], checkpoint [..])'
    of variables whose shapes differ, and names absent from the checkpoint.
  """
  shapes = tf.train.load_checkpoint(checkpoint).get_variable_to_shape_map()
  mismatched, missing = [], []
  for var in variables:
    name = var.op.name
    if name not in shapes:
      missing.append(name)
    elif var.shape.as_list() != shapes[name]:
      mismatched.append(f'{name} (model {var.shape.as_list()}, checkpoint '
                        f'{shapes[name]})')
  return mismatched, missing
