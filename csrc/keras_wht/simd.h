// Vector types for the WHT kernels: one struct per instruction set, same interface.
//
// A kernel is written once as a template over one of these (kernels_impl.h) and
// instantiated per instruction set in its own translation unit (kernels_<isa>.cc),
// so the AVX2 (AVX-512) code is compiled with AVX2 (AVX-512) enabled and only runs when
// the CPU has it.
//
//   T           the register type, kWidth float lanes
//   load/store  unaligned
//   LaneButterfly<S>(x)  a butterfly stage between the lanes of x, S < kWidth: lane j
//               becomes x[j ^ S] + x[j] where j & S is 0, x[j ^ S] - x[j] where not
//   Reciprocal(x)  1 / x to a relative error under 4e-4 (an estimate where the ISA has one)
//   MaxOr(x, c) max(x, c), but x where x is NaN (NaN propagates like TensorFlow's ops)
//   MinOr(x, c) likewise min(x, c)
//   kMaxStages  butterfly stages one pass holds in registers (2**kMaxStages vectors)
//   kSinglePassStages  the same, where the whole group fits in one pass (optional;
//               kMaxStages where absent)
//   Gather(p, s)    p[0], p[s], p[2 s], ... (kWidth floats s apart)
//   LoadInt8(p)     kWidth int8 values as floats (exact)
//   StoreInt8(p, x) x clamped to [-128, 127] (NaN to -128), rounded to nearest (ties to
//                   even), stored as kWidth int8 values
#ifndef KERAS_WHT_SIMD_H_
#define KERAS_WHT_SIMD_H_

#include <math.h>
#include <stdint.h>
#include <string.h>

// For the helpers of the kernels' inner loops. GCC stops inlining plain `inline` functions
// once a unit has grown past its limits, and the kernel units instantiate many passes: it
// then called SmoothThreshold, the in-register stages and the epilogue out of line, each
// call saving and restoring the vector registers around it.
#if defined(__GNUC__) || defined(__clang__)
#define KERAS_WHT_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define KERAS_WHT_INLINE __forceinline
#else
#define KERAS_WHT_INLINE inline
#endif

namespace keras_wht {
// Internal linkage: every kernel unit uses VecScalar (for its tails), each compiled with
// its own instruction set, and must not share a copy of its functions with another unit.
namespace {

struct VecScalar {
  using T = float;
  static constexpr int kWidth = 1;
  static constexpr int kMaxStages = 3;
  static inline T Load(const float* p) { return *p; }
  static inline void Store(float* p, T x) { *p = x; }
  static inline T Set(float v) { return v; }
  static inline T Add(T a, T b) { return a + b; }
  static inline T Sub(T a, T b) { return a - b; }
  static inline T Mul(T a, T b) { return a * b; }
  static inline T Div(T a, T b) { return a / b; }
  static inline T Reciprocal(T x) { return 1.0f / x; }
  static inline T MulAdd(T a, T b, T c) { return a * b + c; }
  static inline T Abs(T x) { return fabsf(x); }
  static inline T CopySign(T magnitude, T sign) { return copysignf(magnitude, sign); }
  static inline T MaxOr(T x, T c) { return x < c ? c : x; }
  static inline T MinOr(T x, T c) { return x > c ? c : x; }
  template <int S> static inline T LaneButterfly(T x) { return x; }  // never called: one lane
  static inline T Gather(const float* p, int) { return *p; }
  static inline T LoadInt8(const int8_t* p) { return static_cast<float>(*p); }
  static inline void StoreInt8(int8_t* p, T x) {
    x = x >= -128.0f ? (x <= 127.0f ? x : 127.0f) : -128.0f;  // NaN fails the first test
    x = (x + 12582912.0f) - 12582912.0f;                      // 1.5 * 2**23: nearest, ties to even
    *p = static_cast<int8_t>(static_cast<int32_t>(x));
  }
};

}  // namespace
}  // namespace keras_wht

#if defined(__x86_64__) || defined(_M_X64)
#define KERAS_WHT_HAVE_AVX2 1
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#define KERAS_WHT_HAVE_NEON 1
#endif

