"""Image files for converter tests: JPEG/PNG via TensorFlow, and a CMYK JPEG.

TensorFlow cannot write CMYK JPEGs (ImageNet has a few), so `cmyk_jpeg`
writes a minimal baseline JPEG by hand: four components, no subsampling, an
Adobe APP14 marker (transform 0, inverted CMYK as Photoshop writes it), all
quantisation steps 1 and every 8x8 block a flat colour, so each block is one
DC coefficient followed by end-of-block.
"""

import struct

import numpy as np

from slim_zoo.nets.compat import tf

# ITU T.81 Annex K.3, table K.3: luminance DC code lengths and values.
_DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
_DC_VALUES = list(range(12))


def encode(pixels, image_format):
  """Encodes uint8 [h, w, c] pixels as 'jpeg' or 'png' bytes."""
  with tf.Graph().as_default(), tf.Session() as session:
    pixels = tf.constant(np.asarray(pixels, np.uint8))
    op = (tf.io.encode_jpeg(pixels, quality=95) if image_format == 'jpeg'
          else tf.io.encode_png(pixels))
    return session.run(op)


def decode(data, channels=3):
  with tf.Graph().as_default(), tf.Session() as session:
    return session.run(tf.io.decode_image(data, channels=channels,
                                          expand_animations=False))


def smooth_image(rng, height, width):
  """A smooth RGB image (JPEG round trips stay close to it)."""
  y = np.linspace(0, 1, height)[:, None, None]
  x = np.linspace(0, 1, width)[None, :, None]
  base = rng.uniform(40, 200, (1, 1, 3))
  slope = rng.uniform(-40, 40, (2, 1, 1, 3))
  return np.clip(base + slope[0] * y + slope[1] * x, 0, 255).astype(np.uint8)


def _huffman_codes(bits, values):
  codes, code = {}, 0
  index = 0
  for length in range(1, 17):
    for _ in range(bits[length - 1]):
      codes[values[index]] = (code, length)
      index += 1
      code += 1
    code <<= 1
  return codes


def _segment(marker, payload):
  return b'\xff' + bytes([marker]) + struct.pack('>H', len(payload) + 2) + (
      payload)


def cmyk_jpeg(blocks):
  """Baseline CMYK JPEG from uint8 [rows, cols, 4] flat 8x8 block colours.

  Values are stored as written (Adobe inverted CMYK); the image is
  (8 * rows) x (8 * cols) pixels.
  """
  blocks = np.asarray(blocks, np.int64)
  rows, cols, _ = blocks.shape
  dc_codes = _huffman_codes(_DC_BITS, _DC_VALUES)
  out = bytearray(b'\xff\xd8')
  out += _segment(0xEE, b'Adobe' + struct.pack('>HHHB', 100, 0, 0, 0))
  out += _segment(0xDB, b'\x00' + bytes([1] * 64))
  out += _segment(0xC0, struct.pack('>BHHB', 8, 8 * rows, 8 * cols, 4) +
                  b''.join(bytes([i + 1, 0x11, 0]) for i in range(4)))
  out += _segment(0xC4, b'\x00' + bytes(_DC_BITS) + bytes(_DC_VALUES))
  # AC table with a single symbol, end-of-block (0x00), code '0'.
  out += _segment(0xC4, b'\x10' + bytes([1] + [0] * 15) + b'\x00')
  out += _segment(0xDA, b'\x04' + b''.join(bytes([i + 1, 0x00])
                                          for i in range(4)) + b'\x00\x3f\x00')
  bitstring = []
  previous = [0, 0, 0, 0]
  for r in range(rows):
    for c in range(cols):
      for comp in range(4):
        dc = 8 * (int(blocks[r, c, comp]) - 128)  # FDCT of a flat block.
        diff = dc - previous[comp]
        previous[comp] = dc
        size = abs(diff).bit_length()
        code, length = dc_codes[size]
        bitstring.append(format(code, f'0{length}b'))
        if size:
          amplitude = diff if diff > 0 else diff + (1 << size) - 1
          bitstring.append(format(amplitude, f'0{size}b'))
        bitstring.append('0')  # End of block.
  bits = ''.join(bitstring)
  bits += '1' * (-len(bits) % 8)
  for i in range(0, len(bits), 8):
    byte = int(bits[i:i + 8], 2)
    out.append(byte)
    if byte == 0xFF:
      out.append(0)
  out += b'\xff\xd9'
  return bytes(out)


def cmyk_to_rgb(blocks):
  """The RGB pixels TensorFlow decodes from cmyk_jpeg(blocks)."""
  blocks = np.asarray(blocks, np.int64)
  c, m, y, k = (blocks[..., i] for i in range(4))
  rgb = np.stack([k * c // 255, k * m // 255, k * y // 255], -1)
  return np.kron(rgb, np.ones((8, 8, 1), np.int64)).astype(np.uint8)


def bmp(pixels):
  """24-bit uncompressed BMP of uint8 RGB pixels [h, w, 3]."""
  pixels = np.asarray(pixels, np.uint8)
  height, width, _ = pixels.shape
  row_bytes = (3 * width + 3) // 4 * 4
  rows = b''.join(
      pixels[r, :, ::-1].tobytes().ljust(row_bytes, b'\0')
      for r in range(height - 1, -1, -1))
  header = struct.pack('<IiiHHIIiiII', 40, width, height, 1, 24, 0,
                       len(rows), 2835, 2835, 0, 0)
  return b'BM' + struct.pack('<IHHI', 14 + 40 + len(rows), 0, 0,
                             54) + header + rows


def gif(indices, palette):
  """A GIF of palette indices [h, w] (uint8) and a [256, 3] palette.

  LZW with 9-bit codes only: a clear code every 200 codes keeps the code
  table from growing to 10 bits.
  """
  indices = np.asarray(indices, np.uint8)
  palette = np.asarray(palette, np.uint8)
  height, width = indices.shape
  clear, end = 256, 257
  codes = []
  for i, value in enumerate(indices.ravel().tolist()):
    if i % 200 == 0:
      codes.append(clear)
    codes.append(value)
  codes.append(end)
  bits, nbits, data = 0, 0, bytearray()
  for code in codes:
    bits |= code << nbits
    nbits += 9
    while nbits >= 8:
      data.append(bits & 0xFF)
      bits >>= 8
      nbits -= 8
  if nbits:
    data.append(bits & 0xFF)
  blocks = b''.join(bytes([len(data[i:i + 255])]) + bytes(data[i:i + 255])
                    for i in range(0, len(data), 255))
  return (b'GIF89a' + struct.pack('<HHBBB', width, height, 0xF7, 0, 0) +
          palette.tobytes() + b'\x2c' +
          struct.pack('<HHHHB', 0, 0, width, height, 0) + b'\x08' + blocks +
          b'\x00\x3b')


def read_features(path):
  """Every record of a TFRecord file as {key: list of values}."""
  out = []
  for record in tf.io.tf_record_iterator(path):
    feature = tf.train.Example.FromString(record).features.feature
    row = {}
    for key, value in feature.items():
      kind = value.WhichOneof('kind')
      row[key] = list(getattr(value, kind).value) if kind else []
    out.append(row)
  return out
