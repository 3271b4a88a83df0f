"""A replica of a cluster described by the TF_CONFIG environment variable.

Orchestrators that run TensorFlow training at scale (Kubeflow's TFJob on
Kubernetes, Vertex AI custom training, SageMaker) start every replica with
the same command and describe the cluster and the replica's role in
TF_CONFIG:

  {"cluster": {"chief": ["c:2222"], "worker": ["w0:2222", "w1:2222"],
               "ps": ["p:2222"], "evaluator": ["e:2222"]},
   "task": {"type": "worker", "index": 1}}

`parse_tf_config` turns it into a frozen `TFConfig` (every part checked,
errors quote the bad part); `check_flags` rejects cluster flags that say
something else; `run_replica` runs the replica's role:

- ps: starts its gRPC server and serves the variables until every trainer
  has reported the end of training (a token each on the ps's "done" queue),
  then exits, so a finished job leaves nothing running.
- chief and worker (the trainers): start their own in-process server, wait
  (bounded, logged back-off) for the parameter servers (and, for a worker,
  the chief), and train through the existing between-graph replication. The
  chief is what train.py calls task 0 (it initialises, takes --train_dir's
  lock, writes checkpoints and summaries); worker i is task i + 1 (without a
  chief, worker 0 is task 0). On the servers' cluster the trainers are the
  job 'worker' in that order, as with --worker_hosts.
- evaluator: follows --train_dir (evaluate.evaluate_loop) and writes its
  results under --eval_dir (default <train_dir>/eval). It stops by itself
  after evaluating the checkpoint of the run's last step
  (--max_number_of_steps, as the chief recorded it in train_config.json), or
  after --eval_timeout seconds without a new checkpoint.

A TF_CONFIG that describes a single trainer and no ps (a one-replica job)
trains locally, without a server.
"""

import dataclasses
import json
import os
import signal
import socket
import time

from absl import logging

from slim_zoo.errors import UsageError

ENV_VAR = 'TF_CONFIG'
CHIEF, WORKER, PS, EVALUATOR = 'chief', 'worker', 'ps', 'evaluator'
# 'master' is the older name of the chief (SageMaker, AI Platform, TFJob).
_ALIASES = {'master': CHIEF}
JOBS = (CHIEF, WORKER, PS, EVALUATOR)
# The flags that describe a cluster on the command line.
CLUSTER_FLAGS = ('master', 'task', 'worker_replicas', 'num_ps_tasks')
_DONE_QUEUE = 'slim_zoo_training_done'
_DONE_CAPACITY = 1024


@dataclasses.dataclass(frozen=True)
class TFConfig:
  """The cluster and this replica's role, from TF_CONFIG.

  Attributes:
    chief: () or (host:port,), the chief.
    workers: host:port of the workers, in TF_CONFIG's order.
    ps: host:port of the parameter servers.
    evaluator: () or (host:port,) ('' when TF_CONFIG names this replica
      the evaluator without listing it); the evaluator serves nothing.
    task_type: 'chief', 'worker', 'ps' or 'evaluator' ('master' reads as
      'chief').
    task_index: index of this replica within its job.
  """
  chief: tuple
  workers: tuple
  ps: tuple
  evaluator: tuple
  task_type: str
  task_index: int

  @property
  def trainers(self):
    """host:port of the job 'worker' of the servers: the chief first."""
    return self.chief + self.workers

  @property
  def is_trainer(self):
    return self.task_type in (CHIEF, WORKER)

  @property
  def trainer_task(self):
    """This replica's --task (the chief is 0), or None for ps/evaluator."""
    if self.task_type == CHIEF:
      return 0
    if self.task_type == WORKER:
      return self.task_index + len(self.chief)
    return None

  @property
  def is_chief(self):
    return self.trainer_task == 0

  @property
  def distributed(self):
    """Whether the trainers need servers (more than one, or a ps)."""
    return len(self.trainers) > 1 or bool(self.ps)

  @property
  def address(self):
    return self._job(self.task_type)[self.task_index]

  def _job(self, name):
    return {CHIEF: self.chief, WORKER: self.workers, PS: self.ps,
            EVALUATOR: self.evaluator}[name]

  def describe(self):
    where = f' ({self.address})' if self.address else ''
    return f'{self.task_type} {self.task_index}{where}'


def _quote(value, limit=80):
  text = json.dumps(value) if not isinstance(value, str) else repr(value)
  return text if len(text) <= limit else text[:limit - 3] + '...'


