"""What a user sees from the commands: complete --help, clean stderr.

Every top-level script's --help lists every flag the command accepts (what
--helpfull shows for the project's modules), under its group titles, and
exits 0. A short training and an export print each log line once and none
of TensorFlow's start-up banner (CUDA probing, CPU-feature notices).
"""

import collections
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# Script -> group titles its --help must show.
SCRIPTS = {
    'train_image_classifier.py': ['Model', 'Dataset', 'Preprocessing',
                                  'Training', 'Checkpoint',
                                  'Optimizer and learning rate',
                                  'Moving averages', 'Deployment', 'Cluster',
                                  'Evaluator (TF_CONFIG)', 'Performance',
                                  'Quantization'],
    'eval_image_classifier.py': ['Model', 'Dataset', 'Preprocessing',
                                 'Checkpoint', 'Evaluation',
                                 'Moving averages', 'Cluster', 'Performance',
                                 'TFLite', 'Quantization'],
    'export_inference_graph.py': ['Model', 'Dataset', 'Preprocessing',
                                  'Checkpoint', 'Export'],
    'classify_image.py': ['Classification', 'Performance'],
    'download_and_convert_data.py': ['Conversion'],
    'start_tf_server.py': ['Cluster'],
    'benchmark.py': ['Benchmark'],
    'benchmark_input_pipeline.py': ['Input pipeline benchmark'],
    'inspect_checkpoint.py': ['Checkpoint', 'Model', 'Output'],
    'convert_keras_weights.py': ['Model', 'Conversion'],
}

_BANNER = re.compile(r'cuInit|cuda|CUDA|cpu_feature_guard|absl::InitializeLog'
                     r'|oneDNN custom operations|rebuild TensorFlow')


def _run(*args, cwd=ROOT):
  return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True,
                        text=True, timeout=600)


def _project_flags(helpfull):
  """Flag names --helpfull lists under the project's own modules."""
  names, ours = set(), False
  for line in helpfull.splitlines():
    if line and not line.startswith(' ') and line.endswith(':'):
      ours = line.startswith('slim_zoo')
    match = re.match(r'\s+(?:-\w,)?--(?:\[no\])?(\w+):', line)
    if ours and match:
      names.add(match.group(1))
  return names


@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_help_lists_every_flag_by_group(script, tmp_path):
  result = _run(os.path.join(ROOT, script), '--help', cwd=str(tmp_path))
  assert result.returncode == 0, result.stderr
  assert result.stderr == ''
  full = _run(os.path.join(ROOT, script), '--helpfull', cwd=str(tmp_path))
  expected = _project_flags(full.stdout)
  assert len(expected) >= 2, full.stdout[:2000]
  listed = set(re.findall(r'^  --(\w+):', result.stdout, re.M))
  assert listed == expected, (sorted(expected - listed),
                              sorted(listed - expected))
  titles = re.findall(r'^(\S.*) flags:$', result.stdout, re.M)
  assert titles == SCRIPTS[script]


def _messages(stderr):
  """Log messages without absl's / Python logging's prefixes."""
  out = []
  for line in stderr.splitlines():
    line = re.sub(r'^[IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\] ', '', line)
    line = re.sub(r'^(INFO|WARNING|ERROR):tensorflow:', '', line)
    if line.strip():
      out.append(line)
  return out


def _assert_clean(stderr):
  assert not _BANNER.search(stderr), [
      line for line in stderr.splitlines() if _BANNER.search(line)]
  assert 'INFO:tensorflow:' not in stderr  # tf.logging's own handler
  messages = _messages(stderr)
  repeated = [m for m, n in collections.Counter(messages).items() if n > 1]
  assert not repeated, repeated


