# Shell functions shared by the recipes in scripts/ (sourced, not run).
#
# Every model fact (checkpoint URL and file, exclude / trainable scopes,
# image sizes) comes from nets/nets_factory.py through recipe_facts.py; the
# recipes only hold their published schedules (steps, learning rates).
#
# Environment read here:
#   PYTHON             interpreter (default: .venv/bin/python of the checkout
#                      if present, else python3)
#   DOWNLOAD_BASE_URL  mirror for the dataset download (default: the
#                      dataset's published URL)

RECIPE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RECIPE_NAME="$(basename "${0}" .sh)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "${RECIPE_ROOT}/.venv/bin/python" ]]; then
    PYTHON="${RECIPE_ROOT}/.venv/bin/python"
  else
    PYTHON=python3
  fi
fi
RECIPE_STEP="start-up"
set -o errtrace  # The ERR trap below also fires inside functions.

recipe_fail() {
  local code="${2:+ (exit code $2)}"
  echo "${RECIPE_NAME}: FAILED at step '${RECIPE_STEP}'${code}: ${1}" >&2
  exit 1
}

# Any command failing outside recipe_run still names the step it was in.
trap 'recipe_fail "a command failed (line ${LINENO})" "$?"' ERR

# recipe_step NAME: announces the next step; failures name it.
recipe_step() {
  RECIPE_STEP="$1"
  echo
  echo "== ${RECIPE_NAME}: ${RECIPE_STEP}"
}

# recipe_run CMD...: runs a command; on failure names the current step.
recipe_run() {
  local rc=0
  "$@" || rc=$?
  if (( rc != 0 )); then
    recipe_fail "see the messages above" "${rc}"
  fi
}

# recipe_py SCRIPT ARGS...: runs a top-level Python script of the checkout.
recipe_py() {
  local script="$1"
  shift
  recipe_run "${PYTHON}" "${RECIPE_ROOT}/${script}" "$@"
}

# recipe_load_facts MODEL [CHECKPOINT_DIR [CHECKPOINT_URL]]: sets FACT_<KEY>
# for every line recipe_facts.py prints (FACT_CHECKPOINT_URL,
# FACT_EXCLUDE_SCOPES, ...). With CHECKPOINT_DIR it also gets the pretrained
# checkpoint there (kept if present, else downloaded from CHECKPOINT_URL or
# the registry's URL) and sets FACT_CHECKPOINT_PATH.
recipe_load_facts() {
  local output rc=0 key value
  local args=(--model_name="$1")
  if [[ -n "${2:-}" ]]; then
    args+=(--checkpoint_dir="$2" --checkpoint_url="${3:-}")
  fi
  output="$("${PYTHON}" "${RECIPE_ROOT}/scripts/recipe_facts.py" \
    "${args[@]}")" || rc=$?
  if (( rc != 0 )); then
    recipe_fail "see the ERROR line above" "${rc}"
  fi
  while IFS='=' read -r key value; do
    [[ "${key}" =~ ^[A-Z_]+$ ]] || continue
    printf -v "FACT_${key}" '%s' "${value}"
  done <<< "${output}"
}

# recipe_convert_dataset NAME DIR [FLAGS...]: download_and_convert_data.py,
# with --download_base_url when DOWNLOAD_BASE_URL is set.
recipe_convert_dataset() {
  local name="$1" dir="$2"
  shift 2
  local extra=()
  if [[ -n "${DOWNLOAD_BASE_URL:-}" ]]; then
    extra+=("--download_base_url=${DOWNLOAD_BASE_URL}")
  fi
  recipe_py download_and_convert_data.py --dataset_name="${name}" \
    --dataset_dir="${dir}" ${extra[@]+"${extra[@]}"} "$@"
}

# recipe_optional FLAG VALUE: prints --FLAG=VALUE when VALUE is not empty.
recipe_optional() {
  if [[ -n "$2" ]]; then
    printf -- '--%s=%s\n' "$1" "$2"
  fi
}

