"""THE registry: every network of the zoo, by name, with every fact about it.

One frozen `NetSpec` per network name. Other modules (preprocessing factory,
training and export scripts, fine-tune recipes, benchmark, README table) read
these records; nothing else keeps a table keyed by network names.

Builders and arg-scope functions are named as ``'module:function'`` strings and
imported on first use, so importing the registry stays cheap and one broken
family can never stop the others from loading.
"""

import collections.abc
import dataclasses
import difflib
import functools
import importlib
from typing import Any, Callable, Optional

from slim_zoo.errors import UsageError

_DOWNLOAD = 'http://download.tensorflow.org/models/'
_MOBILENET_V1 = _DOWNLOAD + 'mobilenet_v1_2018_08_02/'
_MOBILENET_V2 = 'https://storage.googleapis.com/mobilenet_v2/checkpoints/'
_MOBILENET_V3 = 'https://storage.googleapis.com/mobilenet_v3/checkpoints/'
_EDGETPU = 'https://storage.googleapis.com/mobilenet_edgetpu/checkpoints/'
_NASNET = 'https://storage.googleapis.com/download.tensorflow.org/models/'


@dataclasses.dataclass(frozen=True)
class NetSpec:
  """Everything the rest of the project needs to know about one network.

  Attributes:
    name: registry name (``--model_name``).
    builder: ``'module:function'`` of the graph builder
      ``fn(images, num_classes, is_training, **kwargs) -> (logits, end_points)``.
    arg_scope: ``'module:function'`` returning the arg scope; called with
      ``weight_decay=`` only.
    default_image_size: input height/width of the published model.
    num_classes: classes of the published checkpoint (1001 = with background).
    preprocessing: name in preprocessing_factory.
    logits_scopes: variable scopes a fine-tune on new classes must exclude
      (logits and aux logits).
    builder_kwargs: extra keyword arguments for the builder (variants).
    input_kind: ``'image'`` or ``'video'``.
    num_frames: default frame count for video models.
    min_image_size: smallest input height/width the architecture accepts at
      its default settings.
    checkpoint_url: published TF-Slim checkpoint archive, if any.
    checkpoint_file: checkpoint file name inside that archive.
    top1, top5: published ImageNet (or Kinetics) accuracies, in percent.
    eval_image_size: input size the published accuracy was measured at, when
      it is not `default_image_size` (research/slim evaluated its ResNet v2
      checkpoints at 299; see `eval_recipe`).
    keras_twin: the keras.applications model of the same architecture (what
      benchmark.py --compare=keras times), if there is one.
  """
  name: str
  builder: str
  arg_scope: str
  default_image_size: int
  num_classes: int
  preprocessing: str
  logits_scopes: tuple
  builder_kwargs: tuple = ()
  input_kind: str = 'image'
  num_frames: Optional[int] = None
  min_image_size: Optional[int] = None
  checkpoint_url: Optional[str] = None
  checkpoint_file: Optional[str] = None
  top1: Optional[float] = None
  top5: Optional[float] = None
  eval_image_size: Optional[int] = None
  keras_twin: Optional[str] = None

  @property
  def labels_offset(self):
    """Offset to apply to 1001-class (background = 0) dataset labels.

    Checkpoints converted from Caffe (VGG, ResNet v1) have 1000 classes and no
    background class, so ImageNet labels must be shifted down by one.
    """
    return 1 if self.num_classes == 1000 else 0

  @property
  def eval_recipe(self):
    """How the published checkpoint is evaluated: an `EvalRecipe`.

    `eval_image_classifier` takes its image size when --eval_image_size is
    not given; training keeps `default_image_size`.
    """
    return EvalRecipe(preprocessing=self.preprocessing,
                      image_size=self.eval_image_size or
                      self.default_image_size,
                      labels_offset=self.labels_offset)

  @property
  def exclude_scopes(self):
    """Comma-separated --checkpoint_exclude_scopes for a new-classes fine-tune."""
    return ','.join(self.logits_scopes)

  @property
  def trainable_scopes(self):
    """Comma-separated --trainable_scopes to train only the new logits."""
    return ','.join(self.logits_scopes)

  @property
  def kwargs(self):
    return dict(self.builder_kwargs)

  def load_builder(self) -> Callable[..., Any]:
    return _load(self.builder)

  def load_arg_scope(self) -> Callable[..., Any]:
    return _load(self.arg_scope)


