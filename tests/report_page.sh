#!/usr/bin/env bash
# intrain report, for real: a tiny LeNet run (3 short epochs, then PTQ), its page written,
# checked in the HTML (every section there, the counts of what each chart drew, text
# escaped, nothing fetched from outside), then rendered by headless Chromium and checked in
# the pixels: the colours each chart draws with (report/html_page.hpp, colours::) cover
# real areas of the screenshot, not a blank page. Skipped (exit 77) without Chromium.
#   tests/report_page.sh build/cli/intrain build/tests/png_colours
set -uo pipefail
intrain=$(realpath "$1")
png_colours=$(realpath "$2")
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  echo "SKIP: no chromium on PATH (scripts/setup installs Debian's chromium): the page is not rendered"
  exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)  # before the cd below: $0 may be relative
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# run COMMAND...: succeeds, or the test stops with its output.
run() {
  if ! out=$(timeout 120 "$@" 2>&1 < /dev/null); then
    echo "FAIL: '$*' failed:"
    echo "$out" | tail -8
    exit 1
  fi
}

# Tiny MNIST as tests/cli_runs.sh makes it: 200 training and 40 test images, a bright row per class.
python3 "$here/tiny_mnist.py" 200 40 1

# A folder name with HTML in it: the page must show it as text.
run_dir='run<b>&amp'
run "$intrain" train --model lenet --data-root data --epochs 3 --max-steps 4 --batch-size 16 --no-progress --out "$run_dir"
run "$intrain" ptq --checkpoint "$run_dir/best.safetensors" --data-root data --calib-batches 2 --batch-size 16 --out "$run_dir/ptq"

# The files of intrain sensitivity and intrain debug-int8, as their schemas have them (a
# null SQNR is how JSON writers put a NaN or an infinity).
cat > "$run_dir/sensitivity.json" <<'EOF'
{"model": "lenet", "dataset": "mnist", "float_accuracy": 0.9, "metric": "top1_accuracy",
 "layers": [{"name": "conv1", "weight_bits": 4, "activation_bits": 8, "weights": 150, "accuracy": 0.85, "accuracy_drop": 0.05, "output_sqnr_db": 21.5},
            {"name": "conv2", "weight_bits": 4, "activation_bits": 8, "weights": 2400, "accuracy": 0.88, "accuracy_drop": 0.02, "output_sqnr_db": 25.0},
            {"name": "fc1", "weight_bits": 4, "activation_bits": 8, "weights": 48000, "accuracy": 0.89, "accuracy_drop": 0.01, "output_sqnr_db": null}]}
EOF
cat > "$run_dir/int8-debug.json" <<'EOF'
{"program": "lenet.int8", "checkpoint": "ptq.safetensors", "images": 32,
 "ops": [{"index": 0, "kind": "quantize", "layer": "conv1.input_quant", "shape": [32, 1, 28, 28], "sqnr_db": 40.1, "max_abs_error": 0.004, "fake_quant_sqnr_db": 40.1, "note": ""},
         {"index": 1, "kind": "conv", "layer": "conv1", "shape": [32, 6, 24, 24], "sqnr_db": 35.2, "max_abs_error": 0.02, "fake_quant_sqnr_db": 35.4, "note": "<rounding>"},
         {"index": 2, "kind": "linear", "layer": "fc2", "shape": [32, 10], "sqnr_db": 30.0, "max_abs_error": 0.1, "fake_quant_sqnr_db": null, "note": ""}]}
EOF

if out=$(timeout 60 "$intrain" report no-such-run 2>&1); then
  fail "report accepted a folder that does not exist"
elif ! grep -qF "'no-such-run' is not a folder" <<< "$out"; then
  fail "report's refusal of a missing folder did not name it: $out"
fi
# A malformed file is refused naming it; a missing one only leaves its section out.
echo '{"layers": [{"weight_bits": 4}]}' > "$run_dir/sensitivity.json.bad"
mv "$run_dir/sensitivity.json" "$run_dir/sensitivity.json.good"
mv "$run_dir/sensitivity.json.bad" "$run_dir/sensitivity.json"
if out=$(timeout 120 "$intrain" report "$run_dir" --data-root data 2>&1); then
  fail "report accepted a sensitivity.json without layer names"
elif ! grep -qF "sensitivity.json': layers[0]: no field 'name'" <<< "$out"; then
  fail "report's refusal of a malformed sensitivity.json did not name the file and field: $out"
fi
mv "$run_dir/sensitivity.json.good" "$run_dir/sensitivity.json"

run "$intrain" report "$run_dir" --data-root data --images 32
page="$run_dir/report.html"
[ -s "$page" ] || { echo "FAIL: intrain report wrote no $page ($out)"; exit 1; }
grep -qF "(curves, sqnr, sensitivity, int8, histograms, confusion)" <<< "$out" || fail "report did not fill every section: $out"

