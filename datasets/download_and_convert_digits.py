"""Converts scikit-learn's bundled 8x8 digits into MNIST-format TFRecords.

No download: the data ships inside scikit-learn. Each 8x8 image (values 0-16)
is scaled to 0-255, bilinearly upsampled to 20x20 and centred in a 28x28
frame, like MNIST. The train/test split is fixed by a seed, so every machine
produces the same files.
"""

import os

import numpy as np

from slim_zoo.datasets import dataset_utils
from slim_zoo.datasets import digits
from slim_zoo.datasets.download_and_convert_mnist import CLASS_NAMES
from slim_zoo.datasets.download_and_convert_mnist import examples_from_arrays
from slim_zoo.datasets.download_and_convert_mnist import output_paths
from slim_zoo.datasets.download_and_convert_mnist import outputs_exist

SEED = 20161125
_DIGIT_SIZE = 20
_FRAME_SIZE = 28


def _upsample(image, size):
  """Bilinear resize of a 2-D float array to [size, size] (pixel centres)."""
  src = image.shape[0]
  coords = (np.arange(size) + 0.5) * src / size - 0.5
  coords = np.clip(coords, 0, src - 1)
  lo = np.floor(coords).astype(int)
  hi = np.minimum(lo + 1, src - 1)
  frac = coords - lo
  rows = image[lo] * (1 - frac)[:, None] + image[hi] * frac[:, None]
  return rows[:, lo] * (1 - frac)[None, :] + rows[:, hi] * frac[None, :]


def to_mnist_format(images8):
  """uint8 [n, 28, 28, 1] from sklearn's float [n, 8, 8] (range 0-16)."""
  pad = (_FRAME_SIZE - _DIGIT_SIZE) // 2
  out = np.zeros((len(images8), _FRAME_SIZE, _FRAME_SIZE, 1), np.uint8)
  for i, image in enumerate(images8):
    big = _upsample(image.astype(np.float64) * (255.0 / 16.0), _DIGIT_SIZE)
    out[i, pad:pad + _DIGIT_SIZE, pad:pad + _DIGIT_SIZE, 0] = np.clip(
        np.round(big), 0, 255).astype(np.uint8)
  return out


def load_split_arrays():
  """Returns {'train': (images, labels), 'test': (images, labels)}."""
  from sklearn.datasets import load_digits
  bunch = load_digits()
  images = to_mnist_format(bunch.images)
  labels = bunch.target.astype(np.int64)
  order = np.random.RandomState(SEED).permutation(len(labels))
  test, train = order[:digits.NUM_TEST], order[digits.NUM_TEST:]
  return {'train': (images[train], labels[train]),
          'test': (images[test], labels[test])}


SAMPLE_DIR = 'test_images'


def write_sample_images(dataset_dir, images, labels, count=10):
  """Writes the first `count` test images as PNG files for classify_image.py.

  Files are named digit_<index>_label_<label>.png in <dataset_dir>/test_images.
  """
  out_dir = os.path.join(dataset_dir, SAMPLE_DIR)
  paths = []
  for i in range(min(count, len(labels))):
    path = os.path.join(out_dir, f'digit_{i:02d}_label_{int(labels[i])}.png')
    with dataset_utils.atomic_path(path) as tmp:
      with open(tmp, 'wb') as f:
        f.write(dataset_utils.encode_png(images[i]))
    paths.append(path)
  return paths


def run(dataset_dir, base_url=None):
  """Converts the digits; does nothing if the outputs exist."""
  del base_url  # Nothing to download.
  paths = output_paths(dataset_dir, digits.FILE_PATTERN, digits.SPLITS_TO_SIZES)
  if (outputs_exist(dataset_dir, paths) and
      os.path.isdir(os.path.join(dataset_dir, SAMPLE_DIR))):
    print(f'Digits TFRecords already exist in {dataset_dir}; nothing to do.')
    return paths
  os.makedirs(dataset_dir, exist_ok=True)
  splits = load_split_arrays()
  write_sample_images(dataset_dir, *splits['test'])
  for split, (images, labels) in splits.items():
    if os.path.isfile(paths[split]):
      continue
    if len(labels) != digits.SPLITS_TO_SIZES[split]:
      raise RuntimeError(f'digits {split}: {len(labels)} examples, expected '
                         f'{digits.SPLITS_TO_SIZES[split]}')
    dataset_utils.write_tfrecord(
        paths[split],
        examples_from_arrays(images, labels, f'Converting digits {split}'))
  dataset_utils.write_label_file(dict(enumerate(CLASS_NAMES)), dataset_dir)
  print(f'Finished converting digits into {dataset_dir}.')
  return paths
