"""Converts keras.applications weights into a TF-Slim checkpoint of the zoo.

Run from the repository root: `python convert_keras_weights.py --help` lists
every flag. The command itself is slim_zoo/cli/convert_keras_weights.py
(installed by pip as `convert_keras_weights`).
"""

from slim_zoo.cli import convert_keras_weights

if __name__ == '__main__':
  convert_keras_weights.run()
