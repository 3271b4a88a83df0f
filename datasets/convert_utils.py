"""Image checks and parallel sharded TFRecord writing for the converters.

Converters build lists of `Item`s (a file plus its label and boxes) and hand
them to `write_splits`, which cuts each split into contiguous shards,
converts the shards in worker processes (spawned, `num_workers` of them, or
in this process for one) and writes each shard atomically, printing one
progress line. Every image is
decoded once with TensorFlow to prove it is readable and to get its size;
images TensorFlow cannot decode are skipped and counted, never fatal.

What is stored:
  * 'jpeg' policy (flowers, imagenet, visualwakewords): RGB or grayscale JPEG
    bytes are kept as they are; CMYK JPEGs and anything that is not a JPEG
    (PNG disguised as .JPEG, BMP, GIF) are decoded and re-encoded as RGB JPEG.
  * 'keep' policy (image_folder): JPEG and PNG bytes are kept; CMYK JPEGs,
    BMP and GIF are re-encoded as lossless RGB PNG.
"""

from concurrent import futures
import dataclasses
import json
import multiprocessing
import os
import re
import string
import sys
import time
from typing import Optional

from slim_zoo.datasets import dataset_utils
from slim_zoo.errors import UsageError

SIZES_FILENAME = 'split_sizes.json'
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif')
POLICIES = ('jpeg', 'keep')

_JPEG_QUALITY = 95
_MIN_ITEMS_FOR_PROCESSES = 1000
_MAX_DEFAULT_WORKERS = 8
# Start-of-frame markers (all but DHT 0xC4, JPG 0xC8 and DAC 0xCC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class CorruptImageError(UsageError):
  """An image file that cannot be decoded."""


@dataclasses.dataclass(frozen=True)
class Item:
  """One image to convert.

  Attributes:
    path: image file.
    label: integer class label.
    bboxes: (ymin, xmin, ymax, xmax) boxes in [0, 1], or None for no boxes
      feature at all.
    bbox_labels: one label per box (image/object/bbox/label), or None.
    text: optional human-readable class name (image/class/text).
    synset: optional class id string (image/class/synset).
    source_id: optional string id (image/source_id).
  """
  path: str
  label: int
  bboxes: Optional[tuple] = None
  bbox_labels: Optional[tuple] = None
  text: Optional[str] = None
  synset: Optional[str] = None
  source_id: Optional[str] = None


def sniff_format(data):
  """Returns 'jpeg', 'png', 'gif', 'bmp' from the magic bytes, else None."""
  if data[:3] == b'\xff\xd8\xff':
    return 'jpeg'
  if data[:8] == b'\x89PNG\r\n\x1a\n':
    return 'png'
  if data[:4] == b'GIF8':
    return 'gif'
  if data[:2] == b'BM':
    return 'bmp'
  return None


def jpeg_components(data):
  """Number of colour components in a JPEG's frame header (1, 3 or 4)."""
  pos = 2
  while pos + 4 <= len(data):
    if data[pos] != 0xFF:
      return None
    marker = data[pos + 1]
    if marker == 0xFF:  # Fill byte.
      pos += 1
      continue
    if marker in (0x01,) or 0xD0 <= marker <= 0xD7:
      pos += 2
      continue
    length = int.from_bytes(data[pos + 2:pos + 4], 'big')
    if marker in _SOF_MARKERS:
      return data[pos + 9] if pos + 9 < len(data) else None
    pos += 2 + length
  return None


def _op_error_reason(message):
  """The decoder's own words from a TensorFlow op error message."""
  lines = [line.strip() for line in message.split('\n')]
  lines = [line for line in lines if line and not line.startswith(
      ('Graph execution error', 'Detected at node', 'File ', 'Node:', '[['))
           and not line.endswith('(most recent call last):')]
  return lines[-1] if lines else message.strip()


