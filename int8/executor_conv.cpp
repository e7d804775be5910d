// The executor's convolutions: the reference (NCHW, one image at a time, the definition) and
// the fast path (NHWC): depthwise kernels over output rows, everything else as GEMMs over
// tiles of output pixels — the activation rows themselves for 1x1 convolutions, rows
// gathered by im2col_nhwc otherwise.
#include <algorithm>
#include <memory>

#include "core/threads.hpp"
#include "int8/executor.hpp"

namespace intrain::int8 {

namespace {

ConvShape conv_shape(const Op& op) {
  return {op.in_shape[0], op.in_shape[1], op.in_shape[2], op.out_shape[0], op.kernel, op.stride, op.padding, op.groups};
}

}  // namespace

void Executor::run_conv_reference(size_t index, const uint8_t* in, int64_t batch, uint8_t* out, float* logits) const {
  const Op& op = program_.ops[index];
  const ConvShape s = conv_shape(op);
  const int64_t in_size = shape_numel(op.in_shape), out_size = shape_numel(op.out_shape);
  const int64_t pixels = s.out_h() * s.out_w();
  parallel_for(batch, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> acc(static_cast<size_t>(out_size));
    for (int64_t n = begin; n < end; ++n) {
      conv2d_acc_reference(s, in + n * in_size, op.input_zero_point, op.weight.data<int8_t>(), op.bias.data<int32_t>(),
                           acc.data());
      for (int64_t i = 0; i < out_size; ++i)
        finish(op, i / pixels, acc[static_cast<size_t>(i)], out + n * out_size + i,
               logits ? logits + n * out_size + i : nullptr);
    }
  });
}

void Executor::run_depthwise_fast(size_t index, const uint8_t* in, int64_t batch, uint8_t* out) const {
  const Op& op = program_.ops[index];
  const FastOp& f = fast_[index];
  const ConvShape s = conv_shape(op);
  const int64_t oh = s.out_h(), ow = s.out_w();
  const DepthwiseFn kernel = f.kernels->depthwise;  // the scalar one where the vector kernels cannot take the op
  const ChannelRequant rq = channel_requant(op);
  // Output rows of every image split over the threads.
  parallel_for(batch * oh, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end;) {
      const int64_t n = row / oh, oy = row % oh, rows = std::min(end - row, oh - oy);
      kernel(in + n * shape_numel(op.in_shape), s.height, s.width, s.channels, s.kernel, s.stride, s.padding, ow, oy,
             oy + rows, op.input_zero_point, f.depthwise_weights.data(), op.bias.data<int32_t>(), rq,
             out + n * shape_numel(op.out_shape));
      row += rows;
    }
  });
}

