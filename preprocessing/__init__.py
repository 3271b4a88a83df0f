"""Per-family image preprocessing; preprocessing_factory selects one by name.

Import as `slim_zoo.preprocessing`; from a checkout's root TF-Slim's `preprocessing` works too
and is the same package (see slim_zoo/_checkout.py).
"""

if __name__ == 'preprocessing':
  from slim_zoo import _checkout
  _checkout.alias_top_level(__name__)
