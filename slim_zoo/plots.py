"""Pictures of results: confusion matrix, image grids, benchmark chart.

Every figure is drawn on its own matplotlib Agg canvas, never through
pyplot's global state: nothing needs a display, nothing is left open, and a
notebook's or an application's own matplotlib backend is left alone. The
functions return a `matplotlib.figure.Figure` (a notebook shows it as a PNG
when it is the cell's value or passed to `IPython.display.display`);
`to_png` renders it and `save_png` writes it atomically.

eval_image_classifier (slim_zoo/evaluate.py) writes `confusion_matrix_figure`
and `misclassified_figure`, benchmark.py (slim_zoo/benchmark.py)
`benchmark_figure`; slim_walkthrough.ipynb uses them all.
"""

import io
import struct

import numpy as np

# Beyond these class counts a label per tick (or a count per cell) no longer
# fits, so the confusion matrix shows the colours alone.
_MAX_TICK_LABELS = 30
_MAX_CELL_COUNTS = 20
_MISTAKE_COLOR = '#c62828'
_CORRECT_COLOR = '#1b5e20'


def new_figure(width, height):
  """A Figure of `width` x `height` inches on an Agg canvas of its own.

  IPython displays it as a PNG (`_repr_png_`) even where pyplot's inline
  support is not loaded.
  """
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  class _Figure(Figure):

    def _repr_png_(self):
      return to_png(self)

  figure = _Figure(figsize=(width, height))
  FigureCanvasAgg(figure)
  return figure


def to_png(figure, dpi=100):
  """Renders `figure` to PNG bytes (RGBA)."""
  out = io.BytesIO()
  figure.savefig(out, format='png', dpi=dpi)
  return out.getvalue()


def save_png(figure, path, dpi=100):
  """Writes `figure` as a PNG at `path` (temporary file, then rename).

  Returns:
    The PNG bytes written.
  """
  from slim_zoo.datasets import dataset_utils
  data = to_png(figure, dpi)
  with dataset_utils.atomic_path(path) as tmp:
    with open(tmp, 'wb') as f:
      f.write(data)
  return data


def png_size(data):
  """(width, height) in pixels of PNG bytes, read from the IHDR chunk."""
  if data[:8] != b'\x89PNG\r\n\x1a\n' or data[12:16] != b'IHDR':
    raise ValueError('not PNG data (no PNG signature and IHDR chunk)')
  return struct.unpack('>II', data[16:24])


def confusion_matrix(labels, predictions, num_classes):
  """Counts [num_classes, num_classes]: row = true class, column = predicted.

  Args:
    labels, predictions: int arrays of the same length, values in
      [0, num_classes).

  Returns:
    int64 array whose sum is the number of examples and whose trace is the
    number predicted correctly.
  """
  labels = np.asarray(labels, np.int64).reshape(-1)
  predictions = np.asarray(predictions, np.int64).reshape(-1)
  if labels.shape != predictions.shape:
    raise ValueError(f'{labels.size} labels but {predictions.size} '
                     'predictions')
  flat = np.bincount(labels * num_classes + predictions,
                     minlength=num_classes * num_classes)
  return flat.reshape(num_classes, num_classes)


def per_class_accuracy(matrix):
  """Per true class: correct / examples, or None for a class with none."""
  matrix = np.asarray(matrix)
  totals = matrix.sum(axis=1)
  return [float(matrix[i, i] / totals[i]) if totals[i] else None
          for i in range(matrix.shape[0])]


