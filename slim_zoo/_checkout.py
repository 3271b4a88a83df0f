"""Running from a checkout: the root's packages as `slim_zoo.*`.

A wheel installs `nets/` as `slim_zoo/nets/` (pyproject's package-dir). A
checkout keeps TF-Slim's layout, `nets/` beside `slim_zoo/`, so a finder
resolves `slim_zoo.nets` (and the other three) to the root's directories.

TF-Slim's own spelling, `from nets import nets_factory` with the root on
sys.path, imports the same module objects under a second name: each
package's `__init__` calls `alias_top_level` when it is imported as a
top-level package, so `nets.nets_factory is slim_zoo.nets.nets_factory` and
there is one registry, one set of flags, one set of classes per process.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

SUBPACKAGES = ('nets', 'datasets', 'preprocessing', 'deployment')
_PACKAGE = 'slim_zoo'


class _CheckoutFinder(importlib.abc.MetaPathFinder):
  """Finds slim_zoo.<subpackage> in the checkout root."""

  def __init__(self, root):
    self.root = root

  def find_spec(self, fullname, path=None, target=None):
    del path, target
    package, _, sub = fullname.partition('.')
    if package != _PACKAGE or sub not in SUBPACKAGES:
      return None
    directory = os.path.join(self.root, sub)
    return importlib.util.spec_from_file_location(
        fullname, os.path.join(directory, '__init__.py'),
        submodule_search_locations=[directory])


class _AliasLoader(importlib.abc.Loader):
  """Loads `nets.x` as the already importable `slim_zoo.nets.x`."""

  def __init__(self, target):
    self.target = target

  def create_module(self, spec):
    return importlib.import_module(self.target)

  def exec_module(self, module):
    pass  # create_module returned the finished module.


class _AliasFinder(importlib.abc.MetaPathFinder):
  """Maps the top-level `nets.*` (etc.) onto `slim_zoo.nets.*`."""

  def find_spec(self, fullname, path=None, target=None):
    del path, target
    top = fullname.partition('.')[0]
    if top not in SUBPACKAGES or '.' not in fullname:
      return None
    aliased = sys.modules.get(top)
    if aliased is None or aliased.__name__ != f'{_PACKAGE}.{top}':
      return None  # Someone else's top-level package of that name.
    return importlib.machinery.ModuleSpec(
        fullname, _AliasLoader(f'{_PACKAGE}.{fullname}'))


def install(root):
  """Makes slim_zoo.{nets,datasets,preprocessing,deployment} importable."""
  if not any(isinstance(f, _CheckoutFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _CheckoutFinder(root))


def alias_top_level(name):
  """Makes top-level package `name` the same module as `slim_zoo.<name>`."""
  module = importlib.import_module(f'{_PACKAGE}.{name}')
  if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _AliasFinder())
  sys.modules[name] = module
