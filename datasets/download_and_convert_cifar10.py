"""Downloads CIFAR-10 (binary version) and converts it to TF-Slim TFRecords.

Reads the *binary* tarball (cifar-10-binary.tar.gz): each record is one label
byte followed by 3,072 pixel bytes (1,024 red, 1,024 green, 1,024 blue), so no
pickle is ever loaded. Writes cifar10_train.tfrecord, cifar10_test.tfrecord
(32x32x3 PNGs) and labels.txt.
"""

import os
import shutil

import numpy as np

from slim_zoo.datasets import cifar10
from slim_zoo.datasets import dataset_utils
from slim_zoo.datasets.download_and_convert_mnist import check_labels
from slim_zoo.datasets.download_and_convert_mnist import examples_from_arrays
from slim_zoo.datasets.download_and_convert_mnist import output_paths
from slim_zoo.datasets.download_and_convert_mnist import outputs_exist

DEFAULT_BASE_URL = 'https://www.cs.toronto.edu/~kriz/'
ARCHIVE = 'cifar-10-binary.tar.gz'
# SHA-256 of the ARCHIVE DEFAULT_BASE_URL publishes (as recorded by TFDS); a
# mirror may serve other bytes, so only the default URL is checked.
ARCHIVE_SHA256 = (
    'c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd')
_BATCH_DIR = 'cifar-10-batches-bin'
_SPLIT_FILES = {
    'train': [f'data_batch_{i}.bin' for i in range(1, 6)],
    'test': ['test_batch.bin'],
}
CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog',
               'horse', 'ship', 'truck']
_RECORD_BYTES = 1 + 32 * 32 * 3


def read_binary_batch(path):
  """Returns (uint8 images [n, 32, 32, 3], uint8 labels [n]) of one file."""
  data = np.fromfile(path, dtype=np.uint8)
  if data.size == 0 or data.size % _RECORD_BYTES:
    raise dataset_utils.DatasetError(
        f'{path} is not a CIFAR-10 binary batch ({data.size} bytes is not a '
        f'multiple of {_RECORD_BYTES}); delete the download and run again.')
  records = data.reshape(-1, _RECORD_BYTES)
  labels = records[:, 0]
  images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
  return np.ascontiguousarray(images), labels


def run(dataset_dir, base_url=DEFAULT_BASE_URL):
  """Downloads and converts CIFAR-10; does nothing if the outputs exist."""
  paths = output_paths(dataset_dir, cifar10.FILE_PATTERN, _SPLIT_FILES)
  if outputs_exist(dataset_dir, paths):
    print(f'CIFAR-10 TFRecords already exist in {dataset_dir}; nothing to do.')
    return paths
  download_dir = os.path.join(dataset_dir, 'downloads')
  base_url = base_url.rstrip('/') + '/'
  dataset_utils.download_and_uncompress_tarball(
      base_url + ARCHIVE, download_dir,
      sha256=ARCHIVE_SHA256 if base_url == DEFAULT_BASE_URL else None)
  batch_dir = os.path.join(download_dir, _BATCH_DIR)
  for split, files in _SPLIT_FILES.items():
    if os.path.isfile(paths[split]):
      continue
    missing = [f for f in files if not os.path.isfile(os.path.join(batch_dir, f))]
    if missing:
      raise dataset_utils.DatasetError(
          f'{ARCHIVE} lacks {", ".join(missing)}; delete {download_dir} and '
          'download again.')
    batches = []
    for name in files:
      path = os.path.join(batch_dir, name)
      batches.append(read_binary_batch(path))
      check_labels(batches[-1][1], CLASS_NAMES, path,
                   f'It is not a CIFAR-10 binary batch: delete {download_dir} '
                   'and run again, or fix the mirror of --download_base_url.')
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    dataset_utils.write_tfrecord(
        paths[split],
        examples_from_arrays(images, labels, f'Converting CIFAR-10 {split}'))
  dataset_utils.write_label_file(dict(enumerate(CLASS_NAMES)), dataset_dir)
  shutil.rmtree(batch_dir, ignore_errors=True)
  print(f'Finished converting CIFAR-10 into {dataset_dir}.')
  return paths