def confusion_matrix_figure(matrix, class_names=None, title=None):
  """The confusion matrix as a heat map (rows true, columns predicted).

  Args:
    matrix: counts [num_classes, num_classes] (see `confusion_matrix`).
    class_names: tick labels, one per class (default: the class indices);
      shown for up to 30 classes, with the count in each cell up to 20.
    title: figure title; default states the accuracy the counts give.

  Returns:
    matplotlib Figure.
  """
  matrix = np.asarray(matrix)
  n = matrix.shape[0]
  total = int(matrix.sum())
  if title is None:
    accuracy = np.trace(matrix) / total if total else float('nan')
    title = (f'Confusion matrix: {int(np.trace(matrix))} of {total} correct '
             f'({accuracy:.2%})')
  side = float(np.clip(0.45 * n + 2.5, 4.5, 12))
  figure = new_figure(side + 1.2, side)
  axes = figure.add_subplot(1, 1, 1)
  image = axes.imshow(matrix, cmap='Blues', interpolation='nearest',
                      vmin=0, vmax=max(1, int(matrix.max(initial=0))))
  figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
  axes.set_xlabel('predicted class')
  axes.set_ylabel('true class')
  axes.set_title(title, fontsize=10)
  if n <= _MAX_TICK_LABELS:
    names = [str(c) for c in (class_names if class_names is not None
                              else range(n))]
    axes.set_xticks(range(n))
    axes.set_yticks(range(n))
    axes.set_xticklabels(names, rotation=90 if max(map(len, names)) > 3
                         else 0, fontsize=8)
    axes.set_yticklabels(names, fontsize=8)
  if n <= _MAX_CELL_COUNTS:
    threshold = matrix.max(initial=0) / 2
    for (row, col), count in np.ndenumerate(matrix):
      if count:
        axes.text(col, row, str(count), ha='center', va='center',
                  fontsize=7, color='white' if count > threshold else 'black')
  figure.tight_layout()
  return figure


def _displayable(image):
  """[h, w] or [h, w, 3] values in [0, 1] for imshow, from any image.

  uint8 images keep their values; float images (preprocessed, e.g. in
  [-1, 1] or mean-subtracted) are stretched to their own min..max.
  """
  image = np.asarray(image)
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in
                                  (3, 4)):
    raise ValueError(f'cannot show an image of shape {image.shape}; expected '
                     '[h, w], [h, w, 1], [h, w, 3] or [h, w, 4]')
  if image.dtype == np.uint8:
    return image.astype(np.float32) / 255.0
  image = image.astype(np.float32)
  low, high = float(image.min()), float(image.max())
  return (image - low) / (high - low) if high > low else np.zeros_like(image)


