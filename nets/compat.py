"""The one place where tf_slim 1.1.0 is adapted to TensorFlow 2.21.

tf_slim 1.1.0 (2020) predates TensorFlow 2.21 in three places:

1. ``tensorflow.python.layers`` (used by ``slim.batch_norm`` and friends)
   lazily imports ``tf_keras.legacy_tf_layers``; tf_keras 2.21 keeps that
   package at ``tf_keras.src.legacy_tf_layers``. We alias the module name.
2. ``tf_slim.layers.utils.constant_value`` (and a few other places) test
   ``isinstance(x, tensorflow.python.framework.ops.Tensor)``; TF 2.21 moved the
   class to ``tensorflow.python.framework.tensor``. We put the name back.
3. tf_slim calls ``control_flow_ops.cond``, ``.case`` and ``.while_loop``
   (e.g. ``tfexample_decoder.Image``, the decoder behind
   ``DatasetDataProvider``, and the learning/evaluation loops); TF 2.21 moved
   them to their own modules. We put the names back.

Import ``tf`` and ``slim`` from this module instead of importing tf_slim
directly; that guarantees the workarounds run first. Graph mode is enabled
here because every builder in this project is a TF1-style graph function.
"""

import contextlib
import importlib
import os
import re
import sys
import tempfile
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# TensorFlow 2.21's start-up lines on a machine without a GPU: its C++ code
# logs them before absl logging is initialised, so TF_CPP_MIN_LOG_LEVEL does
# not reach them; two libraries log each, so they come twice. They say
# nothing a user can act on. Only these lines are dropped, and only while
# TensorFlow is imported and its devices are listed; anything else written
# to stderr in that window is passed on.
_BANNER = re.compile(
    r'All log messages before absl::InitializeLog\(\) is called'
    r'|cudart_stub\.cc.*Could not find cuda drivers'
    r'|cuda_(platform|executor|diagnostics)\.cc'
    r'|failed call to cuInit'
    r'|cpu_feature_guard\.cc'
    r'|^To enable the following instructions: .* rebuild TensorFlow'
    r'|port\.cc.*oneDNN custom operations are on'
    r'|Unable to register cu(DNN|FFT|BLAS) factory'
    r'|TF-TRT Warning')


@contextlib.contextmanager
def _drop_start_up_banner():
  """Filters TensorFlow's start-up banner out of this process's stderr."""
  if os.environ.get('SLIM_ZOO_TF_BANNER') == '1':  # Debugging TensorFlow.
    yield
    return
  try:
    sys.stderr.flush()
    saved = os.dup(2)
  except (OSError, ValueError):  # No real stderr (embedded interpreter).
    yield
    return
  with tempfile.TemporaryFile(mode='w+b') as captured:
    os.dup2(captured.fileno(), 2)
    try:
      yield
    finally:
      try:
        sys.stderr.flush()
      except ValueError:
        pass
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      kept = [line for line in captured.read().decode(
          'utf-8', 'replace').splitlines(keepends=True)
              if not _BANNER.search(line)]
      if kept:
        sys.stderr.write(''.join(kept))
        sys.stderr.flush()


with _drop_start_up_banner():
  import tensorflow.compat.v1 as tf  # noqa: E402
  # Device discovery (cuInit) logs too; do it now, inside the filter.
  tf.config.list_physical_devices()
from tensorflow.python.framework import ops as _ops  # noqa: E402
from tensorflow.python.framework import tensor as _tensor  # noqa: E402
from tensorflow.python.ops import control_flow_ops as _cf_ops  # noqa: E402
from tensorflow.python.util import deprecation as _deprecation  # noqa: E402

# tf.compat.v1 graph code triggers hundreds of "is deprecated" notices that
# bury the training log; they say nothing a user of this project can act on.
_deprecation._PRINT_DEPRECATION_WARNINGS = False
# tf_slim calls the legacy layers' `apply` and `tf.layers.flatten`, which
# warn on every layer built; the calls are correct for these legacy layers.
warnings.filterwarnings('ignore', message='`layer.apply` is deprecated')
warnings.filterwarnings('ignore', message='`tf.layers.flatten` is deprecated')

_LEGACY_ALIAS = 'tf_keras.legacy_tf_layers'
_LEGACY_TARGET = 'tf_keras.src.legacy_tf_layers'


def _install_legacy_layers_alias():
  """Maps tf_keras.legacy_tf_layers(.*) onto tf_keras.src.legacy_tf_layers."""
  try:
    importlib.import_module(_LEGACY_ALIAS)
    return False  # A future tf_keras restored the name: nothing to do.
  except ImportError:
    pass
  target = importlib.import_module(_LEGACY_TARGET)
  sys.modules[_LEGACY_ALIAS] = target
  for sub in ('base', 'convolutional', 'core', 'normalization', 'pooling',
              'variable_scope_shim'):
    try:
      sys.modules[f'{_LEGACY_ALIAS}.{sub}'] = importlib.import_module(
          f'{_LEGACY_TARGET}.{sub}')
    except ImportError:
      pass
  return True


def _install_ops_tensor_alias():
  """Restores tensorflow.python.framework.ops.Tensor for tf_slim."""
  if hasattr(_ops, 'Tensor'):
    return False
  _ops.Tensor = _tensor.Tensor
  return True


def _install_control_flow_aliases():
  """Restores control_flow_ops.cond/case/while_loop for tf_slim."""
  from tensorflow.python.ops import cond
  from tensorflow.python.ops import control_flow_case
  from tensorflow.python.ops import while_loop
  installed = False
  for name, fn in (('cond', cond.cond), ('case', control_flow_case.case),
                   ('while_loop', while_loop.while_loop)):
    if not hasattr(_cf_ops, name):
      setattr(_cf_ops, name, fn)
      installed = True
  return installed


LEGACY_LAYERS_ALIASED = _install_legacy_layers_alias()
OPS_TENSOR_ALIASED = _install_ops_tensor_alias()
CONTROL_FLOW_ALIASED = _install_control_flow_aliases()

tf.disable_eager_execution()
tf.disable_v2_behavior()

import tf_slim as slim  # noqa: E402

__all__ = ['tf', 'slim', 'LEGACY_LAYERS_ALIASED', 'OPS_TENSOR_ALIASED',
           'CONTROL_FLOW_ALIASED']
