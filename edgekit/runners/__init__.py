"""Self-contained runners: NumPy + one runtime (+ ``tokenizers`` for text), no TensorFlow, so
they run on a device from a copied bundle."""
