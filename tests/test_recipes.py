"""The shell recipes in scripts/ run end to end, as a user runs them.

Each recipe runs in a smoke configuration: 2 steps per stage, batch 2, the
smallest input size the network accepts, and tiny data this test builds in
the upstream formats (MNIST IDX gz files, the CIFAR-10 binary tarball, a
flower_photos.tgz of small JPEGs) served from 127.0.0.1 with DOWNLOAD_BASE_URL.
The "pretrained" checkpoints are the registry's networks (published class
count) saved under the published file name and tarred like the published
archives, served through CHECKPOINT_URL, so the download path runs too.

The checks are on what each stage must leave: checkpoints at the expected
global steps, weights restored from the pretrained checkpoint and frozen
while only the logits train, the new logits shaped for the new classes,
eval_results.json over the whole split, exported files that load.
"""

import gzip
import json
import os
import re
import struct
import subprocess
import tarfile

import numpy as np
import pytest

from slim_zoo.datasets import dataset_utils
from slim_zoo.nets import nets_factory
from slim_zoo.nets.compat import tf
from tests.datasets.image_files import encode
from tests.datasets.image_files import smooth_image
from tests.http_server import serve_directory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, 'scripts')
FLOWER_CLASSES = ('daisy', 'dandelion', 'roses', 'sunflowers', 'tulips')
PHOTOS_PER_CLASS = 3
NUM_VALIDATION = 5
SMOKE = {'BATCH_SIZE': '2', 'EVAL_BATCH_SIZE': '2', 'LOG_EVERY_N_STEPS': '1',
         'SAVE_INTERVAL_SECS': '600', 'SAVE_SUMMARIES_SECS': '600'}
FINETUNE_SMOKE = dict(SMOKE, LOGITS_STEPS='2', ALL_LAYERS_STEPS='2')


def run_recipe(name, env, check=True):
  """Runs scripts/`name` with `env` added to the environment."""
  full_env = dict(os.environ, PYTHON=_python(), **env)
  # Run from scripts/, not the repository root: recipes find the checkout.
  result = subprocess.run(['bash', os.path.join(SCRIPTS, name)], cwd=SCRIPTS,
                          env=full_env, capture_output=True, text=True,
                          timeout=900)
  if check and result.returncode != 0:
    raise AssertionError(f'{name} failed ({result.returncode}):\n'
                         f'{result.stdout[-2000:]}\n{result.stderr[-4000:]}')
  return result


def _python():
  venv = os.path.join(ROOT, '.venv', 'bin', 'python')
  return venv if os.path.exists(venv) else 'python3'


def _latest_step(train_dir):
  path = tf.train.latest_checkpoint(train_dir)
  assert path, f'no checkpoint in {train_dir}: {os.listdir(train_dir)}'
  return int(path.rsplit('-', 1)[1])


def _eval_results(eval_dir):
  with open(os.path.join(eval_dir, 'eval_results.json')) as f:
    return json.load(f)


# ----------------------------------------------------------------------------
# Data in the upstream formats, served from 127.0.0.1


def _write_mnist(directory, rng):
  for prefix, n in (('train', 6), ('t10k', 4)):
    images = rng.randint(0, 256, (n, 28, 28)).astype(np.uint8)
    labels = rng.randint(0, 10, n).astype(np.uint8)
    with gzip.open(os.path.join(directory,
                                f'{prefix}-images-idx3-ubyte.gz'), 'wb') as f:
      f.write(struct.pack('>IIII', 2051, n, 28, 28) + images.tobytes())
    with gzip.open(os.path.join(directory,
                                f'{prefix}-labels-idx1-ubyte.gz'), 'wb') as f:
      f.write(struct.pack('>II', 2049, n) + labels.tobytes())


