"""Tells what a checkpoint is (network, classes, averages, restore plan).

Run from the repository root: `python inspect_checkpoint.py --help` lists
every flag. The command itself is slim_zoo/cli/inspect_checkpoint.py
(installed by pip as `inspect_checkpoint`).
"""

from slim_zoo.cli import inspect_checkpoint

if __name__ == '__main__':
  inspect_checkpoint.run()