def image_grid_figure(images, titles=None, mistakes=None, columns=None,
                      title=None):
  """Images in a grid, each with an optional caption.

  Args:
    images: sequence (or array [n, h, w(, c)]) of images, uint8 or float
      (see `_displayable`).
    titles: one caption per image, or None.
    mistakes: one bool per image; True captions are red with a red frame,
      False ones green (None: black captions, no frames).
    columns: images per row (default: up to 8).
    title: figure title.

  Returns:
    matplotlib Figure.
  """
  images = list(images)
  count = len(images)
  columns = columns or max(1, min(8, count))
  rows = max(1, -(-count // columns))
  lines = max([str(t).count('\n') + 1 for t in titles or []] or [0])
  figure = new_figure(1.5 * columns,
                      (1.4 + 0.18 * lines) * rows + (0.4 if title else 0))
  for i, image in enumerate(images):
    axes = figure.add_subplot(rows, columns, i + 1)
    shown = _displayable(image)
    axes.imshow(shown, cmap='gray' if shown.ndim == 2 else None, vmin=0,
                vmax=1, interpolation='nearest')
    axes.set_xticks([])
    axes.set_yticks([])
    color = 'black'
    if mistakes is not None:
      color = _MISTAKE_COLOR if mistakes[i] else _CORRECT_COLOR
      for spine in axes.spines.values():
        spine.set_color(color)
        spine.set_linewidth(3 if mistakes[i] else 1)
    if titles is not None:
      axes.set_title(str(titles[i]), fontsize=8, color=color)
  if not images:
    axes = figure.add_subplot(1, 1, 1)
    axes.axis('off')
    axes.text(0.5, 0.5, 'no images', ha='center', va='center')
  if title:
    figure.suptitle(title, fontsize=10)
  figure.tight_layout()
  return figure


def _name(class_names, index):
  if class_names is None:
    return str(index)
  if isinstance(class_names, dict):
    return str(class_names.get(index, index))
  return str(class_names[index]) if 0 <= index < len(class_names) else str(
      index)


def misclassified_figure(images, labels, predictions, class_names=None,
                         probabilities=None, title=None):
  """A grid of misclassified examples, captioned 'true -> predicted'.

  Args:
    images: the examples' images (see `image_grid_figure`).
    labels, predictions: their true and predicted class indices.
    class_names: {index: name} or a list (default: indices).
    probabilities: optional probability of each prediction, shown after it.
    title: figure title (default counts the examples).

  Returns:
    matplotlib Figure.
  """
  titles = []
  for i, (label, prediction) in enumerate(zip(labels, predictions)):
    caption = (f'true {_name(class_names, int(label))}\n'
               f'pred {_name(class_names, int(prediction))}')
    if probabilities is not None:
      caption += f' ({float(probabilities[i]):.2f})'
    titles.append(caption)
  if title is None:
    title = (f'{len(titles)} misclassified examples' if titles else
             'No misclassified examples')
  return image_grid_figure(images, titles=titles,
                           mistakes=[True] * len(titles), title=title)


def benchmark_figure(rows, title=None):
  """Bar chart of images/sec: one group per network and measurement, one bar
  per implementation (ours, keras, or any other the rows name).

  Args:
    rows: benchmark result rows (slim_zoo/benchmark.py's report['results']):
      dicts with 'model', 'measurement', 'implementation',
      'images_per_sec' and, if measured, 'images_per_sec_min' / '_max'
      (drawn as the error bar) and 'precision'.
    title: figure title.

  Returns:
    matplotlib Figure.
  """
  groups, implementations = [], []
  values = {}
  for row in rows:
    precision = 'bf16' if row.get('precision') == 'bfloat16' else 'fp32'
    group = (row['model'], row['measurement'])
    if group not in groups:
      groups.append(group)
    implementation = row['implementation']
    if row['implementation'] != 'keras':
      implementation = f'{implementation} ({precision})'
    if implementation not in implementations:
      implementations.append(implementation)
    values[(group, implementation)] = row
  width = float(np.clip(1.2 * len(groups) * max(1, len(implementations)) / 2
                        + 3, 5, 16))
  figure = new_figure(width, 4.5)
  axes = figure.add_subplot(1, 1, 1)
  bar = 0.8 / max(1, len(implementations))
  for k, implementation in enumerate(implementations):
    xs, heights, low, high = [], [], [], []
    for g, group in enumerate(groups):
      row = values.get((group, implementation))
      if row is None or row.get('images_per_sec') is None:
        continue
      speed = row['images_per_sec']
      xs.append(g - 0.4 + bar * (k + 0.5))
      heights.append(speed)
      low.append(speed - row.get('images_per_sec_min', speed))
      high.append(row.get('images_per_sec_max', speed) - speed)
    bars = axes.bar(xs, heights, bar, yerr=[low, high], capsize=3,
                    label=implementation)
    axes.bar_label(bars, fmt='%.1f', fontsize=7, padding=2)
  axes.set_xticks(range(len(groups)))
  axes.set_xticklabels([f'{model}\n{measurement}'
                        for model, measurement in groups], fontsize=8)
  axes.set_ylabel('images / second (median; bar: min..max)')
  axes.set_title(title or 'Benchmark: images per second, higher is better',
                 fontsize=10)
  if implementations:
    axes.legend(fontsize=8)
  else:
    axes.text(0.5, 0.5, 'no results', ha='center', va='center',
              transform=axes.transAxes)
  axes.margins(y=0.15)
  figure.tight_layout()
  return figure
