"""edgekit: from a training recipe to compressed edge artifacts, each proven on its runtime.

Importing this package is cheap on purpose: TensorFlow and the runtimes load only when a
stage that needs them runs, so ``edgekit --help`` and ``edgekit recipes`` stay fast.
"""

__version__ = "0.1.0"
