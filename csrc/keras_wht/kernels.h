// The math of keras-wht's layers as plain C++ functions, free of any TFLite type.
//
// WHT1D: every row of `channels` floats (after an optional channel shrink, Wht1DShape) is
// cut into blocks of `block` (zero-padded to a multiple of it); each block is transformed
// with the orthonormal WHT, every coefficient k smooth-thresholded with scale[k] and
// threshold[k], transformed back; the padding is cropped and, with `residual`, the input
// added.
//
// WHT2D: on NHWC tensors, every channel's height x width image is cut into block_h x
// block_w tiles (zero-padded to whole tiles), each tile goes through the 2-D WHT, the
// smooth threshold with parameters of shape (block_h, block_w) or, `per_channel`,
// (block_h, block_w, channels), and the inverse; the padding is cropped.
//
// Both may be followed, inside the op, by what the network does next to every output
// element of channel c (the epilogue): y * post_scale[c] + post_offset[c] (a batch norm
// folded in), then an activation (ReLU, ReLU6, hard-swish). Both run on float32 tensors or
// on int8 ones (per-tensor scale and zero point): the first pass over a block turns its
// int8 values into real ones in registers, the transform, threshold and inverse compute
// in float32 (the coefficients span too wide a range for int8), and the last pass rounds
// the results to the output's scale as it stores them; no float copy of a tensor is made.
//
// The smooth threshold is S(z) = tanh(z) * max(|z| - T, 0), z = scale * coefficient, as
// in the Keras layers (keras_wht.ops.smooth_threshold), its tanh to 3e-7 for float32
// outputs and to the precision an int8 output needs (1.2e-4, AVX2 4.3e-4) for int8 ones.
// Coefficients are in natural (Hadamard) order; a sequency-ordered layer's parameters are
// permuted by the converter.
//
// Usage: Pack*() once per set of parameters, then Run() on any sub-range of the work
// items [0, WorkItems()) so that callers can split the work between threads.
#ifndef KERAS_WHT_KERNELS_H_
#define KERAS_WHT_KERNELS_H_

#include <stddef.h>
#include <stdint.h>

#include <vector>

