#pragma once
// Differentiable operations on f32 tensors. Each checks its inputs (throwing intrain::Error
// that names the op and the shapes), runs a kernel, and records an autograd node when an
// input requires grad. Elementwise binary ops broadcast as NumPy and PyTorch do.
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/generator.hpp"
#include "core/kernels/conv.hpp"
#include "core/tensor.hpp"

namespace intrain {

// ---- elementwise (ops/elementwise.cpp) ------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, float s);
Tensor mul(const Tensor& a, float s);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, float exponent);
Tensor abs(const Tensor& x);  // gradient sign(x), 0 at 0
// The shape a and b broadcast to; `op` names the caller in the error.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Sums `t` down to `shape` (which t's shape broadcasts from): the adjoint of broadcasting.
Tensor sum_to(const Tensor& t, const Shape& shape);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }
inline Tensor operator+(const Tensor& a, float s) { return add(a, s); }
inline Tensor operator+(float s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(const Tensor& a, float s) { return add(a, -s); }
inline Tensor operator-(float s, const Tensor& a) { return add(neg(a), s); }
inline Tensor operator*(const Tensor& a, float s) { return mul(a, s); }
inline Tensor operator*(float s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, float s) { return mul(a, 1.0f / s); }

// ---- reductions (ops/reduce.cpp) ----------------------------------------------------------
Tensor sum(const Tensor& x);  // all elements, 0-d result
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor max(const Tensor& x);  // all elements, 0-d result
struct MaxResult {
  Tensor values;   // differentiable
  Tensor indices;  // i32
};
MaxResult max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // i32
// How many rows of logits [N, C] have their largest value at the i32 label [N].
int64_t count_top1_correct(const Tensor& logits, const Tensor& labels);

// ---- activations (ops/activation.cpp) -----------------------------------------------------
Tensor relu(const Tensor& x);
Tensor relu6(const Tensor& x);
Tensor clamp(const Tensor& x, float lo, float hi);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);

// ---- linear algebra (ops/linalg.cpp) ------------------------------------------------------
// [M,K]·[K,N] → [M,N]; batched [B,M,K]·[B,K,N] or [B,M,K]·[K,N] → [B,M,N]
Tensor matmul(const Tensor& a, const Tensor& b);
// x [..., in] · weightᵀ [out, in] + bias [out] → [..., out]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- convolution and pooling (ops/conv.cpp, ops/pool.cpp) ---------------------------------
struct Conv2dOptions {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
  // relu or relu6 of the output, inside the kernel when no gradient is needed (inference),
  // as separate differentiable ops otherwise.
  kernels::ConvActivation activation = kernels::ConvActivation::none;
  static Conv2dOptions square(int64_t stride, int64_t padding, int64_t dilation = 1, int64_t groups = 1) {
    return {stride, stride, padding, padding, dilation, dilation, groups};
  }
};
// x [N, C_in, H, W], weight [C_out, C_in/groups, KH, KW], bias [C_out] or undefined
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& options = {});

struct Pool2dOptions {
  int64_t kernel_h = 2, kernel_w = 2;
  int64_t stride_h = 0, stride_w = 0;  // 0: equal to the kernel
  int64_t pad_h = 0, pad_w = 0;
  static Pool2dOptions square(int64_t kernel, int64_t stride = 0, int64_t padding = 0) {
    return {kernel, kernel, stride, stride, padding, padding};
  }
};
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options);
// Padding counts toward the divisor (PyTorch's count_include_pad=True).
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options);
Tensor global_avg_pool2d(const Tensor& x);  // [N, C, H, W] → [N, C, 1, 1]

// ---- normalization and regularization (ops/norm.cpp, ops/dropout.cpp) ----------------------
// x [N, C, ...]. Training: normalizes with batch statistics and updates the running
// statistics in place (unbiased variance, running = (1 - momentum)·running + momentum·batch).
// Eval: normalizes with the running statistics. weight/bias may be undefined (no affine).
// `activation` relu or relu6 applies it in the same passes, forward and backward: the values
// and gradients of batch_norm then relu/relu6, without the intermediate tensor.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                  Tensor running_var, bool training, float momentum = 0.1f, float eps = 1e-5f,
                  kernels::ConvActivation activation = kernels::ConvActivation::none);
// Sums `count` doubles over every process in place (`what` names the reduction in errors).
using SumAcrossProcesses = std::function<void(double* values, int64_t count, const char* what)>;
// Training-mode batch norm whose statistics are those of every process's batch together
// (synchronized batch norm, nn/sync_batch_norm.hpp): forward sums [Σx, Σx², count] per
// channel across processes (one-pass variance in double), backward sums [Σg, Σg·x̂] for the
// input gradient; weight and bias gradients stay this process's own.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                  Tensor running_var, float momentum, float eps, const SumAcrossProcesses& sum_across,
                  kernels::ConvActivation activation = kernels::ConvActivation::none);
// Zeroes each element with probability p and scales the rest by 1/(1-p) when training.
Tensor dropout(const Tensor& x, float p, bool training, Generator& gen = default_generator());

// ---- losses (ops/loss.cpp) -----------------------------------------------------------------
Tensor log_softmax(const Tensor& x, int64_t dim = -1);
Tensor softmax(const Tensor& x, int64_t dim = -1);
enum class Reduction { mean, sum, none };
// log_probs [N, C], target i32 [N] with classes in [0, C)
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction = Reduction::mean);
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction = Reduction::mean);

}  // namespace intrain
