"""The registry-wide backbone test: every network against its manifest.

For each registered network: it builds in training and evaluation mode, its
variables (names, shapes, batch-norm statistics included) and end points
equal the published TF-Slim checkpoint's manifest, the registry's own facts
(class count, image size, exclude scopes, preprocessing) agree with the built
graph, pre-logits mode works and an unknown batch size is accepted.
"""

import pytest

from slim_zoo import model_table
from slim_zoo.nets import nets_factory
from slim_zoo.nets.compat import tf
from slim_zoo.preprocessing import preprocessing_factory
from tests import manifests

NAMES = nets_factory.names()
README_FIX = ('README model table is stale; run '
              '`python -m slim_zoo.model_table --write`')


@pytest.fixture(scope='module')
def readme_table():
  return model_table.read_readme_table()


def _input_shape(spec, manifest, batch=1, size=None):
  shape = list(manifest['input_shape'])
  shape[0] = batch
  if size is not None:
    shape[-3] = shape[-2] = size
  return shape


def _build(name, shape, num_classes, is_training):
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, shape, name='input')
    network_fn = nets_factory.get_network_fn(
        name, num_classes=num_classes, is_training=is_training)
    logits, end_points = network_fn(images)
  return graph, logits, end_points


def _end_point_shapes(end_points):
  return {k: v.shape.as_list() for k, v in end_points.items()}


@pytest.mark.parametrize('name', NAMES)
def test_matches_published_manifest(name, readme_table):
  spec = nets_factory.get_spec(name)
  manifest = manifests.load(name)
  assert spec.num_classes == manifest['num_classes']
  assert spec.default_image_size == manifest['default_image_size']
  shape = _input_shape(spec, manifest)

  graph, logits, end_points = _build(name, shape, spec.num_classes, True)
  train_vars = manifests.variables_of(graph)
  expected = manifests.manifest_variables(manifest['variables'])
  assert train_vars == expected, manifests.diff(expected, train_vars)
  assert logits.shape.as_list() == manifest['logits_shape']
  assert _end_point_shapes(end_points) == manifest['end_points']
  assert isinstance(end_points, dict) and list(end_points)  # ordered, filled

  # Every exclude scope must name real variables, or a fine-tune would
  # silently restore the old logits.
  for scope in spec.logits_scopes:
    assert any(v == scope or v.startswith(scope + '/') for v in train_vars), (
        f'{name}: exclude scope {scope} matches no variable')

  graph, logits, end_points = _build(name, shape, spec.num_classes, False)
  eval_vars = manifests.variables_of(graph)
  eval_manifest = manifest['eval_mode']
  expected_eval = (
      manifests.manifest_variables(eval_manifest['variables'])
      if 'variables' in eval_manifest else expected)
  assert eval_vars == expected_eval, manifests.diff(expected_eval, eval_vars)
  assert logits.shape.as_list() == eval_manifest['logits_shape']
  assert readme_table[name]['parameters'] == model_table.format_parameters(
      model_table.count_parameters(graph)), README_FIX


@pytest.mark.parametrize('name', NAMES)
def test_pre_logits_and_unknown_batch(name, readme_table):
  spec = nets_factory.get_spec(name)
  manifest = manifests.load(name)
  size = max(spec.min_image_size or spec.default_image_size, 32)
  shape = _input_shape(spec, manifest, batch=None, size=size)
  graph, logits, _ = _build(name, shape, spec.num_classes, False)
  assert logits.shape.as_list() == [None, spec.num_classes]
  graph, features, end_points = _build(name, shape, 0, False)
  assert readme_table[name]['features'] == model_table.format_features(
      model_table.feature_end_point(features, end_points),
      features.shape.as_list()[-1]), README_FIX
  with graph.as_default():
    names = [v.op.name for v in tf.global_variables()]
  for scope in spec.logits_scopes:
    assert not any(v.startswith(scope + '/') for v in names), (
        f'{name}: num_classes=0 still built {scope}')
  assert features.shape.as_list()[0] is None