def _json_error(text, error):
  start = max(0, error.pos - 25)
  near = text[start:error.pos + 25]
  return UsageError(
      f'TF_CONFIG is not valid JSON: {error.msg} at character {error.pos}, '
      f'near {near!r}; set it to an object like {{"cluster": {{"worker": '
      f'["host:2222"]}}, "task": {{"type": "worker", "index": 0}}}}.')


def _check_address(job, i, address):
  if not isinstance(address, str):
    raise UsageError(f'TF_CONFIG cluster "{job}"[{i}] is {_quote(address)}, '
                     'not a "host:port" string.')
  host, _, port = address.strip().rpartition(':')
  if not host or not port.isdigit() or not 0 < int(port) < 65536:
    raise UsageError(f'TF_CONFIG cluster "{job}"[{i}] is {address!r}, not '
                     'host:port with a port in 1..65535 (e.g. '
                     '"worker-0:2222").')
  return address.strip()


def _parse_cluster(cluster):
  if not isinstance(cluster, dict):
    raise UsageError(f'TF_CONFIG "cluster" is {_quote(cluster)}, not an '
                     'object of job name -> list of "host:port".')
  jobs = {}
  for name, hosts in cluster.items():
    job = _ALIASES.get(name, name)
    if job not in JOBS:
      raise UsageError(
          f'TF_CONFIG cluster job {name!r} is unknown; valid jobs: '
          f'{", ".join(JOBS)} ("master" is read as "chief").')
    if job in jobs:
      raise UsageError('TF_CONFIG cluster has both "chief" and "master" '
                       '(two names of the chief); keep one.')
    if isinstance(hosts, str):
      hosts = [hosts]
    if not isinstance(hosts, list):
      raise UsageError(f'TF_CONFIG cluster "{name}" is {_quote(hosts)}, not '
                       'a list of "host:port".')
    jobs[job] = tuple(_check_address(name, i, h) for i, h in enumerate(hosts))
  for job in (CHIEF, EVALUATOR):
    if len(jobs.get(job, ())) > 1:
      raise UsageError(f'TF_CONFIG cluster "{job}" lists '
                       f'{len(jobs[job])} hosts {list(jobs[job])}; a cluster '
                       f'has at most one {job}.')
  seen = {}
  for job, hosts in jobs.items():
    for i, host in enumerate(hosts):
      if host in seen:
        raise UsageError(f'TF_CONFIG cluster gives {host} to both '
                         f'{seen[host]} and "{job}"[{i}]; every replica '
                         'needs its own host:port.')
      seen[host] = f'"{job}"[{i}]'
  return jobs


def _parse_task(task, jobs):
  if not isinstance(task, dict):
    raise UsageError(f'TF_CONFIG "task" is {_quote(task)}, not an object '
                     'like {"type": "worker", "index": 0}.')
  task_type = task.get('type')
  job = _ALIASES.get(task_type, task_type)
  if job == EVALUATOR and not jobs.get(EVALUATOR):
    # The evaluator serves nothing, so some orchestrators leave it out of
    # the cluster (and TensorFlow's own docs give it a cluster of itself).
    jobs[EVALUATOR] = ('',)
  if job not in jobs:
    raise UsageError(
        f'TF_CONFIG task "type" is {_quote(task_type)}, not a job of its '
        f'cluster ({", ".join(sorted(jobs))}).')
  index = task.get('index', 0)
  if isinstance(index, str) and index.isdigit():
    index = int(index)
  if isinstance(index, bool) or not isinstance(index, int):
    raise UsageError(f'TF_CONFIG task "index" is {_quote(index)}, not an '
                     'integer.')
  if not 0 <= index < len(jobs[job]):
    raise UsageError(
        f'TF_CONFIG task {_quote(task)} is out of range: cluster "{task_type}"'
        f' has {len(jobs[job])} host(s), so "index" is 0..'
        f'{len(jobs[job]) - 1}.')
  return job, index


