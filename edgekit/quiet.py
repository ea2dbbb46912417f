"""Keep third-party side effects out of the user's way: silence native libraries' stderr
chatter (TensorFlow's CUDA probing, TFLite's converter and delegate banners) that would bury
edgekit's one-line messages, replaying it if the wrapped call fails; and run tools that drop
debug files into the working directory somewhere else."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def native_stderr() -> Iterator[None]:
    if os.environ.get("EDGEKIT_VERBOSE"):
        yield
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # pytest capture, notebooks
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield
        except BaseException:
            os.dup2(saved, fd)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, fd)
            os.close(saved)


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
