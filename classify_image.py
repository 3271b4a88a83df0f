"""Classifies image files with a model written by export_inference_graph.

Run from the repository root: `python classify_image.py --help` lists every
flag. The command itself is slim_zoo/cli/classify_image.py (installed by pip as
`classify_image`).
"""

from slim_zoo.cli import classify_image

if __name__ == '__main__':
  classify_image.run()
