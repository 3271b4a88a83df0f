"""The networks of the zoo, one module per family; nets_factory is the registry.

Import as `slim_zoo.nets`; from a checkout's root TF-Slim's `nets` works too
and is the same package (see slim_zoo/_checkout.py).
"""

if __name__ == 'nets':
  from slim_zoo import _checkout
  _checkout.alias_top_level(__name__)
