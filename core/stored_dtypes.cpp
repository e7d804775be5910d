#include "core/stored_dtypes.hpp"

#include <bit>
#include <cstring>
#include <limits>

#include "core/error.hpp"

namespace intrain {

namespace {

constexpr StoredDType kStored[] = {
    {"F32", 4, DType::f32, true}, {"I32", 4, DType::i32, true}, {"I8", 1, DType::i8, true},
    {"U8", 1, DType::u8, true},   {"F16", 2, DType::f32, true}, {"BF16", 2, DType::f32, true},
    {"F64", 8, DType::f32, false}, {"I64", 8, DType::i32, false},
};

template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // little-endian hosts only (x86-64), as the format is
  return v;
}

}  // namespace

const StoredDType* find_stored_dtype(const std::string& tag) {
  for (const StoredDType& t : kStored)
    if (tag == t.tag) return &t;
  return nullptr;
}

std::string stored_dtype_tags() {
  std::string out;
  for (const StoredDType& t : kStored) out += (out.empty() ? "" : ", ") + std::string(t.tag);
  return out;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // infinity or NaN (payload kept)
  } else if (exponent != 0) {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // ±0
  } else {
    // Subnormal: normalize; the value is mantissa · 2^-24.
    int shift = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shift;
    }
    bits = sign | (static_cast<uint32_t>(127 - 15 + 1 - shift) << 23) | ((mantissa & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

float bfloat16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

void decode_stored(const StoredDType& type, const uint8_t* in, size_t count, void* out, const std::string& what) {
  const std::string tag = type.tag;
  if (type.exact && (tag == "F32" || tag == "I32" || tag == "I8" || tag == "U8")) {
    std::memcpy(out, in, count * type.bytes);
    return;
  }
  auto* f = static_cast<float*>(out);
  if (tag == "F16") {
    for (size_t k = 0; k < count; ++k) f[k] = half_to_float(load<uint16_t>(in + 2 * k));
  } else if (tag == "BF16") {
    for (size_t k = 0; k < count; ++k) f[k] = bfloat16_to_float(load<uint16_t>(in + 2 * k));
  } else if (tag == "F64") {
    for (size_t k = 0; k < count; ++k) f[k] = static_cast<float>(load<double>(in + 8 * k));
  } else {  // I64
    auto* i = static_cast<int32_t*>(out);
    for (size_t k = 0; k < count; ++k) {
      const int64_t v = load<int64_t>(in + 8 * k);
      INTRAIN_CHECK(v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(), what,
                    ": int64 element ", k, " = ", v, " does not fit the int32 it is read into");
      i[k] = static_cast<int32_t>(v);
    }
  }
}

}  // namespace intrain
