"""Evaluation: the library behind eval_image_classifier.

`run(EvalConfig(...))` evaluates one checkpoint, or follows a training
directory (`evaluate_loop`), reading the split exactly once per checkpoint
and reporting top-1 accuracy and top-5 recall (TensorBoard summaries and
eval_results.json in cfg.eval_dir). The same pass counts the confusion
matrix (confusion_matrix.png and .csv beside eval_results.json, a
TensorBoard image, per-class accuracy in the JSON) and, with
cfg.num_examples_to_plot, keeps misclassified examples for a picture
(misclassified_examples.png). The flags of
slim_zoo/cli/eval_image_classifier.py are the EvalConfig fields of the same
names.
"""

import csv
import dataclasses
import io
import json
import os
import tempfile
import time

from absl import logging
import numpy as np

from slim_zoo import checkpoint_utils
from slim_zoo import errors
from slim_zoo import performance
from slim_zoo import plots
from slim_zoo import quantize
from slim_zoo.datasets import dataset_factory
from slim_zoo.datasets import dataset_utils
from slim_zoo.datasets import input_pipeline
from slim_zoo.nets import nets_factory
from slim_zoo.nets.compat import slim, tf
from slim_zoo.preprocessing import preprocessing_factory
from slim_zoo.errors import UsageError

RESULTS_FILENAME = 'eval_results.json'
# Pictures of one evaluation, beside RESULTS_FILENAME (see _write_pictures).
CONFUSION_MATRIX_PNG = 'confusion_matrix.png'
CONFUSION_MATRIX_CSV = 'confusion_matrix.csv'
MISCLASSIFIED_PNG = 'misclassified_examples.png'
MAX_EXAMPLES_TO_PLOT = 100  # More no longer fit a legible grid.
TRAIN_CONFIG_FILENAME = 'train_config.json'  # Written by the training script.


@dataclasses.dataclass(frozen=True)
class EvalConfig:
  """One evaluation; field names and meanings are the flags'."""
  checkpoint_path: str
  eval_dir: str
  model_name: str
  dataset_name: str
  dataset_dir: str
  dataset_split_name: str = 'test'
  preprocessing_name: str = None
  batch_size: int = 100
  eval_image_size: int = None
  labels_offset: int = 0
  num_readers: int = 4
  num_preprocessing_threads: int = 4
  use_grayscale: bool = False
  max_num_batches: int = None
  moving_average_decay: float = None
  eval_interval_secs: int = 0
  timeout: int = None
  master: str = ''
  mixed_precision: str = 'none'
  xla: bool = False
  inter_op_threads: int = 0
  intra_op_threads: int = 0
  num_examples_to_plot: int = 0
  quantize: bool = False


def validate_config(cfg):
  """Rejects flag values that cannot work, before any graph is built."""
  # Mixed precision and thread counts, checked by building the config once.
  performance.session_config(
      inter_op_threads=cfg.inter_op_threads,
      intra_op_threads=cfg.intra_op_threads,
      mixed_precision=cfg.mixed_precision, master=cfg.master)
  if cfg.batch_size <= 0:
    raise UsageError(f'--batch_size must be positive, got {cfg.batch_size}.')
  if cfg.quantize:
    quantize.check_supported(nets_factory.get_spec(cfg.model_name).name,
                             flag='--quantize')
  if cfg.max_num_batches is not None and cfg.max_num_batches <= 0:
    raise UsageError(f'--max_num_batches must be positive, got '
                     f'{cfg.max_num_batches}.')
  if (cfg.moving_average_decay is not None and
      not 0.0 < cfg.moving_average_decay < 1.0):
    raise UsageError(f'--moving_average_decay must be in (0, 1) (the value '
                     f'used in training), got {cfg.moving_average_decay}.')
  if cfg.eval_interval_secs < 0:
    raise UsageError(f'--eval_interval_secs must be >= 0, got '
                     f'{cfg.eval_interval_secs}.')
  if cfg.eval_interval_secs and not os.path.isdir(cfg.checkpoint_path or ''):
    raise UsageError(
        f'--eval_interval_secs follows a training directory, but '
        f'--checkpoint_path={cfg.checkpoint_path} is not a directory; pass '
        'the --train_dir of the run, or drop --eval_interval_secs to '
        'evaluate one checkpoint.')
  if cfg.timeout is not None and cfg.timeout < 0:
    raise UsageError(f'--timeout must be >= 0 seconds, got {cfg.timeout}.')
  if not 0 <= cfg.num_examples_to_plot <= MAX_EXAMPLES_TO_PLOT:
    raise UsageError(f'--num_examples_to_plot={cfg.num_examples_to_plot} is '
                     f'not in 0..{MAX_EXAMPLES_TO_PLOT} (0 = no picture); '
                     f'pass e.g. --num_examples_to_plot=16.')
  check_writable_dir(cfg.eval_dir, '--eval_dir')
  spec = nets_factory.get_spec(cfg.model_name)
  if spec.input_kind != 'image':
    raise UsageError(f'--model_name={cfg.model_name} is a {spec.input_kind} '
                     'model; this script reads image datasets. Choose an '
                     'image model (see nets/nets_factory.py).')


