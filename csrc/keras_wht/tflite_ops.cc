// The TFLite glue of KerasWht1D and KerasWht2D (TfLiteRegistration): Init parses the
// options, Prepare checks types and shapes and sizes the output, Eval runs the kernels on
// the interpreter's threads, each through op.h. Every failure is reported through the
// context's error reporter and returned as kTfLiteError; nothing here aborts.
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "keras_wht/custom_ops.h"
#include "keras_wht/kernels.h"
#include "keras_wht/op.h"
#include "keras_wht/op_contract.h"
#include "keras_wht/thread_pool.h"

namespace keras_wht {
namespace {

// The op (op.h) and what the glue keeps of its node.
struct OpData {
  Op op;
  bool packed_constant = false;
};

TfLiteStatus Fail(TfLiteContext* context, const char* op, const std::string& message) {
  if (context != nullptr && context->ReportError != nullptr)
    context->ReportError(context, "%s: %s", op, message.c_str());
  return kTfLiteError;
}

void* Init(const char* buffer, size_t length, bool two_d) {
  OpData* data = new OpData();
  data->op.two_d = two_d;
  ParseOptions(buffer, length, &data->op);
  return data;
}

void* Init1D(TfLiteContext*, const char* buffer, size_t length) { return Init(buffer, length, false); }
void* Init2D(TfLiteContext*, const char* buffer, size_t length) { return Init(buffer, length, true); }

void Free(TfLiteContext*, void* buffer) { delete static_cast<OpData*>(buffer); }

TfLiteTensor* Tensor(TfLiteContext* context, const TfLiteIntArray* indices, int i) {
  if (indices == nullptr || i >= indices->size) return nullptr;
  const int index = indices->data[i];
  if (index < 0 || static_cast<size_t>(index) >= context->tensors_size) return nullptr;
  return &context->tensors[index];
}

TensorInfo Info(const TfLiteTensor* t) {
  TensorInfo info;
  info.runtime_type = t->type;
  info.type = t->type == kTfLiteFloat32 ? ElementType::kFloat32
              : t->type == kTfLiteInt8  ? ElementType::kInt8
                                        : ElementType::kOther;
  for (int i = 0; t->dims != nullptr && i < t->dims->size; ++i) info.dims.push_back(t->dims->data[i]);
  info.scale = t->params.scale;
  info.zero_point = t->params.zero_point;
  return info;
}

const float* FloatData(TfLiteContext* context, TfLiteNode* node, int i) {
  return i < node->inputs->size ? static_cast<const float*>(Tensor(context, node->inputs, i)->data.data) : nullptr;
}

void PackInputs(OpData* data, TfLiteContext* context, TfLiteNode* node) {
  PackParameters(&data->op, FloatData(context, node, 1), FloatData(context, node, 2), FloatData(context, node, 3),
                 FloatData(context, node, 4));
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
  const char* op = OpName(data->op);
  if (node->inputs == nullptr || node->outputs == nullptr || node->outputs->size != 1)
    return Fail(context, op, "needs 3 inputs (x, scale, threshold) or 5 (and post_scale, post_offset) and 1 output");
  static const char* const kNames[] = {"x", "scale", "threshold", "post_scale", "post_offset"};
  std::vector<TensorInfo> inputs;
  for (int i = 0; i < node->inputs->size; ++i) {
    const TfLiteTensor* t = Tensor(context, node->inputs, i);
    if (t == nullptr) return Fail(context, op, std::string("input ") + (i < 5 ? kNames[i] : "") + " is missing");
    inputs.push_back(Info(t));
  }
  TfLiteTensor* output = Tensor(context, node->outputs, 0);
  if (output == nullptr) return Fail(context, op, "the output tensor is missing");
  std::vector<int64_t> dims;
  const int threads = context->recommended_num_threads > 0 ? context->recommended_num_threads : 1;
  const std::string error = keras_wht::Prepare(&data->op, inputs, Info(output), threads, &dims);
  if (!error.empty()) return Fail(context, op, error);
  TfLiteIntArray* out_dims = static_cast<TfLiteIntArray*>(malloc(sizeof(int) * (1 + dims.size())));
  if (out_dims == nullptr) return Fail(context, op, "out of memory");
  out_dims->size = static_cast<int>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) out_dims->data[i] = static_cast<int>(dims[i]);
  if (context->ResizeTensor(context, output, out_dims) != kTfLiteOk)
    return Fail(context, op, "cannot resize the output");
  data->packed_constant = ConstantParameters(context, node);
  if (data->packed_constant) PackInputs(data, context, node);
  return kTfLiteOk;
}

TfLiteStatus Eval(TfLiteContext* context, TfLiteNode* node) {
  OpData* data = static_cast<OpData*>(node->user_data);
  if (data == nullptr || !data->op.error.empty()) return Fail(context, "KerasWht", "the op was not prepared");
  const char* op = OpName(data->op);
  const TfLiteTensor* input = Tensor(context, node->inputs, 0);
  TfLiteTensor* output = Tensor(context, node->outputs, 0);
  if (input == nullptr || output == nullptr) return Fail(context, op, "a tensor is missing");
  bool missing = input->data.data == nullptr || output->data.data == nullptr;
  for (int i = 1; i < node->inputs->size; ++i) {
    const TfLiteTensor* t = Tensor(context, node->inputs, i);
    missing = missing || t == nullptr || t->data.data == nullptr;
  }
  if (missing) {
    if (Items(data->op) > 0) return Fail(context, op, "a tensor has no data");
    return kTfLiteOk;
  }
  if (!data->packed_constant) PackInputs(data, context, node);
  keras_wht::Eval(&data->op, input->data.data, output->data.data);
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