def parse_tf_config(text):
  """Parses TF_CONFIG's JSON text.

  Args:
    text: the variable's value.

  Returns:
    TFConfig, or None when the text describes no cluster (unset, blank, or
    an empty "cluster"): the replica then trains as without TF_CONFIG.

  Raises:
    UsageError: quoting the part that is malformed (not JSON, an unknown job,
      an address that is not host:port, a task outside its job ...).
  """
  if text is None or not text.strip():
    return None
  try:
    config = json.loads(text)
  except json.JSONDecodeError as e:
    raise _json_error(text, e) from None
  if not isinstance(config, dict):
    raise UsageError(f'TF_CONFIG is {_quote(config)}, not a JSON object with '
                     '"cluster" and "task".')
  if not config.get('cluster'):
    return None
  jobs = _parse_cluster(config['cluster'])
  if 'task' not in config:
    raise UsageError(f'TF_CONFIG has a "cluster" but no "task" (got keys '
                     f'{sorted(config)}); add "task": {{"type": ..., '
                     '"index": ...}} naming this replica.')
  task_type, index = _parse_task(config['task'], jobs)
  if task_type != EVALUATOR and not jobs.get(CHIEF) and not jobs.get(WORKER):
    raise UsageError(f'TF_CONFIG cluster {_quote(config["cluster"])} has no '
                     '"chief" and no "worker": nothing would train; add a '
                     'chief.')
  parsed = TFConfig(chief=jobs.get(CHIEF, ()), workers=jobs.get(WORKER, ()),
                    ps=jobs.get(PS, ()), evaluator=jobs.get(EVALUATOR, ()),
                    task_type=task_type, task_index=index)
  if len(parsed.trainers) > 1 and not parsed.ps:
    raise UsageError(
        f'TF_CONFIG cluster has {len(parsed.trainers)} trainers (chief and '
        'workers) but no "ps": between-graph replication keeps the shared '
        'variables on parameter servers; add a "ps" job.')
  return parsed


def from_environment(environ=None):
  """TFConfig of os.environ's TF_CONFIG, or None (see parse_tf_config)."""
  return parse_tf_config((environ or os.environ).get(ENV_VAR))


def expected_flags(tf_config):
  """The cluster flags' values that say the same as tf_config."""
  if tf_config.is_trainer and tf_config.distributed:
    return {'master': f'grpc://{tf_config.address}',
            'task': tf_config.trainer_task,
            'worker_replicas': len(tf_config.trainers),
            'num_ps_tasks': len(tf_config.ps)}
  if tf_config.is_trainer:
    return {'master': '', 'task': 0, 'worker_replicas': 1, 'num_ps_tasks': 0}
  return {}


def check_flags(tf_config, given):
  """Cluster flags given next to TF_CONFIG must say the same.

  Args:
    tf_config: the parsed TF_CONFIG.
    given: {flag name: value} of the cluster flags set on the command line.

  Raises:
    UsageError: naming the flag, its value, what TF_CONFIG says and the fix.
  """
  expected = expected_flags(tf_config)
  for name in CLUSTER_FLAGS:
    if name not in given:
      continue
    value = given[name]
    if name == 'master' and isinstance(value, str):
      same = value.split('://', 1)[-1] == expected.get(name, '').split(
          '://', 1)[-1]
    else:
      same = name in expected and value == expected[name]
    if not same:
      says = (f'means --{name}={expected[name]}' if name in expected else
              f'makes this replica a {tf_config.task_type}, which trains '
              f'nothing (no --{name})')
      raise UsageError(
          f'--{name}={value} disagrees with TF_CONFIG (task '
          f'{tf_config.task_type} {tf_config.task_index} of a cluster with '
          f'{len(tf_config.chief)} chief, {len(tf_config.workers)} '
          f'worker(s), {len(tf_config.ps)} ps), which {says}; drop '
          f'--{name} (TF_CONFIG describes the cluster) or unset TF_CONFIG.')


def trainer_config(tf_config, cfg, master):
  """cfg (a train.TrainConfig) with this trainer's cluster fields."""
  if not tf_config.distributed:
    return dataclasses.replace(cfg, master='', task=0, worker_replicas=1,
                               num_ps_tasks=0)
  return dataclasses.replace(cfg, master=master,
                             task=tf_config.trainer_task,
                             worker_replicas=len(tf_config.trainers),
                             num_ps_tasks=len(tf_config.ps))


def start_server(tf_config, num_cpu_devices=1):
  """Starts this replica's in-process gRPC server (job 'ps' or 'worker')."""
  from slim_zoo import tf_server  # Imports TensorFlow.
  if tf_config.task_type == PS:
    job, task = tf_server.PS_JOB, tf_config.task_index
  else:
    job, task = tf_server.WORKER_JOB, tf_config.trainer_task
  server = tf_server.start_server(list(tf_config.ps),
                                  list(tf_config.trainers), job, task,
                                  num_cpu_devices)
  logging.info('TF_CONFIG %s: started /job:%s/task:%d at %s',
               tf_config.describe(), job, task, server.target)
  return server


