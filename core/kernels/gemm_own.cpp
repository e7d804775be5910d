// The own AVX-512 GEMM: Goto/BLIS blocking. For each KC slice of K, all of op(A) is packed
// into MR-tall strips and all of op(B) into NR-wide strips, by all threads together and
// each element exactly once; then the threads sweep the micro-kernel over (M block,
// N block) tasks, an MC×KC block of packed A staying in L2 and an NR strip of B in L1.
#include <algorithm>
#include <cstdlib>
#include <memory>

#include "core/kernels/gemm.hpp"
#include "core/kernels/gemm_microkernel.hpp"
#include "core/threads.hpp"

namespace intrain::kernels {

namespace {

constexpr int64_t kKC = 256;  // K slice: an NR strip of B (32 KiB) stays in L1
constexpr int64_t kMC = 144;  // M block: MC×KC of A (144 KiB) stays in L2
constexpr int64_t kMaxNC = 512;

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], AlignedFree>;

Buffer aligned_buffer(int64_t floats) {
  size_t bytes = (static_cast<size_t>(floats) * sizeof(float) + 63) / 64 * 64;
  auto* p = static_cast<float*>(std::aligned_alloc(64, std::max<size_t>(bytes, 64)));
  if (!p) throw std::bad_alloc();
  return Buffer(p);
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Rows [i0, i0+mc) × k [p0, p0+kc) of op(A) into MR-tall strips, k-major, zero-padded.
// op(A)[i][p] lives at a[i·row_stride + p·col_stride]; reading MR rows side by side keeps
// every read stream sequential for either layout.
void pack_a(const GemmShape& s, const float* a, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
            float* dst) {
  const int64_t row_stride = s.trans_a ? 1 : s.lda, col_stride = s.trans_a ? s.lda : 1;
  for (int64_t ir = 0; ir < mc; ir += kGemmMR) {
    const int64_t rows = std::min<int64_t>(kGemmMR, mc - ir);
    const float* base = a + (i0 + ir) * row_stride + p0 * col_stride;
    if (rows == kGemmMR && !s.trans_a) {
      const float* row[kGemmMR];
      for (int i = 0; i < kGemmMR; ++i) row[i] = base + i * row_stride;
      for (int64_t p = 0; p < kc; ++p, dst += kGemmMR)
        for (int i = 0; i < kGemmMR; ++i) dst[i] = row[i][p];
      continue;
    }
    for (int64_t p = 0; p < kc; ++p, dst += kGemmMR) {
      const float* col = base + p * col_stride;
      for (int64_t i = 0; i < rows; ++i) dst[i] = col[i * row_stride];
      for (int64_t i = rows; i < kGemmMR; ++i) dst[i] = 0.0f;
    }
  }
}

// k [p0, p0+kc) × columns [j0, j0+NR) of op(B) into one NR-wide strip, k-major, zero-padded.
void pack_b_strip(const GemmShape& s, const float* b, int64_t p0, int64_t kc, int64_t j0, float* dst) {
  const int64_t cols = std::min<int64_t>(kGemmNR, s.n - j0);
  if (!s.trans_b) {
    for (int64_t p = 0; p < kc; ++p, dst += kGemmNR) {
      const float* src = b + (p0 + p) * s.ldb + j0;
      std::copy_n(src, cols, dst);
      std::fill(dst + cols, dst + kGemmNR, 0.0f);
    }
    return;
  }
  // Bᵀ stored: column j of op(B) is row j of b. Walk each row sequentially.
  for (int64_t j = 0; j < kGemmNR; ++j) {
    if (j < cols) {
      const float* src = b + (j0 + j) * s.ldb + p0;
      for (int64_t p = 0; p < kc; ++p) dst[p * kGemmNR + j] = src[p];
    } else {
      for (int64_t p = 0; p < kc; ++p) dst[p * kGemmNR + j] = 0.0f;
    }
  }
}

}  // namespace

// Expects k >= 1 (sgemm_with handles the empty product).
void sgemm_own_avx512(const GemmShape& s, float alpha, const float* a, const float* b, float beta,
                      float* c) {
  const int64_t threads = num_threads();
  const int64_t m_blocks = ceil_div(s.m, kMC);
  // Enough N blocks that every thread has work even when M is a single block.
  const int64_t nc = std::clamp<int64_t>(
      ceil_div(ceil_div(s.n, std::max<int64_t>(1, 2 * threads / m_blocks)), kGemmNR) * kGemmNR,
      kGemmNR, kMaxNC);
  const int64_t n_blocks = ceil_div(s.n, nc);
  const int64_t n_strips = ceil_div(s.n, kGemmNR), m_strips = ceil_div(s.m, kGemmMR);
  const int64_t kc_max = std::min(kKC, s.k);
  Buffer packed_a = aligned_buffer(m_strips * kc_max * kGemmMR);
  Buffer packed_b = aligned_buffer(n_strips * kc_max * kGemmNR);

  for (int64_t p0 = 0; p0 < s.k; p0 += kKC) {
    const int64_t kc = std::min(kKC, s.k - p0);
    const float beta_here = p0 == 0 ? beta : 1.0f;
    parallel_for(m_strips + n_strips, 4, [&](int64_t begin, int64_t end) {
      for (int64_t strip = begin; strip < end; ++strip) {
        if (strip < m_strips) {
          const int64_t i0 = strip * kGemmMR;
          pack_a(s, a, i0, std::min<int64_t>(kGemmMR, s.m - i0), p0, kc, packed_a.get() + i0 * kc);
        } else {
          const int64_t js = strip - m_strips;
          pack_b_strip(s, b, p0, kc, js * kGemmNR, packed_b.get() + js * kc * kGemmNR);
        }
      }
    });
    parallel_for(m_blocks * n_blocks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t i0 = (task / n_blocks) * kMC, j0 = (task % n_blocks) * nc;
        const int64_t mc = std::min(kMC, s.m - i0), ncur = std::min(nc, s.n - j0);
        const float* a_block = packed_a.get() + i0 * kc;  // i0 is a multiple of MR
        // A micro-panel (MR×KC, 12 KiB) stays in L1 while the B strips of the block stream
        // from L2 past it.
        for (int64_t ir = 0; ir < mc; ir += kGemmMR) {
          const int mr = static_cast<int>(std::min<int64_t>(kGemmMR, mc - ir));
          for (int64_t jr = 0; jr < ncur; jr += kGemmNR) {
            const float* b_panel = packed_b.get() + ((j0 + jr) / kGemmNR) * kc * kGemmNR;
            const int nr = static_cast<int>(std::min<int64_t>(kGemmNR, ncur - jr));
            gemm_microkernel_avx512(kc, a_block + ir * kc, b_panel,
                                    c + (i0 + ir) * s.ldc + j0 + jr, s.ldc, alpha, beta_here, mr, nr);
          }
        }
      }
    });
  }
}

}  // namespace intrain::kernels