// VecAvx2 is only defined inside the AVX2 translation unit, which enables the ISA first.
#if defined(KERAS_WHT_AVX2_UNIT)
#include <immintrin.h>
namespace keras_wht {
struct VecAvx2 {
  using T = __m256;
  static constexpr int kWidth = 8;
  // 2**3 vectors: AVX2 has 16 registers; 2**4 spills, and measured no faster. A group done
  // in one pass of 2**4 still ran 1.03-1.12x faster than in two (4x4 tiles, 1-D blocks of 256).
  static constexpr int kMaxStages = 3;
  static constexpr int kSinglePassStages = 4;
  static inline T Load(const float* p) { return _mm256_loadu_ps(p); }
  static inline void Store(float* p, T x) { _mm256_storeu_ps(p, x); }
  static inline T Set(float v) { return _mm256_set1_ps(v); }
  static inline T Add(T a, T b) { return _mm256_add_ps(a, b); }
  static inline T Sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static inline T Mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static inline T Div(T a, T b) { return _mm256_div_ps(a, b); }
  static inline T Reciprocal(T x) { return _mm256_rcp_ps(x); }  // relative error < 1.5 * 2**-12
  static inline T MulAdd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static inline T Abs(T x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
  static inline T CopySign(T magnitude, T sign) {
    const T mask = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(mask, magnitude), _mm256_and_ps(mask, sign));
  }
  // _mm256_max_ps returns its second operand when either is NaN.
  static inline T MaxOr(T x, T c) { return _mm256_max_ps(c, x); }
  static inline T MinOr(T x, T c) { return _mm256_min_ps(c, x); }
  template <int S> static inline T Flip(T x) {
    if (S == 1) return _mm256_permute_ps(x, 0xB1);  // lanes 1 0 3 2
    if (S == 2) return _mm256_permute_ps(x, 0x4E);  // lanes 2 3 0 1
    return _mm256_permute2f128_ps(x, x, 0x01);      // S == 4: swap the 128-bit halves
  }
  // A sign flip by XOR: no multiplier needed (the FMA units are this code's bottleneck).
  template <int S> static inline T Negate(T x) {
    const float n = -0.0f;
    if (S == 1) return _mm256_xor_ps(x, _mm256_setr_ps(0, n, 0, n, 0, n, 0, n));
    if (S == 2) return _mm256_xor_ps(x, _mm256_setr_ps(0, 0, n, n, 0, 0, n, n));
    return _mm256_xor_ps(x, _mm256_setr_ps(0, 0, 0, 0, n, n, n, n));
  }
  template <int S> static inline T LaneButterfly(T x) { return Add(Negate<S>(x), Flip<S>(x)); }
  static inline T Gather(const float* p, int stride) {
    const __m256i at = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
    return _mm256_i32gather_ps(p, at, 4);
  }
  static inline T LoadInt8(const int8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
  // _mm256_max_ps(x, c) is c where x is NaN; _mm256_cvtps_epi32 rounds to nearest even.
  static inline void StoreInt8(int8_t* p, T x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f));
    const __m256i i = _mm256_cvtps_epi32(x);
    const __m128i h = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packs_epi16(h, h));
  }
};
}  // namespace keras_wht
#endif

// VecAvx512 likewise, inside the AVX-512 translation unit (AVX-512 F only).
#if defined(KERAS_WHT_AVX512_UNIT)
#include <immintrin.h>
namespace keras_wht {
struct VecAvx512 {
  using T = __m512;
  static constexpr int kWidth = 16;
  // 2**3 vectors a pass, or 2**4 for a group done in one pass (threshold included): AVX-512
  // has 32 registers, but passes of 2**4 everywhere measured 1.15-1.3x slower than passes
  // of 2**3 (8x8 and 64x64 tiles, 1-D blocks of 1024), while a 4x4 tile in one pass ran
  // 1.5-1.8x faster than in two (1-D blocks of 256: 2.2-2.6x).
  static constexpr int kMaxStages = 3;
  static constexpr int kSinglePassStages = 4;
  static inline T Load(const float* p) { return _mm512_loadu_ps(p); }
  static inline void Store(float* p, T x) { _mm512_storeu_ps(p, x); }
  static inline T Set(float v) { return _mm512_set1_ps(v); }
  static inline T Add(T a, T b) { return _mm512_add_ps(a, b); }
  static inline T Sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static inline T Mul(T a, T b) { return _mm512_mul_ps(a, b); }
  // a / b from the 14-bit reciprocal estimate and one Newton step on the quotient
  // (q = a r, q + (a - b q) r): within 2 ulp, where a division costs several times more.
  static inline T Div(T a, T b) {
    const T r = _mm512_rcp14_ps(b);
    const T q = _mm512_mul_ps(a, r);
    return _mm512_fmadd_ps(_mm512_fnmadd_ps(b, q, a), r, q);
  }
  static inline T Reciprocal(T x) { return _mm512_rcp14_ps(x); }  // relative error < 2**-14
  static inline T MulAdd(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static inline T Abs(T x) { return _mm512_abs_ps(x); }
  static inline T CopySign(T magnitude, T sign) {
    // Bitwise mask ? magnitude : sign (truth table 0xCA), mask = all but the sign bit.
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_set1_epi32(0x7fffffff), _mm512_castps_si512(magnitude),
                                                         _mm512_castps_si512(sign), 0xCA));
  }
  // _mm512_max_ps returns its second operand when either is NaN.
  static inline T MaxOr(T x, T c) { return _mm512_max_ps(c, x); }
  static inline T MinOr(T x, T c) { return _mm512_min_ps(c, x); }
  template <int S> static inline T Flip(T x) {
    if (S == 1) return _mm512_permute_ps(x, 0xB1);                // lanes 1 0 3 2 in each 128 bits
    if (S == 2) return _mm512_permute_ps(x, 0x4E);                // lanes 2 3 0 1 in each 128 bits
    if (S == 4) return _mm512_shuffle_f32x4(x, x, 0xB1);          // 128-bit blocks 1 0 3 2
    return _mm512_shuffle_f32x4(x, x, 0x4E);                      // S == 8: 128-bit blocks 2 3 0 1
  }
  // One shuffle and one FMA: x * (+-1) + Flip<S>(x), exact.
  template <int S> static inline T LaneButterfly(T x) {
    const __mmask16 k = S == 1 ? 0xAAAA : S == 2 ? 0xCCCC : S == 4 ? 0xF0F0 : 0xFF00;
    const T signs = _mm512_mask_blend_ps(k, _mm512_set1_ps(1.0f), _mm512_set1_ps(-1.0f));
    return _mm512_fmadd_ps(x, signs, Flip<S>(x));
  }
  static inline T Gather(const float* p, int stride) {
    const __m512i at = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(stride));
    return _mm512_i32gather_ps(at, p, 4);
  }
  static inline T LoadInt8(const int8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
  static inline void StoreInt8(int8_t* p, T x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-128.0f)), _mm512_set1_ps(127.0f));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(x)));
  }
};
}  // namespace keras_wht
#endif

