// libFuzzer target: arbitrary bytes as an image file. Decoding must give an RGB tensor or an
// intrain::Error — never a crash or a sanitizer report. Built and run by scripts/fuzz.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "data/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    if (!intrain::data::looks_like_image(bytes)) return 0;
    const intrain::Tensor rgb = intrain::data::decode_image(bytes, "fuzz input");
    if (rgb.size(0) != 3) __builtin_trap();
  } catch (const intrain::Error&) {
  }
  return 0;
}
