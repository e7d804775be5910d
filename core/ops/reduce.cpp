// sum, mean and max over all elements or along dimensions, forward and backward.
#include <algorithm>
#include <numeric>

#include "core/autograd.hpp"
#include "core/kernels/elementwise.hpp"
#include "core/ops.hpp"
#include "core/ops/op_checks.hpp"

namespace intrain {

namespace {

// Sorted, de-duplicated, normalized reduction dimensions.
std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t rank, const char* op) {
  std::vector<int64_t> out;
  for (int64_t d : dims) out.push_back(normalize_dim(d, rank, op));
  std::sort(out.begin(), out.end());
  INTRAIN_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": a dimension is repeated");
  return out;
}

Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
    bool reduced = std::binary_search(dims.begin(), dims.end(), i);
    if (!reduced) out.push_back(shape[static_cast<size_t>(i)]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

// Sum of x over `dims` (normalized), as a tensor of shape reduced_shape(.., keepdim=true).
Tensor sum_dims_forward(const Tensor& x_in, const std::vector<int64_t>& dims) {
  const Shape keep_shape = reduced_shape(x_in.shape(), dims, true);
  Tensor out = Tensor::zeros(keep_shape);
  float* o = out.data<float>();
  const auto& k = kernels::elementwise();
  const int64_t rank = x_in.dim();
  const bool leading = !dims.empty() && dims.back() == static_cast<int64_t>(dims.size()) - 1;
  const bool trailing = !dims.empty() && dims.front() == rank - static_cast<int64_t>(dims.size());
  if (leading) {
    // Reduce leading dimensions: accumulate whole rows (bias gradients, batch sums).
    Tensor x = x_in.contiguous();
    const int64_t inner = out.numel(), rows = x.numel() / std::max<int64_t>(inner, 1);
    const float* px = x.data<float>();
    parallel_for(inner, 4096, [&](int64_t s, int64_t e) {
      for (int64_t r = 0; r < rows; ++r) k.axpy(1.0f, px + r * inner + s, o + s, e - s);
    });
  } else {
    // Move the reduced dimensions last (a copy unless they already are), then row sums.
    Tensor x = x_in;
    if (!trailing) {
      std::vector<int64_t> order;
      for (int64_t i = 0; i < rank; ++i)
        if (!std::binary_search(dims.begin(), dims.end(), i)) order.push_back(i);
      order.insert(order.end(), dims.begin(), dims.end());
      NoGradGuard no_grad;
      x = x_in.permute(order);
    }
    x = x.contiguous();
    const int64_t rows = out.numel(), inner = x.numel() / std::max<int64_t>(rows, 1);
    const float* px = x.data<float>();
    parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(inner, 1)), [&](int64_t s, int64_t e) {
      for (int64_t r = s; r < e; ++r) o[r] = inner ? k.sum(px + r * inner, inner) : 0.0f;
    });
  }
  return out;
}

// Broadcasts g (shaped like the keepdim reduction) back to `shape`.
Tensor expand_to(const Tensor& g, const Shape& shape) { return add(Tensor::zeros(shape), g); }

}  // namespace

Tensor sum(const Tensor& x) {
  detail::check_defined_f32(x, "sum", "input");
  std::vector<int64_t> all(static_cast<size_t>(x.dim()));
  std::iota(all.begin(), all.end(), 0);
  return sum(x, all, false);
}

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  detail::check_defined_f32(x, "sum", "input");
  std::vector<int64_t> dims = normalize_dims(dims_in, x.dim(), "sum");
  Tensor out;
  if (dims.size() == static_cast<size_t>(x.dim())) {
    Tensor xc = x.contiguous();
    const float* px = xc.data<float>();
    const auto& k = kernels::elementwise();
    const int64_t n = xc.numel();
    const int threads = num_threads();
    std::vector<float> partial(static_cast<size_t>(threads), 0.0f);
    const int64_t chunk = (n + threads - 1) / threads;
    parallel_for(threads, 1, [&](int64_t s, int64_t e) {
      for (int64_t t = s; t < e; ++t) {
        int64_t b = t * chunk, en = std::min(n, b + chunk);
        if (b < en) partial[static_cast<size_t>(t)] = k.sum(px + b, en - b);
      }
    });
    out = Tensor::full(reduced_shape(x.shape(), dims, keepdim), std::accumulate(partial.begin(), partial.end(), 0.0));
  } else {
    out = sum_dims_forward(x, dims).reshape(reduced_shape(x.shape(), dims, keepdim));
  }
  const Shape in_shape = x.shape(), keep_shape = reduced_shape(x.shape(), dims, true);
  return record(out, "sum", {x}, [in_shape, keep_shape](const Tensor& g) {
    return std::vector<Tensor>{expand_to(g.reshape(keep_shape), in_shape)};
  });
}

