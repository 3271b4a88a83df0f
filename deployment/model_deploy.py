"""Deploys a model over several clones, worker replicas and parameter servers.

The public API follows TF-Slim's `model_deploy`:

* `DeploymentConfig` says where things run: `num_clones` copies of the model
  ("clones") on the devices of one worker, `num_replicas` workers training
  the same model (between-graph replication), and `num_ps_tasks` parameter
  servers holding the variables round-robin.
* `create_clones(config, model_fn)` builds the model once per clone; clone 0
  creates the variables and the other clones reuse them. `model_fn` adds its
  losses to the `tf.GraphKeys.LOSSES` collection (`tf.losses.*` or
  `slim.losses.*` do this).
* `optimize_clones(clones, optimizer)` turns the clone losses into one total
  loss and the gradients of every variable summed over the clones.
* `deploy(config, model_fn, ...)` does both and returns the train op.

Each clone loss is divided by the number of clones, so with clones that see
equal shares of a batch, the summed gradient is the gradient of one model on
the whole batch; the regularization losses are counted once.

Example (each clone reads its own batch from one iterator):

  config = model_deploy.DeploymentConfig(num_clones=2)
  with tf.device(config.variables_device()):
    global_step = tf.train.get_or_create_global_step()
  with tf.device(config.inputs_device()):
    iterator = tf.data.make_one_shot_iterator(dataset)  # per-clone batches

  def model_fn(iterator):
    with tf.device(config.inputs_device()):
      images, labels = iterator.get_next()
    logits, _ = network_fn(images)
    tf.losses.softmax_cross_entropy(labels, logits)
    return logits

  clones = model_deploy.create_clones(config, model_fn, [iterator])
  with tf.device(config.optimizer_device()):
    optimizer = tf.train.GradientDescentOptimizer(0.1)
  total_loss, grads_and_vars = model_deploy.optimize_clones(clones, optimizer)
  with tf.device(config.optimizer_device()):
    train_op = optimizer.apply_gradients(grads_and_vars, global_step)

Run it in a session with `config.session_config()` (soft placement, and the
CPU devices of `separate_cpu_devices`), or through a gRPC cluster
(start_tf_server.py).

Device strings follow research/slim (a clone is on `/device:GPU:i`, or on
`/device:CPU:0` with clone_on_cpu, even on a machine without that device),
with one deliberate departure: with parameter servers a worker's devices
carry its task, `/job:worker/task:<replica_id>/...`, where research/slim
gives every replica `/job:worker/...` and leaves the task to the cluster
(TF-Slim issue #3945: replicas then ran on whichever worker task the runtime
picked).
"""

import collections

from slim_zoo.nets.compat import slim, tf
from slim_zoo.errors import UsageError

__all__ = [
    'Clone', 'DeployedModel', 'DeploymentConfig', 'create_clones',
    'optimize_clones', 'deploy',
]

# One built copy of the model.
#   outputs: whatever model_fn returned.
#   scope: the name scope of the clone ('clone_1/'; '' for a single clone),
#     used to pick the clone's losses, summaries and update ops.
#   device: the device string the clone was built under.
Clone = collections.namedtuple('Clone', ['outputs', 'scope', 'device'])

# What deploy() returns.
#   train_op: runs the update ops of clone 0, applies the gradients and
#     returns the total loss (None without an optimizer).
#   summary_op: all merged summaries (None when there are none).
#   total_loss: scalar, the sum of the clone losses and regularization.
#   clones: the list of Clone.
DeployedModel = collections.namedtuple(
    'DeployedModel', ['train_op', 'summary_op', 'total_loss', 'clones'])

# Op types that hold variable state and therefore go to the parameter
# servers (the same set tf.train.replica_device_setter moves).
_VARIABLE_OP_TYPES = frozenset([
    'Variable', 'VariableV2', 'VarHandleOp', 'AutoReloadVariable',
    'MutableHashTable', 'MutableHashTableV2', 'MutableHashTableOfTensors',
    'MutableHashTableOfTensorsV2', 'MutableDenseHashTable',
    'MutableDenseHashTableV2',
])


def _check_int(name, value, minimum):
  if isinstance(value, bool) or not isinstance(value, int):
    raise UsageError(f'DeploymentConfig: {name} must be an integer >= '
                     f'{minimum}, got {value!r}.')
  if value < minimum:
    raise UsageError(f'DeploymentConfig: {name} must be >= {minimum}, got '
                     f'{value}.')


