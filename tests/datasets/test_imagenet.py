"""imagenet: the ILSVRC-2012 archives from a local server -> TF-Slim shards.

The three upstream archives are built here in their real layouts
(ILSVRC2012_img_train.tar holding one tar per synset, the flat
ILSVRC2012_img_val.tar, ILSVRC2012_bbox_train_v2.tar.gz of per-synset XML
directories), with a CMYK JPEG, a PNG named .JPEG and a corrupt file among
the training images. Labels, names, boxes and pixels are read back.
"""

import glob
import io
import os
import tarfile

import numpy as np
import pytest

from slim_zoo import convert as download_and_convert_data
from slim_zoo.datasets import convert_utils
from slim_zoo.datasets import dataset_factory
from slim_zoo.datasets import imagenet
from slim_zoo.datasets import input_pipeline
from slim_zoo.datasets import process_bounding_boxes
from slim_zoo.nets.compat import tf
from slim_zoo.preprocessing import preprocessing_factory
from tests.datasets import image_files
from tests.http_server import serve_directory

TENCH, GOLDFISH = 'n01440764', 'n01443537'


def _xml(filename, width, height, objects):
  boxes = ''.join(
      f'<object><name>{name}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>'
      f'<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>'
      for name, (x0, y0, x1, y1) in objects)
  return (f'<annotation><folder>x</folder><filename>{filename}</filename>'
          f'<size><width>{width}</width><height>{height}</height>'
          f'<depth>3</depth></size>{boxes}</annotation>').encode()


def _tar(path_or_buffer, members, mode='w'):
  archive = (tarfile.open(path_or_buffer, mode) if isinstance(path_or_buffer,
                                                               str)
             else tarfile.open(fileobj=path_or_buffer, mode=mode))
  with archive:
    for name, data in members.items():
      info = tarfile.TarInfo(name)
      info.size = len(data)
      archive.addfile(info, io.BytesIO(data))


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
  root = tmp_path_factory.mktemp('imagenet')
  rng = np.random.RandomState(3)
  tench_rgb = image_files.smooth_image(rng, 20, 30)
  goldfish_png = image_files.smooth_image(rng, 16, 24)
  cmyk_blocks = np.stack(np.meshgrid(np.arange(3) * 20 + 100,
                                     np.arange(2) * 20 + 120), -1)
  cmyk_blocks = np.concatenate([cmyk_blocks, cmyk_blocks[..., :1] + 10,
                                np.full(cmyk_blocks.shape[:2] + (1,), 230)],
                               -1)
  train = {
      TENCH: {f'{TENCH}_1.JPEG': image_files.encode(tench_rgb, 'jpeg'),
              f'{TENCH}_2.JPEG': image_files.cmyk_jpeg(cmyk_blocks),
              f'{TENCH}_3.JPEG': b'\xff\xd8\xff\xe0 broken'},
      GOLDFISH: {f'{GOLDFISH}_1.JPEG': image_files.encode(goldfish_png, 'png'),
                 f'{GOLDFISH}_2.JPEG': image_files.encode(
                     image_files.smooth_image(rng, 12, 12), 'jpeg')},
  }
  validation = {f'ILSVRC2012_val_{i:08d}.JPEG': image_files.encode(
      image_files.smooth_image(rng, 10, 10 + i), 'jpeg') for i in (1, 2, 3)}
  served = root / 'mirror'
  served.mkdir()
  inner = {}
  for synset, files in train.items():
    buffer = io.BytesIO()
    _tar(buffer, files)
    inner[f'{synset}.tar'] = buffer.getvalue()
  _tar(str(served / 'ILSVRC2012_img_train.tar'), inner)
  _tar(str(served / 'ILSVRC2012_img_val.tar'), validation)
  _tar(str(served / 'ILSVRC2012_bbox_train_v2.tar.gz'), {
      # Two boxes, the second one reaching outside the image (clipped).
      f'{TENCH}/{TENCH}_1.xml': _xml(f'{TENCH}_1', 30, 20, [
          (TENCH, (3, 2, 15, 10)), (TENCH, (15, 5, 40, 25))]),
      f'{GOLDFISH}/{GOLDFISH}_1.xml': _xml(f'{GOLDFISH}_1', 24, 16, [
          (GOLDFISH, (0, 0, 12, 8))]),
      # A synset outside the list and an empty box: both dropped.
      f'{GOLDFISH}/{GOLDFISH}_2.xml': _xml(f'{GOLDFISH}_2', 12, 12, [
          ('n99999999', (1, 1, 5, 5)), (GOLDFISH, (4, 4, 4, 9))]),
  }, mode='w:gz')
  out = root / 'out'
  with serve_directory(served) as url:
    result = download_and_convert_data.convert(
        'imagenet', str(out), url, train_shards=2, validation_shards=1,
        num_threads=1)
  rows = {}
  for path in sorted(glob.glob(str(out / '*-of-*'))):
    for row in image_files.read_features(path):
      rows[row['image/filename'][0].decode()] = (os.path.basename(path), row)
  expected = {'tench': tench_rgb, 'goldfish_png': goldfish_png,
              'cmyk': image_files.cmyk_to_rgb(cmyk_blocks)}
  return out, rows, result, expected


