"""A dataset directory describes exactly its files.

Converters remove the shards an unfinished run with another shard count left
behind, split_sizes.json records every split's shard files, and the specs
read that list (or, for directories converted before lists were kept, check
that the shards form one complete set), so leftovers are never read. Also
the one-line errors of bad converter options and of paths of the wrong kind.
"""

import json
import os

import numpy as np
import pytest

from slim_zoo import convert as download_and_convert_data
from slim_zoo.datasets import convert_utils
from slim_zoo.datasets import dataset_factory
from slim_zoo.datasets import input_pipeline
from slim_zoo.nets.compat import tf
from slim_zoo.preprocessing import preprocessing_factory
from tests.datasets import image_files


@pytest.fixture
def photos(tmp_path):
  """Two classes of four tiny PNGs."""
  rng = np.random.RandomState(3)
  for name in ('ants', 'bees'):
    (tmp_path / 'photos' / name).mkdir(parents=True)
    for i in range(4):
      pixels = rng.randint(0, 256, (5, 5, 3)).astype(np.uint8)
      (tmp_path / 'photos' / name / f'{i}.png').write_bytes(
          image_files.encode(pixels, 'png'))
  return tmp_path / 'photos'


def _convert(photos, out, **options):
  options.setdefault('validation_fraction', 0.25)
  options.setdefault('num_threads', 1)
  return download_and_convert_data.convert(
      'image_folder', str(out), image_dir=str(photos), **options)


def _count(spec):
  fn = preprocessing_factory.get_preprocessing('lenet', False)
  with tf.Graph().as_default():
    dataset = input_pipeline.build_dataset(spec, fn, input_pipeline.InputConfig(
        batch_size=100, image_size=(5, 5), is_training=False))
    batch = tf.data.make_one_shot_iterator(dataset).get_next()
    count = 0
    with tf.Session() as session:
      try:
        while True:
          count += len(session.run(batch)[1])
      except tf.errors.OutOfRangeError:
        pass
  return count


def _train_shards(out):
  return sorted(f for f in os.listdir(out) if f.startswith('train-'))


def test_rerun_with_another_shard_count_removes_the_old_shards(photos,
                                                               tmp_path,
                                                               capsys):
  out = tmp_path / 'records'
  _convert(photos, out, train_shards=3)
  os.remove(out / 'split_sizes.json')  # As if killed before the end.
  _convert(photos, out, train_shards=2)
  assert _train_shards(out) == ['train-00000-of-00002.tfrecord',
                                'train-00001-of-00002.tfrecord']
  assert 'Removed 3 train shard(s)' in capsys.readouterr().out
  sizes = json.loads((out / 'split_sizes.json').read_text())
  assert sizes['splits'] == {'train': 6, 'validation': 2}  # Old keys kept.
  assert sizes['num_classes'] == 2 and 'skipped_images' in sizes
  assert sizes['files']['train'] == _train_shards(out)
  spec = dataset_factory.get_dataset('image_folder', 'train', str(out))
  assert [os.path.basename(f) for f in spec.filenames] == _train_shards(out)
  assert _count(spec) == spec.num_samples == 6


def test_spec_refuses_files_split_sizes_does_not_record(photos, tmp_path):
  out = tmp_path / 'records'
  _convert(photos, out, train_shards=2)
  stray = out / 'train-00000-of-00003.tfrecord'
  stray.write_bytes((out / 'train-00000-of-00002.tfrecord').read_bytes())
  with pytest.raises(ValueError, match='train-00000-of-00003.tfrecord matches '
                     '.* but is not one of the 2 train files'):
    dataset_factory.get_dataset('image_folder', 'train', str(out))
  os.remove(stray)
  os.remove(out / 'train-00001-of-00002.tfrecord')
  with pytest.raises(ValueError, match='train-00001-of-00002.tfrecord is '
                     'missing .*restore it, or delete'):
    dataset_factory.get_dataset('image_folder', 'train', str(out))


