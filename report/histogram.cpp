#include "report/histogram.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace intrain::report {

Histogram make_histogram(const std::vector<float>& values, std::vector<RangeMarker> markers, int bins,
                         double tolerance) {
  Histogram h;
  h.markers = std::move(markers);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (float v : values)
    if (std::isfinite(v)) lo = std::min(lo, static_cast<double>(v)), hi = std::max(hi, static_cast<double>(v));
  if (lo > hi) lo = hi = 0;
  h.min = lo, h.max = hi;
  double range_lo = std::numeric_limits<double>::infinity(), range_hi = -range_lo;
  for (const RangeMarker& m : h.markers) {
    lo = std::min(lo, m.value), hi = std::max(hi, m.value);
    range_lo = std::min(range_lo, m.value), range_hi = std::max(range_hi, m.value);
  }
  if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5;
  // A little room either side, so values at the ends and the markers on them both show.
  const double pad = (hi - lo) * 0.03;
  h.lo = lo - pad, h.hi = hi + pad;
  h.counts.assign(static_cast<size_t>(std::max(1, bins)), 0);
  const double width = (h.hi - h.lo) / static_cast<double>(h.counts.size());
  for (float v : values) {
    if (!std::isfinite(v)) continue;
    const auto bin = static_cast<int64_t>((v - h.lo) / width);
    ++h.counts[static_cast<size_t>(std::clamp<int64_t>(bin, 0, static_cast<int64_t>(h.counts.size()) - 1))];
    ++h.values;
    if (!h.markers.empty() && (v < range_lo - tolerance || v > range_hi + tolerance)) ++h.outside;
  }
  return h;
}

}  // namespace intrain::report