def test_train_and_export_print_each_line_once_and_no_banner(digits_dir,
                                                             tmp_path):
  train_dir = str(tmp_path / 'train')
  result = _run('train_image_classifier.py', f'--train_dir={train_dir}',
                '--dataset_name=digits', f'--dataset_dir={digits_dir}',
                '--model_name=lenet', '--max_number_of_steps=20',
                '--batch_size=8', '--log_every_n_steps=10',
                '--optimizer=sgd', '--learning_rate=0.01')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Saving checkpoints for 20' in result.stderr
  _assert_clean(result.stderr)
  progress = [m for m in _messages(result.stderr) if 'loss' in m]
  assert progress, result.stderr[-2000:]
  result = _run('export_inference_graph.py', '--model_name=lenet',
                '--dataset_name=digits', f'--checkpoint_path={train_dir}',
                f'--export_dir={tmp_path}/export')
  assert result.returncode == 0, result.stderr[-3000:]
  _assert_clean(result.stderr)
  assert 'Wrote ' in result.stdout


def test_expected_error_is_one_line_and_a_bug_keeps_its_traceback():
  from slim_zoo import errors
  result = _run('-c', 'from slim_zoo import errors\n'
                'def f(): raise errors.UsageError("--x=1 is bad; use 2.")\n'
                'errors.run_or_exit(f)')
  assert result.returncode == 2
  assert result.stderr == 'ERROR: --x=1 is bad; use 2.\n'
  result = _run('-c', 'from slim_zoo import errors\n'
                'def f(): raise ValueError("internal")\n'
                'errors.run_or_exit(f)')
  assert result.returncode == 1
  assert 'Traceback' in result.stderr and 'ValueError: internal' in result.stderr
  assert errors.one_line(PermissionError(13, 'Permission denied', '/x')) == (
      'Permission denied: /x (choose a writable location or fix its '
      'permissions).')
  assert errors.one_line(KeyError('k')) is None


def test_top_level_names_are_the_package_modules():
  result = _run('-c', 'import nets.nets_factory as a\n'
                'import slim_zoo.nets.nets_factory as b\n'
                'from datasets import dataset_factory as c\n'
                'import slim_zoo.datasets.dataset_factory as d\n'
                'from nets.mobilenet import mobilenet_v2 as e\n'
                'import slim_zoo.nets.mobilenet.mobilenet_v2 as f\n'
                'print(a is b, c is d, e is f, a.__name__)')
  assert result.stdout.split() == ['True', 'True', 'True',
                                   'slim_zoo.nets.nets_factory'], result.stderr


def test_conversion_progress_in_a_log_is_one_line_per_update(tmp_path):
  result = _run('download_and_convert_data.py', '--dataset_name=digits',
                f'--dataset_dir={tmp_path}/digits')
  assert result.returncode == 0, result.stderr[-2000:]
  assert '\r' not in result.stderr
  progress = [line for line in result.stderr.splitlines() if '>>' in line]
  assert progress and all(line.startswith('>> Converting digits ')
                          and line.count('>>') == 1 for line in progress)
  assert '>> Converting digits train 1437/1437' in progress
  _assert_clean(result.stderr)


_KERAS_PROBE = '''
import sys
from slim_zoo import cli
def main(argv):
  from slim_zoo.nets import compat
  print('keras' in sys.modules, compat.tf.keras.Model.__module__)
cli.run('A command.', lambda: None, main)
'''


def test_commands_load_tf_keras_not_keras_3(monkeypatch):
  """A command's TensorFlow names tf_keras as tf.keras (Keras 3, slow to
  import, is not loaded); a TF_USE_LEGACY_KERAS the user set is kept."""
  monkeypatch.delenv('TF_USE_LEGACY_KERAS', raising=False)
  result = _run('-c', _KERAS_PROBE)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split() == ['False', 'tf_keras.src.engine.training']
  from slim_zoo import cli
  cli._prefer_tf_keras()  # pylint: disable=protected-access
  assert os.environ['TF_USE_LEGACY_KERAS'] == '1'
  monkeypatch.setenv('TF_USE_LEGACY_KERAS', '0')
  cli._prefer_tf_keras()  # pylint: disable=protected-access
  assert os.environ['TF_USE_LEGACY_KERAS'] == '0'
