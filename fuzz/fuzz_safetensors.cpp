// libFuzzer target: arbitrary bytes as a safetensors file (checkpoints, and the container of
// int8 programs). Every input must end in a loaded file or an intrain::Error naming it —
// never a crash, a hang or a sanitizer report. Built and run by scripts/fuzz.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "core/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    intrain::parse_safetensors(std::string(reinterpret_cast<const char*>(data), size), "fuzz input");
  } catch (const intrain::Error&) {
  }
  return 0;
}
