"""Dataset specs, converters to TF-Slim TFRecords and the tf.data input pipeline.

Import as `slim_zoo.datasets`; from a checkout's root TF-Slim's `datasets` works too
and is the same package (see slim_zoo/_checkout.py).
"""

if __name__ == 'datasets':
  from slim_zoo import _checkout
  _checkout.alias_top_level(__name__)
