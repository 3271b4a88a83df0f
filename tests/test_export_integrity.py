"""An --export_dir is one set: a killed re-export leaves the previous set
whole, and a finished one replaces it whole. Also the export and classify
messages that point at the right flag, and the image formats classify reads.
"""

import glob
import hashlib
import os
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from slim_zoo import export_utils
from slim_zoo.nets.compat import tf
from tests.test_export import ROOT, error_line, random_checkpoint, run_script


@pytest.fixture(scope='module')
def lenet_checkpoint(tmp_path_factory):
  """A random-initialised 1-channel, 10-class LeNet checkpoint."""
  directory = str(tmp_path_factory.mktemp('lenet_random'))
  return random_checkpoint(directory, 'lenet', 28, 10, channels=1)[0]


def export_args(checkpoint, export_dir, *extra):
  return ['--model_name=lenet', '--dataset_name=digits',
          f'--checkpoint_path={checkpoint}', f'--export_dir={export_dir}',
          *extra]


def contents(directory):
  """{relative path: sha256} of every file under `directory`."""
  result = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      with open(path, 'rb') as f:
        result[os.path.relpath(path, directory)] = hashlib.sha256(
            f.read()).hexdigest()
  return result


def test_killed_reexport_keeps_the_previous_set_and_a_rerun_replaces_it(
    lenet_checkpoint, digits_dir, tmp_path):
  export_dir = tmp_path / 'export'
  result = run_script('export_inference_graph.py',
                      *export_args(lenet_checkpoint, export_dir))
  assert result.returncode == 0, result.stderr
  old = contents(export_dir)
  assert 'model_float.tflite' in old and 'model_int8.tflite' not in old

  # Re-export with int8 too; kill -9 once the new frozen graph is written
  # (mid-export: SavedModel and TFLite files still to come).
  process = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'export_inference_graph.py'),
       *export_args(lenet_checkpoint, export_dir,
                    f'--dataset_dir={digits_dir}',
                    '--num_calibration_images=20')],
      cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  pattern = str(tmp_path / '.export.export-*' / 'frozen_graph.pb')
  deadline = time.time() + 300
  while not glob.glob(pattern) and process.poll() is None:
    assert time.time() < deadline, 'the export never began writing'
    time.sleep(0.005)
  assert process.poll() is None, (
      'the export finished without building its set in a temporary '
      'directory beside --export_dir')
  process.send_signal(signal.SIGKILL)
  process.wait()
  assert contents(export_dir) == old  # Whole, nothing of the new set.
  for name in ('frozen_graph.pb', 'saved_model', 'model_float.tflite'):
    assert export_utils.load_model(str(export_dir / name)).metadata[
        'checkpoint'] == lenet_checkpoint
  assert glob.glob(str(tmp_path / '.export.export-*'))  # The killed run's.

  # The next run removes the leftover and replaces the set as a whole.
  result = run_script('export_inference_graph.py',
                      *export_args(lenet_checkpoint, export_dir,
                                   f'--dataset_dir={digits_dir}',
                                   '--num_calibration_images=20'))
  assert result.returncode == 0, result.stderr
  assert sorted(os.listdir(tmp_path)) == ['export']
  new = contents(export_dir)
  assert set(new) == set(old) | {'model_int8.tflite', 'model_int8.tflite.json'}
  assert f'Wrote {export_dir}/model_int8.tflite' in result.stdout
  assert export_utils.load_model(str(export_dir / 'model_int8.tflite'))
  assert oct(os.stat(export_dir).st_mode & 0o777) != oct(0o700)

  # And a re-export without --dataset_dir is a set without int8: nothing of
  # the previous set is kept.
  result = run_script('export_inference_graph.py',
                      *export_args(lenet_checkpoint, export_dir))
  assert result.returncode == 0, result.stderr
  assert set(contents(export_dir)) == set(old)
  assert sorted(os.listdir(tmp_path)) == ['export']


def test_swap_without_renameat2_and_a_kill_between_its_renames(tmp_path,
                                                              monkeypatch):
  monkeypatch.setattr(export_utils, '_exchange', lambda a, b: False)
  final = tmp_path / 'export'
  final.mkdir()
  (final / 'frozen_graph.pb').write_text('old')
  tmp = tmp_path / f'.export.export-{os.getpid()}-abc'
  tmp.mkdir()
  (tmp / 'frozen_graph.pb').write_text('new')
  export_utils._swap_in(str(tmp), str(final))
  assert (final / 'frozen_graph.pb').read_text() == 'new'
  assert (tmp / 'frozen_graph.pb').read_text() == 'old'  # To delete.
  # A run killed between moving the set aside and renaming the new one in:
  # the next run puts the previous set back, and deletes a dead run's
  # half-built set.
  dead = subprocess.Popen([sys.executable, '-c', ''])
  dead.wait()
  os.rename(final, tmp_path / f'.export.export-{dead.pid}-old')
  os.rename(tmp, tmp_path / f'.export.export-{dead.pid}-xyz')
  export_utils._clean_leftovers(str(final))
  assert sorted(os.listdir(tmp_path)) == ['export']
  assert (final / 'frozen_graph.pb').read_text() == 'new'