def test_sizes_without_shard_lists_need_one_complete_shard_set(photos,
                                                               tmp_path):
  out = tmp_path / 'records'
  _convert(photos, out, train_shards=2)
  sizes = json.loads((out / 'split_sizes.json').read_text())
  del sizes['files']  # Written before shard lists were kept.
  (out / 'split_sizes.json').write_text(json.dumps(sizes))
  spec = dataset_factory.get_dataset('image_folder', 'train', str(out))
  assert _count(spec) == 6
  (out / 'train-00002-of-00003.tfrecord').write_bytes(b'')
  with pytest.raises(ValueError, match='different shard counts'):
    dataset_factory.get_dataset('image_folder', 'train', str(out))
  # No split_sizes.json at all (a TF-Slim conversion): the same check.
  flowers = tmp_path / 'flowers'
  flowers.mkdir()
  for i in range(3):
    (flowers / f'flowers_train_{i:05d}-of-00005.tfrecord').write_bytes(b'')
  with pytest.raises(ValueError, match='Only 3 of the 5 flowers train'):
    dataset_factory.get_dataset('flowers', 'train', str(flowers))


def test_damaged_split_sizes_says_what_is_wrong(photos, tmp_path):
  out = tmp_path / 'records'
  _convert(photos, out)
  (out / 'split_sizes.json').write_text('{"splits": {"train": 6')
  for call in (
      lambda: dataset_factory.get_dataset('image_folder', 'train', str(out)),
      lambda: _convert(photos, out)):
    with pytest.raises(ValueError, match=r'split_sizes.json is damaged '
                       r'\(JSONDecodeError.*Delete it and run'):
      call()


def test_split_emptied_by_validation_fraction_zero(photos, tmp_path):
  out = tmp_path / 'records'
  _convert(photos, out, validation_fraction=0.0)
  with pytest.raises(ValueError, match='validation split in .* is empty.*'
                     '--validation_fraction=0.*--dataset_split_name=train'):
    dataset_factory.get_dataset('image_folder', 'validation', str(out))


def test_paths_of_the_wrong_kind(photos, tmp_path):
  a_file = tmp_path / 'a_file'
  a_file.write_text('x')
  with pytest.raises(ValueError, match='is a file, not a directory'):
    dataset_factory.get_dataset('digits', 'train', str(a_file))
  with pytest.raises(ValueError, match='is a file, not a directory'):
    _convert(a_file, tmp_path / 'out')
  with pytest.raises(ValueError, match='--dataset_dir=.* is a file'):
    _convert(photos, a_file)
  with pytest.raises(ValueError, match='imagenet_raw_dir .* is a file'):
    download_and_convert_data.convert('imagenet', str(tmp_path / 'in'),
                                      imagenet_raw_dir=str(a_file))


def test_unreadable_class_folder_is_not_called_empty(photos, monkeypatch):
  walk = os.walk

  def denied(top, onerror=None, **kwargs):
    # What os.walk does for a directory it may not list (running as root,
    # chmod cannot make one).
    if not top.endswith('bees'):
      return walk(top, onerror=onerror, **kwargs)
    if onerror is not None:
      onerror(PermissionError(13, 'Permission denied', top))
    return iter(())

  monkeypatch.setattr(os, 'walk', denied)
  with pytest.raises(ValueError, match=r'bees is unreadable \(Permission '
                     'denied\\); fix its permissions'):
    convert_utils.list_class_folders(str(photos))


@pytest.mark.parametrize('flag,value', [
    ('train_shards', 0), ('train_shards', -3), ('validation_shards', 0),
    ('num_threads', 0), ('num_threads', -1), ('validation_fraction', 1.5)])
def test_bad_numeric_options_are_one_line(photos, tmp_path, flag, value):
  with pytest.raises(ValueError) as raised:
    _convert(photos, tmp_path / 'out', **{flag: value})
  message = str(raised.value)
  assert message.startswith(f'--{flag}={value} is not valid: it must be ')
  assert '\n' not in message
  assert not (tmp_path / 'out').exists()
