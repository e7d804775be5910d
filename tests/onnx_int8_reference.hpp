#pragma once
// A plain interpreter of the ONNX operators the int8 exporter writes, following the ONNX
// specification's reference semantics (float requantization, rounding half to even), so
// tests can run an exported program without an ONNX runtime and compare it with the
// executor. For every QLinearConv it also requantizes the same accumulators the executor's
// way (program op i is named "/op<i>/..."), counting the codes where the two differ.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "interop/onnx_proto.hpp"

#include "core/error.hpp"
#include "int8/program.hpp"
#include "int8/requantize.hpp"
#include "interop/onnx_io.hpp"

namespace intrain::testing {

struct OnnxValue {
  Shape shape;
  std::vector<double> v;  // integers exactly; floats as float values
};

struct RequantStats {
  int64_t codes = 0, differing = 0, max_difference = 0;
};

class OnnxInt8Reference {
 public:
  OnnxInt8Reference(const onnx::ModelProto& model, const int8::Program& program) : model_(model), program_(program) {
    for (const auto& init : model.graph().initializer()) values_[init.name()] = from_proto(init);
  }

  OnnxValue run(const Tensor& input) {
    OnnxValue x{input.shape(), {}};
    for (float f : input.contiguous().to_vector<float>()) x.v.push_back(f);
    values_["input"] = x;
    for (const auto& n : model_.graph().node()) values_[n.output(0)] = eval(n);
    return values_.at(model_.graph().output(0).name());
  }
  const RequantStats& stats() const { return stats_; }

 private:
  static OnnxValue from_proto(const onnx::TensorProto& p) {
    OnnxValue out;
    for (int64_t d : p.dims()) out.shape.push_back(d);
    if (p.data_type() == onnx::TensorProto::INT64) {
      for (int64_t x : p.int64_data()) out.v.push_back(static_cast<double>(x));
      return out;
    }
    const Tensor t = interop::tensor_from_onnx(p, p.name());
    switch (t.dtype()) {
      case DType::f32: for (float x : t.to_vector<float>()) out.v.push_back(x); break;
      case DType::i32: for (int32_t x : t.to_vector<int32_t>()) out.v.push_back(x); break;
      case DType::i8: for (int8_t x : t.to_vector<int8_t>()) out.v.push_back(x); break;
      case DType::u8: for (uint8_t x : t.to_vector<uint8_t>()) out.v.push_back(x); break;
    }
    return out;
  }

  const OnnxValue& in(const onnx::NodeProto& n, int i) const { return values_.at(n.input(i)); }
  static int64_t attr(const onnx::NodeProto& n, const std::string& name, int64_t fallback) {
    for (const auto& a : n.attribute())
      if (a.name() == name) return a.type() == onnx::AttributeProto::INTS ? a.ints(0) : a.i();
    return fallback;
  }
  static float quantize(double x, double scale, double zp) {
    return static_cast<float>(std::clamp(static_cast<double>(std::nearbyint(static_cast<float>(x) / static_cast<float>(scale))) + zp, 0.0, 255.0));
  }

  // Numpy broadcasting of b to a's shape (b's dims aligned at the end).
  template <class F>
  static OnnxValue broadcast(const OnnxValue& a, const OnnxValue& b, F f) {
    OnnxValue out{a.shape, std::vector<double>(a.v.size())};
    Shape bs(a.shape.size() - std::min(a.shape.size(), b.shape.size()), 1);
    bs.insert(bs.end(), b.shape.begin(), b.shape.end());
    for (size_t i = 0; i < a.v.size(); ++i) {
      size_t rem = i, bi = 0, stride = 1;
      std::vector<size_t> idx(a.shape.size());
      for (size_t d = a.shape.size(); d-- > 0;) {
        idx[d] = rem % static_cast<size_t>(a.shape[d]);
        rem /= static_cast<size_t>(a.shape[d]);
      }
      for (size_t d = a.shape.size(); d-- > 0;) {
        if (bs[d] != 1) bi += idx[d] * stride;
        stride *= static_cast<size_t>(bs[d]);
      }
      out.v[i] = f(a.v[i], b.v[b.v.size() == 1 ? 0 : bi]);
    }
    return out;
  }