# has PATTERN WHAT: the page holds the (fixed-string) pattern.
has() { grep -qF -- "$1" "$page" || fail "the page has no $2 ($1)"; }
has 'id="loss-curve" class="chart" data-chart="line" data-series="2" data-points="6"' "loss curves of 3 epochs (train and val)"
has 'id="accuracy-curve" class="chart" data-chart="line" data-series="2" data-points="6"' "accuracy curves"
has 'id="lr-curve" class="chart" data-chart="line" data-series="1" data-points="3"' "learning-rate curve"
has 'id="sqnr-bars" class="chart" data-chart="bar" data-bars="7"' "SQNR bars of LeNet's 7 quantized layers"
has 'id="sensitivity-bars" class="chart" data-chart="bar" data-bars="3"' "sensitivity bars"
has 'id="sensitivity-sqnr-bars" class="chart" data-chart="bar" data-bars="2"' "sensitivity SQNR bars (the null one left out)"
has 'id="int8-bars" class="chart" data-chart="bar" data-bars="5"' "int8 per-op bars (3 int8, 2 fake-quant)"
has 'id="weight-histograms" data-count="4"' "weight histograms of conv1, conv2, fc1, fc2"
has 'id="confusion-matrix" class="chart" data-chart="heatmap" data-cells="100" data-classes="10" data-total="40"' "confusion matrix of the 40 test images"
has 'data-chart="histogram" data-bins=' "histogram charts"
has 'run&lt;b&gt;&amp;amp' "escaped run folder name"
has '&lt;rounding&gt;' "escaped int8 note"
activations=$(grep -o 'id="activation-histograms" data-count="[0-9]*"' "$page" | grep -o '[0-9]*"$' | tr -d '"')
[ "${activations:-0}" -ge 4 ] || fail "the page has ${activations:-no} activation histograms, expected at least 4 (input and 3 ReLUs)"
marked=$(grep -o 'data-markers="[24]"' "$page" | wc -l)
[ "$marked" -ge 8 ] || fail "only $marked histograms carry their range markers"
grep -qF 'run<b>' "$page" && fail "the run folder name went into the page unescaped"
grep -qiE '<script|<link|<img|<iframe|src=|url\(' "$page" && fail "the page loads something: it must be self-contained"
grep -oE 'https?://[^"]*' "$page" | grep -vqxF 'http://www.w3.org/2000/svg' && fail "the page names an address other than the SVG namespace"

# A run without quantized checkpoint or extra files: those sections say how to make them.
mkdir float-only && cp "$run_dir"/metrics.jsonl "$run_dir"/best.safetensors float-only/
run "$intrain" report float-only --data-root data --out float-only/page.html
grep -qF 'id="sqnr" data-present="0"' float-only/page.html && grep -qF 'intrain ptq --checkpoint' float-only/page.html ||
  fail "a float run's page does not say how to get the SQNR section"
grep -qF 'id="confusion" data-present="1"' float-only/page.html || fail "a float run's page has no confusion matrix"

# Rendered: Chromium as root needs --no-sandbox; its own profile folder keeps it off $HOME.
timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars --no-first-run \
  --user-data-dir="$dir/profile" --window-size=1200,5200 --screenshot="$dir/page.png" "file://$dir/$page" > chromium.log 2>&1
[ -s page.png ] || { echo "FAIL: chromium wrote no screenshot:"; tail -5 chromium.log; exit 1; }
[ -n "${REPORT_PAGE_PNG:-}" ] && cp page.png "$REPORT_PAGE_PNG"  # to look at it

# pixels NAME COLOUR MIN_COUNT MIN_WIDTH: at least MIN_COUNT pixels of COLOUR, spread over
# MIN_WIDTH columns (a curve across its chart, not one dot).
colours=$("$png_colours" page.png 6 '#1f77b4' '#ff7f0e' '#2ca02c' '#9467bd' '#17becf' '#bcbd22' '#8c564b' '#e377c2' '#e6ab02' '#c51b7d' '#08306b')
pixels() {
  local line count width
  line=$(grep -F "$2 " <<< "$colours")
  read -r _ count x0 _ x1 _ <<< "$line"
  width=$((x1 - x0 + 1))
  if [ "${count:-0}" -lt "$3" ] || [ "$width" -lt "$4" ]; then
    fail "the rendered page shows $1 in ${count:-0} pixels over $width columns (colour $2; expected >= $3 pixels over >= $4 columns)"
  fi
}
pixels "the training loss curve" '#1f77b4' 400 500
pixels "the validation loss curve" '#ff7f0e' 400 500
pixels "the training accuracy curve" '#2ca02c' 400 500
pixels "the learning-rate curve" '#9467bd' 400 500
pixels "the SQNR bars" '#17becf' 20000 300
pixels "the sensitivity bars" '#bcbd22' 2000 100
pixels "the int8 per-op bars" '#8c564b' 5000 300
pixels "the weight histograms" '#e377c2' 1500 300
pixels "the activation histograms" '#e6ab02' 1500 300
pixels "the quantization range markers" '#c51b7d' 300 300
pixels "the confusion matrix's largest cell" '#08306b' 500 30

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed; the screenshot's colours:"
  echo "$colours"
  exit 1
fi
echo "report page: OK ($(head -1 <<< "$colours"); $(wc -c < "$page") bytes of HTML)"
