#include "core/tensor_copy.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace intrain {

namespace {

template <class T>
T saturate_cast(double v) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else {
    if (std::isnan(v)) return 0;
    double lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
    return static_cast<T>(std::clamp(std::trunc(v), lo, hi));
  }
}

template <class F>
auto visit_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::i8: return f(int8_t{});
    case DType::u8: return f(uint8_t{});
    case DType::i32: return f(int32_t{});
  }
  throw Error("unknown dtype");
}

// Calls f(dst_offset, src_offset, inner_count, dst_inner_stride, src_inner_stride) once per
// row of the innermost dimension, walking both tensors' strides in row-major order.
template <class F>
void for_each_row(const Shape& shape, const Shape& dst_strides, const Shape& src_strides,
                  int64_t dst_offset, int64_t src_offset, F&& f) {
  if (shape_numel(shape) == 0) return;
  const size_t rank = shape.size();
  if (rank == 0) {
    f(dst_offset, src_offset, 1, 1, 1);
    return;
  }
  std::vector<int64_t> index(rank, 0);
  const int64_t inner = shape[rank - 1];
  while (true) {
    f(dst_offset, src_offset, inner, dst_strides[rank - 1], src_strides[rank - 1]);
    size_t d = rank - 1;
    while (d-- > 0) {
      ++index[d];
      dst_offset += dst_strides[d];
      src_offset += src_strides[d];
      if (index[d] < shape[d]) break;
      dst_offset -= dst_strides[d] * shape[d];
      src_offset -= src_strides[d] * shape[d];
      index[d] = 0;
    }
    if (d == static_cast<size_t>(-1)) return;
  }
}

}  // namespace

double read_element(const std::byte* base, DType dtype, int64_t offset) {
  return visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    return static_cast<double>(reinterpret_cast<const T*>(base)[offset]);
  });
}

void fill_contiguous(Tensor& t, double value) {
  visit_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    std::fill_n(t.data<T>(), t.numel(), saturate_cast<T>(value));
    return 0;
  });
}

void copy_into(const Tensor& dst, const Tensor& src) {
  INTRAIN_CHECK(dst.shape() == src.shape(), "copy: destination shape ", shape_str(dst.shape()),
                " differs from source shape ", shape_str(src.shape()));
  INTRAIN_CHECK(dst.dtype() == src.dtype(), "copy: destination holds ", dtype_name(dst.dtype()),
                ", source holds ", dtype_name(src.dtype()));
  visit_dtype(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* d = reinterpret_cast<T*>(dst.storage()->data());
    const T* s = reinterpret_cast<const T*>(src.storage()->data());
    for_each_row(src.shape(), dst.strides(), src.strides(), dst.offset(), src.offset(),
                 [&](int64_t doff, int64_t soff, int64_t n, int64_t dstride, int64_t sstride) {
                   if (dstride == 1 && sstride == 1) {
                     std::memmove(d + doff, s + soff, static_cast<size_t>(n) * sizeof(T));
                   } else {
                     for (int64_t i = 0; i < n; ++i) d[doff + i * dstride] = s[soff + i * sstride];
                   }
                 });
    return 0;
  });
}

void convert_contiguous(const Tensor& src, Tensor& dst) {
  visit_dtype(src.dtype(), [&](auto src_tag) {
    using S = decltype(src_tag);
    const S* s = src.data<S>();
    return visit_dtype(dst.dtype(), [&](auto dst_tag) {
      using D = decltype(dst_tag);
      D* d = dst.data<D>();
      for (int64_t i = 0, i_end = src.numel(); i < i_end; ++i) d[i] = saturate_cast<D>(static_cast<double>(s[i]));
      return 0;
    });
  });
}

}  // namespace intrain
