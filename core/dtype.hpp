#pragma once
// Element types a Tensor can hold.
#include <cstddef>
#include <cstdint>
#include <string>

namespace intrain {

enum class DType : uint8_t { f32, i8, u8, i32 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::i32: return 4;
    case DType::i8: return 1;
    case DType::u8: return 1;
  }
  return 0;
}

const char* dtype_name(DType t);

// Maps a C++ element type to its DType, so typed accessors can check what they read.
template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<int8_t> { static constexpr DType value = DType::i8; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };

}  // namespace intrain
