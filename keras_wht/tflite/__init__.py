"""TFLite: convert Keras models with WHT layers, and run them on any TFLite runtime."""

from keras_wht.tflite.convert import ParityError, check_parity, convert
from keras_wht.tflite.flatbuffer import operators
from keras_wht.tflite.interpreter import Interpreter
from keras_wht.tflite.runtime import available as runtimes

__all__ = ["Interpreter", "ParityError", "check_parity", "convert", "operators", "runtimes"]
