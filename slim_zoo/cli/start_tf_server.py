"""Starts one task (a parameter server or a worker) of a TensorFlow cluster.

TensorFlow's distributed runtime is a set of gRPC servers, one per task,
that all know the whole cluster (--ps_hosts and --worker_hosts, the same
lists on every machine). This script starts the server of one task and
keeps it running until it is stopped (Ctrl-C or SIGTERM).

Training is between-graph replication: next to each worker server runs one
train_image_classifier process that builds the graph and drives the
training through --master=grpc://<that worker's host:port>, with the same
--task. Variables live on the parameter servers; worker 0 is the chief.

  # machine A (parameter server)
  slim_zoo_tf_server --ps_hosts=A:2222 --worker_hosts=B:2222,C:2222 \\
      --job_name=ps --task=0
  # machine B (worker 0, the chief): a server, then the trainer
  slim_zoo_tf_server --ps_hosts=A:2222 --worker_hosts=B:2222,C:2222 \\
      --job_name=worker --task=0
  train_image_classifier --master=grpc://B:2222 --task=0 \\
      --worker_replicas=2 --num_ps_tasks=1 --sync_replicas ...
  # machine C (worker 1): the same with --task=1 and --master=grpc://C:2222

scripts/start_local_cluster.sh starts such a cluster on 127.0.0.1.
"""

import signal
import time

from absl import flags

from slim_zoo import common_flags
from slim_zoo import errors

FLAGS = flags.FLAGS


def define_flags():
  with common_flags.group('Cluster'):
    flags.DEFINE_string('ps_hosts', '',
                        'Comma-separated host:port of the parameter servers.')
    flags.DEFINE_string('worker_hosts', '',
                        'Comma-separated host:port of the workers.')
    flags.DEFINE_enum('job_name', None, ['ps', 'worker'],
                      'Job of the task this server runs.')
    flags.DEFINE_integer('task', 0, 'Index of the task within its job.')
    flags.DEFINE_integer('num_cpu_devices', 1,
                         'CPU devices of a worker server (set it to '
                         '--num_clones to train with --clone_on_cpu).')


def main(argv):
  del argv
  from slim_zoo import tf_server  # Imports TensorFlow: not for --help.
  if FLAGS.job_name is None:
    raise errors.UsageError('--job_name is required: ps or worker.')
  server = tf_server.start_server(
      tf_server.parse_hosts(FLAGS.ps_hosts, 'ps_hosts'),
      tf_server.parse_hosts(FLAGS.worker_hosts, 'worker_hosts'),
      FLAGS.job_name, FLAGS.task, FLAGS.num_cpu_devices)
  # Scripts and tests wait for this line before using the server.
  print(f'Started /job:{FLAGS.job_name}/task:{FLAGS.task} at '
        f'{server.target}', flush=True)
  # server.join() blocks in C++ and would ignore Ctrl-C, so the main thread
  # sleeps in Python instead. A server holds nothing to save: on SIGINT or
  # SIGTERM it leaves at once (os._exit) rather than spending seconds in
  # TensorFlow's interpreter shutdown.
  for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, tf_server.exit_now)
  while True:
    time.sleep(3600)


def run():
  from slim_zoo import cli
  cli.run(__doc__, define_flags, main)


if __name__ == '__main__':
  run()
