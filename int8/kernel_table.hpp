#pragma once
// One table of int8 kernels per instruction set (as XNNPACK's per-datatype configs): the
// executor asks its table for every kernel and tiles its work by the table's numbers, so a
// new ISA is one kernel file and one entry in kernel_tables.cpp (compiled for the baseline
// ISA, so listing the tables runs on any CPU). Tests and benchmarks loop
// over available_kernel_tables(), so every table is checked against the reference wherever
// the CPU can run it.
//
// The fast executor runs NHWC activations through one table; the scalar table is the same
// NHWC structure on plain loops (the reference twin of the others). The NCHW reference
// executor (ExecutorOptions::fast = false) uses no table: it is the definition.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "int8/kernels.hpp"

namespace intrain::int8 {

using GemmFn = void (*)(const uint8_t* x, int64_t rows, int64_t lda, int64_t k_padded, int64_t out,
                        const int8_t* packed, const int32_t* bias, int64_t oc_begin, int64_t oc_end,
                        const GemmOutput& output);
// The GEMM over runs of K (kernels.hpp: GemmSegments), weights in pack_weights' layout.
using SegmentedGemmFn = void (*)(const uint8_t* x, int64_t rows, int64_t lda, const GemmSegments& segments,
                                 int64_t out, const int8_t* packed, const int32_t* bias, int64_t oc_begin,
                                 int64_t oc_end, const GemmOutput& output);
// Packs weights [out][k] for this table's GEMM (its K alignment: PackedWeights::k_padded).
using PackFn = PackedWeights (*)(const int8_t* w, int64_t out, int64_t k, const int32_t* bias, int32_t zp);
// `prepared`: what the table's prepare_depthwise made for this op, or null (the kernel then
// lays out its constants itself, per call).
using DepthwiseFn = void (*)(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                             int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end,
                             int32_t zp, const int32_t* weights, const int32_t* bias, const ChannelRequant& rq,
                             const void* prepared, uint8_t* out);
// A depthwise op's weights, biases and requantization constants in the layout the table's
// kernel wants, made once per op when the executor loads (null: nothing to prepare).
using PrepareDepthwiseFn = std::shared_ptr<const void> (*)(int64_t channels, int64_t kernel, int64_t stride,
                                                           int32_t zp, const int32_t* weights, const int32_t* bias,
                                                           const ChannelRequant& rq);
using MaxPoolFn = void (*)(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                           int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end,
                           uint8_t* out);
using AddFn = void (*)(const uint8_t* a, const uint8_t* b, int64_t n, const AddParams& p, uint8_t* out);
using RequantizeFn = void (*)(const int32_t* acc, int64_t channels, const ChannelRequant& rq, uint8_t* out);
using QuantizeInputFn = void (*)(const float* x, int64_t n, float scale, int32_t zero_point, uint8_t* out);

struct KernelTable {
  const char* id;    // "amx", "vnni", "avx2", "scalar": INTRAIN_INT8_KERNELS and test names
  const char* name;  // for people: "AMX-INT8", "AVX-512 VNNI", ...
  bool (*supported)();  // this CPU and OS can run it (AMX: the kernel granted the tile state)

  // GEMM over packed weights, requantizing in its epilogue when asked for codes.
  GemmFn gemm;
  PackFn pack;
  int64_t gemm_rows;           // rows per task the GEMM likes (a multiple of gemm_row_block)
  int64_t gemm_row_block;      // tasks' row counts are rounded to this (AMX: 16-row tiles)
  int64_t gemm_channel_block;  // output-channel chunks are multiples of this
  // Convolutions over a few input channels read straight from the padded image (weights
  // packed by pack_weights); nullptr: those go through im2col as every other.
  SegmentedGemmFn gemm_segmented;

  // The rest of the network. Vector kernels require vector_requantizable multipliers: the
  // executor falls back to the scalar table's kernel for an op whose multipliers are not.
  DepthwiseFn depthwise;
  PrepareDepthwiseFn prepare_depthwise;  // nullptr where the kernel prepares nothing
  int64_t depthwise_channel_multiple;    // channels % this == 0, else the scalar kernel
  MaxPoolFn max_pool;
  AddFn add;
  RequantizeFn requantize;
  QuantizeInputFn quantize_input;  // the float input to codes (Executor::run)
};

// Every table, fastest first (whether or not this CPU runs it).
const std::vector<const KernelTable*>& kernel_tables();
// The tables this CPU runs, fastest first, capped by INTRAIN_ISA (vector width) and
// INTRAIN_INT8_KERNELS (a table id: that table and the slower ones).
std::vector<const KernelTable*> available_kernel_tables();
// The first of available_kernel_tables(), decided once per process.
const KernelTable& best_kernel_table();
// The plain-loop table (always available): the twin every other table is tested against.
const KernelTable& scalar_kernel_table();
// The table with this id, or an Error naming the ids (and whether this CPU can run it).
const KernelTable& kernel_table(const std::string& id);

}  // namespace intrain::int8