def _write_cifar10(directory, build_dir, rng):
  batches = os.path.join(build_dir, 'cifar-10-batches-bin')
  os.makedirs(batches)
  for name in [f'data_batch_{i}.bin' for i in range(1, 6)] + ['test_batch.bin']:
    images = rng.randint(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    labels = rng.randint(0, 10, 2).astype(np.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(2, -1)
    np.concatenate([labels[:, None], planes], axis=1).astype(np.uint8).tofile(
        os.path.join(batches, name))
  with tarfile.open(os.path.join(directory, 'cifar-10-binary.tar.gz'),
                    'w:gz') as archive:
    archive.add(batches, arcname='cifar-10-batches-bin')


def _write_class_folders(root, class_names, per_class, rng, formats=('jpeg',)):
  for name in class_names:
    os.makedirs(os.path.join(root, name))
    for i in range(per_class):
      image_format = formats[i % len(formats)]
      extension = 'jpg' if image_format == 'jpeg' else 'png'
      data = encode(smooth_image(rng, 20 + 2 * i, 24), image_format)
      with open(os.path.join(root, name, f'{i}.{extension}'), 'wb') as f:
        f.write(data)


def _write_flower_photos(directory, build_dir, rng):
  photos = os.path.join(build_dir, 'flower_photos')
  _write_class_folders(photos, FLOWER_CLASSES, PHOTOS_PER_CLASS, rng)
  with tarfile.open(os.path.join(directory, 'flower_photos.tgz'),
                    'w:gz') as archive:
    archive.add(photos, arcname='flower_photos')


@pytest.fixture(scope='module')
def mirror(tmp_path_factory):
  """(directory, base URL): a local server with every upstream file."""
  served = str(tmp_path_factory.mktemp('mirror'))
  build = str(tmp_path_factory.mktemp('build'))
  rng = np.random.RandomState(0)
  _write_mnist(served, rng)
  _write_cifar10(served, build, rng)
  _write_flower_photos(served, build, rng)
  with serve_directory(served) as url:
    yield served, url


@pytest.fixture(scope='module')
def flowers_dir(mirror, tmp_path_factory):
  """Flowers TFRecords converted once, shared by the heavy-net recipes."""
  from slim_zoo import convert as download_and_convert_data
  directory = str(tmp_path_factory.mktemp('flowers'))
  download_and_convert_data.convert('flowers', directory, mirror[1],
                                    num_validation=NUM_VALIDATION)
  return directory


# ----------------------------------------------------------------------------
# "Pretrained" checkpoints, archived like the published ones


def body_weights_name(spec, names):
  """The first weights variable outside the logits scopes."""
  return sorted(n for n in names
                if n.endswith('weights') and
                not any(n.startswith(s + '/') for s in spec.logits_scopes))[0]


def save_pretrained(model_name, directory, image_size):
  """Saves the registry network (published class count, random weights) as
  DIRECTORY/<published checkpoint file>.

  Returns:
    {name: value} of the checkpoint's first body weights (see
    body_weights_name), to check what the recipe restored.
  """
  spec = nets_factory.get_spec(model_name)
  path = os.path.join(directory, spec.checkpoint_file)
  with tf.Graph().as_default():
    network_fn = nets_factory.get_network_fn(model_name, spec.num_classes)
    network_fn(tf.zeros([1, image_size, image_size, 3]))
    variables = {v.op.name: v for v in tf.global_variables()}
    body = body_weights_name(spec, variables)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      tf.train.Saver(list(variables.values())).save(
          session, path, write_meta_graph=False, write_state=False)
      return {body: session.run(variables[body])}


def archive_pretrained(model_name, served_dir, image_size, build_dir):
  """Writes the published-style archive into `served_dir`; returns
  (archive file name, save_pretrained's values)."""
  spec = nets_factory.get_spec(model_name)
  os.makedirs(build_dir)
  values = save_pretrained(model_name, build_dir, image_size)
  archive_name = spec.checkpoint_url.rsplit('/', 1)[1]
  # Random weights barely compress: gzip level 0 keeps the published format
  # (a gzipped tar) without spending seconds on it.
  with tarfile.open(os.path.join(served_dir, archive_name), 'w:gz',
                    compresslevel=0) as archive:
    for entry in sorted(os.listdir(build_dir)):
      archive.add(os.path.join(build_dir, entry), arcname=entry)
  return archive_name, values


def check_finetune_stages(train_dir, spec, pretrained, num_classes,
                          num_validation, all_layers=True):
  """The artifacts of the stages of a fine-tuning recipe (2 steps each)."""
  all_dir = os.path.join(train_dir, 'all')
  assert _latest_step(train_dir) == 2
  stage1 = tf.train.load_checkpoint(tf.train.latest_checkpoint(train_dir))
  shapes = stage1.get_variable_to_shape_map()
  logits_weights = [n for n, shape in shapes.items()
                    if n.startswith(spec.logits_scopes[0] + '/') and
                    n.endswith('weights') and len(shape) >= 2]
  assert logits_weights, f'no {spec.logits_scopes[0]} weights in {shapes}'
  for name in logits_weights:
    assert shapes[name][-1] == num_classes, (name, shapes[name])
  # A body weight: restored from the pretrained checkpoint, frozen while
  # only the logits train, updated when all layers train.
  (body, value), = pretrained.items()
  np.testing.assert_array_equal(stage1.get_tensor(body), value)
  eval_dirs = [os.path.join(train_dir, 'eval')]
  if all_layers:
    assert _latest_step(all_dir) == 2
    stage2 = tf.train.load_checkpoint(tf.train.latest_checkpoint(all_dir))
    assert not np.array_equal(stage2.get_tensor(body), value), body
    eval_dirs.append(os.path.join(all_dir, 'eval'))
  else:
    assert not os.path.exists(all_dir)
  for directory in eval_dirs:
    results = _eval_results(directory)
    assert results['num_examples'] == num_validation
    assert 0.0 <= results['eval/Accuracy'] <= 1.0
    assert results['eval/Recall_5'] >= results['eval/Accuracy']


# ----------------------------------------------------------------------------
# Training from scratch


def test_train_lenet_on_mnist(mirror, tmp_path):
  train_dir = str(tmp_path / 'lenet')
  result = run_recipe('train_lenet_on_mnist.sh', dict(
      SMOKE, DATASET_DIR=str(tmp_path / 'mnist'), TRAIN_DIR=train_dir,
      DOWNLOAD_BASE_URL=mirror[1], TRAIN_STEPS='3'))
  assert _latest_step(train_dir) == 3
  config = json.load(open(os.path.join(train_dir, 'train_config.json')))
  assert config['model_name'] == 'lenet' and config['batch_size'] == 2
  assert config['optimizer']['optimizer'] == 'sgd'
  assert config['optimizer']['learning_rate_decay_type'] == 'fixed'
  assert _eval_results(train_dir)['num_examples'] == 4  # the t10k split
  assert '== train_lenet_on_mnist: 3/3 evaluating' in result.stdout


def test_train_cifarnet_on_cifar10(mirror, tmp_path):
  train_dir = str(tmp_path / 'cifarnet')
  run_recipe('train_cifarnet_on_cifar10.sh', dict(
      SMOKE, DATASET_DIR=str(tmp_path / 'cifar10'), TRAIN_DIR=train_dir,
      DOWNLOAD_BASE_URL=mirror[1], TRAIN_STEPS='3'))
  assert _latest_step(train_dir) == 3
  config = json.load(open(os.path.join(train_dir, 'train_config.json')))
  assert config['model_name'] == 'cifarnet'
  assert config['weight_decay'] == 0.004
  assert config['optimizer']['learning_rate'] == 0.1
  assert _eval_results(train_dir)['num_examples'] == 2  # test_batch.bin


def test_failed_download_names_the_step(tmp_path):
  empty = tmp_path / 'empty'
  empty.mkdir()
  with serve_directory(empty) as url:
    result = run_recipe('train_lenet_on_mnist.sh', dict(
        SMOKE, DATASET_DIR=str(tmp_path / 'mnist'),
        TRAIN_DIR=str(tmp_path / 'train'), DOWNLOAD_BASE_URL=url), check=False)
  assert result.returncode != 0
  assert ("train_lenet_on_mnist: FAILED at step '1/3 preparing MNIST "
          "TFRecords") in result.stderr
  assert 'ERROR:' in result.stderr and '404' in result.stderr
  assert not os.path.exists(tmp_path / 'train')


# ----------------------------------------------------------------------------
# Fine-tuning on flowers: download, logits only, eval, all layers, eval

# (recipe, network, smallest valid input size, all-layers stage too).
# mobilenet_v1 converts the flowers download itself; the others share one
# converted copy. All but mobilenet_v1 stop after the logits stage and its
# eval (ALL_LAYERS_STEPS=0) to fit the suite's time budget: their own facts
# (checkpoint file, exclude and trainable scopes) are all used by then, and
# the all-layers stage is the same code (recipe_lib.sh) for every network,
# run in full by mobilenet_v1 here (with the flowers recipes' schedule
# arguments) and by the image_folder recipe.
FLOWERS_RECIPES = [
    ('finetune_mobilenet_v1_on_flowers.sh', 'mobilenet_v1', 32, True),
    ('finetune_inception_v1_on_flowers.sh', 'inception_v1', 32, False),
    ('finetune_resnet_v1_50_on_flowers.sh', 'resnet_v1_50', 32, False),
    ('finetune_inception_v3_on_flowers.sh', 'inception_v3', 75, False),
    ('finetune_inception_resnet_v2_on_flowers.sh', 'inception_resnet_v2', 75,
     False),
]


@pytest.mark.parametrize('recipe,model_name,image_size,all_layers',
                         FLOWERS_RECIPES, ids=[r[1] for r in FLOWERS_RECIPES])
def test_finetune_on_flowers(recipe, model_name, image_size, all_layers,
                             mirror, flowers_dir, tmp_path):
  served, url = mirror
  spec = nets_factory.get_spec(model_name)
  archive, pretrained = archive_pretrained(
      model_name, served, image_size, str(tmp_path / 'build'))
  checkpoint_dir = tmp_path / 'checkpoints'
  train_dir = str(tmp_path / 'train')
  env = dict(FINETUNE_SMOKE, TRAIN_DIR=train_dir,
             PRETRAINED_CHECKPOINT_DIR=str(checkpoint_dir),
             CHECKPOINT_URL=url + archive,
             TRAIN_IMAGE_SIZE=str(image_size))
  if not all_layers:
    env['ALL_LAYERS_STEPS'] = '0'
  dataset_dir = flowers_dir
  if model_name == 'mobilenet_v1':  # This one downloads the photos too.
    dataset_dir = str(tmp_path / 'flowers')
    env.update(DOWNLOAD_BASE_URL=url, NUM_VALIDATION=str(NUM_VALIDATION))
  env['DATASET_DIR'] = dataset_dir
  try:
    result = run_recipe(recipe, env)
  finally:
    os.remove(os.path.join(served, archive))  # Up to 200 MB.
  check_finetune_stages(train_dir, spec, pretrained, len(FLOWER_CLASSES),
                        NUM_VALIDATION, all_layers)
  # The published archive was downloaded, extracted and deleted.
  assert os.path.exists(checkpoint_dir / (spec.checkpoint_file + '.index'))
  assert not os.path.exists(checkpoint_dir / archive)
  assert f'exclude scopes: {spec.exclude_scopes}' in result.stdout
  config = json.load(open(os.path.join(train_dir, 'train_config.json')))
  assert config['trainable_scopes'] == spec.trainable_scopes
  assert config['checkpoint_exclude_scopes'] == spec.exclude_scopes
  assert config['train_image_size'] == image_size
  assert config['optimizer']['optimizer'] == 'rmsprop'
  assert config['optimizer']['learning_rate'] == 0.01  # TF-Slim's, all five.
  assert config['optimizer']['learning_rate_decay_type'] == (
      'fixed' if model_name == 'inception_resnet_v2' else 'exponential')
  if not all_layers:
    assert 'ALL_LAYERS_STEPS=0: all-layers stage skipped' in result.stdout
  if model_name == 'mobilenet_v1':
    check_export_of_finetuned_mobilenet(os.path.join(train_dir, 'all'),
                                        dataset_dir, tmp_path / 'export')



def test_flowers_recipes_share_the_two_stage_code():
  """What lets the heavy networks' tests stop after the logits stage: every
  flowers recipe is its published schedule (both stages' steps and learning
  rates, whole and positive) handed to recipe_lib.sh's two-stage code, which
  mobilenet_v1's test runs in full."""
  recipes = sorted(f for f in os.listdir(SCRIPTS)
                   if re.fullmatch(r'finetune_\w+_on_flowers\.sh', f))
  assert recipes == sorted(r[0] for r in FLOWERS_RECIPES)
  for recipe, model_name, _, _ in FLOWERS_RECIPES:
    lines = [line for line in open(os.path.join(SCRIPTS, recipe))
             .read().splitlines() if line and not line.startswith('#')]
    calls = [line for line in lines if line.startswith('recipe_')]
    assert len(calls) == 2 and calls[1] == 'recipe_finetune_two_stages', (
        recipe, calls)
    name, *schedule = calls[0].split()[1:]
    assert calls[0].split()[0] == 'recipe_flowers_defaults', (recipe, calls)
    assert name == model_name and len(schedule) == 4, (recipe, calls[0])
    logits_steps, logits_rate, all_steps, all_rate = schedule
    assert int(logits_steps) > 0 and int(all_steps) > 0, (recipe, schedule)
    assert float(logits_rate) > 0 and float(all_rate) > 0, (recipe, schedule)
    # Nothing else runs: the lines around the two calls only set defaults.
    assert all(line.startswith(('set -euo pipefail', 'source ', 'recipe_',
                                'LEARNING_RATE_DECAY_TYPE='))
               for line in lines), (recipe, lines)

def check_export_of_finetuned_mobilenet(train_dir, dataset_dir, export_dir):
  """The mobile workflow: export_mobilenet.sh on the flowers fine-tune, with
  an int8 TFLite calibrated on the flowers records."""
  run_recipe('export_mobilenet.sh', dict(
      MODEL_NAME='mobilenet_v1', IMAGE_SIZE='32', CHECKPOINT_PATH=train_dir,
      DATASET_NAME='flowers', DATASET_DIR=dataset_dir,
      NUM_CALIBRATION_IMAGES='4', EXPORT_DIR=str(export_dir),
      PRETRAINED_CHECKPOINT_DIR=str(export_dir / 'unused')))
  assert not (export_dir / 'unused').exists()  # Nothing downloaded.
  for name in ('mobilenet_v1_inf_graph.pb', 'frozen_graph.pb',
               'saved_model/saved_model.pb', 'model_float.tflite',
               'model_int8.tflite'):
    assert (export_dir / name).is_file(), name
  metadata = json.load(open(export_dir / 'frozen_graph.pb.json'))
  assert metadata['num_classes'] == len(FLOWER_CLASSES)
  interpreter = tf.lite.Interpreter(
      model_path=str(export_dir / 'model_int8.tflite'))
  assert interpreter.get_output_details()[0]['shape'][-1] == len(
      FLOWER_CLASSES)


# ----------------------------------------------------------------------------
# Your own class folders; exporting a MobileNet

SMALL_MOBILENET = 'mobilenet_v1_025'


@pytest.fixture(scope='module')
def small_mobilenet(mirror, tmp_path_factory):
  """(archive URL, build dir with the checkpoint files, {variable: value})."""
  served, url = mirror
  build = str(tmp_path_factory.mktemp('small_mobilenet') / 'build')
  archive, values = archive_pretrained(SMALL_MOBILENET, served, 32, build)
  return url + archive, build, values


def test_finetune_on_image_folder_uses_local_checkpoint(
    small_mobilenet, mirror, tmp_path):
  _, build, pretrained = small_mobilenet
  rng = np.random.RandomState(3)
  image_dir = str(tmp_path / 'photos')
  _write_class_folders(image_dir, ('cats', 'dogs', 'owls'), 4, rng,
                       formats=('jpeg', 'png'))
  # The checkpoint is already local: the recipe must not download (the URL
  # given here does not exist on the server).
  checkpoint_dir = tmp_path / 'checkpoints'
  checkpoint_dir.mkdir()
  for entry in os.listdir(build):
    os.link(os.path.join(build, entry), checkpoint_dir / entry)
  train_dir = str(tmp_path / 'train')
  result = run_recipe('finetune_on_image_folder.sh', dict(
      FINETUNE_SMOKE, IMAGE_DIR=image_dir, MODEL_NAME=SMALL_MOBILENET,
      DATASET_DIR=str(tmp_path / 'records'), TRAIN_DIR=train_dir,
      PRETRAINED_CHECKPOINT_DIR=str(checkpoint_dir),
      CHECKPOINT_URL=mirror[1] + 'missing.tgz', VALIDATION_FRACTION='0.25',
      TRAIN_IMAGE_SIZE='32'))
  assert 'Using the checkpoint already in' in result.stderr
  spec = nets_factory.get_spec(SMALL_MOBILENET)
  check_finetune_stages(train_dir, spec, pretrained, num_classes=3,
                        num_validation=3)  # One of the 4 images per class.


def test_finetune_on_image_folder_needs_image_dir(tmp_path):
  result = run_recipe('finetune_on_image_folder.sh',
                      dict(TRAIN_DIR=str(tmp_path / 'train')), check=False)
  assert result.returncode == 1
  assert 'IMAGE_DIR is not set' in result.stderr
  assert not os.path.exists(tmp_path / 'train')


def test_export_mobilenet_from_published_checkpoint(small_mobilenet,
                                                     tmp_path):
  url, build, _ = small_mobilenet
  export_dir = tmp_path / 'export'
  run_recipe('export_mobilenet.sh', dict(
      MODEL_NAME=SMALL_MOBILENET, IMAGE_SIZE='32', CHECKPOINT_URL=url,
      PRETRAINED_CHECKPOINT_DIR=str(tmp_path / 'checkpoints'),
      EXPORT_DIR=str(export_dir)))
  for name in (f'{SMALL_MOBILENET}_inf_graph.pb', 'frozen_graph.pb',
               'saved_model/saved_model.pb', 'model_float.tflite'):
    assert (export_dir / name).is_file(), name
  assert not (export_dir / 'model_int8.tflite').exists()
  metadata = json.load(open(export_dir / 'frozen_graph.pb.json'))
  assert metadata['input_shape'] == [None, 32, 32, 3]
  assert metadata['num_classes'] == 1001  # The published checkpoint's.
  # The frozen weights are the pretrained checkpoint's: same logits as the
  # network restored from it.
  batch = np.random.RandomState(0).uniform(-1, 1, (2, 32, 32, 3))
  graph_def = tf.GraphDef.FromString((export_dir / 'frozen_graph.pb')
                                     .read_bytes())
  with tf.Graph().as_default() as graph:
    tf.import_graph_def(graph_def, name='')
    with tf.Session(graph=graph) as session:
      frozen = session.run(metadata['logits'] + ':0',
                           {metadata['input'] + ':0': batch})
  with tf.Graph().as_default():
    images = tf.constant(batch, tf.float32)
    logits, _ = nets_factory.get_network_fn(SMALL_MOBILENET, 1001)(images)
    with tf.Session() as session:
      tf.train.Saver().restore(session, os.path.join(
          build, nets_factory.get_spec(SMALL_MOBILENET).checkpoint_file))
      expected = session.run(logits)
  np.testing.assert_allclose(frozen, expected, rtol=1e-4, atol=1e-5)
  interpreter = tf.lite.Interpreter(
      model_path=str(export_dir / 'model_float.tflite'))
  assert interpreter.get_output_details()[0]['shape'][-1] == 1001


def test_train_quantized_mobilenet_on_flowers(small_mobilenet, flowers_dir,
                                              tmp_path):
  """Float checkpoint -> QAT fine-tune (quantized from step 1) -> eval
  --quantize -> fully integer TFLite with int8 I/O."""
  url, _, pretrained = small_mobilenet
  train_dir = tmp_path / 'train'
  result = run_recipe('train_quantized_mobilenet_on_flowers.sh', dict(
      SMOKE, MODEL_NAME=SMALL_MOBILENET, CHECKPOINT_URL=url,
      PRETRAINED_CHECKPOINT_DIR=str(tmp_path / 'checkpoints'),
      DATASET_DIR=flowers_dir, TRAIN_DIR=str(train_dir), STEPS='2',
      QUANTIZE_DELAY='1', TRAIN_IMAGE_SIZE='32', TFLITE_IO_TYPE='int8'))
  assert '(quantized from step 1)' in result.stdout
  config = json.load(open(train_dir / 'train_config.json'))
  assert config['quantize_delay'] == 1
  assert _latest_step(str(train_dir)) == 2
  reader = tf.train.load_checkpoint(str(train_dir))
  names = reader.get_variable_to_shape_map()
  layer = 'MobilenetV1/MobilenetV1/Conv2d_0'
  assert f'{layer}/act_quant/min' in names
  # The body came from the float checkpoint (2 small steps moved it).
  np.testing.assert_allclose(reader.get_tensor('MobilenetV1/Conv2d_0/weights'),
                             pretrained['MobilenetV1/Conv2d_0/weights'],
                             atol=0.05)
  results = json.load(open(train_dir / 'eval' / 'eval_results.json'))
  assert results['num_examples'] == NUM_VALIDATION
  model = train_dir / 'export' / 'model_int8.tflite'
  metadata = json.load(open(str(model) + '.json'))
  assert metadata['tflite_io_type'] == 'int8'
  assert metadata['num_classes'] == len(FLOWER_CLASSES)
  assert not (train_dir / 'export' / 'model_float.tflite').exists()
  from slim_zoo import quantize
  assert quantize.integer_problems(model.read_bytes()) == []


# ----------------------------------------------------------------------------
# recipe_facts.py: the registry's facts, the checkpoint fetch


def _recipe_facts_module():
  import importlib.util
  spec = importlib.util.spec_from_file_location(
      'recipe_facts', os.path.join(SCRIPTS, 'recipe_facts.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_recipe_facts_are_the_registry_facts():
  facts = _recipe_facts_module().model_facts('resnet_v1_50')
  spec = nets_factory.get_spec('resnet_v1_50')
  assert facts['CHECKPOINT_URL'] == spec.checkpoint_url
  assert facts['CHECKPOINT_FILE'] == spec.checkpoint_file
  assert facts['EXCLUDE_SCOPES'] == 'resnet_v1_50/logits'
  assert facts['TRAINABLE_SCOPES'] == 'resnet_v1_50/logits'
  assert facts['DEFAULT_IMAGE_SIZE'] == '224'
  assert facts['LABELS_OFFSET'] == '1'  # 1000 classes, no background.
  v3 = _recipe_facts_module().model_facts('inception_v3')
  assert v3['EXCLUDE_SCOPES'] == 'InceptionV3/Logits,InceptionV3/AuxLogits'
  assert v3['LABELS_OFFSET'] == '0'


def test_recipe_facts_command_line(tmp_path, capsys):
  recipe_facts = _recipe_facts_module()
  recipe_facts.main(['--model_name=inception_v1'])
  lines = capsys.readouterr().out.splitlines()
  assert 'EXCLUDE_SCOPES=InceptionV1/Logits' in lines
  assert 'MIN_IMAGE_SIZE=32' in lines
  assert not any(line.startswith('CHECKPOINT_PATH=') for line in lines)
  with pytest.raises(SystemExit) as exit_info:
    recipe_facts.main(['--model_name=inception_v9'])
  assert exit_info.value.code == 2
  assert capsys.readouterr().err.startswith(
      "ERROR: Unknown model_name 'inception_v9'. Did you mean inception_v")
  # No published checkpoint: one clear line, nothing downloaded.
  with pytest.raises(SystemExit):
    recipe_facts.main(['--model_name=resnet_v1_200',
                       f'--checkpoint_dir={tmp_path}'])
  assert 'no published TF-Slim checkpoint' in capsys.readouterr().err
  assert os.listdir(tmp_path) == []


def test_fetch_checkpoint_checks_the_archive(tmp_path):
  recipe_facts = _recipe_facts_module()
  served = tmp_path / 'served'
  served.mkdir()
  (tmp_path / 'other.ckpt').write_bytes(b'not the checkpoint we want')
  with tarfile.open(served / 'wrong.tar.gz', 'w:gz') as archive:
    archive.add(tmp_path / 'other.ckpt', arcname='other.ckpt')
  with tarfile.open(served / 'evil.tar.gz', 'w:gz') as archive:
    archive.add(tmp_path / 'other.ckpt', arcname='../model.ckpt')
  dest = tmp_path / 'checkpoints'
  with serve_directory(served) as url:
    with pytest.raises(ValueError, match='holds no checkpoint named '
                       'model.ckpt'):
      recipe_facts.fetch_checkpoint(url + 'wrong.tar.gz', 'model.ckpt',
                                    str(dest))
    assert sorted(os.listdir(dest)) == ['other.ckpt']  # The archive is gone.
    with pytest.raises(dataset_utils.DatasetError, match='escaping'):
      recipe_facts.fetch_checkpoint(url + 'evil.tar.gz', 'model.ckpt',
                                    str(dest))
    assert not (tmp_path / 'model.ckpt').exists()
    with pytest.raises(dataset_utils.DatasetError, match='404'):
      recipe_facts.fetch_checkpoint(url + 'missing.tar.gz', 'model.ckpt',
                                    str(dest))
  # A V1 checkpoint file already present is used without any server.
  (dest / 'model.ckpt').write_bytes(b'v1 checkpoint')
  assert recipe_facts.fetch_checkpoint('http://127.0.0.1:1/none.tgz',
                                       'model.ckpt', str(dest)) == str(
                                           dest / 'model.ckpt')


def test_recipes_hard_code_no_registry_fact():
  facts = set()
  for spec in nets_factory.REGISTRY.values():
    facts.update(s for s in (spec.checkpoint_url, spec.checkpoint_file) if s)
    facts.update(spec.logits_scopes)
  recipes = [f for f in os.listdir(SCRIPTS)
             if f.endswith('.sh') and f != 'demo.sh']
  assert len(recipes) >= 10
  for recipe in recipes:
    text = open(os.path.join(SCRIPTS, recipe)).read()
    found = sorted(f for f in facts if re.search(
        r'(?<![\w/.-])' + re.escape(f) + r'(?![\w/.-])', text))
    assert not found, f'{recipe} hard-codes registry facts {found}'
