"""Turns a network and a checkpoint into deployable artifacts.

Builds the inference graph of any registered network on a placeholder named
``input`` and, from a checkpoint, writes:

* the inference GraphDef (TF-Slim's export_inference_graph output);
* a frozen GraphDef: variables become constants, nodes only training needs
  (Identity, CheckNumerics, savers, initializers) are stripped;
* a SavedModel of the frozen graph whose ``serving_default`` signature
  takes float images (already preprocessed, as fed to ``input``) and returns
  ``logits``, ``probabilities``, the top-5 ``classes`` and their ``scores``;
* a float TFLite flatbuffer and an int8 post-training-quantized one
  calibrated on images of a TFRecord split, read through
  datasets/dataset_factory and the model's preprocessing.

Every file is written to a temporary name and renamed into place; a SavedModel
is built in a temporary directory that is renamed. An export directory
(`ExportPaths.in_directory`, --export_dir) is one set: every artifact is built
in a temporary directory beside it, which then takes its place in one
rename, so the directory always holds one complete export (the previous one
until the new one is complete). Beside every artifact a
JSON sidecar (``<file>.json``; ``assets.extra/export_metadata.json`` inside a
SavedModel) records the node names, image size and preprocessing, which
`load_model` (and classify_image.py) read back.

Output node names come from the built graph: the network's ``Predictions``
end point (TF-Slim's names, e.g. ``InceptionV3/Predictions/Reshape_1``), or
the requested ``final_endpoint``.
"""

import ctypes
import dataclasses
import errno
import json
import os
import shutil
import tempfile
from typing import Optional

import numpy as np

from slim_zoo import checkpoint_utils
from slim_zoo import performance
from slim_zoo import quantize
from slim_zoo.datasets import dataset_utils
from slim_zoo.nets import nets_factory
from slim_zoo.nets.compat import tf
from slim_zoo.errors import UsageError

INPUT_NAME = 'input'
TOP_K = 5
SIGNATURE_KEY = 'serving_default'
SIGNATURE_INPUT = 'images'
METADATA_FILE = os.path.join('assets.extra', 'export_metadata.json')


@dataclasses.dataclass(frozen=True)
class GraphConfig:
  """What inference graph to build.

  Attributes:
    model_name: registered network name.
    num_classes: classes of the logits layer (must match the checkpoint).
    image_size: input height/width; None takes the registry default.
    batch_size: fixed batch size; None exports a variable batch dimension.
    is_training: build the training graph (batch norm in batch mode).
    use_grayscale: one input channel instead of `channels`.
    is_video_model: the caller says the model takes video (or images, with
      False); None takes the registry's input kind, which a given value must
      agree with.
    num_frames: frames of a video model's input; None takes the registry's.
    final_endpoint: export this end point (features) instead of predictions.
    channels: input channels when not grayscale.
    preprocessing_name: preprocessing recorded for classify_image.py; None
      takes the registry's.
    quantize: the fake-quantized graph of quantization-aware training
      (slim_zoo.quantize); its int8 TFLite model takes the trained ranges.
    tflite_io_type: 'float32', 'int8' or 'uint8': the input and output type
      of the int8 TFLite model.
  """
  model_name: str
  num_classes: int
  image_size: Optional[int] = None
  batch_size: Optional[int] = None
  is_training: bool = False
  use_grayscale: bool = False
  is_video_model: Optional[bool] = None
  num_frames: Optional[int] = None
  final_endpoint: Optional[str] = None
  channels: int = 3
  preprocessing_name: Optional[str] = None
  quantize: bool = False
  tflite_io_type: str = 'float32'


@dataclasses.dataclass(frozen=True)
class ExportPaths:
  """Where to write each artifact; None (or '') skips it."""
  graph_file: Optional[str] = None
  write_text_graphdef: bool = False
  frozen_graph: Optional[str] = None
  saved_model_dir: Optional[str] = None
  tflite_file: Optional[str] = None
  tflite_int8_file: Optional[str] = None
  # The directory written as one set: the artifacts inside it are built in a
  # temporary directory that replaces it whole (see `export`).
  export_dir: Optional[str] = None

  def needs_checkpoint(self):
    return any((self.frozen_graph, self.saved_model_dir, self.tflite_file,
                self.tflite_int8_file))

  @classmethod
  def in_directory(cls, export_dir, int8=False, tflite=True):
    """All artifacts under one directory, with fixed file names.

    tflite=False (video models, see `export`) leaves out both TFLite files.
    """
    return cls(
        frozen_graph=os.path.join(export_dir, 'frozen_graph.pb'),
        saved_model_dir=os.path.join(export_dir, 'saved_model'),
        tflite_file=(os.path.join(export_dir, 'model_float.tflite')
                     if tflite else None),
        tflite_int8_file=(os.path.join(export_dir, 'model_int8.tflite')
                          if tflite and int8 else None),
        export_dir=export_dir)


# What an export directory may hold (see `_check_export_dir`).
EXPORT_DIR_NAMES = frozenset((
    'frozen_graph.pb', 'frozen_graph.pb.json', 'saved_model',
    'model_float.tflite', 'model_float.tflite.json', 'model_int8.tflite',
    'model_int8.tflite.json'))


@dataclasses.dataclass(frozen=True)
class CalibrationConfig:
  """Images that calibrate int8 quantization.

  Attributes:
    dataset_name: name in datasets/dataset_factory.
    dataset_dir: directory holding its TFRecords.
    split_name: split to read.
    num_images: images to read (the first ones of the split, in file order).
  """
  dataset_name: str
  dataset_dir: str
  split_name: str = 'train'
  num_images: int = 300


