"""Converts keras.applications weights into a TF-Slim checkpoint of the zoo.

Usage:
  convert_keras_weights --model_name=resnet_v1_50 \\
      --keras_weights=~/.keras/models/resnet50_weights_tf_dim_ordering_tf_kernels.h5 \\
      --output=/tmp/resnet_v1_50_keras.ckpt

--model_name is the registry row; its keras twin (the registry's
keras_twin, or the family's with keras `alpha` set to the row's depth
multiplier: mobilenet_v1_025 <- MobileNet(alpha=0.25)) reads the file, in a
child process running keras. The checkpoint gets every variable of the
network: the keras layers mapped one to one (batch-norm epsilons and
convolution biases folded exactly, BGR first kernels of Caffe-style models
flipped to RGB), slim variables keras lacks (aux logits) freshly
initialized. A 1000-class keras head becomes 1001 classes with a background
class (--labels_offset=0) or stays 1000 (--labels_offset=1); the default is
the registry's label offset for the network. The README's keras table says
which twins convert exactly and which with a difference.
"""

from absl import flags

from slim_zoo import common_flags

FLAGS = flags.FLAGS


def define_flags():
  common_flags.define_model_flags()
  with common_flags.group('Conversion'):
    flags.DEFINE_string('keras_weights', None,
                        'keras weights file (.h5 or .weights.h5) of the '
                        'model\'s keras.applications twin.')
    flags.DEFINE_string('output', None,
                        'Checkpoint prefix to write (writes <output>.index '
                        'and <output>.data-00000-of-00001).')
    flags.DEFINE_integer('labels_offset', None,
                         '0: add a background class to a 1000-class head '
                         '(1001 classes); 1: keep 1000. Default: the '
                         'registry\'s for --model_name.')
  flags.mark_flag_as_required('keras_weights')
  flags.mark_flag_as_required('output')


def main(argv):
  del argv
  from slim_zoo import keras_weights  # Imports TensorFlow: not for --help.
  import os
  keras_weights.check_request(FLAGS.model_name, FLAGS.output,
                              FLAGS.labels_offset)
  weights = keras_weights.extract_file(os.path.expanduser(FLAGS.keras_weights),
                                       FLAGS.model_name)
  result = keras_weights.convert(weights, FLAGS.model_name, FLAGS.output,
                                 FLAGS.labels_offset)
  print(f'Wrote {result.checkpoint} ({result.model_name}, '
        f'{result.num_classes} classes, --labels_offset='
        f'{result.labels_offset}): {result.converted} variables from keras'
        + (f', {len(result.fresh)} initialized fresh ({result.fresh[0]} ...)'
           if result.fresh else ''))
  if result.difference:
    print(f'Difference from keras: {result.difference}.')


def run():
  from slim_zoo import cli
  cli.run(__doc__, define_flags, main)


if __name__ == '__main__':
  run()
