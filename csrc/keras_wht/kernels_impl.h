// The kernels, written once over a vector type V (simd.h); included by kernels_<isa>.cc.
//
// Both layers reduce to one step, Group(): a WHT over g = 2**L positions of K vectors
// each (the butterflies between whole vectors), plus, for a 1-D block wider than one
// lane, q "in-register" stages between the lanes of each vector; the threshold; and the
// same transform again. The 2-D WHT of a tile is such a transform, because
// H_bh (x) H_bw = H_(bh*bw) in natural order: the tile's positions are the positions,
// the channels the lanes. The butterfly stages commute, so they run in passes of up to
// V::kMaxStages stages held in registers, the first reading the input and the last
// writing the output. This file must not define functions of standard-library templates (they could
// be compiled with the unit's instruction set and shared with other units).
#ifndef KERAS_WHT_KERNELS_IMPL_H_
#define KERAS_WHT_KERNELS_IMPL_H_

#include <type_traits>

#include "keras_wht/kernels.h"
#include "keras_wht/simd.h"

#if defined(__clang__)
#define KERAS_WHT_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define KERAS_WHT_UNROLL _Pragma("GCC unroll 16")
#else
#define KERAS_WHT_UNROLL
#endif

namespace keras_wht {
namespace {

inline int Log2(int64_t n) {
  int l = 0;
  while ((int64_t{1} << l) < n) ++l;
  return l;
}

// The threshold a pass applies between its stages and their inverse: none (a plain pass),
// to float32 precision, or to the precision of an int8 output (Impl::SmoothThreshold).
enum class Threshold { kNone, kFloat, kInt8 };

template <class V>
struct Impl {
  using T = typename V::T;
  static constexpr int W = V::kWidth;

  // Parameters of vector k of position p in a group: scale at
  // scale + p * stride + k * k_stride, threshold likewise. The epilogue's channel of that
  // vector's first lane: c0 + p * c_stride + k * c_k_stride (2-D: lanes are channels; 1-D:
  // positions are vectors of channels). Positions index the scale and threshold modulo
  // mask + 1 (a power of two): a pass over several blocks of a row reuses them.
  struct Params {
    const float* scale;
    const float* threshold;
    int64_t stride;
    int64_t k_stride;
    float norm;
    int64_t c0 = 0, c_stride = 0, c_k_stride = 0;
    int64_t mask = -1;
  };

  static KERAS_WHT_INLINE void Butterfly(T& a, T& b) {
    const T sum = V::Add(a, b);
    b = V::Sub(a, b);
    a = sum;
  }

  // log2(R) butterfly stages over r[0..R), resolved at compile time so that r stays in
  // registers: the two halves, then the butterflies between them.
  template <int R>
  static KERAS_WHT_INLINE void Radix(T* r) {
    if constexpr (R >= 2) {
      Radix<R / 2>(r);
      Radix<R / 2>(r + R / 2);
      KERAS_WHT_UNROLL
      for (int i = 0; i < R / 2; ++i) Butterfly(r[i], r[i + R / 2]);
    }
  }

  // q butterfly stages between the lanes of x (strides 1, 2, 4, 8 lanes).
  static KERAS_WHT_INLINE T InRegister(T x, int q) {
    if (W > 1 && q > 0) x = V::template LaneButterfly<1>(x);
    if (W > 2 && q > 1) x = V::template LaneButterfly<2>(x);
    if (W > 4 && q > 2) x = V::template LaneButterfly<4>(x);
    if (W > 8 && q > 3) x = V::template LaneButterfly<8>(x);
    return x;
  }

