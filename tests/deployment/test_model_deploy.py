"""deployment/model_deploy: device strings, validation, clones vs one model.

The numerical tests build a tiny conv net with constant initial weights
twice: once as one clone on a batch of 8, once as two clones on
/device:CPU:0 and /device:CPU:1 (separate_cpu_devices: two logical CPUs from
ConfigProto(device_count={'CPU': 2})) each on half of it.

The device strings are research/slim's (model_deploy_test.py's testDefaults,
testCPUonly, testMultiGPU, testPS, testMultiGPUPS, testReplicasPS) except the
deliberate `/task:<replica_id>` of a worker (TF-Slim issue #3945).
"""

import numpy as np
import pytest

from slim_zoo.deployment import model_deploy
from slim_zoo.nets.compat import slim, tf

W = '/job:worker'
PS = '/job:ps'

# (num_clones, clone_on_cpu, num_ps_tasks, num_replicas, replica_id) ->
# (clone devices, inputs/optimizer device, variables device (None = ps
# chooser), worker_device, ps_device). Written out literally on purpose.
DEVICE_CASES = {
    # research/slim: GPU:i even for one clone and on a CPU-only machine.
    (1, False, 0, 1, 0): (['/device:GPU:0'], '/device:CPU:0', '/device:CPU:0',
                          '', ''),
    # research/slim: every CPU clone on CPU:0.
    (1, True, 0, 1, 0): (['/device:CPU:0'], '/device:CPU:0', '/device:CPU:0',
                         '', ''),
    (2, False, 0, 1, 0): (['/device:GPU:0', '/device:GPU:1'], '/device:CPU:0',
                          '/device:CPU:0', '', ''),
    (2, True, 0, 1, 0): (['/device:CPU:0', '/device:CPU:0'], '/device:CPU:0',
                         '/device:CPU:0', '', ''),
    # Departure: research/slim has '/job:worker/device:...' with no task.
    (1, False, 2, 1, 0): ([W + '/task:0/device:GPU:0'],
                          W + '/task:0/device:CPU:0', None, W + '/task:0', PS),
    (1, True, 2, 1, 0): ([W + '/task:0/device:CPU:0'],
                         W + '/task:0/device:CPU:0', None, W + '/task:0', PS),
    (2, False, 2, 1, 0): ([W + '/task:0/device:GPU:0',
                           W + '/task:0/device:GPU:1'],
                          W + '/task:0/device:CPU:0', None, W + '/task:0', PS),
    (2, True, 2, 1, 0): ([W + '/task:0/device:CPU:0',
                          W + '/task:0/device:CPU:0'],
                         W + '/task:0/device:CPU:0', None, W + '/task:0', PS),
    (1, False, 2, 2, 1): ([W + '/task:1/device:GPU:0'],
                          W + '/task:1/device:CPU:0', None, W + '/task:1', PS),
    (1, True, 2, 2, 1): ([W + '/task:1/device:CPU:0'],
                         W + '/task:1/device:CPU:0', None, W + '/task:1', PS),
    (2, False, 2, 2, 1): ([W + '/task:1/device:GPU:0',
                           W + '/task:1/device:GPU:1'],
                          W + '/task:1/device:CPU:0', None, W + '/task:1', PS),
    (2, True, 2, 2, 0): ([W + '/task:0/device:CPU:0',
                          W + '/task:0/device:CPU:0'],
                         W + '/task:0/device:CPU:0', None, W + '/task:0', PS),
    (2, True, 2, 2, 1): ([W + '/task:1/device:CPU:0',
                          W + '/task:1/device:CPU:0'],
                         W + '/task:1/device:CPU:0', None, W + '/task:1', PS),
}


