"""The project as a pip user gets it: a wheel installed in a fresh venv.

The wheel is built from this checkout (no editable install) and installed
into a scratch virtual environment whose dependencies come from the test's
own environment (a .pth file; nothing is downloaded). The installed
commands then run from a directory outside the checkout: convert digits,
train a few steps, evaluate, export, classify. A stand-in top-level
`datasets` package (what Hugging Face installs) stays importable and
untouched beside ours.
"""

import ast
import glob
import json
import os
import shutil
import site
import subprocess
import sys
import tomllib
import zipfile

import pytest

from tests.conftest import ROOT

COMMANDS = ('train_image_classifier', 'eval_image_classifier',
            'export_inference_graph', 'download_and_convert_data',
            'classify_image', 'slim_zoo_tf_server', 'slim_zoo_benchmark',
            'slim_zoo_benchmark_input_pipeline', 'inspect_checkpoint',
            'convert_keras_weights')

# What a user's environment may already have under generic names.
_STAND_IN_DATASETS = '''"""Stand-in for Hugging Face `datasets` (a top-level package)."""
def load_dataset(name):
  return f'hf:{name}'
'''


def _run(command, cwd, env, timeout=600):
  result = subprocess.run(command, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
  if result.returncode != 0:
    raise AssertionError(f'{command[0]} failed ({result.returncode}):\n'
                         f'{result.stdout[-2000:]}\n{result.stderr[-3000:]}')
  return result


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
  # Built from a copy: setuptools writes build/ and *.egg-info beside the
  # sources, and must neither touch the checkout nor reuse stale files.
  source = tmp_path_factory.mktemp('source') / 'zoo'
  shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
      '.venv', '.git', 'build', '*.egg-info', '__pycache__', 'demo_output',
      'benchmark_results'))
  out = tmp_path_factory.mktemp('wheel')
  _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '--disable-pip-version-check', '-q',
        '-w', str(out), str(source)], cwd=str(out), env=dict(os.environ))
  (path,) = [p for p in out.iterdir() if p.suffix == '.whl']
  return path