  // S(z) * norm, z = u * scale, S(z) = tanh(z) * max(|z| - T, 0); `neg_threshold` holds
  // -T * norm (Pack). tanh(|z|) = x P(x^2) / Q(x^2) with x = min(|z|, clamp), rational
  // approximations fitted for keras-wht (minimax over [0, clamp]). Horner's scheme: the
  // fewest multiplications, which bound this loop's speed.
  //   kFloat: P and Q of degree 4, clamp 9 (tanh(9) is 1 to float precision), an exact
  //     quotient: |error| < 1e-7 in exact arithmetic, 3e-7 in float32.
  //   kInt8: degree 2, clamp 5.25, the reciprocal estimate: |error| < 1.2e-4 (AVX-512,
  //     NEON) or 4.3e-4 (AVX2), where an int8 output's step is 1/255 of its range; 15
  //     instructions a vector instead of 21 (AVX-512), the threshold being up to 40% of the
  //     op's time.
  template <Threshold kPrecision>
  static KERAS_WHT_INLINE T SmoothThreshold(T u, T scale, T neg_threshold, T norm) {
    const T z = V::Mul(u, scale);
    const T a = V::Abs(z);
    T tanh_a;
    if constexpr (kPrecision == Threshold::kInt8) {
      const T x = V::MinOr(a, V::Set(5.25f));
      const T y = V::Mul(x, x);
      T p = V::MulAdd(y, V::Set(6.30820245e-04f), V::Set(0.100872684f));
      p = V::MulAdd(y, p, V::Set(0.999753522f));
      T q = V::MulAdd(y, V::Set(0.0123899206f), V::Set(0.433513002f));
      q = V::MulAdd(y, q, V::Set(1.0f));
      tanh_a = V::Mul(V::Mul(x, p), V::Reciprocal(q));
    } else {
      const T x = V::MinOr(a, V::Set(9.0f));
      const T y = V::Mul(x, x);
      T p = V::MulAdd(y, V::Set(1.3184114772135658e-08f), V::Set(2.0471740571740421e-05f));
      p = V::MulAdd(y, p, V::Set(0.0034865758831484827f));
      p = V::MulAdd(y, p, V::Set(0.13373192435414563f));
      p = V::MulAdd(y, p, V::Set(0.99999990631908464f));
      T q = V::MulAdd(y, V::Set(7.7026156082571351e-07f), V::Set(0.0003271375952570255f));
      q = V::MulAdd(y, q, V::Set(0.025841955716366268f));
      q = V::MulAdd(y, q, V::Set(0.46706489287327907f));
      q = V::MulAdd(y, q, V::Set(1.0f));
      tanh_a = V::Div(V::Mul(x, p), q);
    }
    const T shrunk = V::MaxOr(V::MulAdd(a, norm, neg_threshold), V::Set(0.0f));
    return V::CopySign(V::Mul(tanh_a, shrunk), z);
  }

  // Where position p of a group lives: base + (p >> bits) * row + (p % 2**bits) * col,
  // in elements of type E (float, or int8 for an int8 tensor). A tile of an NHWC tensor:
  // bits = log2(block_w), row = width * channels, col = channels. A scratch buffer, or a
  // block of a 1-D row: bits = L, col = elements per position.
  template <class E>
  struct Layout {
    E* base;
    int64_t row, col;
    int bits;
    KERAS_WHT_INLINE E* At(int64_t p) const {
      return base + (p >> bits) * row + (p & ((int64_t{1} << bits) - 1)) * col;
    }
    // Whether all of 2**L positions lie in one row: then At(p) = base + p * col.
    KERAS_WHT_INLINE bool Linear(int L) const { return base == nullptr || bits >= L; }
  };
  using FloatLayout = Layout<float>;

  // Addresses of the R positions j + i * S of a pass. Linear layouts: computed as
  // needed (one stride); tiles of a tensor: looked up once per j for all K vectors.
  template <int R, class E>
  struct LinearAt {
    E* first;
    int64_t step;
    KERAS_WHT_INLINE LinearAt(const Layout<E>& l, int64_t j, int64_t S)
        : first(l.base ? l.base + j * l.col : nullptr), step(S * l.col) {}
    KERAS_WHT_INLINE E* operator[](int i) const { return first + i * step; }
  };
  template <int R, class E>
  struct TableAt {
    E* at[R];
    KERAS_WHT_INLINE TableAt(const Layout<E>& l, int64_t j, int64_t S) {
      KERAS_WHT_UNROLL
      for (int i = 0; i < R; ++i) at[i] = l.base ? l.At(j + i * S) : nullptr;
    }
    KERAS_WHT_INLINE E* operator[](int i) const { return at[i]; }
  };