def check_writable_dir(path, flag):
  """Raises UsageError unless `path` is, or can be made, a writable directory.

  Checked by writing (a temporary file in it, or a temporary directory in its
  nearest existing parent) rather than by permission bits, which say nothing
  for root, a read-only mount or an immutable directory. Creates nothing
  that stays.
  """
  where = os.path.abspath(path)
  while not os.path.lexists(where):
    where = os.path.dirname(where)
  if not os.path.isdir(where):
    what = ('is a file' if where == os.path.abspath(path) else
            f'is under the file {where}')
    raise UsageError(f'{flag}={path} {what}, not a directory; choose another '
                     f'{flag}.')
  try:
    if where == os.path.abspath(path):
      with tempfile.TemporaryFile(dir=where):
        pass
    else:
      os.rmdir(tempfile.mkdtemp(dir=where))
  except OSError as e:
    raise UsageError(f'{flag}={path} is not writable ({e.strerror}: {where}); '
                     f'choose a writable {flag} or fix its permissions.'
                     ) from None


def variables_to_restore(moving_average_decay, global_step):
  """Saver var_list: the moving averages of the model variables if decay set.

  Must be called after the model is built. Non-model variables are restored
  under their own names.
  """
  if not moving_average_decay:
    return tf.global_variables()
  averages = tf.train.ExponentialMovingAverage(moving_average_decay,
                                               global_step)
  restore = averages.variables_to_restore(slim.get_model_variables())
  restore[global_step.op.name] = global_step
  return restore


