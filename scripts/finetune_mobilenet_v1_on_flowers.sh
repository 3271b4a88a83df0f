#!/usr/bin/env bash
# TF-Slim recipe: fine-tune mobilenet_v1 (ImageNet checkpoint) on Flowers.
#   1. download flower_photos and convert it to TFRecords,
#   2. download the pretrained checkpoint (unless already in
#      PRETRAINED_CHECKPOINT_DIR),
#   3. train only the new logits layer, 4. evaluate on the validation split,
#   5. train all layers from there, 6. evaluate again (ALL_LAYERS_STEPS=0
#      stops after step 4).
# The checkpoint URL/file and the exclude/trainable scopes come from the
# registry (nets/nets_factory.py) through scripts/recipe_facts.py.
# TF-Slim published no MobileNet flowers recipe: the schedule is the one of
# its other small-network recipes (inception_v1, resnet_v1_50).
#
# Environment (published defaults):
#   DATASET_DIR (/tmp/flowers)  TRAIN_DIR (/tmp/flowers-models/mobilenet_v1)
#   PRETRAINED_CHECKPOINT_DIR (/tmp/checkpoints)  CHECKPOINT_URL (registry)
#   DOWNLOAD_BASE_URL (flower_photos mirror; default the published URL)
#   NUM_VALIDATION (converter default, 350)
#   LOGITS_STEPS (3000)  LOGITS_LEARNING_RATE (0.01)
#   ALL_LAYERS_STEPS (1000)  ALL_LAYERS_LEARNING_RATE (0.001)
#   BATCH_SIZE (32)  EVAL_BATCH_SIZE (eval script default)
#   TRAIN_IMAGE_SIZE / EVAL_IMAGE_SIZE (registry default; eval follows train)
#   OPTIMIZER (rmsprop)  LEARNING_RATE_DECAY_TYPE (training script default)
#   WEIGHT_DECAY (0.00004)  SAVE_INTERVAL_SECS (60)
#   SAVE_SUMMARIES_SECS (60)  LOG_EVERY_N_STEPS (100)  PYTHON
#
# Usage: bash scripts/finetune_mobilenet_v1_on_flowers.sh
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/recipe_lib.sh"
recipe_flowers_defaults mobilenet_v1 3000 0.01 1000 0.001
recipe_finetune_two_stages