  // One pass over g positions of K vectors each, from `from` into `to` (possibly the
  // same memory): the butterfly stages of strides S, 2S, ..., (R/2)S and q in-register
  // stages. Adds `add` (the residual, laid out like `to`) when its base is set. Reads
  // int8 elements as real values; with kFinish (the last pass), stores through the
  // epilogue (and requantizes to int8).
  template <int R, bool kLinear, Threshold kThreshold, bool kFinish, class In, class Out, class Add>
  static void Pass(const Layout<In> from, const Layout<Out> to, const Layout<Add> add, int64_t g, int K, int64_t S,
                   int q, const Params& prm, const PackedView& pk) {
    using SrcAt = typename std::conditional<kLinear, LinearAt<R, In>, TableAt<R, In>>::type;
    using DstAt = typename std::conditional<kLinear, LinearAt<R, Out>, TableAt<R, Out>>::type;
    using AddAt = typename std::conditional<kLinear, LinearAt<R, Add>, TableAt<R, Add>>::type;
    const T norm = V::Set(prm.norm);
    for (int64_t base = 0; base < g; base += S * R)
      for (int64_t j = base; j < base + S; ++j) {
        const SrcAt src(from, j, S);
        const DstAt dst(to, j, S);
        const AddAt res(add, j, S);
        for (int k = 0; k < K; ++k) {
          T r[R];
          KERAS_WHT_UNROLL
          for (int i = 0; i < R; ++i) r[i] = InRegister(Real<V>(src[i] + k * W, pk), q);
          Radix<R>(r);
          if constexpr (kThreshold != Threshold::kNone) {
            const int64_t at = (j & prm.mask) * prm.stride + k * prm.k_stride, step = S * prm.stride;
            KERAS_WHT_UNROLL
            for (int i = 0; i < R; ++i)
              r[i] = SmoothThreshold<kThreshold>(r[i], V::Load(prm.scale + at + i * step),
                                                 V::Load(prm.threshold + at + i * step), norm);
            Radix<R>(r);
            KERAS_WHT_UNROLL
            for (int i = 0; i < R; ++i) r[i] = InRegister(r[i], q);
          }
          if (add.base) {
            KERAS_WHT_UNROLL
            for (int i = 0; i < R; ++i) r[i] = V::Add(r[i], Real<V>(res[i] + k * W, pk));
          }
          if constexpr (kFinish) {
            const int64_t c = prm.c0 + j * prm.c_stride + k * prm.c_k_stride, c_step = S * prm.c_stride;
            KERAS_WHT_UNROLL
            for (int i = 0; i < R; ++i) Put<V>(dst[i] + k * W, r[i], c + i * c_step, pk);
          } else {
            static_assert(std::is_same<Out, float>::value, "only the last pass writes int8");
            KERAS_WHT_UNROLL
            for (int i = 0; i < R; ++i) V::Store(dst[i] + k * W, r[i]);
          }
        }
      }
  }

  // A pass of `stages` (0 to kMaxStages) butterfly stages, with addresses by stride where
  // the layouts allow. With a threshold: the stages, the threshold, the stages again.
  template <Threshold kThreshold, bool kFinish, bool kLinear, class In, class Out, class Add>
  static void PassOfLayout(int stages, const Layout<In>& from, const Layout<Out>& to, const Layout<Add>& add, int64_t g,
                           int K, int64_t S, int q, const Params& prm, const PackedView& pk) {
    switch (stages) {
      case 0: return Pass<1, kLinear, kThreshold, kFinish>(from, to, add, g, K, S, q, prm, pk);
      case 1: return Pass<2, kLinear, kThreshold, kFinish>(from, to, add, g, K, S, q, prm, pk);
      case 2: return Pass<4, kLinear, kThreshold, kFinish>(from, to, add, g, K, S, q, prm, pk);
      case 3: return Pass<8, kLinear, kThreshold, kFinish>(from, to, add, g, K, S, q, prm, pk);
      case 4:  // only a whole group in one pass (kSinglePassStages)
        if constexpr (kThreshold != Threshold::kNone && kSinglePassStages >= 4)
          return Pass<16, kLinear, kThreshold, kFinish>(from, to, add, g, K, S, q, prm, pk);
        return;
      default:
        return;  // never: passes have at most 4 stages
    }
  }

  // kFinish passes store through the epilogue only where there is one (or int8 to write).
  template <Threshold kThreshold, bool kFinish, class In, class Out, class Add>
  static void PassOf(int stages, const Layout<In>& from, const Layout<Out>& to, const Layout<Add>& add, int L, int K,
                     int64_t S, int q, const Params& prm, const PackedView& pk, int64_t g = 0) {
    constexpr bool kInt8Out = std::is_same<Out, int8_t>::value;
    if constexpr (kFinish && !kInt8Out) {
      if (!pk.HasEpilogue()) return PassOf<kThreshold, false>(stages, from, to, add, L, K, S, q, prm, pk, g);
    }
    if (g == 0) g = int64_t{1} << L;
    if (from.Linear(L) && to.Linear(L) && add.Linear(L))
      return PassOfLayout<kThreshold, kFinish, true>(stages, from, to, add, g, K, S, q, prm, pk);
    return PassOfLayout<kThreshold, kFinish, false>(stages, from, to, add, g, K, S, q, prm, pk);
  }

