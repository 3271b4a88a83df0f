"""Shared pytest set-up: repository root on sys.path, quiet TensorFlow."""

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')
# oneDNN on, as TensorFlow has it by default on AVX512 CPUs, so the suite
# behaves the same on every x86 machine (NCHW pooling on a CPU needs it:
# tests/nets/test_nasnet.py); the scripts the tests start inherit it.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import pytest  # noqa: E402


@pytest.fixture(scope='session')
def digits_dir(tmp_path_factory):
  """The scikit-learn digits converted to TFRecords once per test session."""
  from slim_zoo.datasets import download_and_convert_digits
  directory = str(tmp_path_factory.mktemp('digits'))
  download_and_convert_digits.run(directory)
  return directory