class ImageCoder:
  """Decodes and re-encodes images with a private TF graph and session."""

  def __init__(self):
    from slim_zoo.nets.compat import tf
    self._tf = tf
    self._graph = tf.Graph()
    with self._graph.as_default():
      self._data = tf.placeholder(tf.string, [])
      self._decoded = tf.io.decode_image(self._data, channels=3,
                                         expand_animations=False)
      self._pixels = tf.placeholder(tf.uint8, [None, None, 3])
      self._jpeg = tf.io.encode_jpeg(self._pixels, format='rgb',
                                     quality=_JPEG_QUALITY)
      self._png = tf.io.encode_png(self._pixels)
    self._session = tf.Session(
        graph=self._graph,
        config=tf.ConfigProto(intra_op_parallelism_threads=1,
                              inter_op_parallelism_threads=1,
                              device_count={'GPU': 0}))

  def decode(self, data):
    """Returns uint8 RGB pixels [h, w, 3]; raises CorruptImageError."""
    try:
      return self._session.run(self._decoded, {self._data: data})
    except self._tf.errors.OpError as e:
      raise CorruptImageError(_op_error_reason(e.message)) from None

  def encode(self, pixels, image_format):
    out = self._jpeg if image_format == 'jpeg' else self._png
    return self._session.run(out, {self._pixels: pixels})

  def prepare(self, data, policy):
    """Returns (encoded bytes, format 'jpeg'|'png', height, width)."""
    if policy not in POLICIES:
      raise UsageError(f'Unknown image policy {policy!r}; valid: {POLICIES}.')
    kind = sniff_format(data)
    if kind is None:
      raise CorruptImageError('not a JPEG, PNG, GIF or BMP file')
    pixels = self.decode(data)
    height, width = pixels.shape[:2]
    if kind == 'jpeg' and jpeg_components(data) in (1, 3):
      return data, 'jpeg', height, width
    if kind == 'png' and policy == 'keep':
      return data, 'png', height, width
    target = 'jpeg' if policy == 'jpeg' else 'png'
    return self.encode(pixels, target), target, height, width


def item_to_example(item, encoded, image_format, height, width):
  """tf.train.Example with TF-Slim's keys (and ImageNet's extra ones)."""
  bytes_feature = dataset_utils.bytes_feature
  extra = {
      'image/filename': bytes_feature(os.path.basename(item.path)),
      'image/channels': dataset_utils.int64_feature(3),
      'image/colorspace': bytes_feature('RGB'),
  }
  if item.text is not None:
    extra['image/class/text'] = bytes_feature(item.text)
  if item.synset is not None:
    extra['image/class/synset'] = bytes_feature(item.synset)
  if item.source_id is not None:
    extra['image/source_id'] = bytes_feature(item.source_id)
  if item.bboxes is not None:
    extra[dataset_utils.KEY_BBOX_PREFIX + 'label'] = (
        dataset_utils.int64_feature(list(item.bbox_labels or [])))
  return dataset_utils.image_to_tfexample(
      encoded, image_format, height, width, item.label,
      bboxes=list(item.bboxes) if item.bboxes is not None else None,
      extra_features=extra)


_CODER = None


def _coder():
  global _CODER
  if _CODER is None:
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    _CODER = ImageCoder()
  return _CODER


def _convert_shard(task):
  """Worker: writes one shard; returns (path, written, [(file, reason)])."""
  path, items, policy = task
  coder = _coder()
  skipped = []

  def examples():
    for item in items:
      try:
        with open(item.path, 'rb') as f:
          data = f.read()
        prepared = coder.prepare(data, policy)
      except (CorruptImageError, OSError) as e:
        skipped.append((item.path, str(e)))
        continue
      yield item_to_example(item, *prepared)

  written = dataset_utils.write_tfrecord(path, examples())
  return path, written, skipped


def shard_paths(dataset_dir, name_format, split, num_shards):
  """Output path of every shard; name_format gets split, shard, num_shards."""
  return [os.path.join(dataset_dir, name_format.format(
      split=split, shard=i, num_shards=num_shards)) for i in range(num_shards)]


def shard_name_regex(name_format, split):
  """Regex matching the names of `split`'s shards for any shard count."""
  parts = []
  for literal, field, _, _ in string.Formatter().parse(name_format):
    parts.append(re.escape(literal))
    if field == 'split':
      parts.append(re.escape(split))
    elif field is not None:
      parts.append(r'\d+')
  return re.compile(''.join(parts) + r'\Z')