def _check_job_name(name, value):
  if not isinstance(value, str) or not value or '/' in value or ':' in value:
    raise UsageError(f'DeploymentConfig: {name} must be a non-empty job name '
                     f'without "/" or ":" (e.g. "worker", "ps"), got '
                     f'{value!r}.')


class _RoundRobinPsChooser:
  """Device function putting each variable op on the next ps task.

  Ops that are not variables, and ops that already have a device, keep the
  device they have (so they fall through to the enclosing device scopes).
  """

  def __init__(self, ps_device, num_tasks):
    self._ps_device = ps_device
    self._num_tasks = num_tasks
    self._next_task = 0

  def __call__(self, op):
    if op.device:
      return op.device
    node_def = op if isinstance(op, tf.NodeDef) else op.node_def
    if node_def.op not in _VARIABLE_OP_TYPES:
      return op.device
    task = self._next_task
    self._next_task = (task + 1) % self._num_tasks
    return f'{self._ps_device}/task:{task}/device:CPU:0'


class DeploymentConfig:
  """Where the clones, inputs, optimizer and variables of a model run.

  Between-graph replication: every worker process (replica) builds the same
  graph with its own `replica_id`; variables live on the parameter servers
  (`/job:<ps_job_name>/task:k`, assigned round-robin) and each worker's
  clones, inputs and optimizer run on `/job:<worker_job_name>/task:<replica_id>`.
  Without parameter servers (`num_ps_tasks=0`) everything is local to the
  process and the device strings carry no job.
  """

  def __init__(self, num_clones=1, clone_on_cpu=False, replica_id=0,
               num_replicas=1, num_ps_tasks=0, worker_job_name='worker',
               ps_job_name='ps', separate_cpu_devices=False):
    """Validates and stores the deployment.

    Args:
      num_clones: copies of the model per worker, one per device.
      clone_on_cpu: put every clone on `/device:CPU:0` instead of
        `/device:GPU:i`, as research/slim does, so any session can run it.
      replica_id: index of this worker, in [0, num_replicas).
      num_replicas: number of worker processes training the model.
      num_ps_tasks: number of parameter-server tasks (0 = no ps, local
        variables).
      worker_job_name: job name of the workers in the cluster spec.
      ps_job_name: job name of the parameter servers in the cluster spec.
      separate_cpu_devices: with clone_on_cpu, put clone i on its own
        `/device:CPU:i` (one logical CPU device per clone, e.g. to test
        multi-clone placement). Only a session configured with `num_clones`
        CPU devices can run it: `session_config()` asks for them.

    Raises:
      ValueError: a value is out of range, or num_replicas > 1 without
        parameter servers.
    """
    _check_int('num_clones', num_clones, 1)
    _check_int('num_replicas', num_replicas, 1)
    _check_int('num_ps_tasks', num_ps_tasks, 0)
    _check_int('replica_id', replica_id, 0)
    for name, value in (('clone_on_cpu', clone_on_cpu),
                        ('separate_cpu_devices', separate_cpu_devices)):
      if not isinstance(value, bool):
        raise UsageError(f'DeploymentConfig: {name} must be True or False, '
                         f'got {value!r}.')
    if separate_cpu_devices and not clone_on_cpu:
      raise UsageError('DeploymentConfig: separate_cpu_devices=True places '
                       'CPU clones and needs clone_on_cpu=True.')
    if replica_id >= num_replicas:
      raise UsageError(f'DeploymentConfig: replica_id={replica_id} is out of '
                       f'range for num_replicas={num_replicas}; valid ids are '
                       f'0..{num_replicas - 1}.')
    if num_replicas > 1 and num_ps_tasks == 0:
      raise UsageError(f'DeploymentConfig: num_replicas={num_replicas} needs '
                       'parameter servers to share the variables; set '
                       'num_ps_tasks >= 1.')
    _check_job_name('worker_job_name', worker_job_name)
    _check_job_name('ps_job_name', ps_job_name)
    if num_ps_tasks > 0 and worker_job_name == ps_job_name:
      raise UsageError(f'DeploymentConfig: worker_job_name and ps_job_name '
                       f'are both {worker_job_name!r}; use two different job '
                       'names (e.g. "worker" and "ps").')
    self._num_clones = num_clones
    self._clone_on_cpu = clone_on_cpu
    self._separate_cpu_devices = separate_cpu_devices
    self._replica_id = replica_id
    self._num_replicas = num_replicas
    self._num_ps_tasks = num_ps_tasks
    if num_ps_tasks > 0:
      self._ps_device = f'/job:{ps_job_name}'
      self._worker_device = f'/job:{worker_job_name}/task:{replica_id}'
    else:
      self._ps_device = ''
      self._worker_device = ''

  def __repr__(self):
    return (f'DeploymentConfig(num_clones={self._num_clones}, '
            f'clone_on_cpu={self._clone_on_cpu}, '
            f'separate_cpu_devices={self._separate_cpu_devices}, '
            f'replica_id={self._replica_id}, '
            f'num_replicas={self._num_replicas}, '
            f'num_ps_tasks={self._num_ps_tasks}, '
            f'worker_device={self._worker_device!r}, '
            f'ps_device={self._ps_device!r})')

  @property
  def num_clones(self):
    return self._num_clones

  @property
  def clone_on_cpu(self):
    return self._clone_on_cpu

  @property
  def separate_cpu_devices(self):
    return self._separate_cpu_devices

  @property
  def replica_id(self):
    return self._replica_id

  @property
  def num_replicas(self):
    return self._num_replicas

  @property
  def num_ps_tasks(self):
    return self._num_ps_tasks

  @property
  def ps_device(self):
    """'/job:<ps_job_name>' with parameter servers, else ''."""
    return self._ps_device

  @property
  def worker_device(self):
    """'/job:<worker_job_name>/task:<replica_id>' with ps tasks, else ''."""
    return self._worker_device

  def caching_device(self):
    """Device for the cached reads of the variables, for tf.variable_scope.

    Returns:
      With parameter servers, a device function that leaves a variable's
      cached read on the device of the scope reading it (this worker), so the
      value crosses the network once per step; None (read where the variable
      lives) otherwise.
    """
    if self._num_ps_tasks > 0:
      return lambda op: op.device
    return None

  def clone_device(self, clone_index):
    """Device string of clone `clone_index`.

    Clone i gets `/device:GPU:i`, as in research/slim, also on a machine
    without GPUs (`session_config()` allows soft placement, which then runs
    it on the CPU). With clone_on_cpu every clone gets `/device:CPU:0`, or
    `/device:CPU:i` with separate_cpu_devices.

    Args:
      clone_index: int in [0, num_clones).

    Returns:
      A device string such as '/job:worker/task:1/device:GPU:0'.

    Raises:
      ValueError: clone_index is out of range.
    """
    self._check_clone_index(clone_index)
    if self._clone_on_cpu:
      index = clone_index if self._separate_cpu_devices else 0
      return f'{self._worker_device}/device:CPU:{index}'
    return f'{self._worker_device}/device:GPU:{clone_index}'

  def clone_scope(self, clone_index):
    """Name scope of clone `clone_index`: 'clone_<i>', '' for one clone.

    Raises:
      ValueError: clone_index is out of range.
    """
    self._check_clone_index(clone_index)
    if self._num_clones == 1:
      return ''
    return f'clone_{clone_index}'

  def optimizer_device(self):
    """Device string for the optimizer: this worker's CPU."""
    return f'{self._worker_device}/device:CPU:0'

  def inputs_device(self):
    """Device string for the input pipeline: this worker's CPU."""
    return f'{self._worker_device}/device:CPU:0'

  def variables_device(self):
    """Device (string or function) for creating variables.

    Returns:
      '/device:CPU:0' without parameter servers. With them, a device function
      that places every variable op on the next ps task round-robin
      ('/job:ps/task:0/device:CPU:0', '/job:ps/task:1/device:CPU:0', ...)
      and leaves other ops to the enclosing device scopes. Each call returns
      a fresh function that starts at task 0, so workers building the same
      graph place the variables identically.
    """
    if self._num_ps_tasks == 0:
      return '/device:CPU:0'
    return _RoundRobinPsChooser(self._ps_device, self._num_ps_tasks)

  def session_config(self, **kwargs):
    """A tf.ConfigProto for a local session that can run this deployment.

    It allows soft placement (GPU clones run on the CPU when there is no
    GPU; CPU-only ops may sit inside a GPU clone scope) and, with several
    CPU clones, asks for `num_clones` CPU devices: needed with
    separate_cpu_devices, and unused (logical devices cost nothing) but
    kept otherwise, so the sessions of the training script are the same
    whichever placement built the graph. With a gRPC cluster the devices
    come from the servers' own config instead.

    Args:
      **kwargs: more ConfigProto fields (e.g. log_device_placement=True).

    Returns:
      A tf.ConfigProto.
    """
    kwargs.setdefault('allow_soft_placement', True)
    if self._clone_on_cpu and self._num_clones > 1:
      kwargs.setdefault('device_count', {'CPU': self._num_clones})
    return tf.ConfigProto(**kwargs)

  def _check_clone_index(self, clone_index):
    if (isinstance(clone_index, bool) or not isinstance(clone_index, int) or
        not 0 <= clone_index < self._num_clones):
      raise UsageError(f'clone_index must be an integer in [0, '
                       f'{self._num_clones}) for num_clones='
                       f'{self._num_clones}, got {clone_index!r}.')


