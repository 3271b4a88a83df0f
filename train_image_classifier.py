"""Trains or fine-tunes a network of the zoo on a TFRecord dataset.

Run from the repository root: `python train_image_classifier.py --help` lists
every flag. The command itself is slim_zoo/cli/train_image_classifier.py
(installed by pip as `train_image_classifier`).
"""

from slim_zoo.cli import train_image_classifier

if __name__ == '__main__':
  train_image_classifier.run()
