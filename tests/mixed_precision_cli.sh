#!/usr/bin/env bash
# intrain sensitivity and ptq --budget-bytes on tiny MNIST with the LeNet fixture: the JSON
# the HTML report reads has its schema, the chosen program converts to a file within the
# budget, and an impossible budget is refused naming the smallest size.
#   tests/mixed_precision_cli.sh build/cli/intrain tests/fixtures/lenet.safetensors
set -uo pipefail
intrain=$(realpath "$1")
checkpoint=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)  # before the cd below: $0 may be relative
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# 128 training and 40 test images whose class is a bright row band.
python3 "$here/tiny_mnist.py" 128 40 2
common=(--checkpoint "$checkpoint" --model lenet --dataset mnist --data-root data)

if ! out=$("$intrain" sensitivity "${common[@]}" --bits 8,4,2 --calibration-batches 1 --batch-size 32 \
           --eval-images 40 --out sens 2>&1); then
  fail "intrain sensitivity failed: $out"
fi
grep -q "fc1  *linear  *400000  *2  *8" <<< "$out" || fail "the table has no fc1 row at 2 bits: $out"
python3 - sens/sensitivity.json <<'PY' || fail "sens/sensitivity.json does not have the schema"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["model"] == "lenet" and doc["dataset"] == "mnist" and doc["metric"] == "accuracy_drop"
assert 0 <= doc["float_accuracy"] <= 1
layers = doc["layers"]
assert [(l["name"], l["weight_bits"]) for l in layers] == [(n, b) for n in ("conv1", "conv2", "fc1", "fc2") for b in (8, 4, 2)]
for l in layers:
    assert l["activation_bits"] == 8 and l["weights"] > 0
    assert abs(l["accuracy_drop"] - (doc["float_accuracy"] - l["accuracy"])) < 1e-9
    assert isinstance(l["output_sqnr_db"], float)
PY

# A budget between uniform 4-bit and 8-bit weights, from the table just measured.
budget=300000
if ! out=$("$intrain" ptq "${common[@]}" --calib-batches 1 --batch-size 32 --budget-bytes $budget \
           --sensitivity sens/sensitivity.json --out mixed 2>&1); then
  fail "ptq --budget-bytes failed: $out"
fi
grep -q "predicted program size" <<< "$out" || fail "ptq --budget-bytes printed no choice: $out"
if ! out=$("$intrain" convert --checkpoint mixed/ptq.safetensors --out mixed.int8 2>&1); then
  fail "convert of the mixed checkpoint failed: $out"
fi
size=$(stat -c %s mixed.int8 2>/dev/null || echo 0)
[ "$size" -gt 0 ] && [ "$size" -le $budget ] || fail "mixed.int8 is $size bytes, budget $budget"
[ "$size" -lt 300000 ] && [ "$size" -gt 200000 ] || fail "mixed.int8 is $size bytes: not a mix of 8 and 4 bits"

out=$("$intrain" ptq "${common[@]}" --calib-batches 1 --batch-size 32 --budget-bytes 5000 \
      --sensitivity sens/sensitivity.json 2>&1)
status=$?
{ [ $status -ne 0 ] && grep -q "below the smallest program these layers allow" <<< "$out"; } ||
  fail "an impossible budget was not refused with the smallest size (exit $status): $out"

[ "$failures" -eq 0 ] && echo "mixed precision CLI: all checks passed"
exit "$failures"