#if defined(KERAS_WHT_HAVE_NEON)
#include <arm_neon.h>
namespace keras_wht {
struct VecNeon {
  using T = float32x4_t;
  static constexpr int kWidth = 4;
  static constexpr int kMaxStages = 3;
  static inline T Load(const float* p) { return vld1q_f32(p); }
  static inline void Store(float* p, T x) { vst1q_f32(p, x); }
  static inline T Set(float v) { return vdupq_n_f32(v); }
  static inline T Add(T a, T b) { return vaddq_f32(a, b); }
  static inline T Sub(T a, T b) { return vsubq_f32(a, b); }
  static inline T Mul(T a, T b) { return vmulq_f32(a, b); }
  static inline T Div(T a, T b) { return vdivq_f32(a, b); }
  // The 8-bit estimate and one Newton step (vrecpsq_f32(x, r) = 2 - x r): about 2**-16.
  static inline T Reciprocal(T x) {
    const T r = vrecpeq_f32(x);
    return vmulq_f32(r, vrecpsq_f32(x, r));
  }
  static inline T MulAdd(T a, T b, T c) { return vfmaq_f32(c, a, b); }
  static inline T Abs(T x) { return vabsq_f32(x); }
  static inline T CopySign(T magnitude, T sign) {
    const uint32x4_t mask = vdupq_n_u32(0x80000000u);
    return vbslq_f32(mask, sign, magnitude);
  }
  static inline T MaxOr(T x, T c) { return vmaxq_f32(x, c); }  // NaN in, NaN out
  static inline T MinOr(T x, T c) { return vminq_f32(x, c); }
  template <int S> static inline T Flip(T x) {
    if (S == 1) return vrev64q_f32(x);   // lanes 1 0 3 2
    return vextq_f32(x, x, 2);           // S == 2: lanes 2 3 0 1
  }
  template <int S> static inline T Negate(T x) {
    static const uint32_t kOne[4] = {0, 0x80000000u, 0, 0x80000000u};
    static const uint32_t kTwo[4] = {0, 0, 0x80000000u, 0x80000000u};
    const uint32x4_t mask = vld1q_u32(S == 1 ? kOne : kTwo);
    return vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(x), mask));
  }
  template <int S> static inline T LaneButterfly(T x) { return Add(Negate<S>(x), Flip<S>(x)); }
  static inline T Gather(const float* p, int stride) {
    const float lanes[4] = {p[0], p[stride], p[2 * stride], p[3 * stride]};
    return vld1q_f32(lanes);
  }
  static inline T LoadInt8(const int8_t* p) {
    int32_t word;
    memcpy(&word, p, 4);
    const int16x8_t h = vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(word)));
    return vcvtq_f32_s32(vmovl_s16(vget_low_s16(h)));
  }
  // vmaxnmq_f32(x, c) is c where x is NaN; vcvtnq_s32_f32 rounds to nearest even.
  static inline void StoreInt8(int8_t* p, T x) {
    x = vminq_f32(vmaxnmq_f32(x, vdupq_n_f32(-128.0f)), vdupq_n_f32(127.0f));
    const int16x4_t h = vmovn_s32(vcvtnq_s32_f32(x));
    const int32_t word = vget_lane_s32(vreinterpret_s32_s8(vmovn_s16(vcombine_s16(h, h))), 0);
    memcpy(p, &word, 4);
  }
};
}  // namespace keras_wht
#endif

#endif  // KERAS_WHT_SIMD_H_
