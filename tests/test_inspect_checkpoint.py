"""inspect_checkpoint: what a checkpoint is, from its index alone.

Checkpoints are real: one written by tf.train.Saver from a training graph
(mobilenet_v1_025 with Momentum slots, moving averages and a global step),
the others written with SaveV2 from the manifests' names and shapes (what a
published checkpoint holds), so no big network is built.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from slim_zoo import checkpoint_inspect
from slim_zoo import keras_weights
from slim_zoo import train
from slim_zoo.errors import UsageError
from slim_zoo.nets import manifests
from slim_zoo.nets import nets_factory
from slim_zoo.nets.compat import tf
from tests.conftest import ROOT


@pytest.fixture(scope='module')
def trained_025(tmp_path_factory):
  """A training checkpoint of mobilenet_v1_025 (step 7)."""
  train_dir = tmp_path_factory.mktemp('mv1_025')
  with tf.Graph().as_default():
    network_fn = nets_factory.get_network_fn('mobilenet_v1_025', 1001,
                                             is_training=True)
    logits, _ = network_fn(tf.zeros([1, 32, 32, 3]))
    step = tf.train.get_or_create_global_step()
    averages = tf.train.ExponentialMovingAverage(0.99, step)
    # Momentum on the logits only: real slots without a whole backward graph.
    head = tf.trainable_variables('MobilenetV1/Logits')
    with tf.control_dependencies([averages.apply(tf.trainable_variables())]):
      train_op = tf.train.MomentumOptimizer(0.1, 0.9).minimize(
          tf.reduce_mean(logits), global_step=step, var_list=head)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      session.run(step.assign(6))
      session.run(train_op)
      tf.train.Saver().save(session, str(train_dir / 'model.ckpt'),
                            global_step=step)
  return str(train_dir)


def _published(tmp_path, name, edit=None):
  """A checkpoint with the manifest's variables of `name` (zeros), after
  `edit(arrays)`; returns its prefix."""
  arrays = {n: np.zeros(s, np.float32) for n, s in
            manifests.load(name)['variables']}
  if edit:
    edit(arrays)
  prefix = str(tmp_path / f'{name}.ckpt')
  keras_weights._write_checkpoint(arrays, prefix)  # pylint: disable=protected-access
  return prefix


def test_training_checkpoint(trained_025):
  report = checkpoint_inspect.inspect(trained_025)
  assert [m['name'] for m in report['fits']] == ['mobilenet_v1_025']
  assert report['fits'][0]['kind'] == 'exact'
  assert report['num_classes'] == 1001
  assert report['global_step'] == 7
  trainable = len(manifests.load('mobilenet_v1_025')['trainable_variables'])
  assert report['moving_averages'] == trainable
  assert report['optimizer'] == ['momentum']
  assert report['optimizer_variables'] == 2  # the logits' weights, biases
  assert report['datasets']['imagenet'] == 'restores as is (--labels_offset=0)'
  assert 'MobilenetV1/Logits' in report['datasets']['flowers']
  text = '\n'.join(checkpoint_inspect.format_report(report))
  assert '--moving_average_decay applies' in text


def test_restore_plan_and_error_name_the_width(trained_025):
  report = checkpoint_inspect.inspect(trained_025, model_name='mobilenet_v1')
  plan = report['restore_plan']
  assert not plan['restored'] and plan['mismatched']
  text = '\n'.join(checkpoint_inspect.format_report(report))
  assert 'the checkpoint is mobilenet_v1_025: use --model_name=mobilenet_v1_025' \
      in text
  with pytest.raises(UsageError, match=r'use --model_name=mobilenet_v1_025 \('
                     r'the checkpoint is mobilenet_v1_025 \(1001 classes\); '
                     r'--model_name=mobilenet_v1 expects another width'):
    checkpoint_inspect.check_network(tf.train.latest_checkpoint(trained_025),
                                     'mobilenet_v1')


def test_training_names_the_network_before_any_graph_runs(trained_025):
  """The fine-tune check itself (train.build_init_fn) gives that error."""
  with tf.Graph().as_default():
    network_fn = nets_factory.get_network_fn('mobilenet_v1', 1001)
    network_fn(tf.zeros([1, 32, 32, 3]))
    with pytest.raises(UsageError, match='use --model_name=mobilenet_v1_025'):
      train.build_init_fn(trained_025, 'mobilenet_v1')


def test_caffe_checkpoint_labels_offset_and_quantization(tmp_path):
  def quantized(arrays):
    arrays['resnet_v1_50/conv1/weights_quant/min'] = np.zeros([], np.float32)
    arrays['resnet_v1_50/conv1/weights_quant/max'] = np.ones([], np.float32)
  prefix = _published(tmp_path, 'resnet_v1_50', quantized)
  report = checkpoint_inspect.inspect(prefix, model_name='resnet_v1_50',
                                      num_classes=5)
  assert report['fits'][0]['name'] == 'resnet_v1_50'
  assert report['num_classes'] == 1000
  assert report['quantization_ranges'] == 2
  assert report['global_step'] is None and report['moving_averages'] == 0
  assert 'labels_offset=1' in report['datasets']['imagenet']
  plan = report['restore_plan']
  assert plan['excluded_by_registry'] == ['resnet_v1_50/logits/weights',
                                          'resnet_v1_50/logits/biases']
  assert not plan['missing'] and not plan['mismatched']
  with pytest.raises(UsageError, match=r'pass --labels_offset=1'):
    checkpoint_inspect.check_network(prefix, 'resnet_v1_50', num_classes=1001)


def test_fine_tuned_without_aux_logits_and_the_command(tmp_path):
  def five_classes_no_aux(arrays):
    for name in list(arrays):
      if '/AuxLogits/' in name:
        del arrays[name]
      elif '/Logits/' in name:
        arrays[name] = np.zeros(arrays[name].shape[:-1] + (5,), np.float32)
  prefix = _published(tmp_path, 'inception_v3', five_classes_no_aux)
  proc = subprocess.run(
      [sys.executable, 'inspect_checkpoint.py', f'--checkpoint_path={prefix}',
       '--json', '--model_name=inception_v3',
       '--checkpoint_exclude_scopes=InceptionV3/Logits'],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-2000:]
  report = json.loads(proc.stdout)
  assert report['fits'][0]['name'] == 'inception_v3'
  assert report['fits'][0]['kind'] == 'no_aux'
  assert report['num_classes'] == 5
  assert report['datasets']['flowers'] == 'restores as is (--labels_offset=0)'
  plan = report['restore_plan']
  assert len(plan['excluded_by_flag']) == 2
  assert all('/AuxLogits/' in n for n in plan['missing'])


def test_unknown_network_lists_the_closest_with_differences(tmp_path):
  def renamed(arrays):
    arrays['MobilenetV1/Extra/weights'] = np.zeros([3], np.float32)
    del arrays['MobilenetV1/Conv2d_0/weights']
  prefix = _published(tmp_path, 'mobilenet_v1_025', renamed)
  report = checkpoint_inspect.inspect(prefix)
  assert not report['fits']
  closest = report['closest'][0]
  assert closest['name'] == 'mobilenet_v1_025'
  assert closest['missing'] == ['MobilenetV1/Conv2d_0/weights']
  assert closest['unexpected'] == ['MobilenetV1/Extra/weights']
  text = '\n'.join(checkpoint_inspect.format_report(report))
  assert 'closest: mobilenet_v1_025' in text
  with pytest.raises(UsageError, match='--tensor_name=nope is not in'):
    checkpoint_inspect.inspect(prefix, tensor_name='nope')
  tensor = checkpoint_inspect.inspect(
      prefix, tensor_name='MobilenetV1/Extra/weights')['tensor']
  assert tensor['shape'] == [3] and tensor['max'] == 0.0
