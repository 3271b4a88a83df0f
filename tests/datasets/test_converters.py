"""MNIST, CIFAR-10 and digits conversion through the real code paths.

MNIST and CIFAR-10 files are built here in their original upstream formats
(gzipped IDX files; the CIFAR-10 binary tarball) and served from a local HTTP
server on 127.0.0.1; the TFRecords read back must hold identical pixels and
labels.
"""

import gzip
import os
import struct
import tarfile

import numpy as np
import pytest

from slim_zoo import convert as download_and_convert_data
from slim_zoo.datasets import dataset_factory
from slim_zoo.datasets import dataset_utils
from slim_zoo.datasets import digits
from tests.http_server import serve_directory
from tests.tfrecords import read_examples


def _write_idx(directory, prefix, images, labels):
  with gzip.open(os.path.join(directory, f'{prefix}-images-idx3-ubyte.gz'),
                 'wb') as f:
    f.write(struct.pack('>IIII', 2051, len(images), 28, 28) + images.tobytes())
  with gzip.open(os.path.join(directory, f'{prefix}-labels-idx1-ubyte.gz'),
                 'wb') as f:
    f.write(struct.pack('>II', 2049, len(labels)) + labels.tobytes())


def test_mnist_conversion_from_local_server(tmp_path):
  rng = np.random.RandomState(1)
  served = tmp_path / 'mirror'
  served.mkdir()
  data = {}
  for prefix, n in (('train', 6), ('t10k', 4)):
    images = rng.randint(0, 256, (n, 28, 28)).astype(np.uint8)
    labels = rng.randint(0, 10, n).astype(np.uint8)
    _write_idx(served, prefix, images, labels)
    data[prefix] = (images, labels)
  out = tmp_path / 'mnist'
  with serve_directory(served) as url:
    download_and_convert_data.convert('mnist', str(out), url)
  for split, prefix in (('train', 'train'), ('test', 't10k')):
    examples = read_examples(str(out / f'mnist_{split}.tfrecord'), channels=1)
    images, labels = data[prefix]
    assert [e['label'] for e in examples] == labels.tolist()
    np.testing.assert_array_equal(
        np.stack([e['image'][:, :, 0] for e in examples]), images)
    assert all(e['format'] == b'png' and e['height'] == 28 for e in examples)
  assert dataset_utils.read_label_file(str(out))[3] == 'three'
  spec = dataset_factory.get_dataset('mnist', 'test', str(out))
  assert spec.num_classes == 10 and spec.channels == 1


def _cifar_batch(path, images, labels):
  planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
  records = np.concatenate([labels[:, None], planes], axis=1).astype(np.uint8)
  records.tofile(path)


