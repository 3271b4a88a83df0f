"""The README tells the truth: its model table matches the registry."""

import pytest

from slim_zoo import model_table
from slim_zoo.nets import nets_factory

FIX = 'run `python -m slim_zoo.model_table --write`'


@pytest.fixture(scope='module')
def table():
  return model_table.read_readme_table()


def test_table_lists_every_registered_network_in_order(table):
  assert list(table) == nets_factory.names(), (
      f'README model table is stale; {FIX}')


@pytest.mark.parametrize('name', nets_factory.names())
def test_registry_cells_are_current(table, name):
  spec = nets_factory.get_spec(name)
  # Cells that come from the registry alone; the measured cells (parameters,
  # features) are checked in tests/nets/test_registry.py on the built graphs.
  expected = model_table.row_cells(
      spec, model_table.Measured(parameters=0, features='', feature_depth=0))
  for column in ('network', 'input', 'classes', 'checkpoint', 'accuracy'):
    assert table[name][column] == expected[column], (
        f'README row {name}, column {column} is stale; {FIX}')


def test_replace_table_needs_the_markers():
  with pytest.raises(ValueError, match='model table markers'):
    model_table.replace_table('# README without a table\n', 'x')
  text = f'a\n{model_table.BEGIN}\nold\n{model_table.END}\nb\n'
  assert model_table.replace_table(text, 'NEW') == 'a\nNEW\nb\n'


def test_parse_round_trips_render():
  spec = nets_factory.get_spec('lenet')
  cells = model_table.row_cells(spec, model_table.Measured(61706, 'fc3', 1024))
  parsed = model_table.parse_table(model_table.render([cells]))
  assert parsed == {'lenet': cells}
