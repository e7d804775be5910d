// The executor's convolutions: the reference (NCHW, one image at a time, the definition) and
// the fast path (NHWC): depthwise kernels over output rows, everything else as GEMMs over
// tiles of output pixels — the activation rows themselves for 1x1 convolutions, rows
// gathered by im2col_nhwc otherwise.
#include <algorithm>
#include <cstring>
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
             f.depthwise_prepared.get(), out + n * shape_numel(op.out_shape));
      row += rows;
    }
  });
}

// Each image padded once with its zero point (plus slack for the last run's over-read:
// its bytes past the window meet zero weights), then each output row is one GEMM whose rows
// are output pixels stride·channels bytes apart and whose K runs are the window's kernel rows,
// one padded image row apart.
void Executor::run_conv_segmented(size_t index, const uint8_t* in, int64_t batch, uint8_t* out) const {
  const Op& op = program_.ops[index];
  const FastOp& f = fast_[index];
  const ConvShape s = conv_shape(op);
  const int64_t c = s.channels, padded_w = s.width + 2 * s.padding, padded_h = s.height + 2 * s.padding;
  const int64_t row_bytes = padded_w * c, image_bytes = padded_h * row_bytes + f.segment_bytes;
  const int64_t in_size = shape_numel(op.in_shape);
  const auto zp = static_cast<uint8_t>(op.input_zero_point);
  Tensor padded = Tensor::uninitialized({batch * image_bytes}, DType::u8);
  uint8_t* p = padded.data<uint8_t>();
  parallel_for(batch * padded_h, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n = t / padded_h, y = t % padded_h, iy = y - s.padding;
      uint8_t* dst = p + n * image_bytes + y * row_bytes;
      if (iy < 0 || iy >= s.height) {
        std::memset(dst, zp, static_cast<size_t>(row_bytes));
      } else {
        std::memset(dst, zp, static_cast<size_t>(s.padding * c));
        std::memcpy(dst + s.padding * c, in + n * in_size + iy * s.width * c, static_cast<size_t>(s.width * c));
        std::memset(dst + (s.padding + s.width) * c, zp, static_cast<size_t>(s.padding * c));
      }
      if (y == padded_h - 1) std::memset(dst + row_bytes, zp, static_cast<size_t>(f.segment_bytes));
    }
  });
  const int64_t oh = s.out_h(), ow = s.out_w(), oc = s.out_channels;
  const PackedWeights& pw = f.packed[0];
  const GemmSegments segments{s.kernel, f.segment_bytes, row_bytes};
  GemmOutput to;
  to.requant = channel_requant(op);
  to.ld = oc;
  to.small_sums = pw.small_sums;
  parallel_for(batch * oh, 1, [&](int64_t begin, int64_t end) {
    GemmOutput rows = to;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n = t / oh, oy = t % oh;
      rows.codes = out + (n * oh + oy) * ow * oc;
      kernels_->gemm_segmented(p + n * image_bytes + oy * s.stride * row_bytes, ow, s.stride * c, segments, oc,
                               pw.data.data(), pw.bias.data(), 0, oc, rows);
    }
  });
}

