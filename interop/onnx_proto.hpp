#pragma once
// ONNX's generated protobuf classes. Debian's libonnx is built with ONNX_ML=1 in namespace
// onnx (its CMake config asks consumers for both definitions); a program that includes the
// installed intrain headers without them gets the same, instead of onnx_pb.h looking for
// the non-ML onnx/onnx.pb.h that the package does not ship.
#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#ifndef ONNX_NAMESPACE
#define ONNX_NAMESPACE onnx
#endif
#include <onnx/onnx_pb.h>
