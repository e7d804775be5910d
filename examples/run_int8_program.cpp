// Deploying an int8 program from C++: load it, run a batch, read the logits — three lines,
// linking only the executor (intrain_int8), nothing of training.
//   build/examples/run_int8_program runs/lenet.int8
#include <cstdio>

#include "core/ops.hpp"
#include "int8/executor.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PROGRAM.int8\n", argv[0]);
    return 2;
  }
  try {
    intrain::int8::Executor executor(intrain::int8::load_program(argv[1]));  // 1. load (validated)
    const intrain::Shape in = executor.program().input_shape;
    intrain::Tensor images = intrain::Tensor::zeros({4, in[0], in[1], in[2]});  // your normalized images here
    intrain::Tensor logits = executor.run(images);                              // 2. run a batch
    for (int64_t n = 0; n < logits.size(0); ++n)                                // 3. read the logits
      std::printf("image %lld: class %d\n", static_cast<long long>(n), intrain::argmax(logits, 1).to_vector<int32_t>()[static_cast<size_t>(n)]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
