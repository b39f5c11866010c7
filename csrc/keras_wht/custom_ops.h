// keras-wht's TFLite custom ops: KerasWht1D and KerasWht2D, the WHT1D and WHT2D layers
// (transform, smooth threshold, inverse transform, padding and tiles) as one kernel each.
//
// C and C++ apps can include it. In a C++ app that links TFLite (Android NDK, a Jetson):
//
//   #include "tensorflow/lite/kernels/register.h"
//   #include "keras_wht/custom_ops.h"
//
//   tflite::ops::builtin::BuiltinOpResolver resolver;
//   keras_wht::RegisterCustomOps(&resolver);
//   tflite::InterpreterBuilder(*model, resolver)(&interpreter);
//
// Each op takes three inputs, the layer's input (float32, or int8 with per-tensor
// quantization) and its scale and threshold (float32 constants), or five: then a batch
// norm after the layer is folded in as post_scale and post_offset (float32, one per output
// channel). It gives one output of the input's type (int8 ops read and write the int8
// tensors themselves). Its custom options are a flexbuffer map; the op names, the map's
// keys (among them the optional activation folded in after the batch norm) and the
// largest block are in keras_wht/op_contract.h (generated from
// keras_wht/tflite/contract.py, which the converter writes the options with).
#ifndef KERAS_WHT_CUSTOM_OPS_H_
#define KERAS_WHT_CUSTOM_OPS_H_

#include "keras_wht/op_contract.h"  // KERAS_WHT_OP_1D, KERAS_WHT_OP_2D, keras_wht::contract
#include "keras_wht/tflite_abi.h"

#if defined(__GNUC__) || defined(__clang__)
#define KERAS_WHT_EXPORT __attribute__((visibility("default")))
#else
#define KERAS_WHT_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif
// The op registrations, for MutableOpResolver::AddCustom(name, registration).
KERAS_WHT_EXPORT const TfLiteRegistration* KerasWht_Register_WHT1D(void);
KERAS_WHT_EXPORT const TfLiteRegistration* KerasWht_Register_WHT2D(void);

// Registers both ops through `add_custom`, the address of
// tflite::MutableOpResolver::AddCustom(const char*, const TfLiteRegistration*, int),
// on `resolver`: for runtimes whose headers are not at hand (the Python package).
KERAS_WHT_EXPORT void KerasWht_RegisterWith(void* resolver, void* add_custom);

// LiteRT's C API (a CompiledModel made with LiteRtCreateCompiledModel): registers both ops
// as LiteRT custom-op kernels on `litert_options` (a LiteRtOptions) for compiling
// `litert_model` (the LiteRtModel to compile; its KerasWht ops are read now, since LiteRT
// tells a custom kernel neither which node it runs nor its tensors' quantization). Each op
// runs on up to num_threads threads (1 to 1024) of the kernels' own pool. Returns the
// registration, to be freed with KerasWht_DestroyLiteRtCustomOps after the compiled
// model is destroyed; or NULL with the reason in `error` (error_size bytes, may be NULL):
// an app without libLiteRt.so, an unreadable op, or two ops that LiteRT's interface leaves
// indistinguishable (the same parameters, other options); then compile nothing with
// those options. LiteRT 2.3 ignores a custom kernel's status, so a failing op also prints
// its reason to stderr.
typedef struct KerasWht_LiteRtOps KerasWht_LiteRtOps;
KERAS_WHT_EXPORT KerasWht_LiteRtOps* KerasWht_AddLiteRtCustomOps(void* litert_options, void* litert_model,
                                                                 int num_threads, char* error, size_t error_size);
KERAS_WHT_EXPORT void KerasWht_DestroyLiteRtCustomOps(KerasWht_LiteRtOps* ops);

// The unnormalised Walsh-Hadamard transform of `rows` rows of n floats in place (n a
// power of two): the transform alone, e.g. to measure it. Returns 0, or -1 for bad n.
KERAS_WHT_EXPORT int KerasWht_Fwht(float* data, int64_t rows, int n);

// The instruction set the kernels use on this CPU: "avx512", "avx2", "neon" or "scalar".
KERAS_WHT_EXPORT const char* KerasWht_Isa(void);

// The pool the ops' threads come from: "pthreadpool" where the build found it, else
// "built-in" (the library's own pool).
KERAS_WHT_EXPORT const char* KerasWht_ThreadPool(void);
#ifdef __cplusplus
}  // extern "C"
#endif

#if defined(__cplusplus) && defined(KERAS_WHT_WITH_TFLITE_HEADERS)
#include "tensorflow/lite/mutable_op_resolver.h"
#endif
#if defined(__cplusplus) && (defined(KERAS_WHT_WITH_TFLITE_HEADERS) || defined(TENSORFLOW_LITE_MUTABLE_OP_RESOLVER_H_))
namespace keras_wht {
// Adds KerasWht1D and KerasWht2D to an app's op resolver.
inline void RegisterCustomOps(tflite::MutableOpResolver* resolver) {
  resolver->AddCustom(contract::kOp1D, KerasWht_Register_WHT1D());
  resolver->AddCustom(contract::kOp2D, KerasWht_Register_WHT2D());
}
}  // namespace keras_wht
#endif

#endif  // KERAS_WHT_CUSTOM_OPS_H_
