"""model_deploy: model clones over devices, replicas and parameter servers.

Import as `slim_zoo.deployment`; from a checkout's root TF-Slim's `deployment` works too
and is the same package (see slim_zoo/_checkout.py).
"""

if __name__ == 'deployment':
  from slim_zoo import _checkout
  _checkout.alias_top_level(__name__)
