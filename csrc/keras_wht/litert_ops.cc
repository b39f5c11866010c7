// The LiteRT glue of KerasWht1D and KerasWht2D: the ops as LiteRtCustomOpKernels for
// LiteRT's C API (a CompiledModel), through op.h like the TFLite glue.
//
// LiteRT calls a custom kernel without saying which node it runs: Init gets a node's
// options, GetOutputLayouts its inputs' shapes and Run its tensor buffers, each with the
// user_data of the registration, shared by every node of that op; the buffers carry no
// quantization. So KerasWht_AddLiteRtCustomOps walks the model first and keeps every
// KerasWht node's options, quantization and constant parameters. Run finds its node by
// the parameter buffers' contents (cached by their addresses), GetOutputLayouts by the
// parameters' shapes and the input's channels. Nodes those cannot tell apart must compute
// the same thing, or the walk refuses the model.
//
// The LiteRT functions are weak references: the library links without libLiteRt.so, and
// KerasWht_AddLiteRtCustomOps says so when the app has not linked it.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "keras_wht/custom_ops.h"
#include "keras_wht/litert_abi.h"
#include "keras_wht/op.h"
#include "keras_wht/op_contract.h"

#pragma weak LiteRtAddCustomOpKernelOption
#pragma weak LiteRtGetNumModelSubgraphs
#pragma weak LiteRtGetModelSubgraph
#pragma weak LiteRtGetNumSubgraphOps
#pragma weak LiteRtGetSubgraphOp
#pragma weak LiteRtGetCustomCode
#pragma weak LiteRtGetCustomOptions
#pragma weak LiteRtGetNumOpInputs
#pragma weak LiteRtGetOpInput
#pragma weak LiteRtGetNumOpOutputs
#pragma weak LiteRtGetOpOutput
#pragma weak LiteRtGetTensorWeights
#pragma weak LiteRtGetWeightsBytes
#pragma weak LiteRtGetTensorTypeId
#pragma weak LiteRtGetRankedTensorType
#pragma weak LiteRtGetQuantizationTypeId
#pragma weak LiteRtGetPerTensorQuantization
#pragma weak LiteRtGetTensorBufferTensorType
#pragma weak LiteRtLockTensorBuffer
#pragma weak LiteRtUnlockTensorBuffer

struct KerasWht_LiteRtOps;

