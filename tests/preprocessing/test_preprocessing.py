"""Tests of the four preprocessing families and the preprocessing factory.

Real photographs: the two JPEG samples scikit-learn ships (427 x 640 x 3),
decoded by TensorFlow (sklearn's own loader needs Pillow, which the project
does not depend on). Synthetic images cover the odd sizes: tiny (smaller
than every crop), very wide, and single-channel.

Graphs are evaluated in few sessions: one session computes every
family x mode x input combination at once.
"""

import importlib
import importlib.resources

import numpy as np
import pytest

from slim_zoo.nets import nets_factory
from slim_zoo.nets.compat import tf
from slim_zoo.preprocessing import inception_preprocessing
from slim_zoo.preprocessing import preprocessing_factory
from slim_zoo.preprocessing import vgg_preprocessing

FAMILIES = ('lenet', 'cifarnet', 'inception', 'vgg')
MODES = ('train', 'eval')
VGG_MEANS = np.array([123.68, 116.78, 103.94], np.float32)
VGG_GRAY_MEAN = float(VGG_MEANS.mean())

# Non-square output sizes catch height/width swaps.
PHOTO_SIZES = {'lenet': (28, 28), 'cifarnet': (32, 32),
               'inception': (224, 192), 'vgg': (224, 192)}
SMALL_SIZE = (32, 40)


def _photo_path(name):
  return str(importlib.resources.files('sklearn.datasets.images') / name)


def _rng():
  return np.random.default_rng(0)


def _synthetic_inputs():
  rng = _rng()
  return {
      'tiny': rng.integers(0, 256, (5, 7, 3), dtype=np.uint8),
      'wide': rng.uniform(0.0, 1.0, (20, 300, 3)).astype(np.float32),
      'single_channel': rng.integers(0, 256, (9, 11, 1), dtype=np.uint8),
  }


# name -> (input kind, use_grayscale, expected channels)
CASES = {
    'china_uint8': ('photo', False, 3),
    'flower_float': ('photo', False, 3),
    'china_grayscale': ('photo', True, 1),
    'tiny': ('small', False, 3),
    'tiny_grayscale': ('small', True, 1),
    'wide': ('small', False, 3),
    'single_channel': ('small', False, 1),
}


def _case_image(case, flower):
  """Builds the input tensor of `case` in the default graph."""
  if case in ('china_uint8', 'china_grayscale'):
    # Decoded in the graph: the static shape is [?, ?, 3] as in a pipeline.
    return tf.image.decode_jpeg(tf.io.read_file(_photo_path('china.jpg')),
                                channels=3)
  if case == 'flower_float':
    return tf.constant(flower.astype(np.float32) / 255.0)
  synthetic = _synthetic_inputs()
  return tf.constant(synthetic['tiny' if case.startswith('tiny') else case])


def _output_size(family, case):
  return PHOTO_SIZES[family] if CASES[case][0] == 'photo' else SMALL_SIZE


@pytest.fixture(scope='module')
def flower():
  with tf.Graph().as_default(), tf.Session() as sess:
    return sess.run(tf.image.decode_jpeg(
        tf.io.read_file(_photo_path('flower.jpg')), channels=3))


@pytest.fixture(scope='module')
def all_outputs(flower):
  """(first run, second run) of every family x mode x case, one session."""
  fetches = {}
  with tf.Graph().as_default():
    tf.set_random_seed(0)  # The same draws on every run of the suite.
    for case, (_, use_grayscale, _) in CASES.items():
      image = _case_image(case, flower)
      for family in FAMILIES:
        for mode in MODES:
          fn = preprocessing_factory.get_preprocessing(
              family, is_training=mode == 'train', use_grayscale=use_grayscale)
          fetches[family, mode, case] = fn(image, *_output_size(family, case))
    with tf.Session() as sess:
      return sess.run(fetches), sess.run(fetches)


def test_photo_inputs_are_the_real_samples(flower):
  assert flower.shape == (427, 640, 3)
  assert flower.dtype == np.uint8
  assert flower.std() > 20.0  # a photograph, not a blank image


