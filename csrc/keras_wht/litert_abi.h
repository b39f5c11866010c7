// The part of LiteRT's C API (litert/c/*.h in google-ai-edge/LiteRT) that keras-wht uses:
// the custom-op kernel interface and the model walk of the LiteRT adapter (litert_ops.cc),
// and what the device pass's C++ runner (tests/device/cpp/litert_run.cc) calls. The
// declarations are keras-wht's own, written for the libLiteRt.so of the ai-edge-litert 2.3
// wheel and checked against it: the struct sizes below, and at run time by the runner's
// guard after LiteRtGetRankedTensorType. No package here ships LiteRT's headers; an app
// that has them includes those instead and needs nothing from this file.
#ifndef KERAS_WHT_LITERT_ABI_H_
#define KERAS_WHT_LITERT_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Handles (opaque pointers).
typedef struct LiteRtEnvironmentT* LiteRtEnvironment;
typedef struct LiteRtModelT* LiteRtModel;
typedef struct LiteRtSubgraphT* LiteRtSubgraph;
typedef struct LiteRtOpT* LiteRtOp;
typedef struct LiteRtSignatureT* LiteRtSignature;
typedef struct LiteRtTensorT* LiteRtTensor;
typedef struct LiteRtWeightsT* LiteRtWeights;
typedef struct LiteRtOptionsT* LiteRtOptions;
typedef struct LiteRtCompiledModelT* LiteRtCompiledModel;
typedef struct LiteRtTensorBufferT* LiteRtTensorBuffer;
typedef struct LiteRtTensorBufferRequirementsT* LiteRtTensorBufferRequirements;
typedef struct LiteRtEnvOptionT LiteRtEnvOption;  // only ever passed as a null array

typedef int LiteRtStatus;  // a C enum: 0 is OK
typedef size_t LiteRtParamIndex;
typedef int LiteRtHwAcceleratorSet;

// Values of the C enums used here.
enum {
  kKerasWhtLiteRtOk = 0,
  kKerasWhtLiteRtErrorInvalidArgument = 1,
  kKerasWhtLiteRtErrorRuntimeFailure = 3,
  kKerasWhtLiteRtErrorUnsupported = 5,
  kKerasWhtLiteRtErrorNotFound = 6,
  kKerasWhtLiteRtHwAcceleratorCpu = 1,
  kKerasWhtLiteRtRankedTensorType = 0,
  kKerasWhtLiteRtElementFloat32 = 1,
  kKerasWhtLiteRtElementInt8 = 9,
  kKerasWhtLiteRtQuantizationPerTensor = 1,
  kKerasWhtLiteRtLockRead = 0,
  kKerasWhtLiteRtLockWrite = 1,
};

#define KERAS_WHT_LITERT_MAX_RANK 8

// A tensor's shape (68 bytes) and its type (72 bytes, what LiteRtGetRankedTensorType copies).
typedef struct {
  unsigned int rank : 7;
  unsigned int has_strides : 1;
  int32_t dimensions[KERAS_WHT_LITERT_MAX_RANK];
  uint32_t strides[KERAS_WHT_LITERT_MAX_RANK];
} LiteRtLayout;
typedef struct {
  int element_type;
  LiteRtLayout layout;
} LiteRtRankedTensorType;

typedef struct {
  float scale;
  int64_t zero_point;
} LiteRtQuantizationPerTensor;

// A custom op's kernel (litert/c/litert_custom_op_kernel.h). LiteRT calls Init once per
// node with its custom options, GetOutputLayouts when the inputs' shapes are set, Run at
// each invocation and Destroy once per node, each with the user_data it was registered
// with and none with the node's identity.
typedef struct {
  LiteRtStatus (*Init)(void* user_data, const void* init_data, size_t init_data_size);
  LiteRtStatus (*GetOutputLayouts)(void* user_data, size_t num_inputs, const LiteRtLayout* input_layouts,
                                   size_t num_outputs, LiteRtLayout* output_layouts);
  LiteRtStatus (*Run)(void* user_data, size_t num_inputs, const LiteRtTensorBuffer* inputs, size_t num_outputs,
                      LiteRtTensorBuffer* outputs);
  LiteRtStatus (*Destroy)(void* user_data);
} LiteRtCustomOpKernel;

#ifdef __cplusplus
static_assert(sizeof(LiteRtLayout) == 68, "LiteRtLayout is 68 bytes in LiteRT 2.3");
static_assert(offsetof(LiteRtLayout, dimensions) == 4, "LiteRtLayout's dimensions follow one word of bit fields");
static_assert(sizeof(LiteRtRankedTensorType) == 72, "LiteRtRankedTensorType is 72 bytes in LiteRT 2.3");
static_assert(sizeof(LiteRtQuantizationPerTensor) == 16, "LiteRtQuantizationPerTensor is 16 bytes");
#endif

