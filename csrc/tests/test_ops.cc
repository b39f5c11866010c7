// The TFLite glue of KerasWht1D/KerasWht2D driven through a stand-in interpreter context:
// valid models compute what the kernels compute; malformed options, wrong types, ranks
// and parameter shapes fail with a message and kTfLiteError; a bounded fuzz loop throws
// random option bytes and shapes at Init/Prepare/Eval. Built with ASan and UBSan by
// `make test-kernels`, so a stray read or write fails the run.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <random>
#include <string>
#include <vector>

#include "flatbuffers/flexbuffers.h"
#include "keras_wht/custom_ops.h"
#include "keras_wht/kernels.h"
#include "keras_wht/op_contract.h"

namespace {

namespace contract = keras_wht::contract;

int failures = 0;
std::string last_error;

void Expect(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    printf("FAIL %s (last error: %s)\n", what.c_str(), last_error.c_str());
  }
}

void ReportError(TfLiteContext*, const char* format, ...) {
  char buffer[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  last_error = buffer;
}

TfLiteIntArray* IntArray(const std::vector<int>& values) {
  TfLiteIntArray* a = static_cast<TfLiteIntArray*>(malloc(sizeof(int) * (1 + values.size())));
  a->size = static_cast<int>(values.size());
  for (size_t i = 0; i < values.size(); ++i) a->data[i] = values[i];
  return a;
}

TfLiteStatus ResizeTensor(TfLiteContext*, TfLiteTensor* tensor, TfLiteIntArray* dims) {
  free(tensor->dims);
  tensor->dims = dims;
  return kTfLiteOk;
}

// A graph of one op: tensors 0 (x), 1 (scale), 2 (threshold), 3 (output), and for a
// folded batch norm 4 (post_scale) and 5 (post_offset) (UsePost()).
struct Graph {
  TfLiteContext context{};
  TfLiteTensor tensors[6]{};
  TfLiteNode node{};
  std::vector<std::vector<unsigned char>> storage = std::vector<std::vector<unsigned char>>(6);

  Graph() {
    context.tensors_size = 6;
    context.tensors = tensors;
    context.ResizeTensor = ResizeTensor;
    context.ReportError = ReportError;
    context.recommended_num_threads = 1;
    node.inputs = IntArray({0, 1, 2});
    node.outputs = IntArray({3});
  }
  ~Graph() {
    for (auto& t : tensors) free(t.dims);
    free(node.inputs);
    free(node.outputs);
  }
  void Set(int i, TfLiteType type, const std::vector<int>& dims, bool constant = false) {
    free(tensors[i].dims);
    tensors[i].type = type;
    tensors[i].dims = IntArray(dims);
    size_t n = 1;
    for (int d : dims) n *= d > 0 ? d : 0;
    const size_t bytes = n * (type == kTfLiteInt8 ? 1 : 4);
    storage[i].assign(bytes, 0);
    tensors[i].data.data = storage[i].data();
    tensors[i].bytes = bytes;
    tensors[i].allocation_type = constant ? kTfLiteMmapRo : kTfLiteArenaRw;
    tensors[i].params.scale = type == kTfLiteInt8 ? 0.05f : 0.0f;
    tensors[i].params.zero_point = 0;
  }
  float* F(int i) { return reinterpret_cast<float*>(storage[i].data()); }
  void UsePost(int channels) {
    free(node.inputs);
    node.inputs = IntArray({0, 1, 2, 4, 5});
    Set(4, kTfLiteFloat32, {channels}, true);
    Set(5, kTfLiteFloat32, {channels}, true);
  }
  // Output storage follows the resized dims.
  void AllocateOutput() {
    size_t n = 1;
    for (int k = 0; k < tensors[3].dims->size; ++k) n *= tensors[3].dims->data[k];
    storage[3].assign(n * (tensors[3].type == kTfLiteInt8 ? 1 : 4), 0);
    tensors[3].data.data = storage[3].data();
  }
};

// Init + Prepare (+ Eval when prepared); the status of the first failing step.
TfLiteStatus Run(const TfLiteRegistration* reg, Graph& g, const std::vector<uint8_t>& options, bool eval = true) {
  void* data = reg->init(&g.context, reinterpret_cast<const char*>(options.data()), options.size());
  g.node.user_data = data;
  TfLiteStatus status = reg->prepare(&g.context, &g.node);
  if (status == kTfLiteOk && eval) {
    g.AllocateOutput();
    status = reg->invoke(&g.context, &g.node);
  }
  reg->free(&g.context, data);
  return status;
}

std::vector<uint8_t> Options1D(int64_t block, bool residual, int64_t channels = -1) {
  flexbuffers::Builder fbb;
  fbb.Map([&] {
    fbb.Int(contract::kKeyBlock, block);
    if (channels >= 0) fbb.Int(contract::kKeyChannels, channels);
    fbb.Bool(contract::kKeyResidual, residual);
  });
  fbb.Finish();
  return fbb.GetBuffer();
}

std::vector<uint8_t> Options2D(int64_t bh, int64_t bw, bool per_channel, bool residual,
                               const char* activation = nullptr) {
  flexbuffers::Builder fbb;
  fbb.Map([&] {
    fbb.Int(contract::kKeyBlockH, bh);
    fbb.Int(contract::kKeyBlockW, bw);
    fbb.Bool(contract::kKeyPerChannel, per_channel);
    fbb.Bool(contract::kKeyResidual, residual);
    if (activation != nullptr) fbb.String(contract::kKeyActivation, activation);
  });
  fbb.Finish();
  return fbb.GetBuffer();
}

void TestValid() {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-2, 2);
  {  // 1-D against the reference
    Graph g;
    g.Set(0, kTfLiteFloat32, {2, 3, 20});
    g.Set(1, kTfLiteFloat32, {8}, true);
    g.Set(2, kTfLiteFloat32, {8}, true);
    g.Set(3, kTfLiteFloat32, {1});
    for (int i = 0; i < 120; ++i) g.F(0)[i] = dist(rng);
    for (int i = 0; i < 8; ++i) g.F(1)[i] = 1.0f + 0.1f * i, g.F(2)[i] = 0.02f * i;
    Expect(Run(KerasWht_Register_WHT1D(), g, Options1D(8, true)) == kTfLiteOk, "1-D valid op runs");
    Expect(g.tensors[3].dims->size == 3 && g.tensors[3].dims->data[2] == 20, "1-D output has the input's shape");
    std::vector<float> want(120);
    keras_wht::Reference(keras_wht::Wht1DShape{6, 20, 8, true}, g.F(1), g.F(2), g.F(0), want.data());
    double worst = 0;
    for (int i = 0; i < 120; ++i) worst = fmax(worst, fabs(want[i] - g.F(3)[i]));
    Expect(worst < 1e-5, "1-D op matches the reference");
  }
  {  // 1-D narrowing 20 -> 6 channels (means of groups of 3) inside the op
    Graph g;
    g.Set(0, kTfLiteFloat32, {2, 3, 20});
    g.Set(1, kTfLiteFloat32, {8}, true);
    g.Set(2, kTfLiteFloat32, {8}, true);
    g.Set(3, kTfLiteFloat32, {1});
    for (int i = 0; i < 120; ++i) g.F(0)[i] = dist(rng);
    for (int i = 0; i < 8; ++i) g.F(1)[i] = 1.0f + 0.1f * i, g.F(2)[i] = 0.02f * i;
    Expect(Run(KerasWht_Register_WHT1D(), g, Options1D(8, false, 6)) == kTfLiteOk, "1-D narrowing op runs");
    Expect(g.tensors[3].dims->size == 3 && g.tensors[3].dims->data[1] == 3 && g.tensors[3].dims->data[2] == 6,
           "1-D narrowing op's output has 6 channels");
    std::vector<float> want(36);
    keras_wht::Wht1DShape s{6, 6, 8, false};
    s.in_channels = 20;
    keras_wht::Reference(s, g.F(1), g.F(2), g.F(0), want.data());
    double worst = 0;
    for (int i = 0; i < 36; ++i) worst = fmax(worst, fabs(want[i] - g.F(3)[i]));
    Expect(worst < 1e-5, "1-D narrowing op matches the reference");
  }
  {  // a batch norm and hard-swish folded in (5 inputs), float32 and int8
    for (const bool int8 : {false, true}) {
      Graph g;
      g.Set(0, int8 ? kTfLiteInt8 : kTfLiteFloat32, {2, 5, 6, 12});
      g.Set(1, kTfLiteFloat32, {4, 4}, true);
      g.Set(2, kTfLiteFloat32, {4, 4}, true);
      g.Set(3, int8 ? kTfLiteInt8 : kTfLiteFloat32, {1});
      g.UsePost(12);
      const int n = 2 * 5 * 6 * 12;
      std::vector<float> x(n);
      for (int i = 0; i < n; ++i) {
        const int8_t q = static_cast<int8_t>((i * 53) % 256 - 128);
        x[i] = int8 ? 0.05f * q : dist(rng);
        if (int8) reinterpret_cast<int8_t*>(g.storage[0].data())[i] = q;
        else g.F(0)[i] = x[i];
      }
      for (int i = 0; i < 16; ++i) g.F(1)[i] = 1.0f + 0.05f * i, g.F(2)[i] = 0.01f * i;
      for (int c = 0; c < 12; ++c) g.F(4)[c] = 0.5f + 0.1f * c, g.F(5)[c] = 0.2f * c - 1.0f;
      Expect(Run(KerasWht_Register_WHT2D(), g, Options2D(4, 4, false, true, "hard_swish")) == kTfLiteOk,
             "2-D op with a folded batch norm and hard-swish runs");
      keras_wht::Packed packed;
      keras_wht::PackEpilogue(12, g.F(4), g.F(5), keras_wht::Activation::kHardSwish, &packed);
      std::vector<float> want(n);
      keras_wht::Reference(keras_wht::Wht2DShape{2, 5, 6, 12, 4, 4, false, true}, g.F(1), g.F(2), x.data(),
                           want.data(), &packed);
      double worst = 0;
      for (int i = 0; i < n; ++i) {
        const double got = int8 ? 0.05 * reinterpret_cast<int8_t*>(g.storage[3].data())[i] : g.F(3)[i];
        const double expected = int8 ? 0.05 * std::max(-128.0, std::min(127.0, double(nearbyintf(want[i] / 0.05f))))
                                     : want[i];
        worst = fmax(worst, fabs(expected - got));
      }
      Expect(worst <= (int8 ? 0.05 + 1e-6 : 1e-5),
             int8 ? "int8 folded op within one step of the reference" : "folded op matches the reference");
    }
  }
  // The two-thread cases below split whatever the pool's threshold (MinWorkPerThread).
  setenv("KERAS_WHT_MIN_WORK_PER_THREAD", "1", 1);
  {  // 2-D, per channel, two threads, non-constant parameters
    Graph g;
    g.context.recommended_num_threads = 2;
    g.Set(0, kTfLiteFloat32, {3, 16, 16, 200});
    g.Set(1, kTfLiteFloat32, {4, 8, 200});
    g.Set(2, kTfLiteFloat32, {4, 8, 200});
    g.Set(3, kTfLiteFloat32, {1});
    const int n = 3 * 16 * 16 * 200;
    for (int i = 0; i < n; ++i) g.F(0)[i] = dist(rng);
    for (int i = 0; i < 4 * 8 * 200; ++i) g.F(1)[i] = 1.0f, g.F(2)[i] = 0.01f * (i % 7);
    Expect(Run(KerasWht_Register_WHT2D(), g, Options2D(4, 8, true, false)) == kTfLiteOk, "2-D valid op runs");
    std::vector<float> want(n);
    keras_wht::Reference(keras_wht::Wht2DShape{3, 16, 16, 200, 4, 8, true, false}, g.F(1), g.F(2), g.F(0), want.data());
    double worst = 0;
    for (int i = 0; i < n; ++i) worst = fmax(worst, fabs(want[i] - g.F(3)[i]));
    Expect(worst < 1e-5, "2-D op matches the reference");
  }
  {  // int8 in and out
    Graph g;
    g.Set(0, kTfLiteInt8, {1, 4, 4, 8});
    g.Set(1, kTfLiteFloat32, {4, 4}, true);
    g.Set(2, kTfLiteFloat32, {4, 4}, true);
    g.Set(3, kTfLiteInt8, {1});
    for (int i = 0; i < 128; ++i) reinterpret_cast<int8_t*>(g.storage[0].data())[i] = static_cast<int8_t>(i - 64);
    for (int i = 0; i < 16; ++i) g.F(1)[i] = 1.0f, g.F(2)[i] = 0.0f;
    Expect(Run(KerasWht_Register_WHT2D(), g, Options2D(4, 4, false, false)) == kTfLiteOk, "2-D int8 op runs");
    std::vector<float> x(128), want(128);
    for (int i = 0; i < 128; ++i) x[i] = 0.05f * (i - 64);
    keras_wht::Reference(keras_wht::Wht2DShape{1, 4, 4, 8, 4, 4, false, false}, g.F(1), g.F(2), x.data(), want.data());
    int worst = 0;
    for (int i = 0; i < 128; ++i) {
      long q = lrintf(want[i] / 0.05f);
      q = q < -128 ? -128 : q > 127 ? 127 : q;
      worst = std::max(worst, abs(static_cast<int>(q) - reinterpret_cast<int8_t*>(g.storage[3].data())[i]));
    }
    Expect(worst <= 1, "int8 op within one step of the reference");
  }
  {  // int8, two threads (the conversions to and from float run on both)
    Graph g;
    g.context.recommended_num_threads = 2;
    const int n = 2 * 256 * 256;
    g.Set(0, kTfLiteInt8, {2, 256, 256});
    g.Set(1, kTfLiteFloat32, {256}, true);
    g.Set(2, kTfLiteFloat32, {256}, true);
    g.Set(3, kTfLiteInt8, {1});
    int8_t* in = reinterpret_cast<int8_t*>(g.storage[0].data());
    for (int i = 0; i < n; ++i) in[i] = static_cast<int8_t>((i * 37) % 256 - 128);
    for (int i = 0; i < 256; ++i) g.F(1)[i] = 1.0f, g.F(2)[i] = 0.001f * i;
    Expect(Run(KerasWht_Register_WHT1D(), g, Options1D(256, false)) == kTfLiteOk, "1-D int8 op runs on two threads");
    std::vector<float> x(n), want(n);
    for (int i = 0; i < n; ++i) x[i] = 0.05f * in[i];
    keras_wht::Reference(keras_wht::Wht1DShape{512, 256, 256, false}, g.F(1), g.F(2), x.data(), want.data());
    int worst = 0;
    for (int i = 0; i < n; ++i) {
      long q = lrintf(want[i] / 0.05f);
      q = q < -128 ? -128 : q > 127 ? 127 : q;
      worst = std::max(worst, abs(static_cast<int>(q) - reinterpret_cast<int8_t*>(g.storage[3].data())[i]));
    }
    Expect(worst <= 1, "two-thread int8 op within one step of the reference");
  }
  unsetenv("KERAS_WHT_MIN_WORK_PER_THREAD");
}