def create_clones(config, model_fn, args=None, kwargs=None):
  """Builds `config.num_clones` copies of the model.

  Clone i is built under tf.name_scope(config.clone_scope(i)) and
  tf.device(config.clone_device(i)); slim variables (model_variable and
  variable) go to config.variables_device(). Clone 0 creates the variables,
  the others reuse them.

  Args:
    config: a DeploymentConfig.
    model_fn: callable(*args, **kwargs) building the model; it adds its
      losses to tf.GraphKeys.LOSSES and may return anything.
    args: positional arguments of model_fn.
    kwargs: keyword arguments of model_fn.

  Returns:
    A list of `num_clones` Clone tuples.
  """
  args = list(args or [])
  kwargs = dict(kwargs or {})
  clones = []
  with slim.arg_scope([slim.model_variable, slim.variable],
                      device=config.variables_device()):
    for i in range(config.num_clones):
      with tf.name_scope(config.clone_scope(i)) as scope:
        device = config.clone_device(i)
        with tf.device(device):
          with tf.variable_scope(tf.get_variable_scope(),
                                 reuse=True if i > 0 else None):
            outputs = model_fn(*args, **kwargs)
        clones.append(Clone(outputs, scope, device))
  return clones


def _clone_loss(clone, num_clones, regularization_losses):
  """Loss of one clone: its losses / num_clones, plus the given regularization.

  Returns:
    A scalar tensor, or None when the clone has no loss and no regularization
    was given.
  """
  parts = []
  clone_loss = reg = None
  with tf.device(clone.device):
    clone_losses = tf.get_collection(tf.GraphKeys.LOSSES, clone.scope)
    if clone_losses:
      clone_loss = tf.add_n(clone_losses, name='sum_of_losses')
      loss = clone_loss
      if num_clones > 1:
        loss = tf.div(loss, float(num_clones), name='scaled_clone_loss')
      parts.append(loss)
    if regularization_losses:
      reg = tf.add_n(list(regularization_losses),
                     name='sum_of_regularization_losses')
      parts.append(reg)
    total = None
    if parts:
      total = tf.add_n(parts) if len(parts) > 1 else parts[0]
  # Summary ops have no GPU kernels: pin them to the CPU of the clone's
  # worker, as research/slim does (its testNoSummariesOnGPU).
  with tf.device(_cpu_of(clone.device)):
    if clone_loss is not None:
      tf.summary.scalar('clone_loss', clone_loss)
    if reg is not None:
      tf.summary.scalar('regularization_loss', reg)
  return total