  // Forward WHT, threshold and inverse WHT over 2**L positions of K vectors, from src
  // to dst (+ add), through `scratch` (2**L * K * W floats), the epilogue applied as dst
  // is written. The butterfly stages commute, so they run in passes of up to kMaxStages
  // stages held in registers (the first with the q in-register stages). A group of up to
  // kMaxStages (or kSinglePassStages) stages is one pass, threshold included. Otherwise the
  // stages of the low B bits of a position go in plain passes, the last kFusedStages in
  // one pass fused with the threshold and its own inverse, then the low stages again in
  // reverse order, the last pass writing dst. The plain passes change only the low B bits,
  // so they run block by block of 2**B positions, each block going through all of them
  // while it is in the L1 cache; only the fused pass spans the group.
  template <Threshold kThreshold, class In, class Out, class Add>
  static void Group(const Layout<In>& src, const Layout<Out>& dst, const Layout<Add>& add, int L, int K, int q,
                    const Params& prm, const PackedView& pk, float* scratch) {
    if (L <= kSinglePassStages) return PassOf<kThreshold, true>(L, src, dst, add, L, K, 1, q, prm, pk);
    const int B = L - kFusedStages;  // the bits of the plain passes
    const int passes = (B + kMaxStages - 1) / kMaxStages;
    const FloatLayout fnone = {nullptr, 0, 0, 0};
    const FloatLayout buf = {scratch, 0, int64_t{K} * W, L};
    for (int64_t first = 0; first < (int64_t{1} << L); first += int64_t{1} << B) {
      const Layout<In> from = Sub(src, first);
      const FloatLayout to = Sub(buf, first);
      int bit = 0;
      for (int n = 0; n < passes; ++n) {
        if (n == 0)
          PassOf<Threshold::kNone, false>(PassStages(B, passes, n), from, to, Layout<Add>{nullptr, 0, 0, 0}, B,
                                          K, int64_t{1} << bit, q, prm, pk);
        else
          PassOf<Threshold::kNone, false>(PassStages(B, passes, n), to, to, fnone, B, K, int64_t{1} << bit, 0, prm,
                                          pk);
        bit += PassStages(B, passes, n);
      }
    }
    PassOf<kThreshold, false>(kFusedStages, buf, buf, fnone, L, K, int64_t{1} << B, 0, prm, pk);
    for (int64_t first = 0; first < (int64_t{1} << L); first += int64_t{1} << B) {
      const FloatLayout from = Sub(buf, first);
      // The epilogue's channels of these positions (1-D: they advance with the position).
      Params block = prm;
      block.c0 += first * prm.c_stride;
      int bit = B;
      for (int n = passes - 1; n >= 0; --n) {
        bit -= PassStages(B, passes, n);
        if (n == 0)
          PassOf<Threshold::kNone, true>(PassStages(B, passes, n), from, Sub(dst, first), Sub(add, first), B, K,
                                         int64_t{1} << bit, q, block, pk);
        else
          PassOf<Threshold::kNone, false>(PassStages(B, passes, n), from, from, fnone, B, K, int64_t{1} << bit, 0,
                                          prm, pk);
      }
    }
  }

  // The positions first, first + 1, ... of a layout (first a multiple of the block's 2**B
  // positions), as a layout of their own.
  template <class E>
  static Layout<E> Sub(const Layout<E>& l, int64_t first) {
    return l.base ? Layout<E>{l.At(first), l.row, l.col, l.bits} : l;
  }

  // The most butterfly stages one pass holds in registers (simd.h), and in a group done
  // in one pass; a group of more stages has its threshold in a pass of kMaxStages.
  template <class U, class = void>
  struct SinglePass {
    static constexpr int value = U::kMaxStages;
  };
  template <class U>
  struct SinglePass<U, decltype(void(U::kSinglePassStages))> {
    static constexpr int value = U::kSinglePassStages;
  };
  static constexpr int kMaxStages = V::kMaxStages;
  static constexpr int kSinglePassStages = SinglePass<V>::value;
  static constexpr int kFusedStages = kMaxStages;

  // Stages of pass n when L stages are split into `passes` passes as evenly as possible.
  static int PassStages(int L, int passes, int n) { return L / passes + (n < L % passes ? 1 : 0); }

  // Stages first .. first + stages - 1 (strides 2**first ... positions) and q in-register
  // stages over g positions of one vector, in place, in passes of up to `most` stages.
  template <bool kLinear>
  static void Stages(const FloatLayout& l, int64_t g, int first, int stages, int q, int most) {
    const FloatLayout none = {nullptr, 0, 0, 0};
    const int passes = stages == 0 ? 1 : (stages + most - 1) / most;
    for (int n = 0, bit = first; n < passes; ++n) {
      const int k = PassStages(stages, passes, n);
      PassOfLayout<Threshold::kNone, false, kLinear>(k, l, l, none, g, 1, int64_t{1} << bit, n == 0 ? q : 0, Unused(),
                                                     NoView());
      bit += k;
    }
  }

