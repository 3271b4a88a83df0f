"""Measures the speed of the zoo's networks, and of their keras twins.

Run from the repository root: `python benchmark.py --help` lists every flag.
The command itself is slim_zoo/cli/benchmark.py (installed by pip as
`slim_zoo_benchmark`).
"""

from slim_zoo.cli import benchmark

if __name__ == '__main__':
  benchmark.run()
