"""Speed levers for graph-mode training and inference, kept only if they win.

Each lever was measured by benchmark.py on the project's machine; the numbers
(before/after for each one) are in BENCHMARKS.md. This module holds the ones
the scripts can switch on:

* `session_config`: a ``tf.ConfigProto`` with inter/intra-op thread counts,
  XLA auto-clustering and the oneDNN bfloat16 auto-mixed-precision rewrite
  (fp32 variables, bf16 compute where oneDNN supports it; bf16 has fp32's
  exponent range, so no loss scaling is needed).
* `optimize_frozen_graph`: the inference-only GraphDef transform applied to a
  frozen graph before it is written: batch norm folded into the weights and
  bias of the convolution that feeds it.
* `count_flops` / `count_parameters`: the graph facts the benchmark reports.

Levers that change numerics (bf16) come with a test that trains LeNet with and
without them and reaches the same accuracy (tests/test_performance.py).
"""

import collections
import os

import numpy as np

from slim_zoo.nets.compat import tf
from slim_zoo.errors import UsageError

MIXED_PRECISION_CHOICES = ('none', 'bfloat16', 'auto')
_XLA_CPU_FLAG = '--tf_xla_cpu_global_jit'
# Ops the bf16 rewrite keeps in float32: oneDNN's bf16 depthwise-convolution
# gradients measured 2.5x slower than its fp32 ones on an AVX512-BF16 CPU
# (without them MobileNet v2 training got slower in bf16; see BENCHMARKS.md).
BF16_KEEP_FLOAT32_OPS = ('DepthwiseConv2dNativeBackpropInput',
                         'DepthwiseConv2dNativeBackpropFilter')
_LIST_ENV = 'TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_{}'

# Op types the BN folding removes (inference graphs only: in a training graph
# batch norm normalizes with the batch's own statistics and cannot be folded).
_BATCH_NORM_OPS = ('FusedBatchNorm', 'FusedBatchNormV3',
                   'BatchNormWithGlobalNormalization')


def cpu_flags():
  """The CPU feature flags of this machine (from /proc/cpuinfo), or empty."""
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      for line in f:
        if line.startswith('flags'):
          return frozenset(line.split(':', 1)[1].split())
  except OSError:
    pass
  return frozenset()


def cpu_supports_bfloat16(flags=None):
  """Whether the CPU has native bf16 arithmetic (AVX512-BF16 or AMX-BF16)."""
  flags = cpu_flags() if flags is None else flags
  return 'avx512_bf16' in flags or 'amx_bf16' in flags


def validate_mixed_precision(value):
  """Returns `value` normalized ('none' for None); ValueError if unknown."""
  value = 'none' if value in (None, '') else str(value).lower()
  if value not in MIXED_PRECISION_CHOICES:
    raise UsageError(f'Unknown --mixed_precision={value!r}; valid values: '
                     f'{", ".join(MIXED_PRECISION_CHOICES)}.')
  return value


def gpu_visible():
  """Whether TensorFlow sees a GPU (where the scripts place the model)."""
  return bool(tf.config.list_physical_devices('GPU'))


def resolve_mixed_precision(value, flags=None, gpu=None, master=''):
  """'none' or 'bfloat16'.

  'auto' is bfloat16 when the CPU has native bf16 arithmetic, no GPU is
  visible and the session is in-process: the rewrite applies to CPU kernels
  only, on a CPU without native bf16 it would be slower than float32, and
  TensorFlow's distributed runtime (a grpc:// master) does not run the
  oneDNN pass its bf16 kernels need (the graph fails to run).

  Args:
    value: 'none', 'bfloat16', 'auto' (or None for 'none').
    flags: CPU feature flags (default: this machine's).
    gpu: whether a GPU is visible (default: ask TensorFlow).
    master: the session target ('' = in-process).

  Raises:
    ValueError: an unknown value, or 'bfloat16' with a `master`.
  """
  value = validate_mixed_precision(value)
  if master and value == 'bfloat16':
    raise UsageError(
        f'--mixed_precision=bfloat16 does not work with --master={master}: '
        'TensorFlow\'s distributed runtime does not run the oneDNN rewrite '
        'that bf16 kernels need; use --mixed_precision=auto or none.')
  if value == 'auto':
    if master or not cpu_supports_bfloat16(flags):
      return 'none'
    return 'none' if (gpu_visible() if gpu is None else gpu) else 'bfloat16'
  return value