void Executor::run_conv_fast(size_t index, const uint8_t* in, int64_t batch, uint8_t* out, float* logits) const {
  const FastOp& f = fast_[index];
  if (f.depthwise) return run_depthwise_fast(index, in, batch, out);
  if (f.segmented) return run_conv_segmented(index, in, batch, out);
  const Op& op = program_.ops[index];
  const ConvShape s = conv_shape(op);
  const int64_t pixels = s.out_h() * s.out_w(), icg = s.channels / s.groups, ocg = s.out_channels / s.groups;
  const int64_t in_size = shape_numel(op.in_shape);
  const KernelTable& kt = *kernels_;
  // Without groups and float outputs, the output pixels of every image in the slice are
  // one matrix of batch·pixels rows (NHWC rows of consecutive images are consecutive): one
  // GEMM, so the weights are read once per slice, not once per image (ResNet's 7x7 layers:
  // 49 rows an image against 2.4 MB of weights). Else one matrix per image and group.
  const bool merged = s.groups == 1 && !logits;
  const int64_t images = merged ? 1 : batch * s.groups, rows = merged ? batch * pixels : pixels;

  // Tasks: (matrix, tile of rows, chunk of output channels), at least four per thread and a
  // multiple of the thread count where the layer allows it, so that the threads finish
  // together: channel chunks (multiples of the table's channel block) first, for layers with
  // few rows (batch 1, 14x14), then smaller row tiles (down to a quarter of the table's
  // preferred rows), rounded to its row block.
  const int64_t threads = num_threads(), want = 4 * threads;
  const int64_t min_rows = std::max(kt.gemm_row_block, kt.gemm_rows / 4);
  int64_t tiles = (rows + kt.gemm_rows - 1) / kt.gemm_rows;
  const int64_t cb = kt.gemm_channel_block, blocks = (ocg + cb - 1) / cb;
  const int64_t chunks = std::clamp<int64_t>((want + images * tiles - 1) / (images * tiles), 1, blocks);
  const int64_t chunk_oc = (blocks + chunks - 1) / chunks * cb;
  while (images * tiles * chunks % threads != 0 || images * tiles * chunks < want) {
    if ((rows + tiles) / (tiles + 1) < min_rows) break;
    ++tiles;
  }
  const int64_t rb = kt.gemm_row_block;
  const int64_t tile_rows = ((rows + tiles - 1) / tiles + rb - 1) / rb * rb;
  tiles = (rows + tile_rows - 1) / tile_rows;

  // GEMM rows [r0, r1) of matrix m (image n, group g): output pixels gathered by im2col
  // (a merged matrix's rows may span several images).
  auto gather = [&](int64_t n, int64_t g, int64_t r0, int64_t r1, int64_t k_padded, uint8_t* dst) {
    for (int64_t r = r0; r < r1;) {
      const int64_t image = merged ? r / pixels : n, p = merged ? r % pixels : r;
      const int64_t count = std::min(r1 - r, pixels - p);
      im2col_nhwc(in + image * in_size, s.height, s.width, s.channels, g * icg, icg, s.kernel, s.stride, s.padding,
                  s.out_w(), p, p + count, op.input_zero_point, k_padded, dst + (r - r0) * k_padded);
      r += count;
    }
  };
  // Several channel chunks would each gather the same rows: gather them once, over the
  // threads, before the GEMMs (merged matrices only; the others gather per task).
  Tensor gathered;
  if (merged && !f.direct && chunks > 1) {
    const int64_t k_padded = f.packed[0].k_padded;
    gathered = Tensor::uninitialized({rows * k_padded}, DType::u8);
    uint8_t* dst = gathered.data<uint8_t>();
    parallel_for(rows, 16, [&](int64_t r0, int64_t r1) { gather(0, 0, r0, r1, k_padded, dst + r0 * k_padded); });
  }

  const GemmFn gemm = kt.gemm;
  parallel_for(images * tiles * chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> own_rows;
    std::vector<int32_t> acc;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t chunk = t % chunks, tile = (t / chunks) % tiles, matrix = t / chunks / tiles;
      const int64_t n = merged ? 0 : matrix / s.groups, g = merged ? 0 : matrix % s.groups;
      const int64_t r0 = tile * tile_rows, count = std::min(rows, r0 + tile_rows) - r0;
      const int64_t oc0 = chunk * chunk_oc, oc1 = std::min(ocg, oc0 + chunk_oc);
      if (oc0 >= oc1 || count <= 0) continue;
      const PackedWeights& pw = f.packed[static_cast<size_t>(g)];
      // Row r of the matrix is output pixel r of image n (merged: pixel r of the slice).
      const uint8_t* x = in + n * in_size + r0 * s.channels;
      int64_t lda = s.channels;
      if (gathered.defined()) {
        x = gathered.data<uint8_t>() + r0 * pw.k_padded;
        lda = pw.k_padded;
      } else if (!f.direct) {
        own_rows.resize(static_cast<size_t>(count * pw.k_padded));
        gather(n, g, r0, r0 + count, pw.k_padded, own_rows.data());
        x = own_rows.data();
        lda = pw.k_padded;
      }
      uint8_t* y = out + (n * pixels + r0) * s.out_channels + g * ocg;  // NHWC codes
      GemmOutput to;
      if (f.vector_requant) {  // requantized in the GEMM's epilogue (never for logits)
        to.codes = y;
        to.requant = channel_requant(op, g * ocg);
        to.small_sums = pw.small_sums;
        to.ld = s.out_channels;
        gemm(x, count, lda, pw.k_padded, ocg, pw.data.data(), pw.bias.data(), oc0, oc1, to);
        continue;
      }
      acc.resize(static_cast<size_t>(count * ocg));
      to.acc = acc.data();
      to.ld = ocg;
      gemm(x, count, lda, pw.k_padded, ocg, pw.data.data(), pw.bias.data(), oc0, oc1, to);
      for (int64_t r = 0; r < count; ++r)
        for (int64_t c = oc0; c < oc1; ++c) {
          const int64_t channel = g * ocg + c;
          // Codes stay NHWC; logits come out in the program's (C, H, W) order.
          finish(op, channel, acc[static_cast<size_t>(r * ocg + c)], y + r * s.out_channels + c,
                 logits ? logits + (n * s.out_channels + channel) * pixels + r0 + r : nullptr);
        }
    }
  });
}

}  // namespace intrain::int8
