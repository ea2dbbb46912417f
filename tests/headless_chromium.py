"""Headless Chromium (Debian's ``chromium`` package) for checking report.html as a reader sees it.

Two primitives, both one ``chromium --headless`` process with a fresh profile and nothing that
reaches the network: :func:`screenshot` (a PNG of the page at a window size) and
:func:`measure` (the page loaded at a window size, a script run on ``load`` that writes JSON into
the DOM, read back with ``--dump-dom``). Standard library only: no webdriver, no CDP client.

Also a command, for the screenshots under docs/::

    python tests/headless_chromium.py BUNDLE/report.html docs/report-lenet5.png --width 1000 --height 2600
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--disable-extensions", "--mute-audio")
RESULT_ID = "edgekit-browser-results"


def find_chromium() -> str | None:
    """The Chromium binary, or None (tests skip naming the ``chromium`` package)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(page: Path, width: int, height: int, *extra: str, timeout: int = 120) -> str:
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium not found: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="edgekit-chromium-") as profile:
        done = subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}",
                               f"--window-size={width},{height}", *extra, page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def screenshot(page: Path, out: Path, *, width: int, height: int) -> Path:
    """A PNG of the top ``height`` pixels of ``page`` in a ``width``-wide window."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(page, width, height, f"--screenshot={out.resolve()}")
    if not out.is_file() or out.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        raise RuntimeError(f"chromium wrote no PNG to {out}")
    return out


def measure(page: Path, script: str, *, width: int, height: int = 900) -> Any:
    """Load ``page`` into a ``width`` × ``height`` frame and run ``script`` once it has loaded
    (images included); the script sees the page as ``win`` and ``doc`` and returns a JSON-able
    value, which comes back here.

    A frame, not the window, because headless Chromium does not make windows narrower than
    500 px, and a phone is 360 to 430. The page goes in as ``srcdoc`` (same origin as the
    wrapper, so the script can read it) with a ``<base>`` so its relative links still resolve
    against the bundle; the wrapper is written to a temporary folder, never into the bundle.
    """
    text = page.read_text(encoding="utf-8")
    base = f'<base href="{page.resolve().parent.as_uri()}/">'
    text = text.replace("<head>", "<head>" + base, 1) if "<head>" in text else base + text
    wrapper = f"""<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0">
<iframe id="page" style="width:{width}px;height:{height}px;border:0"
 srcdoc="{html.escape(text, quote=True)}"></iframe>
<script>
const frame = document.getElementById('page');
frame.addEventListener('load', () => {{
  const win = frame.contentWindow, doc = frame.contentDocument;
  let value; try {{ value = (() => {{ {script} }})(); }} catch (e) {{ value = {{error: String(e)}}; }}
  const out = document.createElement('pre'); out.id = '{RESULT_ID}';
  out.textContent = JSON.stringify(value); document.body.appendChild(out);
}});
</script></body></html>"""
    with tempfile.TemporaryDirectory(prefix="edgekit-page-") as folder:
        copy = Path(folder) / "measure.html"
        copy.write_text(wrapper, encoding="utf-8")
        dom = _run(copy, max(width, 500) + 40, height + 40, "--dump-dom",
                   "--virtual-time-budget=15000")
    found = re.search(rf'<pre id="{RESULT_ID}">(.*?)</pre>', dom, re.S)
    if not found:
        raise RuntimeError("the measuring script left no result in the DOM (did the page load?)")
    return json.loads(html.unescape(found.group(1)))


def main() -> None:
    parser = argparse.ArgumentParser(description="Screenshot a report.html with headless Chromium")
    parser.add_argument("page", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=2600)
    args = parser.parse_args()
    print(screenshot(args.page, args.out, width=args.width, height=args.height))


if __name__ == "__main__":
    main()
