#pragma once
// A histogram of one tensor's values beside the range its quantizer can represent: the
// picture of clipping (values past the range) and of wasted levels (range past the values).
#include <cstdint>
#include <string>
#include <vector>

namespace intrain::report {

struct RangeMarker {
  double value = 0;
  std::string label;  // what the line is: "grid min", "narrowest channel max", ...
};

struct Histogram {
  std::string layer;  // dotted module path
  std::string what;   // "weights" or "activations"
  std::string scheme; // how it is quantized, in words ("8-bit signed symmetric per-channel")
  double lo = 0, hi = 1;        // the binned span: the values and every marker
  std::vector<int64_t> counts;  // equal-width bins over [lo, hi]
  double min = 0, max = 0;      // of the values
  int64_t values = 0;
  int64_t outside = 0;  // values clipped: beyond the outermost markers by more than the tolerance
  std::vector<RangeMarker> markers;
};

// Bins `values` (non-finite ones skipped) over a span that also covers every marker.
// `tolerance`: how far past the outermost markers a value may lie and still not count as
// clipped (half a quantization step: such a value rounds to the grid's end as any other
// value rounds to its nearest level).
Histogram make_histogram(const std::vector<float>& values, std::vector<RangeMarker> markers, int bins,
                         double tolerance = 0);

}  // namespace intrain::report
