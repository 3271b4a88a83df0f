"""Tells what a checkpoint is: the network it fits, its classes, what else it holds.

Usage:
  inspect_checkpoint --checkpoint_path=/tmp/mobilenet_v2_1.4_224.ckpt
  inspect_checkpoint --checkpoint_path=/tmp/train_dir --model_name=mobilenet_v2
  inspect_checkpoint --checkpoint_path=/tmp/model.ckpt --json

--checkpoint_path takes a checkpoint prefix, one of its files or a directory
(its latest checkpoint). Only the checkpoint's index (names, shapes, dtypes)
is read, never the tensor data (but global_step's one value and the tensor
named by --tensor_name). It prints the registered networks the checkpoint
fits (all their variables, batch-norm statistics included, with their
shapes), or the closest ones with what differs; the logits' class count and
the --labels_offset or fine-tune exclusion that follows for each dataset;
moving-average shadows, global step, optimizer slots, quantization ranges,
dtypes, parameters and size; and with --model_name the restore plan a
fine-tune of that network follows (--checkpoint_exclude_scopes and
--num_classes change it as they change training). --json prints the same as
one JSON object.
"""

import json

from absl import flags

from slim_zoo import common_flags

FLAGS = flags.FLAGS


def define_flags():
  common_flags.define_checkpoint_path_flag(
      None, 'Checkpoint prefix, one of its files, or a directory (its latest '
      'checkpoint).')
  with common_flags.group('Model'):
    flags.DEFINE_string('model_name', None,
                        'Print the restore plan of this network (see '
                        'nets/nets_factory.py).')
    flags.register_validator('model_name', common_flags._validate_model_name)  # pylint: disable=protected-access
    flags.DEFINE_string('checkpoint_exclude_scopes', None,
                        'Comma-separated scopes the restore plan excludes '
                        '(default: the registry\'s logits scopes when their '
                        'shape differs, as training does).')
    flags.DEFINE_integer('num_classes', None,
                         'Classes of the network to fine-tune, for the '
                         'restore plan (default: the published network\'s).')
  with common_flags.group('Output'):
    flags.DEFINE_boolean('json', False, 'Print one JSON object.')
    flags.DEFINE_string('tensor_name', None,
                        'Also read this tensor and print its statistics.')
  flags.mark_flag_as_required('checkpoint_path')


def main(argv):
  del argv
  from slim_zoo import checkpoint_inspect  # Imports TensorFlow: not for --help.
  report = checkpoint_inspect.inspect(
      FLAGS.checkpoint_path, model_name=FLAGS.model_name,
      checkpoint_exclude_scopes=FLAGS.checkpoint_exclude_scopes,
      num_classes=FLAGS.num_classes, tensor_name=FLAGS.tensor_name)
  if FLAGS.json:
    print(json.dumps(report, indent=1, sort_keys=True))
  else:
    print('\n'.join(checkpoint_inspect.format_report(report)))


def run():
  from slim_zoo import cli
  cli.run(__doc__, define_flags, main)


if __name__ == '__main__':
  run()