def build_eval_graph(cfg, dataset):
  """Builds the input pipeline, net and per-example metrics.

  Returns:
    dict: initializer (restarts the single pass), correct and in_top5 (float
    [batch]), predictions, labels (int64 [batch]), probabilities (of each
    prediction, float [batch]), images (the preprocessed batch),
    class_names (one per logit), global_step, saver.
  """
  spec = nets_factory.get_spec(cfg.model_name)
  num_classes = dataset.num_classes - cfg.labels_offset
  global_step = tf.train.get_or_create_global_step()
  network_fn = nets_factory.get_network_fn(
      cfg.model_name, num_classes=num_classes, is_training=False)
  preprocessing_fn = preprocessing_factory.get_preprocessing(
      cfg.preprocessing_name or spec.preprocessing, is_training=False,
      use_grayscale=cfg.use_grayscale)
  size = eval_image_size(cfg)
  with tf.device('/cpu:0'):
    data = input_pipeline.build_dataset(
        dataset, preprocessing_fn,
        input_pipeline.InputConfig(
            batch_size=cfg.batch_size, image_size=(size, size),
            is_training=False, num_readers=cfg.num_readers,
            num_parallel_calls=cfg.num_preprocessing_threads,
            labels_offset=cfg.labels_offset))
    iterator = tf.data.make_initializable_iterator(data)
    images, labels = iterator.get_next()
  if cfg.quantize:
    images = quantize.quantize_input(
        images, preprocessing_factory.resolve_family(
            cfg.preprocessing_name or spec.name))
  logits, _ = network_fn(images)
  if cfg.quantize:
    logits = quantize.rewrite_inference({'logits': logits})['logits']
  logits = tf.reshape(logits, [tf.shape(logits)[0], -1])
  labels = tf.reshape(labels, [-1])
  predictions = tf.argmax(logits, 1)
  correct = tf.cast(tf.equal(predictions, labels), tf.float32)
  in_top5 = tf.cast(tf.nn.in_top_k(logits, labels, min(5, num_classes)),
                    tf.float32)
  restore = variables_to_restore(cfg.moving_average_decay, global_step)
  if not isinstance(restore, dict):
    restore = {var.op.name: var for var in restore}
  # Inference recomputes the weights' ranges from the weights.
  restore = quantize.without_weight_ranges(restore)
  return {'initializer': iterator.initializer, 'correct': correct,
          'in_top5': in_top5, 'global_step': global_step,
          'saver': tf.train.Saver(restore), 'restore': restore,
          'image_size': size, 'predictions': predictions,
          'labels': tf.cast(labels, tf.int64), 'images': images,
          'probabilities': tf.reduce_max(tf.nn.softmax(logits), 1),
          'class_names': class_names(dataset, cfg.labels_offset,
                                     num_classes)}


def eval_image_size(cfg):
  """The input size to evaluate at when --eval_image_size is not given.

  A checkpoint written by this zoo's training script is evaluated at the size
  it was trained at (its train_config.json). Otherwise the registry's
  evaluation recipe of the published checkpoint applies: usually its
  default_image_size, but 299 for resnet_v2_*, whose published checkpoints
  research/slim trained and evaluated at 299.

  Returns:
    int, the height and width of the evaluation images.
  """
  if cfg.eval_image_size:
    return cfg.eval_image_size
  spec = nets_factory.get_spec(cfg.model_name)
  trained = _train_config(_checkpoint_dir(cfg.checkpoint_path))
  if trained.get('model_name') == spec.name:
    return trained.get('train_image_size') or spec.default_image_size
  return spec.eval_recipe.image_size


def _checkpoint_dir(checkpoint_path):
  path = checkpoint_path or ''
  return path if os.path.isdir(path) else os.path.dirname(path)


def check_fits_checkpoint(cfg, ops, checkpoint):
  """Raises UsageError naming the flags to fix if `checkpoint` cannot be
  restored into the eval graph (before any batch is read)."""
  from slim_zoo import export_utils
  if cfg.quantize:
    quantize.check_checkpoint_has_ranges(checkpoint, '--quantize')
  problems, causes = export_utils.misfit_causes(checkpoint, ops['restore'],
                                                cfg.model_name)
  if not problems:
    return
  averages = cfg.moving_average_decay and any(
      p.endswith('/ExponentialMovingAverage (not in checkpoint)')
      for p in problems)
  from slim_zoo import checkpoint_inspect
  hints = checkpoint_inspect.network_hints(checkpoint, cfg.model_name,
                                           variables=ops['restore'])
  if averages:
    hints.append('set --moving_average_decay only if training kept moving '
                 'averages (this checkpoint has none)')
  if 'network' in causes or ('missing' in causes and not averages):
    hints.append('pass the --model_name the checkpoint was trained with')
  if 'image_size' in causes:
    hints.append(f'pass the --eval_image_size it was trained at (its '
                 '--train_image_size; a fully connected layer is sized by '
                 f'the input, {ops["image_size"]} here)')
  if 'classes' in causes:
    hints.append('pass the --dataset_name and --labels_offset it was trained '
                 'with (they set the class count)')
  if 'channels' in causes:
    hints.append('pass --use_grayscale as in training (the checkpoint\'s '
                 'first convolution takes another number of channels)')
  fix = '; '.join(hints)
  raise UsageError(f'Checkpoint {checkpoint} does not fit {cfg.model_name}: '
                   f'{"; ".join(problems)}. To fix it, {fix}.')


