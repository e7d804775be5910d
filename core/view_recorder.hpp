#pragma once
// How the runtime's views (Tensor::reshape, permute, narrow, clone) become differentiable
// without the runtime knowing autograd. The runtime (tensor, storage, threads, file formats)
// is a library of its own that the int8 executor and data loading link alone; autograd sits
// above it. Only autograd can make a tensor require grad (Tensor::set_requires_grad is
// defined there), and it installs its recorder when it does, so a view of a tensor that
// requires grad always finds one. Internal: autograd.cpp and tensor.cpp include this.
#include <functional>

#include "core/tensor.hpp"

namespace intrain::detail {

// From the gradient of the view to the gradient of the tensor it views.
using ViewBackward = std::function<Tensor(const Tensor& grad_output)>;
using ViewRecorder = Tensor (*)(Tensor view, const char* op, const Tensor& input, ViewBackward backward);

// Installs the autograd layer's recorder (idempotent; thread-safe).
void install_view_recorder(ViewRecorder recorder);

// `view` with a node linking it to `input` when `input` requires grad and a recorder is
// installed; `view` unchanged otherwise (the runtime alone never records).
Tensor record_view(Tensor view, const char* op, const Tensor& input, ViewBackward backward);

}  // namespace intrain::detail
