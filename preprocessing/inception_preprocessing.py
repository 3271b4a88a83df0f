"""Inception preprocessing: distorted bounding-box crops and colour jitter.

The training recipe of Szegedy et al., "Going Deeper with Convolutions" (2014)
as used by the TF-Slim Inception, ResNet v2, MobileNet and NASNet checkpoints:

Training: sample a crop that covers part of the object boxes
(`tf.image.sample_distorted_bounding_box`), resize it to the output size with
a randomly chosen resampling method, flip it left-right at random and jitter
brightness, saturation, hue and contrast in a random order.
Evaluation: central crop (87.5% of each side by default), bilinear resize.

Both return float32 images in [-1, 1]. Every random op takes an optional
`seed`; the ops derive distinct op-level seeds from it, so the same `seed`
and the same graph-level seed give the same images in a fresh graph. Only TF
random ops are used (no Python randomness), so the functions are safe inside
`tf.data` map functions.
"""

from slim_zoo.nets.compat import tf
from slim_zoo.preprocessing import image_utils
from slim_zoo.errors import UsageError

# tf.image.sample_distorted_bounding_box settings of the published recipe.
_MIN_OBJECT_COVERED = 0.1
_ASPECT_RATIO_RANGE = (0.75, 1.33)
_AREA_RANGE = (0.05, 1.0)
_MAX_ATTEMPTS = 100
_CENTRAL_FRACTION = 0.875

# Resampling methods of the slow (non fast_mode) path; fast_mode keeps only
# the first (bilinear), the cheapest one.
_RESIZE_METHODS = (
    tf.image.ResizeMethod.BILINEAR,
    tf.image.ResizeMethod.NEAREST_NEIGHBOR,
    tf.image.ResizeMethod.BICUBIC,
    tf.image.ResizeMethod.AREA,
)

# Colour jitter orderings: the order matters because the ops do not commute
# (and clipping happens in between in hue/saturation's HSV round trip).
_COLOR_ORDERINGS = (
    ('brightness', 'saturation', 'hue', 'contrast'),
    ('saturation', 'brightness', 'contrast', 'hue'),
    ('contrast', 'hue', 'brightness', 'saturation'),
    ('hue', 'saturation', 'contrast', 'brightness'),
)
# fast_mode skips hue and contrast, which cost an RGB<->HSV round trip.
_FAST_COLOR_ORDERINGS = (
    ('brightness', 'saturation'),
    ('saturation', 'brightness'),
)
# One-channel images have no saturation or hue to jitter.
_GRAY_COLOR_ORDERINGS = (
    ('brightness', 'contrast'),
    ('contrast', 'brightness'),
)

# Op-level seed offsets, so that two random ops never share a seed (ops with
# equal seeds draw identical, hence correlated, numbers).
_SEED_CROP = 0
_SEED_RESIZE_METHOD = 1
_SEED_FLIP = 2
_SEED_COLOR_ORDERING = 3
_SEED_COLOR_OPS = {'brightness': 4, 'saturation': 5, 'hue': 6, 'contrast': 7}


def _op_seed(seed, offset):
  return None if seed is None else seed + offset


def _apply_with_random_selector(x, fn, num_cases, seed=None):
  """Returns fn(x, case) for a case drawn uniformly from range(num_cases).

  Only the selected branch runs (tf.switch_case), so the slow cases cost
  nothing when they are not drawn.
  """
  if num_cases == 1:
    return fn(x, 0)
  selector = tf.random_uniform([], maxval=num_cases, dtype=tf.int32,
                               seed=seed)
  branches = [lambda case=case: fn(x, case) for case in range(num_cases)]
  return tf.switch_case(selector, branches)


def _num_channels(image):
  """Static channel count; an unknown count is taken to be 3 (RGB)."""
  channels = image.shape[-1]
  if channels is None:
    image.set_shape([None, None, 3])
    return 3
  return int(channels)


def distort_color(image, color_ordering=0, fast_mode=True, seed=None,
                  scope=None):
  """Jitters brightness, saturation, hue and contrast in a given order.

  Args:
    image: float Tensor [height, width, channels] in [0, 1], channels 3 (all
      four ops) or 1 (brightness and contrast only).
    color_ordering: index into the orderings: 0-3 for RGB, 0-1 for fast_mode
      or one-channel images.
    fast_mode: only brightness and saturation (skips the costly HSV ops).
    seed: optional op-level seed.
    scope: optional name scope.

  Returns:
    float Tensor of the same shape, clipped to [0, 1].

  Raises:
    ValueError: if `color_ordering` is out of range.
  """
  with tf.name_scope(scope, 'distort_color', [image]):
    if _num_channels(image) == 1:
      orderings = _GRAY_COLOR_ORDERINGS
    else:
      orderings = _FAST_COLOR_ORDERINGS if fast_mode else _COLOR_ORDERINGS
    if not 0 <= color_ordering < len(orderings):
      raise UsageError(f'color_ordering={color_ordering} is out of range: '
                       f'valid values are 0 to {len(orderings) - 1} here '
                       f'(fast_mode={fast_mode}).')
    for op in orderings[color_ordering]:
      op_seed = _op_seed(seed, _SEED_COLOR_OPS[op])
      if op == 'brightness':
        image = tf.image.random_brightness(image, max_delta=32.0 / 255.0,
                                           seed=op_seed)
      elif op == 'saturation':
        image = tf.image.random_saturation(image, lower=0.5, upper=1.5,
                                           seed=op_seed)
      elif op == 'hue':
        image = tf.image.random_hue(image, max_delta=0.2, seed=op_seed)
      else:
        image = tf.image.random_contrast(image, lower=0.5, upper=1.5,
                                         seed=op_seed)
    # The jitter can leave [0, 1]; the later scaling to [-1, 1] assumes it.
    return tf.clip_by_value(image, 0.0, 1.0)


