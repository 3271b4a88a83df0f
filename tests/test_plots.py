"""slim_zoo/plots.py and the pictures the commands write with it.

eval_image_classifier: confusion matrix (PNG, CSV, TensorBoard image) and
per-class accuracy counted in the pass that gives the accuracy, and the
misclassified-examples grid; benchmark.py's chart (its file is checked by
tests/test_performance.py's script run). Every PNG is opened and looked at:
size, and not blank.
"""

import csv
import glob
import io
import json
import os

import numpy as np
import pytest

from slim_zoo import evaluate as eval_lib
from slim_zoo import plots
from slim_zoo import train as train_lib
from slim_zoo.datasets import download_and_convert_digits
from slim_zoo.nets.compat import tf
from tests import train_helpers as th

_RED = np.array([0xc6, 0x28, 0x28]) / 255.0


def _read_png(data):
  """RGB float array [h, w, 3] of PNG bytes (matplotlib's own reader)."""
  import matplotlib.image
  return matplotlib.image.imread(io.BytesIO(data), format='png')[..., :3]


def _assert_picture(data, min_width, min_height):
  width, height = plots.png_size(data)
  pixels = _read_png(data)
  assert pixels.shape[:2] == (height, width)
  assert width >= min_width and height >= min_height, (width, height)
  # Not blank: a good share of the pixels is not the white background, and
  # they are not all one colour.
  drawn = (pixels < 0.95).any(axis=-1).mean()
  assert drawn > 0.03, drawn
  assert pixels.std() > 0.05
  return pixels


def _red_fraction(pixels):
  return (np.abs(pixels - _RED).max(axis=-1) < 0.08).mean()


@pytest.fixture(scope='module')
def train_dir(digits_dir, tmp_path_factory):
  """lenet after 8 steps: right often enough to have a diagonal, wrong often
  enough to have misclassified examples."""
  directory = tmp_path_factory.mktemp('plots_train')
  train_lib.train(th.config(directory, digits_dir, max_number_of_steps=8,
                            batch_size=8))
  return str(directory)


def _config(train_dir, digits_dir, eval_dir, **overrides):
  values = dict(checkpoint_path=train_dir, eval_dir=str(eval_dir),
                model_name='lenet', dataset_name='digits',
                dataset_dir=digits_dir, dataset_split_name='test',
                batch_size=7, num_readers=1, num_preprocessing_threads=1)
  values.update(overrides)
  return eval_lib.EvalConfig(**values)


def test_confusion_matrix_counts_every_pair():
  rng = np.random.RandomState(0)
  labels, predictions = rng.randint(0, 4, 50), rng.randint(0, 4, 50)
  matrix = plots.confusion_matrix(labels, predictions, 4)
  for true in range(4):
    for predicted in range(4):
      assert matrix[true, predicted] == np.sum(
          (labels == true) & (predictions == predicted))
  assert plots.per_class_accuracy(np.array([[3, 1], [0, 0]])) == [0.75, None]


