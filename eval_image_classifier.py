"""Evaluates checkpoints of a network of the zoo on one dataset split.

Run from the repository root: `python eval_image_classifier.py --help` lists
every flag. The command itself is slim_zoo/cli/eval_image_classifier.py
(installed by pip as `eval_image_classifier`).
"""

from slim_zoo.cli import eval_image_classifier

if __name__ == '__main__':
  eval_image_classifier.run()