def test_labels_names_and_shards(converted):
  out, rows, result, _ = converted
  assert sorted(os.path.basename(p) for p in glob.glob(str(out / '*-of-*'))) \
      == ['train-00000-of-00002', 'train-00001-of-00002',
          'validation-00000-of-00001']
  assert (result['train'], result['validation']) == (4, 3)
  assert [os.path.basename(p) for p, _ in result['skipped']] == [
      f'{TENCH}_3.JPEG']
  for name, (shard, row) in rows.items():
    synset = row['image/class/synset'][0].decode()
    if shard.startswith('train'):
      assert name.startswith(synset)
    label = imagenet.read_synsets().index(synset) + 1  # 0 is background.
    assert row['image/class/label'] == [label]
    assert row['image/class/text'] == [
        imagenet.read_metadata()[synset].encode()]
    assert row['image/format'] == [b'jpeg']
  assert rows[f'{TENCH}_1.JPEG'][1]['image/class/text'] == [
      b'tench, Tinca tinca']
  # Validation labels come from the shipped ILSVRC2012 ground-truth file.
  assert [rows[f'ILSVRC2012_val_{i:08d}.JPEG'][1]['image/class/synset'][0]
          for i in (1, 2, 3)] == [b'n01751748', b'n09193705', b'n02105855']
  spec = dataset_factory.get_dataset('imagenet', 'validation', str(out))
  assert (spec.num_samples, spec.num_classes, spec.has_bboxes) == (3, 1001,
                                                                  True)
  assert spec.labels_to_names[0] == 'background'
  assert spec.labels_to_names[1] == 'tench, Tinca tinca'
  with pytest.raises(ValueError, match="Unknown split 'val'"):
    dataset_factory.get_dataset('imagenet', 'val', str(out))


def test_boxes_from_the_xml_annotations(converted):
  out, rows, _, _ = converted

  def boxes(name):
    row = rows[name][1]
    return np.stack([row[f'image/object/bbox/{k}'] for k in
                     ('ymin', 'xmin', 'ymax', 'xmax')], 1).reshape(-1, 4), \
        row['image/object/bbox/label']

  coords, labels = boxes(f'{TENCH}_1.JPEG')
  np.testing.assert_allclose(coords, [[2 / 20, 3 / 30, 10 / 20, 15 / 30],
                                      [5 / 20, 15 / 30, 1.0, 1.0]], atol=1e-6)
  assert labels == [1, 1]
  coords, labels = boxes(f'{GOLDFISH}_1.JPEG')
  np.testing.assert_allclose(coords, [[0, 0, 0.5, 0.5]], atol=1e-6)
  assert labels == [2]
  for name in (f'{GOLDFISH}_2.JPEG', f'{TENCH}_2.JPEG',
               'ILSVRC2012_val_00000001.JPEG'):
    coords, labels = boxes(name)
    assert coords.shape == (0, 4) and labels == []
  csv = (out / 'imagenet_2012_bounding_boxes.csv').read_text().splitlines()
  assert csv == [f'{TENCH}_1.JPEG,0.100000,0.100000,0.500000,0.500000',
                 f'{TENCH}_1.JPEG,0.500000,0.250000,1.000000,1.000000',
                 f'{GOLDFISH}_1.JPEG,0.000000,0.000000,0.500000,0.500000']
  # The boxes reach inception training preprocessing as [1, num_boxes, 4].
  spec = dataset_factory.get_dataset('imagenet', 'train', str(out))
  with tf.Graph().as_default():
    record = tf.placeholder(tf.string, [])
    image, label, bbox = input_pipeline.decode_example(record, 3, True)
    with tf.Session() as session:
      for path in glob.glob(spec.file_pattern):
        for serialized in tf.io.tf_record_iterator(path):
          name = tf.train.Example.FromString(serialized).features.feature[
              'image/filename'].bytes_list.value[0].decode()
          got = session.run(bbox, {record: serialized})
          np.testing.assert_allclose(got[0], boxes(name)[0], atol=1e-6)


