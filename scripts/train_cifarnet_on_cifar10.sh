#!/usr/bin/env bash
# TF-Slim recipe: train CifarNet from scratch on CIFAR-10 and evaluate it.
#   1. download the CIFAR-10 binary tarball and convert it to TFRecords,
#   2. train cifarnet on the train split, 3. evaluate on the test split.
#
# Environment (published defaults):
#   DATASET_DIR (/tmp/cifar10)  TRAIN_DIR (/tmp/cifarnet-model)
#   EVAL_DIR (TRAIN_DIR, as in TF-Slim)
#   DOWNLOAD_BASE_URL (CIFAR-10 mirror; default the published URL)
#   TRAIN_STEPS (100000)  BATCH_SIZE (128)  LEARNING_RATE (0.1)
#   LEARNING_RATE_DECAY_FACTOR (0.1)  NUM_EPOCHS_PER_DECAY (200)
#   WEIGHT_DECAY (0.004)  EVAL_BATCH_SIZE (eval script default)
#   SAVE_INTERVAL_SECS (120)  SAVE_SUMMARIES_SECS (120)
#   LOG_EVERY_N_STEPS (100)  PYTHON
#
# Usage: bash scripts/train_cifarnet_on_cifar10.sh
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/recipe_lib.sh"
DATASET_DIR="${DATASET_DIR:-/tmp/cifar10}"
TRAIN_DIR="${TRAIN_DIR:-/tmp/cifarnet-model}"
EVAL_DIR="${EVAL_DIR:-${TRAIN_DIR}}"
TRAIN_STEPS="${TRAIN_STEPS:-100000}"
BATCH_SIZE="${BATCH_SIZE:-128}"
LEARNING_RATE="${LEARNING_RATE:-0.1}"
LEARNING_RATE_DECAY_FACTOR="${LEARNING_RATE_DECAY_FACTOR:-0.1}"
NUM_EPOCHS_PER_DECAY="${NUM_EPOCHS_PER_DECAY:-200}"
WEIGHT_DECAY="${WEIGHT_DECAY:-0.004}"
EVAL_BATCH_SIZE="${EVAL_BATCH_SIZE:-}"
SAVE_INTERVAL_SECS="${SAVE_INTERVAL_SECS:-120}"
SAVE_SUMMARIES_SECS="${SAVE_SUMMARIES_SECS:-120}"
LOG_EVERY_N_STEPS="${LOG_EVERY_N_STEPS:-100}"

recipe_step "1/3 preparing CIFAR-10 TFRecords in ${DATASET_DIR}"
recipe_convert_dataset cifar10 "${DATASET_DIR}"

recipe_step "2/3 training cifarnet for ${TRAIN_STEPS} steps in ${TRAIN_DIR}"
recipe_py train_image_classifier.py --train_dir="${TRAIN_DIR}" \
  --dataset_name=cifar10 --dataset_split_name=train \
  --dataset_dir="${DATASET_DIR}" --model_name=cifarnet \
  --preprocessing_name=cifarnet --max_number_of_steps="${TRAIN_STEPS}" \
  --batch_size="${BATCH_SIZE}" --learning_rate="${LEARNING_RATE}" \
  --learning_rate_decay_factor="${LEARNING_RATE_DECAY_FACTOR}" \
  --num_epochs_per_decay="${NUM_EPOCHS_PER_DECAY}" \
  --weight_decay="${WEIGHT_DECAY}" --optimizer=sgd \
  --save_interval_secs="${SAVE_INTERVAL_SECS}" \
  --save_summaries_secs="${SAVE_SUMMARIES_SECS}" \
  --log_every_n_steps="${LOG_EVERY_N_STEPS}"

recipe_step "3/3 evaluating on the test split"
mapfile -t eval_flags < <(recipe_optional batch_size "${EVAL_BATCH_SIZE}")
recipe_py eval_image_classifier.py --checkpoint_path="${TRAIN_DIR}" \
  --eval_dir="${EVAL_DIR}" --dataset_name=cifar10 --dataset_split_name=test \
  --dataset_dir="${DATASET_DIR}" --model_name=cifarnet \
  ${eval_flags[@]+"${eval_flags[@]}"}

echo
echo "${RECIPE_NAME}: done. Checkpoints in ${TRAIN_DIR}; eval results in" \
  "${EVAL_DIR}/eval_results.json"