def evaluate_checkpoint(cfg, ops, checkpoint, num_samples=None):
  """One pass over the split with `checkpoint`; returns the results dict.

  Besides the metrics (JSON-able, as written to eval_results.json) it holds
  'confusion_matrix' (int array [classes, classes], rows true classes,
  columns predicted, counted in the same pass, so its trace / sum is
  'eval/Accuracy') and, with cfg.num_examples_to_plot, 'misclassified' (the
  first misclassified examples of the split: images, labels, predictions,
  probabilities).
  """
  start = time.time()
  correct = top5 = 0.0
  count = batches = 0
  num_classes = len(ops['class_names'])
  matrix = np.zeros([num_classes, num_classes], np.int64)
  wanted = cfg.num_examples_to_plot
  mistakes = {'images': [], 'labels': [], 'predictions': [],
              'probabilities': []}
  config = performance.session_config(
      inter_op_threads=cfg.inter_op_threads,
      intra_op_threads=cfg.intra_op_threads, xla=cfg.xla,
      mixed_precision=cfg.mixed_precision, master=cfg.master)
  check_fits_checkpoint(cfg, ops, checkpoint)
  with tf.Session(cfg.master, config=config) as session:
    try:
      ops['saver'].restore(session, checkpoint)
    except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as e:
      if not tf.train.checkpoint_exists(checkpoint):
        raise  # Deleted meanwhile (training keeps the last few only).
      raise UsageError(
          f'Checkpoint {checkpoint} does not fit {cfg.model_name}: '
          f'{e.message.splitlines()[0]}. Check --model_name and '
          '--labels_offset, and set --moving_average_decay only if training '
          'kept moving averages.') from None
    step = int(session.run(ops['global_step']))
    session.run(ops['initializer'])
    fetches = [ops['correct'], ops['in_top5'], ops['labels'],
               ops['predictions']]
    with_images = fetches + [ops['images'], ops['probabilities']]
    while cfg.max_num_batches is None or batches < cfg.max_num_batches:
      # Images are fetched only while misclassified examples are still
      # wanted; either way each run reads the next batch of the one pass.
      need_images = len(mistakes['labels']) < wanted
      try:
        values = session.run(with_images if need_images else fetches)
      except tf.errors.OutOfRangeError:
        break
      c, t, labels, predictions = values[:4]
      correct += float(c.sum())
      top5 += float(t.sum())
      count += int(c.shape[0])
      batches += 1
      matrix += plots.confusion_matrix(labels, predictions, num_classes)
      if need_images:
        for i in np.flatnonzero(labels != predictions)[
            :wanted - len(mistakes['labels'])]:
          for key, value in zip(('images', 'probabilities'), values[4:]):
            mistakes[key].append(value[i])
          mistakes['labels'].append(int(labels[i]))
          mistakes['predictions'].append(int(predictions[i]))
  if not count:
    raise UsageError(f'Split {cfg.dataset_split_name} of {cfg.dataset_name} '
                     'yielded no examples; convert the dataset again.')
  if cfg.max_num_batches is None and num_samples and count != num_samples:
    logging.warning('Read %d examples but the %s split should have %d; the '
                    'dataset files may be incomplete.', count,
                    cfg.dataset_split_name, num_samples)
  results = {
      'eval/Accuracy': correct / count,
      'eval/Recall_5': top5 / count,
      'num_examples': count,
      'num_batches': batches,
      'global_step': step,
      'checkpoint': checkpoint,
      'moving_averages': bool(cfg.moving_average_decay),
      'seconds': round(time.time() - start, 3),
  }
  results.update(class_results(matrix, ops['class_names']))
  if wanted:
    results['misclassified'] = mistakes
  return results


def class_names(dataset, labels_offset, num_classes):
  """The name of each of the `num_classes` scores (the label if unnamed)."""
  names = dataset.labels_to_names or {}
  return [str(names.get(i + labels_offset, i)) for i in range(num_classes)]