@dataclasses.dataclass(frozen=True)
class EvalRecipe:
  """Evaluation settings of a published checkpoint (derived from its NetSpec).

  Attributes:
    preprocessing: name in preprocessing_factory.
    image_size: evaluation input height/width.
    labels_offset: offset of 1001-class dataset labels (1 for 1000 classes).
  """
  preprocessing: str
  image_size: int
  labels_offset: int


def _load(path):
  """'nets.vgg:vgg_16' -> the function (paths read as in TF-Slim's layout)."""
  module_name, _, attr = path.partition(':')
  return getattr(importlib.import_module('slim_zoo.' + module_name), attr)


def _spec(name, builder, arg_scope, size, classes, preprocessing, logits_scopes,
          **kwargs):
  builder_kwargs = tuple(sorted(kwargs.pop('builder_kwargs', {}).items()))
  return NetSpec(name=name, builder=builder, arg_scope=arg_scope,
                 default_image_size=size, num_classes=classes,
                 preprocessing=preprocessing,
                 logits_scopes=tuple(logits_scopes),
                 builder_kwargs=builder_kwargs, **kwargs)


_REGISTRY_ROWS = (
    # --- small nets ------------------------------------------------------
    _spec('lenet', 'nets.lenet:lenet', 'nets.lenet:lenet_arg_scope', 28, 10,
          'lenet', ['LeNet/fc4'], min_image_size=28),
    _spec('cifarnet', 'nets.cifarnet:cifarnet',
          'nets.cifarnet:cifarnet_arg_scope', 32, 10, 'cifarnet',
          ['CifarNet/logits'], min_image_size=32),
    # --- AlexNet / OverFeat / VGG -----------------------------------------
    _spec('alexnet_v2', 'nets.alexnet:alexnet_v2',
          'nets.alexnet:alexnet_v2_arg_scope', 224, 1001, 'vgg',
          ['alexnet_v2/fc8'], min_image_size=224),
    _spec('overfeat', 'nets.overfeat:overfeat',
          'nets.overfeat:overfeat_arg_scope', 231, 1001, 'vgg',
          ['overfeat/fc8'], min_image_size=231),
    _spec('vgg_a', 'nets.vgg:vgg_a', 'nets.vgg:vgg_arg_scope', 224, 1000,
          'vgg', ['vgg_a/fc8'], min_image_size=224),
    _spec('vgg_16', 'nets.vgg:vgg_16', 'nets.vgg:vgg_arg_scope', 224, 1000,
          'vgg', ['vgg_16/fc8'], min_image_size=224,
          checkpoint_url=_DOWNLOAD + 'vgg_16_2016_08_28.tar.gz',
          checkpoint_file='vgg_16.ckpt', top1=71.5, top5=89.8,
          keras_twin='VGG16'),
    _spec('vgg_19', 'nets.vgg:vgg_19', 'nets.vgg:vgg_arg_scope', 224, 1000,
          'vgg', ['vgg_19/fc8'], min_image_size=224,
          checkpoint_url=_DOWNLOAD + 'vgg_19_2016_08_28.tar.gz',
          checkpoint_file='vgg_19.ckpt', top1=71.1, top5=89.8,
          keras_twin='VGG19'),
    # --- Inception ----------------------------------------------------------
    _spec('inception_v1', 'nets.inception_v1:inception_v1',
          'nets.inception_v1:inception_v1_arg_scope', 224, 1001, 'inception',
          ['InceptionV1/Logits'], min_image_size=32,
          checkpoint_url=_DOWNLOAD + 'inception_v1_2016_08_28.tar.gz',
          checkpoint_file='inception_v1.ckpt', top1=69.8, top5=89.6),
    _spec('inception_v2', 'nets.inception_v2:inception_v2',
          'nets.inception_v2:inception_v2_arg_scope', 224, 1001, 'inception',
          ['InceptionV2/Logits'], min_image_size=32,
          checkpoint_url=_DOWNLOAD + 'inception_v2_2016_08_28.tar.gz',
          checkpoint_file='inception_v2.ckpt', top1=73.9, top5=91.8),
    _spec('inception_v3', 'nets.inception_v3:inception_v3',
          'nets.inception_v3:inception_v3_arg_scope', 299, 1001, 'inception',
          ['InceptionV3/Logits', 'InceptionV3/AuxLogits'], min_image_size=75,
          checkpoint_url=_DOWNLOAD + 'inception_v3_2016_08_28.tar.gz',
          checkpoint_file='inception_v3.ckpt', top1=78.0, top5=93.9,
          keras_twin='InceptionV3'),
    _spec('inception_v4', 'nets.inception_v4:inception_v4',
          'nets.inception_v4:inception_v4_arg_scope', 299, 1001, 'inception',
          ['InceptionV4/Logits', 'InceptionV4/AuxLogits'], min_image_size=75,
          checkpoint_url=_DOWNLOAD + 'inception_v4_2016_09_09.tar.gz',
          checkpoint_file='inception_v4.ckpt', top1=80.2, top5=95.2),
    _spec('inception_resnet_v2', 'nets.inception_resnet_v2:inception_resnet_v2',
          'nets.inception_resnet_v2:inception_resnet_v2_arg_scope', 299, 1001,
          'inception', ['InceptionResnetV2/Logits', 'InceptionResnetV2/AuxLogits'],
          min_image_size=75,
          checkpoint_url=_DOWNLOAD + 'inception_resnet_v2_2016_08_30.tar.gz',
          checkpoint_file='inception_resnet_v2_2016_08_30.ckpt',
          top1=80.4, top5=95.3,
          keras_twin='InceptionResNetV2'),
    # --- ResNet v1 (converted from Caffe: 1000 classes) ---------------------
    _spec('resnet_v1_50', 'nets.resnet_v1:resnet_v1_50',
          'nets.resnet_utils:resnet_arg_scope', 224, 1000, 'vgg',
          ['resnet_v1_50/logits'], min_image_size=32,
          checkpoint_url=_DOWNLOAD + 'resnet_v1_50_2016_08_28.tar.gz',
          checkpoint_file='resnet_v1_50.ckpt', top1=75.2, top5=92.2,
          keras_twin='ResNet50'),
    _spec('resnet_v1_101', 'nets.resnet_v1:resnet_v1_101',
          'nets.resnet_utils:resnet_arg_scope', 224, 1000, 'vgg',
          ['resnet_v1_101/logits'], min_image_size=32,
          checkpoint_url=_DOWNLOAD + 'resnet_v1_101_2016_08_28.tar.gz',
          checkpoint_file='resnet_v1_101.ckpt', top1=76.4, top5=92.9,
          keras_twin='ResNet101'),
    _spec('resnet_v1_152', 'nets.resnet_v1:resnet_v1_152',
          'nets.resnet_utils:resnet_arg_scope', 224, 1000, 'vgg',
          ['resnet_v1_152/logits'], min_image_size=32,
          checkpoint_url=_DOWNLOAD + 'resnet_v1_152_2016_08_28.tar.gz',
          checkpoint_file='resnet_v1_152.ckpt', top1=76.8, top5=93.2,
          keras_twin='ResNet152'),
    _spec('resnet_v1_200', 'nets.resnet_v1:resnet_v1_200',
          'nets.resnet_utils:resnet_arg_scope', 224, 1000, 'vgg',
          ['resnet_v1_200/logits'], min_image_size=32),
    # --- ResNet v2 (trained in TF-Slim: 1001 classes) -----------------------
    # research/slim's factory maps these to VGG preprocessing at 224, but its
    # checkpoints were trained and evaluated with Inception preprocessing at
    # 299 (its README's footnote): the published accuracy needs that recipe.
    _spec('resnet_v2_50', 'nets.resnet_v2:resnet_v2_50',
          'nets.resnet_utils:resnet_arg_scope', 224, 1001, 'inception',
          ['resnet_v2_50/logits'], min_image_size=32, eval_image_size=299,
          checkpoint_url=_DOWNLOAD + 'resnet_v2_50_2017_04_14.tar.gz',
          checkpoint_file='resnet_v2_50.ckpt', top1=75.6, top5=92.8,
          keras_twin='ResNet50V2'),
    _spec('resnet_v2_101', 'nets.resnet_v2:resnet_v2_101',
          'nets.resnet_utils:resnet_arg_scope', 224, 1001, 'inception',
          ['resnet_v2_101/logits'], min_image_size=32, eval_image_size=299,
          checkpoint_url=_DOWNLOAD + 'resnet_v2_101_2017_04_14.tar.gz',
          checkpoint_file='resnet_v2_101.ckpt', top1=77.0, top5=93.7,
          keras_twin='ResNet101V2'),
    _spec('resnet_v2_152', 'nets.resnet_v2:resnet_v2_152',
          'nets.resnet_utils:resnet_arg_scope', 224, 1001, 'inception',
          ['resnet_v2_152/logits'], min_image_size=32, eval_image_size=299,
          checkpoint_url=_DOWNLOAD + 'resnet_v2_152_2017_04_14.tar.gz',
          checkpoint_file='resnet_v2_152.ckpt', top1=77.8, top5=94.1,
          keras_twin='ResNet152V2'),
    _spec('resnet_v2_200', 'nets.resnet_v2:resnet_v2_200',
          'nets.resnet_utils:resnet_arg_scope', 224, 1001, 'inception',
          ['resnet_v2_200/logits'], min_image_size=32, eval_image_size=299),
    # --- MobileNet v1 -------------------------------------------------------
    _spec('mobilenet_v1', 'nets.mobilenet_v1:mobilenet_v1',
          'nets.mobilenet_v1:mobilenet_v1_arg_scope', 224, 1001, 'inception',
          ['MobilenetV1/Logits'], min_image_size=32,
          checkpoint_url=_MOBILENET_V1 + 'mobilenet_v1_1.0_224.tgz',
          checkpoint_file='mobilenet_v1_1.0_224.ckpt', top1=70.9, top5=89.9,
          keras_twin='MobileNet'),
    _spec('mobilenet_v1_075', 'nets.mobilenet_v1:mobilenet_v1',
          'nets.mobilenet_v1:mobilenet_v1_arg_scope', 224, 1001, 'inception',
          ['MobilenetV1/Logits'], min_image_size=32,
          builder_kwargs={'depth_multiplier': 0.75},
          checkpoint_url=_MOBILENET_V1 + 'mobilenet_v1_0.75_224.tgz',
          checkpoint_file='mobilenet_v1_0.75_224.ckpt', top1=68.4, top5=88.2),
    _spec('mobilenet_v1_050', 'nets.mobilenet_v1:mobilenet_v1',
          'nets.mobilenet_v1:mobilenet_v1_arg_scope', 224, 1001, 'inception',
          ['MobilenetV1/Logits'], min_image_size=32,
          builder_kwargs={'depth_multiplier': 0.50},
          checkpoint_url=_MOBILENET_V1 + 'mobilenet_v1_0.5_224.tgz',
          checkpoint_file='mobilenet_v1_0.5_224.ckpt', top1=63.3, top5=84.9),
    _spec('mobilenet_v1_025', 'nets.mobilenet_v1:mobilenet_v1',
          'nets.mobilenet_v1:mobilenet_v1_arg_scope', 224, 1001, 'inception',
          ['MobilenetV1/Logits'], min_image_size=32,
          builder_kwargs={'depth_multiplier': 0.25},
          checkpoint_url=_MOBILENET_V1 + 'mobilenet_v1_0.25_224.tgz',
          checkpoint_file='mobilenet_v1_0.25_224.ckpt', top1=49.8, top5=74.2),
    # --- MobileNet v2 / v3 / EdgeTPU (one generic builder) ------------------
    _spec('mobilenet_v2', 'nets.mobilenet.mobilenet_v2:mobilenet',
          'nets.mobilenet.mobilenet_v2:training_scope', 224, 1001, 'inception',
          ['MobilenetV2/Logits'], min_image_size=32,
          checkpoint_url=_MOBILENET_V2 + 'mobilenet_v2_1.0_224.tgz',
          checkpoint_file='mobilenet_v2_1.0_224.ckpt', top1=71.9, top5=91.0,
          keras_twin='MobileNetV2'),
    _spec('mobilenet_v2_140', 'nets.mobilenet.mobilenet_v2:mobilenet_v2_140',
          'nets.mobilenet.mobilenet_v2:training_scope', 224, 1001, 'inception',
          ['MobilenetV2/Logits'], min_image_size=32,
          checkpoint_url=_MOBILENET_V2 + 'mobilenet_v2_1.4_224.tgz',
          checkpoint_file='mobilenet_v2_1.4_224.ckpt', top1=75.0, top5=92.5),
    _spec('mobilenet_v2_035', 'nets.mobilenet.mobilenet_v2:mobilenet_v2_035',
          'nets.mobilenet.mobilenet_v2:training_scope', 224, 1001, 'inception',
          ['MobilenetV2/Logits'], min_image_size=32,
          checkpoint_url=_MOBILENET_V2 + 'mobilenet_v2_0.35_224.tgz',
          checkpoint_file='mobilenet_v2_0.35_224.ckpt', top1=60.3, top5=82.9),
    _spec('mobilenet_v3_small', 'nets.mobilenet.mobilenet_v3:small',
          'nets.mobilenet.mobilenet_v3:training_scope', 224, 1001, 'inception',
          ['MobilenetV3/Logits'], min_image_size=32,
          checkpoint_url=_MOBILENET_V3 + 'v3-small_224_1.0_float.tgz',
          checkpoint_file='v3-small_224_1.0_float/ema/model-388500',
          top1=67.5,
          keras_twin='MobileNetV3Small'),
    _spec('mobilenet_v3_large', 'nets.mobilenet.mobilenet_v3:large',
          'nets.mobilenet.mobilenet_v3:training_scope', 224, 1001, 'inception',
          ['MobilenetV3/Logits'], min_image_size=32,
          checkpoint_url=_MOBILENET_V3 + 'v3-large_224_1.0_float.tgz',
          checkpoint_file='v3-large_224_1.0_float/ema/model-540000',
          top1=75.2,
          keras_twin='MobileNetV3Large'),
    _spec('mobilenet_v3_small_minimalistic',
          'nets.mobilenet.mobilenet_v3:small_minimalistic',
          'nets.mobilenet.mobilenet_v3:training_scope', 224, 1001, 'inception',
          ['MobilenetV3/Logits'], min_image_size=32,
          checkpoint_url=_MOBILENET_V3 + 'v3-small-minimalistic_224_1.0_float.tgz',
          top1=61.9),
    _spec('mobilenet_v3_large_minimalistic',
          'nets.mobilenet.mobilenet_v3:large_minimalistic',
          'nets.mobilenet.mobilenet_v3:training_scope', 224, 1001, 'inception',
          ['MobilenetV3/Logits'], min_image_size=32,
          checkpoint_url=_MOBILENET_V3 + 'v3-large-minimalistic_224_1.0_float.tgz',
          top1=72.3),
    _spec('mobilenet_edgetpu', 'nets.mobilenet.mobilenet_v3:edge_tpu',
          'nets.mobilenet.mobilenet_v3:training_scope', 224, 1001, 'inception',
          ['MobilenetEdgeTPU/Logits'], min_image_size=32,
          checkpoint_url=_EDGETPU + 'mobilenet_edgetpu_224_1.0.tgz', top1=75.6),
    _spec('mobilenet_edgetpu_075', 'nets.mobilenet.mobilenet_v3:edge_tpu_075',
          'nets.mobilenet.mobilenet_v3:training_scope', 224, 1001, 'inception',
          ['MobilenetEdgeTPU/Logits'], min_image_size=32,
          checkpoint_url=_EDGETPU + 'mobilenet_edgetpu_224_0.75.tgz', top1=73.5),
    # --- NASNet / PNASNet ---------------------------------------------------
    _spec('nasnet_cifar', 'nets.nasnet.nasnet:build_nasnet_cifar',
          'nets.nasnet.nasnet:nasnet_cifar_arg_scope', 32, 10, 'cifarnet',
          ['final_layer', 'aux_11'], min_image_size=32),
    _spec('nasnet_mobile', 'nets.nasnet.nasnet:build_nasnet_mobile',
          'nets.nasnet.nasnet:nasnet_mobile_arg_scope', 224, 1001, 'inception',
          ['final_layer', 'aux_7'], min_image_size=32,
          checkpoint_url=_NASNET + 'nasnet-a_mobile_04_10_2017.tar.gz',
          checkpoint_file='model.ckpt', top1=74.0, top5=91.6,
          keras_twin='NASNetMobile'),
    _spec('nasnet_large', 'nets.nasnet.nasnet:build_nasnet_large',
          'nets.nasnet.nasnet:nasnet_large_arg_scope', 331, 1001, 'inception',
          ['final_layer', 'aux_11'], min_image_size=32,
          checkpoint_url=_NASNET + 'nasnet-a_large_04_10_2017.tar.gz',
          checkpoint_file='model.ckpt', top1=82.7, top5=96.2,
          keras_twin='NASNetLarge'),
    _spec('pnasnet_mobile', 'nets.nasnet.pnasnet:build_pnasnet_mobile',
          'nets.nasnet.pnasnet:pnasnet_mobile_arg_scope', 224, 1001,
          'inception', ['final_layer', 'aux_5'], min_image_size=32,
          checkpoint_url=_NASNET + 'pnasnet-5_mobile_2017_12_13.tar.gz',
          checkpoint_file='model.ckpt', top1=74.2, top5=91.9),
    _spec('pnasnet_large', 'nets.nasnet.pnasnet:build_pnasnet_large',
          'nets.nasnet.pnasnet:pnasnet_large_arg_scope', 331, 1001,
          'inception', ['final_layer', 'aux_7'], min_image_size=32,
          checkpoint_url=_NASNET + 'pnasnet-5_large_2017_12_13.tar.gz',
          checkpoint_file='model.ckpt', top1=82.9, top5=96.2),
    # --- Video (Kinetics-400) -----------------------------------------------
    _spec('i3d', 'nets.i3d:i3d', 'nets.i3d:i3d_arg_scope', 224, 400,
          'inception', ['InceptionV1/Logits'], input_kind='video',
          num_frames=64, min_image_size=32),
    _spec('s3dg', 'nets.s3dg:s3dg', 'nets.s3dg:s3dg_arg_scope', 224, 400,
          'inception', ['InceptionV1/Logits'], input_kind='video',
          num_frames=64, min_image_size=32),
)

