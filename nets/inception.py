"""The Inception family in one namespace, as TF-Slim's `from nets import inception`.

Each network lives in its own module; this one only re-exports the public
builders, bases, blocks and arg scopes.
"""

from slim_zoo.nets.inception_resnet_v2 import (  # noqa: F401
    inception_resnet_v2, inception_resnet_v2_arg_scope,
    inception_resnet_v2_base)
from slim_zoo.nets.inception_utils import inception_arg_scope  # noqa: F401
from slim_zoo.nets.inception_v1 import (  # noqa: F401
    inception_v1, inception_v1_arg_scope, inception_v1_base)
from slim_zoo.nets.inception_v2 import (  # noqa: F401
    inception_v2, inception_v2_arg_scope, inception_v2_base)
from slim_zoo.nets.inception_v3 import (  # noqa: F401
    inception_v3, inception_v3_arg_scope, inception_v3_base)
from slim_zoo.nets.inception_v4 import (  # noqa: F401
    inception_v4, inception_v4_arg_scope, inception_v4_base)
