// Dispatch to the per-ISA kernels, parameter packing and the reference implementations.
#include "keras_wht/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <type_traits>

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

namespace keras_wht {
namespace internal {
#define KERAS_WHT_DECLARE(Suffix)                                                                    \
  void Run1D##Suffix(const Wht1DShape&, const PackedView&, const float*, float*, int64_t, int64_t, \
                     float*);                                                                        \
  void Run2D##Suffix(const Wht2DShape&, const PackedView&, const float*, float*, int64_t, int64_t, \
                     float*);                                                                        \
  void Run1D##Suffix(const Wht1DShape&, const PackedView&, const int8_t*, int8_t*, int64_t, int64_t,   \
                     float*);                                                                        \
  void Run2D##Suffix(const Wht2DShape&, const PackedView&, const int8_t*, int8_t*, int64_t, int64_t,   \
                     float*);                                                                        \
  void Fwht##Suffix(float*, int64_t, int);
KERAS_WHT_DECLARE(Scalar)
#if defined(__x86_64__) || defined(_M_X64)
KERAS_WHT_DECLARE(Avx2)
KERAS_WHT_DECLARE(Avx512)
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
KERAS_WHT_DECLARE(Neon)
#endif
#undef KERAS_WHT_DECLARE
}  // namespace internal

namespace {

bool CpuHas(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
      return false;
#endif
    case Isa::kAvx512:
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
      return __builtin_cpu_supports("avx512f");
#else
      return false;
#endif
    case Isa::kNeon:
#if defined(__aarch64__) && defined(__ARM_NEON)
      return true;
#else
      return false;
#endif
  }
  return false;
}

Isa Detect() {
  Isa best = CpuHas(Isa::kAvx512) ? Isa::kAvx512
             : CpuHas(Isa::kAvx2) ? Isa::kAvx2
             : CpuHas(Isa::kNeon) ? Isa::kNeon
                                  : Isa::kScalar;
  const char* wanted = getenv("KERAS_WHT_ISA");
  if (wanted != nullptr) {
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kNeon})
      if (strcmp(wanted, IsaName(isa)) == 0 && CpuHas(isa)) return isa;
  }
  return best;
}

int64_t RoundUp(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// While alive, this thread's float arithmetic treats denormal inputs and results as zero
// (x86: MXCSR's DAZ and FTZ; aarch64: FPCR.FZ), as XNNPACK runs its operators. A
// denormal costs a microcode assist of about a hundred cycles per instruction: activations
// that have shrunk towards zero (an untrained network's deep layers, or a dead channel)
// made an op 9 times slower. The previous mode is restored on exit.
class FlushDenormals {
 public:
#if defined(__x86_64__) || defined(_M_X64)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned int saved_;
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
  FlushDenormals() {
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(saved_));
    const uint64_t flush = saved_ | (uint64_t{1} << 24);
    __asm__ __volatile__("msr fpcr, %0" : : "r"(flush));
  }
  ~FlushDenormals() { __asm__ __volatile__("msr fpcr, %0" : : "r"(saved_)); }

 private:
  uint64_t saved_;
#else
  FlushDenormals() {}
#endif
};

int Popcount(int64_t v) {
  int n = 0;
  for (; v; v &= v - 1) ++n;
  return n;
}

double SmoothThresholdRef(double z, double threshold) {
  return tanh(z) * std::max(fabs(z) - threshold, 0.0);
}

// y[u] = sum_i (-1)^popcount(u & i) x[i] / sqrt(n): the orthonormal WHT, by its definition.
void WhtRef(const std::vector<double>& x, std::vector<double>* y) {
  const int64_t n = static_cast<int64_t>(x.size());
  y->assign(n, 0.0);
  for (int64_t u = 0; u < n; ++u) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += (Popcount(u & i) & 1) ? -x[i] : x[i];
    (*y)[u] = sum / sqrt(static_cast<double>(n));
  }
}

double Epilogue(double y, int64_t c, const Packed* packed) { return packed ? EpilogueReference(y, c, *packed) : y; }

}  // namespace

Isa BestIsa() {
  static const Isa best = Detect();
  return best;
}

bool IsaSupported(Isa isa) { return CpuHas(isa); }

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kNeon: return "neon";
    default: return "scalar";
  }
}

int VectorWidth(Isa isa) {
  switch (isa) {
    case Isa::kAvx2: return 8;
    case Isa::kAvx512: return 16;
    case Isa::kNeon: return 4;
    default: return 1;
  }
}

void Pack(const Wht1DShape& s, const float* scale, const float* threshold, Isa isa, Packed* packed) {
  const int64_t len = std::max(s.block, VectorWidth(isa));
  const float norm = static_cast<float>(1.0 / sqrt(static_cast<double>(s.block)));
  packed->isa = isa;
  packed->out_norm = norm;
  packed->scale.resize(len);
  packed->threshold.resize(len);
  for (int64_t k = 0; k < len; ++k) {
    packed->scale[k] = scale[k % s.block] * norm;
    packed->threshold[k] = -threshold[k % s.block] * norm;
  }
}