  // The transform alone (Fwht) has no parameters.
  static Params Unused() { return {nullptr, nullptr, 0, 0, 1.0f}; }
  static PackedView NoView() {
    return {nullptr, nullptr, 1.0f, nullptr, nullptr, Activation::kNone, 1.0f, 0.0f, 1.0f, 0.0f};
  }

  // Fwht's blocking, so that the passes after the first find their data in the caches:
  // rows of up to kL1Floats go through all their passes a batch of rows at a time; a
  // longer row through the stages within each chunk of kL1Floats floats, chunk by chunk,
  // then the stages between chunks on strips of kStripFloats floats (the row seen as a
  // matrix of chunk-long rows, a strip some of its columns), in passes of up to
  // kStridedStages stages: 2**4 lines kL1Floats * 4 bytes apart share one L1 set and
  // measured slower than 2**3 of them. Sizes measured on a Xeon with AVX-512 (48 KiB L1,
  // 2 MiB L2 per core), as in benchmarks/fwht_peers.py.
  static constexpr int64_t kL1Floats = int64_t{1} << 13;     // 32 KiB
  static constexpr int64_t kStripFloats = int64_t{1} << 16;  // 256 KiB
  static constexpr int kStridedStages = 3;

  // The unnormalised WHT of rows of n floats, in place.
  static void Fwht(float* data, int64_t rows, int n) {
    if (n < W) {  // several rows' worth of lanes would mix; go one row at a time through a copy
      const FloatLayout none = {nullptr, 0, 0, 0};
      for (int64_t row = 0; row < rows; ++row) {
        float* v = data + row * n;
        float buffer[W > 1 ? W : 1] = {};
        for (int i = 0; i < n; ++i) buffer[i] = v[i];
        const FloatLayout b = {buffer, 0, W, 0};
        Pass<1, true, Threshold::kNone, false>(b, b, none, 1, 1, 1, Log2(n), Unused(), NoView());
        for (int i = 0; i < n; ++i) v[i] = buffer[i];
      }
      return;
    }
    const int L = Log2(n / W), q = Log2(W);
    if (n <= kL1Floats) {
      const int64_t batch = kL1Floats / n;
      for (int64_t row = 0; row < rows; row += batch) {
        const int64_t count = rows - row < batch ? rows - row : batch;
        const FloatLayout l = {data + row * n, 0, W, 62};
        Stages<true>(l, count << L, 0, L, q, kMaxStages);
      }
      return;
    }
    const int low = Log2(kL1Floats / W), high = L - low;
    const int64_t most = kStripFloats / (int64_t{W} << high);  // positions per strip, 1 .. 2**low
    const int64_t strip = most < 1 ? 1 : most > (int64_t{1} << low) ? int64_t{1} << low : most;
    const int strip_bits = Log2(strip);
    for (int64_t row = 0; row < rows; ++row) {
      float* v = data + row * n;
      for (int64_t c = 0; c < n; c += kL1Floats)
        Stages<true>(FloatLayout{v + c, 0, W, 62}, int64_t{1} << low, 0, low, q, kMaxStages);
      for (int64_t c = 0; c < (int64_t{1} << low); c += strip)
        Stages<false>(FloatLayout{v + c * W, kL1Floats, W, strip_bits}, strip << high, strip_bits, high, 0,
                      kStridedStages < kMaxStages ? kStridedStages : kMaxStages);
    }
  }

  // An element of the op's input as a real value: a float as it is, an int8 value q as
  // q * in_scale + in_shift (= in_scale * (q - zero point)). U: V, or VecScalar for tails.
  template <class U>
  static KERAS_WHT_INLINE typename U::T Real(const float* p, const PackedView&) {
    return U::Load(p);
  }
  template <class U>
  static KERAS_WHT_INLINE typename U::T Real(const int8_t* p, const PackedView& pk) {
    return U::MulAdd(U::LoadInt8(p), U::Set(pk.in_scale), U::Set(pk.in_shift));
  }

