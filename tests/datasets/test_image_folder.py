"""image_folder: class sub-directories of JPEG/PNG/BMP/GIF -> TFRecords.

Converted once (in-process; the worker-process path has its own test) from
a tree holding every supported
format plus corrupt files; the records must hold the written pixels, the
split must be seeded and per class, the skipped files counted, and the spec
and the input pipeline must work from split_sizes.json alone.
"""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from slim_zoo import convert as download_and_convert_data
from slim_zoo.datasets import convert_utils
from slim_zoo.datasets import dataset_factory
from slim_zoo.datasets import dataset_utils
from slim_zoo.datasets import download_and_convert_image_folder as converter
from slim_zoo.datasets import input_pipeline
from slim_zoo.nets.compat import tf
from slim_zoo.preprocessing import preprocessing_factory
from tests.conftest import ROOT
from tests.datasets import image_files
from tests.tfrecords import read_examples


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
  """(source dir, output dir, {file name: expected RGB pixels}, result)."""
  root = tmp_path_factory.mktemp('image_folder')
  source = root / 'photos'
  rng = np.random.RandomState(7)
  expected = {}
  for label, name in enumerate(['cats', 'dogs', 'zebras']):
    (source / name).mkdir(parents=True)
    for i in range(5):
      pixels = rng.randint(0, 256, (6 + i, 9, 3)).astype(np.uint8)
      kind = ('png', 'jpeg', 'bmp', 'gif', 'png')[i]
      if kind == 'png':
        data = image_files.encode(pixels, 'png')
      elif kind == 'jpeg':
        data = image_files.encode(pixels, 'jpeg')
        pixels = image_files.decode(data)  # What the JPEG holds.
      elif kind == 'bmp':
        data = image_files.bmp(pixels)
      else:
        palette = rng.randint(0, 256, (256, 3)).astype(np.uint8)
        indices = rng.randint(0, 256, pixels.shape[:2]).astype(np.uint8)
        data = image_files.gif(indices, palette)
        pixels = palette[indices]
      filename = f'{name}_{i}.{"jpg" if kind == "jpeg" else kind}'
      (source / name / filename).write_bytes(data)
      expected[filename] = (label, pixels)
  good_jpeg = image_files.encode(rng.randint(0, 256, (16, 16, 3)), 'jpeg')
  (source / 'cats' / 'truncated.jpg').write_bytes(good_jpeg[:len(good_jpeg)
                                                            // 2])
  (source / 'dogs' / 'noise.png').write_bytes(os.urandom(64))
  (source / 'dogs' / 'notes.txt').write_text('not an image')
  out = root / 'records'
  result = download_and_convert_data.convert(
      'image_folder', str(out), image_dir=str(source),
      validation_fraction=0.4, train_shards=2, validation_shards=2,
      num_threads=1)
  return source, out, expected, result


def test_records_hold_the_written_pixels_and_labels(converted):
  _, out, expected, result = converted
  records = {}
  for path in sorted(glob.glob(str(out / '*.tfrecord'))):
    features = image_files.read_features(path)
    for example, feature in zip(read_examples(path, channels=3), features):
      filename = feature['image/filename'][0].decode()
      records[filename] = (os.path.basename(path).split('-')[0], example)
  assert sorted(records) == sorted(expected)
  for filename, (_, example) in records.items():
    label, pixels = expected[filename]
    assert example['label'] == label, filename
    np.testing.assert_array_equal(example['image'], pixels, err_msg=filename)
    assert (example['height'], example['width']) == pixels.shape[:2]
    # JPEG and PNG kept as they are; BMP and GIF re-encoded losslessly.
    assert example['format'] == (b'jpeg' if filename.endswith('.jpg')
                                 else b'png')
  # Seeded per-class split: round(5 * 0.4) = 2 validation images per class.
  validation = sorted(f for f, (s, _) in records.items() if s == 'validation')
  assert [sum(f.startswith(c) for f in validation)
          for c in ('cats', 'dogs', 'zebras')] == [2, 2, 2]
  assert result['train'] == 9 and result['validation'] == 6
  # Same seed, same split.
  classes, files = convert_utils.list_class_folders(str(converted[0]))
  again = converter.split_items(classes, files, 0.4, converter.DEFAULT_SEED)
  assert sorted(os.path.basename(i.path) for i in again['validation']) == (
      [f for f in validation])


def test_corrupt_images_are_skipped_and_counted(converted):
  _, out, _, result = converted
  skipped = sorted(os.path.basename(path) for path, _ in result['skipped'])
  assert skipped == ['noise.png', 'truncated.jpg']
  sizes = json.loads((out / 'split_sizes.json').read_text())
  assert sizes == {'splits': {'train': 9, 'validation': 6}, 'num_classes': 3,
                   'skipped_images': 2,
                   'files': {split: [f'{split}-{i:05d}-of-00002.tfrecord'
                                     for i in range(2)]
                             for split in ('train', 'validation')}}
  assert dataset_utils.read_label_file(str(out)) == {
      0: 'cats', 1: 'dogs', 2: 'zebras'}


def test_spec_and_pipeline_from_split_sizes(converted):
  _, out, _, _ = converted
  spec = dataset_factory.get_dataset('image_folder', 'validation', str(out))
  assert (spec.num_samples, spec.num_classes) == (6, 3)
  with pytest.raises(ValueError, match="Unknown split 'test'"):
    dataset_factory.get_dataset('image_folder', 'test', str(out))
  with tf.Graph().as_default():
    fn = preprocessing_factory.get_preprocessing('inception', False)
    dataset = input_pipeline.build_dataset(spec, fn, input_pipeline.InputConfig(
        batch_size=4, image_size=(12, 12), is_training=False))
    batch = tf.data.make_one_shot_iterator(dataset).get_next()
    with tf.Session() as session:
      sizes = []
      while True:
        try:
          images, labels = session.run(batch)
        except tf.errors.OutOfRangeError:
          break
        assert images.shape[1:] == (12, 12, 3)
        sizes.append(len(labels))
  assert sizes == [4, 2]


def test_rerun_is_a_no_op_and_errors_name_the_fix(converted, tmp_path):
  source, out, _, _ = converted
  before = os.path.getmtime(out / 'split_sizes.json')
  converter.run(str(out), image_dir=str(source))
  assert os.path.getmtime(out / 'split_sizes.json') == before
  with pytest.raises(ValueError, match='--image_dir is required'):
    download_and_convert_data.convert('image_folder', str(tmp_path / 'a'))
  with pytest.raises(ValueError, match='does not exist'):
    converter.run(str(tmp_path / 'b'), image_dir=str(tmp_path / 'nothing'))
  (tmp_path / 'one' / 'only').mkdir(parents=True)
  with pytest.raises(ValueError, match='at least two'):
    converter.run(str(tmp_path / 'c'), image_dir=str(tmp_path / 'one'))
  with pytest.raises(ValueError, match='inside class directory'):
    converter.run(str(source / 'cats' / 'out'), image_dir=str(source))
  with pytest.raises(ValueError, match='split_sizes.json'):
    dataset_factory.get_dataset('image_folder', 'train', str(tmp_path))
  with pytest.raises(ValueError, match='--download_base_url does not apply'):
    download_and_convert_data.convert('image_folder', str(tmp_path / 'd'),
                                      'http://127.0.0.1:1/',
                                      image_dir=str(source))
  with pytest.raises(ValueError, match='--image_dir does not apply to mnist'):
    download_and_convert_data.convert('mnist', str(tmp_path / 'e'),
                                      image_dir=str(source))


def test_worker_processes_write_the_same_shards(tmp_path):
  rng = np.random.RandomState(9)
  items, expected = [], []
  for i in range(4):
    pixels = rng.randint(0, 256, (3, 4, 3)).astype(np.uint8)
    path = tmp_path / f'{i}.png'
    path.write_bytes(image_files.encode(pixels, 'png'))
    items.append(convert_utils.Item(path=str(path), label=i))
    expected.append(pixels)
  (tmp_path / 'bad.gif').write_bytes(b'GIF89a-broken')
  items.insert(1, convert_utils.Item(path=str(tmp_path / 'bad.gif'), label=9))
  paths = {split: [str(tmp_path / f'{split}-{i}') for i in range(2)]
           for split in ('a', 'b')}
  results = convert_utils.write_splits(
      {'a': (items[:3], paths['a']), 'b': (items[3:], paths['b'])}, 'keep',
      num_workers=2)
  assert (results['a'].written, results['b'].written) == (2, 2)
  assert [os.path.basename(p) for p, _ in results['a'].skipped] == [
      'bad.gif']
  read = [e for split in ('a', 'b') for path in paths[split]
          for e in read_examples(path, channels=3)]
  assert [e['label'] for e in read] == [0, 1, 2, 3]
  for example, pixels in zip(read, expected):
    np.testing.assert_array_equal(example['image'], pixels)


def test_train_script_runs_on_the_converted_folder(converted, tmp_path):
  """`--dataset_name=image_folder --dataset_dir=DIR` trains with no code."""
  _, out, _, _ = converted
  train_dir = tmp_path / 'train'
  process = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'train_image_classifier.py'),
       '--dataset_name=image_folder', f'--dataset_dir={out}',
       '--dataset_split_name=train', '--model_name=cifarnet',
       '--batch_size=2', '--max_number_of_steps=1',
       f'--train_dir={train_dir}'],
      capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert process.returncode == 0, process.stderr[-2000:]
  assert (train_dir / 'model.ckpt-1.index').is_file()
  reader = tf.train.NewCheckpointReader(str(train_dir / 'model.ckpt-1'))
  # Three classes in the folder -> three logits.
  assert reader.get_variable_to_shape_map()[
      'CifarNet/logits/weights'] == [192, 3]

  # Export reads the class count from the converted folder too.
  export = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'export_inference_graph.py'),
       '--model_name=cifarnet', '--dataset_name=image_folder',
       f'--dataset_dir={out}', f'--checkpoint_path={train_dir}',
       f'--frozen_graph={tmp_path / "frozen.pb"}'],
      capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert export.returncode == 0, export.stderr[-2000:]
  metadata = json.loads((tmp_path / 'frozen.pb.json').read_text())
  assert metadata['num_classes'] == 3
  # Without the converted data the class count is unknown: one clear line.
  export = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'export_inference_graph.py'),
       '--model_name=cifarnet', '--dataset_name=image_folder',
       f'--output_file={tmp_path / "graph.pb"}'],
      capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert export.returncode == 2
  assert export.stderr.strip().splitlines()[-1].startswith(
      'ERROR: --dataset_name=image_folder has no fixed class count')
  assert not (tmp_path / 'graph.pb').exists()