def _keep_ops_in_float32(op_types):
  """Moves `op_types` from the bf16 rewrite's allow list to its deny list.

  The rewrite reads these environment variables each time it runs; an op in
  both lists makes it fail (and the graph stay float32), hence the removal.
  """
  for name in (_LIST_ENV.format('ALLOWLIST_REMOVE'),
               _LIST_ENV.format('DENYLIST_ADD')):
    current = [op for op in os.environ.get(name, '').split(',') if op]
    missing = [op for op in op_types if op not in current]
    if missing:
      os.environ[name] = ','.join(current + missing)


def enable_xla_cpu_autoclustering():
  """Lets ``global_jit_level`` cluster CPU ops too (not only GPU ops).

  TensorFlow parses TF_XLA_FLAGS once per process, and under absl's
  app.run that happens before a script's main() runs (the environment
  variable alone then came too late and nothing was clustered), so the flag
  is also set in the running process. The variable stays set for child
  processes.
  """
  flags = os.environ.get('TF_XLA_FLAGS', '')
  if _XLA_CPU_FLAG not in flags.split():
    os.environ['TF_XLA_FLAGS'] = (flags + ' ' + _XLA_CPU_FLAG).strip()
  from tensorflow.python import pywrap_tfe  # pylint: disable=g-direct-tensorflow-import
  pywrap_tfe.TF_SetTfXlaCpuGlobalJit(True)


def session_config(inter_op_threads=0, intra_op_threads=0, xla=False,
                   mixed_precision='none', config=None, master=''):
  """A ConfigProto with the chosen speed levers.

  Args:
    inter_op_threads: threads running independent ops in parallel (0 lets
      TensorFlow choose: the number of cores).
    intra_op_threads: threads inside one op (0 = number of cores).
    xla: auto-cluster the graph with XLA (``global_jit_level=ON_1``). On a
      CPU this also needs `enable_xla_cpu_autoclustering` before the first
      session; this function calls it.
    mixed_precision: 'none', 'bfloat16' (oneDNN's bf16 auto mixed precision:
      variables and their updates stay float32; so do the ops in
      BF16_KEEP_FLOAT32_OPS) or 'auto' (bfloat16 where the CPU has native
      bf16 arithmetic, see `cpu_supports_bfloat16`).
    config: ConfigProto to start from (copied, not modified), e.g.
      ``DeploymentConfig.session_config()``.
    master: the session target the config is for ('' = in-process); see
      `resolve_mixed_precision`.

  Returns:
    A new tf.ConfigProto.

  Raises:
    ValueError: a negative thread count, an unknown mixed_precision, or
      bfloat16 with a `master`.
  """
  for name, value in (('inter_op_threads', inter_op_threads),
                      ('intra_op_threads', intra_op_threads)):
    if value is None or int(value) < 0:
      raise UsageError(f'--{name}={value} must be >= 0 (0 lets TensorFlow '
                       'use every core).')
  mixed_precision = resolve_mixed_precision(mixed_precision, master=master)
  result = tf.ConfigProto()
  if config is not None:
    result.CopyFrom(config)
  result.inter_op_parallelism_threads = int(inter_op_threads)
  result.intra_op_parallelism_threads = int(intra_op_threads)
  if xla:
    enable_xla_cpu_autoclustering()
    result.graph_options.optimizer_options.global_jit_level = (
        tf.OptimizerOptions.ON_1)
  if mixed_precision == 'bfloat16':
    _keep_ops_in_float32(BF16_KEEP_FLOAT32_OPS)
    rewrite = result.graph_options.rewrite_options
    rewrite.auto_mixed_precision_onednn_bfloat16 = rewrite.ON
  return result


