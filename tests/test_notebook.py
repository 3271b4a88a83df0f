"""slim_walkthrough.ipynb: committed clean, written as a user would, and it
runs top to bottom in a fresh kernel of this Python with what it shows true.

The kernel is this interpreter (scripts/run_notebook.py writes a kernelspec
for sys.executable into a temporary directory), its TMPDIR is the test's
directory, so everything the notebook writes lands there; each cell has a
time limit, and a cell that raises fails the test.
"""

import ast
import glob
import importlib.util
import json
import os
import re

import nbformat
import numpy as np

from tests.conftest import ROOT

NOTEBOOK = os.path.join(ROOT, 'slim_walkthrough.ipynb')
CELL_TIMEOUT = 600  # Seconds; training is the slowest cell (~90 s loaded).
# What the notebook's code may import: the library as installed, and the
# packages a user of it has.
ALLOWED_IMPORTS = {'dataclasses', 'glob', 'os', 'tempfile', 'json', 'shutil',
                   'numpy', 'matplotlib', 'IPython', 'absl', 'slim_zoo'}


def _run_notebook_module():
  spec = importlib.util.spec_from_file_location(
      'run_notebook', os.path.join(ROOT, 'scripts', 'run_notebook.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_committed_notebook_has_no_outputs_and_user_code_only():
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(notebook)
  code = [cell for cell in notebook.cells if cell.cell_type == 'code']
  assert len(code) >= 10
  for cell in code:
    assert cell.outputs == [] and cell.execution_count is None, (
        'strip the outputs before committing: ' + cell.source[:60])
    # Plain Python a user can copy: no shell escapes or magics, imports of
    # the installed library (slim_zoo.*) only, never the checkout's layout.
    tree = ast.parse(cell.source)
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
      elif isinstance(node, ast.ImportFrom):
        names = [node.module]
      else:
        continue
      for name in names:
        assert name.split('.')[0] in ALLOWED_IMPORTS, name
    assert 'sys.path' not in cell.source and 'subprocess' not in cell.source
  with open(NOTEBOOK) as f:
    raw = json.load(f)
  assert all('outputs' not in c or c['outputs'] == [] for c in raw['cells'])


def test_notebook_runs_top_to_bottom(tmp_path):
  run_notebook = _run_notebook_module()
  executed, _ = run_notebook.execute(
      NOTEBOOK, cell_timeout=CELL_TIMEOUT, env={'TMPDIR': str(tmp_path)})
  work_dirs = glob.glob(str(tmp_path / 'slim_walkthrough_*'))
  assert len(work_dirs) == 1, os.listdir(tmp_path)
  work = work_dirs[0]

  outputs = [o for cell in executed.cells if cell.cell_type == 'code'
             for o in cell.outputs]
  assert not [o for o in outputs if o.output_type == 'error']
  pictures = [o for o in outputs if 'image/png' in o.get('data', {})]
  # Stored and preprocessed images, curves, confusion matrix, mistakes,
  # predictions.
  assert len(pictures) >= 6, len(pictures)
  text = ''.join(o.get('text', '') for o in outputs
                 if o.output_type == 'stream')

  # What the cells printed is what the files hold.
  results = json.load(open(os.path.join(work, 'lenet_eval',
                                        'eval_results.json')))
  assert results['num_examples'] == 360
  assert results['eval/Accuracy'] > 0.9, results  # chance is 0.1
  assert f'accuracy {results["eval/Accuracy"]:.4f}' in text
  correct = round(results['eval/Accuracy'] * 360)
  assert f'{correct} of 360 on the diagonal' in text
  assert f'{360 - correct} mistakes in 360 test images' in text
  assert os.path.isfile(os.path.join(work, 'lenet_eval',
                                     'misclassified_examples.png'))
  # Loss and learning rate were read back from several summaries.
  counts = re.search(r"\{'losses/total_loss': (\d+), 'learning_rate': (\d+)\}",
                     text)
  assert counts and min(map(int, counts.groups())) >= 3, text[-2000:]

  # Frozen graph and TFLite agree with each other on the sample images.
  export = os.path.join(work, 'export')
  assert sorted(os.listdir(export)) == [
      'lenet.tflite', 'lenet.tflite.json', 'lenet_frozen.pb',
      'lenet_frozen.pb.json']
  difference = float(re.search(r"two models' probabilities: (\S+)",
                               text).group(1))
  assert difference < 1e-3

  # The fine-tune restored all but the registry's exclude scopes and
  # trained only them.
  from slim_zoo.nets.compat import tf
  before = tf.train.load_checkpoint(os.path.join(work, 'lenet_train'))
  after = tf.train.load_checkpoint(os.path.join(work, 'lenet_finetune'))
  for name in ('LeNet/conv1/weights', 'LeNet/conv2/biases',
               'LeNet/fc3/weights'):
    np.testing.assert_array_equal(before.get_tensor(name),
                                  after.get_tensor(name))
  assert not np.array_equal(before.get_tensor('LeNet/fc4/weights'),
                            after.get_tensor('LeNet/fc4/weights'))
  assert 'LeNet/fc4/weights    retrained' in text
  finetuned = json.load(open(os.path.join(work, 'lenet_finetune', 'eval',
                                          'eval_results.json')))
  assert finetuned['eval/Accuracy'] > 0.9

  # `make notebook` renders the executed notebook to HTML, pictures inline.
  html = run_notebook.to_html(executed)
  assert html.count('data:image/png;base64,') >= len(pictures)
  assert 'Fine-tune from the checkpoint' in html
