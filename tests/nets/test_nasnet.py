"""NASNet-A / PNASNet-5 options: configs, aux head, drop path, end points.

The published networks are checked against their manifests by
test_registry.py; here only tiny configs run (3 cells, a handful of filters,
32x32 inputs), so the file stays fast on two CPU cores.
"""

import copy
import dataclasses

import numpy as np
import pytest

from slim_zoo.nets.compat import slim, tf
from slim_zoo.nets.nasnet import nasnet, nasnet_utils, pnasnet

TINY_NASNET = nasnet.CIFAR_CONFIG.replace(
    num_cells=3, num_conv_filters=4, drop_path_keep_prob=0.8,
    total_training_steps=10)
TINY_PNASNET = pnasnet.MOBILE_IMAGENET_CONFIG.replace(
    num_cells=3, num_conv_filters=5, drop_path_keep_prob=0.8,
    total_training_steps=10,
    # At 32x32 the stride-2 PNASNet stem leaves 4x4 maps: too small for the
    # 5x5-pooling aux head.
    use_aux_head=False)


def _build(builder, config, is_training, shape=(2, 32, 32, 3), num_classes=3,
           **kwargs):
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, shape, name='images')
    logits, end_points = builder(images, num_classes, config=config,
                                 is_training=is_training, **kwargs)
  return graph, logits, end_points


def _var_names(graph):
  with graph.as_default():
    return [v.op.name for v in tf.global_variables()]


def _op_names(graph):
  return [op.name for op in graph.get_operations()]


# --- config records ---------------------------------------------------------


def test_published_configs_hold_the_tf_slim_hyper_parameters():
  facts = {
      # name: (config, num_cells, filters, stem_multiplier, stem, skip,
      #        drop_path_keep_prob, total_training_steps, dense keep prob)
      'nasnet_cifar': (nasnet.CIFAR_CONFIG, 18, 32, 3.0, 'cifar', False, 0.6,
                       937500, 1.0),
      'nasnet_mobile': (nasnet.MOBILE_IMAGENET_CONFIG, 12, 44, 1.0,
                        'imagenet', False, 1.0, 250000, 0.5),
      'nasnet_large': (nasnet.LARGE_IMAGENET_CONFIG, 18, 168, 3.0,
                       'imagenet', True, 0.7, 250000, 0.5),
      'pnasnet_mobile': (pnasnet.MOBILE_IMAGENET_CONFIG, 9, 54, 1.0,
                         'imagenet', True, 1.0, 250000, 0.5),
      'pnasnet_large': (pnasnet.LARGE_IMAGENET_CONFIG, 12, 216, 3.0,
                        'imagenet', True, 0.6, 250000, 0.5),
  }
  for name, (config, *expected) in facts.items():
    arch, training = config.architecture, config.training
    got = [arch.num_cells, arch.num_conv_filters, arch.stem_multiplier,
           arch.stem_type, arch.skip_reduction_layer_input,
           training.drop_path_keep_prob, training.total_training_steps,
           training.dense_dropout_keep_prob]
    assert got == expected, name
    assert arch.num_reduction_layers == 2 and arch.filter_scaling_rate == 2.0
    assert arch.use_aux_head and arch.data_format == 'NHWC'
    assert not arch.use_bounded_activation


def test_replace_copies_and_routes_fields_to_their_record():
  base = nasnet.MOBILE_IMAGENET_CONFIG
  derived = base.replace(num_cells=6, drop_path_keep_prob=0.9)
  assert derived.architecture.num_cells == 6
  assert derived.training.drop_path_keep_prob == 0.9
  # The original is untouched and the untouched fields are carried over.
  assert base.architecture.num_cells == 12
  assert base.training.drop_path_keep_prob == 1.0
  assert derived.architecture.num_conv_filters == 44
  assert derived.training.total_training_steps == 250000
  with pytest.raises(dataclasses.FrozenInstanceError):
    base.architecture.num_cells = 3


@pytest.mark.parametrize('changes, message', [
    ({'num_cell': 3}, 'num_cell'),
    ({'drop_path_keep_prob': 0.0}, 'drop_path_keep_prob'),
    ({'data_format': 'NCWH'}, 'NCWH'),
    ({'stem_type': 'mnist'}, 'mnist'),
    ({'num_cells': 1}, 'num_reduction_layers'),
    ({'total_training_steps': 0}, 'total_training_steps'),
])
def test_invalid_config_changes_raise_naming_the_value(changes, message):
  with pytest.raises(ValueError, match=message):
    nasnet.CIFAR_CONFIG.replace(**changes)