@pytest.mark.parametrize('family', FAMILIES)
@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('case', sorted(CASES))
def test_shape_dtype_and_range(all_outputs, family, mode, case):
  out = all_outputs[0][family, mode, case]
  height, width = _output_size(family, case)
  channels = CASES[case][2]
  assert out.shape == (height, width, channels)
  assert out.dtype == np.float32
  assert np.all(np.isfinite(out))
  if family in ('lenet', 'inception'):
    assert out.min() >= -1.0 and out.max() <= 1.0
  elif family == 'vgg':
    means = VGG_MEANS if channels == 3 else np.float32([VGG_GRAY_MEAN])
    assert np.all(out >= -means - 1e-3)
    assert np.all(out <= 255.0 - means + 1e-3)
  else:  # cifarnet: per-image standardization.
    assert abs(out.mean()) < 1e-3
    if mode == 'eval':
      assert abs(out.std() - 1.0) < 1e-3
    else:
      # A random 32x32 crop of a large photo (contrast scaled by as little
      # as 0.2) can be nearly flat; per_image_standardization then divides
      # by its floor 1/sqrt(N) instead of the stddev, so std <= 1.
      assert out.std() <= 1.0 + 1e-3
  # Not collapsed to a constant (the inputs are all non-constant).
  assert out.std() > 1e-3


@pytest.mark.parametrize('family', FAMILIES)
def test_eval_is_deterministic(all_outputs, family):
  first, second = all_outputs
  for case in CASES:
    np.testing.assert_array_equal(first[family, 'eval', case],
                                  second[family, 'eval', case])


@pytest.mark.parametrize('family', ('cifarnet', 'inception', 'vgg'))
def test_train_is_random(all_outputs, family):
  first, second = all_outputs
  for case in ('china_uint8', 'flower_float'):
    assert not np.allclose(first[family, 'train', case],
                           second[family, 'train', case])


def test_lenet_train_equals_eval(all_outputs):
  # LeNet uses no augmentation: training and evaluation agree exactly.
  first, _ = all_outputs
  for case in CASES:
    np.testing.assert_array_equal(first['lenet', 'train', case],
                                  first['lenet', 'eval', case])


def test_inception_train_covers_full_range_on_photo(all_outputs):
  # Colour jitter plus scaling spans most of [-1, 1] on a real photograph;
  # a missing (x - 0.5) * 2 would leave it in [0, 1].
  out = all_outputs[0]['inception', 'train', 'china_uint8']
  assert out.min() < -0.5 and out.max() > 0.5


def _seeded_train_outputs(graph_seed, op_seed):
  """Train-mode outputs of a fresh graph and session."""
  with tf.Graph().as_default():
    tf.set_random_seed(graph_seed)
    image = tf.image.decode_jpeg(tf.io.read_file(_photo_path('china.jpg')),
                                 channels=3)
    fetches = {
        'inception_fast': inception_preprocessing.preprocess_image(
            image, 96, 80, is_training=True, seed=op_seed),
        'inception_slow': inception_preprocessing.preprocess_image(
            image, 96, 80, is_training=True, fast_mode=False, seed=op_seed),
        'vgg': vgg_preprocessing.preprocess_image(
            image, 96, 80, is_training=True, resize_side_min=100,
            resize_side_max=200, seed=op_seed),
        'cifarnet': preprocessing_factory.get_preprocessing(
            'cifarnet', is_training=True)(image, 32, 32, seed=op_seed),
    }
    with tf.Session() as sess:
      return sess.run(fetches)


def test_train_is_seed_reproducible():
  first = _seeded_train_outputs(graph_seed=1, op_seed=5)
  second = _seeded_train_outputs(graph_seed=1, op_seed=5)
  other_op_seed = _seeded_train_outputs(graph_seed=1, op_seed=6)
  for key in first:
    np.testing.assert_array_equal(first[key], second[key])
  for key in first:
    assert not np.allclose(first[key], other_op_seed[key]), key


def _coordinate_image(height, width):
  """float32 [height, width, 2]: channel 0 is the row, channel 1 the column."""
  rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing='ij')
  return np.stack([rows, cols], axis=-1).astype(np.float32)


def _coverage(crop, box):
  """Fraction of `box` inside `crop`; both (ymin, xmin, ymax, xmax)."""
  inter_h = max(0.0, min(crop[2], box[2]) - max(crop[0], box[0]))
  inter_w = max(0.0, min(crop[3], box[3]) - max(crop[1], box[1]))
  return inter_h * inter_w / ((box[2] - box[0]) * (box[3] - box[1]))


