"""CifarNet: the CIFAR-10 model of the TensorFlow tutorial, in TF-Slim form.

Two 5x5 convolutions with local response normalization, two fully connected
layers and a linear classifier. Variable names match the TF-Slim `CifarNet`
scope.
"""

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.nets_utils import EndPoints


def _trunc_normal(stddev):
  return tf.truncated_normal_initializer(stddev=stddev)


def cifarnet(images, num_classes=10, is_training=False, dropout_keep_prob=0.5,
             prediction_fn=slim.softmax, scope='CifarNet', reuse=None):
  """CifarNet.

  Args:
    images: float Tensor [batch, 32, 32, 3].
    num_classes: number of classes; 0 or None returns the fc4 features.
    is_training: enables dropout.
    dropout_keep_prob: fraction of fc3 activations kept during training.
    prediction_fn: maps logits to predictions.
    scope: variable scope.
    reuse: whether to reuse the scope's variables.

  Returns:
    (logits [batch, num_classes] or features [batch, 192], end_points).
  """
  end_points = EndPoints()
  with tf.variable_scope(scope, 'CifarNet', [images], reuse=reuse):
    net = slim.conv2d(images, 64, [5, 5], scope='conv1')
    end_points.add('conv1', net)
    net = slim.max_pool2d(net, [2, 2], 2, scope='pool1')
    end_points.add('pool1', net)
    net = tf.nn.lrn(net, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75,
                    name='norm1')
    net = slim.conv2d(net, 64, [5, 5], scope='conv2')
    end_points.add('conv2', net)
    net = tf.nn.lrn(net, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75,
                    name='norm2')
    net = slim.max_pool2d(net, [2, 2], 2, scope='pool2')
    end_points.add('pool2', net)
    net = slim.flatten(net)
    end_points.add('Flatten', net)
    net = slim.fully_connected(net, 384, scope='fc3')
    end_points.add('fc3', net)
    net = slim.dropout(net, dropout_keep_prob, is_training=is_training,
                       scope='dropout3')
    net = slim.fully_connected(net, 192, scope='fc4')
    end_points.add('fc4', net)
    if not num_classes:
      return net, end_points
    logits = slim.fully_connected(
        net, num_classes, biases_initializer=tf.zeros_initializer(),
        weights_initializer=_trunc_normal(1 / 192.0), weights_regularizer=None,
        activation_fn=None, scope='logits')
    end_points.add('Logits', logits)
  end_points.add('Predictions', prediction_fn(logits, scope='Predictions'))
  return logits, end_points


cifarnet.default_image_size = 32


def cifarnet_arg_scope(weight_decay=0.004):
  """Arg scope of CifarNet: L2 decay on fully connected layers, ReLU."""
  with slim.arg_scope(
      [slim.conv2d],
      weights_initializer=tf.truncated_normal_initializer(stddev=5e-2),
      activation_fn=tf.nn.relu):
    with slim.arg_scope(
        [slim.fully_connected],
        biases_initializer=tf.constant_initializer(0.1),
        weights_initializer=_trunc_normal(0.04),
        weights_regularizer=slim.l2_regularizer(weight_decay),
        activation_fn=tf.nn.relu) as sc:
      return sc
