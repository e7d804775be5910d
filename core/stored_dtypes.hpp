#pragma once
// Element types as files store them (safetensors tags: F32, F16, BF16, F64, I64, ...) and
// how each becomes one of ours: half and double precision widen or narrow to f32, int64 to
// int32 when every value fits (PyTorch keeps batch norm's num_batches_tracked as int64).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dtype.hpp"

namespace intrain {

struct StoredDType {
  const char* tag;      // the safetensors name
  size_t bytes;         // per stored element
  DType target;         // what it becomes in memory
  bool exact;           // the conversion loses nothing (F32, I32, I8, U8, F16, BF16)
};

// Null when the tag is unknown.
const StoredDType* find_stored_dtype(const std::string& tag);
// The tags, comma-separated, for error messages.
std::string stored_dtype_tags();

// Converts `count` little-endian elements from `in` into `out` (of type.target). Throws an
// Error naming `what` when a value does not fit (an int64 beyond int32's range).
void decode_stored(const StoredDType& type, const uint8_t* in, size_t count, void* out, const std::string& what);

// IEEE 754 half and bfloat16 to float, every value exactly (subnormals, infinities, NaNs).
float half_to_float(uint16_t h);
float bfloat16_to_float(uint16_t b);

}  // namespace intrain
