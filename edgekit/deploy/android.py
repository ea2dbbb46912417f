"""Deploy to an Android phone: a folder for an app's assets, and a proof that it runs there.

Phones run no Python, so the folder holds what an app needs (the ``.tflite``, ``labels.txt``,
the tokenizer vocabulary of text bundles) and ``Predict.kt``, an example of calling it with
LiteRT's Interpreter API (documentation: it is not built here). Where ``adb`` sees a phone the
``.tflite`` is pushed and LiteRT's ``benchmark_model`` runs it there, which proves it loads and
runs on the phone's runtime (:mod:`edgekit.targets.adb`); otherwise that step is skipped with
the reason.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from edgekit.atomic import write_text
from edgekit.deploy.choose import Choice, choose
from edgekit.deploy.folder import Written, copy_artifact, requirements
from edgekit.deploy.out import write_out
from edgekit.deploy.result import Deployed, chosen_line, describe
from edgekit.device.predict import CONFIG, SCHEMA
from edgekit.devices import DeviceProfile
from edgekit.errors import EdgekitError
from edgekit.targets import RunRequest, target_for
from edgekit.validation.ondevice import heldout
from edgekit.bundle_integrity import member_path, write_manifest

TEMPLATE = Path(__file__).parent / "templates" / "Predict.kt"

_TEXT_BODY = """\
    /** Token ids from the vocabulary (vocab.txt, WordPiece; pad or cut to {seq_len}). */
    fun predict(inputIds: IntArray, attentionMask: IntArray, tokenTypeIds: IntArray): Pair<String, FloatArray> {{
        val inputs = mapOf<String, Any>("input_ids" to arrayOf(inputIds), "attention_mask" to arrayOf(attentionMask),
                                        "token_type_ids" to arrayOf(tokenTypeIds))
        val logits = Array(1) {{ FloatArray(labels.size) }}
        interpreter.runSignature(inputs, mapOf<String, Any>("{output}" to logits), "{signature}")
        val p = softmax(logits[0])
        return labels[p.indices.maxBy {{ p[it] }}] to p
    }}
"""

_TENSOR_BODY = """\
    /** One example shaped {shape} ({dtype}), preprocessed as the bundle's held-out data. */
    fun predict(input: Any): Pair<String, FloatArray> {{
        val output = Array(1) {{ FloatArray(labels.size) }}
        interpreter.run(input, output)
        val p = softmax(output[0])
        return labels[p.indices.maxBy {{ p[it] }}] to p
    }}
"""


def labels_of(bundle: Path, report: dict[str, Any], text: dict[str, Any] | None) -> list[str]:
    if text and text.get("labels"):
        return [str(x) for x in text["labels"]]
    if report["dataset"].get("label_names"):
        return [str(x) for x in report["dataset"]["label_names"]]
    from edgekit.device.heldout import open_arrays

    width = open_arrays(heldout(bundle, report))["reference"].shape[-1]
    return [str(i) for i in range(width)]


def signature(model: Path) -> tuple[str, str]:
    """The model's first signature and its first output name, as LiteRT reads them (what
    ``runSignature`` takes); LiteRT's defaults where it is not installed here."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return "serving_default", "output_0"
    signatures = Interpreter(model_path=str(model)).get_signature_list()
    name = next(iter(signatures), "serving_default")
    outputs = signatures.get(name, {}).get("outputs") or ["output_0"]
    return name, outputs[0]


def kotlin_example(choice: Choice, model: str, text: dict[str, Any] | None,
                   report: dict[str, Any], bundle: Path, device: DeviceProfile) -> str:
    if text:
        name, output = signature(bundle / choice.file)
        body = _TEXT_BODY.format(seq_len=text["seq_len"], output=output, signature=name)
    else:
        from edgekit.device.heldout import open_arrays

        x = next(iter(open_arrays(heldout(bundle, report)).inputs().values()))
        body = _TENSOR_BODY.format(shape=f"(1, {', '.join(map(str, x.shape[1:]))})",
                                   dtype=x.dtype)
    return (TEMPLATE.read_text(encoding="utf-8")
            .replace("{artifact}", choice.file).replace("{model}", model)
            .replace("{proven}", choice.runtime_version or "LiteRT").replace("{threads}", str(device.threads))
            .replace("{vocab_note}", ", vocab.txt" if text else "").replace("{body}", body))


