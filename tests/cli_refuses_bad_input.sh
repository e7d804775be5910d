#!/usr/bin/env bash
# The command line refuses bad values and bad files with one clear line and a non-zero exit,
# at once: nothing wraps around, hangs on a FIFO or crashes.
#   tests/cli_refuses_bad_input.sh build/cli/intrain build/cli/intrain-infer
set -uo pipefail
intrain=$1
infer=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0

# expect_refusal NEEDLE COMMAND...: exits non-zero within 20 s, saying NEEDLE.
expect_refusal() {
  local needle=$1
  shift
  local out status
  out=$(timeout 20 "$@" 2>&1 < /dev/null)
  status=$?
  if [ "$status" -eq 0 ] || [ "$status" -eq 124 ] || [ "$status" -ge 128 ] || ! grep -qF -- "$needle" <<< "$out"; then
    echo "FAIL: '$*' exited $status, expected a refusal saying '$needle'; it printed:"
    echo "$out" | tail -3
    failures=$((failures + 1))
  fi
}

expect_refusal "--batch-size: Value 99999999999999999999 not in range" "$intrain" train --batch-size 99999999999999999999
expect_refusal "--max-steps: Value -1 not in range" "$intrain" train --max-steps -1
expect_refusal "--seed: Value -1 not in range" "$intrain" train --seed -1
expect_refusal "--epochs: Value 0 not in range" "$intrain" train --epochs 0
expect_refusal "--lr: Value 1e30 not in range" "$intrain" train --lr 1e30
expect_refusal "--wbits: Value 9 not in range" "$intrain" qat --checkpoint x --wbits 9
expect_refusal "--batch-size: Value 0 not in range" "$infer" --program x --batch-size 0
mkfifo "$dir/fifo"
expect_refusal "is a FIFO" "$intrain" eval --checkpoint "$dir/fifo"
expect_refusal "is a FIFO" "$infer" --program "$dir/fifo"
expect_refusal "is a directory" "$infer" --program "$dir"
printf 'PK\003\004 not a safetensors file, a torch.save zip' > "$dir/model.pt"
expect_refusal "is a PyTorch pickle" "$intrain" eval --checkpoint "$dir/model.pt"

checks=11
echo "cli_refuses_bad_input: $((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
