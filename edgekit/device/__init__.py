"""The device side of edgekit: everything that runs on a target, shipped there whole.

This package imports only the standard library, NumPy and the runtimes (never TensorFlow,
pydantic or the rest of edgekit), so the host can copy it to a Raspberry Pi, a phone's shell or
an emulated ARM64 root as it is. The host side imports it freely; it imports nothing back.
"""
