"""The commands: thin mains over the library, one module per command.

Each module defines its flags in `define_flags()`, turns the parsed flags
into the library's config record in `main()` and makes one library call.
`run` is what both the installed commands (`train_image_classifier` ...) and
the scripts at the repository root (`python train_image_classifier.py`)
call, so the two behave the same.
"""

import os
import sys

from absl import app
from absl import logging

from slim_zoo import common_flags
from slim_zoo import errors


def run(module_doc, define_flags, main):
  """Defines the command's flags, parses them (--help lists them all), runs
  main under absl, with expected errors as one line (slim_zoo.errors)."""
  _prefer_tf_keras()
  define_flags()

  def parse(argv):
    return common_flags.parse_flags_or_exit(argv, doc=module_doc)

  def guarded_main(argv):
    _one_log_handler()
    return errors.run_or_exit(lambda: main(argv))

  sys.exit(app.run(guarded_main, flags_parser=parse))


def _prefer_tf_keras():
  """tf.keras is tf_keras (Keras 2) in a command, unless the user chose.

  The commands are graph-mode TF-Slim and never use tf.keras, but
  TensorFlow's import loads the Keras that tf.keras names: Keras 3 (the
  default) brings scikit-learn's estimators, matplotlib.pyplot and IPython
  with it, about 1 s of CPU (of 7) at every start of a command, while
  tf_keras is loaded by tf_slim's layers anyway. Set before TensorFlow is
  imported (no command imports it before its flags are parsed);
  TF_USE_LEGACY_KERAS set by the user is kept. Programs that import the
  library are not affected.
  """
  os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')


def _one_log_handler():
  """Every log line once: TensorFlow's logger goes through absl's handler.

  tf.logging attaches its own stderr handler, so each of its messages came
  twice (once as 'INFO:tensorflow:...', once from absl's root handler).
  """
  # TensorFlow through compat: its import drops the start-up banner.
  from slim_zoo.nets import compat  # noqa: F401
  from tensorflow.python.platform import tf_logging
  tf_logger = tf_logging.get_logger()
  for handler in list(tf_logger.handlers):
    tf_logger.removeHandler(handler)
  tf_logger.propagate = True
  logging.use_absl_handler()