def test_builder_rejects_a_config_of_the_wrong_type():
  with pytest.raises(ValueError, match='NasNetConfig'):
    _build(nasnet.build_nasnet_cifar, {'num_cells': 3}, False)


# --- research/slim's HParams surface -----------------------------------------


_CONFIG_FUNCTIONS = {
    'nasnet.cifar_config': (nasnet.cifar_config, nasnet.CIFAR_CONFIG),
    'nasnet.mobile_imagenet_config': (nasnet.mobile_imagenet_config,
                                      nasnet.MOBILE_IMAGENET_CONFIG),
    'nasnet.large_imagenet_config': (nasnet.large_imagenet_config,
                                     nasnet.LARGE_IMAGENET_CONFIG),
    'pnasnet.mobile_imagenet_config': (pnasnet.mobile_imagenet_config,
                                       pnasnet.MOBILE_IMAGENET_CONFIG),
    'pnasnet.large_imagenet_config': (pnasnet.large_imagenet_config,
                                      pnasnet.LARGE_IMAGENET_CONFIG),
}


@pytest.mark.parametrize('name', sorted(_CONFIG_FUNCTIONS))
def test_config_functions_return_a_fresh_hparams_view(name):
  config_fn, record = _CONFIG_FUNCTIONS[name]
  config = config_fn()
  assert config.config is record
  values = config.values()
  # research/slim's HParams names, readable as attributes and via get().
  for key in ('num_cells', 'num_conv_filters', 'stem_multiplier',
              'use_aux_head', 'drop_path_keep_prob', 'dense_dropout_keep_prob',
              'filter_scaling_rate', 'num_reduction_layers', 'data_format',
              'skip_reduction_layer_input', 'total_training_steps',
              'use_bounded_activation'):
    assert values[key] == getattr(config, key) == config.get(key), key
  assert values['num_cells'] == record.architecture.num_cells
  assert values['drop_path_keep_prob'] == record.training.drop_path_keep_prob
  assert config.get('no_such_name', 'fallback') == 'fallback'

  config.set_hparam('use_aux_head', 0)
  config.set_hparam('drop_path_keep_prob', 1)
  assert config.use_aux_head is False and config.values()['use_aux_head'] is False
  assert config.drop_path_keep_prob == 1.0
  # Fields stay in their record; the published record and the next call's
  # copy are untouched.
  assert config.architecture.use_aux_head is False
  assert config.training.drop_path_keep_prob == 1.0
  assert record.architecture.use_aux_head
  assert config_fn().use_aux_head and config_fn() == config_fn()


@pytest.mark.parametrize('name, value, message', [
    ('use_aux_heads', 0, "'use_aux_heads'.*Did you mean use_aux_head"),
    ('num_cells', 3.5, "'num_cells' takes an int, got 3.5"),
    ('use_aux_head', 2, "'use_aux_head' takes a bool"),
    ('use_bounded_activation', 'yes', "'use_bounded_activation' takes a bool"),
    ('drop_path_keep_prob', True, "'drop_path_keep_prob' takes a number"),
    ('data_format', 1, "'data_format' takes a str"),
    ('drop_path_keep_prob', 0.0, r'drop_path_keep_prob must be in \(0, 1\]'),
    ('data_format', 'NCWH', 'NCWH'),
])
def test_set_hparam_validates_and_leaves_the_config_unchanged(name, value,
                                                              message):
  config = nasnet.cifar_config()
  with pytest.raises(ValueError, match=message):
    config.set_hparam(name, value)
  assert config.config is nasnet.CIFAR_CONFIG
  # Plain attribute assignment, as HParams allows, is validated the same way.
  with pytest.raises(ValueError, match=message):
    setattr(config, name, value)
  with pytest.raises(ValueError, match=message):
    config.override_from_dict({'num_conv_filters': 8, name: value})
  assert config.config is nasnet.CIFAR_CONFIG
  with pytest.raises(AttributeError, match='Valid names'):
    config.num_cell  # noqa: B018