  // The epilogue on values y of channels c, c + 1, ...: y * post_scale + post_offset, the
  // activation (NaN stays NaN), stored as floats or requantized to int8.
  template <class U>
  static KERAS_WHT_INLINE void Put(float* p, typename U::T y, int64_t c, const PackedView& pk) {
    U::Store(p, Epilogue<U>(y, c, pk));
  }
  template <class U>
  static KERAS_WHT_INLINE void Put(int8_t* p, typename U::T y, int64_t c, const PackedView& pk) {
    U::StoreInt8(p, U::MulAdd(Epilogue<U>(y, c, pk), U::Set(pk.out_inverse), U::Set(pk.out_zero)));
  }
  template <class U>
  static KERAS_WHT_INLINE typename U::T Epilogue(typename U::T y, int64_t c, const PackedView& pk) {
    using R = typename U::T;
    if (pk.post_scale != nullptr) y = U::MulAdd(y, U::Load(pk.post_scale + c), U::Load(pk.post_offset + c));
    switch (pk.activation) {
      case Activation::kNone: return y;
      case Activation::kRelu: return U::MaxOr(y, U::Set(0.0f));
      case Activation::kRelu6: return U::MinOr(U::MaxOr(y, U::Set(0.0f)), U::Set(6.0f));
      case Activation::kHardSwish: {  // y * relu6(y + 3) / 6
        const R gate = U::MinOr(U::MaxOr(U::Add(y, U::Set(3.0f)), U::Set(0.0f)), U::Set(6.0f));
        return U::Mul(y, U::Mul(gate, U::Set(1.0f / 6.0f)));
      }
    }
    return y;
  }

  // dst[0:n] = epilogue(y[0:n] (+ the real value of add[0:n])), channels c0 .. c0 + n - 1.
  // dst may be y (float).
  template <class Out, class In>
  static inline void Finish(Out* dst, const float* y, const In* add, int64_t n, int64_t c0, const PackedView& pk) {
    int64_t c = 0;
    if (add) {
      for (; c + W <= n; c += W) Put<V>(dst + c, V::Add(V::Load(y + c), Real<V>(add + c, pk)), c0 + c, pk);
      for (; c < n; ++c) Put<VecScalar>(dst + c, y[c] + Real<VecScalar>(add + c, pk), c0 + c, pk);
    } else {
      for (; c + W <= n; c += W) Put<V>(dst + c, V::Load(y + c), c0 + c, pk);
      for (; c < n; ++c) Put<VecScalar>(dst + c, y[c], c0 + c, pk);
    }
  }

  // dst[0:n] = the real values of src[0:n].
  template <class In>
  static inline void Widen(float* dst, const In* src, int64_t n, const PackedView& pk) {
    int64_t c = 0;
    for (; c + W <= n; c += W) V::Store(dst + c, Real<V>(src + c, pk));
    for (; c < n; ++c) dst[c] = Real<VecScalar>(src + c, pk);
  }

  // pk without its epilogue: for transforms into a buffer that Finish() then writes out.
  static PackedView WithoutEpilogue(PackedView pk) {
    pk.post_scale = pk.post_offset = nullptr;
    pk.activation = Activation::kNone;
    return pk;
  }

  // Rows whose length is a whole number of blocks and vectors go straight from the input
  // to the output (the first pass reading it, the last writing through the epilogue); the
  // others through a zero-padded float copy, which a channel shrink makes from the input
  // row's group means.
  template <class In, class Out>
  static void Run1D(const Wht1DShape& s, const PackedView& pk, const In* in, Out* out, int64_t begin,
                    int64_t end, float* scratch) {
    // An int8 output needs the threshold to its precision only (SmoothThreshold).
    constexpr Threshold kThreshold = std::is_same<Out, int8_t>::value ? Threshold::kInt8 : Threshold::kFloat;
    const int64_t C = s.channels, C_in = s.InChannels(), shrink = s.Group();
    const int b = s.block;
    const int lanes = b < W ? b : W;   // in-register part of a block
    const int64_t group = b / lanes;   // vectors per block (1 when blocks fit in a vector)
    const int64_t padded = (C + b - 1) / b * b;
    const int64_t vectors = (padded + W - 1) / W;
    const bool direct = vectors * W == C && C_in == C;
    const int L = Log2(group), q = Log2(lanes);
    const PackedView plain = WithoutEpilogue(pk);
    const float mean = 1.0f / static_cast<float>(shrink);
    float* staging = scratch + group * W;
    for (int64_t row = begin; row < end; ++row) {
      In* x = const_cast<In*>(in) + row * C_in;
      Out* y = out + row * C;
      if (direct && L <= kSinglePassStages) {
        // Blocks of one pass: the whole row in one, each block's positions reading the
        // parameters of position (p mod group) (a call per block cost more than a
        // one-vector block's work).
        const Params prm = {pk.scale, pk.threshold, W, 0, pk.out_norm, 0, W, 0, group - 1};
        const Layout<In> src = {x, 0, W, 62};
        const Layout<Out> dst = {y, 0, W, 62};
        const Layout<In> add = {s.residual ? x : nullptr, 0, W, 62};
        PassOf<kThreshold, true>(L, src, dst, add, L, 1, 1, q, prm, pk, vectors);
        continue;
      }
      if (direct) {
        for (int64_t at = 0; at < vectors; at += group) {
          // Position p of this block holds channels (at + p) * W ...: the epilogue's.
          const Params prm = {pk.scale, pk.threshold, W, 0, pk.out_norm, at * W, W, 0};
          const Layout<In> src = {x + at * W, 0, W, L};
          const Layout<Out> dst = {y + at * W, 0, W, L};
          const Layout<In> add = {s.residual ? x + at * W : nullptr, 0, W, L};
          Group<kThreshold>(src, dst, add, L, 1, q, prm, pk, scratch);
        }
        continue;
      }
      if (shrink > 1) {
        // Group means, W channels at a time: lane l sums the inputs (c + l) * shrink + k,
        // gathered `shrink` apart (int8 rows widened to float first).
        const float* xf = reinterpret_cast<const float*>(x);
        if constexpr (!std::is_same<In, float>::value) {
          Widen(staging + vectors * W, x, C * shrink, pk);
          xf = staging + vectors * W;
        }
        int64_t c = 0;
        for (; c + W <= C; c += W) {
          T sum = V::Gather(xf + c * shrink, static_cast<int>(shrink));
          for (int64_t k = 1; k < shrink; ++k) sum = V::Add(sum, V::Gather(xf + c * shrink + k, static_cast<int>(shrink)));
          V::Store(staging + c, V::Mul(sum, V::Set(mean)));
        }
        for (; c < C; ++c) {
          float sum = 0.0f;
          for (int64_t k = 0; k < shrink; ++k) sum += xf[c * shrink + k];
          staging[c] = sum * mean;
        }
      } else {
        Widen(staging, x, C, pk);
      }
      for (int64_t c = C; c < vectors * W; ++c) staging[c] = 0.0f;
      const Params prm = {pk.scale, pk.threshold, W, 0, pk.out_norm};
      for (int64_t at = 0; at < vectors; at += group) {
        const FloatLayout buf = {staging + at * W, 0, W, L};
        Group<kThreshold>(buf, buf, FloatLayout{nullptr, 0, 0, 0}, L, 1, q, prm, plain, scratch);
      }
      Finish(y, staging, s.residual ? x : static_cast<const In*>(nullptr), C, 0, pk);
    }
  }