def _check_bbox(bbox):
  bbox = tf.convert_to_tensor(bbox, dtype=tf.float32)
  shape = bbox.shape
  if shape.ndims is not None and (
      shape.ndims != 3 or (shape[-1] is not None and shape[-1] != 4)):
    raise UsageError(f'bbox must have shape [1, num_boxes, 4] (ymin, xmin, '
                     f'ymax, xmax in [0, 1]), got {shape.as_list()}; wrap a '
                     f'single box as [[[ymin, xmin, ymax, xmax]]].')
  return bbox


def distorted_bounding_box_crop(image, bbox,
                                min_object_covered=_MIN_OBJECT_COVERED,
                                aspect_ratio_range=_ASPECT_RATIO_RANGE,
                                area_range=_AREA_RANGE,
                                max_attempts=_MAX_ATTEMPTS,
                                seed=None, scope=None):
  """Crops a random region that covers part of the object boxes.

  Args:
    image: Tensor [height, width, channels], any dtype.
    bbox: float Tensor [1, num_boxes, 4] of boxes (ymin, xmin, ymax, xmax),
      coordinates as fractions of the image size. The crop covers at least
      `min_object_covered` of (the area of) one of the boxes.
    min_object_covered: minimum fraction of a box inside the crop.
    aspect_ratio_range: allowed width / height of the crop.
    area_range: allowed crop area as a fraction of the image area.
    max_attempts: samples tried before falling back to the whole image.
    seed: optional op-level seed (combined with the graph-level seed).
    scope: optional name scope.

  Returns:
    (cropped_image [crop_height, crop_width, channels] of image's dtype,
     distort_bbox float32 [1, 1, 4], the crop as (ymin, xmin, ymax, xmax)
     fractions of the image size).
  """
  with tf.name_scope(scope, 'distorted_bounding_box_crop', [image, bbox]):
    bbox = _check_bbox(bbox)
    # The v1 op takes raw seeds; get_seed mixes in the graph-level seed like
    # every other TF random op does.
    seed1, seed2 = tf.get_seed(seed)
    begin, size, distort_bbox = tf.image.sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=bbox,
        seed=seed1 or 0,
        seed2=seed2 or 0,
        min_object_covered=min_object_covered,
        aspect_ratio_range=aspect_ratio_range,
        area_range=area_range,
        max_attempts=max_attempts,
        use_image_if_no_bounding_boxes=True)
    cropped_image = tf.slice(image, begin, size)
    return cropped_image, distort_bbox