namespace keras_wht {
namespace {

// LiteRT wraps each tensor a custom op reads in a tensor buffer, which must be aligned to
// this (LITERT_HOST_MEMORY_BUFFER_ALIGNMENT); the converter aligns the constants to it.
constexpr int kAlignment = 64;

// One KerasWht node of the model, as the walk found it.
struct Node {
  bool two_d = false;
  std::string where;  // "subgraph S, op K", for messages
  std::vector<uint8_t> options;
  Op op;  // the options parsed
  TensorInfo input, output;  // type and quantization (and the model's shapes)
  std::vector<std::vector<int64_t>> parameter_dims;  // inputs 1..
  std::vector<std::vector<uint8_t>> parameters;      // their bytes
};

// A node prepared for one set of parameter buffers and one input shape.
struct Instance {
  const Node* node;
  std::vector<const void*> parameters;
  std::vector<int64_t> dims;
  Op op;
};

struct Kernel {
  KerasWht_LiteRtOps* ops;
  bool two_d;
};

std::vector<int64_t> Dims(const LiteRtLayout& layout) {
  std::vector<int64_t> dims;
  for (unsigned i = 0; i < layout.rank && i < KERAS_WHT_LITERT_MAX_RANK; ++i) dims.push_back(layout.dimensions[i]);
  return dims;
}

TensorInfo Info(const LiteRtRankedTensorType& type) {
  TensorInfo info;
  info.runtime_type = type.element_type;
  info.type = type.element_type == kKerasWhtLiteRtElementFloat32 ? ElementType::kFloat32
              : type.element_type == kKerasWhtLiteRtElementInt8  ? ElementType::kInt8
                                                                 : ElementType::kOther;
  info.dims = Dims(type.layout);
  return info;
}

// A model tensor's type and, for int8, its per-tensor quantization; "" or why not.
std::string Describe(LiteRtTensor tensor, TensorInfo* info) {
  int type_id = -1;
  LiteRtRankedTensorType type;
  if (LiteRtGetTensorTypeId(tensor, &type_id) != kKerasWhtLiteRtOk || type_id != kKerasWhtLiteRtRankedTensorType ||
      LiteRtGetRankedTensorType(tensor, &type) != kKerasWhtLiteRtOk)
    return "a tensor without a fixed rank";
  *info = Info(type);
  if (info->type != ElementType::kInt8) return "";
  int quantization = -1;
  LiteRtQuantizationPerTensor q{};
  if (LiteRtGetQuantizationTypeId(tensor, &quantization) != kKerasWhtLiteRtOk ||
      quantization != kKerasWhtLiteRtQuantizationPerTensor ||
      LiteRtGetPerTensorQuantization(tensor, &q) != kKerasWhtLiteRtOk)
    return "an int8 tensor without per-tensor quantization";
  info->scale = q.scale;
  info->zero_point = static_cast<int32_t>(q.zero_point);
  return "";
}

// What the op `litert_op` (KerasWht2D if two_d, else KerasWht1D) needs at run time: "" and
// *node, or why it cannot run.
std::string ReadNode(LiteRtOp litert_op, bool two_d, Node* node) {
  node->two_d = two_d;
  node->op.two_d = two_d;
  const uint8_t* options = nullptr;
  int32_t size = 0;
  if (LiteRtGetCustomOptions(litert_op, &options, &size) != kKerasWhtLiteRtOk)
    return "its custom options are unreadable";
  if (options != nullptr && size > 0) node->options.assign(options, options + size);
  ParseOptions(node->options.data(), node->options.size(), &node->op);
  if (!node->op.error.empty()) return node->op.error;
  LiteRtParamIndex inputs = 0, outputs = 0;
  if (LiteRtGetNumOpInputs(litert_op, &inputs) != kKerasWhtLiteRtOk ||
      LiteRtGetNumOpOutputs(litert_op, &outputs) != kKerasWhtLiteRtOk || outputs != 1 ||
      (inputs != static_cast<size_t>(contract::kRequiredInputs) && inputs != static_cast<size_t>(contract::kMaxInputs)))
    return "it needs 3 inputs (x, scale, threshold) or 5 (and post_scale, post_offset) and 1 output";
  LiteRtTensor tensor = nullptr;
  std::string error;
  if (LiteRtGetOpInput(litert_op, 0, &tensor) != kKerasWhtLiteRtOk ||
      !(error = Describe(tensor, &node->input)).empty() ||
      LiteRtGetOpOutput(litert_op, 0, &tensor) != kKerasWhtLiteRtOk ||
      !(error = Describe(tensor, &node->output)).empty())
    return "its input or output is " + (error.empty() ? std::string("unreadable") : error);
  for (LiteRtParamIndex i = 1; i < inputs; ++i) {
    TensorInfo info;
    LiteRtWeights weights = nullptr;
    const void* bytes = nullptr;
    size_t size_bytes = 0;
    if (LiteRtGetOpInput(litert_op, i, &tensor) != kKerasWhtLiteRtOk || !Describe(tensor, &info).empty() ||
        LiteRtGetTensorWeights(tensor, &weights) != kKerasWhtLiteRtOk ||
        LiteRtGetWeightsBytes(weights, &bytes, &size_bytes) != kKerasWhtLiteRtOk)
      return Format("its input %d is unreadable", static_cast<int>(i));
    if (bytes == nullptr || size_bytes == 0)
      return Format("its input %d is not a constant (LiteRT's kernels get no node to tell them apart by other means)",
                    static_cast<int>(i));
    if (reinterpret_cast<uintptr_t>(bytes) % kAlignment != 0)
      return Format("its input %d is not %d-byte aligned in the model, which LiteRT needs of a custom op's constants "
                    "(\"Unaligned host memory pointer\"): convert the model again with keras-wht, which aligns them",
                    static_cast<int>(i), kAlignment);
    node->parameter_dims.push_back(info.dims);
    node->parameters.emplace_back(static_cast<const uint8_t*>(bytes), static_cast<const uint8_t*>(bytes) + size_bytes);
  }
  return "";
}

bool SameQuantization(const TensorInfo& a, const TensorInfo& b) {
  return a.type == b.type && (a.type != ElementType::kInt8 || (a.scale == b.scale && a.zero_point == b.zero_point));
}

// Whether a and b compute the same function of the same input.
bool Equivalent(const Node& a, const Node& b) {
  return a.options == b.options && SameQuantization(a.input, b.input) && SameQuantization(a.output, b.output);
}

int64_t OutputChannels(const Node& node) { return node.output.dims.empty() ? -1 : node.output.dims.back(); }

// What GetOutputLayouts can tell a node by: the op, the parameters' shapes, the input's channels.
bool SameShapes(const Node& a, const Node& b) {
  return a.two_d == b.two_d && a.parameter_dims == b.parameter_dims && !a.input.dims.empty() &&
         !b.input.dims.empty() && a.input.dims.back() == b.input.dims.back();
}

void Report(const char* op, const std::string& message) {
  fprintf(stderr, "keras-wht: %s (LiteRT custom op): %s\n", op, message.c_str());
}

}  // namespace
}  // namespace keras_wht