def fresh_shard_paths(dataset_dir, name_format, split, num_shards,
                      stream=None):
  """shard_paths, after removing other shards of `split` in dataset_dir.

  A converter runs only while split_sizes.json is absent, i.e. on a
  directory whose conversion never finished; shards of the split with
  another shard count are left from that run and would otherwise be read
  with the new ones. They are removed (one line says which) before
  anything is written, so an interruption cannot mix the two either.

  Args:
    dataset_dir: the converter's output directory.
    name_format: the converter's shard name format (see shard_paths).
    split: split name.
    num_shards: shards to write; 0 for a split that gets none.
    stream: where the line goes (default sys.stdout).

  Returns:
    The paths of shard_paths (empty for 0 shards).
  """
  paths = shard_paths(dataset_dir, name_format, split, num_shards)
  keep = {os.path.basename(p) for p in paths}
  pattern = shard_name_regex(name_format, split)
  stale = sorted(name for name in (os.listdir(dataset_dir)
                                   if os.path.isdir(dataset_dir) else [])
                 if pattern.match(name) and name not in keep)
  for name in stale:
    os.remove(os.path.join(dataset_dir, name))
  if stale:
    print(f'Removed {len(stale)} {split} shard(s) left in {dataset_dir} by '
          f'an unfinished conversion with another shard count: '
          f'{", ".join(stale[:3])}{" ..." if len(stale) > 3 else ""}',
          file=stream or sys.stdout)
  return paths


@dataclasses.dataclass
class SplitResult:
  """What write_splits wrote for one split.

  Attributes:
    written: examples written.
    skipped: [(path, reason)] of the images that could not be read.
    files: base names of the split's shards, in order.
  """
  written: int
  skipped: list
  files: list = dataclasses.field(default_factory=list)


def default_workers(num_items):
  """Worker processes for `num_items` images when the user gave none.

  Starting a process costs seconds (each imports TensorFlow), so small
  conversions stay in this process.
  """
  if num_items < _MIN_ITEMS_FOR_PROCESSES:
    return 1
  return max(1, min(os.cpu_count() or 1, _MAX_DEFAULT_WORKERS))


def write_sharded(items, paths, policy, num_workers=1, prefix='Converting'):
  """Converts `items` into len(paths) contiguous shards.

  Args:
    items: list of Item, in the order they should be stored.
    paths: output file of every shard (each written atomically).
    policy: 'jpeg' or 'keep' (see the module docstring).
    num_workers: processes converting shards in parallel; 1 converts in this
      process.
    prefix: text of the progress line.

  Returns:
    SplitResult(written, skipped), skipped as [(path, reason)].
  """
  return write_splits({'': (items, paths)}, policy, num_workers, prefix)['']