# --------------------------------------------------------------------------
# Frozen-graph transforms


def count_ops(graph_def, op_types):
  """Number of nodes of `graph_def` whose op is in `op_types`."""
  return sum(1 for node in graph_def.node if node.op in op_types)


def _input_name(name):
  """Node name of an input string ('^ctrl', 'node:1' -> 'node')."""
  return name.lstrip('^').split(':')[0]


def _consumers(graph_def):
  """{node name: [(consumer node, input string)]}."""
  consumers = collections.defaultdict(list)
  for node in graph_def.node:
    for inp in node.input:
      consumers[_input_name(inp)].append((node, inp))
  return consumers


def _const_value(node):
  from tensorflow.python.framework import tensor_util
  return tensor_util.MakeNdarray(node.attr['value'].tensor)


def _const_node(name, value, dtype_attr):
  from tensorflow.python.framework import tensor_util
  node = tf.NodeDef(name=name, op='Const')
  node.attr['dtype'].CopyFrom(dtype_attr)
  node.attr['value'].tensor.CopyFrom(tensor_util.make_tensor_proto(value))
  return node


def _foldable(bn, nodes, consumers):
  """(conv, weights const) when `bn` can be folded, else None."""
  if bn.op not in _BATCH_NORM_OPS[:2] or bn.attr['is_training'].b:
    return None
  if bn.attr['data_format'].s not in (b'', b'NHWC'):
    return None
  # Only the normalized output (:0) may be used; the others are batch stats.
  for _, inp in consumers[bn.name]:
    if not inp.startswith('^') and inp.partition(':')[2] not in ('', '0'):
      return None
  conv = nodes.get(_input_name(bn.input[0]))
  if (conv is None or conv.op not in ('Conv2D', 'DepthwiseConv2dNative') or
      conv.attr['data_format'].s not in (b'', b'NHWC') or
      len(consumers[conv.name]) != 1 or
      conv.attr['T'].type != tf.float32.as_datatype_enum):
    return None
  weights = nodes.get(_input_name(conv.input[1]))
  params = [nodes.get(_input_name(name)) for name in bn.input[1:5]]
  if weights is None or weights.op != 'Const' or any(
      p is None or p.op != 'Const' for p in params):
    return None
  return conv, weights


