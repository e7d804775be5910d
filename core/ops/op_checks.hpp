#pragma once
// Input checks and chunked kernel calls shared by the op implementations (internal).
#include <functional>

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "core/threads.hpp"

namespace intrain::detail {

inline void check_defined_f32(const Tensor& t, const char* op, const char* name) {
  INTRAIN_CHECK(t.defined(), op, ": ", name, " is undefined");
  INTRAIN_CHECK(t.dtype() == DType::f32, op, ": ", name, " must be f32, got ", dtype_name(t.dtype()),
                " with shape ", shape_str(t.shape()));
}

inline void check_rank(const Tensor& t, int64_t rank, const char* op, const char* name,
                       const char* layout) {
  INTRAIN_CHECK(t.dim() == rank, op, ": ", name, " must be ", rank, "-D ", layout, ", got shape ",
                shape_str(t.shape()));
}

// Runs body(begin, end) over [0, n) in chunks big enough that threading pays off for
// memory-bound elementwise work.
inline void for_chunks(int64_t n, const std::function<void(int64_t, int64_t)>& body) {
  parallel_for(n, int64_t{1} << 16, body);
}

}  // namespace intrain::detail
