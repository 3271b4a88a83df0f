"""Executes a notebook in a fresh kernel of this Python, optionally to HTML.

    python scripts/run_notebook.py slim_walkthrough.ipynb \\
        --html=notebook_output/slim_walkthrough.html

`make notebook` runs this; tests/test_notebook.py calls `execute`. The
kernel is this interpreter (sys.executable, e.g. the project's .venv), named
by a kernelspec written to a temporary directory, so neither a user-wide
Jupyter installation nor its `python3` kernel is involved. The kernel starts
in the notebook's directory (the repository root, where `slim_zoo` imports
from the checkout). Each cell has a time limit; a cell that raises, or runs
past it, fails the run. The notebook file itself is never modified.
"""

import argparse
import json
import os
import sys
import tempfile
import time

KERNEL_NAME = 'slim_zoo_python'


def _write_kernelspec(kernels_dir, env):
  spec_dir = os.path.join(kernels_dir, KERNEL_NAME)
  os.makedirs(spec_dir)
  spec = {'argv': [sys.executable, '-m', 'ipykernel_launcher', '-f',
                   '{connection_file}'],
          'display_name': f'Python ({sys.executable})', 'language': 'python',
          'env': env}
  with open(os.path.join(spec_dir, 'kernel.json'), 'w') as f:
    json.dump(spec, f)


def execute(path, cell_timeout=300, env=None):
  """Runs every cell of the notebook at `path` in a new kernel.

  Args:
    path: the .ipynb file.
    cell_timeout: seconds one cell may run.
    env: extra environment variables of the kernel (e.g. TMPDIR).

  Returns:
    (the executed notebook, {cell index: seconds it ran, and 'kernel_cpu':
    CPU seconds the kernel used, or None if unknown}).

  Raises:
    nbclient.exceptions.CellExecutionError: a cell raised.
    nbclient.exceptions.CellTimeoutError: a cell ran past cell_timeout.
  """
  import nbclient
  import nbformat
  from jupyter_client.kernelspec import KernelSpecManager
  from jupyter_client.manager import KernelManager

  notebook = nbformat.read(path, as_version=4)
  kernel_env = {'TF_CPP_MIN_LOG_LEVEL': os.environ.get('TF_CPP_MIN_LOG_LEVEL',
                                                       '2')}
  kernel_env.update(env or {})
  seconds = {}
  with tempfile.TemporaryDirectory(prefix='slim_zoo_kernels_') as kernels:
    _write_kernelspec(kernels, kernel_env)
    manager = KernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernels],
                                              ensure_native_kernel=False))
    client = nbclient.NotebookClient(
        notebook, km=manager, timeout=cell_timeout, kernel_name=KERNEL_NAME,
        allow_errors=False, record_timing=True,
        resources={'metadata': {'path': os.path.dirname(
            os.path.abspath(path))}})
    cpu = {}

    def on_notebook_complete(notebook):
      del notebook
      # The kernel's CPU time (all its threads), read while it still runs:
      # on a loaded machine it says more about the notebook than wall time.
      try:
        import psutil
        times = psutil.Process(manager.provisioner.process.pid).cpu_times()
        cpu['seconds'] = times.user + times.system
      except Exception:  # noqa: BLE001 - only a measurement; none is fine.
        pass

    client.on_notebook_complete = on_notebook_complete
    client.execute()
  seconds['kernel_cpu'] = cpu.get('seconds')
  for index, cell in enumerate(notebook.cells):
    timing = cell.get('metadata', {}).get('execution', {})
    if 'iopub.execute_input' in timing and 'shell.execute_reply' in timing:
      seconds[index] = (_timestamp(timing['shell.execute_reply']) -
                        _timestamp(timing['iopub.execute_input']))
  return notebook, seconds


def _timestamp(text):
  import datetime
  return datetime.datetime.fromisoformat(text.replace('Z', '+00:00')
                                         ).timestamp()


def to_html(notebook):
  """The executed notebook as one self-contained HTML page (nbconvert)."""
  from nbconvert import HTMLExporter
  body, _ = HTMLExporter().from_notebook_node(notebook)
  return body


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('notebook')
  parser.add_argument('--html', help='write the executed notebook here')
  parser.add_argument('--executed',
                      help='also write the executed .ipynb (with outputs) here')
  parser.add_argument('--cell_timeout', type=int, default=300,
                      help='seconds one cell may run (default 300)')
  args = parser.parse_args(argv)
  start = time.time()
  notebook, seconds = execute(args.notebook, args.cell_timeout)
  cpu = seconds.pop('kernel_cpu')
  slowest = sorted(seconds.items(), key=lambda item: -item[1])[:3]
  print(f'Executed {args.notebook} in {time.time() - start:.1f}s, '
        f'{sum(seconds.values()):.1f}s in the cells'
        + (f', kernel CPU {cpu:.1f}s' if cpu is not None else '')
        + ' (slowest cells: '
        + ', '.join(f'#{i} {s:.1f}s' for i, s in slowest) + ')')
  if args.executed:
    import nbformat
    nbformat.write(notebook, args.executed)
    print(f'Wrote {args.executed}')
  if args.html:
    os.makedirs(os.path.dirname(os.path.abspath(args.html)), exist_ok=True)
    tmp = args.html + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
      f.write(to_html(notebook))
    os.replace(tmp, args.html)
    print(f'Wrote {args.html}')


if __name__ == '__main__':
  main()