def write_splits(splits, policy, num_workers=1, prefix='Converting'):
  """Converts several splits with one pool of worker processes.

  Args:
    splits: {split name: (items, shard paths)}; each split's items are cut
      into len(paths) contiguous shards.
    policy: 'jpeg' or 'keep' (see the module docstring).
    num_workers: processes converting shards in parallel; 1 converts in this
      process.
    prefix: text of the progress line.

  Returns:
    {split name: SplitResult(written, skipped)}.
  """
  if num_workers < 1:
    raise UsageError(f'num_workers must be >= 1, got {num_workers}.')
  if policy not in POLICIES:
    raise UsageError(f'Unknown image policy {policy!r}; valid: {POLICIES}.')
  tasks, owners = [], []
  for split, (items, paths) in splits.items():
    if not paths:
      raise UsageError(f'Split {split!r} needs at least one output shard.')
    bounds = [len(items) * i // len(paths) for i in range(len(paths) + 1)]
    for i, path in enumerate(paths):
      tasks.append((path, items[bounds[i]:bounds[i + 1]], policy))
      owners.append(split)
  results = {split: SplitResult(0, [], [os.path.basename(p) for p in paths])
             for split, (_, paths) in splits.items()}
  totals = SplitResult(0, [])
  start = time.time()

  def collect(done, index, shard_result):
    _, written, skipped = shard_result
    for result in (results[owners[index]], totals):
      result.written += written
      result.skipped.extend(skipped)
    rate = (totals.written + len(totals.skipped)) / max(
        time.time() - start, 1e-6)
    sys.stderr.write(f'\r>> {prefix}: shard {done}/{len(tasks)}, '
                     f'{totals.written} images, {len(totals.skipped)} '
                     f'skipped, {rate:.1f} images/sec')
    sys.stderr.flush()

  workers = min(num_workers, len(tasks))
  if workers <= 1:
    for index, task in enumerate(tasks):
      collect(index + 1, index, _convert_shard(task))
  else:
    # spawn: a forked child would inherit the parent's TensorFlow threads.
    # An executor (unlike multiprocessing.Pool) fails instead of hanging when
    # a worker dies.
    context = multiprocessing.get_context('spawn')
    with futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
      pending = {pool.submit(_convert_shard, task): index
                 for index, task in enumerate(tasks)}
      for done, future in enumerate(futures.as_completed(pending), 1):
        collect(done, pending[future], future.result())
  sys.stderr.write('\n')
  sys.stderr.flush()
  return results


def report_skipped(skipped, stream=None):
  """Prints the final report line(s) about skipped images."""
  stream = stream or sys.stdout
  print(f'Skipped {len(skipped)} unreadable image(s).', file=stream)
  for path, reason in skipped[:20]:
    print(f'  {path}: {reason}', file=stream)
  if len(skipped) > 20:
    print(f'  ... and {len(skipped) - 20} more', file=stream)


# --------------------------------------------------------------------------
# The split-sizes file: written last by a converter, read by the specs.


def finish_splits(dataset_dir, results, labels_to_names, splits=None):
  """Records a finished conversion: labels.txt, then split_sizes.json.

  split_sizes.json goes last, so an interrupted conversion never looks
  complete to the dataset specs. Besides the sizes it records the shard
  files of every split, which the specs read instead of a glob.

  Args:
    dataset_dir: the converter's output directory.
    results: {split: result of write_splits}.
    labels_to_names: {label: class name} for labels.txt.
    splits: split names to record (a split missing from `results` counts 0);
      default: the splits of `results`.

  Returns:
    ({split: images written}, [(path, reason) of every skipped image]).
  """
  names = splits or list(results)
  written = {split: results[split].written if split in results else 0
             for split in names}
  files = {split: list(results[split].files) if split in results else []
           for split in names}
  skipped = [s for r in results.values() for s in r.skipped]
  dataset_utils.write_label_file(labels_to_names, dataset_dir)
  write_split_sizes(dataset_dir, written, len(labels_to_names),
                    skipped=len(skipped), files=files)
  return written, skipped


def write_split_sizes(dataset_dir, splits_to_sizes, num_classes, skipped=0,
                      files=None):
  """Writes split_sizes.json atomically.

  Args:
    dataset_dir: the dataset directory.
    splits_to_sizes: {split: examples}.
    num_classes: number of classes.
    skipped: images skipped by the conversion.
    files: optional {split: [shard base names]}; readers use it instead of
      globbing (older readers ignore the key).
  """
  data = {'splits': {k: int(v) for k, v in splits_to_sizes.items()},
          'num_classes': int(num_classes),
          'skipped_images': int(skipped)}
  if files is not None:
    data['files'] = {k: [str(name) for name in v] for k, v in files.items()}
  dataset_utils.write_text_atomic(
      os.path.join(dataset_dir, SIZES_FILENAME),
      json.dumps(data, indent=2, sort_keys=True) + '\n')


def read_split_sizes(dataset_dir):
  """Returns the parsed split_sizes.json of dataset_dir, or None if absent.

  Returns:
    {'splits': {split: size}, 'num_classes': int, 'files': {split: [shard
    base names]} or None for a file written before shard lists were kept}.

  Raises:
    DatasetError: if the file exists but is not a valid sizes file.
  """
  if not dataset_dir:
    return None
  path = os.path.join(dataset_dir, SIZES_FILENAME)
  if not os.path.exists(path):
    return None
  try:
    with open(path, encoding='utf-8') as f:
      data = json.load(f)
    splits = {str(k): int(v) for k, v in data['splits'].items()}
    num_classes = int(data['num_classes'])
    files = data.get('files')
    if files is not None:
      files = {str(k): [str(name) for name in _as_list(v)]
               for k, v in files.items()}
  except (OSError, UnicodeDecodeError) as e:
    raise dataset_utils.DatasetError(
        f'Cannot read {path} ({e}); make it a readable file (it records the '
        'finished conversion).') from None
  except (ValueError, KeyError, TypeError, AttributeError) as e:
    # The converters skip a directory holding this file, so "convert again"
    # alone would meet the same error: say what is wrong and what to delete.
    raise dataset_utils.DatasetError(
        f'{path} is damaged ({type(e).__name__}: {e}): it should be the JSON '
        'record of a finished conversion ({"splits": {...}, "num_classes": '
        'N, ...}). Delete it and run download_and_convert_data.py again with '
        'the same --dataset_dir to redo the conversion.') from None
  return {'splits': splits, 'num_classes': num_classes, 'files': files}


def recorded_files(sizes, file_pattern=None):
  """{split: shard names} recorded in `sizes` (read_split_sizes), or None.

  None also when the user passed their own `file_pattern`: they chose the
  files, the record describes the converter's.
  """
  if sizes is None or file_pattern:
    return None
  return sizes.get('files')


def _as_list(value):
  if not isinstance(value, list):
    raise TypeError(f'shard list {value!r} is not a list')
  return value


def seeded_split(items, num_validation, seed):
  """Shuffles `items` with `seed`; returns (train, validation) lists."""
  import random
  if num_validation < 0 or num_validation > len(items):
    raise dataset_utils.DatasetError(
        f'Cannot hold out {num_validation} validation images from '
        f'{len(items)}; pass a validation size between 0 and {len(items)}.')
  order = list(items)
  random.Random(seed).shuffle(order)
  return order[num_validation:], order[:num_validation]


def list_class_folders(root, extensions=IMAGE_EXTENSIONS):
  """Returns (sorted class names, {class: sorted image paths}).

  Every sub-directory of `root` is a class; files in it (recursively) whose
  extension is in `extensions` (any case) are its images. Hidden entries are
  ignored.

  Raises:
    DatasetError: missing root, fewer than two classes, or an empty class.
  """
  if os.path.exists(root) and not os.path.isdir(root):
    raise dataset_utils.DatasetError(
        f'Image directory {root} is a file, not a directory; pass a directory '
        'holding one sub-directory of images per class.')
  if not os.path.isdir(root):
    raise dataset_utils.DatasetError(
        f'Image directory {root} does not exist; pass a directory holding one '
        'sub-directory of images per class.')
  classes = sorted(d for d in os.listdir(root)
                   if not d.startswith('.') and
                   os.path.isdir(os.path.join(root, d)))
  if len(classes) < 2:
    raise dataset_utils.DatasetError(
        f'{root} has {len(classes)} class sub-directories ({classes}); a '
        'classification dataset needs at least two (one per class, e.g. '
        f'{root}/cats/*.jpg and {root}/dogs/*.jpg).')
  files = {}
  for name in classes:
    found = []

    def unreadable(error):
      # os.walk skips directories it cannot list; without this a folder
      # with the wrong permissions would be reported as empty.
      raise dataset_utils.DatasetError(
          f'Class directory {error.filename} is unreadable ({error.strerror}); '
          'fix its permissions (e.g. chmod -R u+rX) or remove it.')

    for dirpath, dirnames, filenames in os.walk(os.path.join(root, name),
                                                onerror=unreadable):
      dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
      found.extend(os.path.join(dirpath, f) for f in filenames
                   if not f.startswith('.') and
                   os.path.splitext(f)[1].lower() in extensions)
    if not found:
      raise dataset_utils.DatasetError(
          f'Class directory {os.path.join(root, name)} has no images '
          f'({", ".join(extensions)}); add images or remove the directory.')
    files[name] = sorted(found)
  return classes, files