@pytest.mark.parametrize('case', sorted(DEVICE_CASES), ids=str)
def test_device_strings(case):
  num_clones, on_cpu, num_ps, num_replicas, replica_id = case
  clones, local_cpu, variables, worker, ps = DEVICE_CASES[case]
  config = model_deploy.DeploymentConfig(
      num_clones=num_clones, clone_on_cpu=on_cpu, num_ps_tasks=num_ps,
      num_replicas=num_replicas, replica_id=replica_id)
  assert [config.clone_device(i) for i in range(num_clones)] == clones
  expected_scopes = [''] if num_clones == 1 else ['clone_0', 'clone_1']
  assert [config.clone_scope(i) for i in range(num_clones)] == expected_scopes
  assert config.inputs_device() == local_cpu
  assert config.optimizer_device() == local_cpu
  assert config.worker_device == worker
  assert config.ps_device == ps
  assert (config.num_clones, config.clone_on_cpu, config.num_ps_tasks,
          config.num_replicas, config.replica_id) == case
  if variables is not None:
    assert config.variables_device() == variables
    assert config.caching_device() is None
  else:
    assert callable(config.variables_device())
    assert callable(config.caching_device())


def test_separate_cpu_devices_only_when_asked():
  config = model_deploy.DeploymentConfig(num_clones=2, clone_on_cpu=True,
                                         separate_cpu_devices=True,
                                         num_ps_tasks=2, num_replicas=2,
                                         replica_id=1)
  assert [config.clone_device(i) for i in range(2)] == [
      W + '/task:1/device:CPU:0', W + '/task:1/device:CPU:1']
  assert config.separate_cpu_devices
  assert not model_deploy.DeploymentConfig().separate_cpu_devices


def test_ps_chooser_is_round_robin_over_variables_only():
  config = model_deploy.DeploymentConfig(num_clones=2, clone_on_cpu=True,
                                         separate_cpu_devices=True,
                                         num_ps_tasks=2, num_replicas=2,
                                         replica_id=1)
  with tf.Graph().as_default() as graph:
    images = tf.zeros([2, 8, 8, 1])

    def model_fn():
      net = slim.conv2d(images, 2, [3, 3], scope='conv')
      net = slim.fully_connected(slim.flatten(net), 3, scope='fc')
      tf.losses.mean_squared_error(tf.zeros([2, 3]), net)

    clones = model_deploy.create_clones(config, model_fn)
    variables = [v.op for v in tf.global_variables()]
    assert [v.name for v in variables] == [
        'conv/weights', 'conv/biases', 'fc/weights', 'fc/biases']
    assert [v.device for v in variables] == [
        f'/job:ps/task:{t}/device:CPU:0' for t in (0, 1, 0, 1)]
    conv1 = graph.get_operation_by_name('clone_1/conv/Conv2D')
    assert conv1.device == '/job:worker/task:1/device:CPU:1'
    conv0 = graph.get_operation_by_name('clone_0/conv/Conv2D')
    assert conv0.device == '/job:worker/task:1/device:CPU:0'
    assert [c.scope for c in clones] == ['clone_0/', 'clone_1/']


@pytest.mark.parametrize('kwargs, message', [
    ({'num_clones': 0}, 'num_clones must be >= 1, got 0'),
    ({'num_clones': 1.5}, 'num_clones must be an integer'),
    ({'num_clones': True}, 'num_clones must be an integer'),
    ({'num_ps_tasks': -1}, 'num_ps_tasks must be >= 0, got -1'),
    ({'num_replicas': 0}, 'num_replicas must be >= 1'),
    ({'replica_id': -1}, 'replica_id must be >= 0'),
    ({'replica_id': 2, 'num_replicas': 2, 'num_ps_tasks': 1},
     r'replica_id=2 is out of range for num_replicas=2; valid ids are 0\.\.1'),
    ({'num_replicas': 2}, 'num_replicas=2 needs parameter servers'),
    ({'clone_on_cpu': 'yes'}, 'clone_on_cpu must be True or False'),
    ({'clone_on_cpu': True, 'separate_cpu_devices': 1},
     'separate_cpu_devices must be True or False'),
    ({'separate_cpu_devices': True}, 'needs clone_on_cpu=True'),
    ({'worker_job_name': ''}, 'worker_job_name must be a non-empty job name'),
    ({'ps_job_name': '/job:ps'}, 'ps_job_name must be a non-empty job name'),
    ({'num_ps_tasks': 1, 'ps_job_name': 'worker'},
     "both 'worker'; use two different job names"),
])
def test_invalid_config(kwargs, message):
  with pytest.raises(ValueError, match=message):
    model_deploy.DeploymentConfig(**kwargs)