def test_cmyk_and_png_named_jpeg_are_reencoded_as_rgb_jpeg(converted):
  _, rows, _, expected = converted
  exact = rows[f'{TENCH}_1.JPEG'][1]['image/encoded'][0]
  assert exact == image_files.encode(expected['tench'], 'jpeg')  # Kept.
  for name, key in ((f'{TENCH}_2.JPEG', 'cmyk'),
                    (f'{GOLDFISH}_1.JPEG', 'goldfish_png')):
    data = rows[name][1]['image/encoded'][0]
    assert data[:3] == b'\xff\xd8\xff' and convert_utils.jpeg_components(
        data) == 3
    pixels = image_files.decode(data)
    assert pixels.shape == expected[key].shape
    assert rows[name][1]['image/height'] == [pixels.shape[0]]
    error = np.abs(pixels.astype(int) - expected[key]).mean()
    assert error < 6, (name, error)


def test_training_pipeline_with_boxes_yields_batches(converted):
  out, _, _, _ = converted
  spec = dataset_factory.get_dataset('imagenet', 'train', str(out))
  with tf.Graph().as_default():
    fn = preprocessing_factory.get_preprocessing('inception_v3', True)
    dataset = input_pipeline.build_dataset(spec, fn, input_pipeline.InputConfig(
        batch_size=2, image_size=(24, 24), is_training=True, seed=2,
        use_bboxes=True, labels_offset=1))
    batch = tf.data.make_one_shot_iterator(dataset).get_next()
    with tf.Session() as session:
      for _ in range(3):
        images, labels = session.run(batch)
        assert images.shape == (2, 24, 24, 3)
        assert set(labels) <= {0, 1}


def test_shipped_synset_files_and_errors(tmp_path):
  synsets = imagenet.read_synsets()
  assert len(synsets) == 1000 and synsets == sorted(synsets)
  assert (synsets[0], synsets[-1]) == (TENCH, 'n15075141')
  names = imagenet.labels_to_names()
  assert len(names) == 1001 and names[1000].startswith('toilet tissue')
  with open(imagenet.VALIDATION_LABELS_FILE) as f:
    validation = f.read().split()
  assert len(validation) == 50000 and set(validation) == set(synsets)
  with pytest.raises(ValueError, match='without an account'):
    download_and_convert_data.convert('imagenet', str(tmp_path / 'a'))
  raw = tmp_path / 'raw' / 'train' / 'n00000001'
  raw.mkdir(parents=True)
  with pytest.raises(ValueError, match='n00000001 is not in the synsets'):
    download_and_convert_data.convert(
        'imagenet', str(tmp_path / 'b'), imagenet_raw_dir=str(tmp_path / 'raw'))
  (tmp_path / 'bad.xml').write_text('<annotation><size><width>3</width>'
                                    '</size></annotation>')
  with pytest.raises(ValueError, match='missing <height>'):
    process_bounding_boxes.parse_annotation(str(tmp_path / 'bad.xml'))