@pytest.mark.parametrize('name', NAMES)
def test_registry_facts(name):
  spec = nets_factory.get_spec(name)
  fn = nets_factory.get_network_fn(name, num_classes=spec.num_classes)
  assert fn.default_image_size == spec.default_image_size
  # research/slim's builders carry their size (`vgg.vgg_16.default_image_size`,
  # public API); it must be the registry's, not a second, drifting copy.
  builder = spec.load_builder()
  assert getattr(builder, 'default_image_size', None) == (
      spec.default_image_size), f'{spec.builder}.default_image_size'
  assert spec.input_kind in ('image', 'video')
  assert (spec.num_frames is not None) == (spec.input_kind == 'video')
  assert spec.labels_offset == (1 if spec.num_classes == 1000 else 0)
  preprocessing_factory.get_preprocessing(name, is_training=False)
  if spec.checkpoint_url:
    assert spec.checkpoint_url.startswith(('http://', 'https://'))


def test_unknown_name_lists_valid_names():
  with pytest.raises(ValueError) as err:
    nets_factory.get_network_fn('resnet_v1_5O', num_classes=10)
  message = str(err.value)
  assert 'resnet_v1_50' in message and 'Did you mean' in message
  assert 'lenet' in message  # the full list follows


def test_every_manifest_has_a_registry_row():
  from slim_zoo.nets import manifests as package_manifests
  files = [n for n in package_manifests.names() if not n.startswith('extra_')]
  assert sorted(files) == sorted(NAMES)


def test_networks_map_and_arg_scopes_map_are_read_only_registry_views():
  import subprocess
  import sys
  for view in (nets_factory.networks_map, nets_factory.arg_scopes_map):
    assert list(view) == NAMES and len(view) == len(NAMES)
    assert 'vgg_16' in view and 'vgg_17' not in view and 3 not in view
    with pytest.raises(KeyError):
      view['vgg_17']  # pylint: disable=pointless-statement
    with pytest.raises(TypeError, match='read-only view of the registry'):
      view['my_net'] = len
    with pytest.raises(TypeError, match='read-only view of the registry'):
      del view['vgg_16']
  assert 'my_net' not in nets_factory.REGISTRY
  from slim_zoo.nets import mobilenet_v1, resnet_utils, vgg
  # research/slim: name -> the builder function and its arg-scope function.
  assert nets_factory.networks_map['vgg_16'] is vgg.vgg_16
  assert nets_factory.arg_scopes_map['vgg_16'] is vgg.vgg_arg_scope
  assert (nets_factory.arg_scopes_map['resnet_v2_50'] is
          resnet_utils.resnet_arg_scope)
  # A variant row gives its builder with the variant's arguments bound.
  fn = nets_factory.networks_map['mobilenet_v1_075']
  assert fn.func is mobilenet_v1.mobilenet_v1
  assert fn.keywords == {'depth_multiplier': 0.75}
  assert fn.default_image_size == 224
  # Iterating and `in` import no network module (the views load lazily).
  code = ('import sys; from slim_zoo.nets import nets_factory as f; '
          'n = list(f.networks_map) + list(f.arg_scopes_map); '
          'assert "lenet" in f.networks_map; '
          'print(len(n), sorted(m for m in sys.modules '
          'if m.startswith("slim_zoo.nets.") and m.split(".")[2] not in '
          '("nets_factory", "compat")))')
  out = subprocess.run([sys.executable, '-c', code], check=True,
                       capture_output=True, text=True).stdout.split()
  assert out == [str(2 * len(NAMES)), '[]']


def test_eval_recipe_of_the_published_checkpoints():
  # research/slim README footnote: ResNet V2 checkpoints use Inception
  # preprocessing at 299; its VGG / ResNet v1 checkpoints have 1000 classes.
  for depth in (50, 101, 152, 200):
    spec = nets_factory.get_spec(f'resnet_v2_{depth}')
    assert spec.eval_recipe == nets_factory.EvalRecipe('inception', 299, 0)
    assert spec.default_image_size == 224  # training keeps 224
  assert nets_factory.get_spec('vgg_16').eval_recipe == (
      nets_factory.EvalRecipe('vgg', 224, 1))
  assert nets_factory.get_spec('inception_v3').eval_recipe == (
      nets_factory.EvalRecipe('inception', 299, 0))
  assert nets_factory.get_spec('nasnet_large').eval_recipe.image_size == 331
  others = [n for n in NAMES if not n.startswith('resnet_v2_')]
  for name in others:
    spec = nets_factory.get_spec(name)
    assert spec.eval_recipe.image_size == spec.default_image_size, name
