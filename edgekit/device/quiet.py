"""Silence a native library's stderr chatter (TensorFlow's CUDA probing, TFLite's converter and
delegate banners) that would bury edgekit's one-line messages, replaying it if the wrapped call
fails. ``EDGEKIT_VERBOSE=1`` keeps all of it.

In the device package because the LiteRT adapter quiets its interpreter with it on a device;
the host's other quieting helpers (:mod:`edgekit.quiet`) need libraries a device lacks."""

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
