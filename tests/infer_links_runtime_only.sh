#!/usr/bin/env bash
# The deployment binary carries the integer runtime only: no OpenBLAS, no oneDNN, no ONNX or
# protobuf among the libraries it loads (the float kernels are unreachable from it).
#   tests/infer_links_runtime_only.sh build/cli/intrain-infer
set -euo pipefail
libs=$(ldd "$1")
if grep -Ei 'openblas|blas|dnnl|onnx|protobuf' <<< "$libs"; then
  echo "FAIL: $1 links the libraries above; it should need the int8 runtime only"
  exit 1
fi
echo "$1 loads: $(awk '{print $1}' <<< "$libs" | tr '\n' ' ')"
