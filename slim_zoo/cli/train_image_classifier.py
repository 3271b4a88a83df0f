"""Trains or fine-tunes a network of the zoo on a TFRecord dataset.

Usage (from scratch):
  train_image_classifier --train_dir=/tmp/train --dataset_name=digits \\
      --dataset_dir=/tmp/digits --model_name=lenet --max_number_of_steps=1000

Fine-tuning adds --checkpoint_path (file or directory) and usually
--checkpoint_exclude_scopes / --trainable_scopes; by default the registry's
logits scopes are excluded when their shapes differ from the checkpoint's (a
new class count). The checkpoint is only read when --train_dir holds no
checkpoint yet: running the same command again resumes from --train_dir.

The model is built through deployment/model_deploy.py: --num_clones copies on
this machine (GPUs, or the CPU with --clone_on_cpu) and, with --master,
--task, --worker_replicas, --num_ps_tasks and --sync_replicas, one worker of a
TensorFlow gRPC cluster (task 0 is the chief: it initialises, writes the
checkpoints and the summaries).

On a cluster orchestrator (Kubeflow TFJob, Vertex AI, SageMaker) the same
command runs every replica: with the TF_CONFIG environment variable set and
none of --master, --task, --worker_replicas, --num_ps_tasks given, TF_CONFIG
names the cluster and this replica's role. A ps serves the variables until
every trainer finished; the chief and the workers start their own server and
train (the chief is task 0); an evaluator follows --train_dir's checkpoints,
writes its results under --eval_dir (default <train_dir>/eval) and stops
after evaluating the checkpoint of --max_number_of_steps. Cluster flags that
disagree with TF_CONFIG are an error (see slim_zoo/cluster.py).

Checkpoints are written atomically, so a run killed at any moment resumes
from the last one. SIGTERM or Ctrl-C stops after the current step and writes
a final checkpoint. A NaN or Inf loss (or gradient) stops training before
the bad update is applied, with one clear error.
"""

import dataclasses
import signal
import sys

from absl import flags
from absl import logging

from slim_zoo import common_flags

FLAGS = flags.FLAGS


def define_flags():
  common_flags.define_model_flags()
  common_flags.define_dataset_flags()
  common_flags.define_batch_size_flag(32)
  common_flags.define_preprocessing_flags()
  with common_flags.group('Training'):
    flags.DEFINE_string('train_dir', '/tmp/tfmodel/',
                        'Directory for checkpoints and event logs.')
    flags.DEFINE_integer('max_number_of_steps', None,
                         'Number of training steps (None = until stopped).')
    flags.DEFINE_integer('train_image_size', None,
                         'Training image size; None takes the registry '
                         'default.')
    flags.DEFINE_integer('log_every_n_steps', 10,
                         'How often (in steps) to log loss and speed.')
    flags.DEFINE_integer('save_summaries_secs', 600,
                         'How often (in seconds) to write summaries.')
    flags.DEFINE_integer('save_interval_secs', 600,
                         'How often (in seconds) to save a checkpoint.')
    flags.DEFINE_integer('seed', None, 'Graph-level random seed.')
    flags.DEFINE_bool('allow_config_change', False,
                      'Resume a --train_dir whose recorded run '
                      '(train_config.json) used another model, dataset, '
                      'batch size or schedule, with the flags given now '
                      '(the changes are logged).')
  common_flags.define_checkpoint_path_flag(
      None, 'Checkpoint file or directory to fine-tune from; read only when '
      '--train_dir holds no checkpoint yet.')
  with common_flags.group('Checkpoint'):
    flags.DEFINE_string('checkpoint_exclude_scopes', None,
                        'Comma-separated scopes not restored from '
                        '--checkpoint_path; None excludes the registry\'s '
                        'logits scopes when their shapes differ from the '
                        'checkpoint\'s.')
    flags.DEFINE_string('trainable_scopes', None,
                        'Comma-separated scopes to train; None trains all.')
    flags.DEFINE_bool('ignore_missing_vars', False,
                      'Skip (and log) variables missing from the checkpoint.')
  common_flags.define_optimizer_flags()
  common_flags.define_moving_average_flag()
  common_flags.define_deployment_flags()
  common_flags.define_master_flag()
  with common_flags.group('Cluster'):
    flags.DEFINE_integer('master_wait_secs', 120,
                         'With --master: how long to wait (logged, with '
                         'back-off) for its server to accept connections.')
  with common_flags.group('Evaluator (TF_CONFIG)'):
    flags.DEFINE_string('eval_dir', None,
                        'Directory for the evaluator\'s summaries and JSON; '
                        'None = <train_dir>/eval.')
    flags.DEFINE_string('eval_split_name', None,
                        'Split the evaluator reads; None = "validation", or '
                        '"test" if the dataset has no validation split.')
    flags.DEFINE_integer('eval_interval_secs', 10,
                         'How often (seconds) the evaluator looks for a new '
                         'checkpoint in --train_dir.')
    flags.DEFINE_integer('eval_timeout', None,
                         'Stop the evaluator after this many seconds without '
                         'a new checkpoint (None = until the checkpoint of '
                         '--max_number_of_steps is evaluated).')
  common_flags.define_performance_flags()
  with common_flags.group('Quantization'):
    flags.DEFINE_integer('quantize_delay', -1,
                         'Quantization-aware training: from this global '
                         'step on, weights and activations are fake-'
                         'quantized to 8 bits (batch norm folded into the '
                         'weights; ranges learned from step 0). -1 = off. '
                         'Export with export_inference_graph --quantize.')
    flags.DEFINE_integer('freeze_bn_delay', -1,
                         'With --quantize_delay: from this global step on '
                         'the folded batch norm uses its moving statistics '
                         'and they stop updating. -1 = never '
                         '(tf.contrib.quantize\'s default).')


def config_from_flags():
  """TrainConfig of the parsed flags."""
  from slim_zoo import train  # Imports TensorFlow: not for --help.
  opt = train.OptimizerConfig(**{
      f.name: FLAGS[f.name].value
      for f in dataclasses.fields(train.OptimizerConfig)})
  names = [f.name for f in dataclasses.fields(train.TrainConfig)
           if f.name != 'optimizer']
  return train.TrainConfig(optimizer=opt,
                           **{n: FLAGS[n].value for n in names})


def main(argv):
  """Trains; a run stopped by a signal before its last step exits 128+N
  (143 for SIGTERM), so an orchestrator does not mark it done."""
  del argv
  from slim_zoo import cluster
  from slim_zoo import train  # Imports TensorFlow: not for --help.
  logging.set_verbosity(logging.INFO)
  tf_config = cluster.from_environment()
  if tf_config is not None:
    cluster.check_flags(tf_config, {name: FLAGS[name].value
                                    for name in cluster.CLUSTER_FLAGS
                                    if FLAGS[name].present})
  cfg = config_from_flags()
  if tf_config is None:
    values = train.run(cfg)
  else:
    values = cluster.run_replica(tf_config, cfg, cluster.EvaluatorOptions(
        eval_dir=FLAGS.eval_dir, split_name=FLAGS.eval_split_name,
        interval_secs=FLAGS.eval_interval_secs, timeout=FLAGS.eval_timeout))
    if not tf_config.is_trainer:
      return
  stopped_by = values.get('stopped_by')
  finished = (cfg.max_number_of_steps is not None and
              values.get('step', 0) >= cfg.max_number_of_steps)
  if stopped_by and not finished:
    sys.exit(128 + signal.Signals[stopped_by].value)


def run():
  from slim_zoo import cli
  cli.run(__doc__, define_flags, main)


if __name__ == '__main__':
  run()
