"""Export for deployment: frozen graph, SavedModel, TFLite float and int8.

Every artifact is compared with the session that wrote the checkpoint: the
frozen graph and the SavedModel within 1e-4 (max abs logits difference), the
float TFLite model within 1e-3. Heavy nets use random-initialised checkpoints
(batch-norm moving statistics randomised too, so folding them matters) at
their smallest input size and batch 1. The int8 model is judged on a LeNet
trained here on the digits: its top-1 must agree with the float model's on at
least 95% of the 360 real test images.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from slim_zoo import common_flags
from slim_zoo import export_utils
from slim_zoo import performance
from slim_zoo.datasets import dataset_factory
from slim_zoo.datasets import input_pipeline
from slim_zoo.nets import nets_factory
from slim_zoo.nets.compat import tf
from slim_zoo.preprocessing import preprocessing_factory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(script, *args):
  return subprocess.run([sys.executable, os.path.join(ROOT, script), *args],
                        cwd=ROOT, capture_output=True, text=True, timeout=600)


def error_line(result):
  lines = [line for line in result.stderr.strip().splitlines()
           if line.strip()]
  return lines[-1] if lines else ''


def random_checkpoint(directory, model_name, size, num_classes, channels=3,
                      batch_size=1, seed=0):
  """Writes a random-initialised checkpoint and returns what it computes.

  Batch-norm moving means/variances get random values (not 0/1) so that a
  frozen graph which dropped or mis-folded them would disagree. The logits
  layer (the registry's first logits scope) is then scaled so the logits
  span about +-4, as a trained model's do: random deep nets otherwise give
  logits in the hundreds, where float32 rounding alone exceeds 1e-4.

  Returns:
    (checkpoint path, input batch, logits, probabilities) from the session
    that wrote the checkpoint.
  """
  rng = np.random.RandomState(seed)
  batch = rng.uniform(-1, 1, (batch_size, size, size, channels)).astype(
      np.float32)
  with tf.Graph().as_default():
    tf.set_random_seed(seed)
    images = tf.placeholder(tf.float32, [None, size, size, channels])
    logits, end_points = nets_factory.get_network_fn(
        model_name, num_classes)(images)
    probabilities = [v for k, v in end_points.items()
                     if k.lower() == 'predictions']
    probabilities = probabilities[0] if probabilities else tf.nn.softmax(logits)
    # Few distinct session runs: the first run of each fetch set prunes the
    # whole graph (seconds for NASNet), so no run per variable.
    statistics = [var for var in tf.global_variables()
                  if var.op.name.endswith(('moving_mean', 'moving_variance'))]
    initialize = tf.group(
        tf.variables_initializer(
            [v for v in tf.global_variables() if v not in statistics]),
        *[tf.assign(var, (rng.normal(0, 0.1, var.shape.as_list()) if
                          var.op.name.endswith('moving_mean') else
                          rng.uniform(0.5, 1.5, var.shape.as_list())
                          ).astype(np.float32)) for var in statistics])
    scale = tf.placeholder(tf.float32, [])
    scope = nets_factory.get_spec(model_name).logits_scopes[0]
    scale_logits = tf.group(*[tf.assign(var, var * scale) for var in
                              tf.global_variables(scope + '/')])
    with tf.Session() as session:
      session.run(initialize)
      peak = np.abs(session.run([logits, probabilities],
                                {images: batch})[0]).max()
      session.run(scale_logits, {scale: 4.0 / peak})
      values = session.run([logits, probabilities], {images: batch})
      path = tf.train.Saver().save(session, os.path.join(directory, 'model'))
  return path, batch, values[0], values[1]


# The acceptance networks: (name, smallest input size, TF-Slim output node).
ACCEPTANCE = [
    ('lenet', 28, 'Predictions/Reshape_1'),
    ('cifarnet', 32, 'Predictions/Reshape_1'),
    ('inception_v3', 75, 'InceptionV3/Predictions/Reshape_1'),
    ('resnet_v1_50', 32, 'resnet_v1_50/predictions/Reshape_1'),
    ('mobilenet_v1', 32, 'MobilenetV1/Predictions/Reshape_1'),
    ('mobilenet_v2', 32, 'MobilenetV2/Predictions/Reshape_1'),
    ('mobilenet_v3_small', 32, 'MobilenetV3/Predictions/Reshape_1'),
    ('nasnet_mobile', 32, 'final_layer/predictions'),
]


@pytest.mark.parametrize('model_name,size,output_node', ACCEPTANCE,
                         ids=[row[0] for row in ACCEPTANCE])
def test_exports_compute_what_the_checkpoint_computes(model_name, size,
                                                      output_node, tmp_path):
  num_classes = nets_factory.get_spec(model_name).num_classes
  checkpoint, batch, logits, probabilities = random_checkpoint(
      str(tmp_path), model_name, size, num_classes)
  paths = export_utils.ExportPaths.in_directory(str(tmp_path / 'export'))
  metadata = export_utils.export(
      export_utils.GraphConfig(model_name, num_classes, image_size=size),
      paths, checkpoint_path=checkpoint)
  assert metadata['input'] == 'input'
  assert metadata['input_shape'] == [None, size, size, 3]
  assert metadata['output'] == output_node
  assert metadata['outputs']['probabilities'] == output_node
  assert metadata['written'] == [paths.frozen_graph, paths.saved_model_dir,
                                 paths.tflite_file]

  graph_def = tf.GraphDef.FromString(open(paths.frozen_graph, 'rb').read())
  ops = {node.op for node in graph_def.node}
  assert not ops & {'VariableV2', 'VarHandleOp', 'Assign', 'SaveV2',
                    'RestoreV2', 'CheckNumerics'}, ops
  assert not any('AuxLogits' in n.name or n.name.startswith('aux_')
                 for n in graph_def.node)  # pruned to the outputs
  # Batch norm after a convolution is folded into its weights.
  if model_name in ('resnet_v1_50', 'mobilenet_v1', 'mobilenet_v2',
                    'inception_v3'):
    assert not ops & {'FusedBatchNorm', 'FusedBatchNormV3'}, model_name

  frozen = export_utils.load_model(paths.frozen_graph).run(batch)
  assert np.abs(frozen['logits'] - logits).max() <= 1e-4
  np.testing.assert_allclose(frozen['probabilities'], probabilities,
                             atol=1e-5)

  saved = export_utils.load_model(paths.saved_model_dir).run(batch)
  assert np.abs(saved['logits'] - logits).max() <= 1e-4
  assert saved['classes'].shape == (1, 5)
  np.testing.assert_array_equal(
      np.sort(saved['classes'][0]), np.sort(np.argsort(-probabilities[0])[:5]))
  np.testing.assert_allclose(saved['scores'][0],
                             np.sort(probabilities[0])[::-1][:5], atol=1e-5)

  lite = export_utils.load_model(paths.tflite_file).run(batch)
  assert np.abs(lite['logits'] - logits).max() <= 1e-3
  print(f'{model_name}: max |logits diff| frozen '
        f'{np.abs(frozen["logits"] - logits).max():.2e}, saved model '
        f'{np.abs(saved["logits"] - logits).max():.2e}, tflite '
        f'{np.abs(lite["logits"] - logits).max():.2e}')


@pytest.fixture(scope='module')
def trained_lenet(digits_dir, tmp_path_factory):
  """A LeNet trained in-process on the digits (300 SGD steps, batch 32)."""
  directory = str(tmp_path_factory.mktemp('lenet'))
  spec = dataset_factory.get_dataset('digits', 'train', digits_dir)
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    dataset = input_pipeline.build_dataset(
        spec, preprocessing_factory.get_preprocessing('lenet', True),
        input_pipeline.InputConfig(batch_size=32, image_size=(28, 28),
                                   is_training=True, seed=1, cache=True))
    images, labels = tf.data.make_one_shot_iterator(dataset).get_next()
    logits, _ = nets_factory.get_network_fn('lenet', 10, is_training=True)(
        images)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = tf.train.MomentumOptimizer(0.01, 0.9).minimize(loss)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      for _ in range(300):
        session.run(train_op)
      return tf.train.Saver().save(session, os.path.join(directory, 'model'))


def read_split(digits_dir, split, channels=1):
  """The split's preprocessed images [n, 28, 28, channels] and labels."""
  spec = dataset_factory.get_dataset('digits', split, digits_dir)
  import dataclasses
  spec = dataclasses.replace(spec, channels=channels)
  with tf.Graph().as_default():
    dataset = input_pipeline.build_dataset(
        spec, preprocessing_factory.get_preprocessing('lenet'),
        input_pipeline.InputConfig(batch_size=1000, image_size=(28, 28),
                                   is_training=False))
    batch = tf.data.make_one_shot_iterator(dataset).get_next()
    with tf.Session() as session:
      images, labels = session.run(batch)
  return images, labels


def test_int8_model_agrees_with_float_and_classify_runs_every_kind(
    trained_lenet, digits_dir, tmp_path):
  export_dir = str(tmp_path / 'export')
  result = run_script(
      'export_inference_graph.py', '--model_name=lenet',
      '--dataset_name=digits', f'--checkpoint_path={trained_lenet}',
      f'--export_dir={export_dir}', f'--dataset_dir={digits_dir}',
      '--dataset_split_name=train', '--num_calibration_images=300')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Output node: Predictions/Reshape_1' in result.stdout
  assert '  logits: LeNet/fc4/BiasAdd' in result.stdout
  assert sorted(os.listdir(export_dir)) == [
      'frozen_graph.pb', 'frozen_graph.pb.json', 'model_float.tflite',
      'model_float.tflite.json', 'model_int8.tflite', 'model_int8.tflite.json',
      'saved_model']

  float_model = export_utils.load_model(
      os.path.join(export_dir, 'model_float.tflite'))
  int8_path = os.path.join(export_dir, 'model_int8.tflite')
  int8_model = export_utils.load_model(int8_path)
  assert json.load(open(int8_path + '.json'))['tflite'] == 'int8'
  # Really quantized: int8 weights and activations inside, float at the edges.
  interpreter = tf.lite.Interpreter(model_path=int8_path)
  dtypes = {d['dtype'] for d in interpreter.get_tensor_details()}
  assert np.int8 in dtypes
  assert interpreter.get_input_details()[0]['dtype'] == np.float32
  assert (os.path.getsize(int8_path) * 3 <
          os.path.getsize(os.path.join(export_dir, 'model_float.tflite')))

  images, labels = read_split(digits_dir, 'test')
  assert len(labels) == 360
  float_top1 = float_model.run(images)['probabilities'].argmax(1)
  int8_top1 = int8_model.run(images)['probabilities'].argmax(1)
  assert (float_top1 == labels).mean() > 0.8  # a trained model; chance 0.1
  agreement = (float_top1 == int8_top1).mean()
  print(f'int8/float top-1 agreement: {agreement:.4f}')
  assert agreement >= 0.95

  # Every kind of artifact ranks real images the same way.
  samples = sorted(os.listdir(os.path.join(digits_dir, 'test_images')))[:3]
  files = [os.path.join(digits_dir, 'test_images', s) for s in samples]
  kinds = ('frozen_graph.pb', 'saved_model', 'model_float.tflite',
           'model_int8.tflite')
  tops = [[top[0][0] for top in export_utils.classify(
      os.path.join(export_dir, kind), files, top_k=3)] for kind in kinds]
  assert all(top == tops[0] for top in tops), tops

  # The script prints top-k names from labels.txt.
  labels_file = os.path.join(digits_dir, 'labels.txt')
  result = run_script('classify_image.py', f'--graph={int8_path}',
                      f'--labels_file={labels_file}',
                      f'--image_files={",".join(files[:2])}', '--top_k=3')
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.strip().splitlines()
  assert len(lines) == 8 and lines[0] == files[0] + ':', lines
  names = dict(line.strip().split(':') for line in open(labels_file))
  label, name, probability = lines[1].split()
  assert int(label) == tops[0][0] and name == names[label]
  probabilities = [float(line.split()[-1]) for line in lines[1:4]]
  assert probabilities == sorted(probabilities, reverse=True)
  assert 0 < probabilities[0] <= 1


def test_bfloat16_inference_agrees_with_float32(trained_lenet, digits_dir,
                                                tmp_path):
  """classify_image.py's default (--mixed_precision=auto) on a frozen graph.

  On a CPU with native bf16 the session rewrites the convolutions and
  matmuls to bf16; the ranking of real test images must stay the float32
  one.
  """
  frozen = str(tmp_path / 'lenet.pb')
  export_utils.export(export_utils.GraphConfig('lenet', 10, channels=1),
                      export_utils.ExportPaths(frozen_graph=frozen),
                      checkpoint_path=trained_lenet)
  images, labels = read_split(digits_dir, 'test')
  float32 = export_utils.load_model(frozen).run(images)['probabilities']
  bf16 = export_utils.load_model(
      frozen, performance.session_config(mixed_precision='bfloat16')).run(
          images)['probabilities']
  difference = np.abs(bf16 - float32).max()
  agreement = (bf16.argmax(1) == float32.argmax(1)).mean()
  print(f'bf16/float32 top-1 agreement {agreement:.4f}, max |probability '
        f'difference| {difference:.2e}')
  assert 0 < difference <= 0.05  # bf16 really ran, and stayed close
  assert agreement >= 0.99
  assert (float32.argmax(1) == labels).mean() > 0.8

  samples = sorted(os.listdir(os.path.join(digits_dir, 'test_images')))[:2]
  files = [os.path.join(digits_dir, 'test_images', s) for s in samples]
  expected = [top[0][0] for top in export_utils.classify(frozen, files)]
  result = run_script('classify_image.py', f'--graph={frozen}',
                      f'--image_files={",".join(files)}', '--top_k=1')
  assert result.returncode == 0, result.stderr[-3000:]
  got = [int(line.split()[0]) for line in result.stdout.splitlines()
         if not line.endswith(':')]
  assert got == expected


def test_variable_and_fixed_batch_size(trained_lenet, tmp_path):
  images = np.random.RandomState(3).uniform(-1, 1, (3, 28, 28, 1)).astype(
      np.float32)
  with tf.Graph().as_default():
    placeholder = tf.placeholder(tf.float32, [None, 28, 28, 1])
    logits, _ = nets_factory.get_network_fn('lenet', 10)(placeholder)
    with tf.Session() as session:
      tf.train.Saver().restore(session, trained_lenet)
      expected = session.run(logits, {placeholder: images})
  paths = export_utils.ExportPaths.in_directory(str(tmp_path / 'variable'))
  metadata = export_utils.export(
      export_utils.GraphConfig('lenet', 10, channels=1), paths,
      checkpoint_path=trained_lenet)
  assert metadata['input_shape'] == [None, 28, 28, 1]
  for path in (paths.frozen_graph, paths.saved_model_dir, paths.tflite_file):
    got = export_utils.load_model(path).run(images)['logits']
    assert got.shape == (3, 10)
    assert np.abs(got - expected).max() <= 1e-3, path

  fixed = str(tmp_path / 'fixed.pb')
  metadata = export_utils.export(
      export_utils.GraphConfig('lenet', 10, channels=1, batch_size=2),
      export_utils.ExportPaths(frozen_graph=fixed),
      checkpoint_path=trained_lenet)
  graph_def = tf.GraphDef.FromString(open(fixed, 'rb').read())
  node = next(n for n in graph_def.node if n.name == 'input')
  assert [d.size for d in node.attr['shape'].shape.dim] == [2, 28, 28, 1]
  got = export_utils.load_model(fixed).run(images[:2])['logits']
  assert np.abs(got - expected[:2]).max() <= 1e-4


def test_video_model_exports_frozen_graph_and_saved_model_not_tflite(
    tmp_path):
  """i3d: --export_dir writes the TF formats; TFLite is refused up front."""
  batch = np.random.RandomState(0).uniform(-1, 1, (1, 4, 32, 32, 3)).astype(
      np.float32)
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    videos = tf.placeholder(tf.float32, [None, 4, 32, 32, 3])
    logits, _ = nets_factory.get_network_fn('i3d', 400)(videos)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      expected = session.run(logits, {videos: batch})
      checkpoint = tf.train.Saver().save(session, str(tmp_path / 'model'))
  config = export_utils.GraphConfig('i3d', 400, image_size=32,
                                    is_video_model=True, num_frames=4)
  export_dir = str(tmp_path / 'export')
  metadata = export_utils.export(
      config, export_utils.ExportPaths.in_directory(export_dir, tflite=False),
      checkpoint_path=checkpoint)
  assert metadata['input_shape'] == [None, 4, 32, 32, 3]
  assert sorted(os.listdir(export_dir)) == [
      'frozen_graph.pb', 'frozen_graph.pb.json', 'saved_model']
  scale = np.abs(expected).max()
  for name in ('frozen_graph.pb', 'saved_model'):
    got = export_utils.load_model(os.path.join(export_dir, name)).run(batch)
    assert np.abs(got['logits'] - expected).max() <= 1e-4 * scale, name

  lite = str(tmp_path / 'video.tflite')
  with pytest.raises(ValueError, match='i3d takes video.*drop --tflite_file'):
    export_utils.export(config, export_utils.ExportPaths(tflite_file=lite),
                        checkpoint_path=checkpoint)
  assert not os.path.exists(lite) and not os.path.exists(lite + '.json')


def test_grayscale_export_of_an_rgb_network(tmp_path):
  checkpoint, batch, logits, _ = random_checkpoint(
      str(tmp_path), 'cifarnet', 32, 10, channels=1)
  config = export_utils.GraphConfig('cifarnet', 10, use_grayscale=True)
  frozen = str(tmp_path / 'gray.pb')
  metadata = export_utils.export(
      config, export_utils.ExportPaths(frozen_graph=frozen),
      checkpoint_path=checkpoint)
  assert metadata['input_shape'] == [None, 32, 32, 1]
  assert metadata['use_grayscale'] is True
  got = export_utils.load_model(frozen).run(batch)['logits']
  assert np.abs(got - logits).max() <= 1e-4
  # The RGB graph does not fit the grayscale checkpoint: one clear error.
  with pytest.raises(ValueError, match=r'CifarNet/conv1/weights \(model '
                     r'\[5, 5, 3, 64\], checkpoint \[5, 5, 1, 64\]\).*'
                     '--use_grayscale'):
    export_utils.export(export_utils.GraphConfig('cifarnet', 10),
                        export_utils.ExportPaths(frozen_graph=frozen + '2'),
                        checkpoint_path=checkpoint)
  assert not os.path.exists(frozen + '2')


def test_graph_only_text_graphdef_and_final_endpoint(trained_lenet, tmp_path):
  from google.protobuf import text_format
  text_file = str(tmp_path / 'lenet.pbtxt')
  metadata = export_utils.export(
      export_utils.GraphConfig('lenet', 10, channels=1),
      export_utils.ExportPaths(graph_file=text_file, write_text_graphdef=True))
  graph_def = text_format.Parse(open(text_file).read(), tf.GraphDef())
  names = {node.name for node in graph_def.node}
  assert {'input', metadata['output'], 'LeNet/fc4/weights'} <= names
  assert metadata['written'] == [text_file]

  frozen = str(tmp_path / 'features.pb')
  metadata = export_utils.export(
      export_utils.GraphConfig('lenet', 10, channels=1,
                               final_endpoint='pool2'),
      export_utils.ExportPaths(frozen_graph=frozen),
      checkpoint_path=trained_lenet)
  assert metadata['outputs'] == {'features': 'LeNet/pool2/MaxPool'}
  images = np.random.RandomState(4).uniform(-1, 1, (2, 28, 28, 1)).astype(
      np.float32)
  with tf.Graph().as_default():
    placeholder = tf.placeholder(tf.float32, [None, 28, 28, 1])
    _, end_points = nets_factory.get_network_fn('lenet', 10)(placeholder)
    with tf.Session() as session:
      tf.train.Saver().restore(session, trained_lenet)
      expected = session.run(end_points['pool2'], {placeholder: images})
  got = export_utils.load_model(frozen).run(images)['features']
  assert np.abs(got - expected).max() <= 1e-4
  graph_def = tf.GraphDef.FromString(open(frozen, 'rb').read())
  assert not any(n.name.startswith('LeNet/fc') for n in graph_def.node)
  with pytest.raises(ValueError, match="features of end point 'pool2'"):
    export_utils.classify(frozen, ['unused.png'])


# More families (graph only, no session): (name, size, is video, logits,
# predictions). VGG/AlexNet end at their logits (TF-Slim's output node); the
# export adds the softmax under the network's scope.
FAMILIES = [
    ('vgg_16', 224, False, 'vgg_16/fc8/squeezed', 'vgg_16/Predictions'),
    ('alexnet_v2', 224, False, 'alexnet_v2/fc8/squeezed',
     'alexnet_v2/Predictions'),
    ('inception_v1', 32, False, 'InceptionV1/Logits/SpatialSqueeze',
     'InceptionV1/Logits/Predictions/Reshape_1'),
    ('resnet_v2_50', 32, False, 'resnet_v2_50/SpatialSqueeze',
     'resnet_v2_50/predictions/Reshape_1'),
    ('i3d', 32, True, 'InceptionV1/Logits/SpatialSqueeze',
     'InceptionV1/Logits/Predictions/Reshape_1'),
]


@pytest.mark.parametrize('model_name,size,video,logits,predictions',
                         FAMILIES, ids=[row[0] for row in FAMILIES])
def test_output_nodes_per_family(model_name, size, video, logits,
                                 predictions):
  spec = nets_factory.get_spec(model_name)
  with tf.Graph().as_default() as graph:
    placeholder, outputs, metadata = export_utils.build_inference_graph(
        export_utils.GraphConfig(model_name, spec.num_classes,
                                 image_size=size, is_video_model=video,
                                 num_frames=4 if video else None))
  assert metadata['outputs'] == {'logits': logits,
                                 'probabilities': predictions}
  assert metadata['output'] == predictions
  assert placeholder.op.name == 'input'
  assert metadata['input_shape'] == (
      [None, 4, size, size, 3] if video else [None, size, size, 3])
  assert graph.get_tensor_by_name(predictions + ':0') is (
      outputs['probabilities'])
  assert outputs['probabilities'].shape.as_list() == [None, spec.num_classes]


def test_interrupted_exports_leave_no_complete_looking_files(
    trained_lenet, tmp_path, monkeypatch):
  config = export_utils.GraphConfig('lenet', 10, channels=1)
  paths = export_utils.ExportPaths.in_directory(str(tmp_path))
  export_utils.export(config, paths, checkpoint_path=trained_lenet)
  before = {name: os.path.getmtime(os.path.join(tmp_path, name))
            for name in os.listdir(tmp_path)}

  def fail(*args, **kwargs):
    raise KeyboardInterrupt

  monkeypatch.setattr(export_utils.tf.saved_model.builder.SavedModelBuilder,
                      'save', fail)
  with pytest.raises(KeyboardInterrupt):
    export_utils.export(config, paths, checkpoint_path=trained_lenet)
  # The old SavedModel is intact and no temporary directory is left.
  assert export_utils.load_model(paths.saved_model_dir).kind == 'saved_model'
  assert sorted(os.listdir(tmp_path)) == sorted(before)

  monkeypatch.undo()
  monkeypatch.setattr(export_utils, 'convert_tflite', fail)
  fresh = export_utils.ExportPaths.in_directory(str(tmp_path / 'fresh'))
  with pytest.raises(KeyboardInterrupt):
    export_utils.export(config, fresh, checkpoint_path=trained_lenet)
  assert not os.path.exists(fresh.tflite_file)
  # An export directory is one set: none of it exists until all of it does,
  # and its temporary directory is gone.
  assert not os.path.exists(tmp_path / 'fresh')
  assert not any(name.startswith('.') for name in os.listdir(tmp_path))


def expect_error_line(capsys, fn, expected):
  """fn() fails through the scripts' run_or_exit with `expected` as line."""
  with pytest.raises(SystemExit) as exit_info:
    common_flags.run_or_exit(fn)
  assert exit_info.value.code == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(expected), lines


def test_bad_input_gives_one_clear_error(trained_lenet, tmp_path, capsys):
  paths = export_utils.ExportPaths(frozen_graph=str(tmp_path / 'out.pb'))

  def export(**kwargs):
    config = dict(model_name='lenet', num_classes=10, channels=1)
    checkpoint = kwargs.pop('checkpoint_path', trained_lenet)
    config.update(kwargs)
    return lambda: export_utils.export(export_utils.GraphConfig(**config),
                                       paths, checkpoint_path=checkpoint)

  expect_error_line(
      capsys, export(num_classes=9),
      f'ERROR: Checkpoint {trained_lenet} does not fit lenet with 9 classes '
      'and 1 input channel(s): LeNet/fc4/weights (model [1024, 9], checkpoint '
      '[1024, 10])')
  expect_error_line(
      capsys, export(final_endpoint='conv9'),
      "ERROR: Unknown --final_endpoint 'conv9' for lenet; valid end points: "
      'conv1, pool1, conv2')
  expect_error_line(
      capsys, export(is_video_model=True),
      'ERROR: --model_name=lenet takes image input; drop --is_video_model.')
  expect_error_line(
      capsys, export(num_frames=8),
      'ERROR: --num_frames=8 applies to video models only')
  # --is_video_model defaults to the registry's input kind; only an
  # explicit contradiction is an error.
  expect_error_line(
      capsys, export(model_name='i3d', num_classes=400, is_video_model=False),
      'ERROR: --model_name=i3d takes video input; pass --is_video_model')
  expect_error_line(
      capsys, export(image_size=20),
      'ERROR: --image_size=20 is below the smallest input lenet accepts (28)')
  expect_error_line(
      capsys, lambda: export_utils.export(
          export_utils.GraphConfig('lenet', 10, channels=1),
          export_utils.ExportPaths(tflite_int8_file=str(tmp_path / 'q')),
          checkpoint_path=trained_lenet),
      'ERROR: --tflite_int8_file needs calibration images')
  expect_error_line(
      capsys, lambda: export_utils.export(
          export_utils.GraphConfig('lenet', 10, channels=1),
          export_utils.ExportPaths(tflite_int8_file=str(tmp_path / 'q')),
          checkpoint_path=trained_lenet,
          calibration=export_utils.CalibrationConfig(
              'digits', str(tmp_path / 'no_data'))),
      f'ERROR: Dataset directory {tmp_path}/no_data does not exist')
  expect_error_line(
      capsys, lambda: export_utils.classify(str(tmp_path / 'none.tflite'),
                                            ['a.png']),
      f'ERROR: Model {tmp_path}/none.tflite does not exist')
  assert os.listdir(tmp_path) == []

  # The script itself: a missing checkpoint is one line and exit code 2.
  result = run_script('export_inference_graph.py', '--model_name=lenet',
                      '--dataset_name=digits',
                      f'--checkpoint_path={tmp_path}/missing',
                      f'--export_dir={tmp_path}/export')
  assert result.returncode == 2
  assert error_line(result) == (
      f'ERROR: Checkpoint {tmp_path}/missing does not exist; check '
      '--checkpoint_path.')
  assert os.listdir(tmp_path) == []
