"""What a BERT bundle carries besides its artifacts.

* ``tokenizer/`` and ``text.json`` (sequence length, label names, input names): enough for a
  device to go from text to label with a runtime, NumPy and ``tokenizers`` only
  (:mod:`edgekit.device.text_classify`).
* ``hf/<model>/``: the compressed float model as a Hugging Face checkpoint
  (``config.json`` + ``model.safetensors`` + tokenizer) that ``transformers`` loads as
  ``BertForSequenceClassification``, so users can take the student anywhere and peers can be
  measured on the very same weights. When PyTorch and transformers are installed the
  checkpoint is verified against the Keras model's logits in the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.atomic import write_text
from edgekit.data import Dataset
from edgekit.quiet import transformers_progress

from .checkpoint import copy_tokenizer_files, save_hf_checkpoint
from .encoder import INPUT_NAMES
from .introspect import config_of

TEXT_MANIFEST = "text.json"


def is_float_bert(model: Any) -> bool:
    """True for plain float models (not QAT-wrapped), which an HF checkpoint can express."""
    return not any(layer.name.startswith("quant") for layer in model.layers)


def write_text_manifest(bundle: Path, data: Dataset) -> dict[str, Any]:
    files = copy_tokenizer_files(data.extra["tokenizer_dir"], bundle / "tokenizer")
    manifest = {"schema": "edgekit.text/1", "task": data.task, "seq_len": data.extra["seq_len"],
                "seq_len_rule": data.extra.get("seq_len_rule"),
                # Every artifact is exported at seq_len; none takes another length. Pad or
                # truncate to it (the runner does) rather than re-exporting per input.
                "dynamic_length": False,
                "labels": list(data.extra.get("label_names", [])), "inputs": list(INPUT_NAMES),
                "tokenizer_dir": "tokenizer", "tokenizer_files": files}
    write_text(bundle / TEXT_MANIFEST, json.dumps(manifest, indent=2))
    return manifest


def write_hf_checkpoint(bundle: Path, name: str, model: Any, data: Dataset) -> dict[str, Any]:
    labels = tuple(str(n) for n in data.extra.get("label_names", ()))
    config = config_of(model, num_labels=data.num_classes or 2, id2label=labels)
    out = save_hf_checkpoint(model, config, bundle / "hf" / name, data.extra["tokenizer_dir"])
    facts: dict[str, Any] = {"path": out.relative_to(bundle).as_posix(), "model": name,
                             "layers": config.num_layers, "hidden_size": config.hidden_size}
    facts["transformers_check"] = verify_with_transformers(out, model, data)
    return facts


def verify_with_transformers(folder: Path, model: Any, data: Dataset, n: int = 16) -> dict[str, Any]:
    """Load the checkpoint with transformers (PyTorch) and compare logits with Keras."""
    try:
        import torch
        import transformers
    except ImportError as exc:
        return {"status": "skipped", "reason": f"{exc.name} is not installed"}
    x = {k: v[:n] for k, v in data.test.x.items()}
    with transformers_progress():
        hf = transformers.BertForSequenceClassification.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        got = hf(**{k: torch.as_tensor(v, dtype=torch.long) for k, v in x.items()}).logits.numpy()
    want = np.asarray(model.predict(x, verbose=0))
    diff = float(np.max(np.abs(got - want)))
    return {"status": "passed" if diff < 1e-3 else "failed", "max_abs_diff": diff,
            "examples": int(len(got)), "transformers": transformers.__version__}