@pytest.mark.parametrize('boxes', [
    [[0.5, 0.55, 0.9, 0.95]],
    [[0.0, 0.0, 0.2, 0.25], [0.7, 0.6, 1.0, 1.0]],
], ids=['one_box', 'two_boxes'])
def test_distorted_crop_respects_boxes(boxes):
  height, width = 60, 90
  samples = 30
  with tf.Graph().as_default():
    tf.set_random_seed(3)
    cropped, distort_bbox = inception_preprocessing.distorted_bounding_box_crop(
        tf.constant(_coordinate_image(height, width)),
        tf.constant([boxes], tf.float32))
    assert distort_bbox.shape.as_list() == [1, 1, 4]
    with tf.Session() as sess:
      results = [sess.run([cropped, distort_bbox]) for _ in range(samples)]
  begins = set()
  for crop_image, crop_box in results:
    ymin, xmin, ymax, xmax = crop_box[0, 0]
    crop_h, crop_w = crop_image.shape[:2]
    # The returned box is the region actually sliced out.
    assert crop_image[0, 0, 0] == round(ymin * height)
    assert crop_image[0, 0, 1] == round(xmin * width)
    assert crop_h == round((ymax - ymin) * height)
    assert crop_w == round((xmax - xmin) * width)
    begins.add((crop_image[0, 0, 0], crop_image[0, 0, 1], crop_h, crop_w))
    # min_object_covered=0.1 of at least one box (pixel rounding slack).
    coverage = max(_coverage(crop_box[0, 0], box) for box in boxes)
    assert coverage >= 0.1 - 0.03
    area = (ymax - ymin) * (xmax - xmin)
    assert 0.05 - 0.01 <= area <= 1.0
    if (crop_h, crop_w) != (height, width):  # not the whole-image fallback
      assert 0.75 - 0.15 <= crop_w / crop_h <= 1.33 + 0.15
  # Random crops, not one fixed region.
  assert len(begins) > samples // 2


def test_distorted_crop_rejects_bad_bbox_shape():
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match=r'bbox must have shape'):
      inception_preprocessing.distorted_bounding_box_crop(
          tf.zeros([8, 8, 3]), [0.0, 0.0, 1.0, 1.0])


def _asymmetric_image(height, width, low, high, gray):
  rng = _rng()
  image = rng.uniform(low, high, (height, width, 1 if gray else 3))
  if gray:
    image = np.repeat(image, 3, axis=-1)
  return image.astype(np.float32)


def _flip_outcomes(outputs, image, to_residual):
  """Per output, whether it matches the mirrored (True) or plain image."""
  outcomes = []
  for out in outputs:
    plain = to_residual(out, image)
    mirrored = to_residual(out, image[:, ::-1])
    assert min(plain, mirrored) < 1e-4
    assert max(plain, mirrored) > 1e-2
    outcomes.append(mirrored < plain)
  return outcomes


def test_vgg_train_flips_left_right():
  # Resize side == image height and crop == image size: the only remaining
  # transformation is the random flip (and the mean subtraction).
  image = (_asymmetric_image(12, 16, 0.0, 1.0, gray=False) * 255).round()
  image = image.astype(np.uint8)
  with tf.Graph().as_default():
    tf.set_random_seed(2)
    outputs = [vgg_preprocessing.preprocess_for_train(
        tf.constant(image), 12, 16, resize_side_min=12, resize_side_max=12,
        seed=seed) for seed in range(16)]
    with tf.Session() as sess:
      outputs = sess.run(outputs)
  flipped = _flip_outcomes(
      outputs, image.astype(np.float32),
      lambda out, img: np.abs(out + VGG_MEANS - img).max())
  assert any(flipped) and not all(flipped)


def test_inception_train_flips_left_right():
  # Gray pixels: saturation is a no-op; values in [0.3, 0.7] leave room for
  # the brightness delta (<= 32/255) without clipping. So the output is the
  # (possibly mirrored) input plus one constant.
  image = _asymmetric_image(12, 16, 0.3, 0.7, gray=True)
  with tf.Graph().as_default():
    tf.set_random_seed(2)
    outputs = [inception_preprocessing.preprocess_for_train(
        tf.constant(image), 12, 16, random_crop=False, fast_mode=True,
        seed=seed) for seed in range(16)]
    with tf.Session() as sess:
      outputs = sess.run(outputs)
  flipped = _flip_outcomes(
      outputs, image, lambda out, img: np.std((out + 1.0) / 2.0 - img))
  assert any(flipped) and not all(flipped)


