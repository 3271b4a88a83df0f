"""The Bazel files stay in step with the tree (Bazel itself is not needed)."""

import ast
import os

from tests.conftest import ROOT

PACKAGES = ('nets', 'datasets', 'preprocessing', 'deployment', 'slim_zoo',
            'scripts', 'tests')


def _parse(path):
  with open(path, encoding='utf-8') as f:
    return ast.parse(f.read(), filename=path)  # Starlark is Python syntax.


def _list_assignment(tree, name):
  for node in tree.body:
    if (isinstance(node, ast.Assign) and
        any(isinstance(t, ast.Name) and t.id == name for t in node.targets)):
      return ast.literal_eval(node.value)
  raise AssertionError(f'{name} is not assigned in the BUILD file')


def _runnable_top_level_modules():
  names = []
  for entry in sorted(os.listdir(ROOT)):
    if not entry.endswith('.py'):
      continue
    with open(os.path.join(ROOT, entry), encoding='utf-8') as f:
      if "if __name__ == '__main__':" in f.read():
        names.append(entry[:-3])
  return names


def test_every_build_file_parses():
  for directory in ('',) + PACKAGES:
    path = os.path.join(ROOT, directory, 'BUILD')
    assert os.path.isfile(path), f'{directory or "."} has no BUILD file'
    _parse(path)
  assert 'workspace(name = "tf_slim_zoo")' in open(
      os.path.join(ROOT, 'WORKSPACE')).read()


def test_every_script_has_a_binary_target():
  scripts = _list_assignment(_parse(os.path.join(ROOT, 'BUILD')), 'SCRIPTS')
  assert scripts == _runnable_top_level_modules(), (
      'update SCRIPTS in the top-level BUILD file')


def test_library_core_is_what_the_model_packages_import():
  """//nets etc. depend on //slim_zoo:core only; core's files must be all
  the slim_zoo modules they import (else Bazel builds would miss one)."""
  core = {'__init__', '_checkout', 'errors'}
  for package in ('nets', 'datasets', 'preprocessing', 'deployment'):
    for dirpath, _, files in os.walk(os.path.join(ROOT, package)):
      for name in files:
        if not name.endswith('.py'):
          continue
        for node in ast.walk(_parse(os.path.join(dirpath, name))):
          if isinstance(node, ast.ImportFrom) and node.module == 'slim_zoo':
            assert {a.name for a in node.names} <= core, (name, node.module)
          elif isinstance(node, ast.ImportFrom) and (
              node.module or '').startswith('slim_zoo.'):
            top = node.module.split('.')[1]
            assert top in core | {'nets', 'datasets', 'preprocessing',
                                  'deployment'}, (name, node.module)