// Environment, model and its graph.
LiteRtStatus LiteRtCreateEnvironment(int num_options, const LiteRtEnvOption* options, LiteRtEnvironment* environment);
void LiteRtDestroyEnvironment(LiteRtEnvironment environment);
// 2.3 takes the environment first (older releases did not).
LiteRtStatus LiteRtCreateModelFromFile(LiteRtEnvironment environment, const char* filename, LiteRtModel* model);
void LiteRtDestroyModel(LiteRtModel model);
LiteRtStatus LiteRtGetNumModelSubgraphs(LiteRtModel model, LiteRtParamIndex* num_subgraphs);
LiteRtStatus LiteRtGetModelSubgraph(LiteRtModel model, LiteRtParamIndex subgraph_index, LiteRtSubgraph* subgraph);
LiteRtStatus LiteRtGetNumSubgraphOps(LiteRtSubgraph subgraph, LiteRtParamIndex* num_ops);
LiteRtStatus LiteRtGetSubgraphOp(LiteRtSubgraph subgraph, LiteRtParamIndex op_index, LiteRtOp* op);
LiteRtStatus LiteRtGetCustomCode(LiteRtOp op, const char** code);  // an error for a builtin op
LiteRtStatus LiteRtGetCustomOptions(LiteRtOp op, const uint8_t** custom_options, int32_t* size);
LiteRtStatus LiteRtGetNumOpInputs(LiteRtOp op, LiteRtParamIndex* num_inputs);
LiteRtStatus LiteRtGetOpInput(LiteRtOp op, LiteRtParamIndex input_index, LiteRtTensor* input);
LiteRtStatus LiteRtGetNumOpOutputs(LiteRtOp op, LiteRtParamIndex* num_outputs);
LiteRtStatus LiteRtGetOpOutput(LiteRtOp op, LiteRtParamIndex output_index, LiteRtTensor* output);
LiteRtStatus LiteRtGetTensorWeights(LiteRtTensor tensor, LiteRtWeights* weights);
LiteRtStatus LiteRtGetWeightsBytes(LiteRtWeights weights, const void** addr, size_t* size);
LiteRtStatus LiteRtGetTensorTypeId(LiteRtTensor tensor, int* type_id);
LiteRtStatus LiteRtGetRankedTensorType(LiteRtTensor tensor, LiteRtRankedTensorType* type);
LiteRtStatus LiteRtGetQuantizationTypeId(LiteRtTensor tensor, int* quantization_type_id);
LiteRtStatus LiteRtGetPerTensorQuantization(LiteRtTensor tensor, LiteRtQuantizationPerTensor* quantization);

// Signatures.
LiteRtStatus LiteRtGetNumModelSignatures(LiteRtModel model, LiteRtParamIndex* num_signatures);
LiteRtStatus LiteRtGetModelSignature(LiteRtModel model, LiteRtParamIndex signature_index, LiteRtSignature* signature);
LiteRtStatus LiteRtGetNumSignatureInputs(LiteRtSignature signature, LiteRtParamIndex* num_inputs);
LiteRtStatus LiteRtGetNumSignatureOutputs(LiteRtSignature signature, LiteRtParamIndex* num_outputs);
LiteRtStatus LiteRtGetSignatureInputName(LiteRtSignature signature, LiteRtParamIndex index, const char** name);
LiteRtStatus LiteRtGetSignatureOutputName(LiteRtSignature signature, LiteRtParamIndex index, const char** name);
LiteRtStatus LiteRtGetSignatureInputTensorByIndex(LiteRtSignature signature, LiteRtParamIndex index,
                                                  LiteRtTensor* tensor);
LiteRtStatus LiteRtGetSignatureOutputTensorByIndex(LiteRtSignature signature, LiteRtParamIndex index,
                                                   LiteRtTensor* tensor);

// Options and the compiled model.
LiteRtStatus LiteRtCreateOptions(LiteRtOptions* options);
void LiteRtDestroyOptions(LiteRtOptions options);
LiteRtStatus LiteRtSetOptionsHardwareAccelerators(LiteRtOptions options, LiteRtHwAcceleratorSet accelerators);
LiteRtStatus LiteRtAddCustomOpKernelOption(LiteRtOptions options, const char* custom_op_name, int custom_op_version,
                                           const LiteRtCustomOpKernel* custom_op_kernel,
                                           void* custom_op_kernel_user_data);
LiteRtStatus LiteRtCreateCompiledModel(LiteRtEnvironment environment, LiteRtModel model, LiteRtOptions options,
                                       LiteRtCompiledModel* compiled_model);
void LiteRtDestroyCompiledModel(LiteRtCompiledModel compiled_model);
LiteRtStatus LiteRtGetCompiledModelInputBufferRequirements(LiteRtCompiledModel compiled_model,
                                                           LiteRtParamIndex signature_index,
                                                           LiteRtParamIndex input_index,
                                                           LiteRtTensorBufferRequirements* requirements);
LiteRtStatus LiteRtGetCompiledModelOutputBufferRequirements(LiteRtCompiledModel compiled_model,
                                                            LiteRtParamIndex signature_index,
                                                            LiteRtParamIndex output_index,
                                                            LiteRtTensorBufferRequirements* requirements);
LiteRtStatus LiteRtRunCompiledModel(LiteRtCompiledModel compiled_model, LiteRtParamIndex signature_index,
                                    size_t num_input_buffers, LiteRtTensorBuffer* input_buffers,
                                    size_t num_output_buffers, LiteRtTensorBuffer* output_buffers);

// Tensor buffers.
LiteRtStatus LiteRtCreateManagedTensorBufferFromRequirements(LiteRtEnvironment environment,
                                                             const LiteRtRankedTensorType* type,
                                                             LiteRtTensorBufferRequirements requirements,
                                                             LiteRtTensorBuffer* buffer);
void LiteRtDestroyTensorBuffer(LiteRtTensorBuffer buffer);
LiteRtStatus LiteRtGetTensorBufferTensorType(LiteRtTensorBuffer buffer, LiteRtRankedTensorType* type);
LiteRtStatus LiteRtGetTensorBufferPackedSize(LiteRtTensorBuffer buffer, size_t* size);
LiteRtStatus LiteRtLockTensorBuffer(LiteRtTensorBuffer buffer, void** host_address, int lock_mode);
LiteRtStatus LiteRtUnlockTensorBuffer(LiteRtTensorBuffer buffer);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // KERAS_WHT_LITERT_ABI_H_
