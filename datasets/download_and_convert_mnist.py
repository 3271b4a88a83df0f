"""Downloads MNIST (IDX gz files) and converts it to TF-Slim TFRecords.

Writes mnist_train.tfrecord, mnist_test.tfrecord (28x28x1 PNGs with TF-Slim
keys) and labels.txt into the dataset directory.
"""

import gzip
import os
import struct

import numpy as np

from slim_zoo.datasets import dataset_utils
from slim_zoo.datasets import mnist

DEFAULT_BASE_URL = 'https://storage.googleapis.com/cvdf-datasets/mnist/'
_FILES = {
    'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
    'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'),
}
# SHA-256 of the files DEFAULT_BASE_URL publishes (as recorded by TFDS and
# torchvision); a mirror may serve other bytes, so only the default URL is
# checked against them.
SHA256 = {
    'train-images-idx3-ubyte.gz':
        '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609',
    'train-labels-idx1-ubyte.gz':
        '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c',
    't10k-images-idx3-ubyte.gz':
        '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6',
    't10k-labels-idx1-ubyte.gz':
        'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6',
}
CLASS_NAMES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',
               'eight', 'nine']


def read_idx_images(path):
  """Returns uint8 [n, rows, cols] from an IDX3 (optionally gzipped) file."""
  opener = gzip.open if path.endswith('.gz') else open
  with opener(path, 'rb') as f:
    data = f.read()
  magic, count, rows, cols = struct.unpack('>IIII', data[:16])
  if magic != 2051 or len(data) != 16 + count * rows * cols:
    raise dataset_utils.DatasetError(
        f'{path} is not a valid MNIST image file (magic {magic}); delete it '
        'and run the conversion again.')
  return np.frombuffer(data, np.uint8, offset=16).reshape(count, rows, cols)


def read_idx_labels(path):
  """Returns uint8 [n] labels from an IDX1 (optionally gzipped) file."""
  opener = gzip.open if path.endswith('.gz') else open
  with opener(path, 'rb') as f:
    data = f.read()
  magic, count = struct.unpack('>II', data[:8])
  if magic != 2049 or len(data) != 8 + count:
    raise dataset_utils.DatasetError(
        f'{path} is not a valid MNIST label file (magic {magic}); delete it '
        'and run the conversion again.')
  return np.frombuffer(data, np.uint8, offset=8)


def check_labels(labels, class_names, source, fix):
  """Raises DatasetError naming the first label outside 0..len-1.

  Args:
    labels: integer array, one label per record.
    class_names: the dataset's classes, label i naming class_names[i].
    source: what the labels were read from (the file), for the message.
    fix: what the user should do, for the message.
  """
  bad = np.flatnonzero((labels < 0) | (labels >= len(class_names)))
  if bad.size:
    raise dataset_utils.DatasetError(
        f'{source}: record {int(bad[0])} has label {int(labels[bad[0]])} '
        f'({bad.size} record(s) out of range); valid labels are 0-'
        f'{len(class_names) - 1} ({", ".join(class_names)}). {fix}')


def examples_from_arrays(images, labels, prefix):
  """Yields TF-Slim examples (PNG-encoded) and prints progress."""
  for i, (pixels, label) in enumerate(zip(images, labels)):
    if i % 1000 == 0 or i == len(images) - 1:
      dataset_utils.report_progress(prefix, i + 1, len(images))
    if pixels.ndim == 2:
      pixels = pixels[:, :, None]
    yield dataset_utils.image_to_tfexample(
        dataset_utils.encode_png(pixels), b'png', pixels.shape[0],
        pixels.shape[1], int(label))


def output_paths(dataset_dir, file_pattern, splits):
  return {s: os.path.join(dataset_dir, file_pattern % s) for s in splits}


def outputs_exist(dataset_dir, paths):
  return (all(os.path.isfile(p) for p in paths.values()) and
          dataset_utils.has_labels(dataset_dir))


def run(dataset_dir, base_url=DEFAULT_BASE_URL):
  """Downloads and converts MNIST; does nothing if the outputs exist."""
  paths = output_paths(dataset_dir, mnist.FILE_PATTERN, _FILES)
  if outputs_exist(dataset_dir, paths):
    print(f'MNIST TFRecords already exist in {dataset_dir}; nothing to do.')
    return paths
  download_dir = os.path.join(dataset_dir, 'downloads')
  base_url = base_url.rstrip('/') + '/'
  hashes = SHA256 if base_url == DEFAULT_BASE_URL else {}
  for split, (images_file, labels_file) in _FILES.items():
    if os.path.isfile(paths[split]):
      continue
    images = read_idx_images(dataset_utils.download(
        base_url + images_file, download_dir,
        sha256=hashes.get(images_file)))
    labels_path = dataset_utils.download(
        base_url + labels_file, download_dir, sha256=hashes.get(labels_file))
    labels = read_idx_labels(labels_path)
    check_labels(labels, CLASS_NAMES, labels_path,
                 f'It is not an MNIST label file: delete {download_dir} and '
                 'run again, or fix the mirror of --download_base_url.')
    if len(images) != len(labels):
      raise dataset_utils.DatasetError(
          f'MNIST {split}: {len(images)} images but {len(labels)} labels; '
          f'delete {download_dir} and run again.')
    dataset_utils.write_tfrecord(
        paths[split],
        examples_from_arrays(images, labels, f'Converting MNIST {split}'))
  dataset_utils.write_label_file(dict(enumerate(CLASS_NAMES)), dataset_dir)
  print(f'Finished converting MNIST into {dataset_dir}.')
  return paths
