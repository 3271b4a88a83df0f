"""Classifies image files with a frozen graph written by export_inference_graph.

Usage:
  python classify_image.py --graph=/tmp/lenet_frozen.pb \
      --labels_file=/tmp/digits/labels.txt --image_files=/tmp/digit.png

Reads the graph's JSON sidecar (written by export_inference_graph.py) for the
input/output node names, the image size and the model's preprocessing, applies
the model's evaluation preprocessing to each image and prints the top-k
classes with their names.
"""

import json
import os
import sys

from absl import app
from absl import flags

import common_flags
from datasets import dataset_utils
from nets.compat import tf
from preprocessing import preprocessing_factory

flags.DEFINE_string('graph', None, 'Frozen GraphDef (.pb) to run.')
flags.DEFINE_list('image_files', [], 'Image files (jpeg/png/bmp/gif).')
flags.DEFINE_string('labels_file', None,
                    'labels.txt with "label:name" lines; class ids are '
                    'printed when omitted.')
flags.DEFINE_integer('top_k', 5, 'How many classes to print per image.')
flags.DEFINE_integer('labels_offset', 0,
                     'Added to the model\'s class index to find the label '
                     '(1 for 1000-class models with 1001-class label files).')
FLAGS = flags.FLAGS


def load_metadata(graph_path):
  path = graph_path + '.json'
  if not os.path.isfile(path):
    raise ValueError(f'{path} is missing: export the graph with '
                     'export_inference_graph.py, which writes it beside the '
                     '.pb.')
  with open(path) as f:
    return json.load(f)


def classify(graph_path, image_files, top_k=5):
  """Returns, per image, a list of (class index, probability), best first."""
  if not graph_path or not os.path.isfile(graph_path):
    raise ValueError(f'Frozen graph {graph_path} does not exist; pass --graph '
                     'to a .pb written by export_inference_graph.py.')
  if not image_files:
    raise ValueError('No images given; pass --image_files=a.jpg,b.png.')
  for path in image_files:
    if not os.path.isfile(path):
      raise ValueError(f'Image file {path} does not exist.')
  metadata = load_metadata(graph_path)
  graph_def = tf.GraphDef()
  with open(graph_path, 'rb') as f:
    graph_def.ParseFromString(f.read())
  size = metadata['image_size']
  channels = 1 if metadata.get('use_grayscale') else metadata['input_shape'][-1]
  results = []
  with tf.Graph().as_default():
    file_name = tf.placeholder(tf.string, [], name='file_name')
    image = tf.io.decode_image(tf.io.read_file(file_name), channels=channels,
                               expand_animations=False)
    image.set_shape([None, None, channels])
    preprocessing_fn = preprocessing_factory.get_preprocessing(
        metadata['preprocessing'], is_training=False)
    batch = tf.expand_dims(preprocessing_fn(image, size, size), 0)
    output, = tf.import_graph_def(
        graph_def, input_map={metadata['input'] + ':0': batch},
        return_elements=[metadata['output'] + ':0'], name='model')
    probabilities = tf.reshape(output, [-1])
    with tf.Session() as session:
      for path in image_files:
        try:
          values = session.run(probabilities, {file_name: path})
        except tf.errors.InvalidArgumentError:
          raise ValueError(f'Cannot decode {path} as an image (jpeg, png, bmp '
                           'or gif expected).') from None
        order = values.argsort()[::-1][:top_k]
        results.append([(int(i), float(values[i])) for i in order])
  return results


def main(argv):
  del argv

  def run():
    labels = {}
    if FLAGS.labels_file:
      labels = dataset_utils.read_label_file(
          os.path.dirname(FLAGS.labels_file) or '.',
          os.path.basename(FLAGS.labels_file))
    for path, top in zip(FLAGS.image_files,
                         classify(FLAGS.graph, FLAGS.image_files, FLAGS.top_k)):
      print(f'{path}:')
      for index, probability in top:
        label = index + FLAGS.labels_offset
        name = labels.get(label, str(label))
        print(f'  {label:4d} {name:<24s} {probability:.4f}')

  common_flags.run_or_exit(run)


if __name__ == '__main__':
  sys.exit(app.run(main, flags_parser=common_flags.parse_flags_or_exit))
