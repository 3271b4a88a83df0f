"""Small training runs shared by tests/test_train.py and tests/test_eval.py."""

import dataclasses
import time

import numpy as np

from slim_zoo import train as train_lib
from slim_zoo.nets.compat import tf


def config(train_dir, dataset_dir, **overrides):
  """A TrainConfig for lenet on digits: batch 4, sgd, no periodic saves.

  Optimizer fields go in `optimizer=dict(...)`; the rest are TrainConfig
  fields.
  """
  opt = dict(optimizer='sgd', learning_rate=0.01,
             learning_rate_decay_type='fixed')
  opt.update(overrides.pop('optimizer', {}))
  values = dict(train_dir=str(train_dir), model_name='lenet',
                dataset_name='digits', dataset_dir=dataset_dir, batch_size=4,
                max_number_of_steps=2, weight_decay=0.0, num_readers=1,
                num_preprocessing_threads=1, log_every_n_steps=1,
                save_interval_secs=3600, save_summaries_secs=3600, seed=1,
                # float32, so results are the same on CPUs with and without
                # bf16; the scripts' default ('auto') has tests of its own.
                mixed_precision='none')
  values.update(overrides)
  return train_lib.TrainConfig(optimizer=train_lib.OptimizerConfig(**opt),
                               **values)


def replace(cfg, **changes):
  return dataclasses.replace(cfg, **changes)


def checkpoint_values(path):
  """{variable name: numpy value} of a checkpoint file or directory."""
  if tf.io.gfile.isdir(path):
    path = tf.train.latest_checkpoint(path)
  reader = tf.train.load_checkpoint(path)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()}


def checkpoint_steps(train_dir):
  """Global steps of the checkpoints listed in train_dir's state file."""
  state = tf.train.get_checkpoint_state(str(train_dir))
  if state is None:
    return []
  return sorted(int(p.rsplit('-', 1)[1])
                for p in state.all_model_checkpoint_paths)


def all_finite(values):
  return all(np.all(np.isfinite(v)) for v in values.values()
             if np.issubdtype(np.asarray(v).dtype, np.floating))


def wait_for(predicate, process, timeout=120):
  """Polls predicate() until true; fails if `process` exits first."""
  deadline = time.time() + timeout
  while time.time() < deadline:
    if predicate():
      return
    assert process.poll() is None, 'training exited early'
    time.sleep(0.1)
  raise AssertionError('timed out')
