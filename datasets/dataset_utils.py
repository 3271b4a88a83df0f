"""TFRecord, label-file, download and archive helpers shared by all datasets.

Everything that writes does it atomically: data goes to a temporary file in
the destination directory and is renamed into place only when complete, so an
interrupted run never leaves a file that looks finished.
"""

import contextlib
import dataclasses
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
import struct
from typing import Optional
from slim_zoo.errors import UsageError

LABELS_FILENAME = 'labels.txt'

# TF-Slim's tf.train.Example keys.
KEY_ENCODED = 'image/encoded'
KEY_FORMAT = 'image/format'
KEY_LABEL = 'image/class/label'
KEY_HEIGHT = 'image/height'
KEY_WIDTH = 'image/width'
KEY_BBOX_PREFIX = 'image/object/bbox/'


class DatasetError(UsageError):
  """A dataset problem a user can fix (message names the fix)."""


# --------------------------------------------------------------------------
# tf.train.Example helpers


def _tf_train():
  import tensorflow as tf_root  # Only the proto classes are needed here.
  return tf_root.train


def int64_feature(values):
  if not isinstance(values, (tuple, list)):
    values = [values]
  train = _tf_train()
  return train.Feature(int64_list=train.Int64List(value=[int(v) for v in values]))


def bytes_feature(values):
  if not isinstance(values, (tuple, list)):
    values = [values]
  train = _tf_train()
  values = [v.encode() if isinstance(v, str) else bytes(v) for v in values]
  return train.Feature(bytes_list=train.BytesList(value=values))


def float_feature(values):
  if not isinstance(values, (tuple, list)):
    values = [values]
  train = _tf_train()
  return train.Feature(float_list=train.FloatList(value=[float(v) for v in values]))


def image_to_tfexample(image_data, image_format, height, width, class_id,
                       bboxes=None, extra_features=None):
  """Builds a tf.train.Example with TF-Slim's keys.

  Args:
    image_data: encoded image bytes.
    image_format: b'png' / b'jpeg' (str accepted).
    height, width: image size in pixels.
    class_id: integer label.
    bboxes: optional list of (ymin, xmin, ymax, xmax) in [0, 1], stored in
      image/object/bbox/{ymin,xmin,ymax,xmax}.
    extra_features: optional dict of additional features.

  Returns:
    tf.train.Example.
  """
  feature = {
      KEY_ENCODED: bytes_feature(image_data),
      KEY_FORMAT: bytes_feature(image_format),
      KEY_LABEL: int64_feature(class_id),
      KEY_HEIGHT: int64_feature(height),
      KEY_WIDTH: int64_feature(width),
  }
  if bboxes is not None:
    for i, key in enumerate(('ymin', 'xmin', 'ymax', 'xmax')):
      feature[KEY_BBOX_PREFIX + key] = float_feature([b[i] for b in bboxes])
  if extra_features:
    feature.update(extra_features)
  train = _tf_train()
  return train.Example(features=train.Features(feature=feature))


# --------------------------------------------------------------------------
# Encoding without a TensorFlow session


def encode_png(pixels):
  """Encodes a uint8 numpy array [h, w] or [h, w, 1|3] as PNG bytes."""
  import numpy as np
  pixels = np.asarray(pixels)
  if pixels.dtype != np.uint8:
    raise UsageError(f'encode_png needs uint8 pixels, got {pixels.dtype}.')
  if pixels.ndim == 2:
    pixels = pixels[:, :, None]
  height, width, channels = pixels.shape
  color_type = {1: 0, 3: 2, 4: 6}.get(channels)
  if color_type is None:
    raise UsageError(f'encode_png supports 1, 3 or 4 channels, got {channels}.')
  raw = b''.join(b'\x00' + pixels[row].tobytes() for row in range(height))

  def chunk(tag, data):
    body = tag + data
    return (struct.pack('>I', len(data)) + body +
            struct.pack('>I', zlib.crc32(body) & 0xffffffff))

  header = struct.pack('>IIBBBBB', width, height, 8, color_type, 0, 0, 0)
  return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) +
          chunk(b'IDAT', zlib.compress(raw, 6)) + chunk(b'IEND', b''))


# --------------------------------------------------------------------------
# Atomic files


