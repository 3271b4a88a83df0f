"""Small helpers shared by every network builder."""

import collections
from slim_zoo.errors import UsageError


class EndPoints(collections.OrderedDict):
  """Ordered end points that know where the caller asked to stop.

  Every builder records its activations with `add`; `add` returns True when
  the recorded name is the requested `final_endpoint`, so a builder can write

      if end_points.add('Conv2d_1a_7x7', net): return net, end_points

  and `check_reached` turns an unknown final end point into a ValueError that
  lists the valid names.
  """

  def __init__(self, final_endpoint=None):
    super().__init__()
    self.final_endpoint = final_endpoint

  def add(self, name, tensor):
    self[name] = tensor
    return self.final_endpoint is not None and name == self.final_endpoint

  def check_reached(self, valid_names=None):
    """Raises ValueError if `final_endpoint` was set but never recorded."""
    if self.final_endpoint is None or self.final_endpoint in self:
      return
    valid = list(valid_names) if valid_names is not None else list(self)
    raise UsageError(f'Unknown final endpoint {self.final_endpoint!r}; valid '
                     f'end points are: {", ".join(valid)}.')


def validate_depth_multiplier(depth_multiplier):
  """Raises ValueError unless depth_multiplier is a positive number."""
  if not isinstance(depth_multiplier, (int, float)) or depth_multiplier <= 0:
    raise UsageError(f'depth_multiplier must be greater than zero, got '
                     f'{depth_multiplier!r}.')
