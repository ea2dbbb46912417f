"""The Pareto plot of an ``edgekit optimize`` bundle, as the PNG README shows: the image of
report.html's optimize section (``edgekit/optimize/chart.py`` draws it), written out as is.

    python benchmarks/pareto_png.py BUNDLE docs/optimize-distilbert-sst2.png
"""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path


def main(bundle: Path, out: Path) -> None:
    page = (bundle / "report.html").read_text(encoding="utf-8")
    start = page.find('<section id="optimize">')
    if start < 0:
        sys.exit(f"{bundle}/report.html: no optimize section (fix: pass a bundle written by "
                 "'edgekit optimize')")
    found = re.search(r'src="data:image/png;base64,([^"]+)"', page[start:])
    if found is None:
        sys.exit(f"{bundle}/report.html: the optimize section has no plot")
    out.write_bytes(base64.b64decode(found.group(1)))
    print("wrote", out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python benchmarks/pareto_png.py BUNDLE OUT.png")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
