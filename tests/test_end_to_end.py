"""The three scripts as a user runs them: train -> eval -> export -> classify.

Runs real subprocesses on the bundled digits data and checks numbers: eval
accuracy well above chance, the frozen graph's logits equal the checkpoint's,
resume continues from the saved global step, and bad input ends with one
clear error line and a non-zero exit.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from slim_zoo.nets import nets_factory
from slim_zoo.nets.compat import tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(script, *args, check=True):
  result = subprocess.run([sys.executable, os.path.join(ROOT, script), *args],
                          cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
  if check and result.returncode != 0:
    raise AssertionError(f'{script} failed ({result.returncode}):\n'
                         f'{result.stderr[-3000:]}')
  return result


def error_line(result):
  lines = [line for line in result.stderr.strip().splitlines()
           if line.strip()]
  return lines[-1] if lines else ''


@pytest.fixture(scope='module')
def trained(digits_dir, tmp_path_factory):
  train_dir = str(tmp_path_factory.mktemp('lenet_train'))
  run_script('train_image_classifier.py', f'--train_dir={train_dir}',
             '--dataset_name=digits', f'--dataset_dir={digits_dir}',
             '--model_name=lenet', '--max_number_of_steps=300',
             '--batch_size=32', '--optimizer=sgd', '--learning_rate=0.01',
             '--learning_rate_decay_type=fixed', '--weight_decay=0',
             '--save_interval_secs=600', '--seed=1')
  return train_dir


def test_train_eval_export_classify(trained, digits_dir, tmp_path):
  assert tf.train.latest_checkpoint(trained).endswith('model.ckpt-300')
  config = json.load(open(os.path.join(trained, 'train_config.json')))
  assert config['model_name'] == 'lenet' and config['max_number_of_steps'] == 300

  eval_dir = str(tmp_path / 'eval')
  result = run_script('eval_image_classifier.py', f'--checkpoint_path={trained}',
                      f'--eval_dir={eval_dir}', '--dataset_name=digits',
                      '--dataset_split_name=test', f'--dataset_dir={digits_dir}',
                      '--model_name=lenet', '--num_examples_to_plot=4')
  results = json.load(open(os.path.join(eval_dir, 'eval_results.json')))
  assert results['num_examples'] == 360
  assert results['eval/Accuracy'] > 0.8, results  # chance is 0.1
  # The pictures beside the results (their contents: tests/test_plots.py).
  for name in ('confusion_matrix.png', 'misclassified_examples.png'):
    assert os.path.getsize(os.path.join(eval_dir, name)) > 1000, name
  with open(os.path.join(eval_dir, 'confusion_matrix.csv')) as f:
    counts = [[int(v) for v in line.split(',')[1:]]
              for line in f.read().splitlines()[1:]]
  assert len(counts) == 10 and sum(map(sum, counts)) == 360
  assert sum(row['num_examples'] for row in
             results['per_class_accuracy']) == 360
  assert results['eval/Recall_5'] >= results['eval/Accuracy']
  assert f"eval/Accuracy[{results['eval/Accuracy']:.4f}]" in result.stdout
  assert any(f.startswith('events.out.tfevents') for f in os.listdir(eval_dir))

  graph_file = str(tmp_path / 'lenet_graph.pb')
  frozen_file = str(tmp_path / 'lenet_frozen.pb')
  result = run_script('export_inference_graph.py', '--model_name=lenet',
                      '--dataset_name=digits', f'--output_file={graph_file}',
                      f'--checkpoint_path={trained}',
                      f'--frozen_graph={frozen_file}')
  assert 'Output node: Predictions/Reshape_1' in result.stdout
  metadata = json.load(open(frozen_file + '.json'))
  assert metadata['input'] == 'input'
  assert metadata['input_shape'] == [None, 28, 28, 1]

  # Frozen graph logits == checkpoint session logits on the same input.
  batch = np.random.RandomState(0).uniform(-1, 1, (3, 28, 28, 1)).astype(
      np.float32)
  graph_def = tf.GraphDef.FromString(open(frozen_file, 'rb').read())
  assert not any(n.op in ('VariableV2', 'VarHandleOp') for n in graph_def.node)
  with tf.Graph().as_default():
    logits, = tf.import_graph_def(graph_def,
                                  return_elements=[metadata['logits'] + ':0'],
                                  name='')
    with tf.Session() as session:
      frozen_logits = session.run(logits, {'input:0': batch})
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [None, 28, 28, 1])
    logits, _ = nets_factory.get_network_fn('lenet', 10)(images)
    with tf.Session() as session:
      tf.train.Saver().restore(session, tf.train.latest_checkpoint(trained))
      checkpoint_logits = session.run(logits, {images: batch})
  np.testing.assert_allclose(frozen_logits, checkpoint_logits, atol=1e-4)

  samples = sorted(os.listdir(os.path.join(digits_dir, 'test_images')))
  image = os.path.join(digits_dir, 'test_images', samples[0])
  result = run_script('classify_image.py', f'--graph={frozen_file}',
                      f'--labels_file={os.path.join(digits_dir, "labels.txt")}',
                      f'--image_files={image}', '--top_k=3')
  lines = result.stdout.strip().splitlines()
  assert lines[0] == f'{image}:' and len(lines) == 4
  names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',
           'eight', 'nine']
  assert lines[1].split()[1] in names
  probabilities = [float(line.split()[-1]) for line in lines[1:]]
  assert probabilities == sorted(probabilities, reverse=True)


def test_training_resumes_from_the_latest_checkpoint(trained, digits_dir,
                                                     tmp_path):
  train_dir = str(tmp_path / 'resume')
  shutil.copytree(trained, train_dir)
  result = run_script('train_image_classifier.py', f'--train_dir={train_dir}',
                      '--dataset_name=digits', f'--dataset_dir={digits_dir}',
                      '--model_name=lenet', '--max_number_of_steps=320',
                      '--batch_size=32', '--optimizer=sgd',
                      '--learning_rate=0.01',
                      '--learning_rate_decay_type=fixed', '--weight_decay=0',
                      '--log_every_n_steps=5')
  assert tf.train.latest_checkpoint(train_dir).endswith('model.ckpt-320')
  assert 'step 301' not in result.stderr  # did not restart from 0
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(train_dir))
  assert reader.get_tensor('global_step') == 320


def _corrupt_copy(digits_dir, tmp_path):
  corrupt = tmp_path / 'corrupt'
  corrupt.mkdir()
  shutil.copy(os.path.join(digits_dir, 'labels.txt'), corrupt)
  data = bytearray(open(os.path.join(digits_dir, 'digits_test.tfrecord'),
                        'rb').read())
  for i in range(5000, 5400):
    data[i] ^= 0xFF
  (corrupt / 'digits_test.tfrecord').write_bytes(bytes(data))
  return str(corrupt)


def test_bad_input_gives_one_clear_error(trained, digits_dir, tmp_path):
  """Each command's bad input ends its process with one error line.

  A process per command (the flag validators, the exit code, the last
  line); the library errors behind the other eval flags are checked in
  process below: the command prints any UsageError the same way
  (tests/test_cli.py).
  """
  eval_args = [f'--checkpoint_path={trained}', f'--eval_dir={tmp_path}/e',
               '--dataset_split_name=test']
  cases = [
      ('eval_image_classifier.py',
       eval_args + ['--dataset_name=digits', f'--dataset_dir={digits_dir}',
                    '--model_name=lenet_v9'], 'Unknown model_name'),
      ('eval_image_classifier.py',
       eval_args + ['--dataset_name=digits',
                    f'--dataset_dir={_corrupt_copy(digits_dir, tmp_path)}',
                    '--model_name=lenet'], 'Corrupt TFRecord'),
      ('train_image_classifier.py',
       [f'--train_dir={tmp_path}/t', '--dataset_name=digits',
        '--model_name=lenet'], '--dataset_dir is required'),
  ]
  for script, args, expected in cases:
    result = run_script(script, *args, check=False)
    assert result.returncode == 2, (script, args, result.returncode)
    assert expected in error_line(result), (expected, error_line(result))
    assert error_line(result).startswith('ERROR: '), error_line(result)
    assert 'Traceback' not in result.stderr, result.stderr[-2000:]
  from slim_zoo import errors
  from slim_zoo import evaluate
  eval_dir = str(tmp_path / 'e')
  library_cases = [
      (dict(dataset_name='digitz'), 'Unknown dataset_name'),
      (dict(dataset_split_name='validation'), 'Unknown split'),
      (dict(dataset_dir=f'{tmp_path}/none'), 'does not exist'),
      (dict(checkpoint_path=f'{tmp_path}/no_ckpt'), 'does not exist'),
  ]
  for changes, expected in library_cases:
    values = dict(checkpoint_path=trained, eval_dir=eval_dir,
                  model_name='lenet', dataset_name='digits',
                  dataset_dir=digits_dir, dataset_split_name='test')
    values.update(changes)
    with pytest.raises(errors.UsageError) as error:
      evaluate.run(evaluate.EvalConfig(**values))
    assert expected in str(error.value), (changes, error.value)
    assert '\n' not in str(error.value), error.value
  # Nothing that looks like a finished evaluation was left behind.
  assert not os.path.exists(os.path.join(tmp_path, 'e', 'eval_results.json'))
