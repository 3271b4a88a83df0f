"""Downloads a dataset and converts it to TF-Slim TFRecords.

Run from the repository root: `python download_and_convert_data.py --help`
lists every flag. The command itself is
slim_zoo/cli/download_and_convert_data.py (installed by pip as
`download_and_convert_data`).
"""

from slim_zoo.cli import download_and_convert_data

if __name__ == '__main__':
  download_and_convert_data.run()