def test_hparams_copy_and_override_from_dict():
  config = nasnet.cifar_config().override_from_dict(
      {'num_cells': 3, 'num_conv_filters': 4})
  config.num_reduction_layers = 1
  assert (config.num_cells, config.num_conv_filters,
          config.num_reduction_layers) == (3, 4, 1)
  # research/slim's builders deep-copied the config they were given.
  copied = copy.deepcopy(config)
  copied.set_hparam('num_cells', 6)
  assert config.num_cells == 3 and copied.num_cells == 6
  assert config.replace(num_cells=4).num_cells == 4 and config.num_cells == 3


@pytest.mark.parametrize('use_aux_head', [0, 1])
def test_set_hparam_use_aux_head_reaches_the_nasnet_builder(use_aux_head):
  config = nasnet.cifar_config()
  config.set_hparam('num_cells', 3)
  config.set_hparam('num_conv_filters', 4)
  config.set_hparam('use_aux_head', use_aux_head)
  graph, _, end_points = _build(nasnet.build_nasnet_cifar, config, True)
  assert ('AuxLogits' in end_points) == bool(use_aux_head)
  assert any(n.startswith('aux_') for n in _var_names(graph)) == bool(
      use_aux_head)


def test_set_hparam_overrides_reach_the_pnasnet_builder():
  config = pnasnet.mobile_imagenet_config()
  config.override_from_dict({'num_cells': 3, 'num_conv_filters': 5,
                             'total_training_steps': 10})
  config.set_hparam('use_aux_head', 0)
  graph, _, end_points = _build(pnasnet.build_pnasnet_mobile, config, True)
  assert 'AuxLogits' not in end_points
  types = {op.type for op in graph.get_operations()}
  assert 'Relu6' not in types
  # The mobile record has drop path off (keep 1.0).
  assert not any('drop_path' in n for n in _op_names(graph))

  config.set_hparam('use_bounded_activation', True)
  config.set_hparam('drop_path_keep_prob', 0.5)
  graph, _, _ = _build(pnasnet.build_pnasnet_mobile, config, True)
  assert 'Relu6' in {op.type for op in graph.get_operations()}
  assert any('/drop_path/' in n for n in _op_names(graph))


def test_set_hparam_data_format_builds_nchw_end_points():
  config = nasnet.cifar_config()
  config.override_from_dict({'num_cells': 3, 'num_conv_filters': 4,
                             'data_format': 'NCHW'})
  _, _, end_points = _build(nasnet.build_nasnet_cifar, config, False)
  assert end_points['Cell_0'].shape.as_list() == [2, 24, 32, 32]


# --- research/slim's nasnet_utils helpers ----------------------------------


def test_get_channel_index_and_dim():
  shape = [10, 20, 30, 40]
  assert nasnet_utils.get_channel_index('NHWC') == 3
  assert nasnet_utils.get_channel_index('NCHW') == 1
  assert nasnet_utils.get_channel_dim(shape, 'NHWC') == 40
  assert nasnet_utils.get_channel_dim(tf.TensorShape(shape), 'NCHW') == 20
  # As in research/slim, the data format may come from an arg scope ...
  with slim.arg_scope([nasnet_utils.get_channel_index,
                       nasnet_utils.get_channel_dim], data_format='NCHW'):
    assert nasnet_utils.get_channel_index() == 1
    assert nasnet_utils.get_channel_dim(shape) == 20
  # ... and without one it must be given.
  with pytest.raises(ValueError, match='get_channel_index needs a data_format'):
    nasnet_utils.get_channel_index()
  with pytest.raises(ValueError, match='get_channel_dim needs a data_format'):
    nasnet_utils.get_channel_dim(shape)
  with pytest.raises(ValueError, match='NCWH'):
    nasnet_utils.get_channel_index('NCWH')
  with pytest.raises(ValueError, match='4-D'):
    nasnet_utils.get_channel_dim([10, 20, 30], 'NHWC')


def _update_ops(graph):
  return graph.get_collection(tf.GraphKeys.UPDATE_OPS)


