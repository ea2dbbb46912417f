"""The README.md of a deployed folder: what it is, how to install its runtime and call it on
the device it was made for. Generated from ``deploy.json`` so it cannot drift from the folder."""

from __future__ import annotations

from typing import Any

from edgekit.devices import DeviceProfile


def _examples(config: dict[str, Any]) -> str:
    if config["kind"] == "text":
        return ('./predict "a gripping, beautifully shot film"\n'
                '# {"text": "...", "label": "...", "probabilities": {...}}\n'
                'printf \'%s\\n\' \'{"text": "first review"}\' \'"second review"\' | ./predict --jsonl')
    spec = ", ".join(f"{name}: (N, {', '.join(map(str, s['shape']))}) {s['dtype']}"
                     for name, s in config["inputs"].items())
    return (f"# inputs, preprocessed as the bundle's held-out data: {spec}\n"
            "./predict example.npy          # one example or a batch; .npz for several inputs\n"
            "# {\"outputs\": [...], \"label\": \"...\", \"probabilities\": {...}}\n"
            "printf '%s\\n' '{\"input\": [[...]]}' | ./predict --jsonl")


def readme(config: dict[str, Any], device: DeviceProfile, how_to_call: str) -> str:
    reqs = "\n".join(config["requirements"])
    return f"""\
# {config['recipe']}: {config['artifact']} for {device.name}

{device.description or device.name}. Written by `edgekit deploy` from the bundle
`{config['bundle']}`: the artifact ({config['format']} {config['precision']}, proven with
{config['proven_with'] or config['runtime']} on {config['proven_on'] or 'the host'}), the device
side of edgekit (`edgekit/device/`: NumPy and the runtime only, no TensorFlow) and a `predict`
entry point. `manifest.json` lists the sha256 of every file.

## Install the runtime (once)

```
python3 -m venv ~/edgekit-venv
~/edgekit-venv/bin/pip install -r requirements.txt
```

`requirements.txt` pins the versions the artifact was proven with:

```
{reqs}
```

`predict` runs `$EDGEKIT_PYTHON` if set, else the Python the device profile names, else
`python3`.

## Call it

```
{_examples(config)}
```

{how_to_call}

## Check it

```
./predict --check
```

verifies every file against `manifest.json`, that the runtime imports, and runs
{'the kept held-out texts' if config['kind'] == 'text' else 'a few kept held-out examples'}
(`check/`), comparing the outputs with those of the machine that deployed it
(max |Δ| within {config['check']['atol']} or, without a float tolerance, label agreement
at least {config['check']['min_agreement']}). It prints one JSON line; exit 0 when it passed.
"""
