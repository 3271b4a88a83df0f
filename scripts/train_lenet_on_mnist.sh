#!/usr/bin/env bash
# TF-Slim recipe: train LeNet from scratch on MNIST and evaluate it.
#   1. download the MNIST IDX files and convert them to TFRecords,
#   2. train lenet on the train split, 3. evaluate on the test split.
#
# Environment (published defaults):
#   DATASET_DIR (/tmp/mnist)  TRAIN_DIR (/tmp/lenet-model)
#   EVAL_DIR (TRAIN_DIR, as in TF-Slim)
#   DOWNLOAD_BASE_URL (MNIST mirror; default the published URL)
#   TRAIN_STEPS (20000)  BATCH_SIZE (50)  LEARNING_RATE (0.01)
#   EVAL_BATCH_SIZE (eval script default)  SAVE_INTERVAL_SECS (60)
#   SAVE_SUMMARIES_SECS (60)  LOG_EVERY_N_STEPS (100)  PYTHON
#
# Usage: bash scripts/train_lenet_on_mnist.sh
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/recipe_lib.sh"
DATASET_DIR="${DATASET_DIR:-/tmp/mnist}"
TRAIN_DIR="${TRAIN_DIR:-/tmp/lenet-model}"
EVAL_DIR="${EVAL_DIR:-${TRAIN_DIR}}"
TRAIN_STEPS="${TRAIN_STEPS:-20000}"
BATCH_SIZE="${BATCH_SIZE:-50}"
LEARNING_RATE="${LEARNING_RATE:-0.01}"
EVAL_BATCH_SIZE="${EVAL_BATCH_SIZE:-}"
SAVE_INTERVAL_SECS="${SAVE_INTERVAL_SECS:-60}"
SAVE_SUMMARIES_SECS="${SAVE_SUMMARIES_SECS:-60}"
LOG_EVERY_N_STEPS="${LOG_EVERY_N_STEPS:-100}"

recipe_step "1/3 preparing MNIST TFRecords in ${DATASET_DIR}"
recipe_convert_dataset mnist "${DATASET_DIR}"

recipe_step "2/3 training lenet for ${TRAIN_STEPS} steps in ${TRAIN_DIR}"
recipe_py train_image_classifier.py --train_dir="${TRAIN_DIR}" \
  --dataset_name=mnist --dataset_split_name=train \
  --dataset_dir="${DATASET_DIR}" --model_name=lenet \
  --preprocessing_name=lenet --max_number_of_steps="${TRAIN_STEPS}" \
  --batch_size="${BATCH_SIZE}" --learning_rate="${LEARNING_RATE}" \
  --save_interval_secs="${SAVE_INTERVAL_SECS}" \
  --save_summaries_secs="${SAVE_SUMMARIES_SECS}" \
  --log_every_n_steps="${LOG_EVERY_N_STEPS}" --optimizer=sgd \
  --learning_rate_decay_type=fixed --weight_decay=0

recipe_step "3/3 evaluating on the test split"
mapfile -t eval_flags < <(recipe_optional batch_size "${EVAL_BATCH_SIZE}")
recipe_py eval_image_classifier.py --checkpoint_path="${TRAIN_DIR}" \
  --eval_dir="${EVAL_DIR}" --dataset_name=mnist --dataset_split_name=test \
  --dataset_dir="${DATASET_DIR}" --model_name=lenet \
  ${eval_flags[@]+"${eval_flags[@]}"}

echo
echo "${RECIPE_NAME}: done. Checkpoints in ${TRAIN_DIR}; eval results in" \
  "${EVAL_DIR}/eval_results.json"