def class_results(matrix, names):
  """The per-class part of a results dict, from the pass's confusion matrix.

  Args:
    matrix: int counts [classes, classes], rows true classes.
    names: one name per class.

  Returns:
    {'per_class_accuracy': [...], 'confusion_matrix': matrix,
     'class_names': names}, as `_write_results` expects.
  """
  return {
      'per_class_accuracy': [
          {'label': i, 'name': name, 'accuracy': accuracy,
           'num_examples': int(matrix[i].sum())}
          for i, (name, accuracy) in enumerate(zip(
              names, plots.per_class_accuracy(matrix)))],
      'confusion_matrix': matrix,
      'class_names': list(names),
  }


# Results keys left out of the JSON: arrays, which _write_pictures writes as
# files, and the class names, which per_class_accuracy already lists.
_NOT_IN_JSON = ('confusion_matrix', 'misclassified', 'class_names')


def _write_pictures(eval_dir, results):
  """Writes the confusion matrix (PNG, CSV) and misclassified examples (PNG).

  Records the file names in `results` and returns [(summary tag, PNG bytes)].
  """
  matrix = results['confusion_matrix']
  names = results['class_names']
  pictures = []
  figure = plots.confusion_matrix_figure(
      matrix, names, title=f'Confusion matrix at step {results["global_step"]}'
      f': {int(np.trace(matrix))} of {int(matrix.sum())} correct '
      f'({results["eval/Accuracy"]:.2%})')
  pictures.append(('eval/confusion_matrix', plots.save_png(
      figure, os.path.join(eval_dir, CONFUSION_MATRIX_PNG))))
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(['true \\ predicted'] + names)
  for name, row in zip(names, matrix):
    writer.writerow([name] + [int(v) for v in row])
  dataset_utils.write_text_atomic(
      os.path.join(eval_dir, CONFUSION_MATRIX_CSV), out.getvalue())
  results['confusion_matrix_png'] = CONFUSION_MATRIX_PNG
  results['confusion_matrix_csv'] = CONFUSION_MATRIX_CSV
  mistakes = results.get('misclassified')
  if mistakes is not None:
    figure = plots.misclassified_figure(
        mistakes['images'], mistakes['labels'], mistakes['predictions'],
        names, mistakes['probabilities'],
        title=f'{len(mistakes["labels"])} misclassified examples (the first '
        f'of {results["num_examples"] - int(np.trace(matrix))}) at step '
        f'{results["global_step"]}')
    pictures.append(('eval/misclassified_examples', plots.save_png(
        figure, os.path.join(eval_dir, MISCLASSIFIED_PNG))))
    results['misclassified_examples_png'] = MISCLASSIFIED_PNG
  return pictures


def _image_summary(tag, png):
  width, height = plots.png_size(png)
  return tf.Summary.Value(tag=tag, image=tf.Summary.Image(
      height=height, width=width, colorspace=4, encoded_image_string=png))


def _write_results(eval_dir, results):
  os.makedirs(eval_dir, exist_ok=True)
  pictures = _write_pictures(eval_dir, results)
  writer = tf.summary.FileWriter(eval_dir)
  summary = tf.Summary(value=[
      tf.Summary.Value(tag=k, simple_value=v) for k, v in results.items()
      if k.startswith('eval/')] + [_image_summary(tag, png)
                                   for tag, png in pictures])
  writer.add_summary(summary, results['global_step'])
  writer.close()
  written = {k: v for k, v in results.items() if k not in _NOT_IN_JSON}
  dataset_utils.write_text_atomic(
      os.path.join(eval_dir, RESULTS_FILENAME),
      json.dumps(written, indent=2, sort_keys=True) + '\n')


def log_results(results):
  """Logs one evaluation's results (the default report of `run`)."""
  logging.info('step %d: eval/Accuracy = %.4f, eval/Recall_5 = %.4f on %d '
               'examples (%s)', results['global_step'],
               results['eval/Accuracy'], results['eval/Recall_5'],
               results['num_examples'], results['checkpoint'])