// The threaded path: with KERAS_WHT_MIN_WORK_PER_THREAD=1 the ops split any input, so
// 2 to 4 threads over small random shapes and options (1-D and 2-D, float32 and int8)
// give what one thread gives, and the reference.
void TestThreads() {
  setenv("KERAS_WHT_MIN_WORK_PER_THREAD", "1", 1);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-2, 2);
  const float step = 0.05f;  // Graph::Set's int8 scale
  for (int round = 0; round < 60; ++round) {
    const bool two_d = round % 2, int8 = round % 3 == 0, per_channel = rng() % 2, residual = rng() % 2;
    const int threads = 2 + round % 3;
    const int batch = 1 + rng() % 3, h = 1 + rng() % 12, w = 1 + rng() % 12, c = 1 + rng() % 40;
    const int bh = 1 << (rng() % 3), bw = 1 << (rng() % 3), block = 1 << (rng() % 6);
    const std::vector<int> param = two_d ? (per_channel ? std::vector<int>{bh, bw, c} : std::vector<int>{bh, bw})
                                         : std::vector<int>{block};
    const std::vector<uint8_t> options = two_d ? Options2D(bh, bw, per_channel, residual) : Options1D(block, residual);
    const TfLiteRegistration* reg = two_d ? KerasWht_Register_WHT2D() : KerasWht_Register_WHT1D();
    const int n = batch * h * w * c;
    std::vector<float> x(n);
    std::vector<int8_t> q(n);
    for (int i = 0; i < n; ++i) {
      x[i] = dist(rng);
      q[i] = static_cast<int8_t>(std::max(-128L, std::min(127L, lrintf(x[i] / step))));
      if (int8) x[i] = step * q[i];
    }
    int p = 1;
    for (int d : param) p *= d;
    std::vector<float> scale(p), threshold(p);
    for (int i = 0; i < p; ++i) scale[i] = 0.5f + 0.01f * (i % 50), threshold[i] = 0.02f * (i % 9);
    std::vector<float> got[2];
    for (int run = 0; run < 2; ++run) {
      Graph g;
      g.context.recommended_num_threads = run == 0 ? 1 : threads;
      const TfLiteType type = int8 ? kTfLiteInt8 : kTfLiteFloat32;
      g.Set(0, type, {batch, h, w, c});
      g.Set(1, kTfLiteFloat32, param, round % 4 < 2);
      g.Set(2, kTfLiteFloat32, param, round % 4 < 2);
      g.Set(3, type, {1});
      if (int8)
        memcpy(g.storage[0].data(), q.data(), n);
      else
        memcpy(g.F(0), x.data(), n * sizeof(float));
      memcpy(g.F(1), scale.data(), p * sizeof(float));
      memcpy(g.F(2), threshold.data(), p * sizeof(float));
      const std::string what = "round " + std::to_string(round) + (two_d ? " 2-D" : " 1-D") + (int8 ? " int8" : " float32") +
                               ", " + std::to_string(run == 0 ? 1 : threads) + " threads";
      Expect(Run(reg, g, options) == kTfLiteOk, what + " runs");
      got[run].resize(n);
      for (int i = 0; i < n; ++i)
        got[run][i] = int8 ? static_cast<float>(reinterpret_cast<int8_t*>(g.storage[3].data())[i]) : g.F(3)[i];
    }
    std::vector<float> want(n);
    if (two_d)
      keras_wht::Reference(keras_wht::Wht2DShape{batch, h, w, c, bh, bw, per_channel, residual}, scale.data(),
                           threshold.data(), x.data(), want.data());
    else
      keras_wht::Reference(keras_wht::Wht1DShape{batch * h * w, c, block, residual}, scale.data(), threshold.data(),
                           x.data(), want.data());
    double between = 0, from_reference = 0;
    for (int i = 0; i < n; ++i) {
      between = fmax(between, fabs(got[0][i] - got[1][i]));
      const float expected = int8 ? std::max(-128.0f, std::min(127.0f, nearbyintf(want[i] / step))) : want[i];
      from_reference = fmax(from_reference, fabs(expected - got[1][i]));
    }
    const std::string what = "round " + std::to_string(round) + ": " + std::to_string(threads) + " threads";
    Expect(between <= (int8 ? 0 : 1e-6), what + " give what one thread gives");
    Expect(from_reference <= (int8 ? 1 : 1e-4), what + " match the reference");
  }
  unsetenv("KERAS_WHT_MIN_WORK_PER_THREAD");
}

