#!/usr/bin/env bash
# TF-Slim's quantized MobileNet recipe: quantization-aware fine-tuning of a
# float ImageNet checkpoint on Flowers, then a fully integer TFLite model.
#   1. download flower_photos and convert it to TFRecords,
#   2. download the float checkpoint (unless already in
#      PRETRAINED_CHECKPOINT_DIR),
#   3. fine-tune all layers from it (new logits) with --quantize_delay:
#      batch norm folded, 8-bit fake quantization from QUANTIZE_DELAY on,
#   4. evaluate the fake-quantized graph (eval_image_classifier --quantize),
#   5. export it (export_inference_graph --quantize): model_int8.tflite is
#      fully integer, from the trained ranges (no calibration), with
#      TFLITE_IO_TYPE input/output.
# The checkpoint URL/file and the exclude scopes come from the registry
# (nets/nets_factory.py) through scripts/recipe_facts.py.
#
# Environment (defaults):
#   MODEL_NAME (mobilenet_v1; any mobilenet_v1*/v2*, see the README)
#   DATASET_DIR (/tmp/flowers)  TRAIN_DIR (/tmp/flowers-models/<model>_quant)
#   EXPORT_DIR (TRAIN_DIR/export)  TFLITE_IO_TYPE (float32; int8, uint8)
#   PRETRAINED_CHECKPOINT_DIR (/tmp/checkpoints)  CHECKPOINT_URL (registry)
#   DOWNLOAD_BASE_URL (flower_photos mirror; default the published URL)
#   NUM_VALIDATION (converter default, 350)
#   STEPS (4000)  QUANTIZE_DELAY (2000)  LEARNING_RATE (0.001)
#   BATCH_SIZE (32)  EVAL_BATCH_SIZE (eval script default)
#   TRAIN_IMAGE_SIZE / EVAL_IMAGE_SIZE (registry default; eval follows train)
#   OPTIMIZER (rmsprop)  LEARNING_RATE_DECAY_TYPE (training script default)
#   WEIGHT_DECAY (0.00004)  SAVE_INTERVAL_SECS (60)
#   SAVE_SUMMARIES_SECS (60)  LOG_EVERY_N_STEPS (100)  PYTHON
#
# Usage: bash scripts/train_quantized_mobilenet_on_flowers.sh
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/recipe_lib.sh"
MODEL_NAME="${MODEL_NAME:-mobilenet_v1}"
TRAIN_DIR="${TRAIN_DIR:-/tmp/flowers-models/${MODEL_NAME}_quant}"
recipe_flowers_defaults "${MODEL_NAME}" 0 0 0 0
STEPS="${STEPS:-4000}"
QUANTIZE_DELAY="${QUANTIZE_DELAY:-2000}"
LEARNING_RATE="${LEARNING_RATE:-0.001}"
EXPORT_DIR="${EXPORT_DIR:-${TRAIN_DIR}/export}"
TFLITE_IO_TYPE="${TFLITE_IO_TYPE:-float32}"
if ! [[ "${STEPS}" =~ ^[0-9]+$ && "${QUANTIZE_DELAY}" =~ ^[0-9]+$ ]]; then
  RECIPE_STEP="checking the environment"
  recipe_fail "STEPS (${STEPS}) and QUANTIZE_DELAY (${QUANTIZE_DELAY}) must \
be whole numbers of steps"
fi

recipe_step "1/5 preparing flowers TFRecords in ${DATASET_DIR}"
recipe_convert_dataset flowers "${DATASET_DIR}" \
  ${CONVERT_FLAGS[@]+"${CONVERT_FLAGS[@]}"}

recipe_step "2/5 registry facts and float checkpoint of ${MODEL_NAME} in \
${PRETRAINED_CHECKPOINT_DIR}"
recipe_load_facts "${MODEL_NAME}" "${PRETRAINED_CHECKPOINT_DIR}" \
  "${CHECKPOINT_URL}"
echo "checkpoint: ${FACT_CHECKPOINT_PATH}"
echo "exclude scopes: ${FACT_EXCLUDE_SCOPES}"

common=(--dataset_name=flowers --dataset_dir="${DATASET_DIR}"
        --model_name="${MODEL_NAME}")
mapfile -t size_flags < <(recipe_optional train_image_size \
  "${TRAIN_IMAGE_SIZE}")
mapfile -t eval_flags < <(recipe_optional eval_image_size "${EVAL_IMAGE_SIZE}"
  recipe_optional batch_size "${EVAL_BATCH_SIZE}")
mapfile -t decay_flags < <(recipe_optional learning_rate_decay_type \
  "${LEARNING_RATE_DECAY_TYPE}")

recipe_step "3/5 quantization-aware fine-tuning for ${STEPS} steps \
(quantized from step ${QUANTIZE_DELAY}) in ${TRAIN_DIR}"
recipe_py train_image_classifier.py --train_dir="${TRAIN_DIR}" "${common[@]}" \
  --dataset_split_name=train --checkpoint_path="${FACT_CHECKPOINT_PATH}" \
  --checkpoint_exclude_scopes="${FACT_EXCLUDE_SCOPES}" \
  --quantize_delay="${QUANTIZE_DELAY}" --max_number_of_steps="${STEPS}" \
  --learning_rate="${LEARNING_RATE}" --batch_size="${BATCH_SIZE}" \
  --optimizer="${OPTIMIZER}" --weight_decay="${WEIGHT_DECAY}" \
  --save_interval_secs="${SAVE_INTERVAL_SECS}" \
  --save_summaries_secs="${SAVE_SUMMARIES_SECS}" \
  --log_every_n_steps="${LOG_EVERY_N_STEPS}" \
  ${size_flags[@]+"${size_flags[@]}"} ${decay_flags[@]+"${decay_flags[@]}"}

recipe_step "4/5 evaluating the quantized model on validation"
recipe_py eval_image_classifier.py --checkpoint_path="${TRAIN_DIR}" \
  --eval_dir="${TRAIN_DIR}/eval" "${common[@]}" \
  --dataset_split_name=validation --quantize \
  ${eval_flags[@]+"${eval_flags[@]}"}

recipe_step "5/5 exporting the fully integer TFLite model to ${EXPORT_DIR}"
recipe_py export_inference_graph.py --model_name="${MODEL_NAME}" \
  --dataset_name=flowers --checkpoint_path="${TRAIN_DIR}" \
  --export_dir="${EXPORT_DIR}" --quantize \
  --tflite_io_type="${TFLITE_IO_TYPE}" \
  $(recipe_optional image_size "${TRAIN_IMAGE_SIZE}")

echo
echo "${RECIPE_NAME}: done."
echo "  quantized checkpoint: ${TRAIN_DIR}"
echo "  eval: ${TRAIN_DIR}/eval/eval_results.json"
echo "  integer TFLite: ${EXPORT_DIR}/model_int8.tflite"
