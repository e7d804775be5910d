#!/usr/bin/env bash
# Data-parallel training under mpirun, on tiny data: 2 ranks with a global batch of 64 end
# where 1 rank with a batch of 64 ends (without batch norm, and with it under --sync-bn);
# distributed ptq and qat agree with 1 rank; checkpoints resume across rank counts; a bad split
# of the batch is refused; a killed or stopped rank ends the job in bounded time, naming a
# rank, with the last checkpoint intact.
#   tests/distributed_runs.sh build/cli/intrain
set -uo pipefail
intrain=$(realpath "$1")
mpirun=$(command -v mpirun) || { echo "SKIP: mpirun not found (install openmpi-bin)"; exit 77; }
launch=("$mpirun" --oversubscribe -np 2 --mca btl_vader_single_copy_mechanism none)
[ "$(id -u)" -eq 0 ] && launch+=(--allow-run-as-root)
here=$(cd "$(dirname "$0")" && pwd)  # before the cd below: $0 may be relative
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
export INTRAIN_NUM_THREADS=1

# 1280 training images: one epoch is 20 steps of 64. Digits as bands, as tests/cli_runs.sh.
python3 "$here/tiny_mnist.py" 1280 50 2 --random-labels

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

# --sync-bn on a model with batch norm (MobileNetV1 at a quarter width, 14 BN layers): 2
# ranks x 32 normalize over the global 64 as 1 rank does. After one step the weights agree
# to float rounding, where per-rank statistics put them far apart (what shows the check can
# fail), and reducing the gradients during backward or after it (--no-overlap) gives the
# same bits. Over 20 steps this model amplifies any change of summation order (1 rank on 1
# thread and on 2 threads drift apart as far), so there the bound is that drift, measured.
bn_train=(train --model mobilenet_v1 --width 0.25 --val-fraction 0 --lr 0.01 --seed 3 --no-progress --batch-size 64 --epochs 1)
run "$intrain" "${bn_train[@]}" --max-steps 1 --out bn-one
run "${launch[@]}" "$intrain" "${bn_train[@]}" --max-steps 1 --sync-bn --out bn-sync
run "${launch[@]}" "$intrain" "${bn_train[@]}" --max-steps 1 --sync-bn --no-overlap --out bn-sync-after
run "${launch[@]}" "$intrain" "${bn_train[@]}" --max-steps 1 --out bn-per-rank
same_weights bn-one/last.safetensors bn-sync/last.safetensors 1e-4 || fail "2 ranks --sync-bn did not reach the weights of 1 rank x 64"
same_weights bn-sync/last.safetensors bn-sync-after/last.safetensors 0 || fail "overlapped and after-backward reductions differ"
if same_weights bn-one/last.safetensors bn-per-rank/last.safetensors 1e-2; then
  fail "per-rank batch norm reached the 1-rank weights too: the --sync-bn check above proves nothing"
fi
run "$intrain" "${bn_train[@]}" --max-steps 20 --out bn-one-20
INTRAIN_NUM_THREADS=2 run "$intrain" "${bn_train[@]}" --max-steps 20 --out bn-one-20-threads
run "${launch[@]}" "$intrain" "${bn_train[@]}" --max-steps 20 --sync-bn --out bn-sync-20
drift=$(same_weights bn-one-20/last.safetensors bn-one-20-threads/last.safetensors 1e30 | sed 's/.*difference \([^ ]*\) .*/\1/')
same_weights bn-one-20/last.safetensors bn-sync-20/last.safetensors "$(python3 -c "print(max(2 * $drift, 1e-4))")" ||
  fail "after 20 steps 2 ranks --sync-bn are further from 1 rank than twice the drift of its thread count ($drift)"

# Distributed PTQ: each rank calibrates on its half of every batch, the observers merge the
# halves, and the quantization state is identical on both ranks (ptq compares every tensor
# across the ranks and says so) and equal to 1 rank's over the same images: min-max and
# histograms (percentile) exactly.
for observer in minmax percentile; do
  ptq=(ptq --checkpoint one/last.safetensors --data-root data --observer "$observer" --calib-batches 4 --batch-size 64)
  run "$intrain" "${ptq[@]}" --out "ptq-one-$observer"
  run "${launch[@]}" "$intrain" "${ptq[@]}" --out "ptq-two-$observer"
  grep -q "calibrated on 2 ranks: quantization state identical on every rank" "$dir/log" ||
    fail "2-rank ptq ($observer) did not confirm identical ranks"
  same_weights "ptq-one-$observer/ptq.safetensors" "ptq-two-$observer/ptq.safetensors" 0 ||
    fail "2-rank ptq ($observer) calibrated other ranges than 1 rank"
done

# Distributed QAT (min-max observers reduced every step): it runs, splits the batch, and
# its observer ranges and weights stay where 1 rank's go.
qat=(qat --checkpoint one/last.safetensors --data-root data --algo minmax --wbits 8 --abits 8 --epochs 1 --max-steps 5
     --batch-size 64 --val-fraction 0 --no-progress)
run "$intrain" "${qat[@]}" --out qat-one
run "${launch[@]}" "$intrain" "${qat[@]}" --out qat-two
same_weights qat-one/last.safetensors qat-two/last.safetensors 1e-3 || fail "2-rank qat went elsewhere than 1 rank"

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
# Rank 0 waits in whichever collective rank 1 was stopped before: the gradient allreduce
# (usually) or the step's loss reduction; either must end it in bounded time, naming it.
fault STOP "rank 0 of 2: error: the [a-z ]* waited"

[ $failures -eq 0 ] && echo "distributed runs: all passed" || echo "distributed runs: $failures failure(s)"
[ $failures -eq 0 ]
