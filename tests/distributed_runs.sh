#!/usr/bin/env bash
# Data-parallel training under mpirun, on tiny data: 2 ranks with a global batch of 64 end
# where 1 rank with a batch of 64 ends; checkpoints resume across rank counts; a bad split
# of the batch is refused; a killed or stopped rank ends the job in bounded time, naming a
# rank, with the last checkpoint intact.
#   tests/distributed_runs.sh build/cli/intrain
set -uo pipefail
intrain=$(realpath "$1")
mpirun=$(command -v mpirun) || { echo "SKIP: mpirun not found (install openmpi-bin)"; exit 77; }
launch=("$mpirun" --oversubscribe -np 2 --mca btl_vader_single_copy_mechanism none)
[ "$(id -u)" -eq 0 ] && launch+=(--allow-run-as-root)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
export INTRAIN_NUM_THREADS=1

# 1280 training images: one epoch is 20 steps of 64. Digits as bands, as tests/cli_runs.sh.
python3 - <<'PY'
import os, struct, random
random.seed(2)
os.makedirs("data/mnist", exist_ok=True)
def idx(path, dims, data):
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data))
for split, n in (("train", 1280), ("t10k", 50)):
    labels = [random.randrange(10) for i in range(n)]
    pixels = [min(255, (l * 25 + random.randrange(60)) if (p // 28) % 10 == l else random.randrange(40))
              for l in labels for p in range(784)]
    idx(f"data/mnist/{split}-images-idx3-ubyte", (n, 28, 28), pixels)
    idx(f"data/mnist/{split}-labels-idx1-ubyte", (n,), labels)
PY

# same_weights A B TOLERANCE: the largest difference between two checkpoints' tensors.
same_weights() {
  python3 - "$@" <<'PY'
import json, struct, sys, array
def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n)); data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] != "F32": continue
        a = array.array("f"); a.frombytes(data[t["data_offsets"][0]:t["data_offsets"][1]]); out[name] = a
    return out
a, b, tolerance = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
assert a.keys() == b.keys(), (sorted(a), sorted(b))
worst = max(abs(x - y) for k in a for x, y in zip(a[k], b[k]))
scale = max(abs(x) for k in a for x in a[k])
print(f"{sys.argv[1]} vs {sys.argv[2]}: largest weight difference {worst:.3g} (largest weight {scale:.3g})")
sys.exit(0 if worst <= tolerance else 1)
PY
}

train=(train --model lenet --val-fraction 0 --lr 0.05 --momentum 0.9 --seed 3 --no-progress)
run() { echo "[$SECONDS s] $*" | cut -c1-150; timeout 120 "$@" > "$dir/log" 2>&1 < /dev/null || { fail "'$*' failed:"; tail -5 "$dir/log"; return 1; }; }

# 20 steps on 1 rank and on 2 (32 images each): the same weights but for summation order.
run "$intrain" "${train[@]}" --batch-size 64 --epochs 1 --out one
run "${launch[@]}" "$intrain" "${train[@]}" --batch-size 64 --epochs 1 --out two
grep -q "batch 64 (32 on each of 2 ranks)" "$dir/log" || fail "the 2-rank run does not say how it split the batch"
[ "$(grep -c '^epoch 1/1' "$dir/log")" -eq 1 ] || fail "the 2-rank run's epoch summary is not printed exactly once"
[ "$(wc -l < two/metrics.jsonl)" -eq 1 ] || fail "the 2-rank run's metrics do not hold one line"
same_weights one/last.safetensors two/last.safetensors 1e-4 || fail "2 ranks x 32 did not reach the weights of 1 rank x 64"

# Resumed across rank counts: 2 ranks' epoch 1 continued on 1 rank, 1 rank's on 2, and
# 1 rank's on 1, all reach the same epoch 2.
cp -r one one-on-two && cp -r one one-on-one
run "$intrain" "${train[@]}" --epochs 2 --resume two/last.safetensors
run "${launch[@]}" "$intrain" "${train[@]}" --epochs 2 --resume one-on-two/last.safetensors
run "$intrain" "${train[@]}" --epochs 2 --resume one-on-one/last.safetensors
same_weights one-on-one/last.safetensors two/last.safetensors 2e-4 || fail "a 2-rank checkpoint resumed on 1 rank went elsewhere"
same_weights one-on-one/last.safetensors one-on-two/last.safetensors 2e-4 || fail "a 1-rank checkpoint resumed on 2 ranks went elsewhere"

# A global batch that does not divide among the ranks is refused, naming both.
if timeout 60 "${launch[@]}" "$intrain" "${train[@]}" --batch-size 63 --out odd > log 2>&1 < /dev/null; then
  fail "--batch-size 63 on 2 ranks was accepted"
elif ! grep -q "batch-size 63 is the global batch and must divide among the 2 ranks" log; then
  fail "--batch-size 63 on 2 ranks: no clear refusal"; cat log
fi

# rank_pid MPIRUN_PID RANK: the process of that rank (mpirun starts local ranks itself).
rank_pid() {
  for pid in $(pgrep -P "$1"); do
    tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$pid"; return; }
  done
}
# fault SIGNAL EXPECTED...: a long run loses rank 1 to SIGNAL after its first epoch; the
# job must end within 30 s with a non-zero status and print EXPECTED.
fault() {
  local signal=$1 expected=$2
  rm -rf faulty
  "${launch[@]}" "$intrain" "${train[@]}" --epochs 1000 --collective-timeout 3 --out faulty > log 2>&1 < /dev/null &
  local job=$! pid="" waited=0
  until [ -f faulty/last.safetensors ] || [ $waited -ge 300 ]; do sleep 0.1; waited=$((waited + 1)); done
  pid=$(rank_pid $job 1)
  [ -n "$pid" ] || { fail "SIG$signal: rank 1 not found"; kill $job; wait $job; return; }
  kill -"$signal" "$pid"
  local start=$SECONDS status
  while kill -0 $job 2>/dev/null && [ $((SECONDS - start)) -lt 30 ]; do sleep 0.1; done
  kill -9 $job 2>/dev/null
  wait $job
  status=$?
  local took=$((SECONDS - start))
  if [ $status -eq 0 ] || [ $took -ge 30 ]; then
    fail "SIG$signal on rank 1: the job ended with status $status after $took s"
  elif ! grep -q "$expected" log; then
    fail "SIG$signal on rank 1: the job ended ($status, $took s) without saying '$expected':"; tail -5 log
  else
    echo "SIG$signal on rank 1: the job ended in $took s with status $status"
  fi
  run "$intrain" eval --checkpoint faulty/last.safetensors --data-root data || fail "SIG$signal: last.safetensors is not intact"
  kill -9 "$pid" 2>/dev/null
}
fault KILL "rank 1"
fault STOP "rank 0 of 2: error: the gradient allreduce waited"

[ $failures -eq 0 ] && echo "distributed runs: all passed" || echo "distributed runs: $failures failure(s)"
[ $failures -eq 0 ]
