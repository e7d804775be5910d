#include "core/tensor.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/tensor_copy.hpp"
#include "core/view_recorder.hpp"

namespace intrain {

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t running = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = running;
    running *= shape[i];
  }
  return strides;
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape)
    if (__builtin_mul_overflow(n, s, &n) || s < 0)
      throw Error("shape " + shape_str(shape) + (s < 0 ? " has a negative dimension" : " has more than 2^63 elements"));
  return n;
}

int64_t normalize_dim(int64_t d, int64_t rank, const char* op) {
  int64_t r = d < 0 ? d + rank : d;
  INTRAIN_CHECK(r >= 0 && r < std::max<int64_t>(rank, 1) && (rank > 0 || r == 0), op,
                ": dimension ", d, " is out of range for a tensor of rank ", rank);
  return r;
}

namespace {

std::shared_ptr<TensorImpl> make_impl(const Shape& shape, DType dtype, bool zero_fill = true) {
  for (int64_t s : shape)
    INTRAIN_CHECK(s >= 0, "Tensor: negative size in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), zero_fill);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return impl;
}

// A tensor sharing `base`'s storage with new geometry; no autograd link.
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

template <class T>
Tensor from_values(const std::vector<T>& values, const Shape& shape) {
  INTRAIN_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "Tensor::from_vector: ",
                values.size(), " values do not fill shape ", shape_str(shape), " (",
                shape_numel(shape), " elements)");
  Tensor t(make_impl(shape, dtype_of<T>::value));
  if (!values.empty()) std::memcpy(t.data<T>(), values.data(), values.size() * sizeof(T));
  return t;
}

}  // namespace

// ---- factories -------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype) { return Tensor(make_impl(shape, dtype)); }
Tensor Tensor::uninitialized(const Shape& shape, DType dtype) { return Tensor(make_impl(shape, dtype, false)); }
Tensor Tensor::zeros(const Shape& shape, DType dtype) { return empty(shape, dtype); }
Tensor Tensor::ones(const Shape& shape, DType dtype) { return full(shape, 1, dtype); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  fill_contiguous(t, value);
  return t;
}

Tensor Tensor::arange(double start, double end, double step, DType dtype) {
  INTRAIN_CHECK(step != 0, "arange: step must be non-zero");
  INTRAIN_CHECK(std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
                "arange: bounds and step must be finite");
  auto n = static_cast<int64_t>(std::max(0.0, std::ceil((end - start) / step)));
  std::vector<float> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(i)] = static_cast<float>(start + i * step);
  Tensor t = from_vector(values, {n});
  return dtype == DType::f32 ? t : t.to(dtype);
}

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& s) { return from_values(v, s); }
template <class T>
Tensor Tensor::from_vector(const std::vector<T>& v, const Shape& s) { return from_values(v, s); }
template Tensor Tensor::from_vector(const std::vector<int32_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<int8_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<uint8_t>&, const Shape&);

Tensor Tensor::rand(const Shape& shape, Generator& gen, float low, float high) {
  Tensor t = empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0, i_end = t.numel(); i < i_end; ++i) p[i] = low + (high - low) * gen.uniform();
  return t;
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, float mean, float std) {
  Tensor t = empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0, i_end = t.numel(); i < i_end; ++i) p[i] = mean + std * gen.normal();
  return t;
}

// ---- metadata --------------------------------------------------------------------------

const TensorImpl& Tensor::checked() const {
  INTRAIN_CHECK(impl_ != nullptr, "Tensor: use of an undefined tensor");
  return *impl_;
}

const Shape& Tensor::shape() const { return checked().shape; }
const Shape& Tensor::strides() const { return checked().strides; }
int64_t Tensor::size(int64_t d) const { return shape()[normalize_dim(d, dim(), "Tensor::size")]; }
int64_t Tensor::numel() const { return shape_numel(shape()); }
int64_t Tensor::offset() const { return checked().offset; }
DType Tensor::dtype() const { return checked().dtype; }
const std::shared_ptr<Storage>& Tensor::storage() const { return checked().storage; }

bool Tensor::is_contiguous() const {
  const TensorImpl& t = checked();
  int64_t expected = 1;
  for (size_t i = t.shape.size(); i-- > 0;) {
    if (t.shape[i] == 1) continue;
    if (t.strides[i] != expected) return false;
    expected *= t.shape[i];
  }
  return true;
}

// ---- element access --------------------------------------------------------------------

double Tensor::at(std::initializer_list<int64_t> index) const {
  const TensorImpl& t = checked();
  INTRAIN_CHECK(static_cast<int64_t>(index.size()) == dim(), "Tensor::at: ", index.size(),
                " indices for a tensor of rank ", dim());
  int64_t offset = t.offset;
  size_t d = 0;
  for (int64_t i : index) {
    INTRAIN_CHECK(i >= 0 && i < t.shape[d], "Tensor::at: index ", i, " out of range for dimension ",
                  d, " of size ", t.shape[d]);
    offset += i * t.strides[d++];
  }
  return read_element(t.storage->data(), t.dtype, offset);
}

template <class T>
T Tensor::item() const {
  INTRAIN_CHECK(numel() == 1, "Tensor::item: tensor of shape ", shape_str(shape()),
                " has ", numel(), " elements, expected 1");
  const TensorImpl& t = checked();
  return static_cast<T>(read_element(t.storage->data(), t.dtype, t.offset));
}
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template int32_t Tensor::item<int32_t>() const;
template int64_t Tensor::item<int64_t>() const;

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = (dtype() == dtype_of<T>::value ? *this : to(dtype_of<T>::value)).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int8_t> Tensor::to_vector<int8_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

// ---- views -----------------------------------------------------------------------------

