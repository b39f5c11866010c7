// Every supported instruction set against the double-precision reference, over shapes
// that cover padding, blocks narrower and wider than a vector, channel tails, tiles,
// per-channel parameters and residuals. Exit status 0 when all agree.
#include <math.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif
#include <stdio.h>

#include <random>
#include <utility>
#include <vector>

#include "keras_wht/kernels.h"

using keras_wht::Isa;

namespace {

int failures = 0;
std::mt19937 rng(1234);

std::vector<float> Random(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// The float32 kernel of `packed` (and its epilogue) on `in` against the reference; a
// failure names `what`.
template <class Shape>
void CheckFloat(const char* what, const Shape& shape, const std::vector<float>& scale,
                const std::vector<float>& threshold, const keras_wht::Packed& packed, const std::vector<float>& in,
                size_t outputs) {
  std::vector<float> want(outputs), got(outputs, -7.0f);
  keras_wht::Reference(shape, scale.data(), threshold.data(), in.data(), want.data(), &packed);
  std::vector<float> scratch(keras_wht::ScratchFloats(shape, packed.isa));
  const int64_t items = keras_wht::WorkItems(shape, packed.isa);
  // Two pieces, as two threads would run them.
  keras_wht::Run(shape, packed, in.data(), got.data(), 0, items / 2, scratch.data());
  keras_wht::Run(shape, packed, in.data(), got.data(), items / 2, items, scratch.data());
  double worst = 0.0, largest = 1.0;
  for (size_t i = 0; i < outputs; ++i) {
    worst = fmax(worst, fabs(double(got[i]) - want[i]));
    largest = fmax(largest, fabs(double(want[i])));
  }
  // float32 rounding of the butterflies grows with the values' magnitude.
  if (!(worst <= 5e-6 * largest)) {
    ++failures;
    printf("FAIL %s isa=%s max|diff|=%g (largest output %g)\n", what, keras_wht::IsaName(packed.isa), worst, largest);
  }
}

template <class Shape>
void Check(const char* what, const Shape& shape, const std::vector<float>& scale,
           const std::vector<float>& threshold, const std::vector<float>& in, Isa isa, size_t outputs = 0) {
  keras_wht::Packed packed;
  keras_wht::Pack(shape, scale.data(), threshold.data(), isa, &packed);
  CheckFloat(what, shape, scale, threshold, packed, in, outputs == 0 ? in.size() : outputs);
}

void Test1D(Isa isa) {
  const int channels[] = {1, 3, 8, 13, 64, 100, 1024};
  const int blocks[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 2048};
  for (int c : channels)
    for (int b : blocks)
      for (int residual = 0; residual < 2; ++residual) {
        if (b > 2 * c + 64) continue;
        keras_wht::Wht1DShape s{5, c, b, residual == 1};
        char what[128];
        snprintf(what, sizeof what, "1d rows=5 c=%d b=%d residual=%d", c, b, residual);
        Check(what, s, Random(b, 0.5f, 2.0f), Random(b, 0.0f, 0.3f), Random(5 * c, -2, 2), isa);
      }
  // A channel shrink inside the op: 13 -> 4 (groups of 3, the 13th channel unread),
  // 96 -> 16 and 960 -> 160 (groups of 6), 64 -> 32 (pairs).
  const int shrinks[][3] = {{13, 4, 4}, {96, 16, 16}, {960, 160, 256}, {960, 160, 32}, {64, 32, 8}};
  for (auto& k : shrinks) {
    keras_wht::Wht1DShape s{5, k[1], k[2], false, k[0]};
    char what[128];
    snprintf(what, sizeof what, "1d rows=5 %d -> %d channels b=%d", k[0], k[1], k[2]);
    Check(what, s, Random(k[2], 0.5f, 2.0f), Random(k[2], 0.0f, 0.3f), Random(5 * k[0], -2, 2), isa,
          size_t(5) * k[1]);
  }
}

void Test2D(Isa isa) {
  const int sizes[][2] = {{1, 1}, {3, 5}, {8, 8}, {9, 7}, {4, 16}};
  const int blocks[][2] = {{1, 1}, {2, 4}, {4, 4}, {8, 8}, {16, 16}, {1, 8}};
  const int channels[] = {1, 3, 8, 17, 70};
  for (auto& hw : sizes)
    for (auto& bl : blocks)
      for (int c : channels)
        for (int flags = 0; flags < 4; ++flags) {
          if (bl[0] > 2 * hw[0] + 2 || bl[1] > 2 * hw[1] + 2) continue;
          keras_wht::Wht2DShape s{2, hw[0], hw[1], c, bl[0], bl[1], (flags & 1) != 0, (flags & 2) != 0};
          const size_t params = size_t(bl[0]) * bl[1] * (s.per_channel ? c : 1);
          char what[160];
          snprintf(what, sizeof what, "2d %dx%dx%d block %dx%d per_channel=%d residual=%d", hw[0], hw[1], c,
                   bl[0], bl[1], flags & 1, flags >> 1);
          Check(what, s, Random(params, 0.5f, 2.0f), Random(params, 0.0f, 0.3f),
                Random(size_t(2) * hw[0] * hw[1] * c, -2, 2), isa);
        }
  // A tile of 2048 positions: the channels go in chunks narrower than 64 (ChannelChunk),
  // here two of them, the second partial; one whole tile and edge tiles.
  for (int flags = 0; flags < 4; ++flags)
    for (auto& hw : {std::pair<int, int>{64, 40}}) {
      keras_wht::Wht2DShape s{1, hw.first, hw.second, 40, 64, 32, (flags & 1) != 0, (flags & 2) != 0};
      const size_t params = size_t(64) * 32 * (s.per_channel ? 40 : 1);
      char what[160];
      snprintf(what, sizeof what, "2d %dx%dx40 block 64x32 per_channel=%d residual=%d", hw.first, hw.second,
               flags & 1, flags >> 1);
      Check(what, s, Random(params, 0.5f, 2.0f), Random(params, 0.0f, 0.3f),
            Random(size_t(hw.first) * hw.second * 40, -2, 2), isa);
    }
}

// Denormal inputs count as zero (as in XNNPACK), and the caller's floating-point mode is
// left as it was.
void TestDenormals(Isa isa) {
  keras_wht::Wht1DShape s{4, 64, 64, false};
  // Without flushing, the coefficient sum (6.4e-38, normal) times the scale would give
  // outputs near 1e-17; with the inputs read as zero every output is 0.
  std::vector<float> in(4 * 64, 1e-39f), out(in.size(), -7.0f), scale(64, 1e30f), threshold(64, 0.0f);
  keras_wht::Packed packed;
  keras_wht::Pack(s, scale.data(), threshold.data(), isa, &packed);
  std::vector<float> scratch(keras_wht::ScratchFloats(s, isa));
#if defined(__x86_64__)
  const unsigned int before = _mm_getcsr();
#endif
  keras_wht::Run(s, packed, in.data(), out.data(), 0, 4, scratch.data());
#if defined(__x86_64__)
  if (_mm_getcsr() != before) {
    ++failures;
    printf("FAIL denormals isa=%s: MXCSR changed from %#x to %#x\n", keras_wht::IsaName(isa), before, _mm_getcsr());
  }
#endif
  for (float v : out)
    if (!(v == 0.0f)) {
      ++failures;
      printf("FAIL denormals isa=%s: got %g, want 0\n", keras_wht::IsaName(isa), v);
      break;
    }
}

// Saturated tanh and large inputs: the approximation must hold over the whole range.
void TestRange(Isa isa) {
  keras_wht::Wht1DShape s{64, 64, 64, false};
  std::vector<float> in = Random(64 * 64, -60.0f, 60.0f);
  for (int i = 0; i < 64; ++i) in[i] = 1e-6f * float(i);
  Check("1d wide range", s, Random(64, 0.01f, 3.0f), Random(64, 0.0f, 1.0f), in, isa);
}

// A NaN input must not vanish (TensorFlow's ops give NaN).
void TestNan(Isa isa) {
  keras_wht::Wht1DShape s{1, 16, 16, false};
  std::vector<float> scale(16, 1.0f), threshold(16, 0.1f), in(16, 1.0f), out(16, 0.0f);
  in[3] = NAN;
  keras_wht::Packed packed;
  keras_wht::Pack(s, scale.data(), threshold.data(), isa, &packed);
  std::vector<float> scratch(keras_wht::ScratchFloats(s, isa));
  keras_wht::Run(s, packed, in.data(), out.data(), 0, 1, scratch.data());
  for (float v : out)
    if (!isnan(v)) {
      ++failures;
      printf("FAIL nan isa=%s: got %g\n", keras_wht::IsaName(isa), v);
      return;
    }
}

// The transform alone against H_n x: by its definition up to n = 4096, beyond by the
// textbook in-place butterflies in double precision (the kernels block long rows).
void TestFwht(Isa isa) {
  for (int n : {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 2048, 4096, 8192, 16384, 1 << 15, 1 << 17, 1 << 20}) {
    const int rows = n <= 4096 ? 3 : 2;
    std::vector<float> x = Random(size_t(rows) * n, -1, 1), y = x;
    keras_wht::Fwht(y.data(), rows, n, isa);
    double worst = 0;
    for (int r = 0; r < rows; ++r) {
      std::vector<double> want(x.begin() + size_t(r) * n, x.begin() + size_t(r + 1) * n);
      if (n <= 4096) {
        for (int u = 0; u < n; ++u) {
          double sum = 0;
          for (int i = 0; i < n; ++i) sum += (__builtin_popcount(u & i) & 1 ? -1.0 : 1.0) * x[size_t(r) * n + i];
          want[u] = sum;
        }
      } else {
        for (int h = 1; h < n; h *= 2)
          for (int i = 0; i < n; i += 2 * h)
            for (int j = i; j < i + h; ++j) {
              const double a = want[j], b = want[j + h];
              want[j] = a + b;
              want[j + h] = a - b;
            }
      }
      for (int u = 0; u < n; ++u) worst = fmax(worst, fabs(want[u] - y[size_t(r) * n + u]));
    }
    if (!(worst <= 1e-5 * n)) {
      ++failures;
      printf("FAIL fwht n=%d isa=%s max|diff|=%g\n", n, keras_wht::IsaName(isa), worst);
    }
  }
}

// The epilogue (a folded batch norm and an activation) and int8 tensors, against the
// reference: float32 outputs to float rounding; int8 outputs to one step of the output's
// scale (the reference's exact value can lie on the other side of a rounding boundary
// than the kernel's float one), and exactly for almost all elements.
const keras_wht::Activation kActivations[] = {keras_wht::Activation::kNone, keras_wht::Activation::kRelu,
                                              keras_wht::Activation::kRelu6, keras_wht::Activation::kHardSwish};

template <class Shape>
void CheckFolded(const char* what, const Shape& shape, int64_t out_channels, size_t inputs, size_t outputs,
                 size_t params, Isa isa) {
  const std::vector<float> scale = Random(params, 0.5f, 2.0f), threshold = Random(params, 0.0f, 0.3f);
  const std::vector<float> post_scale = Random(out_channels, -2.0f, 2.0f), post_offset = Random(out_channels, -1, 1);
  for (keras_wht::Activation activation : kActivations)
    for (int folded = 0; folded < 2; ++folded) {
      keras_wht::Packed packed;
      keras_wht::Pack(shape, scale.data(), threshold.data(), isa, &packed);
      keras_wht::PackEpilogue(out_channels, folded ? post_scale.data() : nullptr,
                              folded ? post_offset.data() : nullptr, activation, &packed);
      std::vector<float> scratch(keras_wht::ScratchFloats(shape, isa));
      const int64_t items = keras_wht::WorkItems(shape, isa);
      char label[256];
      snprintf(label, sizeof label, "%s activation=%d post=%d isa=%s", what, int(activation), folded,
               keras_wht::IsaName(isa));
      CheckFloat(label, shape, scale, threshold, packed, Random(inputs, -2, 2), outputs);
      std::vector<float> want(outputs);
      // int8: a grid of 0.02 around zero point -3 in; the reference's output range over 255 steps out.
      const keras_wht::Quantization q = {0.02f, -3, 0.0f, 0};
      std::vector<int8_t> qx(inputs), qgot(outputs, 77);
      std::uniform_int_distribution<int> byte(-128, 127);
      std::vector<float> real(inputs);
      for (size_t i = 0; i < inputs; ++i) {
        qx[i] = static_cast<int8_t>(byte(rng));
        real[i] = q.in_scale * float(qx[i] - q.in_zero);
      }
      keras_wht::Reference(shape, scale.data(), threshold.data(), real.data(), want.data(), &packed);
      float lo = 0.0f, hi = 0.0f;
      for (float v : want) lo = fmin(lo, v), hi = fmax(hi, v);
      keras_wht::Quantization qq = q;
      qq.out_scale = (hi - lo) / 255.0f > 0 ? (hi - lo) / 255.0f : 1.0f;
      qq.out_zero = int32_t(lrint(-128.0 - lo / qq.out_scale));
      keras_wht::Run(shape, packed, qq, qx.data(), qgot.data(), 0, items / 2, scratch.data());
      keras_wht::Run(shape, packed, qq, qx.data(), qgot.data(), items / 2, items, scratch.data());
      int off = 0, far = 0;
      for (size_t i = 0; i < outputs; ++i) {
        const double expect = fmin(127.0, fmax(-128.0, nearbyint(want[i] / qq.out_scale + qq.out_zero)));
        const double d = fabs(expect - qgot[i]);
        off += d > 0;
        far += d > 1;
      }
      if (far > 0 || off > int(outputs / 50) + 1) {
        ++failures;
        printf("FAIL int8 %s: %d of %zu outputs off by one step, %d by more\n", label, off, outputs, far);
      }
    }
}

void TestFolded(Isa isa) {
  const int rows = 7;
  for (int c : {3, 16, 40, 100})
    for (int b : {4, 16, 64})
      for (int residual = 0; residual < 2; ++residual) {
        keras_wht::Wht1DShape s{rows, c, b, residual == 1};
        char what[128];
        snprintf(what, sizeof what, "1d c=%d b=%d residual=%d", c, b, residual);
        CheckFolded(what, s, c, size_t(rows) * c, size_t(rows) * c, b, isa);
      }
  keras_wht::Wht1DShape shrink{rows, 16, 16, false, 96};
  CheckFolded("1d 96 -> 16 channels", shrink, 16, size_t(rows) * 96, size_t(rows) * 16, 16, isa);
  for (int c : {5, 16, 70})
    for (int flags = 0; flags < 4; ++flags) {
      keras_wht::Wht2DShape s{2, 9, 8, c, 8, 8, (flags & 1) != 0, (flags & 2) != 0};
      char what[128];
      snprintf(what, sizeof what, "2d 9x8x%d block 8x8 per_channel=%d residual=%d", c, flags & 1, flags >> 1);
      const size_t elements = size_t(2) * 9 * 8 * c;
      CheckFolded(what, s, c, elements, elements, size_t(64) * (s.per_channel ? c : 1), isa);
    }
}

// int8 rounding, saturation and NaN. With a threshold no coefficient passes, a residual
// op gives its input: 2.5 * q for q = 1, 3, -1 is 2.5, 7.5, -2.5, stored as 2, 8, -2 (ties
// to even); q = 100 and -100 saturate to 127 and -128; a NaN offset gives -128.
void TestInt8Edges(Isa isa) {
  keras_wht::Wht1DShape s{1, 16, 16, true};
  std::vector<float> scale(16, 1.0f), threshold(16, 1e30f);
  keras_wht::Packed packed;
  keras_wht::Pack(s, scale.data(), threshold.data(), isa, &packed);
  const keras_wht::Quantization q = {2.5f, 0, 1.0f, 0};
  std::vector<int8_t> in(16, 0), out(16, 0);
  in[0] = 1, in[1] = 3, in[2] = -1, in[3] = 100, in[4] = -100;
  std::vector<float> scratch(keras_wht::ScratchFloats(s, isa));
  keras_wht::Run(s, packed, q, in.data(), out.data(), 0, 1, scratch.data());
  const int want[5] = {2, 8, -2, 127, -128};
  for (int i = 0; i < 5; ++i)
    if (out[i] != want[i]) {
      ++failures;
      printf("FAIL int8 rounding isa=%s: element %d is %d, want %d\n", keras_wht::IsaName(isa), i, out[i], want[i]);
    }
  std::vector<float> ones(16, 1.0f), nans(16, NAN);
  keras_wht::PackEpilogue(16, ones.data(), nans.data(), keras_wht::Activation::kNone, &packed);
  keras_wht::Run(s, packed, q, in.data(), out.data(), 0, 1, scratch.data());
  for (int i = 0; i < 16; ++i)
    if (out[i] != -128) {
      ++failures;
      printf("FAIL int8 nan isa=%s: element %d is %d, want -128\n", keras_wht::IsaName(isa), i, out[i]);
      break;
    }
}

}  // namespace

int main() {
  int tested = 0;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kNeon}) {
    if (!keras_wht::IsaSupported(isa)) continue;
    ++tested;
    Test1D(isa);
    Test2D(isa);
    TestRange(isa);
    TestDenormals(isa);
    TestNan(isa);
    TestFwht(isa);
    TestFolded(isa);
    TestInt8Edges(isa);
    printf("%s: checked\n", keras_wht::IsaName(isa));
  }
  printf("%d instruction sets, %d failures\n", tested, failures);
  return failures == 0 && tested > 0 ? 0 : 1;
}
