#include "core/kernels/onednn_context.hpp"

#include "core/threads.hpp"

namespace intrain::kernels {

dnnl::engine& onednn_engine() {
  static dnnl::engine engine = [] {
    num_threads();  // the thread budget is in force before oneDNN starts its threads
    return dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return engine;
}

dnnl::stream& onednn_stream() {
  static dnnl::stream stream(onednn_engine());
  return stream;
}

}  // namespace intrain::kernels