@pytest.fixture(scope='module')
def exact_outputs():
  """Outputs whose values follow from the formulas, one session."""
  const_u8 = lambda value, shape=(30, 50, 3): tf.constant(  # noqa: E731
      np.full(shape, value, np.uint8))
  coords = _coordinate_image(16, 16)[..., :1] / 16.0
  sized = _rng().integers(0, 256, (256, 300, 3), dtype=np.uint8)
  with tf.Graph().as_default():
    fetches = {
        'vgg_eval_u8_100': vgg_preprocessing.preprocess_image(
            const_u8(100), 16, 24),
        'vgg_train_u8_100': vgg_preprocessing.preprocess_image(
            const_u8(100), 16, 24, is_training=True),
        'vgg_gray_u8_100': vgg_preprocessing.preprocess_image(
            const_u8(100), 16, 24, use_grayscale=True),
        'vgg_float_half': vgg_preprocessing.preprocess_image(
            tf.fill([30, 50, 3], 0.5), 16, 24),
        'vgg_tiny_small_side': vgg_preprocessing.preprocess_image(
            const_u8(7, (5, 7, 3)), 32, 40, resize_side=8),
        'vgg_central_crop': vgg_preprocessing.preprocess_image(
            tf.constant(sized), 224, 224),
        'inception_eval_half': inception_preprocessing.preprocess_image(
            tf.fill([30, 50, 3], 0.5), 24, 16),
        'inception_eval_u8_255': inception_preprocessing.preprocess_image(
            const_u8(255), 24, 16),
        'inception_central_crop': inception_preprocessing.preprocess_image(
            tf.constant(coords), 8, 8, central_fraction=0.5),
        'inception_no_crop': inception_preprocessing.preprocess_image(
            tf.constant(coords), None, None, central_fraction=None),
        'lenet_u8_255': preprocessing_factory.get_preprocessing('lenet')(
            const_u8(255), 28, 28),
        'lenet_u8_0': preprocessing_factory.get_preprocessing('lenet')(
            const_u8(0), 28, 28),
        'lenet_sized': preprocessing_factory.get_preprocessing('lenet')(
            tf.constant(sized), 28, 28),
        'lenet_sized_gray': preprocessing_factory.get_preprocessing(
            'lenet', use_grayscale=True)(tf.constant(sized), 28, 28),
        'lenet_padded': preprocessing_factory.get_preprocessing('lenet')(
            tf.constant(sized[:5, :7]), 28, 28),
        'lenet_float': preprocessing_factory.get_preprocessing('lenet')(
            tf.constant(sized[:28, :28] / np.float32(255.0)), 28, 28),
        'cifarnet_eval_const': preprocessing_factory.get_preprocessing(
            'cifarnet')(const_u8(77, (40, 44, 3)), 32, 32),
    }
    with tf.Session() as sess:
      return sess.run(fetches), coords, sized


def test_vgg_mean_subtraction_is_exact(exact_outputs):
  out, _, _ = exact_outputs
  for key in ('vgg_eval_u8_100', 'vgg_train_u8_100'):
    assert out[key].shape == (16, 24, 3)
    np.testing.assert_allclose(out[key], np.broadcast_to(
        100.0 - VGG_MEANS, (16, 24, 3)), atol=1e-4)
  # rgb_to_grayscale's luma weights sum to 0.9999, hence the 0.02 slack.
  np.testing.assert_allclose(out['vgg_gray_u8_100'],
                             np.full((16, 24, 1), 100.0 - VGG_GRAY_MEAN),
                             atol=0.02)
  np.testing.assert_allclose(out['vgg_float_half'], np.broadcast_to(
      127.5 - VGG_MEANS, (16, 24, 3)), atol=1e-3)


def test_vgg_upscales_images_smaller_than_the_crop(exact_outputs):
  out, _, _ = exact_outputs
  assert out['vgg_tiny_small_side'].shape == (32, 40, 3)
  np.testing.assert_allclose(out['vgg_tiny_small_side'], np.broadcast_to(
      7.0 - VGG_MEANS, (32, 40, 3)), atol=1e-4)