def test_cifar10_conversion_from_binary_tarball(tmp_path):
  rng = np.random.RandomState(2)
  build = tmp_path / 'build' / 'cifar-10-batches-bin'
  build.mkdir(parents=True)
  expected = {'train': ([], []), 'test': ([], [])}
  names = [f'data_batch_{i}.bin' for i in range(1, 6)] + ['test_batch.bin']
  for name in names:
    images = rng.randint(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    labels = rng.randint(0, 10, 2).astype(np.uint8)
    _cifar_batch(build / name, images, labels)
    split = 'test' if name.startswith('test') else 'train'
    expected[split][0].append(images)
    expected[split][1].append(labels)
  served = tmp_path / 'mirror'
  served.mkdir()
  with tarfile.open(served / 'cifar-10-binary.tar.gz', 'w:gz') as archive:
    archive.add(build, arcname='cifar-10-batches-bin')
  out = tmp_path / 'cifar10'
  with serve_directory(served) as url:
    download_and_convert_data.convert('cifar10', str(out), url)
  for split in ('train', 'test'):
    examples = read_examples(str(out / f'cifar10_{split}.tfrecord'), 3)
    images = np.concatenate(expected[split][0])
    labels = np.concatenate(expected[split][1])
    np.testing.assert_array_equal(np.stack([e['image'] for e in examples]),
                                  images)
    assert [e['label'] for e in examples] == labels.tolist()
  assert dataset_utils.read_label_file(str(out))[0] == 'airplane'


def test_cifar10_download_failure_leaves_no_dataset(tmp_path):
  out = tmp_path / 'cifar10'
  with serve_directory(tmp_path) as url:  # serves no archive: HTTP 404
    with pytest.raises(ValueError, match='404'):
      download_and_convert_data.convert('cifar10', str(out), url)
  leftovers = [f for _, _, files in os.walk(out) for f in files]
  assert leftovers == []


def test_digits_conversion_is_seeded_and_idempotent(digits_dir):
  train = read_examples(os.path.join(digits_dir, 'digits_train.tfrecord'), 1)
  test = read_examples(os.path.join(digits_dir, 'digits_test.tfrecord'), 1)
  assert len(train) == digits.SPLITS_TO_SIZES['train']
  assert len(test) == digits.SPLITS_TO_SIZES['test']
  assert train[0]['image'].shape == (28, 28, 1)
  assert sorted({e['label'] for e in test}) == list(range(10))
  # MNIST-like framing: a 4-pixel empty border around a 20x20 digit.
  border = np.stack([e['image'][:4, :, 0] for e in train[:50]])
  assert border.max() == 0
  # Same seed -> same split as a fresh conversion from the library.
  from slim_zoo.datasets.download_and_convert_digits import load_split_arrays
  arrays = load_split_arrays()
  np.testing.assert_array_equal(np.stack([e['image'] for e in test]),
                                arrays['test'][0])
  before = os.path.getmtime(os.path.join(digits_dir, 'digits_train.tfrecord'))
  download_and_convert_data.convert('digits', digits_dir)
  after = os.path.getmtime(os.path.join(digits_dir, 'digits_train.tfrecord'))
  assert before == after


def test_unknown_dataset_and_split_errors(digits_dir, tmp_path):
  with pytest.raises(ValueError, match='Unknown dataset_name'):
    dataset_factory.get_dataset('mnits', 'train', digits_dir)
  with pytest.raises(ValueError, match="Unknown split 'validation'"):
    dataset_factory.get_dataset('digits', 'validation', digits_dir)
  with pytest.raises(ValueError, match='does not exist'):
    dataset_factory.get_dataset('digits', 'train', str(tmp_path / 'nope'))
  with pytest.raises(ValueError, match='No digits train files'):
    dataset_factory.get_dataset('digits', 'train', str(tmp_path))


def test_mnist_label_out_of_range_is_refused(tmp_path):
  served = tmp_path / 'mirror'
  served.mkdir()
  images = np.zeros((3, 28, 28), np.uint8)
  _write_idx(served, 'train', images, np.array([1, 57, 2], np.uint8))
  _write_idx(served, 't10k', images, np.array([1, 2, 3], np.uint8))
  out = tmp_path / 'mnist'
  with serve_directory(served) as url:
    with pytest.raises(ValueError, match=r'train-labels-idx1-ubyte\.gz: '
                       r'record 1 has label 57 .*valid labels are 0-9'):
      download_and_convert_data.convert('mnist', str(out), url)
  assert not (out / 'mnist_train.tfrecord').exists()


def test_cifar10_label_out_of_range_is_refused(tmp_path):
  build = tmp_path / 'build' / 'cifar-10-batches-bin'
  build.mkdir(parents=True)
  images = np.zeros((2, 32, 32, 3), np.uint8)
  for name in [f'data_batch_{i}.bin' for i in range(1, 6)] + [
      'test_batch.bin']:
    labels = np.array([3, 57 if name == 'data_batch_2.bin' else 4], np.uint8)
    _cifar_batch(build / name, images, labels)
  served = tmp_path / 'mirror'
  served.mkdir()
  with tarfile.open(served / 'cifar-10-binary.tar.gz', 'w:gz') as archive:
    archive.add(build, arcname='cifar-10-batches-bin')
  out = tmp_path / 'cifar10'
  with serve_directory(served) as url:
    with pytest.raises(ValueError, match=r'data_batch_2\.bin: record 1 has '
                       r'label 57 .*valid labels are 0-9'):
      download_and_convert_data.convert('cifar10', str(out), url)
  assert not (out / 'cifar10_train.tfrecord').exists()


def test_cut_download_is_one_error_then_refetched(tmp_path):
  """The script run of issue 17: a body cut without Content-Length."""
  import subprocess
  import sys
  from tests.conftest import ROOT
  served = tmp_path / 'mirror'
  served.mkdir()
  rng = np.random.RandomState(4)
  for prefix in ('train', 't10k'):
    _write_idx(served, prefix,
               rng.randint(0, 256, (3, 28, 28)).astype(np.uint8),
               np.array([0, 1, 2], np.uint8))
  out = tmp_path / 'mnist'
  command = [sys.executable, os.path.join(ROOT, 'download_and_convert_data.py'),
             '--dataset_name=mnist', f'--dataset_dir={out}']
  with serve_directory(served, cut={'train-images-idx3-ubyte.gz'}) as url:
    process = subprocess.run(command + [f'--download_base_url={url}'],
                             capture_output=True, text=True, timeout=300,
                             cwd=ROOT)
  assert process.returncode == 2, process.stderr[-2000:]
  lines = [line for line in process.stderr.splitlines()
           if line.startswith('ERROR')]
  assert len(lines) == 1 and 'incomplete or corrupt' in lines[0], (
      process.stderr[-2000:])
  assert 'Traceback' not in process.stderr
  assert not (out / 'downloads' / 'train-images-idx3-ubyte.gz').exists()
  # A copy cut by an older version is detected, removed and fetched again.
  whole = (served / 'train-images-idx3-ubyte.gz').read_bytes()
  (out / 'downloads' / 'train-images-idx3-ubyte.gz').write_bytes(
      whole[:len(whole) // 2])
  with serve_directory(served) as url:
    download_and_convert_data.convert('mnist', str(out), url)
  assert len(read_examples(str(out / 'mnist_train.tfrecord'), 1)) == 3