struct KerasWht_LiteRtOps {
  std::vector<keras_wht::Node> nodes;
  keras_wht::Kernel kernels[2];
  int threads = 1;
  std::mutex mutex;  // Run and GetOutputLayouts of several compiled models take turns
  std::vector<std::unique_ptr<keras_wht::Instance>> instances;
};

namespace keras_wht {
namespace {

LiteRtStatus Init(void*, const void*, size_t) { return kKerasWhtLiteRtOk; }  // the walk read the options
LiteRtStatus Destroy(void*) { return kKerasWhtLiteRtOk; }                    // KerasWht_DestroyLiteRtCustomOps frees

LiteRtStatus GetOutputLayouts(void* user_data, size_t num_inputs, const LiteRtLayout* input_layouts,
                              size_t num_outputs, LiteRtLayout* output_layouts) {
  const Kernel& kernel = *static_cast<Kernel*>(user_data);
  const char* name = kernel.two_d ? contract::kOp2D : contract::kOp1D;
  std::lock_guard<std::mutex> lock(kernel.ops->mutex);
  if (num_inputs < 1 || num_outputs != 1 || input_layouts[0].rank < 1) {
    Report(name, "needs an input of rank 1 or more and 1 output");
    return kKerasWhtLiteRtErrorInvalidArgument;
  }
  const std::vector<int64_t> x = Dims(input_layouts[0]);
  for (const Node& node : kernel.ops->nodes) {
    if (node.two_d != kernel.two_d || node.parameter_dims.size() + 1 != num_inputs || node.input.dims.empty() ||
        node.input.dims.back() != x.back())
      continue;
    bool match = true;
    for (size_t i = 1; i < num_inputs && match; ++i) match = Dims(input_layouts[i]) == node.parameter_dims[i - 1];
    if (!match) continue;
    output_layouts[0] = input_layouts[0];
    output_layouts[0].has_strides = 0;
    output_layouts[0].dimensions[x.size() - 1] = static_cast<int32_t>(OutputChannels(node));
    return kKerasWhtLiteRtOk;
  }
  Report(name, "no node of the model given to KerasWht_AddLiteRtCustomOps has these input shapes");
  return kKerasWhtLiteRtErrorNotFound;
}

// Locks LiteRT tensor buffers for the scope.
class Locks {
 public:
  ~Locks() {
    for (LiteRtTensorBuffer b : locked_) LiteRtUnlockTensorBuffer(b);
  }
  void* Lock(LiteRtTensorBuffer buffer, int mode) {
    void* address = nullptr;
    if (LiteRtLockTensorBuffer(buffer, &address, mode) != kKerasWhtLiteRtOk) return nullptr;
    locked_.push_back(buffer);
    return address;
  }