def classes_and_channels(model_name, dataset_name=None, dataset_dir=None,
                         split_name='train', labels_offset=0):
  """(num_classes, input channels) of an export.

  The dataset's when `dataset_name` is given (read from its converted data in
  `dataset_dir` when given), else the published checkpoint's (from the
  registry) and RGB.

  Raises:
    ValueError: a dataset whose class count only its converted data knows,
      without --dataset_dir.
  """
  if dataset_name is None:
    spec = nets_factory.get_spec(model_name)
    return spec.num_classes - labels_offset, 3
  from slim_zoo.datasets import dataset_factory
  if dataset_dir:
    # The converted data knows its class count (image_folder, resized
    # flowers ...); it is also what int8 calibration reads.
    dataset = dataset_factory.get_dataset(
        dataset_name, split_name, dataset_dir)
    return dataset.num_classes - labels_offset, dataset.channels
  module = dataset_factory.get_module(dataset_name)
  if not hasattr(module, 'NUM_CLASSES'):
    raise UsageError(
        f'--dataset_name={dataset_name} has no fixed class count; give '
        '--dataset_dir with its converted TFRecords so the export reads it.')
  return (module.NUM_CLASSES - labels_offset,
          getattr(module, 'CHANNELS', 3))


def _predictions_end_point(end_points):
  """The softmax end point: 'Predictions' (or resnet's 'predictions')."""
  for key, tensor in end_points.items():
    if key.lower() == 'predictions':
      return tensor
  return None


def build_inference_graph(config):
  """Builds the inference graph of `config` in the default graph.

  Args:
    config: GraphConfig.

  Returns:
    (input placeholder, outputs, metadata): `outputs` maps 'logits' and
    'probabilities' (or 'features' when config.final_endpoint is set) to
    tensors; `metadata` is the JSON-able description written beside every
    artifact (input/output node names, input shape, image size ...).

  Raises:
    ValueError: a video flag on an image model (or the reverse), an image
      size below the architecture's minimum, an unknown final_endpoint.
  """
  spec = nets_factory.get_spec(config.model_name)
  is_video = spec.input_kind == 'video'
  if config.is_video_model is not None and config.is_video_model != is_video:
    raise UsageError(
        f'--model_name={config.model_name} takes {spec.input_kind} input; '
        + ('drop --is_video_model.' if config.is_video_model else
           'pass --is_video_model (and optionally --num_frames).'))
  if config.num_frames is not None and not is_video:
    raise UsageError(f'--num_frames={config.num_frames} applies to video '
                     f'models only; {config.model_name} takes images. Drop '
                     '--num_frames.')
  size = config.image_size or spec.default_image_size
  if spec.min_image_size and size < spec.min_image_size:
    raise UsageError(f'--image_size={size} is below the smallest input '
                     f'{config.model_name} accepts ({spec.min_image_size}); '
                     f'pass --image_size>={spec.min_image_size}.')
  channels = 1 if config.use_grayscale else config.channels
  if is_video:
    frames = config.num_frames or spec.num_frames
    shape = [config.batch_size, frames, size, size, channels]
  else:
    shape = [config.batch_size, size, size, channels]
  network_fn = nets_factory.get_network_fn(
      config.model_name, num_classes=config.num_classes,
      is_training=config.is_training)
  placeholder = tf.placeholder(tf.float32, shape, name=INPUT_NAME)
  images = placeholder
  if config.quantize:
    images = quantize.quantize_input(
        images, config.preprocessing_name or spec.preprocessing)
  logits, end_points = network_fn(images)
  if config.final_endpoint:
    if config.final_endpoint not in end_points:
      raise UsageError(
          f'Unknown --final_endpoint {config.final_endpoint!r} for '
          f'{config.model_name}; valid end points: {", ".join(end_points)}.')
    output = end_points[config.final_endpoint]
    outputs = {'features': output}
  else:
    probabilities = _predictions_end_point(end_points)
    if probabilities is None:  # VGG, AlexNet, OverFeat end at their logits.
      scope = logits.op.name.split('/')[0]
      probabilities = tf.nn.softmax(logits, name=f'{scope}/Predictions')
    output = probabilities
    outputs = {'logits': logits, 'probabilities': probabilities}
  if config.quantize:
    outputs = quantize.rewrite_inference(outputs)
    output = outputs.get('probabilities', outputs.get('features'))
    logits = outputs.get('logits', logits)
  metadata = {
      'model_name': config.model_name,
      'input': placeholder.op.name,
      'input_shape': shape,
      'output': output.op.name,
      'outputs': {key: tensor.op.name for key, tensor in outputs.items()},
      'logits': logits.op.name,
      'num_classes': config.num_classes,
      'image_size': size,
      'use_grayscale': bool(config.use_grayscale),
      'preprocessing': config.preprocessing_name or spec.preprocessing,
      'final_endpoint': config.final_endpoint,
      'is_training': bool(config.is_training),
  }
  if config.quantize:
    metadata['quantized'] = True
  return placeholder, outputs, metadata


# --------------------------------------------------------------------------
# Writers (all atomic)


def write_graph_def(graph_def, path, as_text=False):
  with dataset_utils.atomic_path(path) as tmp:
    with open(tmp, 'w' if as_text else 'wb') as f:
      f.write(str(graph_def) if as_text else graph_def.SerializeToString())


def write_bytes(data, path):
  with dataset_utils.atomic_path(path) as tmp:
    with open(tmp, 'wb') as f:
      f.write(data)


def write_metadata(path, metadata):
  """Writes `metadata` as the JSON sidecar `path`.json (atomically)."""
  dataset_utils.write_text_atomic(
      path + '.json', json.dumps(metadata, indent=2, sort_keys=True) + '\n')


