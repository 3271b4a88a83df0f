"""GAN networks: CycleGAN generator, DCGAN, pix2pix (nets.cyclegan, nets.dcgan,
nets.pix2pix).

They are not classifiers, so the registry test does not cover them: here
each builder is compared with its published manifest
(nets/manifests/extra_*.json: variables, end points, output
shape, called as the manifest documents), then options, errors and one
training step each at tiny sizes.
"""

import functools

import numpy as np
import pytest

from slim_zoo.nets import cyclegan, dcgan, pix2pix
from slim_zoo.nets.compat import slim, tf
from tests import manifests


def _pix2pix_generator(images, is_training):
  with slim.arg_scope(pix2pix.pix2pix_arg_scope()):
    return pix2pix.pix2pix_generator(images, num_outputs=3,
                                     upsample_method='nn_upsample_conv',
                                     is_training=is_training)


def _pix2pix_discriminator(images, is_training):
  with slim.arg_scope(pix2pix.pix2pix_arg_scope()):
    return pix2pix.pix2pix_discriminator(images, [64, 128, 256, 512],
                                         padding=2, is_training=is_training)


# (manifest file, entry, builder(inputs, is_training)) as the manifests
# document the calls.
_MANIFEST_CALLS = [
    ('extra_cyclegan', 'generator',
     cyclegan.cyclegan_generator_resnet),
    ('extra_dcgan', 'generator', dcgan.generator),
    ('extra_dcgan', 'discriminator', dcgan.discriminator),
    ('extra_pix2pix', 'generator', _pix2pix_generator),
    ('extra_pix2pix', 'discriminator', _pix2pix_discriminator),
]


def _build(builder, shape, **kwargs):
  graph = tf.Graph()
  with graph.as_default():
    inputs = tf.placeholder(tf.float32, shape)
    output, end_points = builder(inputs, **kwargs)
  return graph, output, end_points


def _shapes(end_points):
  return {k: v.shape.as_list() for k, v in end_points.items()}


@pytest.mark.parametrize('manifest_name,entry,builder', _MANIFEST_CALLS,
                         ids=[f'{m}-{e}' for m, e, _ in _MANIFEST_CALLS])
def test_matches_published_manifest(manifest_name, entry, builder):
  manifest = manifests.load(manifest_name)[entry]
  # The manifests record training mode. DCGAN's zero-debiased batch norm
  # creates its debiasing accumulators (moving_mean/biased, local_step) only
  # with the training update, so evaluation graphs lack exactly those;
  # every other variable must be the same in both modes.
  train_only = ('/moving_mean/biased', '/moving_mean/local_step')
  expected_train = manifests.manifest_variables(manifest['variables'])
  expected_eval = {k: v for k, v in expected_train.items()
                   if not k.endswith(train_only)}
  for is_training, expected in ((True, expected_train),
                                (False, expected_eval)):
    graph, output, end_points = _build(builder, manifest['input_shape'],
                                       is_training=is_training)
    actual = manifests.variables_of(graph)
    assert actual == expected, manifests.diff(expected, actual)
    assert _shapes(end_points) == manifest['end_points']
    assert output.shape.as_list() == manifest['output_shape']
    with graph.as_default():
      trainable = tf.trainable_variables()
    assert len(trainable) == manifest['trainable_count']
    assert sum(v.shape.num_elements() for v in trainable) == (
        manifest['trainable_params'])


def _train_once(loss):
  """One gradient step on every trainable variable of the default graph.

  Returns:
    (loss value, {name: value before}, {name: value after}).
  """
  train_op = slim.learning.create_train_op(
      loss, tf.train.GradientDescentOptimizer(0.05))
  variables = {v.op.name: v for v in tf.trainable_variables()}
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    before = sess.run(variables)
    loss_value = sess.run(train_op)
    after = sess.run(variables)
  return loss_value, before, after


def _assert_trained(loss_value, before, after):
  assert np.isfinite(loss_value)
  assert before, 'no trainable variables'
  unchanged = [k for k in before if np.array_equal(before[k], after[k])]
  assert not unchanged, f'not updated by the step: {unchanged}'


def _images(shape, seed=0):
  return tf.constant(np.random.RandomState(seed).uniform(-1, 1, shape),
                     tf.float32)


# --- CycleGAN ------------------------------------------------------------


@pytest.mark.parametrize('method', cyclegan.UPSAMPLE_METHODS)
def test_cyclegan_upsample_methods(method):
  upsample_fn = functools.partial(cyclegan.cyclegan_upsample, method=method)
  graph, predictions, end_points = _build(
      cyclegan.cyclegan_generator_resnet, [2, 16, 12, 3], num_filters=4,
      num_resnet_blocks=2, upsample_fn=upsample_fn)
  assert predictions.shape.as_list() == [2, 16, 12, 3]
  assert list(end_points) == [
      'encoder_0', 'encoder_1', 'encoder_2', 'resnet_block_0',
      'resnet_block_1', 'decoder1', 'decoder2', 'logits', 'predictions']
  assert end_points['encoder_2'].shape.as_list() == [2, 4, 3, 16]
  assert end_points['decoder1'].shape.as_list() == [2, 8, 6, 8]
  names = manifests.variables_of(graph)
  if method == 'conv2d_transpose':
    assert names['decoder/decoder1/upconv/Conv2d_transpose/weights'] == [
        3, 3, 8, 16]
  else:
    assert names['decoder/decoder1/upconv/Conv/weights'] == [3, 3, 16, 8]
    assert 'decoder/decoder1/upconv/Conv/InstanceNorm/beta' in names


