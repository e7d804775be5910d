#pragma once
// Small helpers the exporters build ONNX graphs with (nodes, attributes, initializers,
// values with a symbolic batch, an opset-13 model around a graph).
#include <initializer_list>
#include <string>
#include <vector>

#include "interop/onnx_proto.hpp"

#include "interop/onnx_io.hpp"

namespace intrain::interop::graph {

inline onnx::NodeProto* add_node(onnx::GraphProto& g, const std::string& op, std::initializer_list<std::string> inputs,
                                 const std::string& output, const std::string& name) {
  onnx::NodeProto* n = g.add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const std::string& i : inputs) n->add_input(i);
  n->add_output(output);
  return n;
}

inline void set_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

inline void set_float(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

inline void set_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

// A square window: kernel_shape, strides and the four pads.
inline void set_window(onnx::NodeProto* n, int64_t kernel, int64_t stride, int64_t padding) {
  set_ints(n, "kernel_shape", {kernel, kernel});
  set_ints(n, "strides", {stride, stride});
  set_ints(n, "pads", {padding, padding, padding, padding});
}

inline const std::string& add_initializer(onnx::GraphProto& g, const Tensor& t, const std::string& name) {
  *g.add_initializer() = tensor_to_onnx(t, name);
  return name;
}

// Shapes and axes are int64 in ONNX; intrain tensors have no int64 dtype.
inline std::string add_int64_initializer(onnx::GraphProto& g, const std::vector<int64_t>& values, const std::string& name) {
  onnx::TensorProto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) t->add_int64_data(v);
  return name;
}

// A graph value [N, dims...] of `type` with a symbolic batch dimension "N".
inline void add_value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* values, const std::string& name,
                      int32_t type, const Shape& dims) {
  onnx::ValueInfoProto* v = values->Add();
  v->set_name(name);
  auto* tensor = v->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(type);
  auto* shape = tensor->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

// A model of opset 13 (IR version 7) around `g`.
inline onnx::ModelProto make_model(onnx::GraphProto g, const std::string& doc) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.set_producer_name("intrain");
  m.set_producer_version("0.1.0");
  m.set_doc_string(doc);
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  *m.mutable_graph() = std::move(g);
  return m;
}

}  // namespace intrain::interop::graph