def _cpu_of(device):
  """'/job:worker/task:1/device:GPU:1' -> '/job:worker/task:1/device:CPU:0'."""
  spec = tf.DeviceSpec.from_string(device or '')
  return spec.replace(device_type='CPU', device_index=0).to_string()


def _sum_gradients(grads):
  """Sum of gradients of one variable; IndexedSlices are concatenated."""
  if len(grads) == 1:
    return grads[0]
  if all(isinstance(g, tf.IndexedSlices) for g in grads):
    return tf.IndexedSlices(tf.concat([g.values for g in grads], 0),
                            tf.concat([g.indices for g in grads], 0),
                            grads[0].dense_shape)
  return tf.add_n([tf.convert_to_tensor(g) for g in grads])


def _sum_clones_gradients(clone_grads):
  """Sums, per variable, the gradients of all clones.

  Args:
    clone_grads: list (one per clone) of lists of (gradient, variable), all
      over the same variables in the same order.

  Returns:
    List of (summed gradient, variable), leaving out variables that no clone
    has a gradient for.
  """
  summed = []
  for grad_and_vars in zip(*clone_grads):
    var = grad_and_vars[0][1]
    if any(v is not var for _, v in grad_and_vars):
      raise UsageError('optimize_clones: the clones computed gradients for '
                       'different variables; pass the same var_list to '
                       'every clone.')
    grads = [g for g, _ in grad_and_vars if g is not None]
    if not grads:
      continue
    with tf.name_scope(var.op.name + '/sum_grads'):
      summed.append((_sum_gradients(grads), var))
  return summed


