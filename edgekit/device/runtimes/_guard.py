"""Turn an engine's failure to load or run an artifact into one :class:`EdgekitError` line.

Engines report bad files in their own ways (``ValueError`` from LiteRT, ``InvalidProtobuf``/
``Fail`` from ONNX Runtime, ``RuntimeError`` from OpenVINO, sometimes pages of C++ log). Each
adapter wraps its load and run in :func:`engine_errors`, and calls :func:`sniff` first so the
most common mistakes (an empty file, a PNG or a zip renamed ``.tflite``, an OpenVINO ``.xml``
without its ``.bin``) are named before native code ever parses the bytes, which also keeps
known-garbage input away from parsers that might crash the process. Crashes that still happen
are caught one level up, by loading in a child process (:mod:`edgekit.device.runtimes._isolate`).
NumPy-free and TensorFlow-free, like the adapters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgekit.device.errors import EdgekitError
from edgekit.device.formats import Format, artifact_files, format_of

# Leading bytes of files people mistake for models, so the error can say what the file is.
_FOREIGN = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
            (b"GIF8", "a GIF image"), (b"PK\x03\x04", "a zip archive (.keras/.zip?)"),
            (b"\x1f\x8b", "a gzip file"), (b"%PDF", "a PDF document"),
            (b"\x89HDF", "an HDF5 (.h5) file"), (b"\x80\x02", "a Python pickle"),
            (b"\x80\x04", "a Python pickle"), (b"\x7fELF", "an executable"))


def _head(path: Path, n: int = 64) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def _check_tflite(path: Path, head: bytes) -> str | None:
    return None if head[4:8] == b"TFL3" else "not a TFLite flatbuffer (no 'TFL3' identifier)"


def _check_onnx(path: Path, head: bytes) -> str | None:
    # A ModelProto starts with a protobuf tag; field 1 (ir_version, varint) is written first.
    return None if head[:1] == b"\x08" else "not an ONNX model (not a ModelProto protobuf)"


def _check_openvino(path: Path, head: bytes) -> str | None:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not (text.startswith(b"<?xml") or text.startswith(b"<net")):
        return "not an OpenVINO IR .xml file"
    missing = [f.name for f in artifact_files(path)[1:] if not f.is_file()]  # the .bin
    return f"its weights file {missing[0]} is missing" if missing else None


# What each format's loaded file must look like (its suffix comes from edgekit.device.formats).
_CHECKS = {Format.TFLITE: _check_tflite, Format.ONNX: _check_onnx,
           Format.OPENVINO: _check_openvino}


def sniff(path: Path) -> None:
    """Refuse a missing, empty or obviously foreign file before an engine parses it."""
    path = Path(path)
    if not path.is_file():
        raise EdgekitError("model file not found", where=path, fix="check the path")
    head = _head(path)
    if not head:
        raise EdgekitError("model file is empty", where=path,
                           fix="re-export it; an interrupted copy leaves empty files")
    for magic, what in _FOREIGN:
        if head.startswith(magic):
            raise EdgekitError(f"this is {what}, not a {path.suffix or 'model'} model", where=path,
                               fix="point at the exported model file")
    fmt = format_of(path)
    check = _CHECKS.get(fmt) if fmt else None
    problem = check(path, head) if check else None
    if problem:
        raise EdgekitError(problem, where=path, fix="point at a model exported by edgekit, or "
                           "re-export it")


def _first_line(exc: BaseException) -> str:
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()[:300]
    return type(exc).__name__


@contextmanager
def engine_errors(runtime: str, path: Path | str, action: str) -> Iterator[None]:
    """Re-raise anything an engine throws while it ``action``s ``path`` as an EdgekitError."""
    try:
        yield
    except EdgekitError:
        raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise EdgekitError(f"{runtime} could not {action} the model: {type(exc).__name__}: "
                           f"{_first_line(exc)}", where=path,
                           fix="the file is corrupt or not a model for this runtime; re-export "
                           "it, or check the inputs match the model") from exc
