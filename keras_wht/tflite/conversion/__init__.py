"""The workstation side: Keras models to .tflite files, with TensorFlow's converter.

`convert` (converter.py) runs the steps in order; each lives in its own module:
precision (float32 twin), lowering (WHT layers to custom ops), quantization (int8 with
the WHT layers in float), signature (input and output order and names), rewrite (edits
to the flatbuffer). compat.py holds every private TensorFlow and Keras interface used.
"""

from keras_wht._checks import require_tensorflow

require_tensorflow()
