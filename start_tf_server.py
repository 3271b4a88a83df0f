"""Starts one task (a parameter server or a worker) of a TensorFlow cluster.

Run from the repository root: `python start_tf_server.py --help` lists every
flag. The command itself is slim_zoo/cli/start_tf_server.py (installed by pip
as `slim_zoo_tf_server`).
"""

from slim_zoo.cli import start_tf_server

if __name__ == '__main__':
  start_tf_server.run()
