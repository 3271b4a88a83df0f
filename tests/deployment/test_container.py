"""deployment/Dockerfile and deployment/kubernetes/*.yaml agree with the code.

Docker and Kubernetes are not available here, so the files are parsed and
checked against what the package installs and what TF_CONFIG handling
(slim_zoo/cluster.py) expects of the replicas.
"""

import json
import os
import re
import subprocess
import sys
import tomllib

import yaml

from slim_zoo import cluster
from tests.conftest import ROOT

DEPLOYMENT = os.path.join(ROOT, 'deployment')
# TFJob replica type -> the TF_CONFIG job the operator names it.
REPLICAS = {'Chief': 'chief', 'Worker': 'worker', 'PS': 'ps',
            'Evaluator': 'evaluator'}


def _pyproject():
  with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
    return tomllib.load(f)


def _dockerfile():
  """[(INSTRUCTION, arguments)], continuation lines joined, comments out."""
  with open(os.path.join(DEPLOYMENT, 'Dockerfile')) as f:
    text = f.read()
  lines = [line for line in text.splitlines()
           if not line.lstrip().startswith('#')]
  joined = re.sub(r'\\\n\s*', ' ', '\n'.join(lines))
  return [tuple(line.strip().split(None, 1)) for line in joined.splitlines()
          if line.strip()]


def _load(name):
  with open(os.path.join(DEPLOYMENT, 'kubernetes', name)) as f:
    return list(yaml.safe_load_all(f))


def test_dockerfile_installs_the_project_and_runs_a_console_script_unprivileged():
  instructions = _dockerfile()
  assert instructions[0] == ('FROM', 'python:3.11-slim')
  copied = []
  for op, args in instructions:
    if op == 'COPY':
      copied += args.split()[:-1]
  # Everything COPYed exists in the build context (the repository root) and
  # covers what pyproject.toml packages.
  for source in copied:
    assert os.path.exists(os.path.join(ROOT, source)), source
  project = _pyproject()
  needed = set(project['tool']['setuptools']['package-dir'].values())
  needed |= {'pyproject.toml', project['project']['readme'],
             'requirements.txt'}
  assert needed <= set(copied), sorted(needed - set(copied))
  # The context's ignore file keeps exactly those (and not .venv or .git).
  with open(os.path.join(DEPLOYMENT, 'Dockerfile.dockerignore')) as f:
    patterns = [line.strip() for line in f
                if line.strip() and not line.startswith('#')]
  assert patterns[0] == '*'
  assert {p[1:] for p in patterns if p.startswith('!')} == set(copied)
  runs = ' '.join(args for op, args in instructions if op == 'RUN')
  assert re.search(r'pip install \S*/src\b', runs), runs
  assert 'PIP_CONSTRAINT=/src/requirements.txt' in runs
  # No GPU assumptions: the plain tensorflow wheel, no CUDA base or extras.
  text = json.dumps(instructions).lower()
  assert not re.search(r'cuda|nvidia|and-cuda|gpu', text), text
  # A non-root user, created before it is used, runs everything after.
  users = [args for op, args in instructions if op == 'USER']
  assert users == ['slim']
  assert re.search(r'useradd .*--uid 1000 .*\bslim\b', runs)
  ops = [op for op, _ in instructions]
  assert ops.index('USER') > max(i for i, op in enumerate(ops) if op == 'RUN')
  entrypoint = json.loads(dict(instructions)['ENTRYPOINT'])
  assert entrypoint == ['train_image_classifier']
  assert entrypoint[0] in project['project']['scripts']


def _tfjob():
  (job,) = _load('tfjob.yaml')
  return job


