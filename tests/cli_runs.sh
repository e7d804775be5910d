#!/usr/bin/env bash
# The real binaries on tiny data: runs go to their own folders and never mix, checkpoints
# carry their data settings (image size, normalization) so later commands need no flags,
# and the machine-readable outputs parse.
#   tests/cli_runs.sh build/cli/intrain build/cli/intrain-infer VERSION
set -uo pipefail
intrain=$(realpath "$1")
infer=$(realpath "$2")
version=$3
here=$(cd "$(dirname "$0")" && pwd)  # before the cd below: $0 may be relative
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
failures=0 checks=0

# check DESCRIPTION COMMAND...: the command succeeds.
check() {
  local what=$1
  shift
  checks=$((checks + 1))
  if ! out=$(timeout 60 "$@" 2>&1 < /dev/null); then
    echo "FAIL: $what: '$*' failed:"
    echo "$out" | tail -5
    failures=$((failures + 1))
    return 1
  fi
}
# refused NEEDLE COMMAND...: the command fails saying NEEDLE.
refused() {
  local needle=$1
  shift
  checks=$((checks + 1))
  out=$(timeout 60 "$@" 2>&1 < /dev/null)
  local status=$?
  if [ "$status" -eq 0 ] || [ "$status" -ge 124 ] || ! grep -qF -- "$needle" <<< "$out"; then
    echo "FAIL: '$*' exited $status, expected a refusal saying '$needle'; it printed:"
    echo "$out" | tail -3
    failures=$((failures + 1))
  fi
}