@contextlib.contextmanager
def atomic_path(final_path):
  """Yields a temporary path next to `final_path`; renames it on success.

  On any exception the temporary file is removed and `final_path` is left as
  it was (absent, or the previous complete version).
  """
  directory = os.path.dirname(os.path.abspath(final_path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(final_path) + '.',
                             suffix='.tmp', dir=directory)
  os.close(fd)
  # mkstemp creates 0600 files; give the result the usual umask permissions.
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(tmp, 0o666 & ~umask)
  try:
    yield tmp
    os.replace(tmp, final_path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_text_atomic(path, text):
  with atomic_path(path) as tmp:
    with open(tmp, 'w', encoding='utf-8') as f:
      f.write(text)


def write_tfrecord(path, examples):
  """Writes serialized examples to `path` atomically; returns the count."""
  import tensorflow as tf_root
  count = 0
  with atomic_path(path) as tmp:
    with tf_root.io.TFRecordWriter(tmp) as writer:
      for example in examples:
        writer.write(example if isinstance(example, bytes)
                     else example.SerializeToString())
        count += 1
  return count


# --------------------------------------------------------------------------
# Label files


def write_label_file(labels_to_class_names, dataset_dir,
                     filename=LABELS_FILENAME):
  """Writes 'label:name' lines, sorted by label, atomically."""
  lines = ''.join(f'{label}:{labels_to_class_names[label]}\n'
                  for label in sorted(labels_to_class_names))
  write_text_atomic(os.path.join(dataset_dir, filename), lines)


def has_labels(dataset_dir, filename=LABELS_FILENAME):
  return os.path.isfile(os.path.join(dataset_dir, filename))


def read_label_file(dataset_dir, filename=LABELS_FILENAME):
  """Reads a label file written by write_label_file into {label: name}."""
  path = os.path.join(dataset_dir, filename)
  labels_to_names = {}
  with open(path, encoding='utf-8') as f:
    for line_number, line in enumerate(f, 1):
      line = line.rstrip('\n')
      if not line:
        continue
      label, sep, name = line.partition(':')
      if not sep or not label.strip().isdigit():
        raise DatasetError(f'{path}:{line_number}: expected "label:name", '
                           f'got {line!r}; regenerate the label file.')
      labels_to_names[int(label)] = name
  return labels_to_names


# --------------------------------------------------------------------------
# Downloads and archives


def _progress(prefix, done, total):
  if not sys.stderr.isatty():
    return
  if total:
    sys.stderr.write(f'\r>> {prefix} {100.0 * done / total:.1f}%')
  else:
    sys.stderr.write(f'\r>> {prefix} {done / 1e6:.1f} MB')
  sys.stderr.flush()


class _CorruptDownload(Exception):
  """A downloaded or cached file that failed verification."""


_TAR_SUFFIXES = ('.tar', '.tar.gz', '.tgz', '.tar.bz2', '.tbz2', '.tar.xz',
                 '.txz')


def _read_to_end(stream):
  while stream.read(1 << 20):
    pass


def verify_file(path, name=None, sha256=None, size=None):
  """Checks a downloaded file; raises _CorruptDownload with the reason.

  Args:
    path: file to check.
    name: the file's real name, whose suffix says what kind of archive it is
      (`path` may be a temporary file); default: basename of `path`.
    sha256: expected hex digest, or None when the published hash is unknown.
    size: expected size in bytes (the server's Content-Length), or None.

  Archives are read to the end, because a body cut off without a
  Content-Length is otherwise indistinguishable from a complete one: tars
  (plain or compressed) member by member, .gz files by decompressing, zips
  by zipfile's CRC test. Other files are only checked by size and hash.
  """
  import gzip
  import hashlib
  name = (name or os.path.basename(path)).lower()
  actual_size = os.path.getsize(path)
  if size is not None and actual_size != size:
    raise _CorruptDownload(f'{actual_size} bytes, expected {size}')
  if sha256:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
      for block in iter(lambda: f.read(1 << 20), b''):
        digest.update(block)
    if digest.hexdigest() != sha256.lower():
      raise _CorruptDownload(f'SHA-256 {digest.hexdigest()}, expected '
                             f'{sha256.lower()}')
  try:
    if name.endswith(_TAR_SUFFIXES):
      with tarfile.open(path) as archive:
        for member in archive:
          if member.isfile():
            _read_to_end(archive.extractfile(member))
    elif name.endswith('.gz'):
      with gzip.open(path, 'rb') as f:
        _read_to_end(f)
    elif name.endswith('.zip'):
      with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
      if bad is not None:
        raise _CorruptDownload(f'member {bad} fails its CRC check')
  except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError,
          zlib.error) as e:
    raise _CorruptDownload(f'not a complete archive: {e}') from None


def download(url, dest_dir, filename=None, timeout=60, retries=2,
             sha256=None):
  """Downloads `url` into `dest_dir` atomically and returns the file path.

  Data streams into a temporary file next to the destination and is renamed
  only after it passed verify_file: the Content-Length the server sent,
  `sha256` when given, and archive integrity (.tar*, .tgz, .gz, .zip read to
  the end). An existing file is reused only if it passes the same checks
  (without the size); otherwise it is removed, with one line saying so, and
  fetched again. On failure nothing is left.

  Args:
    url: what to download.
    dest_dir: directory of the file.
    filename: name of the file (default: the URL's last path component).
    timeout: seconds to wait for the server.
    retries: further attempts after a failed one.
    sha256: hex SHA-256 of the published file; pass it only when known
      (never for a mirror that may serve other bytes).

  Raises:
    DatasetError: on HTTP or network errors or a download that fails
      verification every time, naming the URL and the fix.
  """
  filename = filename or os.path.basename(urllib.request.urlparse(url).path)
  if not filename:
    raise DatasetError(f'Cannot derive a file name from URL {url!r}.')
  os.makedirs(dest_dir, exist_ok=True)
  final = os.path.join(dest_dir, filename)
  if os.path.isfile(final):
    try:
      verify_file(final, sha256=sha256)
      return final
    except _CorruptDownload as e:
      print(f'Cached {final} is corrupt ({e}); removing it and downloading '
            'it again.', file=sys.stderr)
      os.remove(final)
  last_error = None
  for attempt in range(retries + 1):
    try:
      with atomic_path(final) as tmp:
        with urllib.request.urlopen(url, timeout=timeout) as response, \
            open(tmp, 'wb') as out:
          total = int(response.headers.get('Content-Length') or 0)
          done = 0
          while True:
            block = response.read(1 << 20)
            if not block:
              break
            out.write(block)
            done += len(block)
            _progress(f'Downloading {filename}', done, total)
          if total and done != total:
            raise IOError(f'received {done} of {total} bytes')
        verify_file(tmp, filename, sha256=sha256)
      if sys.stderr.isatty():
        sys.stderr.write('\n')
      return final
    except urllib.error.HTTPError as e:
      last_error = f'HTTP {e.code} {e.reason}'
      if 400 <= e.code < 500:
        break
    except _CorruptDownload as e:
      last_error = f'the file received is incomplete or corrupt: {e}'
    except (urllib.error.URLError, OSError, IOError) as e:
      last_error = str(getattr(e, 'reason', e))
    time.sleep(0.5 * (attempt + 1))
  raise DatasetError(
      f'Download of {url} failed ({last_error}). Check the network or pass '
      f'--download_base_url pointing at a mirror that has {filename}.')


def _check_member_path(name, dest_dir):
  if os.path.isabs(name) or name.startswith(('/', '\\')):
    raise DatasetError(f'Refusing archive member with absolute path {name!r}.')
  parts = name.replace('\\', '/').split('/')
  if '..' in parts:
    raise DatasetError(f'Refusing archive member escaping the target '
                       f'directory: {name!r}.')
  target = os.path.realpath(os.path.join(dest_dir, name))
  root = os.path.realpath(dest_dir)
  if target != root and not target.startswith(root + os.sep):
    raise DatasetError(f'Refusing archive member escaping the target '
                       f'directory: {name!r}.')


def safe_extract(archive_path, dest_dir):
  """Extracts a tar(.gz/.bz2/.xz) or zip archive into `dest_dir` safely.

  Every member is checked before anything is written: no absolute paths, no
  '..' components, no symbolic or hard links, no device files. Extraction
  happens in a temporary directory that is merged into `dest_dir` only when
  complete, so a failure leaves `dest_dir` untouched.

  Raises:
    DatasetError: for unsafe members or unreadable archives.
  """
  os.makedirs(dest_dir, exist_ok=True)
  staging = tempfile.mkdtemp(prefix='.extract-', dir=dest_dir)
  try:
    if zipfile.is_zipfile(archive_path):
      with zipfile.ZipFile(archive_path) as archive:
        for info in archive.infolist():
          _check_member_path(info.filename, staging)
          if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise DatasetError(f'Refusing symbolic link {info.filename!r}.')
        archive.extractall(staging)
    else:
      try:
        archive = tarfile.open(archive_path)
      except tarfile.TarError as e:
        raise DatasetError(f'{archive_path} is not a readable archive ({e}); '
                           'delete it and download again.') from None
      with archive:
        members = archive.getmembers()
        for member in members:
          _check_member_path(member.name, staging)
          if member.issym() or member.islnk():
            raise DatasetError(f'Refusing link member {member.name!r} in '
                               f'{archive_path}.')
          if not (member.isfile() or member.isdir()):
            raise DatasetError(f'Refusing special file {member.name!r} in '
                               f'{archive_path}.')
        archive.extractall(staging, members=members, filter='data')
    for entry in os.listdir(staging):
      target = os.path.join(dest_dir, entry)
      if os.path.isdir(target) and not os.path.islink(target):
        shutil.rmtree(target)
      elif os.path.exists(target):
        os.remove(target)
      os.replace(os.path.join(staging, entry), target)
  except (EOFError, tarfile.TarError, zipfile.BadZipFile, zlib.error) as e:
    # A truncated archive fails only when extraction reaches the cut.
    raise DatasetError(f'{archive_path} is truncated or corrupt ({e}); '
                       'delete it and download again.') from None
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return dest_dir


def download_and_uncompress_tarball(url, dataset_dir, filename=None,
                                    sha256=None):
  """Downloads an archive into `dataset_dir` and extracts it there."""
  path = download(url, dataset_dir, filename, sha256=sha256)
  safe_extract(path, dataset_dir)
  return path


# --------------------------------------------------------------------------
# Dataset specs


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """What the input pipeline needs to read one split of a dataset.

  Attributes:
    name: dataset name.
    split_name: split read.
    file_pattern: glob of the split's TFRecord files.
    num_samples: number of examples in the split.
    num_classes: number of classes (labels are 0..num_classes-1).
    labels_to_names: {label: human-readable name}, empty if unknown.
    channels: channels to decode images to (1 or 3).
    has_bboxes: whether examples carry image/object/bbox/* boxes.
    filenames: the split's files, checked by make_spec; the input pipeline
      reads these when set, else the files matching file_pattern.
  """
  name: str
  split_name: str
  file_pattern: str
  num_samples: int
  num_classes: int
  labels_to_names: dict
  channels: int = 3
  has_bboxes: bool = False
  filenames: tuple = ()


_SHARD_OF = re.compile(r'(\d+)-of-(\d+)')


def _check_shard_set(paths, name, split_name, dataset_dir, hint):
  """Refuses globbed shards that are not one complete set.

  Without a recorded shard list, shards named ...-NNNNN-of-MMMMM from two
  conversions with different shard counts (or an unfinished one) all match
  the split's pattern; reading them would count examples twice or miss some.
  """
  totals = {}
  for path in paths:
    match = _SHARD_OF.search(os.path.basename(path))
    if match:
      totals.setdefault(int(match.group(2)), []).append(path)
  if len(totals) > 1:
    counts = ', '.join(f'{len(v)} of -of-{k:05d}' for k, v in
                       sorted(totals.items()))
    raise DatasetError(
        f'The {name} {split_name} shards in {dataset_dir} come from '
        f'conversions with different shard counts ({counts}); delete the '
        'shards of the unfinished one, or convert again into an empty '
        f'directory: {hint}')
  for total, found in totals.items():
    if len(found) != total:
      raise DatasetError(
          f'Only {len(found)} of the {total} {name} {split_name} shards are '
          f'in {dataset_dir} (an unfinished conversion?); convert again into '
          f'an empty directory: {hint}')


def make_spec(name, split_name, dataset_dir, splits_to_sizes, file_pattern,
              num_classes, channels=3, has_bboxes=False,
              convert_hint: Optional[str] = None, recorded_files=None):
  """Validates a split request and returns its DatasetSpec.

  Args:
    name: dataset name.
    split_name: split to read.
    dataset_dir: directory of the converted dataset.
    splits_to_sizes: {split: examples}.
    file_pattern: file name pattern with %s for the split.
    num_classes: number of classes.
    channels: channels to decode images to.
    has_bboxes: whether examples carry boxes.
    convert_hint: the command that creates the dataset, for messages.
    recorded_files: {split: [file base names]} from split_sizes.json, or
      None. When the split is listed, exactly those files are the split:
      a missing one, or another file matching the pattern (a leftover of
      another conversion), is an error. Otherwise the files matching the
      pattern are used, and must form one complete -NNNNN-of-MMMMM set.

  Raises:
    DatasetError: unknown split, missing/empty dataset_dir, an empty split,
      or files that are not the split's; each message says how to fix it.
  """
  import glob
  if split_name not in splits_to_sizes:
    raise DatasetError(f'Unknown split {split_name!r} for dataset {name!r}; '
                       f'valid splits: {", ".join(sorted(splits_to_sizes))}.')
  hint = convert_hint or (
      f'python download_and_convert_data.py --dataset_name={name} '
      f'--dataset_dir={dataset_dir or "DIR"}')
  if not dataset_dir:
    raise DatasetError(f'--dataset_dir is required for dataset {name!r}; '
                       f'create it with: {hint}')
  if os.path.exists(dataset_dir) and not os.path.isdir(dataset_dir):
    raise DatasetError(f'Dataset directory {dataset_dir} is a file, not a '
                       f'directory; pass the directory created by: {hint}')
  if not os.path.isdir(dataset_dir):
    raise DatasetError(f'Dataset directory {dataset_dir} does not exist; '
                       f'create it with: {hint}')
  num_samples = int(splits_to_sizes[split_name])
  if num_samples == 0:
    others = sorted(s for s, n in splits_to_sizes.items() if int(n) > 0)
    raise DatasetError(
        f'The {name} {split_name} split in {dataset_dir} is empty: the '
        f'conversion put no images in it (e.g. --validation_fraction=0). '
        f'Use --dataset_split_name={others[0] if others else "..."}'
        f'{" (valid: " + ", ".join(others) + ")" if len(others) > 1 else ""}'
        ', or convert again into a new directory with a non-empty split.')
  pattern = os.path.join(dataset_dir, file_pattern % split_name)
  found = sorted(glob.glob(pattern))
  recorded = (recorded_files or {}).get(split_name)
  if recorded is not None:
    filenames = [os.path.join(dataset_dir, f) for f in recorded]
    sizes_file = os.path.join(dataset_dir, 'split_sizes.json')
    missing = [f for f in filenames if not os.path.isfile(f)]
    if missing:
      raise DatasetError(
          f'{missing[0]} is missing ({len(missing)} of the {len(filenames)} '
          f'{split_name} files {sizes_file} records); restore it, or delete '
          f'{sizes_file} and convert again: {hint}')
    extra = sorted(set(found) - set(filenames))
    if extra:
      raise DatasetError(
          f'{extra[0]} matches {pattern} but is not one of the '
          f'{len(filenames)} {split_name} files {sizes_file} records '
          f'({len(extra)} such file(s), left from another conversion?); '
          'remove them (or move them out of the directory).')
  else:
    if not found:
      raise DatasetError(f'No {name} {split_name} files match {pattern}; '
                         f'create them with: {hint}')
    _check_shard_set(found, name, split_name, dataset_dir, hint)
    filenames = found
  labels = read_label_file(dataset_dir) if has_labels(dataset_dir) else {}
  return DatasetSpec(name=name, split_name=split_name, file_pattern=pattern,
                     num_samples=num_samples,
                     num_classes=int(num_classes), labels_to_names=labels,
                     channels=channels, has_bboxes=has_bboxes,
                     filenames=tuple(filenames))


def report_progress(prefix, done, total):
  """Progress on stderr: one updating line on a terminal; in a log (not a
  terminal) each update is a line of its own, so none run together."""
  if sys.stderr.isatty():
    sys.stderr.write(f'\r>> {prefix} {done}/{total}')
    if done >= total:
      sys.stderr.write('\n')
  else:
    sys.stderr.write(f'>> {prefix} {done}/{total}\n')
  sys.stderr.flush()
