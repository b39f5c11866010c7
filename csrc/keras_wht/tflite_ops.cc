// The TFLite glue of KerasWht1D and KerasWht2D: Init parses and checks the options,
// Prepare checks types and shapes and sizes the output, Eval runs the kernels
// (kernels.h) on the interpreter's threads. Every failure is reported through the
// context's error reporter and returned as kTfLiteError; nothing here aborts.
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <string>
#include <vector>

#include "flatbuffers/flexbuffers.h"
#include "keras_wht/custom_ops.h"
#include "keras_wht/kernels.h"
#include "keras_wht/op_contract.h"
#include "keras_wht/thread_pool.h"

namespace keras_wht {
namespace {

struct OpData {
  bool two_d = false;
  // Options.
  int64_t block = 0, block_h = 0, block_w = 0;
  int64_t channels = 0;  // 1-D: the output's channels (0: the input's)
  bool per_channel = false, residual = false;
  Activation activation = Activation::kNone;
  std::string error;  // set by Init when the options are unusable
  // Set by Prepare.
  Wht1DShape shape1{};
  Wht2DShape shape2{};
  Packed packed;
  bool packed_constant = false;
  int threads = 1;
  bool post = false;  // the op has post_scale and post_offset inputs
  std::vector<std::vector<float>> scratch;  // one per thread
};

std::string Format(const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  return buffer;
}

TfLiteStatus Fail(TfLiteContext* context, const char* op, const std::string& message) {
  if (context != nullptr && context->ReportError != nullptr) context->ReportError(context, "%s: %s", op, message.c_str());
  return kTfLiteError;
}

const char* OpName(const OpData* data) { return data->two_d ? contract::kOp2D : contract::kOp1D; }

bool IsPowerOfTwo(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

// Reads an integer option; false (with data->error set) when missing or not an integer.
bool IntOption(const flexbuffers::Map& map, const char* key, int64_t* out, OpData* data) {
  const flexbuffers::Reference value = map[key];
  if (value.IsNull()) {
    data->error = Format("custom options lack \"%s\"", key);
    return false;
  }
  if (!value.IsInt() && !value.IsUInt()) {
    data->error = Format("custom option \"%s\" must be an integer", key);
    return false;
  }
  *out = value.AsInt64();
  return true;
}

bool BoolOption(const flexbuffers::Map& map, const char* key, bool* out, OpData* data) {
  const flexbuffers::Reference value = map[key];
  if (value.IsNull()) {
    data->error = Format("custom options lack \"%s\"", key);
    return false;
  }
  if (!value.IsBool() && !value.IsInt() && !value.IsUInt()) {
    data->error = Format("custom option \"%s\" must be a boolean", key);
    return false;
  }
  *out = value.AsBool();
  return true;
}

bool BlockOption(const flexbuffers::Map& map, const char* key, int64_t* out, OpData* data) {
  if (!IntOption(map, key, out, data)) return false;
  if (!IsPowerOfTwo(*out) || *out > contract::kMaxBlockElements) {
    data->error = Format("custom option \"%s\" must be a power of two up to %lld, got %lld", key,
                         static_cast<long long>(contract::kMaxBlockElements), static_cast<long long>(*out));
    return false;
  }
  return true;
}

bool StringOption(const flexbuffers::Map& map, const char* key, std::string* out, OpData* data) {
  const flexbuffers::Reference value = map[key];
  if (!value.IsString()) {
    data->error = Format("custom option \"%s\" must be a string", key);
    return false;
  }
  *out = value.AsString().str();
  return true;
}

void ParseOptions(const char* buffer, size_t length, OpData* data) {
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(buffer);
  if (bytes == nullptr || length < 3 || !flexbuffers::VerifyBuffer(bytes, length)) {
    data->error = "custom options are missing or not a valid flexbuffer";
    return;
  }
  const flexbuffers::Reference root = flexbuffers::GetRoot(bytes, length);
  if (!root.IsMap()) {
    data->error = "custom options must be a flexbuffer map";
    return;
  }
  const flexbuffers::Map map = root.AsMap();
  if (data->two_d) {
    if (!BlockOption(map, contract::kKeyBlockH, &data->block_h, data) ||
        !BlockOption(map, contract::kKeyBlockW, &data->block_w, data) ||
        !BoolOption(map, contract::kKeyPerChannel, &data->per_channel, data))
      return;
    if (data->block_h * data->block_w > contract::kMaxBlockElements) {
      data->error = Format("a %lldx%lld tile exceeds %lld elements", static_cast<long long>(data->block_h),
                           static_cast<long long>(data->block_w),
                           static_cast<long long>(contract::kMaxBlockElements));
      return;
    }
  } else {
    if (!BlockOption(map, contract::kKeyBlock, &data->block, data)) return;
    // Absent in models converted before the op took the channel shrink: the input's.
    if (!map[contract::kKeyChannels].IsNull()) {
      if (!IntOption(map, contract::kKeyChannels, &data->channels, data)) return;
      if (data->channels < 1) {
        data->error = Format("custom option \"%s\" must be at least 1, got %lld", contract::kKeyChannels,
                             static_cast<long long>(data->channels));
        return;
      }
    }
  }
  if (!BoolOption(map, contract::kKeyResidual, &data->residual, data)) return;
  // Absent in models converted before the op took the activation after it: none.
  if (map[contract::kKeyActivation].IsNull()) return;
  std::string name;
  if (!StringOption(map, contract::kKeyActivation, &name, data)) return;
  if (name == contract::kKeyActivationRelu) {
    data->activation = Activation::kRelu;
  } else if (name == contract::kKeyActivationRelu6) {
    data->activation = Activation::kRelu6;
  } else if (name == contract::kKeyActivationHardSwish) {
    data->activation = Activation::kHardSwish;
  } else {
    data->error = Format("custom option \"%s\" must be \"%s\", \"%s\" or \"%s\", got \"%s\"", contract::kKeyActivation,
                         contract::kKeyActivationRelu, contract::kKeyActivationRelu6, contract::kKeyActivationHardSwish,
                         name.c_str());
  }
}

void* Init(TfLiteContext*, const char* buffer, size_t length, bool two_d) {
  OpData* data = new OpData();
  data->two_d = two_d;
  ParseOptions(buffer, length, data);
  return data;
}

void* Init1D(TfLiteContext* context, const char* buffer, size_t length) { return Init(context, buffer, length, false); }
void* Init2D(TfLiteContext* context, const char* buffer, size_t length) { return Init(context, buffer, length, true); }

void Free(TfLiteContext*, void* buffer) { delete static_cast<OpData*>(buffer); }

TfLiteTensor* Tensor(TfLiteContext* context, const TfLiteIntArray* indices, int i) {
  if (indices == nullptr || i >= indices->size) return nullptr;
  const int index = indices->data[i];
  if (index < 0 || static_cast<size_t>(index) >= context->tensors_size) return nullptr;
  return &context->tensors[index];
}

std::string DimsString(const TfLiteIntArray* dims) {
  std::string out = "(";
  for (int i = 0; dims != nullptr && i < dims->size; ++i) out += (i ? ", " : "") + std::to_string(dims->data[i]);
  return out + ")";
}

bool DimsEqual(const TfLiteIntArray* dims, std::initializer_list<int64_t> want) {
  if (dims == nullptr || dims->size != static_cast<int>(want.size())) return false;
  int i = 0;
  for (int64_t w : want)
    if (dims->data[i++] != w) return false;
  return true;
}

TfLiteStatus CheckParameter(TfLiteContext* context, OpData* data, const TfLiteTensor* t, const char* name,
                            std::initializer_list<int64_t> want) {
  if (t == nullptr) return Fail(context, OpName(data), Format("input %s is missing", name));
  if (t->type != kTfLiteFloat32) return Fail(context, OpName(data), Format("%s must be float32", name));
  if (!DimsEqual(t->dims, want)) {
    std::string expected = "(";
    int i = 0;
    for (int64_t w : want) expected += (i++ ? ", " : "") + std::to_string(w);
    return Fail(context, OpName(data), Format("%s has shape %s, the options and the input need %s)", name,
                                              DimsString(t->dims).c_str(), expected.c_str()));
  }
  return kTfLiteOk;
}

// The constant inputs (scale, threshold and, if the op has them, post_scale and
// post_offset) packed for the kernels.
void PackParameters(OpData* data, TfLiteContext* context, TfLiteNode* node) {
  const float* s = static_cast<const float*>(Tensor(context, node->inputs, 1)->data.data);
  const float* t = static_cast<const float*>(Tensor(context, node->inputs, 2)->data.data);
  if (data->two_d)
    Pack(data->shape2, s, t, BestIsa(), &data->packed);
  else
    Pack(data->shape1, s, t, BestIsa(), &data->packed);
  const float* post_scale = data->post ? static_cast<const float*>(Tensor(context, node->inputs, 3)->data.data) : nullptr;
  const float* post_offset = data->post ? static_cast<const float*>(Tensor(context, node->inputs, 4)->data.data) : nullptr;
  PackEpilogue(data->two_d ? data->shape2.channels : data->shape1.channels, post_scale, post_offset, data->activation,
               &data->packed);
}

// Whether every parameter input holds data that cannot change (read-only, mapped from the model).
bool ConstantParameters(TfLiteContext* context, TfLiteNode* node) {
  for (int i = 1; i < node->inputs->size; ++i) {
    const TfLiteTensor* t = Tensor(context, node->inputs, i);
    if (t == nullptr || t->allocation_type != kTfLiteMmapRo || t->data.data == nullptr) return false;
  }
  return true;
}

TfLiteStatus Prepare(TfLiteContext* context, TfLiteNode* node) {
  OpData* data = static_cast<OpData*>(node->user_data);
  if (data == nullptr) return Fail(context, "KerasWht", "the op was not initialised");
  const char* op = OpName(data);
  if (!data->error.empty()) return Fail(context, op, data->error);
  if (node->inputs == nullptr || node->outputs == nullptr || node->outputs->size != 1 ||
      (node->inputs->size != contract::kRequiredInputs && node->inputs->size != contract::kMaxInputs))
    return Fail(context, op, "needs 3 inputs (x, scale, threshold) or 5 (and post_scale, post_offset) and 1 output");
  data->post = node->inputs->size == contract::kMaxInputs;
  TfLiteTensor* input = Tensor(context, node->inputs, 0);
  const TfLiteTensor* scale = Tensor(context, node->inputs, 1);
  const TfLiteTensor* threshold = Tensor(context, node->inputs, 2);
  TfLiteTensor* output = Tensor(context, node->outputs, 0);
  if (input == nullptr || output == nullptr) return Fail(context, op, "input or output tensor is missing");
  if (input->type != kTfLiteFloat32 && input->type != kTfLiteInt8)
    return Fail(context, op, Format("input must be float32 or int8, got TfLiteType %d", input->type));
  if (output->type != input->type)
    return Fail(context, op, Format("output type %d differs from input type %d", output->type, input->type));
  if (input->type == kTfLiteInt8) {
    for (const TfLiteTensor* t : {static_cast<const TfLiteTensor*>(input), static_cast<const TfLiteTensor*>(output)})
      if (!(t->params.scale > 0.0f) || !isfinite(t->params.scale) || t->params.zero_point < -128 ||
          t->params.zero_point > 127)
        return Fail(context, op, "int8 input and output need a per-tensor scale > 0 and a zero point in [-128, 127]");
  }
  const TfLiteIntArray* dims = input->dims;
  if (dims == nullptr || dims->size < 1 || (data->two_d && dims->size != 4))
    return Fail(context, op, Format("input has shape %s; it needs %s", DimsString(dims).c_str(),
                                    data->two_d ? "rank 4 (batch, height, width, channels)" : "rank 1 or more"));
  int64_t elements = 1;
  for (int i = 0; i < dims->size; ++i) {
    if (dims->data[i] < 0) return Fail(context, op, Format("input has shape %s", DimsString(dims).c_str()));
    elements *= dims->data[i];
    if (elements > (int64_t{1} << 40)) return Fail(context, op, "input is too large");
  }
  const int64_t channels = dims->data[dims->size - 1];
  if (data->two_d) {
    if (CheckParameter(context, data, scale, "scale",
                       data->per_channel ? std::initializer_list<int64_t>{data->block_h, data->block_w, channels}
                                         : std::initializer_list<int64_t>{data->block_h, data->block_w}) != kTfLiteOk ||
        CheckParameter(context, data, threshold, "threshold",
                       data->per_channel ? std::initializer_list<int64_t>{data->block_h, data->block_w, channels}
                                         : std::initializer_list<int64_t>{data->block_h, data->block_w}) != kTfLiteOk)
      return kTfLiteError;
    data->shape2 = Wht2DShape{dims->data[0], dims->data[1], dims->data[2], dims->data[3], static_cast<int>(data->block_h),
                              static_cast<int>(data->block_w), data->per_channel, data->residual};
  } else {
    if (CheckParameter(context, data, scale, "scale", {data->block}) != kTfLiteOk ||
        CheckParameter(context, data, threshold, "threshold", {data->block}) != kTfLiteOk)
      return kTfLiteError;
    const int64_t out_channels = data->channels > 0 ? data->channels : channels;
    if (out_channels > channels)
      return Fail(context, op, Format("custom option \"%s\" is %lld, more than the input's %lld channels",
                                      contract::kKeyChannels, static_cast<long long>(out_channels),
                                      static_cast<long long>(channels)));
    if (out_channels != channels && data->residual)
      return Fail(context, op, "a residual op cannot change its channel count");
    data->shape1 = Wht1DShape{channels == 0 ? 0 : elements / channels, static_cast<int>(out_channels),
                              static_cast<int>(data->block), data->residual, static_cast<int>(channels)};
  }
  const int64_t out_channels = data->two_d ? channels : data->shape1.channels;
  if (data->post &&
      (CheckParameter(context, data, Tensor(context, node->inputs, 3), "post_scale", {out_channels}) != kTfLiteOk ||
       CheckParameter(context, data, Tensor(context, node->inputs, 4), "post_offset", {out_channels}) != kTfLiteOk))
    return kTfLiteError;
  // Output: the input's shape (with the 1-D op's channel count).
  TfLiteIntArray* out_dims = static_cast<TfLiteIntArray*>(malloc(sizeof(int) * (1 + dims->size)));
  if (out_dims == nullptr) return Fail(context, op, "out of memory");
  out_dims->size = dims->size;
  memcpy(out_dims->data, dims->data, sizeof(int) * dims->size);
  if (!data->two_d) out_dims->data[dims->size - 1] = data->shape1.channels;
  if (context->ResizeTensor(context, output, out_dims) != kTfLiteOk) return Fail(context, op, "cannot resize the output");

  const Isa isa = BestIsa();
  const int64_t items = data->two_d ? WorkItems(data->shape2, isa) : WorkItems(data->shape1, isa);
  const int64_t item_size = data->two_d ? ItemSize(data->shape2, isa) : ItemSize(data->shape1, isa);
  int64_t threads = context->recommended_num_threads > 0 ? context->recommended_num_threads : 1;
  threads = std::min<int64_t>(threads, std::max<int64_t>(1, items * item_size / MinWorkPerThread()));
  data->threads = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(items, 1)));
  const size_t scratch = data->two_d ? ScratchFloats(data->shape2, isa) : ScratchFloats(data->shape1, isa);
  data->scratch.assign(data->threads, std::vector<float>(scratch));
  data->packed_constant = ConstantParameters(context, node);
  if (data->packed_constant) PackParameters(data, context, node);
  return kTfLiteOk;
}

TfLiteStatus Eval(TfLiteContext* context, TfLiteNode* node) {
  OpData* data = static_cast<OpData*>(node->user_data);
  if (data == nullptr || !data->error.empty()) return Fail(context, "KerasWht", "the op was not prepared");
  const char* op = OpName(data);
  const TfLiteTensor* input = Tensor(context, node->inputs, 0);
  const TfLiteTensor* scale = Tensor(context, node->inputs, 1);
  const TfLiteTensor* threshold = Tensor(context, node->inputs, 2);
  TfLiteTensor* output = Tensor(context, node->outputs, 0);
  if (input == nullptr || scale == nullptr || threshold == nullptr || output == nullptr)
    return Fail(context, op, "a tensor is missing");
  bool missing = input->data.data == nullptr || output->data.data == nullptr;
  for (int i = 1; i < node->inputs->size; ++i) {
    const TfLiteTensor* t = Tensor(context, node->inputs, i);
    missing = missing || t == nullptr || t->data.data == nullptr;
  }
  if (missing) {
    const int64_t n = data->two_d ? WorkItems(data->shape2, BestIsa()) : data->shape1.rows;
    if (n > 0) return Fail(context, op, "a tensor has no data");
    return kTfLiteOk;
  }
  if (!data->packed_constant) PackParameters(data, context, node);

  const Isa isa = data->packed.isa;
  const int64_t items = data->two_d ? WorkItems(data->shape2, isa) : WorkItems(data->shape1, isa);
  if (input->type == kTfLiteInt8) {
    // The kernels read and write the int8 tensors themselves: no float copy.
    const Quantization q = {input->params.scale, input->params.zero_point, output->params.scale,
                            output->params.zero_point};
    const int8_t* in = static_cast<const int8_t*>(input->data.data);
    int8_t* out = static_cast<int8_t*>(output->data.data);
    ParallelFor(data->threads, items, [&](int64_t begin, int64_t end, int piece) {
      float* scratch = data->scratch[piece].data();
      if (data->two_d)
        Run(data->shape2, data->packed, q, in, out, begin, end, scratch);
      else
        Run(data->shape1, data->packed, q, in, out, begin, end, scratch);
    });
    return kTfLiteOk;
  }
  const float* in = static_cast<const float*>(input->data.data);
  float* out = static_cast<float*>(output->data.data);
  ParallelFor(data->threads, items, [&](int64_t begin, int64_t end, int piece) {
    float* scratch = data->scratch[piece].data();
    if (data->two_d)
      Run(data->shape2, data->packed, in, out, begin, end, scratch);
    else
      Run(data->shape1, data->packed, in, out, begin, end, scratch);
  });
  return kTfLiteOk;
}

TfLiteRegistration MakeRegistration(bool two_d) {
  TfLiteRegistration r;
  memset(&r, 0, sizeof r);
  r.init = two_d ? Init2D : Init1D;
  r.free = Free;
  r.prepare = Prepare;
  r.invoke = Eval;
  r.custom_name = two_d ? contract::kOp2D : contract::kOp1D;
  r.version = 1;
  r.builtin_code = 32;  // BuiltinOperator_CUSTOM
  return r;
}

}  // namespace
}  // namespace keras_wht