void Executor::run_conv_fast(size_t index, const uint8_t* in, int64_t batch, uint8_t* out, float* logits) const {
  const FastOp& f = fast_[index];
  if (f.depthwise) return run_depthwise_fast(index, in, batch, out);
  const Op& op = program_.ops[index];
  const ConvShape s = conv_shape(op);
  const int64_t pixels = s.out_h() * s.out_w(), icg = s.channels / s.groups, ocg = s.out_channels / s.groups;
  const int64_t in_size = shape_numel(op.in_shape);
  // Tasks: (image, tile of output pixels, group, chunk of output channels), at least four
  // per thread and a multiple of the thread count where the layer allows it, so that the
  // threads finish together: channel chunks (multiples of the table's channel block) first,
  // for layers with few pixels (batch 1, 14x14), then smaller pixel tiles (down to a quarter
  // of the table's preferred rows), rounded to its row block.
  const KernelTable& kt = *kernels_;
  struct Plan {
    int64_t tiles, tile_rows, chunks, chunk_oc;
  };
  auto plan_for = [&](int64_t images) {
    const int64_t threads = num_threads(), want = 4 * threads;
    const int64_t min_rows = std::max(kt.gemm_row_block, kt.gemm_rows / 4);
    int64_t tiles = (pixels + kt.gemm_rows - 1) / kt.gemm_rows;
    const int64_t cb = kt.gemm_channel_block, blocks = (ocg + cb - 1) / cb;
    const int64_t chunks = std::clamp<int64_t>((want + images * tiles - 1) / (images * tiles), 1, blocks);
    const int64_t chunk_oc = (blocks + chunks - 1) / chunks * cb;
    while (images * tiles * chunks % threads != 0 || images * tiles * chunks < want) {
      if ((pixels + tiles) / (tiles + 1) < min_rows) break;
      ++tiles;
    }
    const int64_t rb = kt.gemm_row_block;
    const int64_t tile_rows = ((pixels + tiles - 1) / tiles + rb - 1) / rb * rb;
    return Plan{(pixels + tile_rows - 1) / tile_rows, tile_rows, chunks, chunk_oc};
  };
  const GemmFn gemm = kt.gemm;
  // One task: output pixels [p0, p0 + count) of image n, group g, channels [oc0, oc1), from
  // GEMM rows x (row stride lda).
  auto gemm_task = [&](int64_t n, int64_t g, int64_t p0, int64_t count, int64_t oc0, int64_t oc1, const uint8_t* x,
                       int64_t lda, std::vector<int32_t>& acc) {
    const PackedWeights& pw = f.packed[static_cast<size_t>(g)];
    GemmOutput to;
    if (f.vector_requant) {  // requantized in the GEMM's epilogue (never for logits)
      to.codes = out + (n * pixels + p0) * s.out_channels + g * ocg;
      to.requant = channel_requant(op, g * ocg);
      to.ld = s.out_channels;
      gemm(x, count, lda, pw.k_padded, ocg, pw.data.data(), pw.bias.data(), oc0, oc1, to);
      return;
    }
    acc.resize(static_cast<size_t>(count * ocg));
    to.acc = acc.data();
    to.ld = ocg;
    gemm(x, count, lda, pw.k_padded, ocg, pw.data.data(), pw.bias.data(), oc0, oc1, to);
    for (int64_t p = 0; p < count; ++p)
      for (int64_t c = oc0; c < oc1; ++c) {
        const int64_t channel = g * ocg + c;
        // Codes stay NHWC; logits come out in the program's (C, H, W) order.
        finish(op, channel, acc[static_cast<size_t>(p * ocg + c)], out + (n * pixels + p0 + p) * s.out_channels + channel,
               logits ? logits + (n * s.out_channels + channel) * pixels + p0 + p : nullptr);
      }
  };

  if (!f.direct && s.groups == 1 && plan_for(1).chunks > 1) {
    // Several channel chunks would each gather the same rows: gather each image's rows once
    // (split over the threads), then run the chunks over them.
    const Plan plan = plan_for(1);
    const PackedWeights& pw = f.packed[0];
    Tensor gathered = Tensor::uninitialized({pixels * pw.k_padded}, DType::u8);
    uint8_t* rows = gathered.data<uint8_t>();
    for (int64_t n = 0; n < batch; ++n) {
      parallel_for(pixels, 16, [&](int64_t p0, int64_t p1) {
        im2col_nhwc(in + n * in_size, s.height, s.width, s.channels, 0, s.channels, s.kernel, s.stride, s.padding,
                    s.out_w(), p0, p1, op.input_zero_point, pw.k_padded, rows + p0 * pw.k_padded);
      });
      parallel_for(plan.tiles * plan.chunks, 1, [&](int64_t begin, int64_t end) {
        std::vector<int32_t> acc;
        for (int64_t t = begin; t < end; ++t) {
          const int64_t chunk = t % plan.chunks, tile = t / plan.chunks;
          const int64_t p0 = tile * plan.tile_rows, count = std::min(pixels, p0 + plan.tile_rows) - p0;
          const int64_t oc0 = chunk * plan.chunk_oc, oc1 = std::min(ocg, oc0 + plan.chunk_oc);
          if (oc0 < oc1 && count > 0) gemm_task(n, 0, p0, count, oc0, oc1, rows + p0 * pw.k_padded, pw.k_padded, acc);
        }
      });
    }
    return;
  }

  const Plan plan = plan_for(batch * s.groups);
  const int64_t tiles = plan.tiles, chunks = plan.chunks;
  parallel_for(batch * tiles * s.groups * chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> rows;
    std::vector<int32_t> acc;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t chunk = t % chunks, g = (t / chunks) % s.groups, tile = (t / chunks / s.groups) % tiles;
      const int64_t n = t / chunks / s.groups / tiles;
      const int64_t p0 = tile * plan.tile_rows, p1 = std::min(pixels, p0 + plan.tile_rows), count = p1 - p0;
      const int64_t oc0 = chunk * plan.chunk_oc, oc1 = std::min(ocg, oc0 + plan.chunk_oc);
      if (oc0 >= oc1 || count <= 0) continue;
      const PackedWeights& pw = f.packed[static_cast<size_t>(g)];
      const uint8_t* x = in + n * in_size + p0 * s.channels;
      int64_t lda = s.channels;
      if (!f.direct) {
        rows.resize(static_cast<size_t>(count * pw.k_padded));
        im2col_nhwc(in + n * in_size, s.height, s.width, s.channels, g * icg, icg, s.kernel, s.stride, s.padding,
                    s.out_w(), p0, p1, op.input_zero_point, pw.k_padded, rows.data());
        x = rows.data();
        lda = pw.k_padded;
      }
      gemm_task(n, g, p0, count, oc0, oc1, x, lda, acc);
    }
  });
}

}  // namespace intrain::int8
