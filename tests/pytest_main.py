"""Runs pytest on the files given on the command line (Bazel's py_test main)."""

import sys

import pytest

if __name__ == '__main__':
  sys.exit(pytest.main(['-q', *sys.argv[1:]]))