  // Integer convolution: acc[n][o][y][x] = Σ (x − xz)(w − wz) (+ bias); padding adds nothing.
  static OnnxValue conv_acc(const onnx::NodeProto& n, const OnnxValue& x, double xz, const OnnxValue& w, double wz,
                            const OnnxValue* bias) {
    const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], O = w.shape[0], k = w.shape[2];
    const int64_t groups = attr(n, "group", 1), stride = attr(n, "strides", 1), pad = attr(n, "pads", 0);
    const int64_t oh = (H + 2 * pad - k) / stride + 1, ow = (W + 2 * pad - k) / stride + 1, cg = C / groups, og = O / groups;
    OnnxValue out{{N, O, oh, ow}, std::vector<double>(static_cast<size_t>(N * O * oh * ow))};
    for (int64_t b = 0; b < N; ++b)
      for (int64_t o = 0; o < O; ++o)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            double acc = bias ? bias->v[static_cast<size_t>(o)] : 0;
            for (int64_t c = 0; c < cg; ++c)
              for (int64_t ky = 0; ky < k; ++ky)
                for (int64_t kx = 0; kx < k; ++kx) {
                  const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                  if (iy < 0 || ix < 0 || iy >= H || ix >= W) continue;
                  const double xv = x.v[static_cast<size_t>(((b * C + (o / og) * cg + c) * H + iy) * W + ix)] - xz;
                  acc += xv * (w.v[static_cast<size_t>(((o * cg + c) * k + ky) * k + kx)] - wz);
                }
            out.v[static_cast<size_t>(((b * O + o) * oh + oy) * ow + ox)] = acc;
          }
    return out;
  }

  OnnxValue pool(const onnx::NodeProto& n, const OnnxValue& x, bool average) const {
    const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    const int64_t k = attr(n, "kernel_shape", 1), stride = attr(n, "strides", 1), pad = attr(n, "pads", 0);
    const int64_t oh = (H + 2 * pad - k) / stride + 1, ow = (W + 2 * pad - k) / stride + 1;
    OnnxValue out{{N, C, oh, ow}, {}};
    for (int64_t p = 0; p < N * C; ++p)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          float sum = 0, best = 0;
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
              if (iy < 0 || ix < 0 || iy >= H || ix >= W) continue;
              const auto v = static_cast<float>(x.v[static_cast<size_t>((p * H + iy) * W + ix)]);
              sum += v;
              best = std::max(best, v);
            }
          out.v.push_back(average ? sum / static_cast<float>(k * k) : best);
        }
    return out;
  }

  OnnxValue eval(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    if (op == "QuantizeLinear") {
      OnnxValue out = in(n, 0);
      for (double& x : out.v) x = quantize(x, in(n, 1).v[0], in(n, 2).v[0]);
      return out;
    }
    if (op == "DequantizeLinear") {
      OnnxValue out = in(n, 0);
      for (double& x : out.v) x = static_cast<float>(x - in(n, 2).v[0]) * static_cast<float>(in(n, 1).v[0]);
      return out;
    }
    if (op == "QLinearConv") {
      const OnnxValue acc = conv_acc(n, in(n, 0), in(n, 2).v[0], in(n, 3), 0, &in(n, 8));
      const OnnxValue &ws = in(n, 4);
      const double xs = in(n, 1).v[0], ys = in(n, 6).v[0], yz = in(n, 7).v[0];
      const int8::Op& pop = program_.ops.at(static_cast<size_t>(std::stoi(n.name().substr(3))));
      OnnxValue out = acc;
      const int64_t O = acc.shape[1], plane = acc.shape[2] * acc.shape[3];
      for (size_t i = 0; i < out.v.size(); ++i) {
        const auto c = static_cast<int64_t>(i / static_cast<size_t>(plane)) % O;
        const float m = static_cast<float>(xs) * static_cast<float>(ws.v[static_cast<size_t>(c)]) / static_cast<float>(ys);
        out.v[i] = std::clamp(static_cast<double>(std::nearbyint(static_cast<float>(acc.v[i]) * m)) + yz, 0.0, 255.0);
        // The executor's requantization of the same accumulator (before its own clamp, which
        // a Clip node after this one applies in the graph).
        const int8::FixedPointMultiplier fm{pop.multiplier.data<int32_t>()[c], pop.shift.data<int32_t>()[c]};
        const int32_t ours = int8::requantize(static_cast<int32_t>(acc.v[i]), fm, pop.output_zero_point, 0, 255);
        const auto d = static_cast<int64_t>(std::abs(ours - out.v[i]));
        ++stats_.codes;
        stats_.differing += d != 0;
        stats_.max_difference = std::max(stats_.max_difference, d);
      }
      return out;
    }
    if (op == "ConvInteger") return conv_acc(n, in(n, 0), in(n, 2).v[0], in(n, 1), in(n, 3).v[0], nullptr);
    if (op == "MatMulInteger") {
      const OnnxValue &a = in(n, 0), &b = in(n, 1);
      const int64_t M = a.shape[0], K = a.shape[1], Nn = b.shape[1];
      OnnxValue out{{M, Nn}, std::vector<double>(static_cast<size_t>(M * Nn))};
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < Nn; ++j) {
          double acc = 0;
          for (int64_t k = 0; k < K; ++k)
            acc += (a.v[static_cast<size_t>(i * K + k)] - in(n, 2).v[0]) * (b.v[static_cast<size_t>(k * Nn + j)] - in(n, 3).v[0]);
          out.v[static_cast<size_t>(i * Nn + j)] = acc;
        }
      return out;
    }
    if (op == "Clip") {
      OnnxValue out = in(n, 0);
      for (double& x : out.v) x = std::clamp(x, in(n, 1).v[0], in(n, 2).v[0]);
      return out;
    }
    if (op == "MaxPool" || op == "AveragePool") return pool(n, in(n, 0), op == "AveragePool");
    if (op == "Flatten" || op == "Unsqueeze") {
      OnnxValue out = in(n, 0);
      out.shape = op == "Flatten" ? Shape{out.shape[0], static_cast<int64_t>(out.v.size()) / out.shape[0]}
                                  : Shape{out.shape[0], out.shape[1], 1, 1};
      return out;
    }
    if (op == "Add") return broadcast(in(n, 0), in(n, 1), [](double a, double b) { return static_cast<float>(a + b); });
    if (op == "Mul") return broadcast(in(n, 0), in(n, 1), [](double a, double b) { return static_cast<float>(static_cast<float>(a) * static_cast<float>(b)); });
    if (op == "Cast") {
      OnnxValue out = in(n, 0);
      for (double& x : out.v) x = static_cast<float>(x);
      return out;
    }
    throw Error("OnnxInt8Reference: no reference for " + op);
  }

  const onnx::ModelProto& model_;
  const int8::Program& program_;
  std::map<std::string, OnnxValue> values_;
  RequantStats stats_;
};

}  // namespace intrain::testing