namespace keras_wht {

enum class Isa { kScalar = 0, kAvx2 = 1, kNeon = 2, kAvx512 = 3 };

// The fastest instruction set this CPU runs (avx512 = AVX-512 F, avx2 = AVX2 with FMA,
// neon, scalar). The environment variable KERAS_WHT_ISA ("scalar", "avx2", "avx512",
// "neon") picks another one for tests and benchmarks; one this CPU lacks picks the best.
Isa BestIsa();
bool IsaSupported(Isa isa);
const char* IsaName(Isa isa);
int VectorWidth(Isa isa);

struct Wht1DShape {
  int64_t rows;   // batch * height * width
  int channels;   // floats per output row: the transform's width
  int block;      // power of two
  bool residual;
  // Floats per input row (0: `channels`). Wider rows are first narrowed to `channels` by
  // averaging groups of group = in_channels / channels adjacent floats (channels * group
  // of them; the rest are not read), as the layer's channel shrink does.
  int in_channels = 0;
  inline int InChannels() const { return in_channels > 0 ? in_channels : channels; }
  inline int Group() const { return in_channels > channels && channels > 0 ? in_channels / channels : 1; }
};

struct Wht2DShape {
  int batch, height, width, channels;
  int block_h, block_w;  // powers of two
  bool per_channel;
  bool residual;
};

enum class Activation { kNone = 0, kRelu = 1, kRelu6 = 2, kHardSwish = 3 };

// Parameters folded with the transform's normalisation (scale * norm, -threshold * norm)
// and laid out for one vector width; the epilogue's per-channel scale and offset (empty:
// none) and activation.
struct Packed {
  Isa isa = Isa::kScalar;
  std::vector<float> scale, threshold;
  float out_norm = 1.0f;
  std::vector<float> post_scale, post_offset;
  Activation activation = Activation::kNone;
};

// int8 tensors' per-tensor quantization: real value = scale * (q - zero_point).
struct Quantization {
  float in_scale = 1.0f;
  int32_t in_zero = 0;
  float out_scale = 1.0f;
  int32_t out_zero = 0;
};

// What the per-ISA kernels read: raw pointers into a Packed and, for int8 tensors, the
// quantization as the kernels use it (in = q * in_scale + in_shift, q = out * out_inverse +
// out_zero).
struct PackedView {
  const float* scale;
  const float* threshold;
  float out_norm;
  const float* post_scale;   // null: no scale and offset
  const float* post_offset;
  Activation activation;
  float in_scale, in_shift, out_inverse, out_zero;
  inline bool HasEpilogue() const { return post_scale != nullptr || activation != Activation::kNone; }
};

// scale/threshold: `block` floats (1-D); block_h * block_w, or with per_channel
// block_h * block_w * channels, floats in row-major order (2-D).
void Pack(const Wht1DShape& shape, const float* scale, const float* threshold, Isa isa, Packed* packed);
void Pack(const Wht2DShape& shape, const float* scale, const float* threshold, Isa isa, Packed* packed);
// The epilogue: `channels` floats each of post_scale and post_offset (both null: none),
// and the activation.
void PackEpilogue(int64_t channels, const float* post_scale, const float* post_offset, Activation activation,
                  Packed* packed);

// The 2-D kernels take the channels in chunks of this many floats (whole vectors): up to
// 64, fewer for large tiles, so that a chunk's tile (and its copy) stays in a core's L2
// cache through the transform's passes (kChunkBytes), and never less than one vector.
constexpr int64_t kChunkBytes = 256 * 1024;
inline int64_t ChannelChunk(int64_t channels, int vector_width, int64_t tile) {
  const int64_t whole = channels < 1 ? vector_width : (channels + vector_width - 1) / vector_width * vector_width;
  const int64_t line = vector_width > 16 ? vector_width : 16;  // a 64-byte cache line of floats, at least
  int64_t most = kChunkBytes / (4 * (tile > 0 ? tile : 1)) / vector_width * vector_width;
  if (most > 64) most = 64;
  if (most < line) most = line;
  return whole < most ? whole : most;
}
inline int64_t ChannelChunk(const Wht2DShape& s, int vector_width) {
  return ChannelChunk(s.channels, vector_width, int64_t{s.block_h} * s.block_w);
}

int64_t WorkItems(const Wht1DShape& shape, Isa isa);
int64_t WorkItems(const Wht2DShape& shape, Isa isa);
// Floats of scratch memory one thread needs for Run().
size_t ScratchFloats(const Wht1DShape& shape, Isa isa);
size_t ScratchFloats(const Wht2DShape& shape, Isa isa);
// Elements each work item writes, to size the pieces given to threads.
int64_t ItemSize(const Wht1DShape& shape, Isa isa);
int64_t ItemSize(const Wht2DShape& shape, Isa isa);

// out may alias in (float32). Uses packed.isa, which must be supported by this CPU.
// Denormal inputs and results count as zero, as in XNNPACK's operators. int8 results are
// rounded to nearest (ties to even) and saturated; NaN becomes -128.
void Run(const Wht1DShape& shape, const Packed& packed, const float* in, float* out, int64_t begin,
         int64_t end, float* scratch);
void Run(const Wht2DShape& shape, const Packed& packed, const float* in, float* out, int64_t begin,
         int64_t end, float* scratch);
void Run(const Wht1DShape& shape, const Packed& packed, const Quantization& q, const int8_t* in, int8_t* out,
         int64_t begin, int64_t end, float* scratch);
void Run(const Wht2DShape& shape, const Packed& packed, const Quantization& q, const int8_t* in, int8_t* out,
         int64_t begin, int64_t end, float* scratch);

// The unnormalised WHT (H_n x, natural order) of each of `rows` rows of n floats, in
// place; n a power of two. The transform alone, as FFHT computes it.
void Fwht(float* data, int64_t rows, int n, Isa isa);

// Straightforward reference implementations (double precision, libm tanh), for tests;
// with `packed`, its epilogue (post_scale, post_offset, activation) follows.
void Reference(const Wht1DShape& shape, const float* scale, const float* threshold, const float* in,
               float* out, const Packed* packed = nullptr);
void Reference(const Wht2DShape& shape, const float* scale, const float* threshold, const float* in,
               float* out, const Packed* packed = nullptr);
// The epilogue on one value of channel c, in double precision.
double EpilogueReference(double y, int64_t c, const Packed& packed);

}  // namespace keras_wht

#endif  // KERAS_WHT_KERNELS_H_