def wait_for(address, what, wait_secs):
  """Waits until the replica `what` at `address` (host:port) accepts TCP
  connections (see `wait_until_reachable`).

  Raises:
    UsageError: still unreachable after wait_secs.
  """
  wait_until_reachable(
      address, f'{what} at {address}', wait_secs,
      fix='check that its replica is running and the address in TF_CONFIG, '
      'or wait longer with --master_wait_secs')


def wait_until_reachable(address, label, wait_secs, fix):
  """Waits until `address` (host:port) accepts TCP connections.

  Replicas start in any order (pods are scheduled independently), so the
  first attempts may be refused: it retries with a doubling delay (1 s up to
  30 s), logging each wait, for at most wait_secs.

  Args:
    address: 'host:port' ('[v6]:port' too).
    label: how the log and the error name the peer.
    wait_secs: the longest wait.
    fix: the error's advice.

  Raises:
    UsageError: still unreachable after wait_secs.
  """
  host, _, port = address.rpartition(':')
  deadline = time.time() + wait_secs
  delay = 1.0
  while True:
    try:
      socket.create_connection((host.strip('[]'), int(port)), timeout=5).close()
      return
    except OSError as e:
      left = deadline - time.time()
      if left <= 0:
        raise UsageError(f'Cannot reach {label} ({e.strerror or e}) after '
                         f'{wait_secs}s; {fix}.') from None
      logging.warning('Waiting for %s (%s); retrying in %.0fs.', label,
                      e.strerror or e, min(delay, left))
      time.sleep(min(delay, left))
      delay = min(delay * 2, 30.0)


def _peers(tf_config):
  """(what, address) a trainer needs before training: the ps, the chief."""
  peers = [(f'TF_CONFIG ps {i}', a) for i, a in enumerate(tf_config.ps)]
  if tf_config.task_type == WORKER and tf_config.chief:
    peers.append(('TF_CONFIG chief 0', tf_config.chief[0]))
  return peers


def _done_queue(tf, ps_task):
  with tf.device(f'/job:ps/task:{ps_task}'):
    return tf.queue.FIFOQueue(_DONE_CAPACITY, tf.int32, shapes=[],
                              shared_name=f'{_DONE_QUEUE}_{ps_task}',
                              name=f'{_DONE_QUEUE}_{ps_task}')


def report_done(tf_config, master, task):
  """Puts this trainer's task on every ps's done queue (see serve_ps)."""
  from slim_zoo.nets.compat import tf
  with tf.Graph().as_default():
    enqueues = [_done_queue(tf, i).enqueue(task)
                for i in range(len(tf_config.ps))]
    config = tf.ConfigProto(operation_timeout_in_ms=60 * 1000)
    config.device_filters.extend(['/job:ps', f'/job:worker/task:{task}'])
    try:
      with tf.Session(master, config=config) as session:
        session.run(enqueues)
    except tf.errors.OpError as e:
      # The training itself is done and saved; only the ps's exit waits.
      logging.warning('Could not tell the parameter servers that training '
                      'ended (%s); they keep running.', e.message)


def serve_ps(tf_config, server):
  """Serves until every trainer reported the end of training.

  Each trainer puts its task index on this ps's done queue once it has
  trained to the last step; a trainer killed and restarted reports once it
  finishes, so the ps counts distinct indices.
  """
  from slim_zoo.nets.compat import tf
  num_trainers = len(tf_config.trainers)
  with tf.Graph().as_default():
    dequeue = _done_queue(tf, tf_config.task_index).dequeue()
    config = tf.ConfigProto()
    config.device_filters.append(f'/job:ps/task:{tf_config.task_index}')
    with tf.Session(server.target, config=config) as session:
      done = set()
      while len(done) < num_trainers:
        done.add(int(session.run(dequeue)))
        logging.info('TF_CONFIG ps %d: trainer(s) %s of %d finished '
                     'training.', tf_config.task_index, sorted(done),
                     num_trainers)


