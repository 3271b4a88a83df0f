"""Flag groups shared by the scripts, each flag defined once, and error exit.

Scripts call the define_* groups they need; names and meanings follow
TF-Slim's scripts. A flag left at None means "take it from the registry".
"""

import sys

from absl import flags

FLAGS = flags.FLAGS
_DEFINED = set()


def _once(group):
  def wrapper():
    if group.__name__ not in _DEFINED:
      _DEFINED.add(group.__name__)
      group()
  wrapper.__name__ = group.__name__
  return wrapper


def _validate_model_name(name):
  from nets import nets_factory
  if name is None or name in nets_factory.REGISTRY:
    return True
  raise flags.ValidationError(str(nets_factory.unknown_name_error(
      'model_name', name, nets_factory.REGISTRY)))


@_once
def define_model_flags():
  flags.DEFINE_string('model_name', 'inception_v3',
                      'Name of the network (see nets/nets_factory.py).')
  flags.register_validator('model_name', _validate_model_name)


@_once
def define_dataset_flags():
  flags.DEFINE_string('dataset_name', 'imagenet', 'Name of the dataset.')
  flags.DEFINE_string('dataset_split_name', 'train', 'Split to read.')
  flags.DEFINE_string('dataset_dir', None,
                      'Directory holding the dataset\'s TFRecords.')
  flags.DEFINE_integer('labels_offset', 0,
                       'Offset subtracted from the dataset labels; use 1 to '
                       'evaluate a 1000-class model on 1001-class data.')
  flags.DEFINE_integer('num_readers', 4,
                       'Number of TFRecord files read in parallel.')
  flags.DEFINE_integer('num_preprocessing_threads', 4,
                       'Parallel decode/preprocess calls (0 = autotune).')


def define_batch_size_flag(default):
  """--batch_size; each script has its TF-Slim default (train 32, eval 100)."""
  flags.DEFINE_integer('batch_size', default, 'Images per batch.')


@_once
def define_preprocessing_flags():
  flags.DEFINE_string('preprocessing_name', None,
                      'Preprocessing to use; None takes the model\'s from '
                      'the registry.')
  flags.DEFINE_bool('use_grayscale', False,
                    'Convert images to grayscale in preprocessing.')


def run_or_exit(fn):
  """Runs fn(); a user error becomes one 'ERROR: ...' line and exit code 2."""
  from datasets.dataset_utils import DatasetError
  try:
    return fn()
  except (ValueError, DatasetError, FileNotFoundError) as e:
    message = ' '.join(str(e).split())
    sys.stderr.write(f'ERROR: {message}\n')
    sys.stderr.flush()
    sys.exit(2)


def parse_flags_or_exit(argv):
  """absl flags parser for app.run: a bad flag is one 'ERROR: ...' line."""
  try:
    return FLAGS(argv)
  except flags.Error as e:
    message = ' '.join(str(e).split())
    sys.stderr.write(f'ERROR: {message} (see --helpfull)\n')
    sys.stderr.flush()
    sys.exit(2)