def test_export_dir_that_is_a_file_or_holds_other_files(lenet_checkpoint,
                                                         tmp_path):
  config = export_utils.GraphConfig('lenet', 10, channels=1)
  target = tmp_path / 'export'
  target.write_text('not a directory')
  with pytest.raises(ValueError, match=f'--export_dir={target} is a file, '
                     'not a directory'):
    export_utils.export(config,
                        export_utils.ExportPaths.in_directory(str(target)),
                        checkpoint_path=lenet_checkpoint)
  assert target.read_text() == 'not a directory'

  # A directory with the user's own files would be replaced whole: refused.
  home = tmp_path / 'home'
  home.mkdir()
  (home / 'notes.txt').write_text('mine')
  result = run_script('export_inference_graph.py',
                      *export_args(lenet_checkpoint, home))
  assert result.returncode == 2
  assert error_line(result).startswith(
      f'ERROR: --export_dir={home} holds files that are not part of an export '
      '(notes.txt)')
  assert os.listdir(home) == ['notes.txt']
  assert sorted(os.listdir(tmp_path)) == ['export', 'home']


def test_misfit_hints_name_the_flag_that_differs(lenet_checkpoint, tmp_path):
  paths = export_utils.ExportPaths(frozen_graph=str(tmp_path / 'out.pb'))

  def message(**overrides):
    values = dict(model_name='lenet', num_classes=10, channels=1)
    values.update(overrides)
    with pytest.raises(ValueError) as info:
      export_utils.export(export_utils.GraphConfig(**values), paths,
                          checkpoint_path=lenet_checkpoint)
    return str(info.value)

  # Another image size: LeNet's fc3 is sized by the input.
  text = message(image_size=32)
  assert 'LeNet/fc3/weights (model [4096, 1024], checkpoint [3136, 1024])' in (
      text)
  assert 'pass the --image_size it was trained with' in text
  assert '--dataset_name' not in text and '--use_grayscale' not in text
  # Another network.
  text = message(model_name='cifarnet')
  assert 'its variables are under LeNet/, the model\'s under CifarNet/' in text
  assert 'pass the --model_name the checkpoint was trained with' in text
  assert '--labels_offset' not in text
  # Another class count, and other channels: the dataset flags.
  assert 'pass the --dataset_name or --labels_offset' in message(
      num_classes=9)
  assert '--use_grayscale' in message(channels=3)
  assert os.listdir(tmp_path) == []


def test_top_k_must_be_positive(lenet_checkpoint, tmp_path):
  with pytest.raises(ValueError, match=r'--top_k=0; pass a positive number'):
    export_utils.classify(str(tmp_path / 'missing.pb'), ['a.png'], top_k=0)
  result = run_script('classify_image.py', f'--graph={tmp_path}/missing.pb',
                      '--image_files=a.png', '--top_k=-2')
  assert result.returncode == 2
  assert error_line(result).startswith('ERROR: --top_k=-2; pass a positive')


# --------------------------------------------------------------------------
# Image formats: each written here byte by byte (no imaging library needed).


def encode(encoder, image, **kwargs):
  with tf.Graph().as_default(), tf.Session() as session:
    return session.run(encoder(image, **kwargs))


def bmp(gray):
  """24-bit BMP of a uint8 [h, w] image."""
  height, width = gray.shape
  row = (width * 3 + 3) // 4 * 4
  data = b''
  for y in range(height - 1, -1, -1):  # Bottom-up rows, BGR, padded.
    line = bytes(np.repeat(gray[y], 3))
    data += line + b'\0' * (row - len(line))
  header = struct.pack('<2sIHHI', b'BM', 54 + len(data), 0, 0, 54)
  info = struct.pack('<IiiHHIIiiII', 40, width, height, 1, 24, 0, len(data),
                     2835, 2835, 0, 0)
  return header + info + data


def gif(gray):
  """GIF of a uint8 [h, w] image with a 256-level gray palette."""
  height, width = gray.shape
  palette = bytes(np.repeat(np.arange(256, dtype=np.uint8), 3))
  out = b'GIF89a' + struct.pack('<HHBBB', width, height, 0xF7, 0, 0) + palette
  out += b',' + struct.pack('<HHHHB', 0, 0, width, height, 0)
  # LZW kept at 9-bit codes: a clear code every 250 literals, before the
  # code table would grow to 10 bits.
  codes = []
  pixels = [int(p) for p in gray.reshape(-1)]
  for i in range(0, len(pixels), 250):
    codes += [256] + pixels[i:i + 250]
  codes.append(257)
  bits = count = 0
  stream = bytearray()
  for code in codes:
    bits |= code << count
    count += 9
    while count >= 8:
      stream.append(bits & 255)
      bits >>= 8
      count -= 8
  if count:
    stream.append(bits & 255)
  out += bytes([8])
  for i in range(0, len(stream), 255):
    out += bytes([len(stream[i:i + 255])]) + bytes(stream[i:i + 255])
  return out + b'\0;'