def test_cyclegan_unknown_size_and_errors():
  _, predictions, _ = _build(cyclegan.cyclegan_generator_resnet,
                             [None, None, None, 3], num_filters=4,
                             num_resnet_blocks=1)
  assert predictions.shape.as_list() == [None, None, None, 3]
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match='multiple of 4.*; got 30'):
      cyclegan.cyclegan_generator_resnet(tf.zeros([1, 32, 30, 3]))
    with pytest.raises(ValueError, match='rank|shape'):
      cyclegan.cyclegan_generator_resnet(tf.zeros([1, 32, 32]))
    with pytest.raises(ValueError, match='bicubic'):
      cyclegan.cyclegan_upsample(tf.zeros([1, 4, 4, 2]), 2, [2, 2],
                                 method='bicubic')


def test_cyclegan_training_step():
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    images = _images([1, 8, 8, 3])
    predictions, _ = cyclegan.cyclegan_generator_resnet(
        images, num_filters=4, num_resnet_blocks=1, is_training=True)
    loss = tf.reduce_mean(tf.abs(predictions - _images([1, 8, 8, 3], 1)))
    _assert_trained(*_train_once(loss))


# --- DCGAN ---------------------------------------------------------------


@pytest.mark.parametrize('final_size,layers', [(8, 3), (64, 6)])
def test_dcgan_sizes(final_size, layers):
  _, images, end_points = _build(dcgan.generator, [2, 16], depth=4,
                                 final_size=final_size, num_outputs=1)
  assert images.shape.as_list() == [2, final_size, final_size, 1]
  assert list(end_points) == [f'deconv{i}' for i in range(1, layers)] + [
      'logits']
  assert end_points['deconv1'].shape.as_list() == [2, 4, 4, final_size]
  graph, logits, end_points = _build(dcgan.discriminator,
                                     [2, final_size, final_size, 1], depth=4)
  assert logits.shape.as_list() == [2, 1]
  assert end_points[f'conv{layers}'].shape.as_list() == [
      2, 1, 1, 4 * 2**(layers - 1)]
  # No batch norm on the first discriminator layer.
  names = manifests.variables_of(graph)
  assert 'Discriminator/conv1/biases' in names
  assert 'Discriminator/conv2/BatchNorm/beta' in names


def test_dcgan_fused_batch_norm_keeps_the_variables():
  for builder, shape in ((dcgan.generator, [1, 8]),
                         (dcgan.discriminator, [1, 16, 16, 3])):
    plain, _, _ = _build(builder, shape, depth=4)
    fused, _, _ = _build(builder, shape, depth=4, fused_batch_norm=True)
    assert manifests.variables_of(plain) == manifests.variables_of(fused)


@pytest.mark.parametrize('builder,shape,kwargs,match', [
    (dcgan.generator, [1, 8], dict(final_size=24), 'power of 2.*24'),
    (dcgan.generator, [1, 8], dict(final_size=4), 'equal to it.*got 4'),
    (dcgan.generator, [1, 1, 1, 8], {}, 'noise vectors'),
    (dcgan.generator, [1, 8], dict(depth=0), 'depth'),
    (dcgan.discriminator, [1, 32, 16, 3], {}, 'square.*32x16'),
    (dcgan.discriminator, [1, 24, 24, 3], {}, 'power of 2.*24'),
    (dcgan.discriminator, [1, None, None, 3], {}, 'static'),
    (dcgan.discriminator, [1, 32, 32], {}, 'shape'),
])
def test_dcgan_invalid_inputs_raise(builder, shape, kwargs, match):
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match=match):
      builder(tf.placeholder(tf.float32, shape), **kwargs)


@pytest.mark.parametrize('builder,shape,kwargs,phrase', [
    (dcgan.generator, [3, 2], dict(final_size=30), 'must be a power of 2'),
    (dcgan.generator, [3, 2], dict(final_size=4), 'must be greater than 8'),
    (dcgan.discriminator, [5, 32, 16, 3], {},
     'not have equal width and height'),
    (dcgan.discriminator, [5, 30, 30, 3], {}, 'not a power of 2'),
    (cyclegan.cyclegan_generator_resnet, [None, 29, 32, 3], {},
     'The input height must be a multiple of 4.'),
    (cyclegan.cyclegan_generator_resnet, [None, 32, 31, 3], {},
     'The input width must be a multiple of 4.'),
])
def test_errors_keep_tf_slims_phrases(builder, shape, kwargs, phrase):
  # research/slim's own tests match these phrases with assertRaisesRegexp.
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match=phrase):
      builder(tf.placeholder(tf.float32, shape), **kwargs)


