"""Exports a network for inference: GraphDef, frozen graph, SavedModel, TFLite.

Usage:
  # Graph only (no weights), as in TF-Slim:
  export_inference_graph --model_name=inception_v3 \\
      --output_file=/tmp/inception_v3_inf_graph.pb

  # From a checkpoint, every deployable artifact in one command:
  export_inference_graph --model_name=lenet --dataset_name=digits \\
      --checkpoint_path=/tmp/train --export_dir=/tmp/lenet_export \\
      --dataset_dir=/tmp/digits --dataset_split_name=train

--export_dir writes frozen_graph.pb, saved_model/, model_float.tflite and,
when --dataset_dir is given, model_int8.tflite (post-training int8
quantization calibrated on --num_calibration_images images of
--dataset_split_name, with the model's preprocessing). --frozen_graph,
--saved_model_dir, --tflite_file and --tflite_int8_file write (or redirect)
single artifacts. With --quantize (a checkpoint trained with
--quantize_delay) the graph is the fake-quantized one and model_int8.tflite
is fully integer from the trained ranges, no calibration;
--tflite_io_type=int8|uint8 makes its input and output integer too. The --export_dir artifacts are one set: they are built in
a temporary directory beside it which then replaces it in one rename, so the
directory holds the previous complete set until the new one is complete (a
killed run's temporary directory is removed by the next export); it must be
new, or hold only an earlier export. Video models (i3d, s3dg) export as
frozen graph and SavedModel only: TFLite has no built-in 3-D pooling.

The input placeholder is named `input` and takes preprocessed float images
[batch, size, size, channels] (--batch_size unset = variable batch). The
script prints the output nodes: the network's predictions end point (TF-Slim's
names, e.g. InceptionV3/Predictions/Reshape_1) and its logits, or the
--final_endpoint. Beside every file it writes <file>.json (inside a
SavedModel: assets.extra/export_metadata.json) with these names, the image
size and the preprocessing, which classify_image reads. All writes are
atomic (temporary name, then rename).
"""

from absl import flags
from absl import logging

from slim_zoo import common_flags

FLAGS = flags.FLAGS


def define_flags():
  common_flags.define_model_flags()
  common_flags.define_dataset_flags()
  common_flags.define_batch_size_flag(None)
  common_flags.define_preprocessing_flags()
  common_flags.define_checkpoint_path_flag(
      None, 'Checkpoint file or directory whose weights are exported.')
  with common_flags.group('Export'):
    flags.DEFINE_bool('is_training', False,
                      'Export the training graph (batch norm in batch mode).')
    flags.DEFINE_integer('image_size', None,
                         'Input height/width; None takes the registry default.')
    flags.DEFINE_string('output_file', '',
                        'Where to write the inference GraphDef (no weights).')
    flags.DEFINE_bool('write_text_graphdef', False,
                      'Write --output_file as text (pbtxt) instead of binary.')
    flags.DEFINE_bool('is_video_model', None,
                      'The model takes video input; None takes the registry\'s '
                      'input kind (i3d, s3dg are video).')
    flags.DEFINE_integer('num_frames', None,
                         'Frames of a video model\'s input; None takes the '
                         'registry default.')
    flags.DEFINE_string('final_endpoint', None,
                        'Export this end point (features) instead of the '
                        'predictions.')
    flags.DEFINE_string('export_dir', None,
                        'Write frozen_graph.pb, saved_model/, model_float.tflite '
                        '(and model_int8.tflite with --dataset_dir) here.')
    flags.DEFINE_string('frozen_graph', None,
                        'Where to write the frozen GraphDef.')
    flags.DEFINE_string('saved_model_dir', None,
                        'Where to write the SavedModel (serving_default '
                        'signature).')
    flags.DEFINE_string('tflite_file', None,
                        'Where to write the float TFLite flatbuffer.')
    flags.DEFINE_string('tflite_int8_file', None,
                        'Where to write the int8 TFLite flatbuffer (needs '
                        '--dataset_dir for calibration images).')
    flags.DEFINE_bool('quantize', False,
                      'Export the quantized graph of a checkpoint trained '
                      'with --quantize_delay; --export_dir then writes a '
                      'fully integer model_int8.tflite from the trained '
                      'ranges (no calibration) instead of model_float.tflite.')
    flags.DEFINE_enum('tflite_io_type', 'float32', ['float32', 'int8', 'uint8'],
                      'Input/output type of the int8 TFLite model (integer '
                      'I/O for Edge TPU compilers and microcontrollers; the '
                      'metadata records the scale and zero point).')
    flags.DEFINE_integer('num_calibration_images', 300,
                         'Images of --dataset_split_name that calibrate int8 '
                         'quantization.')