 private:
  std::vector<LiteRtTensorBuffer> locked_;
};

size_t Elements(const std::vector<int64_t>& dims) {
  size_t n = 1;
  for (int64_t d : dims) n *= d > 0 ? static_cast<size_t>(d) : 0;
  return n;
}

LiteRtStatus Run(void* user_data, size_t num_inputs, const LiteRtTensorBuffer* inputs, size_t num_outputs,
                 LiteRtTensorBuffer* outputs) {
  const Kernel& kernel = *static_cast<Kernel*>(user_data);
  KerasWht_LiteRtOps& ops = *kernel.ops;
  const char* name = kernel.two_d ? contract::kOp2D : contract::kOp1D;
  std::lock_guard<std::mutex> lock(ops.mutex);
  if (num_outputs != 1 || num_inputs < 1) {
    Report(name, "needs inputs and 1 output");
    return kKerasWhtLiteRtErrorInvalidArgument;
  }
  // Inputs, then the output: their types and host memory.
  std::vector<TensorInfo> types(num_inputs + 1);
  std::vector<void*> addresses(num_inputs + 1);
  Locks locks;
  for (size_t i = 0; i <= num_inputs; ++i) {
    LiteRtTensorBuffer buffer = i < num_inputs ? inputs[i] : outputs[0];
    LiteRtRankedTensorType type;
    if (LiteRtGetTensorBufferTensorType(buffer, &type) != kKerasWhtLiteRtOk) {
      Report(name, "a tensor buffer has no ranked tensor type");
      return kKerasWhtLiteRtErrorRuntimeFailure;
    }
    types[i] = Info(type);
    addresses[i] = locks.Lock(buffer, i < num_inputs ? kKerasWhtLiteRtLockRead : kKerasWhtLiteRtLockWrite);
    if (addresses[i] == nullptr && Elements(types[i].dims) > 0) {
      Report(name, "a tensor buffer cannot be locked to host memory");
      return kKerasWhtLiteRtErrorRuntimeFailure;
    }
  }
  const std::vector<const void*> parameters(addresses.begin() + 1, addresses.end() - 1);

  Instance* instance = nullptr;
  for (const auto& candidate : ops.instances) {
    if (candidate->node->two_d == kernel.two_d && candidate->parameters == parameters &&
        candidate->dims == types[0].dims && candidate->op.type == types[0].type) {
      instance = candidate.get();
      break;
    }
  }
  if (instance == nullptr) {
    const Node* found = nullptr;
    for (const Node& node : ops.nodes) {
      if (node.two_d != kernel.two_d || node.parameters.size() != parameters.size() || node.input.type != types[0].type)
        continue;
      bool match = true;
      for (size_t i = 0; i < parameters.size() && match; ++i)
        match = Elements(types[i + 1].dims) * 4 == node.parameters[i].size() && parameters[i] != nullptr &&
                memcmp(parameters[i], node.parameters[i].data(), node.parameters[i].size()) == 0;
      if (match) {
        found = &node;
        break;
      }
    }
    if (found == nullptr) {
      Report(name, "no node of the model given to KerasWht_AddLiteRtCustomOps has these parameters");
      return kKerasWhtLiteRtErrorNotFound;
    }
    std::unique_ptr<Instance> made(new Instance{found, parameters, types[0].dims, found->op});
    std::vector<TensorInfo> infos(types.begin(), types.end() - 1);
    infos[0].scale = found->input.scale;
    infos[0].zero_point = found->input.zero_point;
    TensorInfo output = types.back();
    output.scale = found->output.scale;
    output.zero_point = found->output.zero_point;
    std::vector<int64_t> dims;
    const std::string error = Prepare(&made->op, infos, output, ops.threads, &dims);
    if (error.empty() && dims != output.dims) {
      Report(name, "the output buffer's shape is not the op's");
      return kKerasWhtLiteRtErrorInvalidArgument;
    }
    if (!error.empty()) {
      Report(name, found->where + ": " + error);
      return kKerasWhtLiteRtErrorInvalidArgument;
    }
    const float* p[4] = {nullptr, nullptr, nullptr, nullptr};
    for (size_t i = 0; i < parameters.size() && i < 4; ++i) p[i] = static_cast<const float*>(parameters[i]);
    PackParameters(&made->op, p[0], p[1], p[2], p[3]);
    instance = made.get();
    ops.instances.push_back(std::move(made));
  }
  if (Items(instance->op) > 0) Eval(&instance->op, addresses[0], addresses.back());
  return kKerasWhtLiteRtOk;
}

const LiteRtCustomOpKernel kKernel = {Init, GetOutputLayouts, Run, Destroy};

bool LiteRtLinked() {
  return LiteRtAddCustomOpKernelOption && LiteRtGetNumModelSubgraphs && LiteRtGetModelSubgraph &&
         LiteRtGetNumSubgraphOps && LiteRtGetSubgraphOp && LiteRtGetCustomCode && LiteRtGetCustomOptions &&
         LiteRtGetNumOpInputs && LiteRtGetOpInput && LiteRtGetNumOpOutputs && LiteRtGetOpOutput &&
         LiteRtGetTensorWeights && LiteRtGetWeightsBytes && LiteRtGetTensorTypeId && LiteRtGetRankedTensorType &&
         LiteRtGetQuantizationTypeId && LiteRtGetPerTensorQuantization && LiteRtGetTensorBufferTensorType &&
         LiteRtLockTensorBuffer && LiteRtUnlockTensorBuffer;
}

// Every KerasWht node of the model into ops->nodes: "" or why the model cannot run.
std::string Walk(LiteRtModel model, KerasWht_LiteRtOps* ops) {
  LiteRtParamIndex subgraphs = 0;
  if (LiteRtGetNumModelSubgraphs(model, &subgraphs) != kKerasWhtLiteRtOk) return "the model's subgraphs are unreadable";
  for (LiteRtParamIndex s = 0; s < subgraphs; ++s) {
    LiteRtSubgraph subgraph = nullptr;
    LiteRtParamIndex count = 0;
    if (LiteRtGetModelSubgraph(model, s, &subgraph) != kKerasWhtLiteRtOk ||
        LiteRtGetNumSubgraphOps(subgraph, &count) != kKerasWhtLiteRtOk)
      return Format("subgraph %d is unreadable", static_cast<int>(s));
    for (LiteRtParamIndex k = 0; k < count; ++k) {
      LiteRtOp litert_op = nullptr;
      const char* code = nullptr;
      if (LiteRtGetSubgraphOp(subgraph, k, &litert_op) != kKerasWhtLiteRtOk) return "an op is unreadable";
      if (LiteRtGetCustomCode(litert_op, &code) != kKerasWhtLiteRtOk || code == nullptr) continue;  // a builtin op
      const bool one_d = strcmp(code, contract::kOp1D) == 0, two_d = strcmp(code, contract::kOp2D) == 0;
      if (!one_d && !two_d) continue;
      Node node;
      node.where = Format("subgraph %d, op %d (%s)", static_cast<int>(s), static_cast<int>(k), code);
      const std::string error = ReadNode(litert_op, two_d, &node);
      if (!error.empty()) return node.where + ": " + error;
      ops->nodes.push_back(std::move(node));
    }
  }
  // The nodes Run or GetOutputLayouts cannot tell apart must give the same results.
  for (size_t i = 0; i < ops->nodes.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const Node& a = ops->nodes[j];
      const Node& b = ops->nodes[i];
      if (a.two_d == b.two_d && a.parameters == b.parameters && a.input.type == b.input.type && !Equivalent(a, b))
        return a.where + " and " + b.where +
               " have the same parameters but other options or quantization; LiteRT's custom kernels "
               "are not told which node they run, so keras-wht cannot tell these two apart";
      if (SameShapes(a, b) && OutputChannels(a) != OutputChannels(b))
        return a.where + " and " + b.where +
               " have inputs of the same shapes but outputs of different widths; LiteRT's custom kernels "
               "are not told which node they run, so keras-wht cannot size their outputs";
    }
  }
  return "";
}

}  // namespace
}  // namespace keras_wht