def _replace_directory(tmp_dir, final_dir):
  """Renames the complete directory `tmp_dir` to `final_dir`.

  An existing `final_dir` is moved aside first and deleted afterwards, so at
  every moment `final_dir` is either absent or a complete export.
  """
  old = None
  if os.path.lexists(final_dir):
    old = tempfile.mkdtemp(prefix='.' + os.path.basename(final_dir) + '.old.',
                           dir=os.path.dirname(final_dir))
    os.rename(final_dir, os.path.join(old, 'previous'))
  os.rename(tmp_dir, final_dir)
  if old:
    shutil.rmtree(old, ignore_errors=True)


def write_saved_model(frozen_graph_def, metadata, path):
  """Writes a SavedModel of the frozen graph with a serving signature.

  The SavedModel holds the frozen (pruned, constant) graph, so it computes
  exactly what the frozen GraphDef and the TFLite models are converted from.
  Its ``serving_default`` signature maps ``images`` (float, preprocessed) to
  ``logits``, ``probabilities`` and the top-5 ``classes`` and ``scores`` (or
  to ``features`` for a --final_endpoint export).

  Args:
    frozen_graph_def: GraphDef from `freeze`.
    metadata: the export metadata (node names), also written to
      assets.extra/export_metadata.json.
    path: SavedModel directory to create (replaced if it exists).
  """
  with tf.Graph().as_default() as graph:
    keys = list(metadata['outputs'])
    tensors = tf.import_graph_def(
        frozen_graph_def,
        return_elements=[metadata['outputs'][k] + ':0' for k in keys], name='')
    outputs = dict(zip(keys, tensors))
    input_tensor = graph.get_tensor_by_name(metadata['input'] + ':0')
    if 'probabilities' in outputs:
      k = min(TOP_K, int(outputs['probabilities'].shape[-1]))
      with tf.name_scope('serving_top_k'):
        scores, classes = tf.nn.top_k(outputs['probabilities'], k=k)
      outputs.update(classes=classes, scores=scores)
    signature = tf.saved_model.signature_def_utils.predict_signature_def(
        inputs={SIGNATURE_INPUT: input_tensor}, outputs=outputs)
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp_root = tempfile.mkdtemp(prefix='.' + os.path.basename(path) + '.',
                                suffix='.tmp', dir=parent)
    try:
      tmp = os.path.join(tmp_root, 'saved_model')
      builder = tf.saved_model.builder.SavedModelBuilder(tmp)
      with tf.Session() as session:
        builder.add_meta_graph_and_variables(
            session, [tf.saved_model.tag_constants.SERVING],
            signature_def_map={SIGNATURE_KEY: signature},
            strip_default_attrs=True)
      builder.save()
      extra = os.path.join(tmp, os.path.dirname(METADATA_FILE))
      os.makedirs(extra, exist_ok=True)
      with open(os.path.join(tmp, METADATA_FILE), 'w') as f:
        f.write(json.dumps(metadata, indent=2, sort_keys=True) + '\n')
      _replace_directory(tmp, path)
    finally:
      shutil.rmtree(tmp_root, ignore_errors=True)


# --------------------------------------------------------------------------
# Freezing and TFLite


def freeze(session, graph_def, output_names):
  """Returns `graph_def` with variables as constants and training nodes gone.

  Only the subgraph feeding `output_names` is kept; Identity/CheckNumerics
  nodes are removed (the outputs themselves are protected).
  """
  frozen = tf.graph_util.convert_variables_to_constants(
      session, graph_def, list(output_names))
  return tf.graph_util.remove_training_nodes(
      frozen, protected_nodes=list(output_names))


def _tflite_converter(frozen_graph_def, metadata):
  """A TFLiteConverter from the export's input to its outputs, built in the
  current (fresh) graph."""
  output_names = list(metadata['outputs'].values())
  outputs = tf.import_graph_def(
      frozen_graph_def,
      return_elements=[name + ':0' for name in output_names], name='')
  placeholder = tf.get_default_graph().get_tensor_by_name(
      metadata['input'] + ':0')
  return tf.lite.TFLiteConverter(frozen_graph_def, [placeholder], outputs)


