"""TF_CONFIG parsing, its errors, and what each role is given."""

import dataclasses
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from slim_zoo import cluster
from slim_zoo import train
from tests.conftest import ROOT

CLUSTER = {'chief': ['c:2222'], 'worker': ['w0:2222', 'w1:2222'],
           'ps': ['p0:2222', 'p1:2222'], 'evaluator': ['e:2222']}


def _parse(cluster_jobs=None, task_type='worker', index=0, **extra):
  return cluster.parse_tf_config(json.dumps(dict(
      {'cluster': CLUSTER if cluster_jobs is None else cluster_jobs,
       'task': {'type': task_type, 'index': index}}, **extra)))


def test_a_full_cluster_maps_the_chief_to_task_0_and_workers_after_it():
  parsed = _parse(task_type='worker', index=1, environment='cloud')
  assert parsed == cluster.TFConfig(
      chief=('c:2222',), workers=('w0:2222', 'w1:2222'),
      ps=('p0:2222', 'p1:2222'), evaluator=('e:2222',), task_type='worker',
      task_index=1)
  assert parsed.trainers == ('c:2222', 'w0:2222', 'w1:2222')
  assert (parsed.trainer_task, parsed.is_chief, parsed.address) == (
      2, False, 'w1:2222')
  chief = _parse(task_type='chief')
  assert (chief.trainer_task, chief.is_chief) == (0, True)
  for role in ('ps', 'evaluator'):
    other = _parse(task_type=role)
    assert other.trainer_task is None and not other.is_trainer
  with pytest.raises(dataclasses.FrozenInstanceError):
    parsed.task_index = 0


def test_master_is_the_chief_and_without_a_chief_worker_0_is():
  legacy = _parse({'master': ['m:1'], 'worker': ['w:1'], 'ps': ['p:1']},
                  task_type='master')
  assert (legacy.task_type, legacy.chief, legacy.is_chief) == (
      'chief', ('m:1',), True)
  headless = _parse({'worker': ['w0:1', 'w1:1'], 'ps': ['p:1']}, index=0)
  assert headless.is_chief and headless.trainers == ('w0:1', 'w1:1')
  assert _parse({'worker': ['w0:1', 'w1:1'], 'ps': ['p:1']},
                index=1).trainer_task == 1


@pytest.mark.parametrize('text', [None, '', '  ', '{}', '{"cluster": {}}',
                                  '{"task": {"type": "worker", "index": 0}}'])
def test_no_cluster_means_no_tf_config(text):
  assert cluster.parse_tf_config(text) is None


@pytest.mark.parametrize('jobs', [{'evaluator': ['e:1']},
                                  {'chief': ['c:1'], 'ps': ['p:1']}])
def test_the_evaluator_needs_no_trainers_nor_its_own_entry(jobs):
  # TensorFlow's docs give the evaluator a cluster of itself; some
  # orchestrators leave it out of the cluster.
  parsed = _parse(jobs, task_type='evaluator')
  assert (parsed.task_type, parsed.is_trainer) == ('evaluator', False)
  assert cluster.expected_flags(parsed) == {}


def test_a_single_trainer_is_not_distributed():
  parsed = _parse({'chief': ['c:1'], 'evaluator': ['e:1']}, task_type='chief')
  assert not parsed.distributed
  assert cluster.expected_flags(parsed) == {
      'master': '', 'task': 0, 'worker_replicas': 1, 'num_ps_tasks': 0}