def test_clone_index_out_of_range():
  config = model_deploy.DeploymentConfig(num_clones=2)
  for method in (config.clone_device, config.clone_scope):
    with pytest.raises(ValueError, match=r'in \[0, 2\).*got 2'):
      method(2)
    with pytest.raises(ValueError, match=r'got -1'):
      method(-1)


def test_session_config():
  config = model_deploy.DeploymentConfig(num_clones=3, clone_on_cpu=True,
                                         separate_cpu_devices=True)
  proto = config.session_config(log_device_placement=True)
  assert proto.device_count['CPU'] == 3
  assert proto.allow_soft_placement and proto.log_device_placement
  proto = model_deploy.DeploymentConfig(num_clones=2).session_config()
  assert 'CPU' not in proto.device_count


def _tiny_model_fn():
  """research/slim's test model: one regularized fully connected layer."""
  inputs = tf.constant(1.0, shape=(10, 20), dtype=tf.float32)
  net = slim.fully_connected(
      inputs, 30, weights_regularizer=slim.l2_regularizer(0.001),
      weights_initializer=tf.constant_initializer(0.01))
  # Every output is relu(20 * 0.01) = 0.2.
  tf.losses.mean_squared_error(tf.zeros([10, 30]), net)


def test_clone_on_cpu_runs_in_a_default_session():
  # research/slim puts every CPU clone on CPU:0, so a session with no
  # ConfigProto (one CPU device) can run two clones.
  config = model_deploy.DeploymentConfig(num_clones=2, clone_on_cpu=True)
  with tf.Graph().as_default():
    model = model_deploy.deploy(config, _tiny_model_fn,
                                optimizer=tf.train.GradientDescentOptimizer(
                                    0.0))
    assert [c.device for c in model.clones] == ['/device:CPU:0'] * 2
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      loss = sess.run(model.train_op)
  # Each clone: mean(0.2^2) / 2 clones; regularization once:
  # 0.001 * sum(w^2) / 2 = 0.001 * 600 * 1e-4 / 2.
  expected = 2 * (0.04 / 2) + 0.001 * 20 * 30 * 0.01 ** 2 / 2
  assert abs(loss - expected) < 1e-6


@pytest.mark.parametrize('with_optimizer', [True, False])
def test_no_summaries_on_gpu(with_optimizer):
  # research/slim's testNoSummariesOnGPU / testNoSummariesOnGPUForEvals.
  config = model_deploy.DeploymentConfig(num_clones=2)
  optimizer = None
  if with_optimizer:
    optimizer = tf.train.GradientDescentOptimizer(1.0)
  with tf.Graph().as_default():
    model = model_deploy.deploy(config, _tiny_model_fn, optimizer=optimizer)
    inputs = list(model.summary_op.op.inputs)
    # Clone 0's loss and regularization loss, and the total loss.
    assert [t.op.name for t in inputs] == [
        'clone_0/clone_loss', 'clone_0/regularization_loss', 'total_loss_1']
    assert {t.device for t in inputs} == {'/device:CPU:0'}


# --- numerical equivalence of two clones and one clone ---------------------

BATCH = 8
WEIGHT_DECAY = 0.01
_RNG = np.random.RandomState(0)
IMAGES = _RNG.uniform(-1, 1, [BATCH, 6, 6, 2]).astype(np.float32)
LABELS = _RNG.randint(0, 4, [BATCH])
CONV_W = _RNG.normal(0, 0.5, [3, 3, 2, 3]).astype(np.float32)
FC_W = _RNG.normal(0, 0.3, [3 * 3 * 3, 4]).astype(np.float32)
FC_B = _RNG.normal(0, 0.1, [4]).astype(np.float32)


