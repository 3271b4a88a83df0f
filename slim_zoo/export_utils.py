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
is built in a temporary directory that is renamed. Beside every artifact a
JSON sidecar (``<file>.json``; ``assets.extra/export_metadata.json`` inside a
SavedModel) records the node names, image size and preprocessing, which
`load_model` (and classify_image.py) read back.

Output node names come from the built graph: the network's ``Predictions``
end point (TF-Slim's names, e.g. ``InceptionV3/Predictions/Reshape_1``), or
the requested ``final_endpoint``.
"""

import dataclasses
import json
import os
import shutil
import tempfile
from typing import Optional

import numpy as np

from slim_zoo import checkpoint_utils
from slim_zoo import performance
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


@dataclasses.dataclass(frozen=True)
class ExportPaths:
  """Where to write each artifact; None (or '') skips it."""
  graph_file: Optional[str] = None
  write_text_graphdef: bool = False
  frozen_graph: Optional[str] = None
  saved_model_dir: Optional[str] = None
  tflite_file: Optional[str] = None
  tflite_int8_file: Optional[str] = None

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
                          if tflite and int8 else None))


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
  logits, end_points = network_fn(placeholder)
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
  output_names = list(metadata['outputs'].values())
  with tf.Graph().as_default() as graph:
    outputs = tf.import_graph_def(
        frozen_graph_def,
        return_elements=[name + ':0' for name in output_names], name='')
    placeholder = graph.get_tensor_by_name(metadata['input'] + ':0')
    converter = tf.lite.TFLiteConverter(frozen_graph_def, [placeholder],
                                        outputs)
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
      converter.inference_input_type = tf.float32
      converter.inference_output_type = tf.float32
    return converter.convert()


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


def _check_fits_checkpoint(checkpoint, variables, config, metadata):
  mismatched, missing = checkpoint_utils.compare_with_checkpoint(
      checkpoint, variables)
  if mismatched or missing:
    problems = mismatched + [f'{m} (not in checkpoint)' for m in missing]
    raise UsageError(
        f'Checkpoint {checkpoint} does not fit {config.model_name} with '
        f'{config.num_classes} classes and {metadata["input_shape"][-1]} '
        f'input channel(s): {"; ".join(problems[:4])}. Pass the '
        '--dataset_name, --labels_offset or --use_grayscale the checkpoint '
        'was trained with.')


def export(config, paths, checkpoint_path=None, calibration=None):
  """Writes every artifact named in `paths`.

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
      a video model. Everything is checked before the first file is
      written.
  """
  if not (paths.graph_file or paths.needs_checkpoint()):
    raise UsageError('Nothing to write: pass --output_file, --frozen_graph, '
                     '--saved_model_dir, --tflite_file, --tflite_int8_file '
                     'or --export_dir.')
  if paths.needs_checkpoint() and not checkpoint_path:
    raise UsageError('--frozen_graph, --saved_model_dir and the TFLite files '
                     'need --checkpoint_path (the weights to export).')
  if paths.tflite_int8_file and not (calibration and calibration.dataset_dir):
    raise UsageError('--tflite_int8_file needs calibration images: pass '
                     '--dataset_dir (TFRecords of --dataset_name; '
                     '--dataset_split_name picks the split).')
  checkpoint = (checkpoint_utils.resolve_checkpoint(checkpoint_path)
                if checkpoint_path else None)
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
    variables = tf.global_variables()
    if checkpoint:  # Check before writing anything.
      _check_fits_checkpoint(checkpoint, variables, config, metadata)
      metadata['checkpoint'] = checkpoint
    representative = None
    if paths.tflite_int8_file:
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
  if not config.is_training:
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
      flatbuffer = convert_tflite(frozen, metadata, images)
      write_metadata(path, dict(metadata, tflite=kind))
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

  def __init__(self, path, metadata):
    import warnings
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')  # tf.lite.Interpreter deprecation note.
      self._interpreter = tf.lite.Interpreter(model_path=path)
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
    interpreter.set_tensor(detail['index'], images.astype(np.float32))
    interpreter.invoke()
    return {self._names.get(d['name'], d['name']):
            interpreter.get_tensor(d['index'])
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


def preprocess_images(image_files, metadata):
  """Decodes and preprocesses image files as the exported model expects.

  Each file gets the model's evaluation preprocessing at the exported image
  size, decoded to the exported channel count (gray <-> RGB).

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
          raise UsageError(f'Cannot decode {path} as an image (jpeg, png, bmp '
                           'or gif expected).') from None
  return batches


def classify(model_path, image_files, top_k=5, config=None):
  """Classifies image files with an exported model of any kind.

  `config` is the session config of `load_model`.

  Returns:
    Per image, a list of (class index, probability), best first.

  Raises:
    ValueError: missing model or images, or a model exported with
      --final_endpoint (features, not classes).
  """
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