def convert_tflite(frozen_graph_def, metadata, representative_images=None):
  """Converts a frozen graph to a TFLite flatbuffer.

  Args:
    frozen_graph_def: GraphDef from `freeze`.
    metadata: the export metadata (input shape and output node names).
    representative_images: None for a float model; else a list of float32
      arrays [1, ...input shape] that calibrate full-integer (int8)
      quantization. Input and output stay float32 (quantize/dequantize ops
      at the edges), so the model is a drop-in replacement.

  Returns:
    The flatbuffer bytes.
  """
  with tf.Graph().as_default():
    converter = _tflite_converter(frozen_graph_def, metadata)
    if representative_images is not None:
      if not representative_images:
        raise UsageError('No calibration images: int8 quantization needs at '
                         'least one image; check the calibration split.')

      def representative_dataset():
        for image in representative_images:
          yield [image]

      converter.optimizations = [tf.lite.Optimize.DEFAULT]
      converter.representative_dataset = representative_dataset
      converter.target_spec.supported_ops = [
          tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
      io_type = {'int8': tf.int8, 'uint8': tf.uint8}.get(
          metadata.get('tflite_io_type'), tf.float32)
      converter.inference_input_type = io_type
      converter.inference_output_type = io_type
    return converter.convert()


def convert_tflite_quantized(frozen_graph_def, metadata, io_type='float32'):
  """Converts a frozen fake-quantized graph to a fully integer TFLite model.

  The converter takes every range from the graph's FakeQuant ops (the
  ranges learned in training), so no calibration data is read. Weights and
  activations are int8 (biases int32); the input and output are `io_type`.

  Returns:
    The flatbuffer bytes.

  Raises:
    UsageError: the converted model is not fully integer.
  """
  frozen_graph_def = quantize.fold_ranges(
      frozen_graph_def, list(metadata['outputs'].values()))
  with tf.Graph().as_default():
    converter = _tflite_converter(frozen_graph_def, metadata)
    converter.inference_type = tf.int8
    converter.quantized_input_stats = {
        metadata['input']: quantize.input_stats(metadata['preprocessing'])}
    # uint8 I/O: float I/O first, then the edges' QUANTIZE / DEQUANTIZE
    # ops retyped.
    integer_io = io_type == 'int8'
    converter.inference_input_type = tf.int8 if integer_io else tf.float32
    converter.inference_output_type = converter.inference_input_type
    flatbuffer = converter.convert()
  if io_type == 'uint8':
    from tensorflow.lite.python import util as lite_util
    flatbuffer = lite_util.modify_model_io_type(flatbuffer, tf.uint8,
                                                tf.uint8)
  problems = quantize.integer_problems(flatbuffer)
  if problems:
    raise UsageError(
        f'The quantized {metadata["model_name"]} did not convert to a fully '
        f'integer TFLite model ({"; ".join(problems[:3])}); it cannot be '
        'exported with --quantize.')
  return flatbuffer


def tflite_io_quantization(flatbuffer, metadata):
  """{'tflite_io_type', 'input_quantization', 'output_quantization'} of a
  TFLite model: the scale and zero point that map its integer input and
  outputs to real values (real = scale * (q - zero_point))."""
  interpreter = _interpreter(flatbuffer)
  detail = interpreter.get_input_details()[0]
  names = {name: key for key, name in metadata['outputs'].items()}

  def params(d):
    scale, zero_point = d['quantization']
    return {'scale': float(scale), 'zero_point': int(zero_point)}

  return {
      'tflite_io_type': np.dtype(detail['dtype']).name,
      'input_quantization': params(detail),
      'output_quantization': {names.get(d['name'], d['name']): params(d)
                              for d in interpreter.get_output_details()},
  }


def _interpreter(flatbuffer=None, path=None):
  import warnings
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # tf.lite.Interpreter deprecation note.
    return tf.lite.Interpreter(model_content=flatbuffer, model_path=path)


def calibration_images(calibration, metadata):
  """Reads preprocessed images for int8 calibration.

  The split is read through datasets/dataset_factory and the input pipeline,
  with the model's evaluation preprocessing at the exported image size.

  Returns:
    list of float32 arrays [1, size, size, channels].

  Raises:
    ValueError / DatasetError: unknown dataset or split, missing files, a
      video model.
  """
  from slim_zoo.datasets import dataset_factory
  from slim_zoo.datasets import input_pipeline
  from slim_zoo.preprocessing import preprocessing_factory
  if len(metadata['input_shape']) != 4:
    raise UsageError(f'int8 calibration reads still images; '
                     f'{metadata["model_name"]} takes video. Drop '
                     '--tflite_int8_file.')
  if calibration.num_images < 1:
    raise UsageError(f'--num_calibration_images={calibration.num_images}; '
                     'pass a positive number (a few hundred is typical).')
  spec = dataset_factory.get_dataset(calibration.dataset_name,
                                     calibration.split_name,
                                     calibration.dataset_dir)
  channels = metadata['input_shape'][-1]
  # Decode straight to the model's channel count (gray <-> RGB).
  spec = dataclasses.replace(spec, channels=channels)
  preprocessing_fn = preprocessing_factory.get_preprocessing(
      metadata['preprocessing'], is_training=False)
  size = metadata['image_size']
  config = input_pipeline.InputConfig(batch_size=1, image_size=(size, size),
                                      is_training=False, num_readers=1)
  images = []
  with tf.Graph().as_default():
    dataset = input_pipeline.build_dataset(spec, preprocessing_fn, config)
    dataset = dataset.take(calibration.num_images)
    next_batch = tf.data.make_one_shot_iterator(dataset).get_next()
    with tf.Session() as session:
      while True:
        try:
          batch, _ = session.run(next_batch)
        except tf.errors.OutOfRangeError:
          break
        images.append(batch.astype(np.float32))
  return images


# --------------------------------------------------------------------------
# The whole export


def _top_scopes(names):
  return sorted({name.split('/')[0] for name in names
                 if '/' in name and name != 'global_step'})


def misfit_causes(checkpoint, variables, model_name):
  """Why `variables` (checkpoint name -> variable) do not fit `checkpoint`.

  Returns:
    (problems, causes): up to four 'name (model [..], checkpoint [..])'
    descriptions, and the set of likely causes among 'network' (variables
    of another network, or another variant of it), 'classes' (the logits
    layer's class count), 'channels' (the first convolution's input
    channels), 'image_size' (a fully connected layer sized by the input,
    as LeNet's and CifarNet's are) and 'missing' (names the checkpoint
    lacks although it holds this network).
  """
  shapes = tf.train.load_checkpoint(checkpoint).get_variable_to_shape_map()
  logits_scopes = nets_factory.get_spec(model_name).logits_scopes
  problems, causes = [], set()
  mine = _top_scopes(variables)
  if mine and not set(mine) & set(_top_scopes(shapes)):
    theirs = ', '.join(_top_scopes(shapes)) or 'nothing'
    return ([f'its variables are under {theirs}/, the model\'s under '
             f'{", ".join(mine)}/'], {'network'})
  first_conv = next((name for name, var in variables.items()
                     if var.shape.rank == 4), None)
  for name, var in variables.items():
    model_shape = var.shape.as_list()
    if name not in shapes:
      problems.append(f'{name} (not in checkpoint)')
      causes.add('missing')
      continue
    stored = shapes[name]
    if model_shape == stored:
      continue
    problems.append(f'{name} (model {model_shape}, checkpoint {stored})')
    differ = [i for i, (a, b) in enumerate(zip(model_shape, stored))
              if a != b] if len(model_shape) == len(stored) else None
    if differ == [len(stored) - 1] and any(
        name.startswith(scope + '/') for scope in logits_scopes):
      causes.add('classes')
    elif differ == [2] and name == first_conv:
      causes.add('channels')
    elif differ == [0] and len(stored) == 2:
      causes.add('image_size')
    else:
      causes.add('network')
  return problems[:4], causes


def _check_fits_checkpoint(checkpoint, variables, config, metadata):
  problems, causes = misfit_causes(
      checkpoint, {var.op.name: var for var in variables}, config.model_name)
  if not problems:
    return
  from slim_zoo import checkpoint_inspect
  hints = checkpoint_inspect.network_hints(checkpoint, config.model_name,
                                           config.num_classes)
  if 'network' in causes or 'missing' in causes:
    hints.append('pass the --model_name the checkpoint was trained with')
  if 'image_size' in causes:
    hints.append(f'pass the --image_size it was trained with (its '
                 '--train_image_size; a fully connected layer is sized by '
                 f'the input, {metadata["image_size"]} here)')
  if 'classes' in causes:
    hints.append('pass the --dataset_name or --labels_offset it was trained '
                 'with (they set the class count)')
  if 'channels' in causes:
    hints.append('pass --use_grayscale as in training, or the --dataset_name '
                 'whose channels it was trained on')
  fix = '; '.join(hints)
  raise UsageError(
      f'Checkpoint {checkpoint} does not fit {config.model_name} with '
      f'{config.num_classes} classes and {metadata["input_shape"][-1]} '
      f'input channel(s): {"; ".join(problems)}. '
      f'To fix it, {fix}.')


def _check_paths(paths, checkpoint_path, calibration, config=None):
  """Rejects what cannot be written, before anything is built."""
  if config is not None:
    _check_quantize_paths(config, paths)
  if not (paths.graph_file or paths.needs_checkpoint()):
    raise UsageError('Nothing to write: pass --output_file, --frozen_graph, '
                     '--saved_model_dir, --tflite_file, --tflite_int8_file '
                     'or --export_dir.')
  if paths.needs_checkpoint() and not checkpoint_path:
    raise UsageError('--frozen_graph, --saved_model_dir and the TFLite files '
                     'need --checkpoint_path (the weights to export).')
  quantized = config is not None and config.quantize
  if paths.tflite_int8_file and not quantized and not (
      calibration and calibration.dataset_dir):
    raise UsageError('--tflite_int8_file needs calibration images: pass '
                     '--dataset_dir (TFRecords of --dataset_name; '
                     '--dataset_split_name picks the split).')
  if paths.export_dir:
    _check_export_dir(paths)


IO_TYPES = ('float32', 'int8', 'uint8')


def _check_quantize_paths(config, paths):
  if config.tflite_io_type not in IO_TYPES:
    raise UsageError(f'--tflite_io_type={config.tflite_io_type!r}; valid: '
                     f'{", ".join(IO_TYPES)}.')
  if config.tflite_io_type != 'float32' and not paths.tflite_int8_file:
    raise UsageError(
        f'--tflite_io_type={config.tflite_io_type} sets the input/output '
        'type of an int8 TFLite model, and this export writes none (a float '
        'model keeps float32 I/O); add --quantize (a quantization-aware '
        'checkpoint) or --tflite_int8_file / --dataset_dir (post-training '
        'int8), or drop --tflite_io_type.')
  if not config.quantize:
    return
  quantize.check_supported(config.model_name, flag='--quantize')
  if config.is_training:
    raise UsageError('--quantize exports the quantized inference graph; '
                     'drop --is_training.')
  if paths.tflite_file:
    raise UsageError('--quantize exports an integer TFLite model '
                     '(--tflite_int8_file, or model_int8.tflite in '
                     '--export_dir); drop --tflite_file, or drop --quantize '
                     'for the float model.')


def _inside(path, directory):
  path, directory = os.path.abspath(path), os.path.abspath(directory)
  return (os.path.commonpath([path, directory]) == directory and
          path != directory)


def _check_export_dir(paths):
  """The export directory is absent, or a directory holding only an export.

  The new set replaces the directory whole, so anything else in it would be
  lost: refused instead.
  """
  export_dir = paths.export_dir
  if os.path.lexists(export_dir) and not os.path.isdir(export_dir):
    raise UsageError(f'--export_dir={export_dir} is a file, not a directory; '
                     'choose another --export_dir or remove the file.')
  if not os.path.isdir(export_dir):
    return
  allowed = set(EXPORT_DIR_NAMES)
  for path in _artifact_paths(paths):
    if _inside(path, export_dir):
      name = os.path.relpath(os.path.abspath(path),
                             os.path.abspath(export_dir)).split(os.sep)[0]
      allowed.update((name, name + '.json'))
  others = sorted(set(os.listdir(export_dir)) - allowed)
  if others:
    raise UsageError(
        f'--export_dir={export_dir} holds files that are not part of an '
        f'export ({", ".join(others[:5])}); the export replaces the whole '
        'directory, so choose a new or empty --export_dir, or move them away.')


def _artifact_paths(paths):
  return [p for p in (paths.graph_file, paths.frozen_graph,
                      paths.saved_model_dir, paths.tflite_file,
                      paths.tflite_int8_file) if p]


# Temporary directories of an export set, beside the export directory:
# .<name>.export-<pid>-<random> (being built) and .<name>.export-<pid>-old
# (the previous set, moved aside for a moment where renameat2 is missing).
_SET_TMP = '.{name}.export-'


def _pid_alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Another user's live process.
    return True
  return True


def _clean_leftovers(export_dir):
  """Removes the temporary directories of killed exports to `export_dir`.

  A run killed between moving the previous set aside and renaming the new
  one in (only without renameat2) left no `export_dir`: the previous set is
  put back. Directories of live exports (by pid) are left alone.
  """
  parent, name = os.path.split(export_dir)
  prefix = _SET_TMP.format(name=name)
  for entry in sorted(os.listdir(parent)):
    if not entry.startswith(prefix):
      continue
    pid = entry[len(prefix):].split('-')[0]
    if not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)):
      continue
    path = os.path.join(parent, entry)
    if entry.endswith('-old') and not os.path.lexists(export_dir):
      os.rename(path, export_dir)
    else:
      shutil.rmtree(path, ignore_errors=True)