def evaluator_config(cfg, eval_options):
  """evaluate.EvalConfig of the evaluator: follows cfg.train_dir.

  Args:
    cfg: the train.TrainConfig of the command line.
    eval_options: EvaluatorOptions.
  """
  from slim_zoo import evaluate
  from slim_zoo.datasets import dataset_factory
  split = eval_options.split_name
  if split is None:
    # Most datasets call their held-out split 'validation', some 'test'.
    for split in ('validation', 'test'):
      try:
        dataset_factory.get_dataset(cfg.dataset_name, split, cfg.dataset_dir)
        break
      except UsageError:
        continue
    else:
      raise UsageError(
          f'--dataset_name={cfg.dataset_name} in --dataset_dir='
          f'{cfg.dataset_dir} has no "validation" or "test" split for the '
          'evaluator; pass --eval_split_name.')
  return evaluate.EvalConfig(
      checkpoint_path=cfg.train_dir,
      eval_dir=eval_options.eval_dir or os.path.join(cfg.train_dir, 'eval'),
      model_name=cfg.model_name, dataset_name=cfg.dataset_name,
      dataset_dir=cfg.dataset_dir, dataset_split_name=split,
      preprocessing_name=cfg.preprocessing_name, batch_size=cfg.batch_size,
      labels_offset=cfg.labels_offset, num_readers=cfg.num_readers,
      num_preprocessing_threads=cfg.num_preprocessing_threads,
      use_grayscale=cfg.use_grayscale,
      moving_average_decay=cfg.moving_average_decay,
      eval_interval_secs=eval_options.interval_secs,
      timeout=eval_options.timeout, inter_op_threads=cfg.inter_op_threads,
      intra_op_threads=cfg.intra_op_threads)


@dataclasses.dataclass(frozen=True)
class EvaluatorOptions:
  """The evaluator replica's settings (flags --eval_*)."""
  eval_dir: str = None
  split_name: str = None
  interval_secs: int = 10
  timeout: int = None


def run_replica(tf_config, cfg, eval_options=EvaluatorOptions(),
                on_result=None):
  """Runs this replica's role (see the module docstring).

  Args:
    tf_config: the parsed TF_CONFIG.
    cfg: the train.TrainConfig of the command line (its cluster fields are
      replaced by TF_CONFIG's).
    eval_options: EvaluatorOptions, for the evaluator.
    on_result: for the evaluator, called with each evaluation's results.

  Returns:
    A trainer's train.train() dict; {} for ps and evaluator.

  Raises:
    UsageError: bad configuration, an unreachable peer, or the role's own
      errors (train.train, evaluate.run).
  """
  from slim_zoo import evaluate
  from slim_zoo import train
  if eval_options.interval_secs < 1:
    raise UsageError(f'--eval_interval_secs must be >= 1, got '
                     f'{eval_options.interval_secs}.')
  logging.info('TF_CONFIG: this replica is %s.', tf_config.describe())
  if tf_config.task_type == EVALUATOR:
    eval_cfg = evaluator_config(cfg, eval_options)
    # The evaluator may start before the chief made --train_dir; following
    # an empty directory waits for its first checkpoint.
    os.makedirs(cfg.train_dir, exist_ok=True)
    evaluate.run(eval_cfg, on_result=on_result)
    return {}
  if not tf_config.distributed:
    return train.train(trainer_config(tf_config, cfg, ''))
  if tf_config.task_type == PS:
    # The command line is checked as the chief's would be: a ps that serves
    # a job which cannot train would only hide the error.
    train.validate_config(dataclasses.replace(
        trainer_config(tf_config, cfg, f'grpc://{tf_config.trainers[0]}'),
        task=0))
    return _run_ps(tf_config, cfg)
  # Checked before the server starts; the server's target is the same
  # address as seen from this process.
  train.validate_config(trainer_config(tf_config, cfg,
                                       f'grpc://{tf_config.address}'))
  num_cpu_devices = cfg.num_clones if cfg.clone_on_cpu else 1
  server = start_server(tf_config, num_cpu_devices)
  trainer_cfg = trainer_config(tf_config, cfg, server.target)
  for what, address in _peers(tf_config):
    wait_for(address, what, cfg.master_wait_secs)
  values = train.train(trainer_cfg)
  finished = (cfg.max_number_of_steps is not None and
              values.get('step', 0) >= cfg.max_number_of_steps)
  if finished:
    report_done(tf_config, server.target, trainer_cfg.task)
  return values


def _run_ps(tf_config, cfg):
  server = start_server(tf_config)
  # The wait blocks in C++, where Python's handlers never run: SIGTERM and
  # Ctrl-C end the process at once (a ps holds nothing to save).
  for signum in (signal.SIGTERM, signal.SIGINT):
    signal.signal(signum, signal.SIG_DFL)
  if cfg.max_number_of_steps is None:
    # A run without a last step has no end to wait for.
    while True:
      time.sleep(3600)
  serve_ps(tf_config, server)
  logging.info('TF_CONFIG ps %d: every trainer finished; exiting.',
               tf_config.task_index)
  return {}