extern "C" {

KerasWht_LiteRtOps* KerasWht_AddLiteRtCustomOps(void* litert_options, void* litert_model, int num_threads,
                                                char* error, size_t error_size) {
  using keras_wht::Format;
  std::string message;
  KerasWht_LiteRtOps* ops = nullptr;
  if (!keras_wht::LiteRtLinked()) {
    message = "LiteRT's C API is not in this process: link the app with libLiteRt.so";
  } else if (litert_options == nullptr || litert_model == nullptr) {
    message = Format("litert_options (%p) and litert_model (%p) must not be null", litert_options, litert_model);
  } else if (num_threads < 1 || num_threads > 1024) {
    message = Format("num_threads must be 1 to 1024, got %d", num_threads);
  } else {
    ops = new KerasWht_LiteRtOps();
    ops->threads = num_threads;
    ops->kernels[0] = keras_wht::Kernel{ops, false};
    ops->kernels[1] = keras_wht::Kernel{ops, true};
    message = keras_wht::Walk(static_cast<LiteRtModel>(litert_model), ops);
    LiteRtOptions options = static_cast<LiteRtOptions>(litert_options);
    for (int two_d = 0; two_d < 2 && message.empty(); ++two_d) {
      const char* name = two_d ? keras_wht::contract::kOp2D : keras_wht::contract::kOp1D;
      const LiteRtStatus status =
          LiteRtAddCustomOpKernelOption(options, name, 1, &keras_wht::kKernel, &ops->kernels[two_d]);
      if (status != kKerasWhtLiteRtOk)
        message = Format("LiteRtAddCustomOpKernelOption(%s) failed: status %d", name, status);
    }
  }
  if (message.empty()) return ops;
  delete ops;
  if (error != nullptr && error_size > 0)
    snprintf(error, error_size, "KerasWht_AddLiteRtCustomOps: %s", message.c_str());
  return nullptr;
}

void KerasWht_DestroyLiteRtCustomOps(KerasWht_LiteRtOps* ops) { delete ops; }

}  // extern "C"
