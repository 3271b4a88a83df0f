"""Input pipeline speed: our tf.data reader vs tf_slim's queue reader.

Run from the repository root: `python benchmark_input_pipeline.py --help` lists
every flag. The command itself is slim_zoo/cli/benchmark_input_pipeline.py
(installed by pip as `slim_zoo_benchmark_input_pipeline`).
"""

from slim_zoo.cli import benchmark_input_pipeline

if __name__ == '__main__':
  benchmark_input_pipeline.run()
