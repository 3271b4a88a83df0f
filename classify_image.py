"""Classifies image files with a model written by export_inference_graph.py.

Usage:
  python classify_image.py --graph=/tmp/lenet_export/model_int8.tflite \
      --labels_file=/tmp/digits/labels.txt --image_files=/tmp/digit.png

--graph takes any exported model: a frozen GraphDef (.pb), a SavedModel
directory or a TFLite flatbuffer (.tflite, float or int8). The metadata the
export wrote beside it (<file>.json, or assets.extra/export_metadata.json in
a SavedModel) gives the image size and the model's preprocessing; each image
gets the model's evaluation preprocessing and the top-k classes are printed
with their names from labels.txt.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

import common_flags
import export_utils
from datasets import dataset_utils

flags.DEFINE_string('graph', None,
                    'Exported model to run: frozen .pb, SavedModel directory '
                    'or .tflite file.')
flags.DEFINE_list('image_files', [], 'Image files (jpeg/png/bmp/gif).')
flags.DEFINE_string('labels_file', None,
                    'labels.txt with "label:name" lines; class ids are '
                    'printed when omitted.')
flags.DEFINE_integer('top_k', 5, 'How many classes to print per image.')
flags.DEFINE_integer('labels_offset', 0,
                     'Added to the model\'s class index to find the label '
                     '(1 for 1000-class models with 1001-class label files).')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)

  def run():
    labels = {}
    if FLAGS.labels_file:
      labels = dataset_utils.read_label_file(
          os.path.dirname(FLAGS.labels_file) or '.',
          os.path.basename(FLAGS.labels_file))
    for path, top in zip(FLAGS.image_files,
                         export_utils.classify(FLAGS.graph, FLAGS.image_files,
                                               FLAGS.top_k)):
      print(f'{path}:')
      for index, probability in top:
        label = index + FLAGS.labels_offset
        name = labels.get(label, str(label))
        print(f'  {label:4d} {name:<24s} {probability:.4f}')

  common_flags.run_or_exit(run)


if __name__ == '__main__':
  sys.exit(app.run(main, flags_parser=common_flags.parse_flags_or_exit))
