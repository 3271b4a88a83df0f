"""Classifies image files with a model written by export_inference_graph.

Usage:
  classify_image --graph=/tmp/lenet_export/model_int8.tflite \\
      --labels_file=/tmp/digits/labels.txt --image_files=/tmp/digit.png

--graph takes any exported model: a frozen GraphDef (.pb), a SavedModel
directory or a TFLite flatbuffer (.tflite, float or int8). The metadata the
export wrote beside it (<file>.json, or assets.extra/export_metadata.json in
a SavedModel) gives the image size and the model's preprocessing; each image
gets the model's evaluation preprocessing and the top-k classes are printed
with their names from labels.txt. JPEG (CMYK too), PNG, BMP and GIF (first
frame) files are read and converted to the model's channels (gray <-> RGB,
alpha dropped), so a 1-channel model such as the demo LeNet takes any of
them. --top_k must be positive.

A frozen graph or SavedModel runs with --mixed_precision=auto by default:
bfloat16 on CPUs with native bf16 arithmetic (about 2x faster for ResNet and
Inception, probabilities within about 1e-2 of float32); --mixed_precision=none
gives the exact float32 numbers.
"""

import os

from absl import flags
from absl import logging

from slim_zoo import common_flags

FLAGS = flags.FLAGS


def define_flags():
  with common_flags.group('Classification'):
    flags.DEFINE_string('graph', None,
                        'Exported model to run: frozen .pb, SavedModel '
                        'directory or .tflite file.')
    flags.DEFINE_list('image_files', [], 'Image files (jpeg/png/bmp/gif).')
    flags.DEFINE_string('labels_file', None,
                        'labels.txt with "label:name" lines; class ids are '
                        'printed when omitted.')
    flags.DEFINE_integer('top_k', 5, 'How many classes to print per image.')
    flags.DEFINE_integer('labels_offset', 0,
                         'Added to the model\'s class index to find the label '
                         '(1 for 1000-class models with 1001-class label '
                         'files).')
  common_flags.define_performance_flags(mixed_precision='auto')


def main(argv):
  del argv
  from slim_zoo import export_utils  # Imports TensorFlow: not for --help.
  from slim_zoo import performance
  from slim_zoo.datasets import dataset_utils
  logging.set_verbosity(logging.WARNING)
  config = performance.session_config(
      inter_op_threads=FLAGS.inter_op_threads,
      intra_op_threads=FLAGS.intra_op_threads, xla=FLAGS.xla,
      mixed_precision=FLAGS.mixed_precision)
  labels = {}
  if FLAGS.labels_file:
    labels = dataset_utils.read_label_file(
        os.path.dirname(FLAGS.labels_file) or '.',
        os.path.basename(FLAGS.labels_file))
  for path, top in zip(FLAGS.image_files,
                       export_utils.classify(FLAGS.graph, FLAGS.image_files,
                                             FLAGS.top_k, config)):
    print(f'{path}:')
    for index, probability in top:
      label = index + FLAGS.labels_offset
      name = labels.get(label, str(label))
      print(f'  {label:4d} {name:<24s} {probability:.4f}')


def run():
  from slim_zoo import cli
  cli.run(__doc__, define_flags, main)


if __name__ == '__main__':
  run()
