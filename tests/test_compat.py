"""The tf_slim / TensorFlow 2.21 workarounds in nets/compat.py."""

import importlib
import sys

import numpy as np

from slim_zoo.nets import compat
from slim_zoo.nets.compat import slim, tf


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


def test_control_flow_aliases_let_slim_decode_images():
  from tensorflow.python.ops import cond
  from tensorflow.python.ops import control_flow_case
  from tensorflow.python.ops import control_flow_ops
  assert compat.CONTROL_FLOW_ALIASED  # TF 2.21 lacks them there.
  assert control_flow_ops.case is control_flow_case.case
  assert control_flow_ops.cond is cond.cond
  pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
  with tf.Graph().as_default():
    png = tf.Session().run(tf.image.encode_png(pixels))
    example = tf.train.Example(features=tf.train.Features(feature={
        'image/encoded': tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[png])),
        'image/format': tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[b'png'])),
    }))
    decoder = slim.tfexample_decoder.TFExampleDecoder(
        {'image/encoded': tf.FixedLenFeature((), tf.string, ''),
         'image/format': tf.FixedLenFeature((), tf.string, 'jpeg')},
        {'image': slim.tfexample_decoder.Image(shape=[2, 3, 3])})
    [image] = decoder.decode(example.SerializeToString(), ['image'])
    np.testing.assert_array_equal(tf.Session().run(image), pixels)


def test_graph_mode_is_on():
  assert not tf.executing_eagerly()