Tensor Tensor::reshape(Shape new_shape) const {
  int64_t inferred = -1, known = 1;
  for (size_t i = 0; i < new_shape.size(); ++i) {
    if (new_shape[i] == -1) {
      INTRAIN_CHECK(inferred < 0, "reshape: more than one -1 in ", shape_str(new_shape));
      inferred = static_cast<int64_t>(i);
    } else {
      INTRAIN_CHECK(new_shape[i] >= 0, "reshape: negative size in ", shape_str(new_shape));
      known *= new_shape[i];
    }
  }
  if (inferred >= 0) {
    INTRAIN_CHECK(known != 0 && numel() % known == 0, "reshape: cannot infer -1 in ",
                  shape_str(new_shape), " for ", numel(), " elements of shape ", shape_str(shape()));
    new_shape[static_cast<size_t>(inferred)] = numel() / known;
  }
  INTRAIN_CHECK(shape_numel(new_shape) == numel(), "reshape: shape ", shape_str(shape()), " (",
                numel(), " elements) cannot become ", shape_str(new_shape));
  Tensor base = contiguous();
  Tensor out = make_view(base, new_shape, contiguous_strides(new_shape), base.offset());
  Shape old_shape = shape();
  return detail::record_view(out, "reshape", base, [old_shape](const Tensor& g) { return g.reshape(old_shape); });
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  int64_t s = normalize_dim(start_dim, dim(), "flatten");
  int64_t e = normalize_dim(end_dim, dim(), "flatten");
  INTRAIN_CHECK(s <= e, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim);
  Shape out;
  for (int64_t i = 0; i < s; ++i) out.push_back(size(i));
  int64_t merged = 1;
  for (int64_t i = s; i <= e; ++i) merged *= size(i);
  out.push_back(merged);
  for (int64_t i = e + 1; i < dim(); ++i) out.push_back(size(i));
  return reshape(out);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  int64_t at = normalize_dim(d, dim() + 1, "unsqueeze");
  Shape out = shape();
  out.insert(out.begin() + at, 1);
  return reshape(out);
}

Tensor Tensor::squeeze(int64_t d) const {
  int64_t at = normalize_dim(d, dim(), "squeeze");
  INTRAIN_CHECK(size(at) == 1, "squeeze: dimension ", d, " has size ", size(at), ", expected 1");
  Shape out = shape();
  out.erase(out.begin() + at);
  return reshape(out);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  INTRAIN_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute: ", dims.size(),
                " dimensions given for a tensor of rank ", dim());
  Shape shape_out(dims.size()), strides_out(dims.size());
  std::vector<int64_t> inverse(dims.size(), -1);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = normalize_dim(dims[i], dim(), "permute");
    INTRAIN_CHECK(inverse[static_cast<size_t>(d)] < 0, "permute: dimension ", d, " repeated");
    inverse[static_cast<size_t>(d)] = static_cast<int64_t>(i);
    shape_out[i] = shape()[static_cast<size_t>(d)];
    strides_out[i] = strides()[static_cast<size_t>(d)];
  }
  Tensor out = make_view(*this, shape_out, strides_out, offset());
  return detail::record_view(out, "permute", *this, [inverse](const Tensor& g) { return g.permute(inverse); });
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  std::vector<int64_t> dims(static_cast<size_t>(dim()));
  for (int64_t i = 0; i < dim(); ++i) dims[static_cast<size_t>(i)] = i;
  std::swap(dims[static_cast<size_t>(normalize_dim(d0, dim(), "transpose"))],
            dims[static_cast<size_t>(normalize_dim(d1, dim(), "transpose"))]);
  return permute(dims);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  int64_t at = normalize_dim(d, dim(), "narrow");
  INTRAIN_CHECK(start >= 0 && length >= 0 && start + length <= size(at), "narrow: range [", start,
                ", ", start + length, ") is out of bounds for dimension ", d, " of size ", size(at));
  Shape shape_out = shape();
  shape_out[static_cast<size_t>(at)] = length;
  Tensor out = make_view(*this, shape_out, strides(), offset() + start * strides()[static_cast<size_t>(at)]);
  Shape full_shape = shape();
  return detail::record_view(out, "narrow", *this, [=](const Tensor& g) {
    Tensor full = Tensor::zeros(full_shape);
    copy_into(full.narrow(at, start, length), g);
    return full;
  });
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype());
  copy_into(out, *this);
  return detail::record_view(out, "clone", *this, [](const Tensor& g) { return g; });
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor src = contiguous();
  Tensor out = empty(shape(), target);
  convert_contiguous(src, out);
  return out;
}

// ---- autograd links ------------------------------------------------------------------

namespace {
std::atomic<detail::ViewRecorder> g_view_recorder{nullptr};
}  // namespace

void detail::install_view_recorder(ViewRecorder recorder) {
  g_view_recorder.store(recorder, std::memory_order_release);
}

Tensor detail::record_view(Tensor view, const char* op, const Tensor& input, ViewBackward backward) {
  if (!input.requires_grad()) return view;
  ViewRecorder recorder = g_view_recorder.load(std::memory_order_acquire);
  // Unreachable through the API: only autograd sets requires_grad, and it installs first.
  INTRAIN_CHECK(recorder != nullptr, op, ": the tensor requires grad but autograd is not linked");
  return recorder(std::move(view), op, input, std::move(backward));
}

bool Tensor::requires_grad() const { return checked().requires_grad; }

// set_requires_grad and backward are autograd's (core/autograd.cpp).

Tensor Tensor::grad() const { return checked().grad; }
void Tensor::zero_grad() { checked(); impl_->grad = Tensor(); }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked().grad_fn; }

Tensor Tensor::detach() const {
  return make_view(*this, shape(), strides(), offset());
}

}  // namespace intrain