def _build(cfg):
  validate_config(cfg)
  dataset = dataset_factory.get_dataset(cfg.dataset_name,
                                        cfg.dataset_split_name,
                                        cfg.dataset_dir)
  return dataset


def evaluate(cfg):
  """Evaluates the checkpoint (or a directory's latest) once.

  Returns:
    dict of results, also written to cfg.eval_dir.

  Raises:
    ValueError: bad flags, dataset or checkpoint.
  """
  dataset = _build(cfg)
  checkpoint = checkpoint_utils.resolve_checkpoint(cfg.checkpoint_path)
  with tf.Graph().as_default():
    ops = build_eval_graph(cfg, dataset)
    results = evaluate_checkpoint(cfg, ops, checkpoint, dataset.num_samples)
  _write_results(cfg.eval_dir, results)
  return results


def _train_config(train_dir):
  """The train_config.json of the training run in `train_dir`, or {}."""
  path = os.path.join(train_dir, TRAIN_CONFIG_FILENAME)
  try:
    with open(path) as f:
      config = json.load(f)
  except (OSError, ValueError):
    return {}
  return config if isinstance(config, dict) else {}


def _final_step(train_dir):
  """--max_number_of_steps of the training run in `train_dir`, if known."""
  return _train_config(train_dir).get('max_number_of_steps')


def evaluate_loop(cfg, on_result=None):
  """Evaluates every new checkpoint of cfg.checkpoint_path (a directory).

  Stops after cfg.timeout seconds without a new checkpoint, or once the
  checkpoint of the training run's last step has been evaluated.

  Returns:
    list of the results dicts, in order.

  Raises:
    ValueError: bad flags, dataset or checkpoint, or no checkpoint at all
      within cfg.timeout seconds.
  """
  dataset = _build(cfg)
  results = []
  with tf.Graph().as_default():
    ops = build_eval_graph(cfg, dataset)
    for checkpoint in tf.train.checkpoints_iterator(
        cfg.checkpoint_path, min_interval_secs=cfg.eval_interval_secs,
        timeout=cfg.timeout):
      try:
        result = evaluate_checkpoint(cfg, ops, checkpoint,
                                     dataset.num_samples)
      except tf.errors.NotFoundError:
        # Training deletes old checkpoints (max_to_keep); the next is newer.
        logging.warning('Checkpoint %s disappeared before it was evaluated; '
                        'waiting for the next one.', checkpoint)
        continue
      _write_results(cfg.eval_dir, result)
      results.append(result)
      if on_result:
        on_result(result)
      final = _final_step(cfg.checkpoint_path)
      if final and result['global_step'] >= final:
        logging.info('Evaluated the last step (%d) of the training run.',
                     final)
        break
  if not results:
    # Nothing was evaluated: a job runner must not take this for success.
    raise UsageError(
        f'No checkpoint appeared in --checkpoint_path={cfg.checkpoint_path} '
        f'within --timeout={cfg.timeout} seconds, so nothing was evaluated; '
        'check that it is the --train_dir of a running training, or raise '
        '--timeout.')
  return results


def run(cfg, on_result=None):
  """Evaluates once, or follows a training run with cfg.eval_interval_secs.

  Calls on_result(results) (default: log_results) once per evaluated
  checkpoint; returns the list of results. Corrupt input data is reported
  as a UsageError.
  """
  on_result = on_result or log_results
  try:
    if cfg.eval_interval_secs:
      return evaluate_loop(cfg, on_result=on_result)
    results = evaluate(cfg)
    if on_result:
      on_result(results)
    return [results]
  except tf.errors.DataLossError as e:
    raise UsageError(f'Corrupt TFRecord data in {cfg.dataset_dir} '
                     f'({errors.tf_reason(e)}); convert the dataset again.'
                     ) from None
  except tf.errors.InvalidArgumentError as e:
    label_error = input_pipeline.label_range_error(e)
    if label_error is not None:
      raise label_error from None
    raise