def _exchange(a, b):
  """Swaps directories a and b in one step (Linux renameat2); False if the
  system cannot."""
  try:
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = libc.renameat2
  except (OSError, AttributeError):
    return False
  at_fdcwd, rename_exchange = -100, 2
  if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b),
               rename_exchange) == 0:
    return True
  code = ctypes.get_errno()
  if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
    return False
  raise OSError(code, os.strerror(code), a, None, b)


def _swap_in(tmp_dir, export_dir):
  """Puts the complete set `tmp_dir` in place of `export_dir`.

  Afterwards `tmp_dir` holds the previous set (or nothing), to delete.
  """
  if not os.path.lexists(export_dir):
    os.rename(tmp_dir, export_dir)
    return
  if _exchange(tmp_dir, export_dir):
    return
  old = tmp_dir.rsplit('-', 1)[0] + '-old'
  os.rename(export_dir, old)
  os.rename(tmp_dir, export_dir)
  os.rename(old, tmp_dir)


def _make_set_dir(export_dir):
  parent, name = os.path.split(export_dir)
  try:
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(
        prefix=_SET_TMP.format(name=name) + f'{os.getpid()}-', dir=parent)
  except OSError as e:
    raise UsageError(
        f'Cannot write the export beside --export_dir={export_dir}: '
        f'{e.strerror} ({e.filename}); choose a --export_dir in a writable '
        'directory.') from None
  # mkdtemp makes it 0700; the export gets the usual umask permissions.
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(tmp, 0o777 & ~umask)
  return tmp