REGISTRY = {spec.name: spec for spec in _REGISTRY_ROWS}
if len(REGISTRY) != len(_REGISTRY_ROWS):
  raise RuntimeError('nets_factory: duplicate network name in the registry')


def names():
  """All registered network names, in registry order."""
  return list(REGISTRY)


class _RegistryView(collections.abc.Mapping):
  """Read-only name -> function view of REGISTRY (research/slim's maps).

  Functions are imported on lookup, as get_network_fn does, so iterating
  the names or testing `in` imports no network module.
  """

  def __init__(self, what, load):
    self._what = what
    self._load = load

  def __getitem__(self, name):
    if not isinstance(name, str) or name not in REGISTRY:
      raise KeyError(name)
    return self._load(REGISTRY[name])

  def __iter__(self):
    return iter(REGISTRY)

  def __len__(self):
    return len(REGISTRY)

  def __contains__(self, name):
    return isinstance(name, str) and name in REGISTRY

  def __setitem__(self, name, value):
    raise TypeError(f'nets_factory.{self._what} is a read-only view of the '
                    f'registry; to add {name!r}, add a row to '
                    'nets_factory._REGISTRY_ROWS.')

  def __delitem__(self, name):
    self.__setitem__(name, None)

  def __repr__(self):
    return f'<nets_factory.{self._what}: {len(self)} networks>'


