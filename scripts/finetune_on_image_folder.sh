#!/usr/bin/env bash
# Fine-tune a network of the zoo on your own images, the TF-Slim way.
# IMAGE_DIR holds one sub-directory of images (jpeg/png/bmp/gif) per class:
#   IMAGE_DIR/roses/a.jpg, IMAGE_DIR/tulips/b.png, ...
#   1. convert the class folders to TFRecords (train / validation split),
#   2. get the pretrained checkpoint (from PRETRAINED_CHECKPOINT_DIR, or
#      download the registry's archive),
#   3. train only the new logits layer, 4. evaluate on the validation split,
#   5. train all layers from there, 6. evaluate again (ALL_LAYERS_STEPS=0
#      stops after step 4).
# The checkpoint URL/file and the exclude/trainable scopes come from the
# registry (nets/nets_factory.py) through scripts/recipe_facts.py.
#
# Environment (defaults):
#   IMAGE_DIR (required)  MODEL_NAME (mobilenet_v1: any registered image
#   network with a published checkpoint)  DATASET_DIR (/tmp/image_folder)
#   TRAIN_DIR (/tmp/image_folder-models/MODEL_NAME)
#   PRETRAINED_CHECKPOINT_DIR (/tmp/checkpoints)  CHECKPOINT_URL (registry)
#   VALIDATION_FRACTION (converter default, 0.1)
#   LOGITS_STEPS (3000)  LOGITS_LEARNING_RATE (0.01)
#   ALL_LAYERS_STEPS (1000)  ALL_LAYERS_LEARNING_RATE (0.001)
#   BATCH_SIZE (32)  EVAL_BATCH_SIZE (eval script default)
#   TRAIN_IMAGE_SIZE / EVAL_IMAGE_SIZE (registry default; eval follows train)
#   OPTIMIZER (rmsprop)  LEARNING_RATE_DECAY_TYPE (training script default)
#   WEIGHT_DECAY (0.00004)  SAVE_INTERVAL_SECS (60)
#   SAVE_SUMMARIES_SECS (60)  LOG_EVERY_N_STEPS (100)  PYTHON
# MobileNet v1 is the default because it fine-tunes in reasonable time on a
# CPU; the schedule is finetune_mobilenet_v1_on_flowers.sh's. For
# inception_v3, TF-Slim's flowers schedule is LOGITS_STEPS=1000
# ALL_LAYERS_STEPS=500 ALL_LAYERS_LEARNING_RATE=0.0001.
#
# Usage: IMAGE_DIR=~/my_photos bash scripts/finetune_on_image_folder.sh
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/recipe_lib.sh"
if [[ -z "${IMAGE_DIR:-}" ]]; then
  RECIPE_STEP="checking the environment"
  recipe_fail "IMAGE_DIR is not set: point it at a directory with one \
sub-directory of images per class, e.g. IMAGE_DIR=~/my_photos bash ${0}"
fi
MODEL_NAME="${MODEL_NAME:-mobilenet_v1}"
DATASET_NAME=image_folder
DATASET_DIR="${DATASET_DIR:-/tmp/image_folder}"
TRAIN_DIR="${TRAIN_DIR:-/tmp/image_folder-models/${MODEL_NAME}}"
LOGITS_STEPS="${LOGITS_STEPS:-3000}"
LOGITS_LEARNING_RATE="${LOGITS_LEARNING_RATE:-0.01}"
ALL_LAYERS_STEPS="${ALL_LAYERS_STEPS:-1000}"
ALL_LAYERS_LEARNING_RATE="${ALL_LAYERS_LEARNING_RATE:-0.001}"
recipe_finetune_common_defaults
CONVERT_FLAGS=("--image_dir=${IMAGE_DIR}")
DOWNLOAD_BASE_URL=""  # The images are local: nothing to download.
if [[ -n "${VALIDATION_FRACTION:-}" ]]; then
  CONVERT_FLAGS+=("--validation_fraction=${VALIDATION_FRACTION}")
fi
recipe_finetune_two_stages