def preprocess_for_train(image, height, width, bbox=None, fast_mode=True,
                         add_image_summaries=False, random_crop=True,
                         use_grayscale=False, seed=None, scope=None):
  """Distorts one image for training.

  Args:
    image: Tensor [height, width, channels] (channels 3 or 1), uint8 or float
      in [0, 1].
    height, width: output size.
    bbox: optional float Tensor [1, num_boxes, 4] of object boxes (ymin, xmin,
      ymax, xmax in [0, 1]); None uses the whole image as the box.
    fast_mode: bilinear resizing only and two cheap colour orderings instead
      of four resizing methods and four full orderings.
    add_image_summaries: add image summaries of the boxes and the steps
      (graph mode only, not inside tf.data functions).
    random_crop: sample a distorted bounding-box crop; False only resizes
      the whole image.
    use_grayscale: convert the result to one channel.
    seed: optional op-level seed for reproducible distortions.
    scope: optional name scope.

  Returns:
    float32 Tensor [height, width, channels] in [-1, 1]; channels is 1 for
    grayscale output or one-channel input, else 3.
  """
  with tf.name_scope(scope, 'distort_image', [image, height, width, bbox]):
    if bbox is None:
      bbox = tf.constant([0.0, 0.0, 1.0, 1.0], dtype=tf.float32,
                         shape=[1, 1, 4])
    image = image_utils.to_float01(image)
    image_utils.check_rank3(image)
    channels = _num_channels(image)
    if add_image_summaries:
      tf.summary.image('image_with_bounding_boxes',
                       tf.image.draw_bounding_boxes(
                           tf.expand_dims(image, 0), _check_bbox(bbox)))

    if random_crop:
      distorted, distort_bbox = distorted_bounding_box_crop(
          image, bbox, seed=_op_seed(seed, _SEED_CROP))
      if add_image_summaries:
        tf.summary.image('images_with_distorted_bounding_box',
                         tf.image.draw_bounding_boxes(
                             tf.expand_dims(image, 0), distort_bbox))
    else:
      distorted = image
    distorted.set_shape([None, None, channels])

    num_resize_cases = 1 if fast_mode else len(_RESIZE_METHODS)
    distorted = _apply_with_random_selector(
        distorted,
        lambda x, case: tf.image.resize(x, [height, width],
                                        method=_RESIZE_METHODS[case]),
        num_cases=num_resize_cases,
        seed=_op_seed(seed, _SEED_RESIZE_METHOD))
    distorted.set_shape([height, width, channels])
    if add_image_summaries:
      tf.summary.image('cropped_resized_image', tf.expand_dims(distorted, 0))

    distorted = tf.image.random_flip_left_right(
        distorted, seed=_op_seed(seed, _SEED_FLIP))

    if channels == 1:
      num_color_cases = len(_GRAY_COLOR_ORDERINGS)
    elif fast_mode:
      num_color_cases = len(_FAST_COLOR_ORDERINGS)
    else:
      num_color_cases = len(_COLOR_ORDERINGS)
    distorted = _apply_with_random_selector(
        distorted,
        lambda x, ordering: distort_color(x, ordering, fast_mode, seed=seed),
        num_cases=num_color_cases,
        seed=_op_seed(seed, _SEED_COLOR_ORDERING))
    distorted.set_shape([height, width, channels])

    # Grayscale after the colour jitter, which needs the RGB channels.
    distorted = image_utils.maybe_grayscale(distorted, use_grayscale)
    if add_image_summaries:
      tf.summary.image('final_distorted_image', tf.expand_dims(distorted, 0))
    return (distorted - 0.5) * 2.0


def preprocess_for_eval(image, height, width,
                        central_fraction=_CENTRAL_FRACTION, use_grayscale=False,
                        scope=None):
  """Central crop and bilinear resize of one image for evaluation.

  Args:
    image: Tensor [height, width, channels], uint8 or float in [0, 1].
    height, width: output size; if either is None the crop is not resized.
    central_fraction: fraction of each side kept by the central crop, in
      (0, 1]; None keeps the whole image.
    use_grayscale: convert to one channel.
    scope: optional name scope.

  Returns:
    float32 Tensor [height, width, channels] in [-1, 1].

  Raises:
    ValueError: if `central_fraction` is outside (0, 1].
  """
  if central_fraction is not None and not 0.0 < central_fraction <= 1.0:
    raise UsageError(f'central_fraction={central_fraction} is invalid: use a '
                     f'fraction in (0, 1], or None for no crop.')
  with tf.name_scope(scope, 'eval_image', [image, height, width]):
    image = image_utils.to_float01(image)
    image_utils.check_rank3(image)
    image = image_utils.maybe_grayscale(image, use_grayscale)
    if central_fraction is not None and central_fraction < 1.0:
      image = tf.image.central_crop(image, central_fraction=central_fraction)
    if height and width:
      # Legacy bilinear (align_corners=False, no half-pixel centres): the
      # resampling the published checkpoints were evaluated with.
      image = tf.image.resize(image, [height, width],
                              method=tf.image.ResizeMethod.BILINEAR,
                              align_corners=False)
      image.set_shape([height, width, image.shape[-1]])
    return (image - 0.5) * 2.0


def preprocess_image(image, output_height, output_width, is_training=False,
                     use_grayscale=False, bbox=None, fast_mode=True,
                     add_image_summaries=False, random_crop=True,
                     central_fraction=_CENTRAL_FRACTION, seed=None,
                     **unused_kwargs):
  """Preprocesses one image for the Inception family of checkpoints.

  Args:
    image: Tensor [height, width, channels] (channels 3 or 1), uint8 or float
      in [0, 1].
    output_height, output_width: output size.
    is_training: training distortions or deterministic evaluation.
    use_grayscale: convert to one channel.
    bbox: training only; float Tensor [1, num_boxes, 4] of object boxes
      (ymin, xmin, ymax, xmax in [0, 1]), None for the whole image.
    fast_mode: training only; see `preprocess_for_train`.
    add_image_summaries: training only; add image summaries.
    random_crop: training only; False skips the distorted crop.
    central_fraction: evaluation only; central crop fraction or None.
    seed: training only; optional op-level seed.
    **unused_kwargs: options of other preprocessing families, ignored so that
      one call works for every family.

  Returns:
    float32 Tensor [output_height, output_width, channels] in [-1, 1].
  """
  if is_training:
    return preprocess_for_train(image, output_height, output_width, bbox=bbox,
                                fast_mode=fast_mode,
                                add_image_summaries=add_image_summaries,
                                random_crop=random_crop,
                                use_grayscale=use_grayscale, seed=seed)
  return preprocess_for_eval(image, output_height, output_width,
                             central_fraction=central_fraction,
                             use_grayscale=use_grayscale)