# recipe_finetune_two_stages: the TF-Slim fine-tuning recipe.
#   1. convert the dataset (flowers: download; image_folder: IMAGE_DIR),
#   2. get the pretrained checkpoint (PRETRAINED_CHECKPOINT_DIR or download),
#   3. train only the new logits (TRAIN_DIR), 4. evaluate them,
#   5. train all layers from there (TRAIN_DIR/all), 6. evaluate again
#      (ALL_LAYERS_STEPS=0 stops after step 4).
# Reads MODEL_NAME, DATASET_NAME, DATASET_DIR, TRAIN_DIR,
# PRETRAINED_CHECKPOINT_DIR, CHECKPOINT_URL, LOGITS_STEPS,
# LOGITS_LEARNING_RATE, ALL_LAYERS_STEPS, ALL_LAYERS_LEARNING_RATE,
# BATCH_SIZE, EVAL_BATCH_SIZE, TRAIN_IMAGE_SIZE, EVAL_IMAGE_SIZE, OPTIMIZER,
# LEARNING_RATE_DECAY_TYPE (empty: the training script's), WEIGHT_DECAY,
# SAVE_INTERVAL_SECS, SAVE_SUMMARIES_SECS, LOG_EVERY_N_STEPS
# and CONVERT_FLAGS (an array of extra converter flags).
recipe_finetune_two_stages() {
  local train_split=train eval_split=validation
  local all_dir="${TRAIN_DIR}/all"
  local common=() eval_common=() size_flags=() eval_size_flags=()
  local ckpt
  if ! [[ "${LOGITS_STEPS}" =~ ^[0-9]+$ && "${ALL_LAYERS_STEPS}" =~ ^[0-9]+$ ]]
  then
    RECIPE_STEP="checking the environment"
    recipe_fail "LOGITS_STEPS (${LOGITS_STEPS}) and ALL_LAYERS_STEPS \
(${ALL_LAYERS_STEPS}) must be whole numbers of steps"
  fi

  recipe_step "1/6 preparing ${DATASET_NAME} TFRecords in ${DATASET_DIR}"
  recipe_convert_dataset "${DATASET_NAME}" "${DATASET_DIR}" \
    ${CONVERT_FLAGS[@]+"${CONVERT_FLAGS[@]}"}

  recipe_step "2/6 registry facts and pretrained checkpoint of ${MODEL_NAME} \
in ${PRETRAINED_CHECKPOINT_DIR}"
  recipe_load_facts "${MODEL_NAME}" "${PRETRAINED_CHECKPOINT_DIR}" \
    "${CHECKPOINT_URL}"
  ckpt="${FACT_CHECKPOINT_PATH}"
  echo "checkpoint: ${ckpt}"
  echo "exclude scopes: ${FACT_EXCLUDE_SCOPES}"
  echo "trainable scopes: ${FACT_TRAINABLE_SCOPES}"

  common=(--dataset_name="${DATASET_NAME}" --dataset_dir="${DATASET_DIR}"
          --model_name="${MODEL_NAME}")
  mapfile -t size_flags < <(recipe_optional train_image_size \
    "${TRAIN_IMAGE_SIZE}")
  mapfile -t eval_size_flags < <(recipe_optional eval_image_size \
    "${EVAL_IMAGE_SIZE}")
  mapfile -t eval_common < <(recipe_optional batch_size "${EVAL_BATCH_SIZE}")
  eval_common+=(--dataset_split_name="${eval_split}"
                ${eval_size_flags[@]+"${eval_size_flags[@]}"})
  local decay_flags=()
  mapfile -t decay_flags < <(recipe_optional learning_rate_decay_type \
    "${LEARNING_RATE_DECAY_TYPE}")
  local train_common=(--dataset_split_name="${train_split}"
    --batch_size="${BATCH_SIZE}" --optimizer="${OPTIMIZER}"
    --weight_decay="${WEIGHT_DECAY}"
    --save_interval_secs="${SAVE_INTERVAL_SECS}"
    --save_summaries_secs="${SAVE_SUMMARIES_SECS}"
    --log_every_n_steps="${LOG_EVERY_N_STEPS}"
    ${size_flags[@]+"${size_flags[@]}"}
    ${decay_flags[@]+"${decay_flags[@]}"})

  recipe_step "3/6 fine-tuning the new logits for ${LOGITS_STEPS} steps \
in ${TRAIN_DIR}"
  recipe_py train_image_classifier.py --train_dir="${TRAIN_DIR}" \
    "${common[@]}" "${train_common[@]}" \
    --checkpoint_path="${ckpt}" \
    --checkpoint_exclude_scopes="${FACT_EXCLUDE_SCOPES}" \
    --trainable_scopes="${FACT_TRAINABLE_SCOPES}" \
    --max_number_of_steps="${LOGITS_STEPS}" \
    --learning_rate="${LOGITS_LEARNING_RATE}"

  recipe_step "4/6 evaluating the logits-only model on ${eval_split}"
  recipe_py eval_image_classifier.py --checkpoint_path="${TRAIN_DIR}" \
    --eval_dir="${TRAIN_DIR}/eval" "${common[@]}" "${eval_common[@]}"

  if (( ALL_LAYERS_STEPS == 0 )); then
    echo
    echo "${RECIPE_NAME}: done (ALL_LAYERS_STEPS=0: all-layers stage skipped)."
    echo "  logits only: ${TRAIN_DIR}"
    echo "  eval: ${TRAIN_DIR}/eval/eval_results.json"
    return 0
  fi

  recipe_step "5/6 fine-tuning all layers for ${ALL_LAYERS_STEPS} steps \
in ${all_dir}"
  recipe_py train_image_classifier.py --train_dir="${all_dir}" \
    "${common[@]}" "${train_common[@]}" \
    --checkpoint_path="${TRAIN_DIR}" \
    --max_number_of_steps="${ALL_LAYERS_STEPS}" \
    --learning_rate="${ALL_LAYERS_LEARNING_RATE}"

  recipe_step "6/6 evaluating the fully fine-tuned model on ${eval_split}"
  recipe_py eval_image_classifier.py --checkpoint_path="${all_dir}" \
    --eval_dir="${all_dir}/eval" "${common[@]}" "${eval_common[@]}"

  echo
  echo "${RECIPE_NAME}: done."
  echo "  logits only: ${TRAIN_DIR} (eval: ${TRAIN_DIR}/eval/eval_results.json)"
  echo "  all layers:  ${all_dir} (eval: ${all_dir}/eval/eval_results.json)"
}