void Pack(const Wht2DShape& s, const float* scale, const float* threshold, Isa isa, Packed* packed) {
  const int64_t n = int64_t{s.block_h} * s.block_w, width = VectorWidth(isa);
  const float norm = static_cast<float>(1.0 / sqrt(static_cast<double>(n)));
  packed->isa = isa;
  packed->out_norm = norm;
  if (s.per_channel) {
    // Whole chunks: the last, partial chunk of channels reads a chunk's worth of parameters.
    const int64_t padded = RoundUp(s.channels, ChannelChunk(s, static_cast<int>(width)));
    packed->scale.assign(n * padded, 0.0f);
    packed->threshold.assign(n * padded, 0.0f);
    for (int64_t p = 0; p < n; ++p)
      for (int64_t c = 0; c < s.channels; ++c) {
        packed->scale[p * padded + c] = scale[p * s.channels + c] * norm;
        packed->threshold[p * padded + c] = -threshold[p * s.channels + c] * norm;
      }
  } else {
    packed->scale.resize(n * width);
    packed->threshold.resize(n * width);
    for (int64_t p = 0; p < n; ++p)
      for (int64_t l = 0; l < width; ++l) {
        packed->scale[p * width + l] = scale[p] * norm;
        packed->threshold[p * width + l] = -threshold[p] * norm;
      }
  }
}

void PackEpilogue(int64_t channels, const float* post_scale, const float* post_offset, Activation activation,
                  Packed* packed) {
  packed->activation = activation;
  if (post_scale == nullptr || post_offset == nullptr) {
    packed->post_scale.clear();
    packed->post_offset.clear();
    return;
  }
  packed->post_scale.assign(post_scale, post_scale + channels);
  packed->post_offset.assign(post_offset, post_offset + channels);
}

int64_t WorkItems(const Wht1DShape& s, Isa) { return s.rows; }

int64_t WorkItems(const Wht2DShape& s, Isa isa) {
  const int64_t tiles = RoundUp(s.height, s.block_h) / s.block_h * (RoundUp(s.width, s.block_w) / s.block_w);
  const int64_t chunk = ChannelChunk(s, VectorWidth(isa));
  return int64_t{s.batch} * tiles * ((s.channels + chunk - 1) / chunk);
}

// 1-D: one block's passes plus a zero-padded copy of a row.
size_t ScratchFloats(const Wht1DShape& s, Isa isa) {
  const int64_t width = VectorWidth(isa);
  // One block's passes, the zero-padded row and, narrowing an int8 row, its float copy.
  const int64_t narrowed = s.Group() > 1 ? int64_t{s.channels} * s.Group() : 0;
  return static_cast<size_t>(std::max<int64_t>(s.block, width) + RoundUp(RoundUp(s.channels, s.block), width) +
                             narrowed);
}

// 2-D: one tile chunk (its passes, or a zero-padded copy transformed in place).
size_t ScratchFloats(const Wht2DShape& s, Isa isa) {
  return static_cast<size_t>(int64_t{s.block_h} * s.block_w * ChannelChunk(s, VectorWidth(isa)));
}

int64_t ItemSize(const Wht1DShape& s, Isa) { return s.channels; }

int64_t ItemSize(const Wht2DShape& s, Isa isa) {
  return int64_t{s.block_h} * s.block_w * ChannelChunk(s, VectorWidth(isa));
}

namespace {

PackedView View(const Packed& p, const Quantization* q) {
  PackedView v;
  v.scale = p.scale.data();
  v.threshold = p.threshold.data();
  v.out_norm = p.out_norm;
  v.post_scale = p.post_scale.empty() ? nullptr : p.post_scale.data();
  v.post_offset = p.post_offset.empty() ? nullptr : p.post_offset.data();
  v.activation = p.activation;
  v.in_scale = q ? q->in_scale : 1.0f;
  v.in_shift = q ? -q->in_scale * static_cast<float>(q->in_zero) : 0.0f;
  v.out_inverse = q ? 1.0f / q->out_scale : 1.0f;
  v.out_zero = q ? static_cast<float>(q->out_zero) : 0.0f;
  return v;
}

// The kernels of p.isa for one layer and one element type.
template <class Shape, class In, class Out>
void Dispatch(const Shape& s, const Packed& p, const Quantization* q, const In* in, Out* out, int64_t begin,
              int64_t end, float* scratch) {
  const FlushDenormals flush;
  const PackedView v = View(p, q);
  constexpr bool k2D = std::is_same<Shape, Wht2DShape>::value;
#define KERAS_WHT_CALL(Suffix)                                                          \
  if constexpr (k2D)                                                                    \
    return internal::Run2D##Suffix(s, v, in, out, begin, end, scratch);                \
  else                                                                                  \
    return internal::Run1D##Suffix(s, v, in, out, begin, end, scratch);
  switch (p.isa) {
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::kAvx2: { KERAS_WHT_CALL(Avx2) }
    case Isa::kAvx512: { KERAS_WHT_CALL(Avx512) }
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
    case Isa::kNeon: { KERAS_WHT_CALL(Neon) }
#endif
    default: { KERAS_WHT_CALL(Scalar) }
  }
#undef KERAS_WHT_CALL
}

}  // namespace

