r"""Input pipeline speed: our tf.data reader vs tf_slim's queue reader.

Both readers get the same TFRecords and the same work per image: parse the
tf.train.Example, decode the JPEG, inception training preprocessing (random
distorted crop, resize to --image_size, flip, colour distortion) and batch.

* ours: datasets/input_pipeline.build_dataset (file shuffle + parallel
  interleave, parallel map with --num_preprocessing_threads, prefetch);
* ours_fused: the same with fused_jpeg_crop=True: inception's random crop is
  sampled from the JPEG header and only that window is decoded;
* slim: what TF-Slim's train_image_classifier.py did -- slim.dataset.Dataset
  + TFExampleDecoder with its Image handler (runs on TF 2.21 through the
  aliases in nets/compat.py) read by slim.dataset_data_provider.DatasetDataProvider
  (parallel_reader with --num_readers readers and a shuffling common queue),
  then tf.train.batch with --num_preprocessing_threads threads, driven by
  queue runners.

Without --dataset_dir the script first writes --num_images JPEGs of random
sizes between --min_size and --max_size pixels (smooth colour fields plus
noise, so they compress like photos) into --num_shards TFRecord shards.

Each measurement builds a fresh graph and session, runs --num_warmup_batches
untimed batches, then times --num_batches. Runs alternate the readers
--num_runs times so load changes on a shared machine hit all of them; the
median (and min..max) images/sec of each and the ratios of the medians to
slim's are printed, and the same for images per CPU-second of the process
(the work each reader spends per image, which other processes on a shared
machine disturb far less than the wall-clock rate).

Example:
  slim_zoo_benchmark_input_pipeline --num_runs=3 --batch_size=32
  slim_zoo_benchmark_input_pipeline --dataset_name=flowers \\
      --dataset_dir=/tmp/flowers --dataset_split_name=train
"""

import os
import tempfile

from absl import flags

from slim_zoo import benchmark_input_pipeline as bench
from slim_zoo import common_flags

FLAGS = flags.FLAGS


def define_flags():
  with common_flags.group('Input pipeline benchmark'):
    flags.DEFINE_string('dataset_name', None,
                        'A registered dataset to read; None generates JPEGs.')
    flags.DEFINE_string('dataset_dir', None, 'Directory of --dataset_name.')
    flags.DEFINE_string('dataset_split_name', 'train', 'Split to read.')
    flags.DEFINE_integer('num_images', 512, 'Generated images.')
    flags.DEFINE_integer('num_shards', 8, 'Generated TFRecord shards.')
    flags.DEFINE_integer('min_size', 224, 'Smallest generated side, pixels.')
    flags.DEFINE_integer('max_size', 400, 'Largest generated side, pixels.')
    flags.DEFINE_integer('image_size', 224, 'Preprocessing output size.')
    flags.DEFINE_integer('batch_size', 32, 'Images per batch.')
    flags.DEFINE_integer('num_batches', 30, 'Timed batches per run.')
    flags.DEFINE_integer('num_warmup_batches', 5, 'Untimed batches per run.')
    flags.DEFINE_integer('num_runs', 3, 'Alternating runs of each reader.')
    flags.DEFINE_integer('num_readers', 4, 'Files read in parallel (both).')
    flags.DEFINE_integer('num_preprocessing_threads', 4,
                         'Parallel decode/preprocess calls (ours; 0 = AUTOTUNE) '
                         'and tf.train.batch threads (slim).')
    flags.DEFINE_integer('seed', 0, 'Seed of the generated images.')


def main(argv):
  del argv
  cfg = {k: FLAGS[k].value for k in (
      'batch_size', 'image_size', 'num_batches', 'num_warmup_batches',
      'num_readers', 'num_preprocessing_threads')}

  def run_benchmark():
    with tempfile.TemporaryDirectory(prefix='bench_pipeline_') as tmp:
      if FLAGS.dataset_name:
        from slim_zoo.datasets import dataset_factory
        spec = dataset_factory.get_dataset(
            FLAGS.dataset_name, FLAGS.dataset_split_name, FLAGS.dataset_dir)
      else:
        spec = bench.generate_dataset(tmp, FLAGS.num_images, FLAGS.num_shards,
                                FLAGS.min_size, FLAGS.max_size, FLAGS.seed)
      print(f'{spec.name} {spec.split_name}: {spec.num_samples} images, '
            f'batch {cfg["batch_size"]}, {cfg["image_size"]}px, '
            f'{cfg["num_readers"]} readers, '
            f'{cfg["num_preprocessing_threads"]} preprocessing threads, '
            f'{os.cpu_count()} CPUs')
      rates = bench.compare(spec, cfg, FLAGS.num_runs)
      lines, _ = bench.summary(rates)
      print('\n'.join(lines))

  run_benchmark()

def run():
  from slim_zoo import cli
  cli.run(__doc__, define_flags, main)


if __name__ == '__main__':
  run()