# Tiny MNIST (IDX files: 200 training and 40 test images) and a tiny photo folder (PNGs,
# two classes, train/ and val/, and a flat copy without the splits).
python3 "$here/tiny_mnist.py" 200 40 1
python3 - <<'PY'
import os, struct, zlib
def png(path, w, h, rgb):
    raw = b"".join(b"\0" + bytes(rgb) * w for _ in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
for root, splits in (("photos", ("train", "val")), ("flat", ("",))):
    for split in splits:
        for c, colour in enumerate(("red", "blue")):
            folder = os.path.join(root, split, colour)
            os.makedirs(folder, exist_ok=True)
            for i in range(6):
                png(os.path.join(folder, f"{i}.png"), 40, 36, (200 if c == 0 else 20, 30 + i, 20 if c == 0 else 200))
PY

train=("$intrain" train --data-root data --epochs 1 --max-steps 2 --batch-size 16 --no-progress)

check "--version" "$intrain" --version && grep -qF "$version" <<< "$out" || { echo "FAIL: intrain --version printed '$out'"; failures=$((failures + 1)); }
check "--version" "$infer" --version && grep -qF "$version" <<< "$out" || { echo "FAIL: intrain-infer --version printed '$out'"; failures=$((failures + 1)); }
check "summary of mobilenet_v2 on its default input" "$intrain" summary --model mobilenet_v2
fixture=$here/fixtures/onnx/mobilenet_v2_035.onnx
check "summary of an imported ONNX model on the input its file declares" "$intrain" summary --model "onnx:$fixture" &&
  { grep -qF "[1, 3, 32, 32]" <<< "$out" || { echo "FAIL: summary of onnx:$fixture did not use its [3, 32, 32] input"; failures=$((failures + 1)); }; }

# Two models train into two folders; a third run of the first goes to a numbered folder.
check "train lenet" "${train[@]}" --model lenet
check "train lenet5_bn" "${train[@]}" --model lenet5_bn
check "train lenet again" "${train[@]}" --model lenet && grep -qF "runs/lenet-mnist-2" <<< "$out" || echo "$out" | tail -2
for f in runs/lenet-mnist/best.safetensors runs/lenet5_bn-mnist/best.safetensors runs/lenet-mnist-2/last.safetensors; do
  checks=$((checks + 1))
  [ -f "$f" ] || { echo "FAIL: $f was not written"; failures=$((failures + 1)); }
done
checks=$((checks + 1))
[ "$(wc -l < runs/lenet-mnist/metrics.jsonl)" -eq 1 ] || { echo "FAIL: runs/lenet-mnist/metrics.jsonl got another run's epochs"; failures=$((failures + 1)); }
grep -qF '"val_accuracy"' runs/lenet-mnist/metrics.jsonl || { echo "FAIL: no val_accuracy in the metrics (--val-fraction default)"; failures=$((failures + 1)); }
# A folder holding another run is refused; --overwrite replaces it; --resume continues it.
refused "already holds a run" "${train[@]}" --model lenet5_bn --out runs/lenet-mnist
check "--overwrite" "${train[@]}" --model lenet --out runs/lenet-mnist-2 --overwrite
resume=("$intrain" train --data-root data --max-steps 2 --batch-size 16 --no-progress --resume runs/lenet-mnist/last.safetensors)
check "--resume" "${resume[@]}" --epochs 2
checks=$((checks + 1))
[ "$(wc -l < runs/lenet-mnist/metrics.jsonl)" -eq 2 ] || { echo "FAIL: the resumed run did not continue its own metrics"; failures=$((failures + 1)); }
refused "a resumed run keeps its split" "${resume[@]}" --epochs 3 --val-fraction 0.2

# eval: the dataset from the checkpoint, JSON that parses, top-5 for ten classes.
check "eval --json" "$intrain" eval --checkpoint runs/lenet-mnist/best.safetensors --data-root data --json
checks=$((checks + 1))
python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["images"] == 40 and 0 <= r["top1_accuracy"] <= r["top5_accuracy"] <= 1 and "confusion_matrix" not in r and r["peak_memory_mib"] > 0 and r["batch_size"] >= 1' <<< "$out" \
  || { echo "FAIL: eval --json printed '$out'"; failures=$((failures + 1)); }
check "eval --confusion-matrix" "$intrain" eval --checkpoint runs/lenet-mnist/best.safetensors --data-root data --confusion-matrix
grep -qF "confusion matrix" <<< "$out" || { echo "FAIL: no confusion matrix"; failures=$((failures + 1)); }
refused "applies to imagefolder:PATH datasets only" "$intrain" eval --checkpoint runs/lenet-mnist/best.safetensors --data-root data --image-size 32

# A model trained at 32 px is evaluated at 32 px without flags; LeNet cannot take 40 px photos.
check "train at 32 px" "${train[@]}" --model mobilenet_v1 --width 0.25 --dataset imagefolder:photos --image-size 32 --val-fraction 0
check "eval at the trained size" "$intrain" eval --checkpoint runs/mobilenet_v1-w0.25-photos/best.safetensors
grep -qF "[3, 32, 32]" <<< "$out" || { echo "FAIL: eval did not read the 32 px size from the checkpoint: $out"; failures=$((failures + 1)); }
check "eval at another size the model takes" "$intrain" eval --checkpoint runs/mobilenet_v1-w0.25-photos/best.safetensors --image-size 40
refused "channel(s)" "$intrain" eval --checkpoint runs/lenet-mnist/best.safetensors --dataset imagefolder:photos
# A folder without train/ and val/ is split by --val-fraction, never used twice.
refused "needs --val-fraction" "${train[@]}" --model mobilenet_v1 --width 0.25 --dataset imagefolder:flat --image-size 32 --val-fraction 0
check "flat folder split" "${train[@]}" --model mobilenet_v1 --width 0.25 --dataset imagefolder:flat --image-size 32 --val-fraction 0.25

# ptq and convert take the data settings from the checkpoint; intrain-infer from the program.
check "ptq" "$intrain" ptq --checkpoint runs/lenet-mnist/best.safetensors --data-root data --calib-batches 1 --out runs/lenet-ptq
refused "already holds a run" "$intrain" ptq --checkpoint runs/lenet-mnist/best.safetensors --data-root data --calib-batches 1 --out runs/lenet-ptq
check "convert" "$intrain" convert --checkpoint runs/lenet-ptq/ptq.safetensors --out lenet.int8
check "infer --json" "$infer" --program lenet.int8 --data-root data --latency-images 3 --json --predictions predictions.csv
checks=$((checks + 1))
python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["dataset"] == "mnist" and r["images"] == 40 and "top5_accuracy" in r' <<< "$out" \
  || { echo "FAIL: intrain-infer --json printed '$out'"; failures=$((failures + 1)); }
checks=$((checks + 1))
[ "$(wc -l < predictions.csv)" -eq 41 ] && head -1 predictions.csv | grep -qF "index,file,label,predicted,top1" \
  || { echo "FAIL: predictions.csv is not one header and 40 rows"; failures=$((failures + 1)); }
# The executor op by op against float and the fake-quantized model: a row per op in the JSON.
check "debug-int8" "$intrain" debug-int8 --program lenet.int8 --checkpoint runs/lenet-ptq/ptq.safetensors \
  --data-root data --images 16 --out runs/lenet-debug
checks=$((checks + 1))
python3 -c 'import json; r = json.load(open("runs/lenet-debug/int8-debug.json")); ops = r["ops"]
assert len(ops) >= 5 and ops[-1]["sqnr_db"] is not None and ops[-1]["sqnr_db"] > 10, ops' \
  || { echo "FAIL: runs/lenet-debug/int8-debug.json lacks its rows"; failures=$((failures + 1)); }
check "qat on the 32 px photos" "$intrain" qat --checkpoint runs/mobilenet_v1-w0.25-photos/best.safetensors --algo lsq --wbits 8 --abits 8 --epochs 1 --max-steps 1 --no-progress --out runs/photos-qat
check "convert the QAT model" "$intrain" convert --checkpoint runs/photos-qat/best.safetensors --out photos.int8
check "infer the photos at 32 px" "$infer" --program photos.int8 --latency-images 2
grep -qF "photos" <<< "$out" || { echo "FAIL: intrain-infer did not take the program's dataset: $out"; failures=$((failures + 1)); }
refused "takes [3, 32, 32] images only" "$infer" --program photos.int8 --image-size 40

echo "cli_runs: $((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
