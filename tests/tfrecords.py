"""Reads TF-Slim TFRecords back for tests: pixels, labels, boxes."""

import numpy as np

from slim_zoo.nets.compat import tf


def read_examples(path, channels=0):
  """Returns a list of dicts (image uint8 array, label, height, width, format,
  bboxes) for every record of `path`."""
  records = list(tf.io.tf_record_iterator(path))
  out = []
  with tf.Graph().as_default(), tf.Session() as session:
    data = tf.placeholder(tf.string, [])
    decoded = tf.io.decode_image(data, channels=channels,
                                 expand_animations=False)
    for record in records:
      example = tf.train.Example.FromString(record)
      feature = example.features.feature
      boxes = None
      if 'image/object/bbox/ymin' in feature:
        boxes = np.stack([feature[f'image/object/bbox/{k}'].float_list.value
                          for k in ('ymin', 'xmin', 'ymax', 'xmax')], axis=1)
      encoded = feature['image/encoded'].bytes_list.value[0]
      out.append({
          'image': session.run(decoded, {data: encoded}),
          'label': feature['image/class/label'].int64_list.value[0],
          'height': feature['image/height'].int64_list.value[0],
          'width': feature['image/width'].int64_list.value[0],
          'format': feature['image/format'].bytes_list.value[0],
          'bboxes': boxes,
      })
  return out