# recipe_flowers_defaults MODEL LOGITS_STEPS LOGITS_LR ALL_STEPS ALL_LR:
# sets the published defaults of a flowers recipe unless already set.
recipe_flowers_defaults() {
  MODEL_NAME="$1"
  LOGITS_STEPS="${LOGITS_STEPS:-$2}"
  LOGITS_LEARNING_RATE="${LOGITS_LEARNING_RATE:-$3}"
  ALL_LAYERS_STEPS="${ALL_LAYERS_STEPS:-$4}"
  ALL_LAYERS_LEARNING_RATE="${ALL_LAYERS_LEARNING_RATE:-$5}"
  DATASET_NAME=flowers
  DATASET_DIR="${DATASET_DIR:-/tmp/flowers}"
  TRAIN_DIR="${TRAIN_DIR:-/tmp/flowers-models/${MODEL_NAME}}"
  recipe_finetune_common_defaults
  CONVERT_FLAGS=()
  if [[ -n "${NUM_VALIDATION:-}" ]]; then
    CONVERT_FLAGS+=("--num_validation=${NUM_VALIDATION}")
  fi
}

# Defaults shared by every fine-tuning recipe (TF-Slim's values).
recipe_finetune_common_defaults() {
  PRETRAINED_CHECKPOINT_DIR="${PRETRAINED_CHECKPOINT_DIR:-/tmp/checkpoints}"
  CHECKPOINT_URL="${CHECKPOINT_URL:-}"
  BATCH_SIZE="${BATCH_SIZE:-32}"
  EVAL_BATCH_SIZE="${EVAL_BATCH_SIZE:-}"
  TRAIN_IMAGE_SIZE="${TRAIN_IMAGE_SIZE:-}"
  EVAL_IMAGE_SIZE="${EVAL_IMAGE_SIZE:-${TRAIN_IMAGE_SIZE}}"
  OPTIMIZER="${OPTIMIZER:-rmsprop}"
  LEARNING_RATE_DECAY_TYPE="${LEARNING_RATE_DECAY_TYPE:-}"
  WEIGHT_DECAY="${WEIGHT_DECAY:-0.00004}"
  SAVE_INTERVAL_SECS="${SAVE_INTERVAL_SECS:-60}"
  SAVE_SUMMARIES_SECS="${SAVE_SUMMARIES_SECS:-60}"
  LOG_EVERY_N_STEPS="${LOG_EVERY_N_STEPS:-100}"
}