def test_dcgan_training_step():
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    fake, _ = dcgan.generator(tf.random_normal([2, 8]), depth=4,
                              final_size=8)
    images = tf.concat([_images([2, 8, 8, 3]), tf.tanh(fake)], axis=0)
    logits, _ = dcgan.discriminator(images, depth=4)
    # The discriminator separates real from fake; the generator fools it.
    d_loss = tf.losses.sigmoid_cross_entropy([[1], [1], [0], [0]], logits)
    g_loss = tf.losses.sigmoid_cross_entropy([[1], [1]], logits[2:])
    _assert_trained(*_train_once(d_loss + g_loss))


# --- pix2pix -------------------------------------------------------------


@pytest.mark.parametrize('method', pix2pix.UPSAMPLE_METHODS)
def test_pix2pix_generator_blocks_and_methods(method):
  blocks = [pix2pix.Block(4, 0.5), pix2pix.Block(8, 0.5), pix2pix.Block(8, 0)]
  graph, logits, end_points = _build(
      pix2pix.pix2pix_generator, [2, 16, 24, 3], num_outputs=2,
      blocks=blocks, upsample_method=method)
  assert logits.shape.as_list() == [2, 16, 24, 2]
  assert _shapes(end_points) == {
      'encoder0': [2, 8, 12, 4], 'encoder1': [2, 4, 6, 8],
      'encoder2': [2, 2, 3, 8], 'decoder0': [2, 4, 6, 8],
      'decoder1': [2, 8, 12, 8], 'decoder2': [2, 16, 24, 4],
      'logits': [2, 16, 24, 2], 'predictions': [2, 16, 24, 2]}
  names = manifests.variables_of(graph)
  layer = 'Conv2d_transpose' if method == 'conv2d_transpose' else 'Conv'
  # Decoder 1 sees decoder 0 (8) concatenated with encoder 1 (8).
  # (Transposed convolutions store [height, width, out, in].)
  expected = [4, 4, 16, 8] if layer == 'Conv' else [4, 4, 8, 16]
  assert names[f'decoder/{layer}_1/weights'] == expected
  assert f'decoder/{layer}_1/InstanceNorm/gamma' in names
  # Dropout stays on at inference (the paper's source of noise) and only
  # follows the decoder levels whose keep probability is positive.
  with graph.as_default():
    dropout_scopes = {op.name.split('/')[1] for op in
                      graph.get_operations()
                      if op.name.startswith('decoder/Dropout')}
  assert dropout_scopes == {'Dropout', 'Dropout_1'}


def test_pix2pix_discriminator_without_padding_and_arg_scope():
  graph, logits, end_points = _build(pix2pix.pix2pix_discriminator,
                                     [1, 64, 64, 3], num_filters=[4, 8, 16],
                                     padding=0)
  assert _shapes(end_points) == {
      'conv0': [1, 31, 31, 4], 'conv1': [1, 14, 14, 8],
      'conv2': [1, 11, 11, 16], 'logits': [1, 8, 8, 1],
      'predictions': [1, 8, 8, 1]}
  # Instance norm comes from the builder, not from an ambient arg scope.
  assert 'conv1/InstanceNorm/beta' in manifests.variables_of(graph)
  assert 'conv0/biases' in manifests.variables_of(graph)


@pytest.mark.parametrize('call,match', [
    (lambda x: pix2pix.pix2pix_generator(x, 3), 'multiple of 128; got 96'),
    (lambda x: pix2pix.pix2pix_generator(x, 3, blocks=[]), 'at least one'),
    (lambda x: pix2pix.pix2pix_generator(
        x, 3, blocks=[pix2pix.Block(4, 0)], upsample_method='bilinear'),
     'bilinear'),
    (lambda x: pix2pix.pix2pix_generator(x[0], 3), 'shape'),
    (lambda x: pix2pix.pix2pix_discriminator(x, [64]), 'at least two'),
])
def test_pix2pix_invalid_inputs_raise(call, match):
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match=match):
      call(tf.placeholder(tf.float32, [1, 96, 96, 3]))


def test_pix2pix_training_step():
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    source, target = _images([2, 8, 8, 3]), _images([2, 8, 8, 3], 1)
    blocks = [pix2pix.Block(4, 0.5), pix2pix.Block(8, 0)]
    with slim.arg_scope(pix2pix.pix2pix_arg_scope(weight_decay=1e-4)):
      logits, end_points = pix2pix.pix2pix_generator(source, 3, blocks=blocks)
      with tf.variable_scope('Discriminator'):
        patches, _ = pix2pix.pix2pix_discriminator(
            tf.concat([source, end_points['predictions']], axis=3), [4, 8],
            padding=1)
    l1 = tf.reduce_mean(tf.abs(end_points['predictions'] - target))
    gan = tf.losses.sigmoid_cross_entropy(tf.ones_like(patches), patches)
    loss = l1 + gan + tf.add_n(tf.losses.get_regularization_losses())
    _assert_trained(*_train_once(loss))