void ExpectError(const TfLiteRegistration* reg, Graph& g, const std::vector<uint8_t>& options, const char* needle) {
  last_error.clear();
  const TfLiteStatus status = Run(reg, g, options);
  Expect(status == kTfLiteError && last_error.find(needle) != std::string::npos,
         std::string("error mentioning '") + needle + "'");
}

// Without libLiteRt.so in the process (this test links none), the LiteRT registration
// refuses with a reason instead of calling a null function.
void TestLiteRtWithoutLiteRt() {
  char error[256] = "";
  int dummy = 0;
  Expect(KerasWht_AddLiteRtCustomOps(&dummy, &dummy, 1, error, sizeof error) == nullptr,
         "KerasWht_AddLiteRtCustomOps without LiteRT gives no registration");
  Expect(strcmp(error, "KerasWht_AddLiteRtCustomOps: LiteRT's C API is not in this process: link the app with "
                       "libLiteRt.so") == 0,
         "and says why");
  Expect(KerasWht_AddLiteRtCustomOps(&dummy, &dummy, 1, nullptr, 0) == nullptr, "a null error buffer is allowed");
  KerasWht_DestroyLiteRtCustomOps(nullptr);
}

void TestErrors() {
  auto setup2d = [](Graph& g) {
    g.Set(0, kTfLiteFloat32, {1, 8, 8, 4});
    g.Set(1, kTfLiteFloat32, {8, 8}, true);
    g.Set(2, kTfLiteFloat32, {8, 8}, true);
    g.Set(3, kTfLiteFloat32, {1});
  };
  const TfLiteRegistration* r2 = KerasWht_Register_WHT2D();
  const TfLiteRegistration* r1 = KerasWht_Register_WHT1D();
  { Graph g; setup2d(g); ExpectError(r2, g, {}, "not a valid flexbuffer"); }
  { Graph g; setup2d(g); ExpectError(r2, g, {1, 2, 3, 4, 5}, "not a valid flexbuffer"); }
  { Graph g; setup2d(g); ExpectError(r2, g, Options1D(8, false), "lack \"block_h\""); }
  { Graph g; setup2d(g); ExpectError(r2, g, Options2D(6, 8, false, false), "power of two"); }
  { Graph g; setup2d(g); ExpectError(r2, g, Options2D(4, 8, false, false), "scale has shape (8, 8)"); }
  { Graph g; setup2d(g); ExpectError(r2, g, Options2D(1 << 10, 1 << 10, false, false), "exceeds"); }
  // The largest tile passes the options' checks (and fails on the parameters); a block past it does not.
  { Graph g; setup2d(g); ExpectError(r2, g, Options2D(256, 256, false, false), "scale has shape (8, 8)"); }
  { Graph g; g.Set(0, kTfLiteFloat32, {2, 16}); g.Set(1, kTfLiteFloat32, {8}); g.Set(2, kTfLiteFloat32, {8}); g.Set(3, kTfLiteFloat32, {1});
    ExpectError(r1, g, Options1D(contract::kMaxBlockElements * 2, false), "power of two up to 65536, got 131072"); }
  Expect(strcmp(r1->custom_name, "KerasWht1D") == 0 && strcmp(r2->custom_name, "KerasWht2D") == 0,
         "the registrations carry the ops' names");
  { Graph g; setup2d(g); g.Set(0, kTfLiteInt32, {1, 8, 8, 4}); ExpectError(r2, g, Options2D(8, 8, false, false), "float32 or int8"); }
  { Graph g; setup2d(g); g.Set(3, kTfLiteInt8, {1}); ExpectError(r2, g, Options2D(8, 8, false, false), "differs"); }
  { Graph g; setup2d(g); g.Set(0, kTfLiteFloat32, {8, 8, 4}); ExpectError(r2, g, Options2D(8, 8, false, false), "rank 4"); }
  { Graph g; setup2d(g); g.Set(1, kTfLiteInt8, {8, 8}); ExpectError(r2, g, Options2D(8, 8, false, false), "scale must be float32"); }
  { Graph g; setup2d(g); ExpectError(r2, g, Options2D(8, 8, true, false), "scale has shape"); }
  { Graph g; setup2d(g); free(g.node.inputs); g.node.inputs = IntArray({0, 1}); ExpectError(r2, g, Options2D(8, 8, false, false), "3 inputs"); }
  { Graph g; setup2d(g); g.UsePost(4); free(g.node.inputs); g.node.inputs = IntArray({0, 1, 2, 4});
    ExpectError(r2, g, Options2D(8, 8, false, false), "or 5 (and post_scale, post_offset)"); }
  { Graph g; setup2d(g); g.UsePost(4); g.Set(5, kTfLiteFloat32, {3}, true);
    ExpectError(r2, g, Options2D(8, 8, false, false), "post_offset has shape (3), the options and the input need (4)"); }
  { Graph g; setup2d(g); ExpectError(r2, g, Options2D(8, 8, false, false, "gelu"), "\"activation\" must be \"relu\", \"relu6\" or \"hard_swish\", got \"gelu\""); }
  { Graph g; setup2d(g); free(g.node.inputs); g.node.inputs = IntArray({0, 1, 9}); ExpectError(r2, g, Options2D(8, 8, false, false), "threshold is missing"); }
  { Graph g; setup2d(g); g.Set(0, kTfLiteInt8, {1, 8, 8, 4}); g.Set(3, kTfLiteInt8, {1}); g.tensors[0].params.scale = 0;
    ExpectError(r2, g, Options2D(8, 8, false, false), "scale > 0"); }
  { Graph g; g.Set(0, kTfLiteFloat32, {2, 16}); g.Set(1, kTfLiteFloat32, {8}); g.Set(2, kTfLiteFloat32, {4}); g.Set(3, kTfLiteFloat32, {1});
    ExpectError(r1, g, Options1D(8, false), "threshold has shape (4)"); }
  { Graph g; g.Set(0, kTfLiteFloat32, {2, 16}); g.Set(1, kTfLiteFloat32, {8}); g.Set(2, kTfLiteFloat32, {8}); g.Set(3, kTfLiteFloat32, {1});
    ExpectError(r1, g, Options1D(8, false, 17), "\"channels\" is 17, more than the input's 16 channels"); }
  { Graph g; g.Set(0, kTfLiteFloat32, {2, 16}); g.Set(1, kTfLiteFloat32, {8}); g.Set(2, kTfLiteFloat32, {8}); g.Set(3, kTfLiteFloat32, {1});
    ExpectError(r1, g, Options1D(8, false, 0), "\"channels\" must be at least 1, got 0"); }
  { Graph g; g.Set(0, kTfLiteFloat32, {2, 16}); g.Set(1, kTfLiteFloat32, {8}); g.Set(2, kTfLiteFloat32, {8}); g.Set(3, kTfLiteFloat32, {1});
    ExpectError(r1, g, Options1D(8, true, 8), "residual op cannot change its channel count"); }
  {  // options of the wrong type
    flexbuffers::Builder fbb;
    fbb.Map([&] { fbb.String(contract::kKeyBlock, "eight"); fbb.Bool(contract::kKeyResidual, false); });
    fbb.Finish();
    Graph g; g.Set(0, kTfLiteFloat32, {2, 16}); g.Set(1, kTfLiteFloat32, {8}); g.Set(2, kTfLiteFloat32, {8}); g.Set(3, kTfLiteFloat32, {1});
    ExpectError(r1, g, fbb.GetBuffer(), "must be an integer");
  }
  {  // not a map
    flexbuffers::Builder fbb;
    fbb.Int(8);
    fbb.Finish();
    Graph g; g.Set(0, kTfLiteFloat32, {2, 16}); g.Set(1, kTfLiteFloat32, {8}); g.Set(2, kTfLiteFloat32, {8}); g.Set(3, kTfLiteFloat32, {1});
    ExpectError(r1, g, fbb.GetBuffer(), "must be a flexbuffer map");
  }
}

