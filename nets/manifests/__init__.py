"""What each published TF-Slim checkpoint holds, as data: one JSON per network.

`<name>.json` records what the published network `name` builds (TensorFlow
2.21 graph mode, batch 1, default image size, training mode): `variables`
([name, shape] of every global variable, batch-norm statistics included; a
published checkpoint restores by these names), `trainable_variables`,
`end_points` (name -> static shape), `num_classes` (1001 with a background
class; 1000 for vgg_* and resnet_v1_*), `default_image_size`,
`input_shape`, `logits_op`, parameter totals and `eval_mode` (the same facts
with is_training=False). `extra_<gan>.json` are the GAN nets'. The tests
compare every registered network with its manifest, and the product reads
them where it needs facts about the published checkpoints.
"""

import functools
import json
import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def names():
  """Names with a manifest, sorted (GAN nets as 'extra_<name>')."""
  return sorted(f[:-len('.json')] for f in os.listdir(_HERE)
                if f.endswith('.json'))


@functools.lru_cache(maxsize=None)
def _read(name):
  path = os.path.join(_HERE, name + '.json')
  with open(path, encoding='utf-8') as f:
    return json.load(f)


def load(name):
  """The manifest dict of network `name` (a fresh copy; callers may edit it).

  Raises:
    FileNotFoundError: no manifest of that name.
  """
  return json.loads(json.dumps(_read(name)))