def _redirect(paths, export_dir, tmp_dir):
  """`paths` with everything inside `export_dir` moved into `tmp_dir`."""
  def move(path):
    if path and _inside(path, export_dir):
      return os.path.join(tmp_dir, os.path.relpath(os.path.abspath(path),
                                                   export_dir))
    return path
  return dataclasses.replace(
      paths, graph_file=move(paths.graph_file),
      frozen_graph=move(paths.frozen_graph),
      saved_model_dir=move(paths.saved_model_dir),
      tflite_file=move(paths.tflite_file),
      tflite_int8_file=move(paths.tflite_int8_file), export_dir=None)


def export(config, paths, checkpoint_path=None, calibration=None):
  """Writes every artifact named in `paths`.

  With paths.export_dir, the artifacts inside it are written as one set: built
  in a temporary directory beside it that replaces it at the end, so a
  failed or killed export leaves the previous set whole (a killed run's
  temporary directory is removed by the next export to the same directory).
  Artifacts elsewhere are each written atomically.

  Args:
    config: GraphConfig of the network.
    paths: ExportPaths.
    checkpoint_path: checkpoint file or directory; needed for everything but
      the plain GraphDef.
    calibration: CalibrationConfig; needed for paths.tflite_int8_file.

  Returns:
    The metadata dict (input/output node names ...), plus 'written': the
    paths written, in order.

  Raises:
    ValueError: nothing to write, missing checkpoint or calibration data, a
      checkpoint that does not fit the graph, bad graph options, TFLite for
      a video model, an export directory that is a file or holds other
      files. Everything is checked before the first file is written.
  """
  _check_paths(paths, checkpoint_path, calibration, config)
  checkpoint = (checkpoint_utils.resolve_checkpoint(checkpoint_path)
                if checkpoint_path else None)
  export_dir = paths.export_dir and os.path.abspath(paths.export_dir)
  if not (export_dir and any(_inside(path, export_dir)
                             for path in _artifact_paths(paths))):
    # No set to replace (every artifact redirected elsewhere).
    return _export_artifacts(config, paths, checkpoint, calibration)
  if os.path.isdir(os.path.dirname(export_dir)):
    _clean_leftovers(export_dir)
  tmp_dir = _make_set_dir(export_dir)
  try:
    metadata = _export_artifacts(config, _redirect(paths, export_dir, tmp_dir),
                                 checkpoint, calibration)
    _swap_in(tmp_dir, export_dir)
  finally:
    shutil.rmtree(tmp_dir, ignore_errors=True)
  metadata['written'] = [
      os.path.join(paths.export_dir, os.path.relpath(path, tmp_dir))
      if _inside(path, tmp_dir) else path for path in metadata['written']]
  return metadata


