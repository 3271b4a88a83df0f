"""Downloads a dataset and converts it to TF-Slim TFRecords.

Usage:
  download_and_convert_data --dataset_name=mnist --dataset_dir=/tmp/mnist
  download_and_convert_data --dataset_name=cifar10 --dataset_dir=/tmp/cifar10
  download_and_convert_data --dataset_name=digits --dataset_dir=/tmp/digits
  download_and_convert_data --dataset_name=flowers --dataset_dir=/tmp/flowers
  download_and_convert_data --dataset_name=visualwakewords \\
      --dataset_dir=/tmp/vww
  download_and_convert_data --dataset_name=imagenet \\
      --dataset_dir=/tmp/imagenet --imagenet_raw_dir=/data/ILSVRC2012
  download_and_convert_data --dataset_name=image_folder \\
      --image_dir=/my/photos --dataset_dir=/tmp/my_photos

Running it again when the outputs exist does nothing.
"""

from absl import flags

from slim_zoo import common_flags
from slim_zoo import convert

FLAGS = flags.FLAGS


def define_flags():
  with common_flags.group('Conversion'):
    flags.DEFINE_string('dataset_name', None,
                        f'Dataset to convert: {", ".join(sorted(convert.CONVERTERS))}.')
    flags.DEFINE_string('dataset_dir', None,
                        'Directory where the TFRecords and labels.txt are written.')
    flags.DEFINE_string('download_base_url', None,
                        'Base URL to download from instead of the dataset\'s '
                        'default (a mirror, or a local server).')
    flags.DEFINE_string('image_dir', None,
                        'image_folder: directory with one sub-directory of images '
                        '(jpeg/png/bmp/gif) per class.')
    flags.DEFINE_string('imagenet_raw_dir', None,
                        'imagenet: raw layout with train/<synset>/*.JPEG and '
                        'validation/*.JPEG (instead of downloading).')
    flags.DEFINE_string('bbox_dir', None,
                        'imagenet: directory of ILSVRC XML box annotations '
                        '(default RAW/bounding_boxes).')
    flags.DEFINE_string('synsets_file', None,
                        'imagenet: synsets in label order (default '
                        'datasets/imagenet_lsvrc_2015_synsets.txt).')
    flags.DEFINE_string('metadata_file', None,
                        'imagenet: "synset<TAB>name" lines (default '
                        'datasets/imagenet_metadata.txt).')
    flags.DEFINE_string('validation_labels_file', None,
                        'imagenet: synset of each validation image, one a line '
                        '(default datasets/'
                        'imagenet_2012_validation_synset_labels.txt).')
    flags.DEFINE_integer('train_shards', None,
                         'Training shards (imagenet 1024, visualwakewords 100, '
                         'image_folder 8).')
    flags.DEFINE_integer('validation_shards', None,
                         'Validation shards (imagenet 128, visualwakewords 10, '
                         'image_folder 2).')
    flags.DEFINE_integer('num_threads', None,
                         'Processes converting shards in parallel (default: one '
                         'per CPU, at most 8, for 1,000 images or more; else 1).')
    flags.DEFINE_integer('num_validation', None,
                         'flowers: images held out for validation (default 350).')
    flags.DEFINE_float('validation_fraction', None,
                       'image_folder: fraction of each class held out for '
                       'validation (default 0.1).')
    flags.DEFINE_float('small_object_area_threshold', None,
                       'visualwakewords: minimum person area, as a fraction of '
                       'the image, for label 1 (default 0.005).')
    flags.DEFINE_string('foreground_class_of_interest', None,
                        'visualwakewords: COCO category of label 1 (default '
                        'person).')


def main(argv):
  del argv
  options = {name: FLAGS[name].value for name in convert.OPTION_FLAGS}
  convert.convert(FLAGS.dataset_name, FLAGS.dataset_dir,
                  FLAGS.download_base_url, **options)


def run():
  from slim_zoo import cli
  cli.run(__doc__, define_flags, main)


if __name__ == '__main__':
  run()
