"""keras.applications -> TF-Slim checkpoints: logits equal keras' in eval mode.

keras runs eagerly and this process runs TensorFlow in graph mode, so one
child process builds every keras model (weights=None, seeded, then every
bias, batch-norm gamma/beta/moving mean/variance randomized so each mapping
is really exercised), computes keras' logits on a seeded input and hands
over the weights the two ways a user has them: a .weights.h5 file
(MobileNet 0.25, read by extract_file) or a model in memory
(extract_model, in that eager process). Each network is converted, built
here in eval mode and run once on the same preprocessed input (RGB for the
Caffe-style BGR models). VGG16 runs at 224, the only size its dense head
takes (138M parameters: the largest single check of the suite).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from slim_zoo import keras_weights
from slim_zoo.errors import UsageError
from slim_zoo.nets import nets_factory
from slim_zoo.nets.compat import slim, tf
from tests.conftest import ROOT

# key, keras class, alpha, build size, input size, registry name, how given.
_JOBS = [
    ('mobilenet_025', 'MobileNet', 0.25, 64, 64, 'mobilenet_v1_025', 'file'),
    ('mobilenet', 'MobileNet', 1.0, 64, 64, 'mobilenet_v1', 'memory'),
    ('mobilenet_v2', 'MobileNetV2', 1.0, 64, 64, 'mobilenet_v2', 'memory'),
    ('inception_v3', 'InceptionV3', None, 75, 75, 'inception_v3', 'memory'),
    # Every feature map 1x1: where keras' Caffe ResNet equals resnet_v1.
    ('resnet50', 'ResNet50', None, 32, 2, 'resnet_v1_50', 'memory'),
    # The two largest twins, at the smallest input their heads allow.
    ('inception_resnet_v2', 'InceptionResNetV2', None, 75, 75,
     'inception_resnet_v2', 'memory'),
    ('vgg16', 'VGG16', None, 224, 224, 'vgg_16', 'memory'),
]

_CHILD = r'''
import json, sys
import numpy as np
import keras
from slim_zoo import keras_weights
out, jobs = sys.argv[1], json.loads(sys.argv[2])

def randomize(model, rng):
  for weight in model.weights:
    leaf, shape = weight.path.rsplit('/', 1)[-1], tuple(weight.shape)
    if leaf in ('gamma', 'moving_variance'):
      weight.assign(rng.uniform(0.5, 1.5, shape).astype('float32'))
    elif leaf in ('beta', 'moving_mean', 'bias'):
      weight.assign((0.1 * rng.standard_normal(shape)).astype('float32'))

for seed, (key, cls, alpha, build, size, _, given) in enumerate(jobs):
  keras.utils.set_random_seed(seed)
  rng = np.random.default_rng(seed)
  builder = getattr(keras.applications, cls)
  kwargs = {'alpha': alpha} if alpha else {}
  model = builder(weights=None, input_shape=(build, build, 3),
                  classifier_activation=None, **kwargs)
  randomize(model, rng)
  x = rng.uniform(-1, 1, (1, size, size, 3)).astype('float32')
  if size == build:
    logits = np.asarray(model(x, training=False))
  else:  # keras' fixed-size top: the same layers on a free-size base
    base = builder(weights=None, include_top=False, pooling='avg',
                   input_shape=(None, None, 3), **kwargs)
    for layer in base.layers:
      if layer.weights:
        layer.set_weights(model.get_layer(layer.name).get_weights())
    head = model.get_layer('predictions')
    logits = (np.asarray(base(x, training=False)) @ head.kernel.numpy() +
              head.bias.numpy())
  np.save(f'{out}/{key}_x.npy', x)
  np.save(f'{out}/{key}_logits.npy', logits.reshape(1, -1))
  if given == 'file':
    model.save_weights(f'{out}/{key}.weights.h5')
  else:
    keras_weights.extract_model(model).save(f'{out}/{key}.npz')
'''


@pytest.fixture(scope='module')
def keras_dir(tmp_path_factory):
  out = tmp_path_factory.mktemp('keras')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='',
             PYTHONPATH=ROOT)
  proc = subprocess.run([sys.executable, '-c', _CHILD, str(out),
                         json.dumps(_JOBS)], capture_output=True, text=True,
                        env=env, cwd=ROOT, timeout=1200)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return out


def _logits(name, checkpoint, x, num_classes):
  with tf.Graph().as_default():
    kwargs = ({'create_aux_logits': False}
              if 'AuxLogits' in ''.join(nets_factory.get_spec(name)
                                        .logits_scopes) else {})
    network_fn = nets_factory.get_network_fn(name, num_classes,
                                             is_training=False)
    logits, _ = network_fn(tf.constant(x), **kwargs)
    with tf.Session() as session:
      tf.train.Saver(slim.get_model_variables()).restore(session, checkpoint)
      return session.run(logits).reshape(1, -1)


@pytest.mark.parametrize('job', _JOBS, ids=[j[0] for j in _JOBS])
def test_converted_logits_equal_keras(job, keras_dir, tmp_path):
  key, _, _, _, _, name, given = job
  if given == 'file':
    weights = keras_weights.extract_file(str(keras_dir / f'{key}.weights.h5'),
                                         name)
  else:
    weights = keras_weights.KerasWeights.load(str(keras_dir / f'{key}.npz'))
  result = keras_weights.convert(weights, name, str(tmp_path / 'model.ckpt'))
  spec = nets_factory.get_spec(name)
  # The registry's class count: 1001 = keras' 1000 plus the background row.
  assert result.num_classes == spec.num_classes
  assert result.labels_offset == spec.labels_offset
  reader = tf.train.load_checkpoint(result.checkpoint)
  manifest_names = {n for n, _ in _manifest(name)}
  assert set(reader.get_variable_to_shape_map()) == manifest_names
  assert all(any(f.startswith(s + '/') for s in spec.logits_scopes[1:])
             for f in result.fresh)
  x = np.load(keras_dir / f'{key}_x.npy')
  if keras_weights.twin_of(name).facts.bgr:
    x = x[..., ::-1].copy()  # keras takes BGR, the checkpoint RGB
  ours = _logits(name, result.checkpoint, x, result.num_classes)
  reference = np.load(keras_dir / f'{key}_logits.npy')
  if ours.shape[1] == reference.shape[1] + 1:
    assert ours[0, 0] < ours[0, 1:].min()  # the background never wins
    ours = ours[:, 1:]
  scale = np.abs(reference).max()
  assert scale > 0.1  # random weights still give non-trivial logits
  np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-4 * scale)


def _manifest(name):
  from slim_zoo.nets import manifests
  return manifests.load(name)['variables']


def test_labels_offset_1_keeps_the_keras_classes(keras_dir, tmp_path):
  weights = keras_weights.KerasWeights.load(str(keras_dir / 'mobilenet.npz'))
  result = keras_weights.convert(weights, 'mobilenet_v1',
                                 str(tmp_path / 'm.ckpt'), labels_offset=1)
  assert result.num_classes == 1000
  shapes = tf.train.load_checkpoint(result.checkpoint) \
      .get_variable_to_shape_map()
  assert shapes['MobilenetV1/Logits/Conv2d_1c_1x1/biases'] == [1000]


def test_another_architecture_is_named_and_nothing_written(keras_dir,
                                                           tmp_path):
  weights = keras_weights.KerasWeights.load(
      str(keras_dir / 'mobilenet_v2.npz'))
  with pytest.raises(UsageError, match=r'weight layers below its head.*'
                     r'mobilenet_v1 has'):
    keras_weights.convert(weights, 'mobilenet_v1', str(tmp_path / 'x.ckpt'))
  assert os.listdir(tmp_path) == []


def test_truncated_h5_is_one_line_and_nothing_written(keras_dir, tmp_path):
  data = (keras_dir / 'mobilenet_025.weights.h5').read_bytes()
  truncated = tmp_path / 'cut.weights.h5'
  truncated.write_bytes(data[:len(data) // 3])
  with pytest.raises(UsageError, match=r'not a readable HDF5 file.*truncated'):
    keras_weights.extract_file(str(truncated), 'mobilenet_v1_025')
  assert sorted(os.listdir(tmp_path)) == ['cut.weights.h5']


def test_a_file_of_another_width_names_its_row(keras_dir, tmp_path):
  """Checked from the file's first kernel, before keras runs."""
  path = str(keras_dir / 'mobilenet_025.weights.h5')
  with pytest.raises(UsageError, match=r'first convolution of 8 filters, keras '
                     r'MobileNet\(alpha=1\).*32; it holds keras MobileNet\('
                     r'alpha=0.25\): use --model_name=mobilenet_v1_025'):
    keras_weights.extract_file(path, 'mobilenet_v1')
  assert os.listdir(tmp_path) == []


def test_twins_without_the_same_architecture_are_refused():
  with pytest.raises(UsageError, match='cannot be converted.*pool1'):
    keras_weights.check_request('resnet_v2_50', '/tmp/x.ckpt')
  with pytest.raises(UsageError, match='no keras.applications twin.*'
                     'mobilenet_v1_025'):
    keras_weights.check_request('lenet', '/tmp/x.ckpt')