def _export_artifacts(config, paths, checkpoint, calibration):
  """`export` once the paths are checked; `checkpoint` is resolved."""
  written = []
  with tf.Graph().as_default() as graph:
    _, _, metadata = build_inference_graph(config)
    graph_def = graph.as_graph_def()
    if len(metadata['input_shape']) == 5 and paths.tflite_file:
      raise UsageError(
          f'{config.model_name} takes video, and TFLite has no built-in 3-D '
          'pooling (MaxPool3D), so it cannot run it; drop --tflite_file and '
          'export --frozen_graph or --saved_model_dir (--export_dir writes '
          'both for video models).')
    # Inference recomputes the weights' ranges from the weights.
    variables = quantize.without_weight_ranges(tf.global_variables())
    if checkpoint:  # Check before writing anything.
      if config.quantize:
        quantize.check_checkpoint_has_ranges(checkpoint, '--quantize')
      _check_fits_checkpoint(checkpoint, variables, config, metadata)
      metadata['checkpoint'] = checkpoint
    representative = None
    if paths.tflite_int8_file and not config.quantize:
      representative = calibration_images(calibration, metadata)
    if paths.graph_file:
      write_metadata(paths.graph_file, metadata)
      write_graph_def(graph_def, paths.graph_file, paths.write_text_graphdef)
      written.append(paths.graph_file)
    if not checkpoint:
      return dict(metadata, written=written)
    with tf.Session() as session:
      tf.train.Saver(variables).restore(session, checkpoint)
      frozen = freeze(session, graph_def, list(metadata['outputs'].values()))
  if not config.is_training and not config.quantize:
    # (A quantized graph has its batch norm folded already.)
    # Batch norm folded into the convolutions: the inference graph that
    # benchmark.py measures (less memory, no slower; see BENCHMARKS.md).
    frozen = performance.optimize_frozen_graph(
        frozen, list(metadata['outputs'].values()))
  if paths.frozen_graph:
    write_metadata(paths.frozen_graph, metadata)
    write_graph_def(frozen, paths.frozen_graph)
    written.append(paths.frozen_graph)
  if paths.saved_model_dir:
    write_saved_model(frozen, metadata, paths.saved_model_dir)
    written.append(paths.saved_model_dir)
  for path, images, kind in ((paths.tflite_file, None, 'float'),
                             (paths.tflite_int8_file, representative, 'int8')):
    if path:
      extra = {}
      if kind == 'int8':
        metadata['tflite_io_type'] = config.tflite_io_type
      if kind == 'int8' and config.quantize:
        flatbuffer = convert_tflite_quantized(frozen, metadata,
                                              config.tflite_io_type)
        extra['int8_ranges'] = 'trained (quantization-aware)'
      else:
        flatbuffer = convert_tflite(frozen, metadata, images)
      if kind == 'int8':
        extra.update(tflite_io_quantization(flatbuffer, metadata))
        if 'int8_ranges' not in extra:
          extra['int8_ranges'] = 'calibrated (post-training)'
      metadata.pop('tflite_io_type', None)
      write_metadata(path, dict(metadata, tflite=kind, **extra))
      write_bytes(flatbuffer, path)
      written.append(path)
  return dict(metadata, written=written)


# --------------------------------------------------------------------------
# Loading an exported model


class _FrozenGraphModel:

  def __init__(self, path, metadata, config=None):
    graph_def = tf.GraphDef()
    with open(path, 'rb') as f:
      graph_def.ParseFromString(f.read())
    self._graph = tf.Graph()
    with self._graph.as_default():
      keys = list(metadata['outputs'])
      tensors = tf.import_graph_def(
          graph_def, return_elements=[metadata['outputs'][k] + ':0'
                                      for k in keys], name='')
      self._outputs = dict(zip(keys, tensors))
      self._input = self._graph.get_tensor_by_name(metadata['input'] + ':0')
    self._session = tf.Session(graph=self._graph, config=config)

  def run(self, images):
    return self._session.run(self._outputs, {self._input: images})


class _SavedModel:

  def __init__(self, path, config=None):
    self._graph = tf.Graph()
    self._session = tf.Session(graph=self._graph, config=config)
    with self._graph.as_default():
      meta_graph = tf.saved_model.loader.load(
          self._session, [tf.saved_model.tag_constants.SERVING], path)
    signature = meta_graph.signature_def[SIGNATURE_KEY]
    self._input = self._graph.get_tensor_by_name(
        signature.inputs[SIGNATURE_INPUT].name)
    self._outputs = {key: self._graph.get_tensor_by_name(info.name)
                     for key, info in signature.outputs.items()}

  def run(self, images):
    return self._session.run(self._outputs, {self._input: images})


class _TFLiteModel:
  """Runs a TFLite model on float images; an integer input is quantized and
  integer outputs dequantized with the model's own scale and zero point
  (what the export metadata records as input/output_quantization)."""

  def __init__(self, path, metadata):
    self._interpreter = _interpreter(path=path)
    self._names = {name: key for key, name in metadata['outputs'].items()}
    self._batch = None

  def run(self, images):
    interpreter = self._interpreter
    detail = interpreter.get_input_details()[0]
    if self._batch != images.shape[0]:
      if list(detail['shape']) != list(images.shape):
        interpreter.resize_tensor_input(detail['index'], list(images.shape))
      interpreter.allocate_tensors()
      self._batch = images.shape[0]
    interpreter.set_tensor(detail['index'],
                           quantize.to_integer(images, detail))
    interpreter.invoke()
    return {self._names.get(d['name'], d['name']):
            quantize.to_real(interpreter.get_tensor(d['index']), d)
            for d in interpreter.get_output_details()}


class ExportedModel:
  """An exported model of any kind, run on preprocessed float images.

  Attributes:
    kind: 'frozen_graph', 'saved_model' or 'tflite'.
    metadata: the export metadata (node names, image size, preprocessing).
  """

  def __init__(self, kind, metadata, runner):
    self.kind = kind
    self.metadata = metadata
    self._runner = runner

  def run(self, images):
    """Returns {'logits', 'probabilities', ...} (or {'features'}) arrays.

    Args:
      images: float32 array [batch, ...input shape] (preprocessed).
    """
    outputs = self._runner.run(np.asarray(images, np.float32))
    return {key: np.asarray(value) for key, value in outputs.items()}


def _read_json(path, hint):
  if not os.path.isfile(path):
    raise UsageError(f'{path} is missing; {hint}')
  with open(path) as f:
    return json.load(f)


