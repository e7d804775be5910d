#pragma once
// Tensor: an n-dimensional view (shape, strides, offset, dtype) onto shared, aligned
// storage, plus the autograd links (requires_grad, grad, grad_fn).
//
// A Tensor is a cheap handle: copies share the same tensor. Views (reshape of a contiguous
// tensor, flatten, permute, transpose, narrow) share storage with their base; contiguous()
// and clone() copy. Differentiable operations live in core/ops.hpp.
//
// Tensor belongs to core's runtime library, which knows no autograd: set_requires_grad and
// backward are defined by autograd (core/autograd.cpp), and the views record their nodes
// through the recorder autograd installs (core/view_recorder.hpp). A program linking the
// runtime alone (the int8 executor, intrain-infer) has no tensor that requires grad.
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/generator.hpp"
#include "core/storage.hpp"

namespace intrain {

using Shape = std::vector<int64_t>;
struct Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;  // undefined: holds nothing
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories -------------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::f32);  // zero-filled
  // Contents undefined: for op outputs whose kernel writes every element (saves a memory
  // pass: zeroing was 7% of MobileNet inference).
  static Tensor uninitialized(const Shape& shape, DType dtype = DType::f32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32);
  static Tensor ones(const Shape& shape, DType dtype = DType::f32);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32);
  static Tensor scalar(float value) { return full({}, value); }
  static Tensor arange(double end) { return arange(0, end, 1); }
  static Tensor arange(double start, double end, double step = 1, DType dtype = DType::f32);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  // Integer tensors: T is int32_t, int8_t or uint8_t.
  template <class T> static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  // Uniform in [low, high) and normal(mean, std), drawn from `gen` in row-major order.
  static Tensor rand(const Shape& shape, Generator& gen = default_generator(), float low = 0,
                     float high = 1);
  static Tensor randn(const Shape& shape, Generator& gen = default_generator(), float mean = 0,
                      float std = 1);

  // ---- metadata --------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  int64_t offset() const;  // in elements, into storage
  DType dtype() const;
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const;

  // ---- element access ---------------------------------------------------------------
  // Pointer to the first element; the tensor must hold T (checked). Strides still apply.
  template <class T> T* data();
  template <class T> const T* data() const;
  // The single value of a one-element tensor, converted to T.
  template <class T = float> T item() const;
  // One element by index (strides applied), converted to double.
  double at(std::initializer_list<int64_t> index) const;
  // All elements in row-major order.
  template <class T> std::vector<T> to_vector() const;

  // ---- views and copies (differentiable where they carry f32) ------------------------
  Tensor reshape(Shape shape) const;  // one dimension may be -1
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor unsqueeze(int64_t d) const;
  Tensor squeeze(int64_t d) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor narrow(int64_t d, int64_t start, int64_t length) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;  // value conversion (float to int truncates toward zero)

  // ---- autograd (set_requires_grad and backward need core's autograd library) ---------
  bool requires_grad() const;
  Tensor& set_requires_grad(bool value = true);  // only on leaves
  Tensor grad() const;                           // undefined until a backward reaches it
  void zero_grad();                              // drops the accumulated gradient
  const std::shared_ptr<Node>& grad_fn() const;
  bool is_leaf() const { return !grad_fn(); }
  // Back-propagates from this tensor. Without `grad` the tensor must hold one element and
  // the seed is 1. Gradients accumulate into the .grad of every leaf that requires grad.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;  // same storage, cut from the graph

  // ---- printing ----------------------------------------------------------------------
  std::string to_string() const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  const TensorImpl& checked() const;
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;
  Tensor grad;
};

std::ostream& operator<<(std::ostream& out, const Tensor& t);

// Row-major (contiguous) strides for a shape, and the element count of a shape.
Shape contiguous_strides(const Shape& shape);
int64_t shape_numel(const Shape& shape);
// Normalizes a possibly negative dimension index against `rank`; `op` names the caller.
int64_t normalize_dim(int64_t d, int64_t rank, const char* op);

template <class T>
T* Tensor::data() {
  const TensorImpl& t = checked();
  INTRAIN_CHECK(t.dtype == dtype_of<T>::value, "Tensor::data: tensor holds ", dtype_name(t.dtype),
                ", accessed as ", dtype_name(dtype_of<T>::value));
  return reinterpret_cast<T*>(t.storage->data()) + t.offset;
}

template <class T>
const T* Tensor::data() const {
  return const_cast<Tensor*>(this)->data<T>();
}

}  // namespace intrain
