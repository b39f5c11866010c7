// A C99 app includes keras-wht's public header and uses it: the op names, the
// registrations and the transform (what TFLite's C API, e.g.
// TfLiteInterpreterOptionsAddCustomOp, needs from it), and the LiteRT registration (which
// refuses here: this app links no libLiteRt.so).
#include <stdio.h>
#include <string.h>

#include "keras_wht/custom_ops.h"

static int fail(const char* what) {
  fprintf(stderr, "test_c_app: %s\n", what);
  return 1;
}

int main(void) {
  const TfLiteRegistration* wht1d = KerasWht_Register_WHT1D();
  const TfLiteRegistration* wht2d = KerasWht_Register_WHT2D();
  if (wht1d == NULL || wht2d == NULL || wht1d == wht2d) return fail("no registrations");
  if (wht1d->prepare == NULL || wht1d->invoke == NULL || wht2d->prepare == NULL || wht2d->invoke == NULL)
    return fail("a registration without prepare or invoke");
  if (strcmp(KERAS_WHT_OP_1D, "KerasWht1D") != 0 || strcmp(KERAS_WHT_OP_2D, "KerasWht2D") != 0)
    return fail("the op names");
  float data[4] = {1.0f, 2.0f, 3.0f, 4.0f};  // H_4 times it: 10, -2, -4, 0
  if (KerasWht_Fwht(data, 1, 4) != 0 || data[0] != 10.0f || data[1] != -2.0f || data[2] != -4.0f || data[3] != 0.0f)
    return fail("the transform");
  if (KerasWht_Fwht(data, 1, 3) != -1) return fail("n = 3 accepted");
  if (KerasWht_Isa() == NULL || KerasWht_Isa()[0] == '\0') return fail("no instruction set");
  if (KerasWht_ThreadPool() == NULL || KerasWht_ThreadPool()[0] == '\0') return fail("no thread pool");
  char error[200];
  int options = 0, model = 0;
  if (KerasWht_AddLiteRtCustomOps(&options, &model, 1, error, sizeof error) != NULL ||
      strstr(error, "link the app with libLiteRt.so") == NULL)
    return fail("the LiteRT registration without LiteRT");
  printf("test_c_app: ok (%s, %s threads)\n", KerasWht_Isa(), KerasWht_ThreadPool());
  return 0;
}