def test_tfjob_has_the_replicas_tf_config_knows_and_one_command_for_all():
  job = _tfjob()
  assert (job['apiVersion'], job['kind']) == ('kubeflow.org/v1', 'TFJob')
  specs = job['spec']['tfReplicaSpecs']
  assert {t: s['replicas'] for t, s in specs.items()} == {
      'Chief': 1, 'Worker': 2, 'PS': 1, 'Evaluator': 1}
  assert {REPLICAS[t] for t in specs} == set(cluster.JOBS)
  # Every replica ends by itself (the ps once the trainers are done, the
  # evaluator after the last checkpoint), so the operator must not clean up
  # running pods when the chief succeeds.
  assert job['spec']['runPolicy']['cleanPodPolicy'] == 'None'
  containers = {}
  for replica, spec in specs.items():
    assert spec['restartPolicy'] == 'ExitCode', replica
    pod = spec['template']['spec']
    assert pod['securityContext']['runAsNonRoot'] is True
    (container,) = pod['containers']
    # The operator gives TF_CONFIG and the port to the container of this
    # name.
    assert container['name'] == 'tensorflow', replica
    assert container['ports'] == [{'name': 'tfjob-port',
                                   'containerPort': 2222}]
    assert set(container['resources']['requests']) == {'cpu', 'memory'}
    mounts = {m['name']: m['mountPath'] for m in container['volumeMounts']}
    volumes = {v['name']: v['persistentVolumeClaim']['claimName']
               for v in pod['volumes']}
    assert mounts.keys() == volumes.keys()
    containers[replica] = (container['image'], container['command'], mounts,
                           volumes)
  assert len({json.dumps(c) for c in containers.values()}) == 1, containers
  image, command, mounts, volumes = containers['Chief']
  assert command[0] in _pyproject()['project']['scripts']
  flags = dict(arg[2:].partition('=')[::2] for arg in command[1:])
  # TF_CONFIG is read only without cluster flags.
  assert not set(flags) & set(cluster.CLUSTER_FLAGS), flags
  assert 'sync_replicas' in flags and int(flags['max_number_of_steps']) > 0
  # --train_dir and the TFRecords are on the shared volume, the one
  # data.yaml claims and fills.
  (mount,) = mounts.values()
  assert flags['train_dir'].startswith(mount + '/')
  assert flags['dataset_dir'].startswith(mount + '/')
  claim, convert = _load('data.yaml')
  assert claim['kind'] == 'PersistentVolumeClaim'
  assert set(volumes.values()) == {claim['metadata']['name']}
  assert 'ReadWriteMany' in claim['spec']['accessModes']
  (converter,) = convert['spec']['template']['spec']['containers']
  assert converter['image'] == image
  assert f'--dataset_dir={flags["dataset_dir"]}' in converter['command']
  assert f'--dataset_name={flags["dataset_name"]}' in converter['command']


_PARSE_EVERY_REPLICA = r'''
import json, sys
from absl import flags
from slim_zoo import cluster
from slim_zoo.cli import train_image_classifier
train_image_classifier.define_flags()
command, replicas = json.loads(sys.argv[1])
# The manifest's flags exist and their values parse (types only: the model
# name's validator would import TensorFlow for the registry).
given = {}
for arg in command[1:]:
  name, _, value = arg[2:].partition('=')
  flag = flags.FLAGS[name]
  flag.parse(value if value else 'true')
  if name in cluster.CLUSTER_FLAGS:
    given[name] = flag.value
assert 'tensorflow' not in sys.modules
roles = {}
for tf_config in replicas:
  parsed = cluster.parse_tf_config(json.dumps(tf_config))
  cluster.check_flags(parsed, given)
  roles[parsed.describe()] = [parsed.trainer_task, parsed.distributed]
print(json.dumps(roles))
'''


def test_every_replica_of_the_tfjob_parses_its_tf_config_and_the_command():
  job = _tfjob()
  specs = job['spec']['tfReplicaSpecs']
  name = job['metadata']['name']
  # TF_CONFIG as the operator builds it: lower-case job names, one
  # <job>-<type>-<index>:<port> service per replica.
  hosts = {REPLICAS[t]: [f'{name}-{REPLICAS[t]}-{i}:2222'
                         for i in range(s['replicas'])]
           for t, s in specs.items()}
  replicas = [{'cluster': hosts, 'task': {'type': job_name, 'index': i}}
              for job_name, addresses in hosts.items()
              for i in range(len(addresses))]
  command = specs['Chief']['template']['spec']['containers'][0]['command']
  result = subprocess.run(
      [sys.executable, '-c', _PARSE_EVERY_REPLICA,
       json.dumps([command, replicas])],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  roles = json.loads(result.stdout)
  assert roles == {
      f'chief 0 ({name}-chief-0:2222)': [0, True],
      f'worker 0 ({name}-worker-0:2222)': [1, True],
      f'worker 1 ({name}-worker-1:2222)': [2, True],
      f'ps 0 ({name}-ps-0:2222)': [None, True],
      f'evaluator 0 ({name}-evaluator-0:2222)': [None, True]}
