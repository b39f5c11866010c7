// litert_run: runs a .tflite model through LiteRT's C API (libLiteRt.so, as the
// ai-edge-litert wheel ships it) on the CPU, with no Python and no TFLite headers.
//
//   litert_run [--no-custom-ops] [--threads N] MODEL.tflite INPUT.bin[,INPUT2.bin...] OUTPUT.bin
//
// Inputs are given in the order of the model's (first) signature, comma separated; an
// entry NAME=PATH names the signature input instead. Each input file holds raw
// little-endian float32 values: k samples of the input's shape with its batch dimension
// taken as 1 (the converter's models have batch 1), the same k for every input. The model
// runs k times. OUTPUT.bin gets, for each signature output in order, its k samples as
// float32, one output after the other.
//
// Float32 and int8 inputs and outputs: int8 ones are (de)quantized with the tensor's
// per-tensor scale and zero point. Other element types are refused.
//
// stdout describes the tensors, one line each, for the caller to reshape the output:
//   input <index> <name> <float32|int8> <d0>x<d1>x...
//   output <index> <name> <float32|int8> <d0>x<d1>x...
//   samples <k>
// Errors go to stderr with a non-zero exit status: 1 for a LiteRT status error, 2 for bad
// usage or files.
//
// Build: g++ -std=c++17 -O2 -I<csrc> litert_run.cc <ops> -L<dir> -lLiteRt -Wl,-rpath,<dir>
// with <csrc> keras-wht's csrc folder, <ops> its kernel library (the Python package's
// keras_wht/tflite/_keras_wht_ops*.so, or libkeras_wht_ops.a from CMake) and <dir> the
// ai_edge_litert package folder (python -c "import ai_edge_litert, os;
// print(os.path.dirname(ai_edge_litert.__file__))").
//
// The LiteRT declarations are keras-wht's own (keras_wht/litert_abi.h), written for the C
// API of the ai-edge-litert 2.3 wheel and checked against that libLiteRt.so: argument
// registers of each function, the 72 bytes LiteRtGetRankedTensorType copies (checked at
// run time below), the 16 of LiteRtGetPerTensorQuantization. Older LiteRT releases differ
// (LiteRtCreateModelFromFile had no environment argument).
//
// Custom ops: keras-wht's LiteRT kernels are registered on the options with
// KerasWht_AddLiteRtCustomOps, on N threads (default 1), as a C++ app that ships a model
// with KerasWht1D and KerasWht2D would; with --no-custom-ops they are not, and such a
// model fails to run ("unresolved custom op").

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "keras_wht/custom_ops.h"
#include "keras_wht/litert_abi.h"

namespace {

const char* StatusName(LiteRtStatus status) {
  switch (status) {
    case 0: return "Ok";
    case 1: return "ErrorInvalidArgument";
    case 2: return "ErrorMemoryAllocationFailure";
    case 3: return "ErrorRuntimeFailure";
    case 4: return "ErrorMissingInputTensor";
    case 5: return "ErrorUnsupported";
    case 6: return "ErrorNotFound";
    case 7: return "ErrorTimeoutExpired";
    case 8: return "ErrorWrongVersion";
    case 9: return "ErrorUnknown";
    case 10: return "ErrorAlreadyExists";
    case 100: return "Cancelled";
    case 500: return "ErrorFileIO";
    case 501: return "ErrorInvalidFlatbuffer";
    case 502: return "ErrorDynamicLoading";
    case 503: return "ErrorSerialization";
    case 504: return "ErrorCompilation";
    case 1000: return "ErrorIndexOOB";
    case 1001: return "ErrorInvalidIrType";
    case 1002: return "ErrorInvalidGraphInvariant";
    case 1003: return "ErrorGraphModification";
    default: return "unknown status";
  }
}

// Thrown on any failure; main() prints it and exits with its code.
struct Failure {
  int exit_code;
  std::string message;
};

[[noreturn]] void Fail(int exit_code, std::string message) { throw Failure{exit_code, std::move(message)}; }

void Check(LiteRtStatus status, const std::string& what) {
  if (status != kKerasWhtLiteRtOk) {
    Fail(1, what + " failed: LiteRT status " + std::to_string(status) + " (" + StatusName(status) + ")");
  }
}

// Owners of LiteRT objects, destroyed in reverse order of creation.
struct Environment {
  LiteRtEnvironment handle = nullptr;
  ~Environment() { if (handle) LiteRtDestroyEnvironment(handle); }
};
struct Model {
  LiteRtModel handle = nullptr;
  ~Model() { if (handle) LiteRtDestroyModel(handle); }
};
struct Options {
  LiteRtOptions handle = nullptr;
  ~Options() { if (handle) LiteRtDestroyOptions(handle); }
};
struct CompiledModel {
  LiteRtCompiledModel handle = nullptr;
  ~CompiledModel() { if (handle) LiteRtDestroyCompiledModel(handle); }
};
struct Buffers {
  std::vector<LiteRtTensorBuffer> handles;
  ~Buffers() { for (LiteRtTensorBuffer b : handles) if (b) LiteRtDestroyTensorBuffer(b); }
};

// Locks a tensor buffer for the scope.
class Lock {
 public:
  Lock(LiteRtTensorBuffer buffer, int mode, const std::string& what) : buffer_(buffer) {
    Check(LiteRtLockTensorBuffer(buffer, &address_, mode), "locking " + what);
    if (address_ == nullptr) Fail(1, "locking " + what + " gave no host address");
  }
  ~Lock() {
    const LiteRtStatus status = LiteRtUnlockTensorBuffer(buffer_);
    if (status != kKerasWhtLiteRtOk) {
      std::fprintf(stderr, "litert_run: unlocking a tensor buffer failed: LiteRT status %d (%s)\n", status,
                   StatusName(status));
    }
  }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  void* address() const { return address_; }