  // Work item = (image, tile, chunk of ChannelChunk() channels). Whole tiles of whole
  // chunks go straight from the input to the output; edge tiles and a last, partial
  // chunk go through a zero-padded copy.
  // A 2-D work item: an image's tile and a chunk of E channels, by its first element
  // (`corner`, at row h0, column w0, channel c0) and its channel count.
  struct TileItem {
    int64_t h0, w0, c0, width, corner;
  };

  static TileItem Decode(const Wht2DShape& s, int64_t item, int64_t E) {
    const int64_t C = s.channels, chunks = (C + E - 1) / E;
    const int64_t tiles_w = (s.width + s.block_w - 1) / s.block_w, tiles_h = (s.height + s.block_h - 1) / s.block_h;
    const int64_t chunk = item % chunks, tw = item / chunks % tiles_w, th = item / chunks / tiles_w % tiles_h;
    const int64_t n = item / chunks / tiles_w / tiles_h;
    TileItem t;
    t.h0 = th * s.block_h;
    t.w0 = tw * s.block_w;
    t.c0 = chunk * E;
    t.width = C - t.c0 < E ? C - t.c0 : E;
    t.corner = ((n * s.height + t.h0) * s.width + t.w0) * C + t.c0;
    return t;
  }

  // Asks for the input and output lines of a coming work item ahead of time: the tile's
  // positions lie a row of channels apart, a pattern the hardware prefetchers miss.
  template <class In, class Out>
  static void Prefetch(const Wht2DShape& s, const In* in, Out* out, const TileItem& t) {
#if defined(__GNUC__) || defined(__clang__)
    for (int64_t h = t.h0; h < t.h0 + s.block_h && h < s.height; ++h)
      for (int64_t w = t.w0; w < t.w0 + s.block_w && w < s.width; ++w) {
        const int64_t at = t.corner + ((h - t.h0) * s.width + (w - t.w0)) * s.channels;
        for (int64_t c = 0; c < t.width; c += 64 / static_cast<int64_t>(sizeof(In))) {
          __builtin_prefetch(in + at + c, 0);
          __builtin_prefetch(out + at + c, 1);
        }
      }
#else
    (void)s, (void)in, (void)out, (void)t;
#endif
  }

