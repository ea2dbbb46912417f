"""Keep third-party side effects out of the user's way: silence native libraries' stderr
chatter (TensorFlow's CUDA probing, TFLite's converter and delegate banners) that would bury
edgekit's one-line messages, replaying it if the wrapped call fails; drop known advice lines and
progress bars of Python libraries (:func:`known_advice`, :func:`transformers_progress`); and run
tools that drop debug files into the working directory somewhere else.

``EDGEKIT_VERBOSE=1`` keeps all of it. :func:`native_stderr` lives in the device package
(:mod:`edgekit.device.quiet`), whose LiteRT adapter uses it on a device too."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from edgekit.device.quiet import native_stderr

__all__ = ["KNOWN_ADVICE", "known_advice", "native_stderr", "transformers_progress",
           "working_directory"]


@contextmanager
def working_directory(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Run the block in ``folder``: ONNX Runtime's symbolic shape inference writes
    ``sym_shape_infer_temp.onnx`` (+ external data) into the current directory when it gives
    up, which would land in the user's project. (``contextlib.chdir`` is Python 3.11+.)"""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


#: Third-party log lines that are advice to the library's own users, not news to edgekit's:
#: ONNX Runtime's quantizer asks for ``quant_pre_process`` on every call (edgekit runs it where
#: it matters: static int8; dynamic int8 quantizes MatMul/Gemm weights, which need no shapes).
KNOWN_ADVICE = ("Please consider to run pre-processing before quantization",)


class _DropAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(KNOWN_ADVICE)


@contextmanager
def known_advice() -> Iterator[None]:
    """Drop :data:`KNOWN_ADVICE` lines logged (to the root logger) inside the block."""
    if os.environ.get("EDGEKIT_VERBOSE"):
        yield
        return
    drop = _DropAdvice()
    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


@contextmanager
def transformers_progress() -> Iterator[None]:
    """No ``Loading weights`` progress bar from ``transformers`` inside the block (edgekit's
    own stage line says what is happening); the previous setting is restored after."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    if was and not os.environ.get("EDGEKIT_VERBOSE"):
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()