def write_android_folder(folder: Path, bundle: Path, report: dict[str, Any], choice: Choice,
                         device: DeviceProfile) -> Written:
    text = None
    if (bundle / "text.json").is_file():
        text = json.loads((bundle / "text.json").read_text(encoding="utf-8"))
        tok = member_path(bundle, text["tokenizer_dir"])
        for name in ("vocab.txt", "tokenizer.json"):
            if (tok / name).is_file():
                shutil.copy2(tok / name, folder / name)
        shutil.copy2(bundle / "text.json", folder / "text.json")
    artifact = copy_artifact(bundle, choice, folder)
    model = Path(artifact).name
    labels = labels_of(bundle, report, text)
    write_text(folder / "labels.txt", "".join(f"{lab}\n" for lab in labels))
    write_text(folder / "Predict.kt", kotlin_example(choice, model, text, report, bundle, device))
    config = {"schema": SCHEMA, "bundle": bundle.name, "recipe": report.get("recipe"),
              "artifact": artifact, "format": choice.entry["format"],
              "precision": choice.entry["precision"], "runtime": choice.runtime,
              "proven_with": choice.runtime_version, "device": device.name,
              "kind": "text" if text else "tensor", "labels": labels,
              "requirements": requirements(choice, False)[:1]}
    write_text(folder / CONFIG, json.dumps(config, indent=2))
    write_text(folder / "README.md", _readme(config, device, text is not None))
    write_manifest(folder)
    return Written(folder, config, config["requirements"])


def _readme(config: dict[str, Any], device: DeviceProfile, text: bool) -> str:
    return f"""\
# {config['recipe']}: {config['artifact']} for {device.name}

{device.description}. Written by `edgekit deploy` from the bundle `{config['bundle']}`
({config['format']} {config['precision']}, proven with {config['proven_with']}).

- `{config['artifact']}`: the model, for LiteRT (`com.google.ai.edge.litert:litert`)
- `labels.txt`: one label a line, in output order
{'- `vocab.txt` / `tokenizer.json`: the tokenizer (WordPiece); `text.json` holds its sequence length' + chr(10) if text else ''}\
- `Predict.kt`: an EXAMPLE of calling it with LiteRT's Interpreter API; not built or tested
  by edgekit, adapt it to your app
- `manifest.json`: sha256 of every file

`edgekit deploy ... --target android` pushes the model to `{device.remote.workdir}` and runs
LiteRT's `benchmark_model` there (pushed once to `{device.remote.benchmark_model}`, see
docs/targets.md) when `adb devices` lists a phone.
"""


def deploy_to(bundle: Path, report: dict[str, Any], device: DeviceProfile, *,
              artifact: Path | None, out: Path | None, dest: str | None = None) -> Deployed:
    """Write the folder (to ``out``, else a temporary one), then push and benchmark it where a
    phone is attached; without one, skip that with the reason (or, with no ``out`` either,
    refuse in one line: there would be nothing to show for the run)."""
    choice = choose(bundle, report, device, artifact)
    target = target_for(device)
    missing = target.missing(device)
    if out is None and missing:
        raise EdgekitError(f"no phone reachable: {missing}",
                           fix="pass --out DIR to write the folder for your app")
    lines = [chosen_line(choice)]
    with tempfile.TemporaryDirectory(prefix="edgekit-deploy-") as tmp:
        if out is not None:
            written = write_out(out, lambda folder: write_android_folder(folder, bundle, report,
                                                                         choice, device))
            lines.append(f"wrote {out} ({describe(written)})")
        else:
            written = write_android_folder(Path(tmp), bundle, report, choice, device)
        if missing:
            lines.append(f"skipped adb push and benchmark_model: {missing}")
            return Deployed(choice, written, lines=lines)
        model = written.folder / written.config["artifact"]
        result = target.run(device, RunRequest(files=(model,), runtime=choice.runtime,
                                               inputs=heldout(bundle, report), runs=10, warmup=2,
                                               threads=device.threads, want_outputs=False))
        latency = result.info["latency_ms"]
        lines.append(f"pushed to {device.remote.workdir} and ran there with benchmark_model: "
                     f"{latency.get('p50') or latency.get('mean')} ms per inference")
        return Deployed(choice, written, dest=device.remote.workdir, lines=lines)
