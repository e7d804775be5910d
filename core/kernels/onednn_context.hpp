#pragma once
// The process-wide oneDNN CPU engine and stream every oneDNN-backed kernel runs on.
#include <oneapi/dnnl/dnnl.hpp>

namespace intrain::kernels {

dnnl::engine& onednn_engine();
dnnl::stream& onednn_stream();

}  // namespace intrain::kernels
