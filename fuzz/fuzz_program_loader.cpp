// libFuzzer target: arbitrary bytes as an int8 program file. Every input must end in a
// loaded, runnable program or an intrain::Error — never a crash, a hang or a sanitizer
// report. Built and run by scripts/fuzz (clang, -fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "int8/executor.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const intrain::int8::Program program =
        intrain::int8::parse_program(std::string(reinterpret_cast<const char*>(data), size), "fuzz input");
    // Bound the work a fuzzed program may ask for, then run it once on zeros.
    if (intrain::shape_numel(program.input_shape) > (1 << 16)) return 0;
    for (const auto& op : program.ops)
      if (intrain::shape_numel(op.out_shape) > (1 << 18)) return 0;
    const intrain::int8::Executor executor(program, {false});
    const intrain::Shape in = program.input_shape;
    executor.run(intrain::Tensor::zeros({1, in[0], in[1], in[2]}));
  } catch (const intrain::Error&) {
  }
  return 0;
}