def test_vgg_eval_central_crop_is_exact(exact_outputs):
  # Smallest side already 256: no resampling, offsets (256-224)//2 and
  # (300-224)//2.
  out, _, sized = exact_outputs
  expected = sized[16:240, 38:262].astype(np.float32) - VGG_MEANS
  np.testing.assert_allclose(out['vgg_central_crop'], expected, atol=1e-4)


def test_inception_eval_scaling_is_exact(exact_outputs):
  out, coords, _ = exact_outputs
  np.testing.assert_allclose(out['inception_eval_half'],
                             np.zeros((24, 16, 3)), atol=1e-6)
  np.testing.assert_allclose(out['inception_eval_u8_255'],
                             np.ones((24, 16, 3)), atol=1e-6)
  # central_fraction 0.5 of 16 rows/cols keeps rows/cols 4..11; the 8 x 8
  # resize is then the identity.
  np.testing.assert_allclose(out['inception_central_crop'],
                             (coords[4:12, 4:12] - 0.5) * 2.0, atol=1e-6)
  np.testing.assert_allclose(out['inception_no_crop'],
                             (coords - 0.5) * 2.0, atol=1e-6)


def test_lenet_and_cifarnet_constants_are_exact(exact_outputs):
  out, _, _ = exact_outputs
  # research/slim's (v - 128) / 128, not v / 127.5 - 1.
  np.testing.assert_array_equal(out['lenet_u8_255'],
                                np.full((28, 28, 3), 127.0 / 128.0))
  np.testing.assert_array_equal(out['lenet_u8_0'], -np.ones((28, 28, 3)))
  # The float32 mean's rounding error is divided by the minimum stddev
  # 1/sqrt(32*32*3) = 0.018, hence 1e-4 rather than 1e-6.
  np.testing.assert_allclose(out['cifarnet_eval_const'],
                             np.zeros((32, 32, 3)), atol=1e-4)


def test_lenet_matches_research_slim_formula_on_a_fixed_image(exact_outputs):
  out, _, sized = exact_outputs
  # Central 28 x 28 crop of 256 x 300: offsets (256-28)//2, (300-28)//2.
  crop = sized[114:142, 136:164].astype(np.float64)
  expected = (crop - 128.0) / 128.0
  np.testing.assert_allclose(out['lenet_sized'], expected, atol=1e-7)
  # Upstream converts to grayscale after the scaling (ITU-R 601 luma).
  luma = expected @ np.array([0.2989, 0.5870, 0.1140])
  np.testing.assert_allclose(out['lenet_sized_gray'][..., 0], luma, atol=1e-6)
  # A 5 x 7 image is zero-padded (offsets 11, 10) before the scaling.
  padded = np.zeros((28, 28, 3))
  padded[11:16, 10:17] = sized[:5, :7]
  np.testing.assert_allclose(out['lenet_padded'], (padded - 128.0) / 128.0,
                             atol=1e-7)
  # Float input in [0, 1] is read as v / 255.
  np.testing.assert_allclose(
      out['lenet_float'], (sized[:28, :28] - 128.0) / 128.0, atol=1e-6)
  # The old formula v / 127.5 - 1 differs by up to 7.8e-3 (issue #23).
  assert np.abs(out['lenet_sized'] - (crop / 127.5 - 1.0)).max() > 7e-3


@pytest.mark.parametrize('family', ('inception', 'vgg'))
@pytest.mark.parametrize('is_training', (True, False))
def test_rejects_images_that_are_not_rank_3(family, is_training):
  fn = preprocessing_factory.get_preprocessing(family, is_training)
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match=r'rank 3'):
      fn(tf.zeros([8, 8]), 4, 4)


def test_option_validation():
  with tf.Graph().as_default():
    image = tf.zeros([8, 8, 3])
    with pytest.raises(ValueError, match=r'central_fraction=1.5'):
      inception_preprocessing.preprocess_image(image, 4, 4,
                                               central_fraction=1.5)
    with pytest.raises(ValueError, match=r'color_ordering=2'):
      inception_preprocessing.distort_color(image, 2, fast_mode=True)
    with pytest.raises(ValueError, match=r'resize_side_min=300'):
      vgg_preprocessing.preprocess_image(image, 4, 4, is_training=True,
                                         resize_side_min=300,
                                         resize_side_max=200)
    with pytest.raises(ValueError, match=r'got 4'):
      vgg_preprocessing.preprocess_image(tf.zeros([8, 8, 4]), 4, 4)


