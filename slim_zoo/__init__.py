"""The TF-Slim model zoo as one importable package.

Installed with pip, everything lives under this one name: `slim_zoo.nets`,
`slim_zoo.datasets`, `slim_zoo.preprocessing`, `slim_zoo.deployment` and the
library behind the scripts (`slim_zoo.train`, `slim_zoo.evaluate`,
`slim_zoo.export_utils` ...). Nothing top-level named `datasets`, `nets`,
`preprocessing` or `deployment` is installed, so Hugging Face `datasets`
and this project work in one environment.

In a checkout those four packages sit at the repository root, TF-Slim's
layout; `_checkout` maps them in here, and keeps TF-Slim's spelling
(`from nets import nets_factory`) working from the root as an alias of the
same modules.
"""

import os as _os

__version__ = '1.0.0'

_HERE = _os.path.dirname(_os.path.abspath(__file__))
_ROOT = _os.path.dirname(_HERE)

if (not _os.path.isdir(_os.path.join(_HERE, 'nets')) and
    _os.path.isfile(_os.path.join(_ROOT, 'nets', 'nets_factory.py'))):
  from slim_zoo import _checkout
  _checkout.install(_ROOT)
