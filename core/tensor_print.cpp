// Readable printing, in the spirit of PyTorch: nested brackets, aligned columns, and long
// dimensions summarized as "first three, ..., last three".
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <sstream>

#include "core/tensor.hpp"
#include "core/tensor_copy.hpp"

namespace intrain {

namespace {

constexpr int64_t kSummarizeAbove = 1000;  // elements
constexpr int64_t kEdgeItems = 3;

struct Printer {
  const Tensor& t;
  bool summarize;
  bool is_float;
  bool scientific = false;
  size_t width = 1;

  std::string format(double v) const {
    char buf[64];
    if (!is_float) std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    else if (scientific) std::snprintf(buf, sizeof buf, "%.4e", v);
    else std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
  }

  bool shown(int64_t i, int64_t size) const {
    return !summarize || size <= 2 * kEdgeItems || i < kEdgeItems || i >= size - kEdgeItems;
  }

  template <class F>
  void for_each_shown(F&& f, std::vector<int64_t>& index, size_t d) const {
    if (d == index.size()) return f();
    for (int64_t i = 0; i < t.shape()[d]; ++i) {
      if (!shown(i, t.shape()[d])) continue;
      index[d] = i;
      for_each_shown(f, index, d + 1);
    }
  }

  double value(const std::vector<int64_t>& index) const {
    int64_t off = t.offset();
    for (size_t d = 0; d < index.size(); ++d) off += index[d] * t.strides()[d];
    return read_element(t.storage()->data(), t.dtype(), off);
  }

  void measure() {
    std::vector<int64_t> index(t.shape().size());
    double max_abs = 0, min_abs_nonzero = INFINITY;
    for_each_shown([&] {
      double a = std::fabs(value(index));
      if (std::isfinite(a)) {
        max_abs = std::max(max_abs, a);
        if (a > 0) min_abs_nonzero = std::min(min_abs_nonzero, a);
      }
    }, index, 0);
    scientific = is_float && (max_abs >= 1e5 || min_abs_nonzero < 1e-4);
    for_each_shown([&] { width = std::max(width, format(value(index)).size()); }, index, 0);
  }

  void print(std::ostream& out, std::vector<int64_t>& index, size_t d, size_t indent) const {
    if (d == index.size()) {
      std::string s = format(value(index));
      out << std::string(width - s.size(), ' ') << s;
      return;
    }
    out << '[';
    const int64_t n = t.shape()[d];
    bool first = true;
    for (int64_t i = 0; i < n; ++i) {
      if (!shown(i, n)) {
        if (i == kEdgeItems) {
          out << (d + 1 == index.size() ? ", ..." : ",\n" + std::string(indent + 1, ' ') + "...");
        }
        continue;
      }
      if (!first) {
        if (d + 1 == index.size()) out << ", ";
        else out << ',' << std::string(index.size() - d - 1, '\n') << std::string(indent + 1, ' ');
      }
      first = false;
      index[d] = i;
      print(out, index, d + 1, indent + 1);
    }
    out << ']';
  }
};

}  // namespace

std::string Tensor::to_string() const {
  if (!defined()) return "tensor(undefined)";
  std::ostringstream out;
  Printer printer{*this, numel() > kSummarizeAbove, dtype() == DType::f32};
  printer.measure();
  std::vector<int64_t> index(shape().size());
  out << "tensor(";
  printer.print(out, index, 0, 7);
  out << ", shape=" << shape_str(shape()) << ", dtype=" << dtype_name(dtype());
  if (requires_grad()) out << ", requires_grad";
  out << ')';
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const Tensor& t) { return out << t.to_string(); }

}  // namespace intrain
