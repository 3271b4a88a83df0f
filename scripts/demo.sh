#!/usr/bin/env bash
# The whole workflow on data that ships with scikit-learn (no download):
# convert the 8x8 digits to TFRecords, train LeNet, evaluate it, export and
# freeze the graph, and classify one held-out digit image.
#
# Every location is an environment variable:
#   DEMO_DIR (./demo_output)  PYTHON (python)  TRAIN_STEPS (1500)
set -euo pipefail

PYTHON=${PYTHON:-python}
DEMO_DIR=${DEMO_DIR:-demo_output}
DATASET_DIR=${DATASET_DIR:-${DEMO_DIR}/digits}
TRAIN_DIR=${TRAIN_DIR:-${DEMO_DIR}/lenet_train}
EVAL_DIR=${EVAL_DIR:-${DEMO_DIR}/lenet_eval}
EXPORT_DIR=${EXPORT_DIR:-${DEMO_DIR}/export}
TRAIN_STEPS=${TRAIN_STEPS:-1500}
MIN_ACCURACY=${MIN_ACCURACY:-0.97}

fail() { echo "demo: $1 failed; see the messages above." >&2; exit 1; }

echo "== 1/5 Converting scikit-learn digits to TFRecords in ${DATASET_DIR}"
"${PYTHON}" download_and_convert_data.py --dataset_name=digits \
  --dataset_dir="${DATASET_DIR}" || fail "dataset conversion"

echo "== 2/5 Training lenet for ${TRAIN_STEPS} steps in ${TRAIN_DIR}"
"${PYTHON}" train_image_classifier.py --train_dir="${TRAIN_DIR}" \
  --dataset_name=digits --dataset_split_name=train \
  --dataset_dir="${DATASET_DIR}" --model_name=lenet \
  --max_number_of_steps="${TRAIN_STEPS}" --batch_size=50 \
  --optimizer=sgd --learning_rate=0.01 \
  --learning_rate_decay_type=fixed --weight_decay=0 \
  --save_interval_secs=60 --save_summaries_secs=60 \
  --log_every_n_steps=250 --seed=1 || fail "training"

echo "== 3/5 Evaluating on the test split"
"${PYTHON}" eval_image_classifier.py --checkpoint_path="${TRAIN_DIR}" \
  --eval_dir="${EVAL_DIR}" --dataset_name=digits --dataset_split_name=test \
  --dataset_dir="${DATASET_DIR}" --model_name=lenet || fail "evaluation"

echo "== 4/5 Exporting and freezing the inference graph"
"${PYTHON}" export_inference_graph.py --model_name=lenet \
  --dataset_name=digits --output_file="${EXPORT_DIR}/lenet_inf_graph.pb" \
  --checkpoint_path="${TRAIN_DIR}" \
  --frozen_graph="${EXPORT_DIR}/lenet_frozen.pb" || fail "export"

IMAGE=$(ls "${DATASET_DIR}"/test_images/*.png | head -n 1)
echo "== 5/5 Classifying a held-out digit: ${IMAGE}"
"${PYTHON}" classify_image.py --graph="${EXPORT_DIR}/lenet_frozen.pb" \
  --labels_file="${DATASET_DIR}/labels.txt" --image_files="${IMAGE}" \
  --top_k=3 || fail "classification"

ACCURACY=$("${PYTHON}" -c "import json,sys; print(json.load(open(sys.argv[1]))['eval/Accuracy'])" \
  "${EVAL_DIR}/eval_results.json")
echo
echo "Eval accuracy on the digits test split: ${ACCURACY}"
echo "Artifacts:"
echo "  TFRecords:        ${DATASET_DIR}"
echo "  checkpoints:      ${TRAIN_DIR}"
echo "  eval results:     ${EVAL_DIR}/eval_results.json"
echo "  inference graph:  ${EXPORT_DIR}/lenet_inf_graph.pb"
echo "  frozen graph:     ${EXPORT_DIR}/lenet_frozen.pb"
"${PYTHON}" -c "import sys; a=float(sys.argv[1]); m=float(sys.argv[2]); sys.exit(0 if a >= m else 'demo: accuracy %.4f is below %.2f' % (a, m))" \
  "${ACCURACY}" "${MIN_ACCURACY}"
