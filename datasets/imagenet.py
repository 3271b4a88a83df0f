"""ImageNet (ILSVRC-2012-CLS), as converted by download_and_convert_imagenet.py.

1,281,167 training and 50,000 validation JPEGs, 1,000 synsets plus label 0
for "background", so 1,001 classes like TF-Slim's published checkpoints
(use --labels_offset=1 for 1,000-class models). Training examples carry the
ILSVRC bounding boxes in image/object/bbox/{ymin,xmin,ymax,xmax,label}.
The synset order and names come from the text files kept next to this
module; split sizes from split_sizes.json when the converter was run on a
subset.
"""

import os

from slim_zoo.datasets import convert_utils
from slim_zoo.datasets import dataset_utils

FILE_PATTERN = '%s-*'
SPLITS_TO_SIZES = {'train': 1281167, 'validation': 50000}
NUM_CLASSES = 1001
CHANNELS = 3

_HERE = os.path.dirname(os.path.abspath(__file__))
SYNSETS_FILE = os.path.join(_HERE, 'imagenet_lsvrc_2015_synsets.txt')
METADATA_FILE = os.path.join(_HERE, 'imagenet_metadata.txt')
VALIDATION_LABELS_FILE = os.path.join(
    _HERE, 'imagenet_2012_validation_synset_labels.txt')


def read_synsets(path=SYNSETS_FILE):
  """The synsets in label order (label = index + 1)."""
  with open(path, encoding='utf-8') as f:
    synsets = [line.strip() for line in f if line.strip()]
  if len(set(synsets)) != len(synsets):
    raise dataset_utils.DatasetError(
        f'{path} lists a synset twice; it must hold each synset once, in '
        'label order.')
  return synsets


def read_metadata(path=METADATA_FILE):
  """{synset: human-readable name} from 'synset<TAB>name' lines."""
  names = {}
  with open(path, encoding='utf-8') as f:
    for number, line in enumerate(f, 1):
      line = line.rstrip('\n')
      if not line.strip():
        continue
      synset, sep, name = line.partition('\t')
      if not sep:
        raise dataset_utils.DatasetError(
            f'{path}:{number}: expected "synset<TAB>name", got {line!r}.')
      names[synset.strip()] = name.strip()
  return names


def labels_to_names(synsets_file=SYNSETS_FILE, metadata_file=METADATA_FILE):
  """{0: 'background', 1: name of the first synset, ...}."""
  synsets = read_synsets(synsets_file)
  names = read_metadata(metadata_file)
  missing = [s for s in synsets if s not in names]
  if missing:
    raise dataset_utils.DatasetError(
        f'{metadata_file} has no name for {len(missing)} synset(s) of '
        f'{synsets_file} (first: {missing[0]}); pass a metadata file that '
        'covers every synset.')
  result = {0: 'background'}
  result.update({i + 1: names[s] for i, s in enumerate(synsets)})
  return result


def get_split(split_name, dataset_dir, file_pattern=None):
  sizes = convert_utils.read_split_sizes(dataset_dir)
  splits = sizes['splits'] if sizes else SPLITS_TO_SIZES
  num_classes = sizes['num_classes'] if sizes else NUM_CLASSES
  spec = dataset_utils.make_spec('imagenet', split_name, dataset_dir, splits,
                                 file_pattern or FILE_PATTERN, num_classes,
                                 channels=CHANNELS, has_bboxes=True,
                                 recorded_files=convert_utils.recorded_files(
                                     sizes, file_pattern))
  if not spec.labels_to_names:
    import dataclasses
    spec = dataclasses.replace(spec, labels_to_names=labels_to_names())
  return spec
