"""Reads ILSVRC bounding-box XML annotations (PASCAL VOC style).

Each annotation file (e.g. n01440764/n01440764_10040.xml from
ILSVRC2012_bbox_train_v2.tar.gz, or ILSVRC2012_val_00000001.xml) names its
image, the image size and one <object> per box:

  <annotation>
    <filename>n01440764_10040</filename>
    <size><width>500</width><height>375</height></size>
    <object><name>n01440764</name>
      <bndbox><xmin>61</xmin><ymin>1</ymin><xmax>450</xmax><ymax>372</ymax>
      </bndbox></object>
  </annotation>

Boxes are returned as fractions of the image size, clipped to [0, 1]; boxes
that are empty after clipping, and (when a synset list is given) boxes of
synsets outside it, are dropped and counted.

Run as a script it writes TF-Slim's CSV format, one box per line:
  python -m datasets.process_bounding_boxes BBOX_DIR [SYNSETS_FILE] > boxes.csv
  n01440764_10040.JPEG,0.122000,0.002667,0.900000,0.992000
(filename,xmin,ymin,xmax,ymax).
"""

import dataclasses
import glob
import os
import sys
import xml.etree.ElementTree as ElementTree

from slim_zoo.datasets import dataset_utils


@dataclasses.dataclass(frozen=True)
class Box:
  """One box: synset and (xmin, ymin, xmax, ymax) as fractions in [0, 1]."""
  synset: str
  xmin: float
  ymin: float
  xmax: float
  ymax: float


def _number(node, tag, path):
  child = node.find(tag)
  if child is None or child.text is None:
    raise dataset_utils.DatasetError(
        f'{path}: missing <{tag}> in a bounding-box annotation; the file is '
        'not an ILSVRC annotation, remove it from the box directory.')
  try:
    return float(child.text)
  except ValueError:
    raise dataset_utils.DatasetError(
        f'{path}: <{tag}> is {child.text!r}, not a number.') from None


def parse_annotation(path):
  """Returns (image file name, [Box]) of one XML file, boxes unclipped-empty
  ones removed. The image name gets a .JPEG extension when it has none."""
  try:
    root = ElementTree.parse(path).getroot()
  except ElementTree.ParseError as e:
    raise dataset_utils.DatasetError(
        f'{path} is not valid XML ({e}); delete it or download the box '
        'annotations again.') from None
  name = root.findtext('filename') or os.path.splitext(
      os.path.basename(path))[0]
  if not os.path.splitext(name)[1]:
    name += '.JPEG'
  size = root.find('size')
  if size is None:
    raise dataset_utils.DatasetError(f'{path}: missing <size>.')
  width, height = _number(size, 'width', path), _number(size, 'height', path)
  if width <= 0 or height <= 0:
    raise dataset_utils.DatasetError(
        f'{path}: image size {width}x{height} is not positive.')
  boxes = []
  for obj in root.iter('object'):
    bndbox = obj.find('bndbox')
    if bndbox is None:
      continue

    xmin, ymin, xmax, ymax = (
        min(max(_number(bndbox, tag, path) / scale, 0.0), 1.0)
        for tag, scale in (('xmin', width), ('ymin', height),
                           ('xmax', width), ('ymax', height)))
    box = Box(synset=(obj.findtext('name') or '').strip(),
              xmin=xmin, ymin=ymin, xmax=xmax, ymax=ymax)
    boxes.append(box)
  return name, boxes


def boxes_from_directory(bbox_dir, synsets=None):
  """Reads every *.xml below `bbox_dir`.

  Args:
    bbox_dir: directory of annotation files (any depth).
    synsets: optional collection of synsets to keep.

  Returns:
    ({image file name: [Box]}, number of boxes dropped).
  """
  wanted = set(synsets) if synsets is not None else None
  paths = sorted(glob.glob(os.path.join(bbox_dir, '**', '*.xml'),
                           recursive=True))
  result, dropped = {}, 0
  for path in paths:
    name, boxes = parse_annotation(path)
    kept = []
    for box in boxes:
      if box.xmin >= box.xmax or box.ymin >= box.ymax or (
          wanted is not None and box.synset not in wanted):
        dropped += 1
        continue
      kept.append(box)
    if kept:
      result.setdefault(name, []).extend(kept)
  return result, dropped


def write_csv(boxes, out):
  """Writes TF-Slim's filename,xmin,ymin,xmax,ymax lines."""
  for name in sorted(boxes):
    for b in boxes[name]:
      out.write(f'{name},{b.xmin:.6f},{b.ymin:.6f},{b.xmax:.6f},'
                f'{b.ymax:.6f}\n')


def main(argv):
  if len(argv) not in (2, 3):
    sys.stderr.write('usage: python -m datasets.process_bounding_boxes '
                     'BBOX_DIR [SYNSETS_FILE]\n')
    return 2
  synsets = None
  if len(argv) == 3:
    with open(argv[2], encoding='utf-8') as f:
      synsets = [line.strip() for line in f if line.strip()]
  boxes, dropped = boxes_from_directory(argv[1], synsets)
  write_csv(boxes, sys.stdout)
  sys.stderr.write(f'{sum(map(len, boxes.values()))} boxes in {len(boxes)} '
                   f'images; {dropped} dropped.\n')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