def test_factorized_reduction_takes_tf_slims_signature():
  graph = tf.Graph()
  with graph.as_default():
    inputs = tf.placeholder(tf.float32, (5, 10, 20, 10))
    # research/slim's call: no is_training, batch norm follows slim.
    output = nasnet_utils.factorized_reduction(inputs, 16, stride=1,
                                               data_format='NHWC')
    assert output.shape.as_list() == [5, 10, 20, 16]
    assert _update_ops(graph)
    with tf.variable_scope('strided'):
      output = nasnet_utils.factorized_reduction(inputs, 16, 2, 'NHWC')
    assert output.shape.as_list() == [5, 5, 10, 16]
    with pytest.raises(ValueError, match='factorized_reduction needs a'):
      nasnet_utils.factorized_reduction(inputs, 16, 1)
  # The ambient arg scopes decide what the call leaves open.
  graph = tf.Graph()
  with graph.as_default():
    inputs = tf.placeholder(tf.float32, (5, 10, 10, 20))
    with slim.arg_scope([nasnet_utils.factorized_reduction],
                        data_format='NCHW'), \
        slim.arg_scope([slim.batch_norm], is_training=False):
      output = nasnet_utils.factorized_reduction(inputs, 16, 2)
    assert output.shape.as_list() == [5, 16, 5, 10]
    assert not _update_ops(graph)
  # Our cells pass is_training explicitly, which wins over a scope.
  graph = tf.Graph()
  with graph.as_default():
    inputs = tf.placeholder(tf.float32, (5, 10, 20, 10))
    with slim.arg_scope([slim.batch_norm], is_training=True):
      nasnet_utils.factorized_reduction(inputs, 16, 1, data_format='NHWC',
                                        is_training=False)
    assert not _update_ops(graph)


def test_reduction_layer_positions():
  assert nasnet_utils.calc_reduction_layers(18, 2) == [6, 12]
  assert nasnet_utils.calc_reduction_layers(12, 2) == [4, 8]
  assert nasnet_utils.calc_reduction_layers(9, 2) == [3, 6]
  assert nasnet_utils.calc_reduction_layers(3, 2) == [1, 2]


# --- structure --------------------------------------------------------------


def test_config_override_changes_cells_and_filters():
  _, logits, end_points = _build(nasnet.build_nasnet_cifar, TINY_NASNET,
                                 False)
  shapes = {k: v.shape.as_list() for k, v in end_points.items()}
  assert list(shapes) == [
      'Stem', 'Cell_0', 'Reduction_Cell_0', 'Cell_1', 'Reduction_Cell_1',
      'Cell_2', 'global_pool', 'Logits', 'Predictions']
  # Stem: 4 filters x stem multiplier 3; normal cells concatenate 6 states,
  # reduction cells 4, and filters double at each reduction.
  assert shapes['Stem'] == [2, 32, 32, 12]
  assert shapes['Cell_0'] == [2, 32, 32, 24]
  assert shapes['Reduction_Cell_0'] == [2, 16, 16, 32]
  assert shapes['Cell_1'] == [2, 16, 16, 48]
  assert shapes['Cell_2'] == [2, 8, 8, 96]
  assert logits.shape.as_list() == [2, 3]

  _, _, end_points = _build(pnasnet.build_pnasnet_mobile, TINY_PNASNET, False)
  shapes = {k: v.shape.as_list() for k, v in end_points.items()}
  assert list(shapes) == ['Stem', 'Cell_0', 'Cell_1', 'Cell_2', 'global_pool',
                          'Logits', 'Predictions']
  # PNASNet cells concatenate 5 states; Cells 1 and 2 are reductions.
  assert shapes['Stem'] == [2, 4, 4, 10]
  assert shapes['Cell_0'] == [2, 4, 4, 25]
  assert shapes['Cell_1'] == [2, 2, 2, 50]
  assert shapes['Cell_2'] == [2, 1, 1, 100]


@pytest.mark.parametrize('use_aux_head', [True, False])
def test_aux_head_follows_use_aux_head_in_training(use_aux_head):
  config = TINY_NASNET.replace(use_aux_head=use_aux_head)
  graph, _, end_points = _build(nasnet.build_nasnet_cifar, config, True)
  aux_vars = [n for n in _var_names(graph) if n.startswith('aux_')]
  assert ('AuxLogits' in end_points) == use_aux_head
  assert bool(aux_vars) == use_aux_head
  if use_aux_head:
    # The head sits after the cell before the second reduction (cell 1).
    assert all(n.startswith('aux_1/aux_logits/') for n in aux_vars)
    assert end_points['AuxLogits'].shape.as_list() == [2, 3]


def test_aux_head_is_never_built_for_evaluation():
  graph, _, end_points = _build(nasnet.build_nasnet_cifar, TINY_NASNET, False)
  assert 'AuxLogits' not in end_points
  assert not [n for n in _var_names(graph) if n.startswith('aux_')]


