"""The tf_slim / TensorFlow 2.21 workarounds in nets/compat.py."""

import importlib
import sys

from nets import compat
from nets.compat import slim, tf


def test_legacy_layers_alias_is_needed_and_installed():
  # If a future tf_keras restores the module, this fails and the alias can go.
  assert compat.LEGACY_LAYERS_ALIASED
  module = importlib.import_module('tf_keras.legacy_tf_layers')
  assert module is sys.modules['tf_keras.src.legacy_tf_layers']


def test_ops_tensor_alias_is_needed_and_installed():
  from tensorflow.python.framework import ops
  from tensorflow.python.framework import tensor
  assert compat.OPS_TENSOR_ALIASED  # TF 2.21 lacks ops.Tensor.
  assert ops.Tensor is tensor.Tensor


def test_batch_norm_builds_on_rank4_and_rank2_inputs():
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [2, 4, 4, 3])
    features = tf.placeholder(tf.float32, [2, 5])  # constant_value path
    slim.batch_norm(images, is_training=True, scope='bn4')
    slim.batch_norm(features, is_training=True, scope='bn2')
    names = sorted(v.op.name for v in tf.global_variables())
  assert names == ['bn2/beta', 'bn2/moving_mean', 'bn2/moving_variance',
                   'bn4/beta', 'bn4/moving_mean', 'bn4/moving_variance']


def test_graph_mode_is_on():
  assert not tf.executing_eagerly()
