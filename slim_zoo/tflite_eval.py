"""Evaluates an exported TFLite model on a dataset split.

`evaluate(TFLiteEvalConfig(...))` is what `eval_image_classifier.py
--tflite_file=MODEL.tflite` runs: the split is read exactly once through
datasets/dataset_factory and the input pipeline with the model's own
evaluation preprocessing, every batch goes through the TFLite interpreter,
and top-1 accuracy (`eval/Accuracy`) and top-5 recall (`eval/Recall_5`) are
reported as the checkpoint evaluation reports them (TensorBoard summaries
and eval_results.json in the evaluation directory). So a user can check,
on real data, what the device will compute.

Any TFLite classifier the export writes works: float, int8 with float
input/output (post-training quantization) and fully integer models whose
input/output tensors are int8 or uint8; their scale and zero point are read
from the interpreter's input/output details, the float images quantized on
the way in and the scores dequantized on the way out.

The network (preprocessing name) comes from the JSON metadata
export_inference_graph.py writes beside the model (`MODEL.tflite.json`);
a model without it needs `model_name`. Image size and channel count always
come from the model's own input tensor. A model exported with a fixed batch
(e.g. `--batch_size=1`) is run in chunks of that batch; a model with a
variable batch is resized to `batch_size` once. The last chunk is padded
with zeros and the padded rows are dropped, so every example counts once.
"""

import dataclasses
import json
import os
import re
import time
import warnings
from typing import Optional

import numpy as np

from slim_zoo import evaluate as eval_lib
from slim_zoo import plots
from slim_zoo.errors import UsageError