 private:
  LiteRtTensorBuffer buffer_;
  void* address_ = nullptr;
};

// What the program needs to know of one signature input or output.
struct TensorInfo {
  std::string name;
  LiteRtRankedTensorType type;
  size_t elements = 1;       // per run (batch 1)
  float scale = 1.0f;        // int8 only
  int32_t zero_point = 0;    // int8 only
};

const char* TypeName(int element_type) {
  if (element_type == kKerasWhtLiteRtElementFloat32) return "float32";
  return element_type == kKerasWhtLiteRtElementInt8 ? "int8" : "other";
}

std::string Shape(const LiteRtLayout& layout) {
  std::string s;
  for (unsigned i = 0; i < layout.rank; ++i) s += (i ? "x" : "") + std::to_string(layout.dimensions[i]);
  return s.empty() ? "scalar" : s;
}

TensorInfo Describe(LiteRtTensor tensor, const char* name, const std::string& what) {
  TensorInfo info;
  info.name = name ? name : "";
  int type_id = -1;
  Check(LiteRtGetTensorTypeId(tensor, &type_id), "LiteRtGetTensorTypeId(" + what + ")");
  if (type_id != kKerasWhtLiteRtRankedTensorType) Fail(2, what + " has no fixed rank: not supported");

  // A guard after the struct: the library must write exactly sizeof(LiteRtRankedTensorType).
  struct {
    LiteRtRankedTensorType type;
    unsigned char guard[64];
  } probe;
  std::memset(&probe, 0xA5, sizeof(probe));
  Check(LiteRtGetRankedTensorType(tensor, &probe.type), "LiteRtGetRankedTensorType(" + what + ")");
  for (unsigned char byte : probe.guard) {
    if (byte != 0xA5) Fail(1, "LiteRtGetRankedTensorType wrote past the 72-byte struct: ABI mismatch");
  }
  info.type = probe.type;
  const LiteRtLayout& layout = info.type.layout;
  if (layout.rank > KERAS_WHT_LITERT_MAX_RANK)
    Fail(1, what + ": rank " + std::to_string(layout.rank) + " > 8: ABI mismatch?");
  for (unsigned i = 0; i < layout.rank; ++i) {
    const int32_t d = layout.dimensions[i];
    // The batch dimension may be dynamic (-1) in the model; it runs with batch 1.
    if (i == 0 && d == -1) info.type.layout.dimensions[0] = 1;
    else if (d < 0) Fail(2, what + " has a dynamic dimension " + std::to_string(i) + ": not supported");
    info.elements *= static_cast<size_t>(info.type.layout.dimensions[i]);
  }
  if (layout.rank > 0 && info.type.layout.dimensions[0] != 1) {
    Fail(2, what + " has batch " + std::to_string(layout.dimensions[0]) + "; only batch-1 models are supported");
  }

  if (info.type.element_type == kKerasWhtLiteRtElementInt8) {
    int q_type = -1;
    Check(LiteRtGetQuantizationTypeId(tensor, &q_type), "LiteRtGetQuantizationTypeId(" + what + ")");
    if (q_type != kKerasWhtLiteRtQuantizationPerTensor) Fail(2, what + " is int8 without per-tensor quantization");
    LiteRtQuantizationPerTensor q{};
    Check(LiteRtGetPerTensorQuantization(tensor, &q), "LiteRtGetPerTensorQuantization(" + what + ")");
    if (!(q.scale > 0.0f) || !std::isfinite(q.scale) || q.zero_point < -128 || q.zero_point > 127) {
      Fail(2, what + " has an unusable quantization (scale " + std::to_string(q.scale) + ", zero point " +
                  std::to_string(q.zero_point) + ")");
    }
    info.scale = q.scale;
    info.zero_point = static_cast<int32_t>(q.zero_point);
  } else if (info.type.element_type != kKerasWhtLiteRtElementFloat32) {
    Fail(2, what + " has element type " + std::to_string(info.type.element_type) +
                "; only float32 and int8 are supported");
  }
  return info;
}

size_t ElementBytes(int element_type) { return element_type == kKerasWhtLiteRtElementInt8 ? 1 : 4; }

std::vector<float> ReadFloats(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) Fail(2, "cannot open " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) Fail(2, path + " is not a regular file");
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) Fail(2, "cannot open " + path + ": " + std::strerror(errno));
  long size = -1;
  if (std::fseek(f, 0, SEEK_END) == 0) size = std::ftell(f);
  if (size < 0 || std::fseek(f, 0, SEEK_SET) != 0) {
    std::fclose(f);
    Fail(2, "cannot read " + path);
  }
  if (size % static_cast<long>(sizeof(float)) != 0) {
    std::fclose(f);
    Fail(2, path + ": size is not a multiple of 4 bytes (float32)");
  }
  std::vector<float> data(static_cast<size_t>(size) / sizeof(float));
  const size_t got = std::fread(data.data(), sizeof(float), data.size(), f);
  std::fclose(f);
  if (got != data.size()) Fail(2, "cannot read " + path);
  return data;
}

