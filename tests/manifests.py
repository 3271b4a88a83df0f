"""Access to the published-checkpoint manifests in ../shared/reference."""

import json
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST_DIR = os.environ.get(
    'ZOO_MANIFEST_DIR',
    os.path.normpath(os.path.join(_HERE, '..', '..', 'shared', 'reference',
                                  'manifests')))


def load(name):
  """Returns the manifest dict of network `name`."""
  with open(os.path.join(MANIFEST_DIR, name + '.json')) as f:
    return json.load(f)


def is_bookkeeping(var_name):
  """True for variables that are not model state (a stray global step)."""
  return var_name.split(':')[0].endswith('global_step')


def variables_of(graph_or_list):
  """{name: shape} of global variables, without bookkeeping variables."""
  from nets.compat import tf
  if isinstance(graph_or_list, tf.Graph):
    with graph_or_list.as_default():
      variables = tf.global_variables()
  else:
    variables = graph_or_list
  return {v.op.name: v.shape.as_list() for v in variables
          if not is_bookkeeping(v.op.name)}


def manifest_variables(entries):
  return {name: list(shape) for name, shape in entries
          if not is_bookkeeping(name)}


def diff(expected, actual, limit=12):
  """Human-readable difference between two {name: shape} dicts."""
  missing = sorted(set(expected) - set(actual))
  extra = sorted(set(actual) - set(expected))
  shapes = sorted(k for k in set(expected) & set(actual)
                  if list(expected[k]) != list(actual[k]))
  lines = []
  if missing:
    lines.append(f'missing {len(missing)}: {missing[:limit]}')
  if extra:
    lines.append(f'unexpected {len(extra)}: {extra[:limit]}')
  if shapes:
    lines.append('shape mismatch: ' + ', '.join(
        f'{k} {actual[k]} != {expected[k]}' for k in shapes[:limit]))
  return '; '.join(lines)