# A TFLite flatbuffer carries this file identifier at bytes 4-8.
TFLITE_IDENTIFIER = b'TFL3'
# Output names of a classifier's softmax: used to prefer the logits output
# of a model without metadata (quantized logits resolve ties finer than a
# quantized softmax, whose 256 levels tie often).
_SOFTMAX_NAMES = re.compile(r'(predictions|softmax)', re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class TFLiteEvalConfig:
  """One evaluation of a TFLite model; field names are the flags'.

  Attributes:
    tflite_file: the .tflite model.
    eval_dir: where summaries and eval_results.json go.
    dataset_name, dataset_dir, dataset_split_name: the split to read.
    model_name: network of a model without metadata beside it; with
      metadata None (or the same name).
    preprocessing_name: None takes the metadata's (or the registry's).
    batch_size: images read per batch (and per invocation of a model with a
      variable batch).
    labels_offset: subtracted from every label.
    num_readers, num_preprocessing_threads: input pipeline parallelism.
    max_num_batches: evaluate at most this many batches (None = the split).
    num_threads: interpreter threads (None = TFLite's default).
  """
  tflite_file: str
  eval_dir: str
  dataset_name: str
  dataset_dir: str
  dataset_split_name: str = 'test'
  model_name: Optional[str] = None
  preprocessing_name: Optional[str] = None
  batch_size: int = 100
  labels_offset: int = 0
  num_readers: int = 4
  num_preprocessing_threads: int = 4
  max_num_batches: Optional[int] = None
  num_threads: Optional[int] = None

# Flags of the checkpoint evaluation that mean nothing for a TFLite model,
# with why: eval_image_classifier.py rejects them with --tflite_file.
NOT_FOR_TFLITE = {
    'checkpoint_path': 'the TFLite model carries its weights',
    'moving_average_decay': 'the export chose the weights',
    'eval_interval_secs': 'there is no training run to follow',
    'timeout': 'there is no training run to follow',
    'eval_image_size': 'the model\'s input size is fixed at export',
    'use_grayscale': 'the model\'s input channels are fixed at export',
    'master': 'the TFLite interpreter runs in this process',
    'mixed_precision': 'the TFLite model fixes its own precision',
    'xla': 'the TFLite interpreter runs the model',
    'inter_op_threads': 'the interpreter has one thread pool '
                        '(--intra_op_threads)',
    'quantize': 'an exported int8 model is already quantized',
    'num_examples_to_plot': 'the TFLite evaluation writes the confusion '
                            'matrix only',
}


def check_flags_given(names):
  """Raises UsageError for the first of `names` (flags given on the command
  line with --tflite_file) that only a checkpoint evaluation takes."""
  for name in names:
    if name in NOT_FOR_TFLITE:
      raise UsageError(
          f'--{name} does not apply with --tflite_file '
          f'({NOT_FOR_TFLITE[name]}); drop --{name}, or drop --tflite_file '
          'to evaluate a checkpoint.')


def check_tflite_file(path):
  """Raises UsageError unless `path` is a readable TFLite flatbuffer."""
  if not path or not os.path.exists(path):
    raise UsageError(f'--tflite_file={path} does not exist; pass a .tflite '
                     'model written by export_inference_graph.py.')
  if os.path.isdir(path):
    raise UsageError(f'--tflite_file={path} is a directory; pass the .tflite '
                     'file itself (e.g. EXPORT_DIR/model_int8.tflite).')
  try:
    with open(path, 'rb') as f:
      head = f.read(8)
  except OSError as e:
    raise UsageError(f'--tflite_file={path} cannot be read ({e.strerror}); '
                     'fix its permissions.') from None
  if head[4:8] != TFLITE_IDENTIFIER:
    raise UsageError(
        f'--tflite_file={path} is not a TFLite flatbuffer (no '
        f'{TFLITE_IDENTIFIER.decode()} identifier at bytes 4-8); pass a '
        '.tflite model, or evaluate a checkpoint with --checkpoint_path.')


def read_metadata(path):
  """The export metadata beside `path` (`path`.json), or None if absent.

  Raises:
    UsageError: the file exists but is not the export's JSON object.
  """
  meta_path = path + '.json'
  if not os.path.isfile(meta_path):
    return None
  try:
    with open(meta_path) as f:
      metadata = json.load(f)
  except (OSError, ValueError) as e:
    raise UsageError(f'{meta_path} (the metadata beside the model) is not '
                     f'readable JSON ({e}); export the model again or delete '
                     'it and pass --model_name.') from None
  if not isinstance(metadata, dict) or 'model_name' not in metadata:
    raise UsageError(f'{meta_path} is not export metadata (no model_name); '
                     'export the model again or delete it and pass '
                     '--model_name.')
  return metadata


def _interpreter(path, num_threads):
  from slim_zoo.nets.compat import tf
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # tf.lite.Interpreter deprecation note.
    try:
      return tf.lite.Interpreter(model_path=path, num_threads=num_threads)
    except ValueError as e:
      raise UsageError(f'--tflite_file={path} cannot be loaded by the TFLite '
                       f'interpreter ({str(e).splitlines()[0]}); export it '
                       'again.') from None


def _quantization(detail):
  """(scale, zero point) of an integer I/O tensor, None for a float one.

  Raises:
    UsageError: a tensor type this evaluation cannot feed or read.
  """
  dtype = np.dtype(detail['dtype'])
  if dtype == np.float32:
    return None
  scale, zero_point = detail['quantization']
  if dtype not in (np.int8, np.uint8) or not scale:
    raise UsageError(f'TFLite tensor {detail["name"]!r} is {dtype.name} '
                     f'(scale {scale}); only float32 and quantized int8/uint8 '
                     'input and output tensors can be evaluated.')
  return float(scale), int(zero_point)


def quantize(images, detail):
  """float32 images -> the input tensor's type (identity for float)."""
  params = _quantization(detail)
  if params is None:
    return images.astype(np.float32)
  scale, zero_point = params
  info = np.iinfo(detail['dtype'])
  values = np.round(images / scale) + zero_point
  return np.clip(values, info.min, info.max).astype(detail['dtype'])


def dequantize(values, detail):
  """An output tensor's values as float32 (identity for float)."""
  params = _quantization(detail)
  if params is None:
    return values.astype(np.float32)
  scale, zero_point = params
  return (values.astype(np.float32) - zero_point) * scale


def _score_output(outputs, metadata):
  """The output detail whose values rank the classes (logits preferred)."""
  if metadata:
    for key in ('logits', 'output'):
      match = [d for d in outputs if d['name'] == metadata.get(key)]
      if match:
        return match[0]
  logits = [d for d in outputs if not _SOFTMAX_NAMES.search(d['name'])]
  return (logits or outputs)[0]


def in_top_k(scores, labels, k):
  """Per example, whether the label is among the k best scores.

  As tf.nn.in_top_k: classes tied with the k-th score all count as in the
  top k, and a non-finite score of the label never does.
  """
  target = scores[np.arange(len(labels)), labels]
  better = (scores > target[:, None]).sum(axis=1)
  return (better < k) & np.isfinite(target)


class _Runner:
  """Feeds float batches of any size to the interpreter in fixed chunks."""

  def __init__(self, interpreter, batch_size, metadata):
    self._interpreter = interpreter
    self.input = interpreter.get_input_details()[0]
    signature = list(self.input.get('shape_signature', self.input['shape']))
    self.fixed_batch = signature[0] != -1
    self.chunk = int(self.input['shape'][0]) if self.fixed_batch else batch_size
    if not self.fixed_batch:
      interpreter.resize_tensor_input(
          self.input['index'], [batch_size] + list(self.input['shape'][1:]))
    interpreter.allocate_tensors()
    self.input = interpreter.get_input_details()[0]
    self.output = _score_output(interpreter.get_output_details(), metadata)

  def scores(self, images):
    """float32 [n, num_classes] scores of float32 images [n, h, w, c]."""
    shape = [self.chunk] + list(self.input['shape'][1:])
    results = []
    for start in range(0, len(images), self.chunk):
      part = images[start:start + self.chunk]
      padded = np.zeros(shape, np.float32)
      padded[:len(part)] = part
      self._interpreter.set_tensor(self.input['index'],
                                   quantize(padded, self.input))
      self._interpreter.invoke()
      values = self._interpreter.get_tensor(self.output['index'])
      values = dequantize(values, self.output).reshape(self.chunk, -1)
      results.append(values[:len(part)])
    return np.concatenate(results)


def _step_of(checkpoint):
  match = re.search(r'-(\d+)$', checkpoint or '')
  return int(match.group(1)) if match else 0


def _check_config(cfg):
  if cfg.batch_size <= 0:
    raise UsageError(f'--batch_size must be positive, got {cfg.batch_size}.')
  if cfg.max_num_batches is not None and cfg.max_num_batches <= 0:
    raise UsageError(f'--max_num_batches must be positive, got '
                     f'{cfg.max_num_batches}.')
  if cfg.num_threads is not None and cfg.num_threads < 1:
    raise UsageError(f'TFLite threads must be >= 1, got {cfg.num_threads}; '
                     'pass --intra_op_threads=N (0 = TFLite\'s default).')
  check_tflite_file(cfg.tflite_file)
  eval_lib.check_writable_dir(cfg.eval_dir, '--eval_dir')


def _network(cfg, metadata):
  """(model name, preprocessing name) of the model being evaluated."""
  from slim_zoo.nets import nets_factory
  if metadata is None:
    if not cfg.model_name:
      raise UsageError(
          f'{cfg.tflite_file} has no metadata beside it '
          f'({cfg.tflite_file}.json), so its network is unknown; pass '
          '--model_name (it sets the preprocessing).')
    name = cfg.model_name
  else:
    name = metadata['model_name']
    if cfg.model_name and cfg.model_name != name:
      raise UsageError(
          f'--model_name={cfg.model_name} contradicts the metadata of '
          f'{cfg.tflite_file}, exported from {name}; drop --model_name.')
    if metadata.get('final_endpoint'):
      raise UsageError(
          f'{cfg.tflite_file} outputs the features of end point '
          f'{metadata["final_endpoint"]!r}, not class scores; evaluate a '
          'model exported without --final_endpoint.')
  spec = nets_factory.get_spec(name)
  if spec.input_kind != 'image':
    raise UsageError(f'{name} is a {spec.input_kind} model; this evaluation '
                     'reads image datasets.')
  preprocessing = (cfg.preprocessing_name or
                   (metadata or {}).get('preprocessing') or spec.preprocessing)
  return name, preprocessing


def evaluate(cfg):
  """Evaluates cfg.tflite_file once over the split; writes the results.

  Returns:
    dict: 'eval/Accuracy', 'eval/Recall_5', 'num_examples', 'num_batches',
    'global_step' (of the checkpoint it was exported from, 0 if unknown),
    'checkpoint' (that checkpoint, from the metadata, or None),
    'tflite_file', 'quantized', 'input_type', 'output_type', 'model_name',
    'image_size', 'seconds'.

  Raises:
    UsageError: a missing or non-TFLite file, unknown network, a model and
      dataset that do not fit, bad batch counts; all before anything is
      written.
  """
  from slim_zoo.datasets import dataset_factory
  from slim_zoo.datasets import input_pipeline
  from slim_zoo.nets.compat import tf
  from slim_zoo.preprocessing import preprocessing_factory
  _check_config(cfg)
  metadata = read_metadata(cfg.tflite_file)
  model_name, preprocessing = _network(cfg, metadata)
  interpreter = _interpreter(cfg.tflite_file, cfg.num_threads)
  runner = _Runner(interpreter, cfg.batch_size, metadata)
  shape = list(runner.input['shape'])
  if len(shape) != 4:
    raise UsageError(f'{cfg.tflite_file} takes input of shape {shape}; only '
                     'image models [batch, height, width, channels] can be '
                     'evaluated.')
  _, height, width, channels = (int(x) for x in shape)
  num_classes = int(np.prod(runner.output['shape'][1:]))
  dataset = dataset_factory.get_dataset(cfg.dataset_name,
                                        cfg.dataset_split_name,
                                        cfg.dataset_dir)
  expected = dataset.num_classes - cfg.labels_offset
  if num_classes != expected:
    fix = (f'pass --labels_offset={dataset.num_classes - num_classes}'
           if 0 <= dataset.num_classes - num_classes <= 1 else
           'evaluate on the dataset it was trained for')
    raise UsageError(
        f'{cfg.tflite_file} scores {num_classes} classes but '
        f'{cfg.dataset_name} has {dataset.num_classes} (--labels_offset='
        f'{cfg.labels_offset}); {fix}.')
  # Decode straight to the model's channel count, as int8 calibration does.
  dataset = dataclasses.replace(dataset, channels=channels)
  preprocessing_fn = preprocessing_factory.get_preprocessing(
      preprocessing, is_training=False)
  start = time.time()
  correct = top5 = 0
  count = batches = 0
  matrix = np.zeros([num_classes, num_classes], np.int64)
  with tf.Graph().as_default():
    data = input_pipeline.build_dataset(
        dataset, preprocessing_fn, input_pipeline.InputConfig(
            batch_size=cfg.batch_size, image_size=(height, width),
            is_training=False, num_readers=cfg.num_readers,
            num_parallel_calls=cfg.num_preprocessing_threads,
            labels_offset=cfg.labels_offset))
    next_batch = tf.data.make_one_shot_iterator(data).get_next()
    with tf.Session() as session:
      while cfg.max_num_batches is None or batches < cfg.max_num_batches:
        try:
          images, labels = session.run(next_batch)
        except tf.errors.OutOfRangeError:
          break
        except tf.errors.DataLossError as e:
          from slim_zoo import errors
          raise UsageError(f'Corrupt TFRecord data in {cfg.dataset_dir} '
                           f'({errors.tf_reason(e)}); convert the dataset '
                           'again.') from None
        except tf.errors.InvalidArgumentError as e:
          label_error = input_pipeline.label_range_error(e)
          if label_error is not None:
            raise label_error from None
          raise
        labels = labels.reshape(-1).astype(np.int64)
        scores = runner.scores(images)
        predictions = scores.argmax(axis=1)
        matrix += plots.confusion_matrix(labels, predictions, num_classes)
        correct += int((predictions == labels).sum())
        top5 += int(in_top_k(scores, labels, min(5, num_classes)).sum())
        count += len(labels)
        batches += 1
  if not count:
    raise UsageError(f'Split {cfg.dataset_split_name} of {cfg.dataset_name} '
                     'yielded no examples; convert the dataset again.')
  checkpoint = (metadata or {}).get('checkpoint')
  quantized = any(np.dtype(d['dtype']) in (np.int8, np.uint8)
                  for d in interpreter.get_tensor_details())
  results = {
      'eval/Accuracy': correct / count,
      'eval/Recall_5': top5 / count,
      'num_examples': count,
      'num_batches': batches,
      'global_step': _step_of(checkpoint),
      'checkpoint': checkpoint,
      'tflite_file': os.path.abspath(cfg.tflite_file),
      'quantized': quantized,
      'input_type': np.dtype(runner.input['dtype']).name,
      'output_type': np.dtype(runner.output['dtype']).name,
      'model_name': model_name,
      'image_size': height,
      'invoke_batch': runner.chunk,
      'seconds': round(time.time() - start, 3),
  }
  results.update(eval_lib.class_results(matrix, eval_lib.class_names(
      dataset, cfg.labels_offset, num_classes)))
  eval_lib._write_results(cfg.eval_dir, results)  # As the checkpoint's.
  return results