// Random option bytes (mutated valid ones and noise) and random shapes: any outcome but
// a crash, a sanitizer report or an error without a message.
int Fuzz(int rounds) {
  std::mt19937 rng(2024);
  int ran = 0;
  const TfLiteRegistration* regs[2] = {KerasWht_Register_WHT1D(), KerasWht_Register_WHT2D()};
  for (int round = 0; round < rounds; ++round) {
    const bool two_d = rng() % 2;
    const char* activations[] = {nullptr, "relu", "hard_swish", "swish"};
    std::vector<uint8_t> options = two_d ? Options2D(1 << (rng() % 4), 1 << (rng() % 4), rng() % 2, rng() % 2,
                                                     activations[rng() % 4])
                                         : Options1D(1 << (rng() % 6), rng() % 2);
    switch (rng() % 4) {
      case 0: break;
      case 1: options[rng() % options.size()] = static_cast<uint8_t>(rng()); break;
      case 2: options.resize(rng() % (options.size() + 1)); break;
      default: for (auto& b : options) b = static_cast<uint8_t>(rng()); break;
    }
    Graph g;
    auto dims = [&](int rank) {
      std::vector<int> d(rank);
      for (auto& v : d) v = static_cast<int>(rng() % 6);
      return d;
    };
    const int rank = static_cast<int>(rng() % 5) + (two_d ? 1 : 0);
    const TfLiteType types[] = {kTfLiteFloat32, kTfLiteInt8, kTfLiteInt32};
    const TfLiteType type = types[rng() % 3];
    g.Set(0, type, dims(rank));
    g.Set(1, rng() % 5 ? kTfLiteFloat32 : kTfLiteInt8, dims(static_cast<int>(rng() % 4)), rng() % 2);
    g.Set(2, kTfLiteFloat32, dims(static_cast<int>(rng() % 4)), rng() % 2);
    g.Set(3, rng() % 5 ? type : kTfLiteFloat32, {1});
    if (rng() % 2 == 0) {  // parameters that match valid options, to get past Prepare more often
      const int c = g.tensors[0].dims->size ? g.tensors[0].dims->data[g.tensors[0].dims->size - 1] : 1;
      const flexbuffers::Map map = flexbuffers::VerifyBuffer(options.data(), options.size()) &&
                                   flexbuffers::GetRoot(options).IsMap() ? flexbuffers::GetRoot(options).AsMap()
                                                                         : flexbuffers::Map::EmptyMap();
      const int b = static_cast<int>(map[contract::kKeyBlock].AsInt64());
      const int bh = static_cast<int>(map[contract::kKeyBlockH].AsInt64());
      const int bw = static_cast<int>(map[contract::kKeyBlockW].AsInt64());
      const std::vector<int> shape = two_d ? (map[contract::kKeyPerChannel].AsBool() ? std::vector<int>{bh, bw, c}
                                                                          : std::vector<int>{bh, bw})
                                           : std::vector<int>{b};
      bool sane = true;
      for (int d : shape) sane = sane && d > 0 && d <= 64;
      if (sane) {
        g.Set(1, kTfLiteFloat32, shape, rng() % 2);
        g.Set(2, kTfLiteFloat32, shape, rng() % 2);
      }
    }
    if (rng() % 3 == 0) {  // a folded batch norm: of the output's channels, or of any size
      const int c = g.tensors[0].dims->size ? g.tensors[0].dims->data[g.tensors[0].dims->size - 1] : 1;
      g.UsePost(rng() % 2 ? c : static_cast<int>(rng() % 6));
      if (rng() % 4 == 0) g.Set(5, kTfLiteInt8, {c});
    }
    last_error.clear();
    const TfLiteStatus status = Run(regs[two_d], g, options);
    if (status != kTfLiteOk && last_error.empty()) {
      ++failures;
      printf("FAIL fuzz round %d: error without a message\n", round);
    }
    ran += status == kTfLiteOk;
  }
  return ran;
}

}  // namespace

// test_ops [ROUNDS [ISA]]: with ISA (run with KERAS_WHT_ISA=ISA), exits 77 (skipped)
// where the kernels run another instruction set, one this CPU lacks.
int main(int argc, char** argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 20000;
  if (argc > 2 && strcmp(argv[2], KerasWht_Isa()) != 0) {
    printf("ops: skipped, this CPU runs %s, not %s\n", KerasWht_Isa(), argv[2]);
    return 77;
  }
  TestValid();
  TestThreads();
  TestErrors();
  TestLiteRtWithoutLiteRt();
  const int ran = Fuzz(rounds);
  Expect(ran > rounds / 100, "the fuzz loop gets through Eval at times");
  printf("ops (%s): %d fuzz rounds (%d ran through Eval), %d failures\n", KerasWht_Isa(), rounds, ran, failures);
  return failures == 0 ? 0 : 1;
}
