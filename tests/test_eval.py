"""eval_image_classifier: one exact pass over a split, checkpoint file or
directory, moving-average restore, continuous evaluation, results files.

One short lenet training run on digits (with moving averages) is shared by
every test; evaluation runs in-process.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from slim_zoo import evaluate as eval_lib
from slim_zoo import train as train_lib
from slim_zoo.nets import nets_factory
from slim_zoo.nets.compat import slim, tf
from tests import train_helpers as th

EMA_DECAY = 0.9
STEPS = 6


@pytest.fixture(scope='module')
def train_dir(digits_dir, tmp_path_factory):
  directory = tmp_path_factory.mktemp('eval_train')
  train_lib.train(th.config(directory, digits_dir,
                            max_number_of_steps=STEPS,
                            moving_average_decay=EMA_DECAY))
  return str(directory)


def _config(train_dir, digits_dir, eval_dir, **overrides):
  values = dict(checkpoint_path=train_dir, eval_dir=str(eval_dir),
                model_name='lenet', dataset_name='digits',
                dataset_dir=digits_dir, dataset_split_name='test',
                batch_size=7, num_readers=1, num_preprocessing_threads=1)
  values.update(overrides)
  return eval_lib.EvalConfig(**values)


def test_split_not_a_multiple_of_the_batch_is_counted_once(
    train_dir, digits_dir, tmp_path):
  # digits test has 360 examples: 51 batches of 7 and one of 3.
  small = eval_lib.evaluate(_config(train_dir, digits_dir, tmp_path / 'a'))
  assert small['num_examples'] == 360 and small['num_batches'] == 52
  whole = eval_lib.evaluate(_config(train_dir, digits_dir, tmp_path / 'b',
                                    batch_size=360))
  assert whole['num_examples'] == 360 and whole['num_batches'] == 1
  # Same examples, counted once each: identical metrics (k / 360).
  for key in ('eval/Accuracy', 'eval/Recall_5'):
    assert small[key] == pytest.approx(whole[key], abs=1e-12)
    count = small[key] * 360
    assert count == pytest.approx(round(count), abs=1e-6)
  assert 0 < small['eval/Accuracy'] <= small['eval/Recall_5'] <= 1
  capped = eval_lib.evaluate(_config(train_dir, digits_dir, tmp_path / 'c',
                                     max_num_batches=2))
  assert capped['num_examples'] == 14 and capped['num_batches'] == 2

  # Results beside the summaries: JSON and a TensorBoard event at the step.
  saved = json.load(open(tmp_path / 'a' / eval_lib.RESULTS_FILENAME))
  assert saved['eval/Accuracy'] == small['eval/Accuracy']
  assert saved['global_step'] == STEPS
  events = glob.glob(str(tmp_path / 'a' / 'events.out.tfevents*'))
  values = {v.tag: (e.step, v.simple_value)
            for path in events for e in tf.train.summary_iterator(path)
            for v in e.summary.value}
  assert values['eval/Accuracy'][0] == STEPS
  assert values['eval/Accuracy'][1] == pytest.approx(small['eval/Accuracy'])
  assert 'eval/Recall_5' in values


def test_checkpoint_file_or_directory(train_dir, digits_dir, tmp_path):
  latest = tf.train.latest_checkpoint(train_dir)
  by_dir = eval_lib.evaluate(_config(train_dir, digits_dir, tmp_path,
                                     batch_size=120))
  by_file = eval_lib.evaluate(_config(train_dir, digits_dir, tmp_path,
                                      batch_size=120,
                                      checkpoint_path=latest))
  assert by_dir['checkpoint'] == by_file['checkpoint'] == latest
  assert by_dir['eval/Accuracy'] == by_file['eval/Accuracy']
  older = os.path.join(train_dir, 'model.ckpt-0')
  assert eval_lib.evaluate(_config(
      train_dir, digits_dir, tmp_path, batch_size=120,
      checkpoint_path=older))['global_step'] == 0


def test_moving_average_restore_gives_the_averaged_values(train_dir):
  checkpoint = tf.train.latest_checkpoint(train_dir)
  stored = th.checkpoint_values(checkpoint)
  for decay, suffix in ((EMA_DECAY, '/ExponentialMovingAverage'), (None, '')):
    with tf.Graph().as_default():
      nets_factory.get_network_fn('lenet', 10)(tf.zeros([1, 28, 28, 1]))
      global_step = tf.train.get_or_create_global_step()
      saver = tf.train.Saver(eval_lib.variables_to_restore(decay,
                                                           global_step))
      with tf.Session() as session:
        saver.restore(session, checkpoint)
        restored = {v.op.name: session.run(v)
                    for v in slim.get_model_variables()}
        assert session.run(global_step) == STEPS
    for name, value in restored.items():
      np.testing.assert_array_equal(value, stored[name + suffix],
                                    err_msg=name)
  name = 'LeNet/conv1/weights'
  assert not np.allclose(stored[name], stored[name + '/ExponentialMovingAverage'])


def test_moving_average_eval_and_misfit_errors(train_dir, digits_dir,
                                               tmp_path):
  averaged = eval_lib.evaluate(_config(train_dir, digits_dir, tmp_path,
                                       batch_size=120,
                                       moving_average_decay=EMA_DECAY))
  assert averaged['moving_averages'] and averaged['num_examples'] == 360
  # A checkpoint without averages, evaluated with --moving_average_decay.
  plain = tmp_path / 'plain'
  with tf.Graph().as_default():
    nets_factory.get_network_fn('lenet', 10)(tf.zeros([1, 28, 28, 1]))
    tf.train.get_or_create_global_step()
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      tf.train.Saver().save(session, str(plain / 'model.ckpt'))
  with pytest.raises(ValueError, match='set --moving_average_decay only if'):
    eval_lib.evaluate(_config(str(plain), digits_dir, tmp_path,
                              moving_average_decay=EMA_DECAY))
  with pytest.raises(ValueError, match='does not fit cifarnet'):
    eval_lib.evaluate(_config(str(plain), digits_dir, tmp_path,
                              model_name='cifarnet', eval_image_size=28))
  with pytest.raises(ValueError, match='is not a directory'):
    eval_lib.evaluate_loop(_config(
        str(plain / 'model.ckpt'), digits_dir, tmp_path,
        eval_interval_secs=1))


def _save_copy_at_step(train_dir, step):
  """Writes the latest checkpoint again as model.ckpt-<step>."""
  values = th.checkpoint_values(train_dir)
  values['global_step'] = np.int64(step)
  with tf.Graph().as_default():
    variables = {name: tf.Variable(value, name=name.replace('/', '_'))
                 for name, value in values.items()}
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      tf.train.Saver(variables).save(
          session, os.path.join(train_dir, 'model.ckpt'), global_step=step)


def test_continuous_evaluation_follows_new_checkpoints(train_dir, digits_dir,
                                                       tmp_path):
  follow = str(tmp_path / 'train')
  shutil.copytree(train_dir, follow)
  os.remove(os.path.join(follow, 'train_config.json'))
  cfg = _config(follow, digits_dir, tmp_path / 'eval', batch_size=120,
                eval_interval_secs=1, timeout=30)

  def on_result(result):
    if result['global_step'] == STEPS:
      # Training goes on: a new checkpoint and the run's last step appear.
      _save_copy_at_step(follow, 40)
      with open(os.path.join(follow, 'train_config.json'), 'w') as f:
        json.dump({'max_number_of_steps': 40}, f)

  start = time.time()
  results = eval_lib.evaluate_loop(cfg, on_result=on_result)
  assert [r['global_step'] for r in results] == [STEPS, 40]
  assert results[0]['eval/Accuracy'] == results[1]['eval/Accuracy']
  assert time.time() - start < 25  # stopped at the last step, not timeout
  assert json.load(open(tmp_path / 'eval' / eval_lib.RESULTS_FILENAME))[
      'global_step'] == 40

  # Without a known last step, --timeout ends the loop.
  os.remove(os.path.join(follow, 'train_config.json'))
  start = time.time()
  results = eval_lib.evaluate_loop(th.replace(cfg, timeout=1))
  assert [r['global_step'] for r in results] == [40]
  assert time.time() - start < 20


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_eval_script(*args):
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'eval_image_classifier.py'), *args],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  return result.returncode, lines[-1] if lines else ''


@pytest.fixture
def read_only_dir(tmp_path):
  """A directory nobody can write in, root included."""
  path = tmp_path / 'read_only'
  path.mkdir()
  if os.geteuid() == 0:
    # Root writes through permission bits: a read-only mount instead.
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs',
                    str(path)], check=True)
    yield path
    subprocess.run(['umount', str(path)], check=True)
  else:
    path.chmod(0o555)
    yield path
    path.chmod(0o755)


def test_eval_dir_is_checked_before_anything_runs(
    train_dir, digits_dir, tmp_path, read_only_dir, monkeypatch):
  def built(*args):
    raise AssertionError('the evaluation ran before --eval_dir was checked')

  monkeypatch.setattr(eval_lib, 'build_eval_graph', built)
  a_file = tmp_path / 'results'
  a_file.write_text('')
  for eval_dir, expected in (
      (read_only_dir, f'--eval_dir={read_only_dir} is not writable'),
      (read_only_dir / 'sub', f'--eval_dir={read_only_dir}/sub is not '
                              'writable'),
      (a_file, f'--eval_dir={a_file} is a file, not a directory'),
      (a_file / 'sub', f'--eval_dir={a_file}/sub is under the file {a_file}')):
    with pytest.raises(ValueError) as info:
      eval_lib.run(_config(train_dir, digits_dir, eval_dir))
    assert str(info.value).startswith(expected), info.value
  assert sorted(os.listdir(tmp_path)) == ['read_only', 'results']

  code, line = run_eval_script(
      f'--checkpoint_path={train_dir}', f'--eval_dir={read_only_dir}',
      '--model_name=lenet', '--dataset_name=digits',
      f'--dataset_dir={digits_dir}')
  assert code == 2
  assert line.startswith(f'ERROR: --eval_dir={read_only_dir} is not '
                         'writable'), line


def test_follow_loop_without_any_checkpoint_is_an_error(digits_dir,
                                                        tmp_path):
  empty = tmp_path / 'train'
  empty.mkdir()
  cfg = _config(str(empty), digits_dir, tmp_path / 'eval',
                eval_interval_secs=1, timeout=1)
  with pytest.raises(ValueError, match=(
      f'No checkpoint appeared in --checkpoint_path={empty} within '
      '--timeout=1 seconds')):
    eval_lib.evaluate_loop(cfg)
  code, line = run_eval_script(
      f'--checkpoint_path={empty}', f'--eval_dir={tmp_path}/eval',
      '--model_name=lenet', '--dataset_name=digits',
      f'--dataset_dir={digits_dir}', '--eval_interval_secs=1', '--timeout=1')
  assert code == 2
  assert line.startswith('ERROR: No checkpoint appeared'), line


def test_misfit_message_names_eval_image_size(train_dir, digits_dir,
                                              tmp_path):
  with pytest.raises(ValueError) as info:
    eval_lib.evaluate(_config(train_dir, digits_dir, tmp_path,
                              eval_image_size=32))
  text = str(info.value)
  assert 'LeNet/fc3/weights (model [4096, 1024], checkpoint [3136, 1024])' in (
      text)
  assert 'pass the --eval_image_size it was trained at' in text
  assert '--labels_offset' not in text
  with pytest.raises(ValueError, match='pass the --dataset_name and '
                     '--labels_offset it was trained with'):
    eval_lib.evaluate(_config(train_dir, digits_dir, tmp_path,
                              labels_offset=1))


def test_eval_image_size_defaults_to_the_published_recipe(tmp_path):
  # research/slim's README: ResNet v2 checkpoints are evaluated at 299.
  def size(model_name, checkpoint_path=str(tmp_path), **overrides):
    return eval_lib.eval_image_size(eval_lib.EvalConfig(
        checkpoint_path=checkpoint_path, eval_dir=str(tmp_path),
        model_name=model_name, dataset_name='imagenet', dataset_dir='',
        **overrides))

  for name in ('resnet_v2_50', 'resnet_v2_101', 'resnet_v2_152',
               'resnet_v2_200'):
    assert size(name) == 299
  assert size('resnet_v1_50') == size('vgg_16') == 224
  assert size('inception_v3') == 299 and size('nasnet_large') == 331
  assert size('resnet_v2_50', eval_image_size=224) == 224  # the flag wins
  # A checkpoint of our own training run: the size it was trained at.
  run = tmp_path / 'run'
  run.mkdir()
  (run / eval_lib.TRAIN_CONFIG_FILENAME).write_text(json.dumps(
      {'model_name': 'resnet_v2_50', 'train_image_size': None}))
  assert size('resnet_v2_50', str(run)) == 224
  assert size('resnet_v2_50', str(run / 'model.ckpt-5')) == 224
  (run / eval_lib.TRAIN_CONFIG_FILENAME).write_text(json.dumps(
      {'model_name': 'resnet_v2_50', 'train_image_size': 256}))
  assert size('resnet_v2_50', str(run)) == 256
  assert size('resnet_v2_101', str(run)) == 299  # another network's run


def test_eval_graph_is_built_at_the_resolved_size(train_dir, digits_dir,
                                                  tmp_path):
  cfg = _config(train_dir, digits_dir, tmp_path)
  dataset = eval_lib._build(cfg)
  with tf.Graph().as_default():
    ops = eval_lib.build_eval_graph(cfg, dataset)
  assert ops['image_size'] == 28
