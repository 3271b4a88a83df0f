"""dataset_utils: examples, PNG encoding, label files, atomic writes,
downloads from a local HTTP server and safe archive extraction."""

import gzip
import hashlib
import io
import os
import tarfile
import zipfile

import numpy as np
import pytest

from slim_zoo.datasets import dataset_utils
from slim_zoo.nets.compat import tf
from tests.http_server import serve_directory


def _decode(png, channels):
  with tf.Graph().as_default(), tf.Session() as session:
    return session.run(tf.io.decode_png(png, channels=channels))


def test_encode_png_round_trips_gray_and_rgb():
  rng = np.random.RandomState(0)
  gray = rng.randint(0, 256, (5, 7, 1)).astype(np.uint8)
  rgb = rng.randint(0, 256, (3, 4, 3)).astype(np.uint8)
  np.testing.assert_array_equal(_decode(dataset_utils.encode_png(gray), 1), gray)
  np.testing.assert_array_equal(_decode(dataset_utils.encode_png(rgb), 3), rgb)
  with pytest.raises(ValueError, match='uint8'):
    dataset_utils.encode_png(gray.astype(np.float32))


def test_image_to_tfexample_uses_tf_slim_keys():
  example = dataset_utils.image_to_tfexample(b'abc', b'png', 3, 4, 7,
                                             bboxes=[(0.1, 0.2, 0.3, 0.4)])
  feature = example.features.feature
  assert feature['image/encoded'].bytes_list.value == [b'abc']
  assert feature['image/format'].bytes_list.value == [b'png']
  assert feature['image/class/label'].int64_list.value == [7]
  assert feature['image/height'].int64_list.value == [3]
  assert feature['image/width'].int64_list.value == [4]
  assert feature['image/object/bbox/xmax'].float_list.value == [
      pytest.approx(0.4)]


def test_label_file_round_trip_and_bad_line(tmp_path):
  dataset_utils.write_label_file({1: 'b', 0: 'a:colon'}, str(tmp_path))
  assert dataset_utils.read_label_file(str(tmp_path)) == {0: 'a:colon', 1: 'b'}
  (tmp_path / 'labels.txt').write_text('zero\n')
  with pytest.raises(ValueError, match='label:name'):
    dataset_utils.read_label_file(str(tmp_path))


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
  target = tmp_path / 'out.bin'
  with pytest.raises(RuntimeError):
    with dataset_utils.atomic_path(str(target)) as tmp:
      open(tmp, 'wb').write(b'partial')
      raise RuntimeError('interrupted')
  assert os.listdir(tmp_path) == []
  with dataset_utils.atomic_path(str(target)) as tmp:
    open(tmp, 'wb').write(b'done')
  assert target.read_bytes() == b'done'
  assert os.listdir(tmp_path) == ['out.bin']


def test_download_from_local_server(tmp_path):
  served = tmp_path / 'served'
  served.mkdir()
  payload = os.urandom(3 << 20)
  (served / 'blob.bin').write_bytes(payload)
  with serve_directory(served) as url:
    path = dataset_utils.download(url + 'blob.bin', str(tmp_path / 'dl'))
    assert open(path, 'rb').read() == payload
    with pytest.raises(ValueError, match='HTTP 404'):
      dataset_utils.download(url + 'missing.bin', str(tmp_path / 'dl'))
  assert sorted(os.listdir(tmp_path / 'dl')) == ['blob.bin']


def test_interrupted_download_leaves_nothing(tmp_path):
  served = tmp_path / 'served'
  served.mkdir()
  (served / 'cut.tar.gz').write_bytes(os.urandom(1 << 16))
  with serve_directory(served, truncate={'cut.tar.gz'}) as url:
    with pytest.raises(ValueError, match='failed'):
      dataset_utils.download(url + 'cut.tar.gz', str(tmp_path / 'dl'),
                             retries=0)
  assert os.listdir(tmp_path / 'dl') == []


def _tar_with(path, members):
  with tarfile.open(path, 'w:gz') as archive:
    for info, data in members:
      archive.addfile(info, io.BytesIO(data) if data is not None else None)


def _file_info(name, data):
  info = tarfile.TarInfo(name)
  info.size = len(data)
  return info, data


def test_safe_extract_extracts_a_normal_tar(tmp_path):
  archive = tmp_path / 'ok.tgz'
  _tar_with(archive, [_file_info('top/a.txt', b'A'),
                      _file_info('top/sub/b.txt', b'B')])
  out = tmp_path / 'out'
  dataset_utils.safe_extract(str(archive), str(out))
  assert (out / 'top' / 'sub' / 'b.txt').read_bytes() == b'B'
  assert sorted(os.listdir(out)) == ['top']


