"""Exports a network's inference GraphDef, and freezes it with a checkpoint.

Usage:
  # Graph only (no weights), as in TF-Slim:
  python export_inference_graph.py --model_name=inception_v3 \
      --output_file=/tmp/inception_v3_inf_graph.pb

  # Graph plus a frozen copy with the checkpoint's weights as constants:
  python export_inference_graph.py --model_name=lenet --dataset_name=digits \
      --output_file=/tmp/lenet_inf_graph.pb --checkpoint_path=/tmp/train \
      --frozen_graph=/tmp/lenet_frozen.pb

The input placeholder is named `input`; the script prints the output node
(e.g. InceptionV3/Predictions/Reshape_1). Beside every .pb it writes a small
JSON (<file>.json) with the input/output names, image size and model name,
which classify_image.py reads. All files are written atomically.
"""

import json
import os
import sys

from absl import app
from absl import flags
from absl import logging

import checkpoint_utils
import common_flags
from datasets import dataset_utils
from nets import nets_factory
from nets.compat import tf

common_flags.define_model_flags()
common_flags.define_dataset_flags()
common_flags.define_preprocessing_flags()
common_flags.define_batch_size_flag(None)

flags.DEFINE_bool('is_training', False,
                  'Export the training graph (batch norm in batch mode).')
flags.DEFINE_integer('image_size', None,
                     'Input height/width; None takes the registry default.')
flags.DEFINE_string('output_file', '', 'Where to write the GraphDef.')
flags.DEFINE_bool('write_text_graphdef', False,
                  'Write the GraphDef as text (pbtxt) instead of binary.')
flags.DEFINE_bool('is_video_model', False, 'The model takes video input.')
flags.DEFINE_integer('num_frames', None,
                     'Frames of a video model\'s input; None takes the '
                     'registry default.')
flags.DEFINE_string('final_endpoint', None,
                    'Export this end point (features) instead of the '
                    'predictions.')
flags.DEFINE_string('checkpoint_path', None,
                    'Checkpoint file or directory to freeze into '
                    '--frozen_graph.')
flags.DEFINE_string('frozen_graph', None,
                    'Where to write the frozen GraphDef (needs '
                    '--checkpoint_path).')

FLAGS = flags.FLAGS

INPUT_NAME = 'input'


def build_inference_graph(model_name, num_classes, image_size=None,
                          batch_size=None, is_training=False,
                          use_grayscale=False, is_video_model=False,
                          num_frames=None, final_endpoint=None, channels=3):
  """Builds the inference graph in the default graph.

  Returns:
    (input placeholder, output tensor, metadata dict).

  Raises:
    ValueError: video flag on an image model (or the reverse), unknown
      final_endpoint.
  """
  spec = nets_factory.get_spec(model_name)
  if is_video_model != (spec.input_kind == 'video'):
    raise ValueError(
        f'{model_name} takes {spec.input_kind} input; '
        + ('drop --is_video_model.' if is_video_model else
           'pass --is_video_model (and optionally --num_frames).'))
  size = image_size or spec.default_image_size
  channels = 1 if use_grayscale else channels
  if spec.input_kind == 'video':
    frames = num_frames or spec.num_frames
    shape = [batch_size, frames, size, size, channels]
  else:
    shape = [batch_size, size, size, channels]
  network_fn = nets_factory.get_network_fn(
      model_name, num_classes=num_classes, is_training=is_training)
  placeholder = tf.placeholder(tf.float32, shape, name=INPUT_NAME)
  logits, end_points = network_fn(placeholder)
  if final_endpoint:
    if final_endpoint not in end_points:
      raise ValueError(f'Unknown --final_endpoint {final_endpoint!r} for '
                       f'{model_name}; valid: {", ".join(end_points)}.')
    output = end_points[final_endpoint]
  else:
    output = end_points.get('Predictions', logits)
  metadata = {
      'model_name': model_name,
      'input': placeholder.op.name,
      'input_shape': shape,
      'output': output.op.name,
      'logits': logits.op.name,
      'num_classes': num_classes,
      'image_size': size,
      'use_grayscale': bool(use_grayscale),
      'preprocessing': spec.preprocessing,
  }
  return placeholder, output, metadata


