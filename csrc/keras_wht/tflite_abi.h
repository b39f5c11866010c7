// The part of TensorFlow Lite's C kernel ABI (tensorflow/lite/core/c/common.h) that the
// custom ops use. TFLite only ever appends fields to these structs, so declaring their
// leading fields is enough to run inside tf.lite, tflite_runtime and ai_edge_litert,
// whose headers no package here ships. Build with KERAS_WHT_WITH_TFLITE_HEADERS (and
// TFLite's include path) to use the real headers instead, as an app that links TFLite.
#ifndef KERAS_WHT_TFLITE_ABI_H_
#define KERAS_WHT_TFLITE_ABI_H_

#if defined(KERAS_WHT_WITH_TFLITE_HEADERS)
#include "tensorflow/lite/c/common.h"
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum TfLiteStatus { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;

typedef enum {
  kTfLiteNoType = 0,
  kTfLiteFloat32 = 1,
  kTfLiteInt32 = 2,
  kTfLiteUInt8 = 3,
  kTfLiteInt64 = 4,
  kTfLiteString = 5,
  kTfLiteBool = 6,
  kTfLiteInt16 = 7,
  kTfLiteComplex64 = 8,
  kTfLiteInt8 = 9,
  kTfLiteFloat16 = 10,
} TfLiteType;

typedef enum {
  kTfLiteMemNone = 0,
  kTfLiteMmapRo = 1,
  kTfLiteArenaRw = 2,
  kTfLiteArenaRwPersistent = 3,
  kTfLiteDynamic = 4,
  kTfLitePersistentRo = 5,
} TfLiteAllocationType;

// Allocated by malloc(sizeof(int) * (1 + size)) and released by free() in the runtimes.
typedef struct TfLiteIntArray {
  int size;
  int data[];
} TfLiteIntArray;

typedef struct TfLiteQuantizationParams {
  float scale;
  int32_t zero_point;
} TfLiteQuantizationParams;

typedef struct TfLiteQuantization {
  int type;  // 0: none, 1: affine
  void* params;
} TfLiteQuantization;

// The real union has typed pointers too; `data` is the one to use.
typedef union TfLitePtrUnion {
  void* data;
} TfLitePtrUnion;

typedef struct TfLiteTensor {
  TfLiteType type;
  TfLitePtrUnion data;
  TfLiteIntArray* dims;
  TfLiteQuantizationParams params;
  int allocation_type;
  size_t bytes;
  const void* allocation;
  const char* name;
  void* delegate;
  int buffer_handle;
  bool data_is_stale;
  bool is_variable;
  TfLiteQuantization quantization;
  void* sparsity;
  const TfLiteIntArray* dims_signature;
} TfLiteTensor;

typedef struct TfLiteNode {
  TfLiteIntArray* inputs;
  TfLiteIntArray* outputs;
  TfLiteIntArray* intermediates;
  TfLiteIntArray* temporaries;
  void* user_data;
  void* builtin_data;
  const void* custom_initial_data;
  int custom_initial_data_size;
  void* delegate;
  bool might_have_side_effect;
} TfLiteNode;

typedef struct TfLiteContext {
  size_t tensors_size;
  void* GetExecutionPlan;
  TfLiteTensor* tensors;
  void* impl_;
  TfLiteStatus (*ResizeTensor)(struct TfLiteContext*, TfLiteTensor* tensor, TfLiteIntArray* new_size);
  void (*ReportError)(struct TfLiteContext*, const char* format, ...);
  void* AddTensors;
  void* GetNodeAndRegistration;
  void* ReplaceNodeSubsetsWithDelegateKernels;
  int recommended_num_threads;
  // Further fields are not used.
} TfLiteContext;

typedef struct TfLiteRegistration {
  void* (*init)(TfLiteContext* context, const char* buffer, size_t length);
  void (*free)(TfLiteContext* context, void* buffer);
  TfLiteStatus (*prepare)(TfLiteContext* context, TfLiteNode* node);
  TfLiteStatus (*invoke)(TfLiteContext* context, TfLiteNode* node);
  const char* (*profiling_string)(const TfLiteContext* context, const TfLiteNode* node);
  int32_t builtin_code;
  const char* custom_name;
  int version;
  void* registration_external;
  void* async_kernel;
  uint64_t inplace_operator;
  // Zeros for fields a later runtime appends: AddCustom copies the runtime's own size.
  unsigned char reserved[128];
} TfLiteRegistration;

#ifdef __cplusplus
}  // extern "C"
#endif
#endif

#endif  // KERAS_WHT_TFLITE_ABI_H_