def paths_from_flags(is_video_model):
  """ExportPaths: --export_dir's defaults, overridden by single-file flags."""
  from slim_zoo import export_utils  # Imports TensorFlow: not for --help.
  base = (export_utils.ExportPaths.in_directory(
      FLAGS.export_dir, int8=bool(FLAGS.dataset_dir) or FLAGS.quantize,
      tflite=not is_video_model)
          if FLAGS.export_dir else export_utils.ExportPaths())
  return export_utils.ExportPaths(
      graph_file=FLAGS.output_file or None,
      write_text_graphdef=FLAGS.write_text_graphdef,
      frozen_graph=FLAGS.frozen_graph or base.frozen_graph,
      saved_model_dir=FLAGS.saved_model_dir or base.saved_model_dir,
      tflite_file=FLAGS.tflite_file or (
          None if FLAGS.quantize else base.tflite_file),
      tflite_int8_file=FLAGS.tflite_int8_file or base.tflite_int8_file,
      export_dir=FLAGS.export_dir or None)


def main(argv):
  del argv
  from slim_zoo import export_utils  # Imports TensorFlow: not for --help.
  logging.set_verbosity(logging.WARNING)
  from slim_zoo.nets import nets_factory
  spec = nets_factory.get_spec(FLAGS.model_name)
  is_video_model = FLAGS.is_video_model
  if is_video_model is None:
    is_video_model = spec.input_kind == 'video'
  num_classes, channels = export_utils.classes_and_channels(
      spec.name,
      FLAGS.dataset_name if FLAGS['dataset_name'].present else None,
      FLAGS.dataset_dir, FLAGS.dataset_split_name, FLAGS.labels_offset)
  config = export_utils.GraphConfig(
      model_name=spec.name, num_classes=num_classes,
      image_size=FLAGS.image_size, batch_size=FLAGS.batch_size,
      is_training=FLAGS.is_training, use_grayscale=FLAGS.use_grayscale,
      is_video_model=FLAGS.is_video_model, num_frames=FLAGS.num_frames,
      final_endpoint=FLAGS.final_endpoint, channels=channels,
      preprocessing_name=FLAGS.preprocessing_name, quantize=FLAGS.quantize,
      tflite_io_type=FLAGS.tflite_io_type)
  calibration = None
  if FLAGS.dataset_dir and not FLAGS.quantize:
    calibration = export_utils.CalibrationConfig(
        dataset_name=FLAGS.dataset_name, dataset_dir=FLAGS.dataset_dir,
        split_name=FLAGS.dataset_split_name,
        num_images=FLAGS.num_calibration_images)
  metadata = export_utils.export(config, paths_from_flags(is_video_model),
                                 checkpoint_path=FLAGS.checkpoint_path,
                                 calibration=calibration)
  print(f'Input node: {metadata["input"]} {metadata["input_shape"]}')
  print(f'Output node: {metadata["output"]}')
  for key, name in metadata['outputs'].items():
    print(f'  {key}: {name}')
  for path in metadata['written']:
    print(f'Wrote {path}')


def run():
  from slim_zoo import cli
  cli.run(__doc__, define_flags, main)


if __name__ == '__main__':
  run()