@pytest.mark.parametrize('text, message', [
    ('{"cluster": {"worker": ["w:1"]}, "task": {"type": "worker" "index": 0}}',
     re.escape("TF_CONFIG is not valid JSON: Expecting ',' delimiter at "
               'character 59, near \'task": {"type": "worker" "index": '
               "0}}'; set it to an object like")),
    ('["worker"]', r'TF_CONFIG is \["worker"\], not a JSON object'),
    ('{"cluster": ["w:1"], "task": {}}',
     r'TF_CONFIG "cluster" is \["w:1"\], not an object'),
    ('{"cluster": {"workers": ["w:1"]}, "task": {}}',
     r"TF_CONFIG cluster job 'workers' is unknown; valid jobs: chief, "
     r'worker, ps, evaluator'),
    ('{"cluster": {"worker": 7}, "task": {}}',
     r'TF_CONFIG cluster "worker" is 7, not a list of "host:port"'),
    ('{"cluster": {"worker": ["w:1", "w2"]}, "task": {}}',
     r"TF_CONFIG cluster \"worker\"\[1\] is 'w2', not host:port"),
    ('{"cluster": {"worker": ["w:99999"]}, "task": {}}',
     r"TF_CONFIG cluster \"worker\"\[0\] is 'w:99999', not host:port with a "
     r'port in 1..65535'),
    ('{"cluster": {"worker": [3]}, "task": {}}',
     r'TF_CONFIG cluster "worker"\[0\] is 3, not a "host:port" string'),
    ('{"cluster": {"chief": ["a:1", "b:1"]}, "task": {}}',
     r"TF_CONFIG cluster \"chief\" lists 2 hosts \['a:1', 'b:1'\]; a "
     r'cluster has at most one chief'),
    ('{"cluster": {"chief": ["a:1"], "master": ["b:1"]}, "task": {}}',
     r'TF_CONFIG cluster has both "chief" and "master"'),
    ('{"cluster": {"worker": ["a:1"], "ps": ["a:1"]}, "task": {}}',
     r'TF_CONFIG cluster gives a:1 to both "worker"\[0\] and "ps"\[0\]'),
    ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}',
     r'has no "chief" and no "worker": nothing would train'),
    ('{"cluster": {"worker": ["a:1"]}}',
     r'TF_CONFIG has a "cluster" but no "task"'),
    ('{"cluster": {"worker": ["a:1"]}, "task": "worker"}',
     r"TF_CONFIG \"task\" is 'worker', not an object"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief"}}',
     r"TF_CONFIG task \"type\" is 'chief', not a job of its cluster "
     r'\(worker\)'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", '
     '"index": 1}}',
     r'TF_CONFIG task {"type": "worker", "index": 1} is out of range: '
     r'cluster "worker" has 1 host\(s\), so "index" is 0..0'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", '
     '"index": "one"}}',
     r"TF_CONFIG task \"index\" is 'one', not an integer"),
    ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker"}}',
     r'has 2 trainers \(chief and workers\) but no "ps"'),
])
def test_malformed_tf_config_is_one_error_quoting_the_bad_part(text,
                                                               message):
  with pytest.raises(ValueError, match=message) as raised:
    cluster.parse_tf_config(text)
  assert '\n' not in str(raised.value)


def test_cluster_flags_that_agree_pass_and_one_that_disagrees_names_both():
  worker = _parse(task_type='worker', index=0)
  cluster.check_flags(worker, {})
  cluster.check_flags(worker, {'task': 1, 'worker_replicas': 3,
                               'num_ps_tasks': 2,
                               'master': 'grpc://w0:2222'})
  with pytest.raises(ValueError, match=(
      r'^--task=0 disagrees with TF_CONFIG \(task worker 0 of a cluster with '
      r'1 chief, 2 worker\(s\), 2 ps\), which means --task=1; drop --task '
      r'\(TF_CONFIG describes the cluster\) or unset TF_CONFIG\.$')):
    cluster.check_flags(worker, {'task': 0})
  with pytest.raises(ValueError, match=r'--worker_replicas=2 disagrees with '
                     r'TF_CONFIG .* means --worker_replicas=3'):
    cluster.check_flags(worker, {'worker_replicas': 2})
  with pytest.raises(ValueError, match=r'--master=grpc://c:2222 disagrees '
                     r'.* means --master=grpc://w0:2222'):
    cluster.check_flags(worker, {'master': 'grpc://c:2222'})
  with pytest.raises(ValueError, match=r'--num_ps_tasks=2 disagrees with '
                     r'TF_CONFIG \(task ps 1 .*makes this replica a ps, which '
                     r'trains nothing'):
    cluster.check_flags(_parse(task_type='ps', index=1), {'num_ps_tasks': 2})


def _train_config(**overrides):
  fields = dict(train_dir='/tmp/t', model_name='lenet', dataset_name='digits',
                dataset_dir='/tmp/d')
  fields.update(overrides)
  return train.TrainConfig(**fields)


