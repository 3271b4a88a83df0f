"""AlexNet v2 ("one weird trick" variant), TF-Slim checkpoint layout.

Krizhevsky, "One weird trick for parallelizing convolutional neural
networks", 2014 (arXiv:1404.5997), itself derived from Krizhevsky, Sutskever
and Hinton, "ImageNet Classification with Deep Convolutional Neural
Networks", NIPS 2012. Single tower, no local response normalization; the
fully connected layers are convolutions (see `vgg.conv_classifier_head`), so
inputs larger than 224 give spatial logits.
"""

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.nets_utils import EndPoints
from slim_zoo.nets.vgg import conv_classifier_head


def _trunc_normal(stddev):
  return tf.truncated_normal_initializer(0.0, stddev)


def alexnet_v2(inputs, num_classes=1000, is_training=True,
               dropout_keep_prob=0.5, spatial_squeeze=True,
               scope='alexnet_v2', global_pool=False, reuse=None,
               fc_conv_padding='VALID'):
  """AlexNet v2.

  Args:
    inputs: float Tensor [batch, height, width, 3]; 224x224 gives 1x1 logits
      (the smallest input with 'VALID' fc6 is 195x195; with
      fc_conv_padding='SAME' it is 67x67).
    num_classes: number of classes; 0 or None returns the fc7 features.
    is_training: enables dropout.
    dropout_keep_prob: fraction of fc6 and fc7 activations kept in training.
    spatial_squeeze: squeeze the logits to [batch, num_classes].
    scope: variable scope.
    global_pool: average fc7 over space before the classifier.
    reuse: whether to reuse the scope's variables.
    fc_conv_padding: padding of fc6, 'VALID' or 'SAME'.

  Returns:
    (net, end_points): logits [batch, num_classes] (or [batch, h, w,
    num_classes] without squeeze), or fc7 features [batch, h, w, 4096] when
    num_classes is 0 or None; end_points is ordered.

  Raises:
    ValueError: on a bad `fc_conv_padding` or an input too small for fc6.
  """
  end_points = EndPoints()
  with tf.variable_scope(scope, 'alexnet_v2', [inputs], reuse=reuse) as sc:
    def add(name, tensor):
      end_points.add(f'{sc.name}/{name}', tensor)
      return tensor

    # Shapes are for a 224x224 input.
    net = add('conv1', slim.conv2d(inputs, 64, [11, 11], 4, padding='VALID',
                                   scope='conv1'))  # 54 x 54 x 64
    net = add('pool1', slim.max_pool2d(net, [3, 3], 2, padding='VALID',
                                       scope='pool1'))  # 26 x 26 x 64
    net = add('conv2', slim.conv2d(net, 192, [5, 5], padding='SAME',
                                   scope='conv2'))  # 26 x 26 x 192
    net = add('pool2', slim.max_pool2d(net, [3, 3], 2, padding='VALID',
                                       scope='pool2'))  # 12 x 12 x 192
    net = add('conv3', slim.conv2d(net, 384, [3, 3], padding='SAME',
                                   scope='conv3'))  # 12 x 12 x 384
    net = add('conv4', slim.conv2d(net, 384, [3, 3], padding='SAME',
                                   scope='conv4'))  # 12 x 12 x 384
    net = add('conv5', slim.conv2d(net, 256, [3, 3], padding='SAME',
                                   scope='conv5'))  # 12 x 12 x 256
    net = add('pool5', slim.max_pool2d(net, [3, 3], 2, padding='VALID',
                                       scope='pool5'))  # 5 x 5 x 256
    net = conv_classifier_head(
        net, end_points, sc.name, num_classes, is_training, dropout_keep_prob,
        spatial_squeeze, global_pool, fc_conv_padding, fc6_kernel=5,
        fc6_depth=4096, fc7_depth=4096,
        fc_initializers={
            'weights_initializer': _trunc_normal(0.005),
            'biases_initializer': tf.constant_initializer(0.1),
        })
  return net, end_points


alexnet_v2.default_image_size = 224


def alexnet_v2_arg_scope(weight_decay=0.0005):
  """Arg scope of AlexNet v2: ReLU, L2 decay, biases initialized to 0.1.

  Args:
    weight_decay: L2 regularization of the weights.

  Returns:
    An arg_scope dict.
  """
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      activation_fn=tf.nn.relu,
                      biases_initializer=tf.constant_initializer(0.1),
                      weights_regularizer=slim.l2_regularizer(weight_decay)):
    with slim.arg_scope([slim.conv2d], padding='SAME'):
      with slim.arg_scope([slim.max_pool2d], padding='VALID') as sc:
        return sc