@pytest.mark.parametrize('builder, config', [
    (nasnet.build_nasnet_cifar, TINY_NASNET),
    (pnasnet.build_pnasnet_mobile, TINY_PNASNET),
])
def test_final_endpoint_stops_early(builder, config):
  graph, net, end_points = _build(builder, config, False,
                                  final_endpoint='Cell_1')
  assert list(end_points)[-1] == 'Cell_1'
  assert net is end_points['Cell_1']
  names = _var_names(graph)
  assert not [n for n in names if n.startswith(('cell_2/', 'final_layer/'))]
  assert [n for n in names if n.startswith('cell_1/')]


def test_unknown_final_endpoint_lists_the_valid_ones():
  with pytest.raises(ValueError, match='Cell_2.*global_pool'):
    _build(nasnet.build_nasnet_cifar, TINY_NASNET, False,
           final_endpoint='Cell_9')
  # Without a classifier there is no Logits end point to stop at.
  with pytest.raises(ValueError, match="'Logits'"):
    _build(pnasnet.build_pnasnet_mobile, TINY_PNASNET, False, num_classes=0,
           final_endpoint='Logits')


@pytest.mark.parametrize('builder, config', [
    (nasnet.build_nasnet_cifar, TINY_NASNET),
    (pnasnet.build_pnasnet_mobile, TINY_PNASNET),
])
def test_unknown_batch_size(builder, config):
  _, logits, end_points = _build(builder, config, True,
                                 shape=(None, 32, 32, 3))
  assert logits.shape.as_list() == [None, 3]
  assert end_points['global_pool'].shape.as_list()[0] is None


def test_reuse_shares_the_variables():
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, 32, 32, 3])
    nasnet.build_nasnet_cifar(images, 3, is_training=True, config=TINY_NASNET)
    count = len(tf.global_variables())
    nasnet.build_nasnet_cifar(images, 3, is_training=False,
                              config=TINY_NASNET.replace(use_aux_head=False),
                              reuse=True)
    assert len(tf.global_variables()) == count


def test_bounded_activation_uses_relu6_and_clipping():
  config = TINY_PNASNET.replace(use_bounded_activation=True)
  graph, _, _ = _build(pnasnet.build_pnasnet_mobile, config, False)
  types = {op.type for op in graph.get_operations()}
  assert 'Relu6' in types and 'Relu' not in types
  # tf.clip_by_value lowers to Minimum + Maximum.
  assert {'Minimum', 'Maximum'} <= types
  graph, _, _ = _build(pnasnet.build_pnasnet_mobile, TINY_PNASNET, False)
  types = {op.type for op in graph.get_operations()}
  assert 'Relu6' not in types and 'Minimum' not in types


# --- drop path --------------------------------------------------------------


def test_drop_path_ops_and_global_step_only_in_training():
  graph, _, _ = _build(nasnet.build_nasnet_cifar, TINY_NASNET, True)
  assert any('/drop_path/' in n for n in _op_names(graph))
  # The step the schedule reads is the graph's global step, at the root.
  with graph.as_default():
    assert tf.train.get_global_step().op.name == 'global_step'
  assert [n for n in _var_names(graph) if 'global_step' in n] == [
      'global_step']

  graph, _, _ = _build(nasnet.build_nasnet_cifar, TINY_NASNET, False)
  assert not any('drop_path' in n for n in _op_names(graph))
  assert not any('global_step' in n for n in _var_names(graph))

  # A keep probability of 1 disables drop path in training too.
  graph, _, _ = _build(pnasnet.build_pnasnet_mobile,
                       TINY_PNASNET.replace(drop_path_keep_prob=1.0), True)
  assert not any('drop_path' in n for n in _op_names(graph))


def test_drop_path_uses_a_given_current_step_inside_a_variable_scope():
  graph = tf.Graph()
  with graph.as_default(), tf.variable_scope('tower'):
    step = tf.placeholder(tf.int64, [])
    pnasnet.build_pnasnet_mobile(tf.zeros([1, 32, 32, 3]), 3,
                                 config=TINY_PNASNET, current_step=step)
    assert tf.train.get_global_step() is None
  assert any('/drop_path/' in n for n in _op_names(graph))