def optimize_clones(clones, optimizer, regularization_losses=None, **kwargs):
  """Total loss and summed gradients of the clones.

  Clone i's loss is the sum of its tf.GraphKeys.LOSSES, divided by the number
  of clones when there are several; the regularization losses are added to
  the first clone's loss only. Each clone's gradients are computed on its own
  device and then summed per variable, so they equal the gradients of one
  model on the union of the clones' batches.

  Args:
    clones: list of Clone from create_clones.
    optimizer: a tf.train.Optimizer (only compute_gradients is called).
    regularization_losses: tensors to add once; None takes the
      tf.GraphKeys.REGULARIZATION_LOSSES collection.
    **kwargs: passed to optimizer.compute_gradients (e.g. var_list).

  Returns:
    (total_loss, grads_and_vars): the scalar sum of the clone losses (None
    when there are no losses at all) and a list of (gradient, variable).
  """
  if regularization_losses is None:
    regularization_losses = tf.get_collection(
        tf.GraphKeys.REGULARIZATION_LOSSES)
  num_clones = len(clones)
  losses = []
  clone_grads = []
  for clone in clones:
    with tf.name_scope(clone.scope):
      loss = _clone_loss(clone, num_clones, regularization_losses)
      if loss is not None:
        with tf.device(clone.device):
          clone_grads.append(optimizer.compute_gradients(loss, **kwargs))
        losses.append(loss)
    regularization_losses = None  # Counted once, with the first clone.
  total_loss = tf.add_n(losses, name='total_loss') if losses else None
  return total_loss, _sum_clones_gradients(clone_grads)


def _gradient_summaries(grads_and_vars):
  summaries = []
  for grad, var in grads_and_vars:
    values = grad.values if isinstance(grad, tf.IndexedSlices) else grad
    summaries.append(tf.summary.histogram(var.op.name + ':gradient', values))
    summaries.append(tf.summary.scalar(var.op.name + ':gradient_norm',
                                       tf.global_norm([values])))
  return summaries


def deploy(config, model_fn, args=None, kwargs=None, optimizer=None,
           summarize_gradients=False):
  """Builds the clones and, with an optimizer, the train op.

  The train op runs the update ops (e.g. batch-norm moving averages) of the
  first clone only, applies the summed gradients (incrementing the global
  step, created on the variables device if missing) and returns the total
  loss. Summaries are those that existed before the call, those of the first
  clone, the loss summaries and, with summarize_gradients, a histogram and
  norm per gradient.

  Args:
    config: a DeploymentConfig.
    model_fn: callable building the model and its losses (see
      create_clones).
    args: positional arguments of model_fn.
    kwargs: keyword arguments of model_fn.
    optimizer: a tf.train.Optimizer, or None to build only the losses.
    summarize_gradients: add gradient summaries.

  Returns:
    A DeployedModel; train_op is None without an optimizer.
  """
  summaries = set(tf.get_collection(tf.GraphKeys.SUMMARIES))
  clones = create_clones(config, model_fn, args, kwargs)
  first_scope = clones[0].scope
  update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS, first_scope)
  train_op = None
  if optimizer is not None:
    with tf.device(config.variables_device()):
      global_step = tf.train.get_or_create_global_step()
    # Gradients are computed on each clone's device, not the optimizer's.
    total_loss, grads_and_vars = optimize_clones(clones, optimizer)
    with tf.device(config.optimizer_device()):
      if grads_and_vars:
        if summarize_gradients:
          summaries.update(_gradient_summaries(grads_and_vars))
        apply_op = optimizer.apply_gradients(grads_and_vars,
                                             global_step=global_step)
        with tf.control_dependencies([tf.group(apply_op, *update_ops)]):
          train_op = tf.identity(total_loss, name='train_op')
  else:
    losses = []
    regularization_losses = tf.get_collection(
        tf.GraphKeys.REGULARIZATION_LOSSES)
    for clone in clones:
      with tf.name_scope(clone.scope):
        loss = _clone_loss(clone, len(clones), regularization_losses)
        if loss is not None:
          losses.append(loss)
      regularization_losses = None
    total_loss = tf.add_n(losses, name='total_loss') if losses else None
  with tf.device(config.optimizer_device()):
    summaries.update(tf.get_collection(tf.GraphKeys.SUMMARIES, first_scope))
    if total_loss is not None:
      summaries.add(tf.summary.scalar('total_loss', total_loss))
    summary_op = None
    if summaries:
      summary_op = tf.summary.merge(sorted(summaries, key=lambda s: s.name),
                                    name='summary_op')
  return DeployedModel(train_op, summary_op, total_loss, clones)