void Run(const Wht1DShape& s, const Packed& p, const float* in, float* out, int64_t begin, int64_t end,
         float* scratch) {
  Dispatch(s, p, nullptr, in, out, begin, end, scratch);
}

void Run(const Wht2DShape& s, const Packed& p, const float* in, float* out, int64_t begin, int64_t end,
         float* scratch) {
  Dispatch(s, p, nullptr, in, out, begin, end, scratch);
}

void Run(const Wht1DShape& s, const Packed& p, const Quantization& q, const int8_t* in, int8_t* out, int64_t begin,
         int64_t end, float* scratch) {
  Dispatch(s, p, &q, in, out, begin, end, scratch);
}

void Run(const Wht2DShape& s, const Packed& p, const Quantization& q, const int8_t* in, int8_t* out, int64_t begin,
         int64_t end, float* scratch) {
  Dispatch(s, p, &q, in, out, begin, end, scratch);
}

void Fwht(float* data, int64_t rows, int n, Isa isa) {
  switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::kAvx2: return internal::FwhtAvx2(data, rows, n);
    case Isa::kAvx512: return internal::FwhtAvx512(data, rows, n);
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
    case Isa::kNeon: return internal::FwhtNeon(data, rows, n);
#endif
    default: return internal::FwhtScalar(data, rows, n);
  }
}

double EpilogueReference(double y, int64_t c, const Packed& p) {
  if (!p.post_scale.empty()) y = y * p.post_scale[c] + p.post_offset[c];
  switch (p.activation) {
    case Activation::kNone: return y;
    case Activation::kRelu: return y < 0.0 ? 0.0 : y;
    case Activation::kRelu6: return y < 0.0 ? 0.0 : y > 6.0 ? 6.0 : y;
    case Activation::kHardSwish: return y * std::min(std::max(y + 3.0, 0.0), 6.0) / 6.0;
  }
  return y;
}

void Reference(const Wht1DShape& s, const float* scale, const float* threshold, const float* in, float* out,
               const Packed* packed) {
  const int64_t C = s.channels, C_in = s.InChannels(), g = s.Group(), b = s.block;
  std::vector<double> row(C), x(b), y;
  for (int64_t r = 0; r < s.rows; ++r) {
    for (int64_t c = 0; c < C; ++c) {  // the channel shrink: means of g adjacent inputs
      double sum = 0.0;
      for (int64_t k = 0; k < g; ++k) sum += in[r * C_in + c * g + k];
      row[c] = sum / static_cast<double>(g);
    }
    for (int64_t c0 = 0; c0 < C; c0 += b) {
      for (int64_t k = 0; k < b; ++k) x[k] = c0 + k < C ? row[c0 + k] : 0.0;
      WhtRef(x, &y);
      for (int64_t k = 0; k < b; ++k) x[k] = SmoothThresholdRef(y[k] * scale[k], threshold[k]);
      WhtRef(x, &y);
      for (int64_t k = 0; k < b && c0 + k < C; ++k)
        out[r * C + c0 + k] = static_cast<float>(
            Epilogue(y[k] + (s.residual ? row[c0 + k] : 0.0), c0 + k, packed));
    }
  }
}

void Reference(const Wht2DShape& s, const float* scale, const float* threshold, const float* in, float* out,
               const Packed* packed) {
  const int64_t H = s.height, W = s.width, C = s.channels, bh = s.block_h, bw = s.block_w, n = bh * bw;
  std::vector<double> x(n), y;
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h0 = 0; h0 < H; h0 += bh)
      for (int64_t w0 = 0; w0 < W; w0 += bw)
        for (int64_t c = 0; c < C; ++c) {
          auto at = [&](int64_t i, int64_t j) { return ((b * H + h0 + i) * W + w0 + j) * C + c; };
          auto inside = [&](int64_t i, int64_t j) { return h0 + i < H && w0 + j < W; };
          for (int64_t i = 0; i < bh; ++i)
            for (int64_t j = 0; j < bw; ++j) x[i * bw + j] = inside(i, j) ? in[at(i, j)] : 0.0;
          WhtRef(x, &y);  // the 2-D WHT of a tile is the WHT of its row-major flattening
          for (int64_t p = 0; p < n; ++p) {
            const int64_t k = s.per_channel ? p * C + c : p;
            x[p] = SmoothThresholdRef(y[p] * scale[k], threshold[k]);
          }
          WhtRef(x, &y);
          for (int64_t i = 0; i < bh; ++i)
            for (int64_t j = 0; j < bw; ++j)
              if (inside(i, j))
                out[at(i, j)] = static_cast<float>(
                    Epilogue(y[i * bw + j] + (s.residual ? in[at(i, j)] : 0.0), c, packed));
        }
}

}  // namespace keras_wht