def _variant_builder(spec):
  """The builder of `spec` with its variant's arguments bound.

  A row without arguments gives the builder itself (`networks_map['vgg_16']
  is vgg.vgg_16`, as in research/slim).
  """
  builder = spec.load_builder()
  if not spec.builder_kwargs:
    return builder
  bound = functools.partial(builder, **spec.kwargs)
  functools.update_wrapper(bound, builder)
  bound.default_image_size = spec.default_image_size
  return bound


# research/slim's public maps: code that iterates them or looks a name up
# keeps working; the registry stays the only table behind them.
networks_map = _RegistryView('networks_map', _variant_builder)
arg_scopes_map = _RegistryView('arg_scopes_map', NetSpec.load_arg_scope)


def unknown_name_error(kind, name, valid):
  """ValueError naming an unknown `name`, the closest valid names, and all."""
  close = difflib.get_close_matches(str(name), list(valid), n=3, cutoff=0.5)
  hint = f' Did you mean {", ".join(close)}?' if close else ''
  return UsageError(f'Unknown {kind} {name!r}.{hint} '
                    f'Valid names: {", ".join(sorted(valid))}.')


def get_spec(name):
  """Returns the NetSpec of `name`; ValueError listing valid names if unknown.

  A NetSpec is returned as is, so code that resolved a name once passes the
  record on instead of the name.
  """
  if isinstance(name, NetSpec):
    return name
  try:
    return REGISTRY[name]
  except (KeyError, TypeError):
    raise unknown_name_error('model_name', name, REGISTRY) from None