Tensor mean(const Tensor& x) {
  detail::check_defined_f32(x, "mean", "input");
  INTRAIN_CHECK(x.numel() > 0, "mean: input of shape ", shape_str(x.shape()), " is empty");
  return mul(sum(x), 1.0f / static_cast<float>(x.numel()));
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  detail::check_defined_f32(x, "mean", "input");
  int64_t count = 1;
  for (int64_t d : normalize_dims(dims_in, x.dim(), "mean")) count *= x.size(d);
  INTRAIN_CHECK(count > 0, "mean: reducing over an empty dimension of shape ", shape_str(x.shape()));
  return mul(sum(x, dims_in, keepdim), 1.0f / static_cast<float>(count));
}

Tensor max(const Tensor& x) {
  detail::check_defined_f32(x, "max", "input");
  INTRAIN_CHECK(x.numel() > 0, "max: input of shape ", shape_str(x.shape()), " is empty");
  MaxResult r = max(x.detach().reshape({-1}), 0, false);
  const int64_t index = r.indices.item<int64_t>();
  Tensor out = r.values;
  const Shape in_shape = x.shape();
  return record(out, "max", {x}, [in_shape, index](const Tensor& g) {
    Tensor grad = Tensor::zeros(in_shape);
    grad.data<float>()[index] = g.item<float>();
    return std::vector<Tensor>{grad};
  });
}

MaxResult max(const Tensor& x_in, int64_t dim_in, bool keepdim) {
  detail::check_defined_f32(x_in, "max", "input");
  const int64_t rank = std::max<int64_t>(x_in.dim(), 1);
  const int64_t d = normalize_dim(dim_in, rank, "max");
  Tensor x = x_in.dim() == 0 ? x_in.reshape({1}) : x_in;
  INTRAIN_CHECK(x.size(d) > 0, "max: dimension ", dim_in, " of shape ", shape_str(x.shape()), " is empty");
  // View as [outer, D, inner] and scan D for each (outer, inner) pair.
  Tensor xc = x.contiguous();
  const int64_t size_d = x.size(d);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= x.size(i);
  for (int64_t i = d + 1; i < x.dim(); ++i) inner *= x.size(i);
  const Shape keep_shape = reduced_shape(x.shape(), {d}, true);
  Tensor values = Tensor::empty(keep_shape), indices = Tensor::empty(keep_shape, DType::i32);
  const float* px = xc.data<float>();
  float* pv = values.data<float>();
  int32_t* pi = indices.data<int32_t>();
  parallel_for(outer * inner, 1024, [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; ++r) {
      const int64_t o = r / inner, i = r % inner;
      const float* base = px + o * size_d * inner + i;
      int64_t best = 0;
      for (int64_t j = 1; j < size_d; ++j) {
        const float v = base[j * inner];
        if (v > base[best * inner] || (v != v && base[best * inner] == base[best * inner])) best = j;
      }
      pv[r] = base[best * inner];
      pi[r] = static_cast<int32_t>(best);
    }
  });
  const Shape out_shape = reduced_shape(x.shape(), {d}, keepdim);
  Tensor idx = indices;
  const Shape in_shape = x_in.shape(), x_shape = x.shape();
  Tensor out = record(values.reshape(out_shape).detach(), "max", {x_in},
                      [=](const Tensor& g) {
                        Tensor grad = Tensor::zeros(x_shape);
                        Tensor gc = g.contiguous();
                        const float* pg = gc.data<float>();
                        const int32_t* pidx = idx.data<int32_t>();
                        float* o = grad.data<float>();
                        for (int64_t r = 0; r < outer * inner; ++r)
                          o[(r / inner) * size_d * inner + pidx[r] * inner + r % inner] += pg[r];
                        return std::vector<Tensor>{grad.reshape(in_shape)};
                      });
  return {out, indices.reshape(out_shape)};
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  NoGradGuard no_grad;
  return max(x, dim, keepdim).indices;
}

int64_t count_top1_correct(const Tensor& logits, const Tensor& labels) {
  INTRAIN_CHECK(labels.defined() && labels.dtype() == DType::i32 && labels.dim() == 1 && logits.dim() == 2 &&
                    labels.size(0) == logits.size(0),
                "count_top1_correct: expected logits [N, C] and i32 labels [N], got ", shape_str(logits.shape()), " and ",
                shape_str(labels.shape()));
  const auto predicted = argmax(logits, 1).to_vector<int32_t>();
  const auto truth = labels.to_vector<int32_t>();
  int64_t right = 0;
  for (size_t i = 0; i < predicted.size(); ++i) right += predicted[i] == truth[i];
  return right;
}

}  // namespace intrain
