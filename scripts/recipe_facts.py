"""Registry facts and pretrained checkpoints for the shell recipes.

The fine-tuning recipes in scripts/ never hard-code a model fact: they ask
this helper, which reads nets/nets_factory.py.

Usage:
  python scripts/recipe_facts.py --model_name=inception_v3
    prints KEY=VALUE lines: MODEL_NAME, CHECKPOINT_URL, CHECKPOINT_FILE,
    EXCLUDE_SCOPES, TRAINABLE_SCOPES, DEFAULT_IMAGE_SIZE, MIN_IMAGE_SIZE,
    LABELS_OFFSET, NUM_CLASSES, PREPROCESSING (empty value = none).

  python scripts/recipe_facts.py --model_name=inception_v3 \\
      --checkpoint_dir=/tmp/checkpoints [--checkpoint_url=URL]
    also makes sure the pretrained checkpoint is in CHECKPOINT_DIR and adds
    CHECKPOINT_PATH=CHECKPOINT_DIR/CHECKPOINT_FILE. A checkpoint already
    there is used as is; otherwise the archive at URL (default: the
    registry's) is downloaded into CHECKPOINT_DIR, checked, extracted there
    and deleted. One process for both keeps TensorFlow's import to one.

Errors are one 'ERROR: ...' line on stderr and exit code 2.
"""

import argparse
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

from slim_zoo import common_flags  # noqa: E402
from slim_zoo.errors import UsageError  # noqa: E402
from slim_zoo.datasets import dataset_utils  # noqa: E402


def model_facts(model_name):
  """The registry's facts about `model_name` as an ordered dict of strings.

  Raises:
    ValueError: if `model_name` is not registered (lists close names).
  """
  from slim_zoo.nets import nets_factory  # Imports TensorFlow: only when needed.
  spec = nets_factory.get_spec(model_name)
  return {
      'MODEL_NAME': spec.name,
      'CHECKPOINT_URL': spec.checkpoint_url or '',
      'CHECKPOINT_FILE': spec.checkpoint_file or '',
      'EXCLUDE_SCOPES': spec.exclude_scopes,
      'TRAINABLE_SCOPES': spec.trainable_scopes,
      'DEFAULT_IMAGE_SIZE': str(spec.default_image_size),
      'MIN_IMAGE_SIZE': str(spec.min_image_size or ''),
      'LABELS_OFFSET': str(spec.labels_offset),
      'NUM_CLASSES': str(spec.num_classes),
      'PREPROCESSING': spec.preprocessing,
  }


def checkpoint_exists(path):
  """True for a V1 checkpoint file or a V2 checkpoint prefix (.index)."""
  return os.path.isfile(path) or os.path.isfile(path + '.index')


def fetch_checkpoint(url, checkpoint_file, dest_dir):
  """Returns DEST_DIR/CHECKPOINT_FILE, downloading the archive if needed.

  Args:
    url: the published checkpoint archive (.tar.gz / .tgz); only read when
      the checkpoint is not already in `dest_dir`.
    checkpoint_file: checkpoint file name (or V2 prefix) inside the archive,
      relative to the archive root.
    dest_dir: directory holding (or receiving) the checkpoint.

  Raises:
    ValueError: missing file name or URL, or an archive without the
      checkpoint.
    DatasetError: download or extraction failures (from dataset_utils).
  """
  if not checkpoint_file:
    raise UsageError('No checkpoint file name: the model has no published '
                     'TF-Slim checkpoint in the registry; train one first or '
                     'pass a checkpoint you have.')
  path = os.path.join(dest_dir, checkpoint_file)
  if checkpoint_exists(path):
    print(f'Using the checkpoint already in {dest_dir}: {checkpoint_file}',
          file=sys.stderr)
    return path
  if not url:
    raise UsageError(f'{path} does not exist and no CHECKPOINT_URL is known; '
                     f'put {checkpoint_file} into {dest_dir} or set '
                     'CHECKPOINT_URL.')
  print(f'Downloading {url} into {dest_dir}', file=sys.stderr)
  archive = dataset_utils.download(url, dest_dir)
  try:
    dataset_utils.safe_extract(archive, dest_dir)
  finally:
    os.remove(archive)
  if not checkpoint_exists(path):
    raise UsageError(f'{url} holds no checkpoint named {checkpoint_file}; '
                     'check CHECKPOINT_URL (it must be the archive of this '
                     'model).')
  return path


def _parse(argv):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model_name', required=True)
  parser.add_argument('--checkpoint_dir', default='',
                      help='get the pretrained checkpoint into this directory')
  parser.add_argument('--checkpoint_url', default='',
                      help='archive to download (default: the registry\'s)')
  return parser.parse_args(argv)


def main(argv=None):
  args = _parse(argv)

  def facts_and_checkpoint():
    facts = model_facts(args.model_name)
    if args.checkpoint_dir:
      facts['CHECKPOINT_PATH'] = fetch_checkpoint(
          args.checkpoint_url or facts['CHECKPOINT_URL'],
          facts['CHECKPOINT_FILE'], args.checkpoint_dir)
    return facts

  for key, value in common_flags.run_or_exit(facts_and_checkpoint).items():
    print(f'{key}={value}')


if __name__ == '__main__':
  main()
