"""The device side: runs .tflite models on ai-edge-litert, tflite-runtime or tf.lite,
with keras-wht's custom-op kernels registered, and never imports TensorFlow.

interpreter.py (Interpreter), runtimes.py (which runtime), custom_ops.py (the kernel
library and its registration), flatbuffer.py (reading models), integrity.py (checking
them before a runtime sees them).
"""
