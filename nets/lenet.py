"""LeNet-style network for MNIST-sized inputs.

LeCun et al., "Gradient-Based Learning Applied to Document Recognition", 1998,
in the TF-Slim variant (ReLU, max pooling, dropout). Variable names match the
TF-Slim `LeNet` scope.
"""

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.nets_utils import EndPoints


def lenet(images, num_classes=10, is_training=False, dropout_keep_prob=0.5,
          prediction_fn=slim.softmax, scope='LeNet', reuse=None):
  """LeNet.

  Args:
    images: float Tensor [batch, 28, 28, channels] (other sizes work; the
      flattened size follows the input).
    num_classes: number of classes; 0 or None returns the fc3 features.
    is_training: enables dropout.
    dropout_keep_prob: fraction of fc3 activations kept during training.
    prediction_fn: maps logits to predictions.
    scope: variable scope.
    reuse: whether to reuse the scope's variables.

  Returns:
    (logits [batch, num_classes] or features [batch, 1024], end_points).
  """
  end_points = EndPoints()
  with tf.variable_scope(scope, 'LeNet', [images], reuse=reuse):
    net = slim.conv2d(images, 32, [5, 5], scope='conv1')
    end_points.add('conv1', net)
    net = slim.max_pool2d(net, [2, 2], 2, scope='pool1')
    end_points.add('pool1', net)
    net = slim.conv2d(net, 64, [5, 5], scope='conv2')
    end_points.add('conv2', net)
    net = slim.max_pool2d(net, [2, 2], 2, scope='pool2')
    end_points.add('pool2', net)
    net = slim.flatten(net)
    end_points.add('Flatten', net)
    net = slim.fully_connected(net, 1024, scope='fc3')
    end_points.add('fc3', net)
    if not num_classes:
      return net, end_points
    net = slim.dropout(net, dropout_keep_prob, is_training=is_training,
                       scope='dropout3')
    end_points.add('dropout3', net)
    logits = slim.fully_connected(net, num_classes, activation_fn=None,
                                  scope='fc4')
    end_points.add('Logits', logits)
  end_points.add('Predictions', prediction_fn(logits, scope='Predictions'))
  return logits, end_points


lenet.default_image_size = 28


def lenet_arg_scope(weight_decay=0.0):
  """Arg scope of LeNet: L2 weight decay, truncated-normal init, ReLU."""
  with slim.arg_scope(
      [slim.conv2d, slim.fully_connected],
      weights_regularizer=slim.l2_regularizer(weight_decay),
      weights_initializer=tf.truncated_normal_initializer(stddev=0.1),
      activation_fn=tf.nn.relu) as sc:
    return sc