def get_network_fn(name, num_classes, weight_decay=0.0, is_training=False):
  """Returns ``network_fn(images, **kwargs) -> (logits, end_points)``.

  Args:
    name: registered network name (or its NetSpec).
    num_classes: number of output classes; 0 or None returns the pre-logits
      features instead of logits.
    weight_decay: L2 regularization of the network's weights.
    is_training: whether the graph is built for training (batch norm in
      batch-statistics mode, dropout on).

  Returns:
    A function with attributes ``default_image_size`` and ``spec``. It enters
    the network's arg scope, so callers never set one themselves.

  Raises:
    ValueError: if `name` is not registered.
  """
  # TensorFlow is imported here, not with the registry: reading the
  # registry's facts (recipes, --help, checkpoint inspection) stays instant.
  from slim_zoo.nets.compat import slim
  spec = get_spec(name)
  builder = spec.load_builder()
  arg_scope_fn = spec.load_arg_scope()

  @functools.wraps(builder)
  def network_fn(images, **kwargs):
    merged = spec.kwargs
    merged.update(kwargs)
    with slim.arg_scope(arg_scope_fn(weight_decay=weight_decay)):
      return builder(images, num_classes=num_classes, is_training=is_training,
                     **merged)

  network_fn.default_image_size = spec.default_image_size
  network_fn.spec = spec
  return network_fn