def _make_model_fn(num_clones, use_batch_norm=False):
  """model_fn for create_clones: clone i takes slice i of the batch."""
  images = tf.constant(IMAGES)
  labels = tf.one_hot(tf.constant(LABELS), 4)
  image_parts = tf.split(images, num_clones)
  label_parts = tf.split(labels, num_clones)
  built = []

  def model_fn():
    i = len(built)
    net = slim.conv2d(
        image_parts[i], 3, [3, 3], stride=2, scope='conv',
        weights_initializer=tf.constant_initializer(CONV_W),
        weights_regularizer=slim.l2_regularizer(WEIGHT_DECAY))
    if use_batch_norm:
      net = slim.batch_norm(net, decay=0.5, is_training=True, scope='bn')
    logits = slim.fully_connected(
        slim.flatten(net), 4, activation_fn=None, scope='fc',
        weights_initializer=tf.constant_initializer(FC_W),
        biases_initializer=tf.constant_initializer(FC_B))
    tf.losses.softmax_cross_entropy(label_parts[i], logits)
    built.append(logits)
    return logits

  return model_fn


def _run_deploy(num_clones):
  """Deploys the model on 1 or 2 CPU clones and runs one SGD step.

  Returns:
    Dict with the total loss and gradients before the step (the gradients
    are the inputs of the ApplyGradientDescent ops deploy() built), the
    variables after it, the devices that ran ops, and the clones.
  """
  config = model_deploy.DeploymentConfig(num_clones=num_clones,
                                         clone_on_cpu=True,
                                         separate_cpu_devices=True)
  with tf.Graph().as_default() as graph:
    model = model_deploy.deploy(config, _make_model_fn(num_clones),
                                optimizer=tf.train.GradientDescentOptimizer(
                                    0.5),
                                summarize_gradients=True)
    grads = {op.inputs[0].op.name: op.inputs[2]
             for op in graph.get_operations()
             if op.type == 'ApplyGradientDescent'}
    with tf.Session(config=config.session_config(
        allow_soft_placement=False)) as sess:
      sess.run(tf.global_variables_initializer())
      metadata = tf.RunMetadata()
      loss_value, grad_values = sess.run(
          [model.total_loss, grads],
          options=tf.RunOptions(output_partition_graphs=True),
          run_metadata=metadata)
      devices = {node.device for g in metadata.partition_graphs
                 for node in g.node}
      sess.run(model.train_op)
      sess.run(model.summary_op)
      after = {v.op.name: sess.run(v) for v in tf.trainable_variables()}
      step = sess.run(tf.train.get_global_step())
  return {'loss': loss_value, 'grads': grad_values, 'after': after,
          'devices': devices, 'clones': model.clones, 'step': step}


@pytest.fixture(scope='module')
def one_and_two_clones():
  return _run_deploy(1), _run_deploy(2)


def test_two_clones_ran_on_two_cpus(one_and_two_clones):
  one, two = one_and_two_clones
  assert [c.device for c in two['clones']] == ['/device:CPU:0',
                                               '/device:CPU:1']
  assert any(d.endswith('/device:CPU:1') for d in two['devices'])
  assert not any(d.endswith('/device:CPU:1') for d in one['devices'])


def test_two_clones_same_loss_and_gradients(one_and_two_clones):
  one, two = one_and_two_clones
  # Regularization counted once: total = cross-entropy on the full batch +
  # weight_decay * sum(w^2) / 2, in both deployments.
  logits = _numpy_logits(IMAGES)
  shifted = logits - logits.max(1, keepdims=True)
  log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
  xent = -log_probs[np.arange(BATCH), LABELS].mean()
  expected = xent + WEIGHT_DECAY * 0.5 * (CONV_W ** 2).sum()
  assert abs(one['loss'] - expected) < 1e-5
  assert abs(two['loss'] - expected) < 1e-5
  assert sorted(one['grads']) == sorted(two['grads']) == [
      'conv/biases', 'conv/weights', 'fc/biases', 'fc/weights']
  for name, grad in one['grads'].items():
    assert np.abs(grad - two['grads'][name]).max() <= 1e-5, name
    assert np.abs(grad).max() > 1e-3, name  # a real, non-zero gradient


