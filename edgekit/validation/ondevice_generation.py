"""``edgekit validate`` for a GPT bundle's KV-cache pairs: the generation check of ``compress``
(:mod:`edgekit.validation.generation`) re-run on the target.

Each pair ``compress`` proved (``report.json``'s ``extras.generation.pairs``) is copied to the
device with the device package and run there by :mod:`edgekit.device.generate_runner` (the
device loop, :mod:`edgekit.device.generate`: NumPy and the runtime) on the bundle's held-out
prompts (``generation/prompts.json``). The host then judges what came back exactly as
``compress`` judged the host run:

* ``greedy_match``: the share of prompts whose first tokens equal the float Keras model's
  stored greedy tokens; gated (must be 1.0) where the pair is stored in fp32 and the target's
  engine computes in fp32 (the runner reports what it computes in), reported otherwise;
* time to first token and per decode step (p50/p90/p99) and tokens/s, measured on the
  target. Under emulation they are qemu's, not the device's, and are kept under
  ``emulated_timings`` with a note, never where device timings go.

Under emulation a seeded sample of :data:`EMULATED_PROMPTS` prompts runs (all their tokens):
the gate is exact, every token of every prompt run must equal the float model's, so a kernel
that computes differently on ARM shows on the first prompt whose greedy path crosses it; a
real device runs every stored prompt, so its timings cover as many steps as ``compress``'s.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.devices import DeviceProfile
from edgekit.errors import EdgekitError, RuntimeUnavailable
from edgekit.paths import inside
from edgekit.targets import GenerationRequest, target_for
from edgekit.targets._proc import TargetTimeout
from edgekit.validation.generation import PROMPTS_FILE, timing_facts, token_match
from edgekit.validation.pairs import gate

EMULATED_PROMPTS = 4
EMULATED_NOTE = "qemu-user emulation on the host: NOT device timings"


@dataclass(frozen=True)
class PromptSample:
    """Which of the ``of`` stored prompts run: all in order (``indices`` None) or a seeded,
    sorted sample."""

    size: int
    of: int
    indices: np.ndarray | None
    seed: int | None
    why: str

    def pick(self, rows: np.ndarray) -> np.ndarray:
        return rows if self.indices is None else rows[self.indices]

    def to_json(self) -> dict[str, Any]:
        return {"prompts": self.size, "of": self.of, "sampled": self.indices is not None,
                "seed": self.seed, "why": self.why}


def plan_prompts(device: DeviceProfile, stored: int, seed: int) -> PromptSample:
    """Every stored prompt on a real device; a seeded :data:`EMULATED_PROMPTS` under emulation
    (drawn without replacement by ``default_rng(seed)``, sorted)."""
    if device.emulation is None or stored <= EMULATED_PROMPTS:
        return PromptSample(stored, stored, None, None, "every stored held-out prompt")
    rng = np.random.default_rng(seed)
    return PromptSample(EMULATED_PROMPTS, stored,
                        np.sort(rng.choice(stored, size=EMULATED_PROMPTS, replace=False)), seed,
                        f"emulated: a seeded {EMULATED_PROMPTS} of the {stored} held-out prompts, "
                        "every token of each: the gate is exact, so one token computed "
                        "differently on ARM fails it")


def read_prompts(bundle: Path) -> dict[str, Any] | None:
    """``generation/prompts.json`` (None in bundles written before it was kept)."""
    path = inside(bundle, f"generation/{PROMPTS_FILE}", what="prompts file")
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def pair_runtime(pair: dict[str, Any], device: DeviceProfile) -> str | None:
    """The engine ``compress`` proved the pair on, where the device lists it (an OpenVINO
    entry runs the ONNX pair on OpenVINO: on a device without OpenVINO it is skipped, not
    re-run on ONNX Runtime, which its ONNX entry already does)."""
    return pair["runtime"] if pair["runtime"] in device.runtimes else None


def validate_pair(bundle: Path, pair: dict[str, Any], device: DeviceProfile,
                  prompts: np.ndarray, reference: np.ndarray, vocab: list[str]) -> dict[str, Any]:
    """Run one pair on ``device`` over ``prompts`` and judge its tokens against ``reference``."""
    from edgekit.device.generate import detokenize
    from edgekit.device.runtimes import RUNTIMES

    entry: dict[str, Any] = {k: pair[k] for k in ("format", "precision", "model", "folder")}
    runtime = pair_runtime(pair, device)
    if runtime is None:
        return entry | {"skipped": f"{device.name} has no {pair['runtime']}"}
    entry["runtime"] = runtime
    if device.scheme == "local" and RUNTIMES.get(runtime).missing():
        return entry | {"skipped": RUNTIMES.get(runtime).missing()}
    folder = inside(bundle, pair["folder"], what="KV-cache pair folder")
    try:
        ran = target_for(device).run_generation(device, GenerationRequest(
            pair=folder, runtime=runtime, prompts=tuple(tuple(int(t) for t in p) for p in prompts),
            new_tokens=reference.shape[1], threads=device.threads))
    except RuntimeUnavailable as exc:
        return entry | {"skipped": str(exc)}
    except TargetTimeout as exc:
        return entry | {"timed_out": str(exc)}
    info = ran.info
    timings = timing_facts(ran.first_token_s, [s for steps in ran.step_s for s in steps])
    matched = token_match(ran.tokens, reference)
    entry |= {"runtime_version": info.get("runtime_version"), "machine": info.get("machine"),
              "hardware": info.get("hardware"), "emulated": device.emulation is not None,
              "executed_precision": info["executed_precision"], "threads": info.get("threads"),
              "runner_imported_tensorflow": info.get("imported_tensorflow"),
              **matched, "host_greedy_match": pair.get("greedy_match"),
              **({"emulated_timings": timings | {"note": EMULATED_NOTE}}
                 if device.emulation is not None else timings),
              "sample": {"prompt": detokenize(list(prompts[0]), vocab),
                         "greedy": detokenize(ran.tokens[0], vocab)}}
    return gate(entry, pair["precision"])  # gated as compress gates: stored and computed in fp32


def validate_generation(bundle: Path, report: dict[str, Any], device: DeviceProfile,
                        seed: int) -> dict[str, Any] | None:
    """The generation check on ``device`` for every pair of the bundle (None: the bundle has
    none). ``passed`` is False when a gated pair's tokens differ from the float model's, a
    pair could not be run for an error, or one ran out of time."""
    proven = ((report.get("extras") or {}).get("generation") or {}).get("pairs")
    if proven is None:
        return None
    stored = read_prompts(bundle)
    if stored is None:
        return {"skipped": f"no generation/{PROMPTS_FILE} (the bundle predates it)",
                "pairs": [], "timed_out": [], "passed": None}
    all_prompts = np.asarray(stored["prompts"], dtype=np.int32)
    sample = plan_prompts(device, len(all_prompts), seed)
    vocab_path = inside(bundle, "generation/vocab.json", what="vocabulary file")
    vocab = json.loads(vocab_path.read_text(encoding="utf-8"))
    pairs: list[dict[str, Any]] = []
    for pair in proven:
        if "folder" not in pair:  # no pair for that export entry, or its writer failed
            continue
        reference = stored["float_greedy"].get(pair["model"])
        if reference is None:
            raise EdgekitError(f"generation/{PROMPTS_FILE} has no float tokens for model "
                               f"'{pair['model']}'", where=bundle / "generation" / PROMPTS_FILE,
                               fix="re-run 'edgekit compress' with this edgekit version")
        started = time.monotonic()
        entry = validate_pair(bundle, pair, device, sample.pick(all_prompts),
                              sample.pick(np.asarray(reference, dtype=np.int32)), vocab)
        pairs.append(entry | {"seconds": round(time.monotonic() - started, 2)})
    timed_out = [p["folder"] for p in pairs if "timed_out" in p]
    ran = [p for p in pairs if "skipped" not in p and "timed_out" not in p]
    return {"sample": sample.to_json(), "prompt_tokens": stored["prompt_tokens"],
            "new_tokens": stored["new_tokens"], "pairs": pairs, "timed_out": timed_out,
            "passed": all(p["passed"] is not False for p in ran) and not timed_out}