def _write_graph(graph_def, path, as_text=False):
  with dataset_utils.atomic_path(path) as tmp:
    with open(tmp, 'w' if as_text else 'wb') as f:
      f.write(str(graph_def) if as_text else graph_def.SerializeToString())


def _write_metadata(path, metadata):
  dataset_utils.write_text_atomic(
      path + '.json', json.dumps(metadata, indent=2, sort_keys=True) + '\n')


def export(model_name, num_classes, output_file=None, frozen_graph=None,
           checkpoint_path=None, write_text_graphdef=False, **build_kwargs):
  """Writes the inference graph and, with a checkpoint, its frozen version.

  Returns:
    The metadata dict (input/output node names ...).
  """
  if not output_file and not frozen_graph:
    raise ValueError('Nothing to write: pass --output_file and/or '
                     '--frozen_graph.')
  if frozen_graph and not checkpoint_path:
    raise ValueError('--frozen_graph needs --checkpoint_path (the weights to '
                     'freeze).')
  checkpoint = (checkpoint_utils.resolve_checkpoint(checkpoint_path)
                if checkpoint_path else None)
  with tf.Graph().as_default() as graph:
    _, output, metadata = build_inference_graph(model_name, num_classes,
                                                **build_kwargs)
    graph_def = graph.as_graph_def()
    variables = tf.global_variables()
    if checkpoint:  # Check before writing anything.
      mismatched, missing = checkpoint_utils.compare_with_checkpoint(
          checkpoint, variables)
      if mismatched or missing:
        problems = mismatched + [f'{m} (not in checkpoint)' for m in missing]
        raise ValueError(
            f'Checkpoint {checkpoint} does not fit {model_name} with '
            f'{num_classes} classes and {metadata["input_shape"][-1]} input '
            f'channel(s): {"; ".join(problems[:6])}. Pass the --dataset_name, '
            '--labels_offset or --use_grayscale the checkpoint was trained '
            'with.')
    if output_file:
      _write_graph(graph_def, output_file, write_text_graphdef)
      _write_metadata(output_file, metadata)
    if frozen_graph:
      saver = tf.train.Saver(variables)
      with tf.Session() as session:
        saver.restore(session, checkpoint)
        frozen = tf.graph_util.convert_variables_to_constants(
            session, graph_def, [metadata['output']])
      frozen = tf.graph_util.remove_training_nodes(frozen)
      _write_graph(frozen, frozen_graph)
      _write_metadata(frozen_graph, dict(metadata, checkpoint=checkpoint))
  return metadata


def classes_and_channels_from_flags():
  """(num_classes, input channels): the dataset's if given, else the
  published checkpoint's (from the registry) and RGB."""
  spec = nets_factory.get_spec(FLAGS.model_name)
  if not FLAGS['dataset_name'].present:
    return spec.num_classes - FLAGS.labels_offset, 3
  from datasets import dataset_factory
  module = dataset_factory.get_module(FLAGS.dataset_name)
  return (module.NUM_CLASSES - FLAGS.labels_offset,
          getattr(module, 'CHANNELS', 3))


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)

  def run():
    num_classes, channels = classes_and_channels_from_flags()
    metadata = export(
        FLAGS.model_name, num_classes, channels=channels,
        output_file=FLAGS.output_file, frozen_graph=FLAGS.frozen_graph,
        checkpoint_path=FLAGS.checkpoint_path,
        write_text_graphdef=FLAGS.write_text_graphdef,
        image_size=FLAGS.image_size, batch_size=FLAGS.batch_size,
        is_training=FLAGS.is_training, use_grayscale=FLAGS.use_grayscale,
        is_video_model=FLAGS.is_video_model, num_frames=FLAGS.num_frames,
        final_endpoint=FLAGS.final_endpoint)
    print(f'Input node: {metadata["input"]} {metadata["input_shape"]}')
    print(f'Output node: {metadata["output"]}')
    for path in (FLAGS.output_file, FLAGS.frozen_graph):
      if path:
        print(f'Wrote {path}')

  common_flags.run_or_exit(run)


if __name__ == '__main__':
  sys.exit(app.run(main, flags_parser=common_flags.parse_flags_or_exit))
