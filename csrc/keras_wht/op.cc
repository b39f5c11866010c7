// The runtime-independent part of the custom ops (op.h): options, checks, packing and the
// parallel run. Nothing here aborts: every failure is a message for the runtime's glue.
#include "keras_wht/op.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include <algorithm>
#include <string>
#include <vector>

#include "flatbuffers/flexbuffers.h"
#include "keras_wht/op_contract.h"
#include "keras_wht/thread_pool.h"

namespace keras_wht {
namespace {


bool IsPowerOfTwo(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

// Reads an integer option; false (with data->error set) when missing or not an integer.
bool IntOption(const flexbuffers::Map& map, const char* key, int64_t* out, Op* data) {
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

bool BoolOption(const flexbuffers::Map& map, const char* key, bool* out, Op* data) {
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

bool BlockOption(const flexbuffers::Map& map, const char* key, int64_t* out, Op* data) {
  if (!IntOption(map, key, out, data)) return false;
  if (!IsPowerOfTwo(*out) || *out > contract::kMaxBlockElements) {
    data->error = Format("custom option \"%s\" must be a power of two up to %lld, got %lld", key,
                         static_cast<long long>(contract::kMaxBlockElements), static_cast<long long>(*out));
    return false;
  }
  return true;
}

bool StringOption(const flexbuffers::Map& map, const char* key, std::string* out, Op* data) {
  const flexbuffers::Reference value = map[key];
  if (!value.IsString()) {
    data->error = Format("custom option \"%s\" must be a string", key);
    return false;
  }
  *out = value.AsString().str();
  return true;
}

void ParseOptionsMap(const void* buffer, size_t length, Op* data) {
  const uint8_t* bytes = static_cast<const uint8_t*>(buffer);
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

std::string DimsString(const std::vector<int64_t>& dims) {
  std::string out = "(";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + ")";
}

// "" when the parameter input t is float32 of shape want, else why not.
std::string CheckParameter(const TensorInfo& t, const char* name, const std::vector<int64_t>& want) {
  if (t.type != ElementType::kFloat32) return Format("%s must be float32", name);
  if (t.dims != want)
    return Format("%s has shape %s, the options and the input need %s", name, DimsString(t.dims).c_str(),
                  DimsString(want).c_str());
  return "";
}

}  // namespace

std::string Format(const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  return buffer;
}

const char* OpName(const Op& op) { return op.two_d ? contract::kOp2D : contract::kOp1D; }

void ParseOptions(const void* options, size_t size, Op* op) {
  op->error.clear();
  ParseOptionsMap(options, size, op);
}

std::string Prepare(Op* data, const std::vector<TensorInfo>& inputs, const TensorInfo& output, int max_threads,
                    std::vector<int64_t>* output_dims) {
  if (!data->error.empty()) return data->error;
  if (inputs.size() != static_cast<size_t>(contract::kRequiredInputs) &&
      inputs.size() != static_cast<size_t>(contract::kMaxInputs))
    return Format("needs 3 inputs (x, scale, threshold) or 5 (and post_scale, post_offset), got %d",
                  static_cast<int>(inputs.size()));
  data->post = inputs.size() == static_cast<size_t>(contract::kMaxInputs);
  const TensorInfo& input = inputs[0];
  const TensorInfo& scale = inputs[1];
  const TensorInfo& threshold = inputs[2];
  if (input.type == ElementType::kOther)
    return Format("input must be float32 or int8, got type %d", input.runtime_type);
  if (output.type != input.type)
    return Format("output type %d differs from input type %d", output.runtime_type, input.runtime_type);
  data->type = input.type;
  if (input.type == ElementType::kInt8) {
    for (const TensorInfo* t : {&input, &output})
      if (!(t->scale > 0.0f) || !isfinite(t->scale) || t->zero_point < -128 || t->zero_point > 127)
        return "int8 input and output need a per-tensor scale > 0 and a zero point in [-128, 127]";
    data->quantization = Quantization{input.scale, input.zero_point, output.scale, output.zero_point};
  }
  const std::vector<int64_t>& dims = input.dims;
  if (dims.empty() || (data->two_d && dims.size() != 4))
    return Format("input has shape %s; it needs %s", DimsString(dims).c_str(),
                  data->two_d ? "rank 4 (batch, height, width, channels)" : "rank 1 or more");
  int64_t elements = 1;
  for (int64_t d : dims) {
    if (d < 0 || d > INT32_MAX) return Format("input has shape %s", DimsString(dims).c_str());
    elements *= d;
    if (elements > (int64_t{1} << 40)) return "input is too large";
  }
  const int64_t channels = dims.back();
  std::string error;
  if (data->two_d) {
    const std::vector<int64_t> want = data->per_channel ? std::vector<int64_t>{data->block_h, data->block_w, channels}
                                                        : std::vector<int64_t>{data->block_h, data->block_w};
    if (!(error = CheckParameter(scale, "scale", want)).empty() ||
        !(error = CheckParameter(threshold, "threshold", want)).empty())
      return error;
    data->shape2 = Wht2DShape{static_cast<int>(dims[0]), static_cast<int>(dims[1]), static_cast<int>(dims[2]),
                              static_cast<int>(dims[3]), static_cast<int>(data->block_h),
                              static_cast<int>(data->block_w), data->per_channel, data->residual};
  } else {
    if (!(error = CheckParameter(scale, "scale", {data->block})).empty() ||
        !(error = CheckParameter(threshold, "threshold", {data->block})).empty())
      return error;
    const int64_t out_channels = data->channels > 0 ? data->channels : channels;
    if (out_channels > channels)
      return Format("custom option \"%s\" is %lld, more than the input's %lld channels", contract::kKeyChannels,
                    static_cast<long long>(out_channels), static_cast<long long>(channels));
    if (out_channels != channels && data->residual) return "a residual op cannot change its channel count";
    data->shape1 = Wht1DShape{channels == 0 ? 0 : elements / channels, static_cast<int>(out_channels),
                              static_cast<int>(data->block), data->residual, static_cast<int>(channels)};
  }
  const int64_t out_channels = data->two_d ? channels : data->shape1.channels;
  if (data->post && (!(error = CheckParameter(inputs[3], "post_scale", {out_channels})).empty() ||
                     !(error = CheckParameter(inputs[4], "post_offset", {out_channels})).empty()))
    return error;
  // The output: the input's shape (with the 1-D op's channel count).
  *output_dims = dims;
  output_dims->back() = out_channels;

  const Isa isa = BestIsa();
  const int64_t items = data->two_d ? WorkItems(data->shape2, isa) : WorkItems(data->shape1, isa);
  const int64_t item_size = data->two_d ? ItemSize(data->shape2, isa) : ItemSize(data->shape1, isa);
  int64_t threads = max_threads > 0 ? max_threads : 1;
  threads = std::min<int64_t>(threads, std::max<int64_t>(1, items * item_size / MinWorkPerThread()));
  data->threads = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(items, 1)));
  const size_t scratch = data->two_d ? ScratchFloats(data->shape2, isa) : ScratchFloats(data->shape1, isa);
  data->scratch.assign(data->threads, std::vector<float>(scratch));
  return "";
}

void PackParameters(Op* data, const float* scale, const float* threshold, const float* post_scale,
                    const float* post_offset) {
  if (data->two_d)
    Pack(data->shape2, scale, threshold, BestIsa(), &data->packed);
  else
    Pack(data->shape1, scale, threshold, BestIsa(), &data->packed);
  PackEpilogue(data->two_d ? data->shape2.channels : data->shape1.channels, data->post ? post_scale : nullptr,
               data->post ? post_offset : nullptr, data->activation, &data->packed);
}

int64_t Items(const Op& op) { return op.two_d ? WorkItems(op.shape2, BestIsa()) : WorkItems(op.shape1, BestIsa()); }

void Eval(Op* data, const void* in, void* out) {
  const int64_t items = Items(*data);
  if (data->type == ElementType::kInt8) {
    // The kernels read and write the int8 tensors themselves: no float copy.
    const int8_t* x = static_cast<const int8_t*>(in);
    int8_t* y = static_cast<int8_t*>(out);
    ParallelFor(data->threads, items, [&](int64_t begin, int64_t end, int piece) {
      float* scratch = data->scratch[piece].data();
      if (data->two_d)
        Run(data->shape2, data->packed, data->quantization, x, y, begin, end, scratch);
      else
        Run(data->shape1, data->packed, data->quantization, x, y, begin, end, scratch);
    });
    return;
  }
  const float* x = static_cast<const float*>(in);
  float* y = static_cast<float*>(out);
  ParallelFor(data->threads, items, [&](int64_t begin, int64_t end, int piece) {
    float* scratch = data->scratch[piece].data();
    if (data->two_d)
      Run(data->shape2, data->packed, x, y, begin, end, scratch);
    else
      Run(data->shape1, data->packed, x, y, begin, end, scratch);
  });
}

}  // namespace keras_wht