def test_factory_maps_every_registered_network(monkeypatch):
  calls = []
  for family in FAMILIES:
    module = importlib.import_module(f'slim_zoo.preprocessing.{family}_preprocessing')

    def record(image, height, width, family=family, **kwargs):
      calls.append((family, image, height, width, kwargs))
      return family

    monkeypatch.setattr(module, 'preprocess_image', record)
  names = nets_factory.names()
  assert 'vgg_16' in names and 'inception_v3' in names
  for name in names + list(FAMILIES):
    expected = (name if name in FAMILIES
                else nets_factory.get_spec(name).preprocessing)
    assert expected in FAMILIES, name
    fn = preprocessing_factory.get_preprocessing(name, is_training=True,
                                                 use_grayscale=True)
    assert fn('image', 3, 4, seed=9) == expected, name
    family, image, height, width, kwargs = calls[-1]
    assert (family, image, height, width) == (expected, 'image', 3, 4)
    assert kwargs == {'is_training': True, 'use_grayscale': True, 'seed': 9}
  assert preprocessing_factory.get_preprocessing(
      'vgg_16')('image', 1, 1) == 'vgg'
  assert calls[-1][-1]['is_training'] is False


def test_factory_rejects_modes_given_to_the_function():
  fn = preprocessing_factory.get_preprocessing('lenet')
  with tf.Graph().as_default():
    image = tf.zeros([4, 4, 1], tf.uint8)
    for key in ('is_training', 'use_grayscale'):
      with pytest.raises(ValueError, match=rf'{key} cannot be passed.*'
                         r"get_preprocessing\('lenet'"):
        fn(image, 2, 2, **{key: True})


@pytest.mark.parametrize('name', [['vgg'], None, 3])
def test_factory_rejects_names_that_are_not_strings(name):
  with pytest.raises(ValueError, match='must be a string'):
    preprocessing_factory.get_preprocessing(name)


def test_cifarnet_train_with_unknown_channel_count():
  with tf.Graph().as_default():
    image = tf.placeholder(tf.uint8, [None, None, None])
    out = preprocessing_factory.get_preprocessing('cifarnet', True)(
        image, 8, 8)
    with tf.Session() as sess:
      for channels in (1, 3):
        value = sess.run(out, {image: np.full((6, 6, channels), 9, np.uint8)})
        assert value.shape == (8, 8, channels)


@pytest.mark.parametrize('name', ['vgg_17', 'Inception', 'not_a_network', ''])
def test_factory_rejects_unknown_names(name):
  with pytest.raises(ValueError, match=r'Unknown preprocessing_name'):
    preprocessing_factory.get_preprocessing(name)


def test_train_runs_inside_tf_data_map():
  # Input pipelines call preprocessing inside Dataset.map (a function graph);
  # inception's slow mode adds switch_case branches inside that function.
  fns = {family: preprocessing_factory.get_preprocessing(family,
                                                         is_training=True)
         for family in FAMILIES}

  def preprocess(image):
    return {family: fn(image, 16, 24, seed=1, fast_mode=False)
            for family, fn in fns.items()}

  with tf.Graph().as_default():
    images = np.stack([_synthetic_inputs()['wide']] * 2)
    dataset = tf.data.Dataset.from_tensor_slices(images).map(preprocess)
    batch = tf.data.make_one_shot_iterator(dataset.batch(2)).get_next()
    with tf.Session() as sess:
      outputs = sess.run(batch)
  for family, out in outputs.items():
    assert out.shape == (2, 16, 24, 3), family
    assert np.all(np.isfinite(out)), family


def test_inception_image_summaries_are_optional():
  def summary_count(**kwargs):
    with tf.Graph().as_default():
      inception_preprocessing.preprocess_image(
          tf.zeros([20, 30, 3]), 8, 8, is_training=True,
          bbox=[[[0.1, 0.1, 0.6, 0.7]]], **kwargs)
      return len(tf.get_collection(tf.GraphKeys.SUMMARIES))

  assert summary_count() == 0
  # Input with boxes, distorted box, cropped+resized, final image.
  assert summary_count(add_image_summaries=True) == 4
