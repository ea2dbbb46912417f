"""One formats table (edgekit/device/formats.py): every exporter's and every runtime's format is
in it, exporters write the suffix it names, and the readers of suffixes (sniffing, FLOP
counting, profile's runtime choice, the text runner) agree with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.device.formats import FORMATS, Format, artifact_files, files_for_suffix, format_of
from edgekit.device.runtimes import RUNTIMES
from edgekit.exporters import EXPORTERS


def test_every_exporter_format_is_in_the_table_with_its_suffix() -> None:
    assert EXPORTERS.names()
    for name in EXPORTERS.names():
        exporter = EXPORTERS.get(name)
        assert exporter.format in FORMATS, f"exporter '{name}': format {exporter.format!r}"
        assert exporter.suffix == FORMATS[Format(exporter.format)].suffix, name


def test_every_runtime_format_is_in_the_table() -> None:
    assert RUNTIMES.names()
    for name in RUNTIMES.names():
        formats = RUNTIMES.get(name).formats
        assert formats and all(f in FORMATS for f in formats), f"runtime '{name}': {formats}"


def test_each_format_default_runtime_loads_it() -> None:
    for files in FORMATS.values():
        assert files.runtime in RUNTIMES, files
        assert files.format in RUNTIMES.get(files.runtime).formats, files


def test_suffixes_are_unique_and_read_back() -> None:
    assert len({f.suffix for f in FORMATS.values()}) == len(FORMATS)
    for fmt, files in FORMATS.items():
        assert format_of(Path(f"model{files.suffix.upper()}")) is fmt
        assert files_for_suffix(files.suffix) is files
    assert format_of(Path("model.h5")) is None
    assert artifact_files(Path("m.xml")) == [Path("m.xml"), Path("m.bin")]
    assert artifact_files(Path("m.tflite")) == [Path("m.tflite")]


def test_sniffing_and_flop_counting_key_on_the_table() -> None:
    """The per-format checks and FLOP counters are keyed by Format, never by a suffix."""
    from edgekit.device.runtimes._guard import _CHECKS
    from edgekit.flops import COUNTERS

    assert set(_CHECKS) == set(FORMATS)
    assert set(COUNTERS) <= set(FORMATS) and all(isinstance(k, Format) for k in COUNTERS)


def test_a_missing_openvino_companion_is_named_from_the_table(tmp_path: Path) -> None:
    """sniff() names the companion the table lists (the .bin beside an IR's .xml) when absent."""
    from edgekit.device.runtimes._guard import sniff
    from edgekit.errors import EdgekitError

    files = FORMATS[Format.OPENVINO]
    model = tmp_path / f"model{files.suffix}"
    model.write_text('<?xml version="1.0"?><net name="m" version="11"></net>')
    with pytest.raises(EdgekitError, match=f"model{files.companions[0]} is missing"):
        sniff(model)