def test_drop_path_schedule_values():
  steps = [0, 25, 50, 100, 400]
  graph = tf.Graph()
  with graph.as_default():
    step = tf.placeholder(tf.int64, [])
    # Cell 4 of 10 (ratio 0.5) and the last cell (ratio 1) with base 0.6.
    middle = nasnet_utils.drop_path_keep_prob(0.6, 4, 10, step, 100)
    last = nasnet_utils.drop_path_keep_prob(0.6, 9, 10, step, 100)
    with tf.Session() as sess:
      got = [sess.run([middle, last], {step: s}) for s in steps]
  # keep = 1 - min(1, step / 100) * (cell + 1) / 10 * (1 - 0.6)
  expected = [[1.0, 1.0], [0.95, 0.9], [0.9, 0.8], [0.8, 0.6], [0.8, 0.6]]
  np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_drop_path_zeroes_whole_examples_and_keeps_the_mean():
  graph = tf.Graph()
  with graph.as_default():
    tf.set_random_seed(3)
    net = tf.ones([4000, 2, 2, 3])
    dropped = nasnet_utils.drop_path(net, 0.75, is_training=True)
    assert nasnet_utils.drop_path(net, 0.75, is_training=False) is net
    with tf.Session() as sess:
      out = sess.run(dropped)
  per_example = out.reshape(4000, -1)
  # Every example is all zeros or all 1 / 0.75.
  assert set(np.unique(per_example)) <= {0.0, np.float32(1 / 0.75)}
  assert np.all(per_example.min(1) == per_example.max(1))
  assert abs((per_example[:, 0] > 0).mean() - 0.75) < 0.03


# --- data format ------------------------------------------------------------


def test_nchw_builds_the_same_variables_and_outputs():
  images = np.random.RandomState(0).rand(2, 32, 32, 3).astype(np.float32)
  results = {}
  for fmt in ('NHWC', 'NCHW'):
    graph = tf.Graph()
    with graph.as_default():
      tf.set_random_seed(7)
      logits, end_points = nasnet.build_nasnet_cifar(
          tf.constant(images), 3, is_training=False,
          config=TINY_NASNET.replace(data_format=fmt))
      variables = {v.op.name: v.shape.as_list()
                   for v in tf.global_variables()}
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        results[fmt] = (variables, end_points['Cell_0'].shape.as_list(),
                        sess.run(logits))
  assert results['NHWC'][0] == results['NCHW'][0]
  assert results['NHWC'][1] == [2, 32, 32, 24]
  assert results['NCHW'][1] == [2, 24, 32, 32]
  np.testing.assert_allclose(results['NHWC'][2], results['NCHW'][2],
                             rtol=1e-4, atol=1e-5)


# --- training ---------------------------------------------------------------


def _train_losses(builder, config, steps=10, aux_weight=0.4):
  """Trains a tiny net on 12 color-coded images; returns the losses."""
  rng = np.random.RandomState(0)
  labels = np.arange(12) % 3
  # Each class has its own mean color, so the task is learnable quickly.
  colors = np.array([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
  images = (rng.randn(12, 32, 32, 3) * 0.5 + colors[labels][:, None, None, :]
            ).astype(np.float32)
  graph = tf.Graph()
  with graph.as_default():
    tf.set_random_seed(0)
    global_step = tf.train.get_or_create_global_step()
    logits, end_points = builder(tf.constant(images), 3, is_training=True,
                                 config=config)
    onehot = tf.one_hot(labels, 3)
    loss = tf.losses.softmax_cross_entropy(onehot, logits)
    if 'AuxLogits' in end_points:
      loss += aux_weight * tf.losses.softmax_cross_entropy(
          onehot, end_points['AuxLogits'])
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
      train_op = tf.train.AdamOptimizer(0.01).minimize(
          loss, global_step=global_step)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      losses = [sess.run([train_op, loss])[1] for _ in range(steps)]
      final_step = sess.run(global_step)
  assert final_step == steps  # the drop-path ramp advanced with training
  return losses


@pytest.mark.parametrize('builder, config', [
    (nasnet.build_nasnet_cifar, TINY_NASNET),
    (pnasnet.build_pnasnet_mobile, TINY_PNASNET),
], ids=['nasnet', 'pnasnet'])
def test_short_training_run_lowers_the_loss(builder, config):
  losses = _train_losses(builder, config)
  assert np.all(np.isfinite(losses))
  assert np.mean(losses[-3:]) < 0.5 * losses[0], losses
