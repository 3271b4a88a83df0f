"""The commands: thin mains over the library, one module per command.

Each module defines its flags in `define_flags()`, turns the parsed flags
into the library's config record in `main()` and makes one library call.
`run` is what both the installed commands (`train_image_classifier` ...) and
the scripts at the repository root (`python train_image_classifier.py`)
call, so the two behave the same.
"""

import sys

from absl import app
from absl import logging

from slim_zoo import common_flags
from slim_zoo import errors


def run(module_doc, define_flags, main):
  """Defines the command's flags, parses them (--help lists them all), runs
  main under absl, with expected errors as one line (slim_zoo.errors)."""
  define_flags()

  def parse(argv):
    return common_flags.parse_flags_or_exit(argv, doc=module_doc)

  def guarded_main(argv):
    _one_log_handler()
    return errors.run_or_exit(lambda: main(argv))

  sys.exit(app.run(guarded_main, flags_parser=parse))


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
