"""Writes nets/manifests/quantized/<name>.json for every network that quantizes.

A network quantizes when the rewrite of slim_zoo/quantize.py handles all its
layers and its fake-quantized inference graph converts to a fully integer
TFLite model. For each such network the manifest records the variables the
quantized training graph adds (the range variables, tf.contrib.quantize's
names) with their shapes; tests/test_quantize.py checks the built graphs
against them. Networks that do not quantize are listed with the reason.

  python scripts/make_quantized_manifests.py [NAME ...]
"""

import json
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:  # Run as a file of the checkout.
  sys.path.insert(0, _ROOT)

from slim_zoo import quantize  # noqa: E402
from slim_zoo.nets import nets_factory  # noqa: E402
from slim_zoo.nets.compat import tf  # noqa: E402
from slim_zoo.datasets import dataset_utils  # noqa: E402

# Small inputs keep the conversion check quick; names and shapes of the
# range variables do not depend on the input size.
_CHECK_SIZE = 64


def range_variables(name):
  """([[name, shape] ...] of the range variables the training rewrite adds,
  [names of the ops it removes])."""
  spec = nets_factory.get_spec(name)
  size = spec.default_image_size
  with tf.Graph().as_default():
    tf.train.get_or_create_global_step()
    network_fn = nets_factory.get_network_fn(
        name, num_classes=spec.num_classes, is_training=True)
    images = tf.zeros([1, size, size, 3])
    images = quantize.quantize_input(images, spec.preprocessing)
    model_variables = None
    network_fn(images)
    model_variables = {v.op.name for v in tf.global_variables()}
    quantize.rewrite(is_training=True, quant_delay=0)
    return ([[v.op.name, v.shape.as_list()] for v in tf.global_variables()
             if v.op.name not in model_variables], quantize.removed_ops())


def converts_to_integer(name):
  from slim_zoo import export_utils
  spec = nets_factory.get_spec(name)
  size = max(_CHECK_SIZE, spec.min_image_size or 0)
  if spec.name.startswith('inception_v3'):
    size = max(size, 107)
  with tf.Graph().as_default() as graph:
    config = export_utils.GraphConfig(model_name=name, num_classes=10,
                                      image_size=size, batch_size=1,
                                      channels=1 if name == 'lenet' else 3,
                                      quantize=True)
    _, outputs, metadata = export_utils.build_inference_graph(config)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      frozen = export_utils.freeze(session, graph.as_graph_def(),
                                   list(metadata['outputs'].values()))
  export_utils.convert_tflite_quantized(frozen, metadata, 'int8')


def main(names):
  out_dir = os.path.dirname(quantize.manifest_path('x'))
  os.makedirs(out_dir, exist_ok=True)
  failed = {}
  for name in names:
    spec = nets_factory.get_spec(name)
    try:
      if spec.input_kind != 'image':
        raise ValueError('takes video')
      if spec.preprocessing not in quantize.INPUT_RANGES:
        raise ValueError(f'preprocessing {spec.preprocessing}')
      variables, removed = range_variables(name)
      # Only networks that quantize get a manifest: check_supported reads
      # its presence, so write it for the conversion check, then decide.
      path = quantize.manifest_path(name)
      data = {'model_name': name, 'range_variables': variables,
              'image_size': spec.default_image_size,
              'num_classes': spec.num_classes}
      if removed:
        data['removed_ops'] = removed
        data['note'] = ('The quantized network computes without its local '
                        'response normalization (no int8 TFLite kernel): '
                        'training with --quantize_delay, eval --quantize '
                        'and export --quantize all leave it out.')
      dataset_utils.write_text_atomic(
          path, json.dumps(data, indent=1, sort_keys=True) + '\n')
      try:
        converts_to_integer(name)
      except Exception:
        os.remove(path)
        raise
      print(f'{name}: {len(variables)} range variables', flush=True)
    except Exception as e:  # pylint: disable=broad-except
      failed[name] = str(e).splitlines()[0][:200]
      print(f'{name}: does not quantize: {failed[name]}', flush=True)
  return failed


if __name__ == '__main__':
  if any(arg.startswith('-') for arg in sys.argv[1:]):
    print(__doc__.strip())  # Takes network names only.
    sys.exit(0 if sys.argv[1] in ('-h', '--help') else 2)
  for arg in sys.argv[1:]:
    if arg not in nets_factory.REGISTRY:
      error = nets_factory.unknown_name_error('model_name', arg,
                                              nets_factory.REGISTRY)
      sys.exit(f'ERROR: {error}')
  main(sys.argv[1:] or sorted(nets_factory.REGISTRY))
