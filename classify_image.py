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

import common_flags
import export_utils
from datasets import dataset_utils
from nets.compat import tf
from preprocessing import preprocessing_factory

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


def preprocess_images(image_files, metadata):
  """Decodes and preprocesses image files as the exported model expects.

  Returns:
    list of float32 arrays [1, size, size, channels], one per file.

  Raises:
    ValueError: a missing or undecodable file.
  """
  if not image_files:
    raise ValueError('No images given; pass --image_files=a.jpg,b.png.')
  for path in image_files:
    if not os.path.isfile(path):
      raise ValueError(f'Image file {path} does not exist.')
  size = metadata['image_size']
  channels = metadata['input_shape'][-1]
  preprocessing_fn = preprocessing_factory.get_preprocessing(
      metadata['preprocessing'], is_training=False)
  batches = []
  with tf.Graph().as_default():
    file_name = tf.placeholder(tf.string, [])
    image = tf.io.decode_image(tf.io.read_file(file_name), channels=channels,
                               expand_animations=False)
    image.set_shape([None, None, channels])
    batch = tf.expand_dims(preprocessing_fn(image, size, size), 0)
    with tf.Session() as session:
      for path in image_files:
        try:
          batches.append(session.run(batch, {file_name: path}))
        except tf.errors.InvalidArgumentError:
          raise ValueError(f'Cannot decode {path} as an image (jpeg, png, bmp '
                           'or gif expected).') from None
  return batches


def classify(model_path, image_files, top_k=5):
  """Returns, per image, a list of (class index, probability), best first.

  Raises:
    ValueError: missing model or images, or a model exported with
      --final_endpoint (features, not classes).
  """
  model = export_utils.load_model(model_path)
  if 'probabilities' not in model.metadata['outputs']:
    raise ValueError(f'{model_path} outputs the features of end point '
                     f'{model.metadata.get("final_endpoint")!r}, not class '
                     'probabilities; export without --final_endpoint.')
  results = []
  for images in preprocess_images(image_files, model.metadata):
    values = model.run(images)['probabilities'].reshape(-1)
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
