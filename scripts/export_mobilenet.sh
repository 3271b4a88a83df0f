#!/usr/bin/env bash
# TF-Slim recipe: prepare a MobileNet for a mobile app. Exports the inference
# graph, freezes the checkpoint's weights into it and converts it to a
# SavedModel and TFLite (float; int8 too when DATASET_DIR gives calibration
# images). Without CHECKPOINT_PATH the published ImageNet checkpoint is used
# (from PRETRAINED_CHECKPOINT_DIR, or downloaded from the registry's URL).
#   1. get the checkpoint, 2. export the inference graph (no weights),
#   3. freeze + SavedModel + TFLite.
#
# Environment (defaults):
#   MODEL_NAME (mobilenet_v1; also mobilenet_v1_075/_050/_025, mobilenet_v2...)
#   IMAGE_SIZE (registry default, 224)
#   CHECKPOINT_PATH (empty: the published checkpoint; else your checkpoint
#     file or training directory)
#   PRETRAINED_CHECKPOINT_DIR (/tmp/checkpoints)  CHECKPOINT_URL (registry)
#   DATASET_NAME (empty: the published checkpoint's classes; set it, e.g.
#     flowers, for a checkpoint fine-tuned on that dataset)
#   DATASET_DIR (empty: float TFLite only; TFRecords of DATASET_NAME to
#     calibrate an int8 TFLite too)  NUM_CALIBRATION_IMAGES (300)
#   EXPORT_DIR (/tmp/mobilenet_export/MODEL_NAME)  PYTHON
#
# Usage: bash scripts/export_mobilenet.sh
#        MODEL_NAME=mobilenet_v1_050 IMAGE_SIZE=160 \
#            bash scripts/export_mobilenet.sh
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/recipe_lib.sh"
MODEL_NAME="${MODEL_NAME:-mobilenet_v1}"
IMAGE_SIZE="${IMAGE_SIZE:-}"
CHECKPOINT_PATH="${CHECKPOINT_PATH:-}"
PRETRAINED_CHECKPOINT_DIR="${PRETRAINED_CHECKPOINT_DIR:-/tmp/checkpoints}"
CHECKPOINT_URL="${CHECKPOINT_URL:-}"
DATASET_NAME="${DATASET_NAME:-}"
DATASET_DIR="${DATASET_DIR:-}"
NUM_CALIBRATION_IMAGES="${NUM_CALIBRATION_IMAGES:-300}"
EXPORT_DIR="${EXPORT_DIR:-/tmp/mobilenet_export/${MODEL_NAME}}"

if [[ -z "${CHECKPOINT_PATH}" ]]; then
  recipe_step "1/3 registry facts and pretrained checkpoint of \
${MODEL_NAME} in ${PRETRAINED_CHECKPOINT_DIR}"
  recipe_load_facts "${MODEL_NAME}" "${PRETRAINED_CHECKPOINT_DIR}" \
    "${CHECKPOINT_URL}"
  CHECKPOINT_PATH="${FACT_CHECKPOINT_PATH}"
else
  recipe_step "1/3 registry facts of ${MODEL_NAME}"
  recipe_load_facts "${MODEL_NAME}"
fi
IMAGE_SIZE="${IMAGE_SIZE:-${FACT_DEFAULT_IMAGE_SIZE}}"
echo "checkpoint: ${CHECKPOINT_PATH}"

model_flags=(--model_name="${MODEL_NAME}" --image_size="${IMAGE_SIZE}")
mapfile -t dataset_flags < <(recipe_optional dataset_name "${DATASET_NAME}")

recipe_step "2/3 inference graph (${IMAGE_SIZE}x${IMAGE_SIZE}, no weights)"
recipe_py export_inference_graph.py "${model_flags[@]}" \
  ${dataset_flags[@]+"${dataset_flags[@]}"} \
  --output_file="${EXPORT_DIR}/${MODEL_NAME}_inf_graph.pb"

recipe_step "3/3 frozen graph, SavedModel and TFLite in ${EXPORT_DIR}"
if [[ -n "${DATASET_DIR}" ]]; then
  dataset_flags+=(--dataset_dir="${DATASET_DIR}"
                  --num_calibration_images="${NUM_CALIBRATION_IMAGES}")
fi
# The inference graph is part of the set: --export_dir replaces the whole
# directory at once, and keeps only what the new set holds.
recipe_py export_inference_graph.py "${model_flags[@]}" \
  ${dataset_flags[@]+"${dataset_flags[@]}"} \
  --checkpoint_path="${CHECKPOINT_PATH}" --export_dir="${EXPORT_DIR}" \
  --output_file="${EXPORT_DIR}/${MODEL_NAME}_inf_graph.pb"

echo
echo "${RECIPE_NAME}: done. Files in ${EXPORT_DIR}:"
ls -l "${EXPORT_DIR}"
