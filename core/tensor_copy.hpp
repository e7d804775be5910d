#pragma once
// Dtype-generic element copies behind Tensor's views, conversions and factories.
// Internal to core: no autograd here.
#include <cstddef>
#include <cstdint>

#include "core/tensor.hpp"

namespace intrain {

// Reads one element at `offset` (in elements) of a buffer holding `dtype`.
double read_element(const std::byte* base, DType dtype, int64_t offset);
// Sets every element of a contiguous tensor to `value` (converted to its dtype).
void fill_contiguous(Tensor& t, double value);
// Copies `src` into `dst` element by element; same shape and dtype, any strides.
void copy_into(const Tensor& dst, const Tensor& src);
// Converts contiguous `src` into contiguous `dst` of another dtype; float to integer
// rounds toward zero and saturates at the integer type's range (NaN becomes 0).
void convert_contiguous(const Tensor& src, Tensor& dst);

}  // namespace intrain
