"""The split report of a recipe's data, without training: label counts per split, duplicates
found and kept within one split, held-out texts also seen in training, small-class warnings.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/split_report.py distilbert \
        --set data.dataset=text_file --set data.params.path=../shared/data/sst2

writes benchmarks/results/split-report-<name>.md (the same lines `compress` prints after its
data stage, and report.json's ``dataset.split_report``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from edgekit.data.split_report import console_lines, describe
from edgekit.pipeline import load_data
from edgekit.recipe.loader import load_recipe, parse_overrides

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--name", help="results file suffix (default: the recipe's name)")
    args = parser.parse_args(argv)
    recipe = load_recipe(args.recipe, overrides=parse_overrides(args.overrides))
    data = load_data(recipe)
    split = describe(data, data.test.take(recipe.validation.max_examples))
    lines = console_lines(split)
    command = " ".join(["python benchmarks/split_report.py", *(argv or sys.argv[1:])])
    text = "\n".join([f"# Split report: {args.name or recipe.name}", "", f"Command: `{command}`  ",
                      f"Data: {data.name} ({data.source})", "", "```", *lines, "```", "",
                      "```json", json.dumps(split, indent=2), "```", ""])
    out = RESULTS / f"split-report-{args.name or recipe.name}.md"
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
