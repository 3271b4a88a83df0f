"""Exports a network for inference: GraphDef, frozen graph, SavedModel, TFLite.

Run from the repository root: `python export_inference_graph.py --help` lists
every flag. The command itself is slim_zoo/cli/export_inference_graph.py
(installed by pip as `export_inference_graph`).
"""

from slim_zoo.cli import export_inference_graph

if __name__ == '__main__':
  export_inference_graph.run()