def load_model(path, config=None):
  """Loads a frozen .pb, a SavedModel directory or a .tflite file.

  Args:
    path: the exported model.
    config: tf.ConfigProto for the session running a frozen graph or
      SavedModel, e.g. ``performance.session_config(mixed_precision='auto')``
      for bf16 inference (None: float32, TensorFlow's defaults). A TFLite
      model runs in the TFLite interpreter, which takes no session config.

  Raises:
    ValueError: the path does not exist, is none of the three kinds, or
      lacks the metadata export_inference_graph.py writes beside it.
  """
  hint = 'export the model with export_inference_graph.py, which writes it.'
  if not path or not os.path.exists(path):
    raise UsageError(f'Model {path} does not exist; pass a frozen graph '
                     '(.pb), a SavedModel directory or a .tflite file written '
                     'by export_inference_graph.py.')
  if os.path.isdir(path):
    if not os.path.isfile(os.path.join(path, 'saved_model.pb')):
      raise UsageError(f'{path} is a directory without saved_model.pb; pass '
                       'a SavedModel directory, a .pb or a .tflite file.')
    metadata = _read_json(os.path.join(path, METADATA_FILE), hint)
    return ExportedModel('saved_model', metadata, _SavedModel(path, config))
  metadata = _read_json(path + '.json', hint)
  if path.endswith('.tflite'):
    return ExportedModel('tflite', metadata, _TFLiteModel(path, metadata))
  if metadata.get('checkpoint') is None:
    raise UsageError(f'{path} is an inference graph without weights; pass '
                     'the --frozen_graph, --saved_model_dir or TFLite file '
                     'written with --checkpoint_path.')
  return ExportedModel('frozen_graph', metadata,
                       _FrozenGraphModel(path, metadata, config))


def _jpeg_components(data):
  """Components of a JPEG's frame (4: CMYK or YCCK), None if not found."""
  i = 2
  while i + 9 < len(data) and data[i] == 0xFF:
    marker = data[i + 1]
    if marker == 0xFF:  # Fill byte.
      i += 1
      continue
    if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
      return data[i + 9]  # SOFn: length, precision, height, width, count.
    i += 2 + int.from_bytes(data[i + 2:i + 4], 'big')
  return None


def _decodes_directly(data, channels):
  """Whether decode_image gives `channels` itself for these bytes.

  TensorFlow decodes BMP and GIF to 3 or 4 channels only, and a CMYK JPEG
  cannot be asked for grayscale; those are decoded as they are and
  converted. PNG and other JPEGs are decoded straight to the channel count,
  as the input pipeline decodes the training data.
  """
  if channels != 1:
    return True
  if data[:2] == b'BM' or data[:4] == b'GIF8':
    return False
  if data[:2] == b'\xff\xd8':
    return _jpeg_components(data) != 4
  return True


def _to_channels(image, channels):
  """uint8 [h, w, any of 1-4] -> [h, w, channels]; alpha dropped."""
  have = tf.shape(image)[-1]
  if channels == 1:
    return tf.cond(have >= 3,
                   lambda: tf.image.rgb_to_grayscale(image[..., :3]),
                   lambda: image[..., :1])
  return tf.cond(have >= 3, lambda: image[..., :3],
                 lambda: tf.image.grayscale_to_rgb(image[..., :1]))


def preprocess_images(image_files, metadata):
  """Decodes and preprocesses image files as the exported model expects.

  Each file (JPEG, including CMYK, PNG, BMP or GIF; a GIF's first frame) gets
  the model's evaluation preprocessing at the exported image size, decoded
  to the exported channel count (gray <-> RGB, alpha dropped).

  Returns:
    list of float32 arrays [1, size, size, channels], one per file.

  Raises:
    ValueError: no files, a missing or undecodable file.
  """
  from slim_zoo.preprocessing import preprocessing_factory
  if not image_files:
    raise UsageError('No images given; pass --image_files=a.jpg,b.png.')
  for path in image_files:
    if not os.path.isfile(path):
      raise UsageError(f'Image file {path} does not exist.')
  size = metadata['image_size']
  channels = metadata['input_shape'][-1]
  preprocessing_fn = preprocessing_factory.get_preprocessing(
      metadata['preprocessing'], is_training=False)
  batches = []
  with tf.Graph().as_default():
    data = tf.placeholder(tf.string, [])
    direct = tf.io.decode_image(data, channels=channels,
                                expand_animations=False)
    converted = _to_channels(
        tf.io.decode_image(data, channels=0, expand_animations=False),
        channels)
    batch = {}
    for key, image in (('direct', direct), ('converted', converted)):
      image.set_shape([None, None, channels])
      batch[key] = tf.expand_dims(preprocessing_fn(image, size, size), 0)
    with tf.Session() as session:
      for path in image_files:
        with open(path, 'rb') as f:
          contents = f.read()
        key = ('direct' if _decodes_directly(contents, channels)
               else 'converted')
        try:
          batches.append(session.run(batch[key], {data: contents}))
        except tf.errors.InvalidArgumentError:
          raise UsageError(f'Cannot decode {path} as an image (jpeg, png, bmp '
                           'or gif expected).') from None
  return batches


def classify(model_path, image_files, top_k=5, config=None):
  """Classifies image files with an exported model of any kind.

  `config` is the session config of `load_model`.

  Returns:
    Per image, a list of (class index, probability), best first.

  Raises:
    ValueError: top_k <= 0, missing model or images, or a model exported
      with --final_endpoint (features, not classes).
  """
  if top_k <= 0:
    raise UsageError(f'--top_k={top_k}; pass a positive number of classes to '
                     'print per image (e.g. --top_k=5).')
  model = load_model(model_path, config)
  if 'probabilities' not in model.metadata['outputs']:
    raise UsageError(f'{model_path} outputs the features of end point '
                     f'{model.metadata.get("final_endpoint")!r}, not class '
                     'probabilities; export without --final_endpoint.')
  results = []
  for images in preprocess_images(image_files, model.metadata):
    values = model.run(images)['probabilities'].reshape(-1)
    order = values.argsort()[::-1][:top_k]
    results.append([(int(i), float(values[i])) for i in order])
  return results
