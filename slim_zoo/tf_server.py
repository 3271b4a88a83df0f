"""One task (a parameter server or a worker) of a TensorFlow cluster.

TensorFlow's distributed runtime is a set of gRPC servers, one per task,
that all know the whole cluster (--ps_hosts and --worker_hosts, the same
lists on every machine). This script starts the server of one task and
keeps it running until it is stopped (Ctrl-C or SIGTERM).

Training is between-graph replication: next to each worker server runs one
train_image_classifier.py process that builds the graph and drives the
training through --master=grpc://<that worker's host:port>, with the same
--task. Variables live on the parameter servers; worker 0 is the chief.

  # machine A (parameter server)
  python start_tf_server.py --ps_hosts=A:2222 --worker_hosts=B:2222,C:2222 \\
      --job_name=ps --task=0
  # machine B (worker 0, the chief): a server, then the trainer
  python start_tf_server.py --ps_hosts=A:2222 --worker_hosts=B:2222,C:2222 \\
      --job_name=worker --task=0
  python train_image_classifier.py --master=grpc://B:2222 --task=0 \\
      --worker_replicas=2 --num_ps_tasks=1 --sync_replicas ...
  # machine C (worker 1): the same with --task=1 and --master=grpc://C:2222

scripts/start_local_cluster.sh starts such a cluster on 127.0.0.1.
"""

import errno
import os
import signal
import socket
import sys

from slim_zoo.nets.compat import tf
from slim_zoo.errors import UsageError



PS_JOB = 'ps'
WORKER_JOB = 'worker'


def parse_hosts(text, flag_name):
  """Splits 'host:port,host:port' into a list, checking every entry.

  Args:
    text: the flag value.
    flag_name: the flag's name, for the error message.

  Returns:
    List of 'host:port' strings.

  Raises:
    ValueError: an entry is not host:port with a port in 1..65535.
  """
  hosts = [h.strip() for h in (text or '').split(',') if h.strip()]
  for host in hosts:
    name, _, port = host.rpartition(':')
    if not name or not port.isdigit() or not 0 < int(port) < 65536:
      raise UsageError(f'--{flag_name}: {host!r} is not host:port with a '
                       'port in 1..65535 (e.g. 127.0.0.1:2222).')
  return hosts


def cluster_spec(ps_hosts, worker_hosts):
  """tf.train.ClusterSpec of the jobs 'ps' and 'worker'.

  Raises:
    ValueError: no worker, or an address used twice.
  """
  if not worker_hosts:
    raise UsageError('--worker_hosts is empty; list at least one worker as '
                     'host:port.')
  seen = set()
  for host in ps_hosts + worker_hosts:
    if host in seen:
      raise UsageError(f'{host} appears twice in --ps_hosts/--worker_hosts; '
                       'every task needs its own host:port.')
    seen.add(host)
  jobs = {WORKER_JOB: worker_hosts}
  if ps_hosts:
    jobs[PS_JOB] = ps_hosts
  return tf.train.ClusterSpec(jobs)


def server_config(job_name, num_cpu_devices=1):
  """ConfigProto of a task's server.

  Parameter servers get no GPU (they only hold variables); workers allocate
  GPU memory as they need it, so several can share a machine.
  """
  if num_cpu_devices < 1:
    raise UsageError(f'--num_cpu_devices must be >= 1, got {num_cpu_devices}.')
  config = tf.ConfigProto(allow_soft_placement=True)
  config.device_count['CPU'] = num_cpu_devices
  if job_name == PS_JOB:
    config.device_count['GPU'] = 0
  else:
    config.gpu_options.allow_growth = True
  return config


def start_server(ps_hosts, worker_hosts, job_name, task, num_cpu_devices=1):
  """Starts the in-process gRPC server of task `task` of job `job_name`.

  Returns:
    The started tf.distribute.Server; it serves until the process exits.

  Raises:
    ValueError: bad job name, task index or host lists.
  """
  cluster = cluster_spec(ps_hosts, worker_hosts)
  if job_name not in cluster.jobs:
    raise UsageError(f'--job_name={job_name!r} has no hosts; valid jobs here: '
                     f'{", ".join(sorted(cluster.jobs))}.')
  num_tasks = cluster.num_tasks(job_name)
  if not 0 <= task < num_tasks:
    raise UsageError(f'--task={task} is out of range for job {job_name!r} '
                     f'with {num_tasks} host(s); valid tasks are '
                     f'0..{num_tasks - 1}.')
  address = cluster.task_address(job_name, task)
  port = address.rpartition(':')[2]
  if port.isdigit():
    _check_port_free(int(port), address, job_name)
  try:
    return tf.distribute.Server(cluster, job_name=job_name, task_index=task,
                                config=server_config(job_name,
                                                     num_cpu_devices),
                                start=True)
  except tf.errors.UnknownError as e:
    raise UsageError(f'Could not start the gRPC server of /job:{job_name}/'
                     f'task:{task} at {address} ({e.message}); check that '
                     'the address is this machine\'s and its port is '
                     'free.') from None


def _check_port_free(port, address, job_name):
  """A port in use is named up front (gRPC only says it could not start)."""
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
      probe.bind(('', port))
    except OSError as e:
      if e.errno == errno.EADDRINUSE:
        raise UsageError(
            f'Port {port} of {address} (--{job_name}_hosts) is in use by '
            'another process; stop it or give this task another port.'
            ) from None


def exit_now(signum, unused_frame):
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(0 if signum == signal.SIGTERM else 128 + signum)
