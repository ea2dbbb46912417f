"""The device side of edgekit: everything that runs on a target, shipped there whole.

This package imports only the standard library, NumPy, the runtimes and, for the text runner,
``tokenizers`` (never TensorFlow, pydantic or the rest of edgekit), so the host copies it to a
Raspberry Pi or an emulated ARM64 root as it is, whole, with the bare ``edgekit/__init__.py``
above it (:func:`edgekit.targets.payload_files`); ``tests/test_device_independence.py`` holds
it to that. The host side imports it freely; it imports nothing back.
"""