def _segments(jpeg):
  """[(marker, body)] up to the scan, and the scan's entropy-coded data."""
  i, segments = 2, []
  while True:
    marker = jpeg[i + 1]
    length = struct.unpack('>H', jpeg[i + 2:i + 4])[0]
    segments.append((marker, jpeg[i + 4:i + 2 + length]))
    i += 2 + length
    if marker == 0xDA:
      return segments, jpeg[i:-2]


def cmyk_jpeg(gray):
  """Adobe (inverted) CMYK JPEG whose RGB is `gray`: C = M = Y = 255, K = gray.

  Four non-interleaved scans of one component each, the scan data taken
  from TensorFlow's grayscale JPEGs (same standard tables).
  """
  def gray_jpeg(image):
    return encode(tf.io.encode_jpeg, image[..., None], format='grayscale',
                  quality=100)

  segments, ink = _segments(gray_jpeg(gray))
  _, blank = _segments(gray_jpeg(np.full_like(gray, 255)))

  def segment(marker, body):
    return bytes([0xFF, marker]) + struct.pack('>H', len(body) + 2) + body

  out = b'\xff\xd8' + segment(0xEE, b'Adobe' + struct.pack('>HHHB', 100, 0, 0,
                                                           0))
  for marker, body in segments:
    if marker == 0xC0:
      precision, height, width, _ = struct.unpack('>BHHB', body[:6])
      components = b''.join(bytes([i, 0x11, body[8]]) for i in range(1, 5))
      out += segment(0xC0, struct.pack('>BHHB', precision, height, width, 4) +
                     components)
    elif marker == 0xDA:
      for i, scan in zip(range(1, 5), (blank, blank, blank, ink)):
        out += segment(0xDA, bytes([1, i, 0x00]) + body[-3:]) + scan
    elif marker in (0xDB, 0xC4):
      out += segment(marker, body)
  return out + b'\xff\xd9'


@pytest.fixture(scope='module')
def image_files(tmp_path_factory):
  """One gray digit-like image as PNG, BMP, GIF and CMYK JPEG."""
  directory = tmp_path_factory.mktemp('formats')
  gray = np.zeros([28, 28], np.uint8)
  gray[6:22, 12:16] = 255  # A '1'.
  gray[4:24, 10:18] |= np.arange(8, dtype=np.uint8) * 9
  files = {'png': encode(tf.io.encode_png, gray[..., None]), 'bmp': bmp(gray),
           'gif': gif(gray), 'jpg': cmyk_jpeg(gray)}
  paths = {}
  for kind, data in files.items():
    paths[kind] = str(directory / f'digit.{kind}')
    with open(paths[kind], 'wb') as f:
      f.write(data)
  return paths


@pytest.mark.parametrize('channels', [1, 3])
def test_bmp_gif_and_cmyk_jpeg_decode_to_the_model_channels(image_files,
                                                            channels):
  metadata = {'image_size': 28, 'input_shape': [None, 28, 28, channels],
              'preprocessing': 'lenet'}
  png, bmp_, gif_, jpg = export_utils.preprocess_images(
      [image_files[k] for k in ('png', 'bmp', 'gif', 'jpg')], metadata)
  assert png.shape == (1, 28, 28, channels)
  # Lossless formats give the PNG's pixels exactly (up to gray -> RGB ->
  # gray rounding); the JPEG within its compression error.
  np.testing.assert_allclose(bmp_, png, atol=1.5 / 128)
  np.testing.assert_allclose(gif_, png, atol=1.5 / 128)
  np.testing.assert_allclose(jpg, png, atol=12 / 128)


@pytest.mark.parametrize('channels', [1, 3])
def test_classify_image_reads_every_format(image_files, tmp_path, channels):
  checkpoint = random_checkpoint(str(tmp_path / 'ckpt'), 'lenet', 28, 10,
                                 channels=channels)[0]
  graph = str(tmp_path / 'frozen.pb')
  export_utils.export(
      export_utils.GraphConfig('lenet', 10, channels=channels),
      export_utils.ExportPaths(frozen_graph=graph), checkpoint_path=checkpoint)
  files = [image_files[k] for k in ('png', 'bmp', 'gif', 'jpg')]
  result = run_script('classify_image.py', f'--graph={graph}',
                      f'--image_files={",".join(files)}', '--top_k=1')
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  assert [line for line in lines if line.endswith(':')] == [
      f'{path}:' for path in files]
  top = [line.split()[0] for line in lines if not line.endswith(':')]
  assert len(top) == 4 and len(set(top[:3])) == 1, result.stdout