void WriteBytes(const std::string& path, const std::vector<float>& data) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) Fail(2, "cannot create " + path + ": " + std::strerror(errno));
  const size_t written = std::fwrite(data.data(), sizeof(float), data.size(), f);
  const bool ok = written == data.size() && std::fflush(f) == 0;
  if (std::fclose(f) != 0 || !ok) Fail(2, "cannot write " + path);
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

void CopyIn(const TensorInfo& info, const float* src, void* dst) {
  if (info.type.element_type == kKerasWhtLiteRtElementFloat32) {
    std::memcpy(dst, src, info.elements * sizeof(float));
    return;
  }
  int8_t* q = static_cast<int8_t*>(dst);
  for (size_t i = 0; i < info.elements; ++i) {
    float v = std::nearbyint(src[i] / info.scale) + static_cast<float>(info.zero_point);
    v = v < -128.0f ? -128.0f : v > 127.0f ? 127.0f : v;  // NaN stays NaN: refused below
    if (std::isnan(v)) Fail(2, "input " + info.name + " has a NaN, which int8 cannot hold");
    q[i] = static_cast<int8_t>(v);
  }
}

void CopyOut(const TensorInfo& info, const void* src, float* dst) {
  if (info.type.element_type == kKerasWhtLiteRtElementFloat32) {
    std::memcpy(dst, src, info.elements * sizeof(float));
    return;
  }
  const int8_t* q = static_cast<const int8_t*>(src);
  for (size_t i = 0; i < info.elements; ++i) dst[i] = info.scale * static_cast<float>(q[i] - info.zero_point);
}

// The custom ops' registration, freed after the compiled model.
struct CustomOps {
  KerasWht_LiteRtOps* handle = nullptr;
  ~CustomOps() { KerasWht_DestroyLiteRtCustomOps(handle); }
};