@pytest.fixture(scope='module')
def venv(wheel, tmp_path_factory):
  """A new venv with the wheel installed; returns (bin dir, env, workdir)."""
  root = tmp_path_factory.mktemp('venv')
  _run([sys.executable, '-m', 'venv', str(root)], cwd=str(root),
       env=dict(os.environ))
  python = root / 'bin' / 'python'
  purelib = subprocess.check_output(
      [str(python), '-c', 'import sysconfig; print(sysconfig.get_paths()'
       '["purelib"])'], text=True).strip()
  # Dependencies from this environment; the project itself only from the
  # wheel (the checkout is not on any path of the new venv).
  with open(os.path.join(purelib, 'test_env_deps.pth'), 'w') as f:
    f.write('\n'.join(site.getsitepackages()) + '\n')
  os.makedirs(os.path.join(purelib, 'datasets'))
  with open(os.path.join(purelib, 'datasets', '__init__.py'), 'w') as f:
    f.write(_STAND_IN_DATASETS)
  env = {k: v for k, v in os.environ.items()
         if k not in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV')}
  env['PATH'] = str(root / 'bin') + os.pathsep + env.get('PATH', '')
  _run([str(python), '-m', 'pip', 'install', '--no-deps', '--no-index',
        '--disable-pip-version-check', '-q', str(wheel)], cwd=str(root),
       env=env)
  work = tmp_path_factory.mktemp('user_dir')
  return root / 'bin', env, str(work)


def test_wheel_holds_one_top_level_package_and_its_data(wheel):
  with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    metadata = z.read(next(n for n in names
                           if n.endswith('.dist-info/METADATA'))).decode()
    entry_points = z.read(next(n for n in names if n.endswith(
        '.dist-info/entry_points.txt'))).decode()
  top = {n.split('/')[0] for n in names if '.dist-info/' not in n}
  assert top == {'slim_zoo'}, top
  manifests = [n for n in names if n.startswith('slim_zoo/nets/manifests/')
               and n.endswith('.json')]
  # Every manifest, the quantized ones (manifests/quantized/) too.
  assert len(manifests) == len(glob.glob(os.path.join(
      ROOT, 'nets', 'manifests', '**', '*.json'), recursive=True))
  assert 'slim_zoo/datasets/imagenet_metadata.txt' in names
  for package_dir in ('nets', 'datasets', 'preprocessing', 'deployment',
                      'slim_zoo'):
    for dirpath, _, files in os.walk(os.path.join(ROOT, package_dir)):
      for name in files:
        if name.endswith('.py'):
          rel = os.path.relpath(os.path.join(dirpath, name), ROOT)
          if package_dir != 'slim_zoo':
            rel = os.path.join('slim_zoo', rel)
          assert rel in names, f'{rel} is missing from the wheel'
  assert 'Requires-Dist: tensorflow' in metadata
  # The license travels with the wheel.
  assert 'License-Expression: Apache-2.0' in metadata
  assert any(n.endswith('.dist-info/licenses/LICENSE') for n in names)
  for command in COMMANDS:
    assert f'{command} = slim_zoo.cli.' in entry_points


def test_pyproject_scripts_are_the_cli_modules():
  with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
    project = tomllib.load(f)['project']
  assert sorted(project['scripts']) == sorted(COMMANDS)
  for target in project['scripts'].values():
    module, _, attr = target.partition(':')
    path = os.path.join(ROOT, *module.split('.')) + '.py'
    tree = ast.parse(open(path).read())
    assert any(isinstance(n, ast.FunctionDef) and n.name == attr
               for n in tree.body), target


def test_installed_commands_convert_train_eval_export_classify(venv):
  bin_dir, env, work = venv
  data = os.path.join(work, 'digits')
  train_dir = os.path.join(work, 'train')
  _run([str(bin_dir / 'download_and_convert_data'), '--dataset_name=digits',
        f'--dataset_dir={data}'], work, env)
  assert os.path.isfile(os.path.join(data, 'labels.txt'))
  _run([str(bin_dir / 'train_image_classifier'), f'--train_dir={train_dir}',
        '--dataset_name=digits', f'--dataset_dir={data}', '--model_name=lenet',
        '--max_number_of_steps=30', '--batch_size=16', '--optimizer=sgd',
        '--learning_rate=0.01', '--learning_rate_decay_type=fixed'], work, env)
  result = _run([str(bin_dir / 'eval_image_classifier'),
                 f'--checkpoint_path={train_dir}',
                 f'--eval_dir={work}/eval', '--dataset_name=digits',
                 '--dataset_split_name=test', f'--dataset_dir={data}',
                 '--model_name=lenet'], work, env)
  results = json.load(open(os.path.join(work, 'eval', 'eval_results.json')))
  assert results['num_examples'] == 360 and results['global_step'] == 30
  assert f"eval/Accuracy[{results['eval/Accuracy']:.4f}]" in result.stdout
  export_dir = os.path.join(work, 'export')
  _run([str(bin_dir / 'export_inference_graph'), '--model_name=lenet',
        '--dataset_name=digits', f'--checkpoint_path={train_dir}',
        f'--export_dir={export_dir}'], work, env)
  assert os.path.isfile(os.path.join(export_dir, 'frozen_graph.pb'))
  samples = os.path.join(data, 'test_images')
  image = os.path.join(samples, sorted(os.listdir(samples))[0])
  result = _run([str(bin_dir / 'classify_image'),
                 f'--graph={export_dir}/frozen_graph.pb',
                 f'--labels_file={data}/labels.txt', f'--image_files={image}',
                 '--top_k=3'], work, env)
  lines = result.stdout.strip().splitlines()
  assert lines[0] == f'{image}:' and len(lines) == 4, result.stdout


def test_installed_package_coexists_with_a_top_level_datasets(venv):
  bin_dir, env, work = venv
  result = _run([str(bin_dir / 'python'), '-c',
                 'import datasets\n'
                 'from slim_zoo.datasets import dataset_factory\n'
                 'from slim_zoo.nets import nets_factory\n'
                 'import slim_zoo\n'
                 'print(datasets.load_dataset("x"))\n'
                 'print(dataset_factory.__name__, nets_factory.__file__)\n'
                 'print(sorted(dataset_factory.names())[:2])'], work, env)
  out = result.stdout.splitlines()
  assert out[0] == 'hf:x'
  assert out[1].startswith('slim_zoo.datasets.dataset_factory ')
  assert ROOT not in out[1]  # the installed copy, not the checkout
  assert out[2] == "['cifar10', 'digits']"


def test_installed_help_lists_every_flag(venv):
  bin_dir, env, work = venv
  result = _run([str(bin_dir / 'train_image_classifier'), '--help'], work,
                env)
  for flag in ('--model_name', '--dataset_dir', '--optimizer',
               '--learning_rate', '--train_dir', '--num_clones'):
    assert flag + ':' in result.stdout