def fold_batch_norms(graph_def):
  """Folds inference-mode batch norm into the convolution feeding it.

  ``bn(conv(x, w))`` with constant statistics equals
  ``conv(x, w * s) + (beta - mean * s)``, ``s = gamma / sqrt(var + eps)``:
  the FusedBatchNorm node becomes a BiasAdd of the same name (so its
  consumers are untouched) and the convolution gets new, scaled weights.
  Handles Conv2D and DepthwiseConv2dNative in NHWC; any other batch norm
  (training mode, fed by something else, statistics not constant, outputs
  other than the first in use) is left as it is.

  Args:
    graph_def: a frozen inference GraphDef (batch norm inputs are Const).

  Returns:
    (new GraphDef, number of batch norms folded).
  """
  nodes = {node.name: node for node in graph_def.node}
  consumers = _consumers(graph_def)
  replaced = {}  # node name -> replacement NodeDef(s)
  folded = 0
  weight_uses = collections.Counter()
  for bn in graph_def.node:
    found = _foldable(bn, nodes, consumers)
    if found is None:
      continue
    conv, weights = found
    gamma, beta, mean, variance = (
        _const_value(nodes[_input_name(name)]).astype(np.float64)
        for name in bn.input[1:5])
    epsilon = bn.attr['epsilon'].f
    scale = gamma / np.sqrt(variance + epsilon)
    kernel = _const_value(weights).astype(np.float64)
    if conv.op == 'Conv2D':
      kernel = kernel * scale
    else:  # depthwise [h, w, in, multiplier]: output channel = in * m + j.
      kernel = kernel * scale.reshape(kernel.shape[2], kernel.shape[3])
    folded += 1
    weight_uses[weights.name] += 1
    kernel_name = f'{weights.name}/bn_folded_{weight_uses[weights.name]}'
    new_conv = tf.NodeDef()
    new_conv.CopyFrom(conv)
    new_conv.input[1] = kernel_name
    bias_name = bn.name + '/bn_folded_bias'
    bias_add = tf.NodeDef(name=bn.name, op='BiasAdd',
                          input=[conv.name, bias_name] +
                          [i for i in bn.input if i.startswith('^')])
    bias_add.attr['T'].CopyFrom(conv.attr['T'])
    bias_add.attr['data_format'].s = b'NHWC'
    if '_output_shapes' in bn.attr:
      bias_add.attr['_output_shapes'].list.shape.extend(
          bn.attr['_output_shapes'].list.shape[:1])
    replaced[conv.name] = [new_conv, _const_node(
        kernel_name, kernel.astype(np.float32), weights.attr['dtype'])]
    replaced[bn.name] = [bias_add, _const_node(
        bias_name, (beta - mean * scale).astype(np.float32),
        weights.attr['dtype'])]
  result = tf.GraphDef()
  result.versions.CopyFrom(graph_def.versions)
  result.library.CopyFrom(graph_def.library)
  for node in graph_def.node:
    result.node.extend(replaced.get(node.name, [node]))
  # Constants only the folded ops read (BN statistics, unscaled weights) are
  # dropped by the caller's pruning; see optimize_frozen_graph.
  return result, folded


def prune_unused(graph_def, keep):
  """Drops nodes no node in `keep` (names) depends on."""
  nodes = {node.name: node for node in graph_def.node}
  needed, stack = set(), [n for n in keep if n in nodes]
  while stack:
    name = stack.pop()
    if name in needed:
      continue
    needed.add(name)
    stack.extend(_input_name(i) for i in nodes[name].input)
  result = tf.GraphDef()
  result.versions.CopyFrom(graph_def.versions)
  result.library.CopyFrom(graph_def.library)
  result.node.extend(n for n in graph_def.node
                     if n.name in needed or n.op == 'Placeholder')
  return result


def optimize_frozen_graph(graph_def, output_names):
  """The inference-only rewrites that measured faster (see BENCHMARKS.md).

  Args:
    graph_def: a frozen inference GraphDef (from export_utils.freeze).
    output_names: node names the caller fetches (kept, with what they need).

  Returns:
    A new GraphDef computing the same outputs (within float round-off).
  """
  folded, _ = fold_batch_norms(graph_def)
  return prune_unused(folded, output_names)


# --------------------------------------------------------------------------
# Graph facts


def count_parameters(variables):
  """(trainable, total) element counts of `variables` (fully defined)."""
  trainable = set(v.name for v in tf.trainable_variables())
  counts = [(v.name in trainable, v.shape.num_elements() or 0)
            for v in variables]
  return (sum(n for is_trainable, n in counts if is_trainable),
          sum(n for _, n in counts))


def count_flops(graph):
  """Floating-point operations of one run of `graph` (TF profiler).

  A multiply-add counts as two operations. Only ops whose shapes are fully
  defined are counted, so build the graph with a fixed batch size.

  Args:
    graph: a tf.Graph.

  Returns:
    int, total float_ops.
  """
  options = (tf.profiler.ProfileOptionBuilder(
      tf.profiler.ProfileOptionBuilder.float_operation())
             .with_empty_output().build())
  profile = tf.profiler.profile(graph, options=options)
  return int(profile.total_float_ops)