int Run(int argc, char** argv) {
  bool custom_ops = true;
  int threads = 1;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--no-custom-ops") {
      custom_ops = false;
    } else if (arg == "--threads" && i + 1 < argc) {
      char* end = nullptr;
      const long n = std::strtol(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0' || n < 1 || n > 1024)
        Fail(2, std::string("--threads must be 1 to 1024, got ") + argv[i]);
      threads = static_cast<int>(n);
    } else {
      args.push_back(arg);
    }
  }
  if (args.size() != 3) {
    Fail(2, "usage: litert_run [--no-custom-ops] [--threads N] MODEL.tflite INPUT.bin[,INPUT2.bin...] OUTPUT.bin\n"
            "  (an input may be given as NAME=PATH, NAME a signature input)");
  }
  const std::string model_path = args[0], output_path = args[2];
  const std::vector<std::string> input_args = Split(args[1], ',');

  Environment env;
  Check(LiteRtCreateEnvironment(0, nullptr, &env.handle), "LiteRtCreateEnvironment");
  Model model;
  Check(LiteRtCreateModelFromFile(env.handle, model_path.c_str(), &model.handle),
        "LiteRtCreateModelFromFile(" + model_path + ")");

  LiteRtParamIndex num_signatures = 0;
  Check(LiteRtGetNumModelSignatures(model.handle, &num_signatures), "LiteRtGetNumModelSignatures");
  if (num_signatures == 0) Fail(2, model_path + " has no signature");
  const LiteRtParamIndex sig_index = 0;
  LiteRtSignature signature = nullptr;
  Check(LiteRtGetModelSignature(model.handle, sig_index, &signature), "LiteRtGetModelSignature");

  LiteRtParamIndex num_inputs = 0, num_outputs = 0;
  Check(LiteRtGetNumSignatureInputs(signature, &num_inputs), "LiteRtGetNumSignatureInputs");
  Check(LiteRtGetNumSignatureOutputs(signature, &num_outputs), "LiteRtGetNumSignatureOutputs");
  std::vector<TensorInfo> inputs, outputs;
  for (LiteRtParamIndex i = 0; i < num_inputs; ++i) {
    const char* name = nullptr;
    LiteRtTensor tensor = nullptr;
    Check(LiteRtGetSignatureInputName(signature, i, &name), "LiteRtGetSignatureInputName");
    Check(LiteRtGetSignatureInputTensorByIndex(signature, i, &tensor), "LiteRtGetSignatureInputTensorByIndex");
    inputs.push_back(Describe(tensor, name, "input " + std::to_string(i) + " (" + (name ? name : "") + ")"));
  }
  for (LiteRtParamIndex i = 0; i < num_outputs; ++i) {
    const char* name = nullptr;
    LiteRtTensor tensor = nullptr;
    Check(LiteRtGetSignatureOutputName(signature, i, &name), "LiteRtGetSignatureOutputName");
    Check(LiteRtGetSignatureOutputTensorByIndex(signature, i, &tensor), "LiteRtGetSignatureOutputTensorByIndex");
    outputs.push_back(Describe(tensor, name, "output " + std::to_string(i) + " (" + (name ? name : "") + ")"));
  }

  // The input files, by position or by name.
  if (input_args.size() != inputs.size()) {
    Fail(2, "the model's signature has " + std::to_string(inputs.size()) + " input(s), got " +
                std::to_string(input_args.size()) + " file(s)");
  }
  std::vector<std::string> input_paths(inputs.size());
  for (size_t a = 0; a < input_args.size(); ++a) {
    const std::string& arg = input_args[a];
    const size_t eq = arg.find('=');
    size_t index = a;
    std::string path = arg;
    if (eq != std::string::npos) {
      const std::string name = arg.substr(0, eq);
      path = arg.substr(eq + 1);
      index = inputs.size();
      for (size_t i = 0; i < inputs.size(); ++i) if (inputs[i].name == name) index = i;
      if (index == inputs.size()) Fail(2, "the signature has no input named " + name);
    }
    if (path.empty()) Fail(2, "empty input path in " + arg);
    if (!input_paths[index].empty()) Fail(2, "input " + inputs[index].name + " given twice");
    input_paths[index] = path;
  }
  std::vector<std::vector<float>> input_data;
  size_t samples = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    input_data.push_back(ReadFloats(input_paths[i]));
    const size_t n = input_data[i].size();
    if (inputs[i].elements == 0 || n == 0 || n % inputs[i].elements != 0) {
      Fail(2, input_paths[i] + ": " + std::to_string(n) + " floats is not a whole number of samples of " +
                  std::to_string(inputs[i].elements) + " (input " + inputs[i].name + ")");
    }
    const size_t k = n / inputs[i].elements;
    if (i > 0 && k != samples) Fail(2, "the input files hold different numbers of samples");
    samples = k;
  }

  for (size_t i = 0; i < inputs.size(); ++i) {
    std::printf("input %zu %s %s %s\n", i, inputs[i].name.c_str(), TypeName(inputs[i].type.element_type),
                Shape(inputs[i].type.layout).c_str());
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    std::printf("output %zu %s %s %s\n", i, outputs[i].name.c_str(), TypeName(outputs[i].type.element_type),
                Shape(outputs[i].type.layout).c_str());
  }
  std::printf("samples %zu\n", samples);
  std::fflush(stdout);

  Options options;
  Check(LiteRtCreateOptions(&options.handle), "LiteRtCreateOptions");
  Check(LiteRtSetOptionsHardwareAccelerators(options.handle, kKerasWhtLiteRtHwAcceleratorCpu),
        "LiteRtSetOptionsHardwareAccelerators(CPU)");
  CustomOps ops;
  if (custom_ops) {
    char error[512] = "";
    ops.handle = KerasWht_AddLiteRtCustomOps(options.handle, model.handle, threads, error, sizeof error);
    if (ops.handle == nullptr) Fail(1, error);
  }
  CompiledModel compiled;
  Check(LiteRtCreateCompiledModel(env.handle, model.handle, options.handle, &compiled.handle),
        "LiteRtCreateCompiledModel(" + model_path + ")");

  Buffers in_buffers, out_buffers;
  auto make_buffers = [&](std::vector<TensorInfo>& infos, Buffers& buffers, bool input) {
    for (size_t i = 0; i < infos.size(); ++i) {
      const std::string what = std::string(input ? "input " : "output ") + std::to_string(i);
      LiteRtTensorBufferRequirements requirements = nullptr;
      if (input) {
        Check(LiteRtGetCompiledModelInputBufferRequirements(compiled.handle, sig_index, i, &requirements),
              "LiteRtGetCompiledModelInputBufferRequirements(" + what + ")");
      } else {
        Check(LiteRtGetCompiledModelOutputBufferRequirements(compiled.handle, sig_index, i, &requirements),
              "LiteRtGetCompiledModelOutputBufferRequirements(" + what + ")");
      }
      buffers.handles.push_back(nullptr);
      Check(LiteRtCreateManagedTensorBufferFromRequirements(env.handle, &infos[i].type, requirements,
                                                            &buffers.handles.back()),
            "LiteRtCreateManagedTensorBufferFromRequirements(" + what + ")");
      size_t packed = 0;
      Check(LiteRtGetTensorBufferPackedSize(buffers.handles.back(), &packed), "LiteRtGetTensorBufferPackedSize");
      const size_t want = infos[i].elements * ElementBytes(infos[i].type.element_type);
      if (packed != want) {
        Fail(1, what + ": the tensor buffer holds " + std::to_string(packed) + " bytes, the tensor " +
                    std::to_string(want));
      }
    }
  };
  make_buffers(inputs, in_buffers, true);
  make_buffers(outputs, out_buffers, false);

  size_t out_total = 0;
  std::vector<size_t> out_offset;
  for (const TensorInfo& o : outputs) {
    out_offset.push_back(out_total);
    out_total += o.elements * samples;
  }
  std::vector<float> result(out_total);

  for (size_t s = 0; s < samples; ++s) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      Lock lock(in_buffers.handles[i], kKerasWhtLiteRtLockWrite, "input " + std::to_string(i));
      CopyIn(inputs[i], input_data[i].data() + s * inputs[i].elements, lock.address());
    }
    Check(LiteRtRunCompiledModel(compiled.handle, sig_index, in_buffers.handles.size(),
                                 in_buffers.handles.data(), out_buffers.handles.size(),
                                 out_buffers.handles.data()),
          "LiteRtRunCompiledModel (sample " + std::to_string(s) + ")");
    for (size_t i = 0; i < outputs.size(); ++i) {
      Lock lock(out_buffers.handles[i], kKerasWhtLiteRtLockRead, "output " + std::to_string(i));
      CopyOut(outputs[i], lock.address(), result.data() + out_offset[i] + s * outputs[i].elements);
    }
  }
  WriteBytes(output_path, result);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const Failure& failure) {
    std::fprintf(stderr, "litert_run: %s\n", failure.message.c_str());
    return failure.exit_code;
  }
}