@pytest.mark.parametrize('member', ['../evil.txt', 'top/../../evil.txt',
                                    '/tmp/evil_absolute.txt'])
def test_safe_extract_refuses_escaping_members(tmp_path, member):
  archive = tmp_path / 'bad.tgz'
  _tar_with(archive, [_file_info('fine.txt', b'x'), _file_info(member, b'x')])
  out = tmp_path / 'out'
  with pytest.raises(ValueError, match='Refusing'):
    dataset_utils.safe_extract(str(archive), str(out))
  assert os.listdir(out) == []  # Nothing half-extracted.
  assert not (tmp_path / 'evil.txt').exists()


def test_safe_extract_refuses_links(tmp_path):
  archive = tmp_path / 'link.tgz'
  link = tarfile.TarInfo('innocent')
  link.type = tarfile.SYMTYPE
  link.linkname = '/etc/passwd'
  _tar_with(archive, [(link, None)])
  with pytest.raises(ValueError, match='link'):
    dataset_utils.safe_extract(str(archive), str(tmp_path / 'out'))


def test_safe_extract_zip_refuses_dotdot(tmp_path):
  archive = tmp_path / 'bad.zip'
  with zipfile.ZipFile(archive, 'w') as z:
    z.writestr('../evil.txt', 'x')
  with pytest.raises(ValueError, match='Refusing'):
    dataset_utils.safe_extract(str(archive), str(tmp_path / 'out'))
  assert not (tmp_path / 'evil.txt').exists()


def _archive(path):
  """Writes a small archive of the kind `path`'s suffix names."""
  payload = os.urandom(1 << 16)  # Random: compression cannot shrink it.
  if path.name.endswith('.tar.gz'):
    _tar_with(path, [_file_info('top/data.bin', payload)])
  elif path.name.endswith('.gz'):
    with gzip.open(path, 'wb') as f:
      f.write(payload)
  else:
    with zipfile.ZipFile(path, 'w') as z:
      z.writestr('data.bin', payload)
  return path.read_bytes()


@pytest.mark.parametrize('name', ['cut.tar.gz', 'cut.gz', 'cut.zip'])
def test_download_cut_without_content_length_is_refused(tmp_path, name):
  served = tmp_path / 'served'
  served.mkdir()
  _archive(served / name)
  with serve_directory(served, cut={name}) as url:
    with pytest.raises(ValueError, match='incomplete or corrupt'):
      dataset_utils.download(url + name, str(tmp_path / 'dl'), retries=0)
  assert os.listdir(tmp_path / 'dl') == []


def test_corrupt_cached_download_is_fetched_again(tmp_path, capsys):
  served = tmp_path / 'served'
  served.mkdir()
  whole = _archive(served / 'data.tar.gz')
  cached = tmp_path / 'dl' / 'data.tar.gz'
  cached.parent.mkdir()
  cached.write_bytes(whole[:len(whole) // 2])  # Left by an older version.
  with serve_directory(served) as url:
    path = dataset_utils.download(url + 'data.tar.gz', str(cached.parent))
  assert open(path, 'rb').read() == whole
  err = capsys.readouterr().err
  assert err.count('\n') == 1
  assert f'Cached {cached} is corrupt' in err and 'again' in err


def test_download_checks_the_published_sha256(tmp_path):
  served = tmp_path / 'served'
  served.mkdir()
  (served / 'blob.bin').write_bytes(b'published bytes')
  good = hashlib.sha256(b'published bytes').hexdigest()
  with serve_directory(served) as url:
    with pytest.raises(ValueError, match='SHA-256'):
      dataset_utils.download(url + 'blob.bin', str(tmp_path / 'dl'),
                             retries=0, sha256='0' * 64)
    assert os.listdir(tmp_path / 'dl') == []
    path = dataset_utils.download(url + 'blob.bin', str(tmp_path / 'dl'),
                                  sha256=good)
  assert open(path, 'rb').read() == b'published bytes'


def test_safe_extract_of_a_truncated_archive_is_one_error(tmp_path):
  whole = _archive(tmp_path / 'whole.tar.gz')
  cut = tmp_path / 'cut.tar.gz'
  cut.write_bytes(whole[:len(whole) // 2])
  with pytest.raises(ValueError, match=r'cut\.tar\.gz is truncated or '
                     'corrupt .*delete it and download again'):
    dataset_utils.safe_extract(str(cut), str(tmp_path / 'out'))
  assert os.listdir(tmp_path / 'out') == []
