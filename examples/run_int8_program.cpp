// Deploying an int8 program from C++: load it, run a batch, read the logits — three lines,
// linking only the executor (intrain_int8, on core's runtime library), nothing of training:
// no autograd, no ops, no OpenBLAS or oneDNN.
//   build/examples/run_int8_program runs/lenet.int8
#include <algorithm>
#include <cstdio>
#include <vector>

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
    const std::vector<float> values = logits.to_vector<float>();                // 3. read the logits
    const auto classes = static_cast<size_t>(logits.size(1));
    for (size_t n = 0; n < values.size() / classes; ++n) {
      const auto row = values.begin() + static_cast<std::ptrdiff_t>(n * classes);
      std::printf("image %zu: class %td\n", n, std::max_element(row, row + static_cast<std::ptrdiff_t>(classes)) - row);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