def test_each_trainer_gets_the_cluster_fields_and_only_the_chief_is_task_0():
  cfg = _train_config(sync_replicas=True, master='ignored', task=5)
  tasks = []
  for task_type, index in (('chief', 0), ('worker', 0), ('worker', 1)):
    parsed = _parse(task_type=task_type, index=index)
    mine = cluster.trainer_config(parsed, cfg, 'grpc://localhost:1')
    assert (mine.master, mine.worker_replicas, mine.num_ps_tasks,
            mine.sync_replicas) == ('grpc://localhost:1', 3, 2, True)
    tasks.append((mine.task, mine.is_chief))
  # train.py takes --train_dir's lock, checkpoints and summarises as task 0.
  assert tasks == [(0, True), (1, False), (2, False)]
  alone = cluster.trainer_config(
      _parse({'chief': ['c:1']}, task_type='chief'), cfg, 'grpc://x:1')
  assert (alone.master, alone.task, alone.worker_replicas,
          alone.num_ps_tasks) == ('', 0, 1, 0)


def test_the_evaluator_follows_train_dir_into_train_dir_eval(digits_dir):
  cfg = _train_config(dataset_dir=digits_dir, batch_size=7,
                      moving_average_decay=0.99)
  eval_cfg = cluster.evaluator_config(cfg, cluster.EvaluatorOptions())
  # digits has no validation split, so its test split is evaluated.
  assert (eval_cfg.checkpoint_path, eval_cfg.eval_dir,
          eval_cfg.dataset_split_name, eval_cfg.batch_size,
          eval_cfg.moving_average_decay, eval_cfg.eval_interval_secs,
          eval_cfg.timeout) == ('/tmp/t', os.path.join('/tmp/t', 'eval'),
                                'test', 7, 0.99, 10, None)
  chosen = cluster.evaluator_config(cfg, cluster.EvaluatorOptions(
      eval_dir='/tmp/e', split_name='train', interval_secs=3, timeout=60))
  assert (chosen.eval_dir, chosen.dataset_split_name,
          chosen.eval_interval_secs, chosen.timeout) == (
              '/tmp/e', 'train', 3, 60)


def test_wait_for_retries_with_a_logged_back_off_then_gives_up(caplog):
  with socket.socket() as probe:
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
  server = socket.socket()
  server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

  def listen_later():
    time.sleep(1.5)
    server.bind(('127.0.0.1', port))
    server.listen()

  later = threading.Thread(target=listen_later)
  later.start()
  try:
    with caplog.at_level(logging.WARNING):
      cluster.wait_for(f'127.0.0.1:{port}', 'TF_CONFIG ps 0', 30)
    later.join()
    waits = [r.getMessage() for r in caplog.records
             if 'Waiting for TF_CONFIG ps 0' in r.getMessage()]
    assert waits and all(f'at 127.0.0.1:{port}' in w for w in waits)
    assert 'retrying in 1s' in waits[0]
  finally:
    later.join()
    server.close()
  with pytest.raises(ValueError, match=(
      rf'Cannot reach TF_CONFIG chief 0 at 127\.0\.0\.1:{port} \(.*\) after '
      r'0s; check that its replica is running')):
    cluster.wait_for(f'127.0.0.1:{port}', 'TF_CONFIG chief 0', 0)


def test_the_command_rejects_flags_that_disagree_with_tf_config(tmp_path):
  tf_config = {'cluster': {'chief': ['127.0.0.1:1'], 'worker': ['127.0.0.1:2'],
                           'ps': ['127.0.0.1:3']},
               'task': {'type': 'chief', 'index': 0}}
  env = dict(os.environ, TF_CONFIG=json.dumps(tf_config))
  result = subprocess.run(
      [sys.executable, 'train_image_classifier.py', '--task=1',
       f'--train_dir={tmp_path / "train"}', f'--dataset_dir={tmp_path}'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2, result.stderr
  errors = [line for line in result.stderr.splitlines()
            if line.startswith('ERROR:')]
  assert errors == [
      'ERROR: --task=1 disagrees with TF_CONFIG (task chief 0 of a cluster '
      'with 1 chief, 1 worker(s), 1 ps), which means --task=0; drop --task '
      '(TF_CONFIG describes the cluster) or unset TF_CONFIG.']
  assert not (tmp_path / 'train').exists()
