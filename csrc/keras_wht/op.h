// KerasWht1D and KerasWht2D as a runtime sees them, whichever runtime it is: the custom
// options parsed and checked, the tensors checked and the work sized, the parameters
// packed, the kernels run on the op's threads. The runtimes' glue (tflite_ops.cc for
// TFLite's TfLiteRegistration, litert_ops.cc for LiteRT's LiteRtCustomOpKernel) only
// translates their tensors to TensorInfo and reports the errors these functions return.
#ifndef KERAS_WHT_OP_H_
#define KERAS_WHT_OP_H_

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <vector>

#include "keras_wht/kernels.h"

namespace keras_wht {

enum class ElementType { kOther = 0, kFloat32 = 1, kInt8 = 2 };

// One tensor as the runtime describes it.
struct TensorInfo {
  ElementType type = ElementType::kOther;
  int runtime_type = 0;  // the runtime's own type code, for messages
  std::vector<int64_t> dims;
  float scale = 0.0f;  // int8: the per-tensor quantization
  int32_t zero_point = 0;
};

struct Op {
  bool two_d = false;
  // The options.
  int64_t block = 0, block_h = 0, block_w = 0;
  int64_t channels = 0;  // 1-D: the output's channels (0: the input's)
  bool per_channel = false, residual = false;
  Activation activation = Activation::kNone;
  std::string error;  // set by ParseOptions when the options are unusable
  // Set by Prepare.
  ElementType type = ElementType::kFloat32;
  Quantization quantization;
  Wht1DShape shape1{};
  Wht2DShape shape2{};
  bool post = false;  // the op has post_scale and post_offset inputs
  int threads = 1;
  std::vector<std::vector<float>> scratch;  // one per thread
  // Set by PackParameters.
  Packed packed;
};

// printf into a std::string (messages up to 511 characters).
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 1, 2)))
#endif
std::string Format(const char* format, ...);

// "KerasWht1D" or "KerasWht2D".
const char* OpName(const Op& op);

// Reads the custom options (a flexbuffer map, keras_wht/op_contract.h's keys) into op;
// op->error says what is wrong with them, if anything.
void ParseOptions(const void* options, size_t size, Op* op);

// Checks the inputs (x, scale, threshold, and post_scale, post_offset if there are five)
// and the output's type and quantization against the options, and sizes the work for at
// most max_threads threads. Returns "" and the output's shape in *output_dims, or why not.
std::string Prepare(Op* op, const std::vector<TensorInfo>& inputs, const TensorInfo& output, int max_threads,
                    std::vector<int64_t>* output_dims);

// Packs the parameter inputs' values (post_scale and post_offset null where the op has
// none) for the kernels; after Prepare, again whenever they change.
void PackParameters(Op* op, const float* scale, const float* threshold, const float* post_scale,
                    const float* post_offset);

// Runs the op on a prepared and packed op: in and out are float32 or int8, as prepared.
void Eval(Op* op, const void* in, void* out);

// The work of a prepared op, in the kernels' items: 0 when the input is empty.
int64_t Items(const Op& op);

}  // namespace keras_wht

#endif  // KERAS_WHT_OP_H_