  template <class In, class Out>
  static void Run2D(const Wht2DShape& s, const PackedView& pk, const In* in, Out* out, int64_t begin,
                    int64_t end, float* scratch) {
    // An int8 output needs the threshold to its precision only (SmoothThreshold).
    constexpr Threshold kThreshold = std::is_same<Out, int8_t>::value ? Threshold::kInt8 : Threshold::kFloat;
    const int64_t H = s.height, Wd = s.width, C = s.channels;
    const int bh = s.block_h, bw = s.block_w;
    const int64_t E = ChannelChunk(s, W), padded_c = (C + E - 1) / E * E;
    const int L = Log2(int64_t{bh} * bw), bits_w = Log2(bw), K = static_cast<int>(E / W);
    const PackedView plain = WithoutEpilogue(pk);
    // Small tiles: ask for the next item's lines now (its positions lie a row of channels
    // apart, a pattern the hardware prefetchers miss); a large tile's would evict this one's.
    const bool prefetch = (int64_t{bh} * bw) * E <= 4096;
    for (int64_t item = begin; item < end; ++item) {
      const TileItem t = Decode(s, item, E);
      // Lanes are channels: vector k of a position holds channels c0 + k * W ...
      const Params prm = s.per_channel
                             ? Params{pk.scale + t.c0, pk.threshold + t.c0, padded_c, W, pk.out_norm, t.c0, 0, W}
                             : Params{pk.scale, pk.threshold, W, 0, pk.out_norm, t.c0, 0, W};
      if (prefetch && item + 1 < end) Prefetch(s, in, out, Decode(s, item + 1, E));
      if (t.width == E && t.h0 + bh <= H && t.w0 + bw <= Wd) {
        const Layout<In> src = {const_cast<In*>(in) + t.corner, Wd * C, C, bits_w};
        const Layout<Out> dst = {out + t.corner, Wd * C, C, bits_w};
        const Layout<In> add = {s.residual ? src.base : nullptr, Wd * C, C, bits_w};
        Group<kThreshold>(src, dst, add, L, K, 0, prm, pk, scratch);
        continue;
      }
      // Edge tiles and partial chunks: a zero-padded float copy in `scratch`, transformed
      // in place, then written out through the epilogue.
      const FloatLayout buf = {scratch, 0, E, L};
      for (int i = 0; i < bh; ++i)
        for (int j = 0; j < bw; ++j) {
          float* to = buf.At(int64_t{i} * bw + j);
          int64_t c = 0;
          if (t.h0 + i < H && t.w0 + j < Wd) {
            Widen(to, in + t.corner + (int64_t{i} * Wd + j) * C, t.width, pk);
            c = t.width;
          }
          for (; c < E; ++c) to[c] = 0.0f;
        }
      Group<kThreshold>(buf, buf, FloatLayout{nullptr, 0, 0, 0}, L, K, 0, prm, plain, scratch);
      for (int i = 0; i < bh; ++i)
        for (int j = 0; j < bw; ++j) {
          if (t.h0 + i >= H || t.w0 + j >= Wd) continue;
          const int64_t at = t.corner + (int64_t{i} * Wd + j) * C;
          Finish(out + at, buf.At(int64_t{i} * bw + j), s.residual ? in + at : static_cast<const In*>(nullptr),
                 t.width, t.c0, pk);
        }
    }
  }
};

}  // namespace
}  // namespace keras_wht

// The entry points kernels.cc dispatches to, for one instruction set.
#define KERAS_WHT_DEFINE_KERNELS(Suffix, Vec)                                                              \
  namespace keras_wht {                                                                                  \
  namespace internal {                                                                                   \
  void Run1D##Suffix(const Wht1DShape& s, const PackedView& p, const float* in, float* out, int64_t b,   \
                     int64_t e, float* scratch) {                                                        \
    Impl<Vec>::Run1D(s, p, in, out, b, e, scratch);                                                      \
  }                                                                                                      \
  void Run2D##Suffix(const Wht2DShape& s, const PackedView& p, const float* in, float* out, int64_t b,   \
                     int64_t e, float* scratch) {                                                        \
    Impl<Vec>::Run2D(s, p, in, out, b, e, scratch);                                                      \
  }                                                                                                      \
  void Run1D##Suffix(const Wht1DShape& s, const PackedView& p, const int8_t* in, int8_t* out, int64_t b, \
                     int64_t e, float* scratch) {                                                        \
    Impl<Vec>::Run1D(s, p, in, out, b, e, scratch);                                                      \
  }                                                                                                      \
  void Run2D##Suffix(const Wht2DShape& s, const PackedView& p, const int8_t* in, int8_t* out, int64_t b, \
                     int64_t e, float* scratch) {                                                        \
    Impl<Vec>::Run2D(s, p, in, out, b, e, scratch);                                                      \
  }                                                                                                      \
  void Fwht##Suffix(float* data, int64_t rows, int n) { Impl<Vec>::Fwht(data, rows, n); }                \
  }                                                                                                      \
  }

#endif  // KERAS_WHT_KERNELS_IMPL_H_