extern "C" {

const TfLiteRegistration* KerasWht_Register_WHT1D(void) {
  static const TfLiteRegistration r = keras_wht::MakeRegistration(false);
  return &r;
}

const TfLiteRegistration* KerasWht_Register_WHT2D(void) {
  static const TfLiteRegistration r = keras_wht::MakeRegistration(true);
  return &r;
}

void KerasWht_RegisterWith(void* resolver, void* add_custom) {
  typedef void (*AddCustom)(void*, const char*, const TfLiteRegistration*, int);
  AddCustom add = reinterpret_cast<AddCustom>(add_custom);
  add(resolver, keras_wht::contract::kOp1D, KerasWht_Register_WHT1D(), 1);
  add(resolver, keras_wht::contract::kOp2D, KerasWht_Register_WHT2D(), 1);
}

int KerasWht_Fwht(float* data, int64_t rows, int n) {
  if (data == nullptr || rows < 0 || n < 1 || n > (1 << 24) || (n & (n - 1)) != 0) return -1;
  keras_wht::Fwht(data, rows, n, keras_wht::BestIsa());
  return 0;
}

const char* KerasWht_Isa(void) { return keras_wht::IsaName(keras_wht::BestIsa()); }

const char* KerasWht_ThreadPool(void) { return keras_wht::ThreadPoolName(); }

}  // extern "C"