def test_eval_writes_the_confusion_matrix_of_its_one_pass(
    train_dir, digits_dir, tmp_path):
  eval_dir = tmp_path / 'eval'
  results = eval_lib.evaluate(_config(train_dir, digits_dir, eval_dir,
                                      num_examples_to_plot=6))
  matrix = results['confusion_matrix']
  # 360 test images in batches of 7 (the last one of 3), each counted once;
  # the diagonal is exactly the accuracy reported for the same pass.
  assert matrix.shape == (10, 10) and matrix.sum() == 360
  assert np.trace(matrix) / 360 == results['eval/Accuracy']
  assert 0 < np.trace(matrix) < 360  # Some right, some wrong: a real test.
  # Rows are the true classes: their sums are the split's label counts.
  _, labels = download_and_convert_digits.load_split_arrays()['test']
  np.testing.assert_array_equal(matrix.sum(axis=1),
                                np.bincount(labels, minlength=10))
  # Another batch size reads the same examples: the same matrix.
  whole = eval_lib.evaluate(_config(train_dir, digits_dir, tmp_path / 'b',
                                    batch_size=360))
  np.testing.assert_array_equal(whole['confusion_matrix'], matrix)

  saved = json.loads((eval_dir / eval_lib.RESULTS_FILENAME).read_text())
  assert saved['eval/Accuracy'] == results['eval/Accuracy']
  assert 'confusion_matrix' not in saved and 'misclassified' not in saved
  per_class = saved['per_class_accuracy']
  assert [row['name'] for row in per_class][:3] == ['zero', 'one', 'two']
  for i, row in enumerate(per_class):
    assert row['label'] == i
    assert row['num_examples'] == matrix[i].sum()
    assert row['accuracy'] == pytest.approx(matrix[i, i] / matrix[i].sum())

  with open(eval_dir / saved['confusion_matrix_csv']) as f:
    rows = list(csv.reader(f))
  assert rows[0][1:] == [row['name'] for row in per_class]
  np.testing.assert_array_equal(np.array([r[1:] for r in rows[1:]], int),
                                matrix)

  png = (eval_dir / saved['confusion_matrix_png']).read_bytes()
  _assert_picture(png, 400, 400)
  # The same picture in TensorBoard, at the checkpoint's step.
  images = {value.tag: (event.step, value.image)
            for path in glob.glob(str(eval_dir / 'events.out.tfevents*'))
            for event in tf.train.summary_iterator(path)
            for value in event.summary.value if value.HasField('image')}
  step, image = images['eval/confusion_matrix']
  assert step == results['global_step'] == 8
  assert image.encoded_image_string == png
  assert (image.width, image.height) == plots.png_size(png)

  # The first misclassified examples of the pass, in a grid of red frames.
  mistakes = results['misclassified']
  wanted = min(6, 360 - int(np.trace(matrix)))
  assert len(mistakes['labels']) == len(mistakes['images']) == wanted
  assert all(a != b for a, b in zip(mistakes['labels'],
                                    mistakes['predictions']))
  assert all(matrix[a, b] for a, b in zip(mistakes['labels'],
                                          mistakes['predictions']))
  assert mistakes['images'][0].shape == (28, 28, 1)
  grid = (eval_dir / saved['misclassified_examples_png']).read_bytes()
  assert _red_fraction(_assert_picture(grid, 300, 100)) > 0.005
  assert 'eval/misclassified_examples' in images
  # Without --num_examples_to_plot there is no grid.
  assert not os.path.exists(tmp_path / 'b' / eval_lib.MISCLASSIFIED_PNG)


def test_num_examples_to_plot_is_checked_up_front(train_dir, digits_dir,
                                                  tmp_path):
  for bad in (-1, eval_lib.MAX_EXAMPLES_TO_PLOT + 1):
    with pytest.raises(ValueError, match=f'--num_examples_to_plot={bad} is '
                       'not in 0..100'):
      eval_lib.run(_config(train_dir, digits_dir, tmp_path / 'e',
                           num_examples_to_plot=bad))
  assert not os.path.exists(tmp_path / 'e')


def test_image_grid_marks_mistakes_and_fits_its_images():
  rng = np.random.RandomState(1)
  images = rng.uniform(-1, 1, [10, 28, 28, 1]).astype(np.float32)
  plain = plots.to_png(plots.image_grid_figure(
      images, titles=[str(i) for i in range(10)], columns=5))
  marked = plots.to_png(plots.image_grid_figure(
      images, titles=[str(i) for i in range(10)], columns=5,
      mistakes=[i % 2 == 0 for i in range(10)]))
  width, height = plots.png_size(plain)
  assert width == 5 * 150 and height > 2 * 140  # 1.5 x (1.4 + ...) inches
  assert _red_fraction(_assert_picture(plain, 700, 280)) < 0.001
  assert _red_fraction(_assert_picture(marked, 700, 280)) > 0.005
  rgb = plots.to_png(plots.image_grid_figure(
      rng.randint(0, 256, [3, 16, 16, 3]).astype(np.uint8)))
  _assert_picture(rgb, 300, 100)
  with pytest.raises(ValueError, match=r'shape \(4, 4, 2\)'):
    plots.image_grid_figure([np.zeros([4, 4, 2])])


def test_benchmark_chart_has_one_bar_per_row():
  rows = []
  for model, speed in (('lenet', 900.0), ('mobilenet_v2', 40.0)):
    for k, implementation in enumerate(('slim', 'keras', 'tflite')):
      rows.append({'model': model, 'measurement': 'inference',
                   'implementation': implementation,
                   'images_per_sec': speed * (1 + k / 4),
                   'images_per_sec_min': speed, 'images_per_sec_max':
                   speed * 2, 'precision': 'none'})
  figure = plots.benchmark_figure(rows)
  axes = figure.axes[0]
  bars = {container.get_label(): [patch.get_height() for patch in container]
          for container in axes.containers if hasattr(container, 'patches')}
  assert sorted(bars) == ['keras', 'slim (fp32)', 'tflite (fp32)']
  for label, implementation in (('slim (fp32)', 'slim'), ('keras', 'keras'),
                                ('tflite (fp32)', 'tflite')):
    assert bars[label] == [r['images_per_sec'] for r in rows
                           if r['implementation'] == implementation]
  ticks = [t.get_text() for t in axes.get_xticklabels()]
  assert ticks == ['lenet\ninference', 'mobilenet_v2\ninference']
  _assert_picture(plots.to_png(figure), 500, 400)