def test_two_clones_same_update_after_one_step(one_and_two_clones):
  one, two = one_and_two_clones
  assert one['step'] == two['step'] == 1
  for name, value in one['after'].items():
    assert np.abs(value - two['after'][name]).max() <= 1e-5, name
  # The step moved the weights by lr * gradient.
  moved = CONV_W - 0.5 * one['grads']['conv/weights']
  assert np.abs(one['after']['conv/weights'] - moved).max() <= 1e-5


def _numpy_logits(images):
  """The model's forward pass in numpy (SAME conv, stride 2, ReLU, fc)."""
  padded = np.pad(images, [(0, 0), (1, 1), (1, 1), (0, 0)])
  out = np.zeros([images.shape[0], 3, 3, 3], np.float64)
  for y in range(3):
    for x in range(3):
      # TF's SAME padding for 6 -> 3 with stride 2 pads 0 before, 1 after.
      patch = padded[:, 2 * y + 1:2 * y + 4, 2 * x + 1:2 * x + 4, :]
      out[:, y, x, :] = np.tensordot(patch, CONV_W, axes=([1, 2, 3],
                                                          [0, 1, 2]))
  out = np.maximum(out, 0)
  return out.reshape(images.shape[0], -1) @ FC_W + FC_B


def test_batch_norm_updates_from_first_clone_only():
  config = model_deploy.DeploymentConfig(num_clones=2, clone_on_cpu=True)
  with tf.Graph().as_default() as graph:
    model = model_deploy.deploy(config, _make_model_fn(2, True),
                                optimizer=tf.train.GradientDescentOptimizer(
                                    0.0))
    update_ops = graph.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert len(update_ops) == 4  # mean and variance of each clone
    train_inputs = set()
    pending = [model.train_op.op]
    while pending:  # the ops the train op depends on
      op = pending.pop()
      if op in train_inputs:
        continue
      train_inputs.add(op)
      pending.extend(op.control_inputs)
      pending.extend(t.op for t in op.inputs)
    ran = sorted(op.name for op in update_ops if op in train_inputs)
    assert ran and all(name.startswith('clone_0/') for name in ran)
    assert not any(op in train_inputs for op in update_ops
                   if op.name.startswith('clone_1/'))
    conv = graph.get_tensor_by_name('clone_0/conv/Relu:0')
    moving_mean = [v for v in tf.global_variables()
                   if v.op.name == 'bn/moving_mean'][0]
    with tf.Session(config=config.session_config()) as sess:
      sess.run(tf.global_variables_initializer())
      conv0 = sess.run(conv)
      sess.run(model.train_op)
      mean = sess.run(moving_mean)
  # decay 0.5 from zero: half of clone 0's batch mean.
  np.testing.assert_allclose(mean, 0.5 * conv0.mean((0, 1, 2)), atol=1e-5)


def test_deploy_without_optimizer_and_gradient_sum_of_sparse():
  config = model_deploy.DeploymentConfig(num_clones=2, clone_on_cpu=True)
  with tf.Graph().as_default():
    model = model_deploy.deploy(config, _make_model_fn(2))
    assert model.train_op is None
    assert model.total_loss is not None and model.summary_op is not None
    embeddings = tf.Variable(tf.ones([5, 2]))
    parts = []
    for ids in ([0, 1], [1, 4]):
      loss = tf.reduce_sum(tf.gather(embeddings, ids))
      parts.append(tf.gradients(loss, embeddings)[0])
    assert all(isinstance(p, tf.IndexedSlices) for p in parts)
    summed = model_deploy._sum_clones_gradients(
        [[(parts[0], embeddings)], [(parts[1], embeddings)]])
    with tf.Session(config=config.session_config()) as sess:
      sess.run(tf.global_variables_initializer())
      dense = sess.run(tf.convert_to_tensor(summed[0][0]))
  np.testing.assert_allclose(dense[:, 0], [1, 2, 0, 0, 1])
