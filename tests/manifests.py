"""Helpers over the published-checkpoint manifests (package data in
nets/manifests, read through slim_zoo.nets.manifests)."""

from slim_zoo.nets.manifests import load  # noqa: F401 - the tests' loader.


def is_bookkeeping(var_name):
  """True for variables that are not model state (a stray global step)."""
  return var_name.split(':')[0].endswith('global_step')


def variables_of(graph_or_list):
  """{name: shape} of global variables, without bookkeeping variables."""
  from slim_zoo.nets.compat import tf
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
