"""The ``edgekit`` command: a thin layer that parses arguments and calls the library.

Heavy imports (TensorFlow, runtimes) happen inside the commands that need them, so
``edgekit --help``, ``edgekit recipes`` and ``edgekit devices`` answer at once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

try:  # typer vendors its own click since 0.2x; its usage errors are that copy's class
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - an older typer on the real click
    from click import UsageError

from edgekit.errors import EdgekitError


class _OneLineUsageErrors(TyperGroup):
    """Command-line mistakes (``--runs 0``, a missing argument, an unknown option) as one
    ``error:`` line and exit 2, like every other user error, not click's usage box."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare 'edgekit': show the help
                raise
            where = exc.ctx.command_path if exc.ctx else None
            fix = f"see '{where} --help'" if where else "see 'edgekit --help'"
            typer.echo(f"error: {EdgekitError(exc.format_message(), where=where, fix=fix)}",
                       err=True)
            raise typer.Exit(2) from None


app = typer.Typer(add_completion=False, no_args_is_help=True, cls=_OneLineUsageErrors,
                  help="Compress a model from a recipe and prove each artifact on its runtime.")


def _run(debug: bool, fn: Callable[[], Any]) -> Any:
    """The one error boundary of every command. User errors → one line on stderr and exit 2;
    a file the system refuses (permissions, a folder where a file is expected) is one too,
    naming the file; tracebacks only with --debug."""
    try:
        return fn()
    except EdgekitError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        typer.echo("interrupted: no output was written", err=True)
        raise typer.Exit(130) from None
    except Exception as exc:  # a bug, not a user error: still one line unless --debug
        if debug:
            raise
        if isinstance(exc, OSError) and exc.filename:  # the system refused a named file
            err = EdgekitError(exc.strerror or type(exc).__name__, where=exc.filename,
                               fix="check the path and its permissions")
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        first = str(exc).splitlines()[0] if str(exc) else ""
        typer.echo(f"internal error: {type(exc).__name__}: {first} (rerun with --debug for the "
                   "traceback and report it)", err=True)
        raise typer.Exit(1) from None


@app.command()
def recipes() -> None:
    """List the built-in recipes: name, family, data set, description."""
    from edgekit.recipe import recipe_summaries

    def show() -> None:
        summaries = recipe_summaries()
        name = max(len(s.name) for s in summaries)  # columns as wide as their longest entry
        family = max(len(s.family) for s in summaries)
        data = max(len(s.dataset) for s in summaries)
        for s in summaries:
            typer.echo(f"{s.name:<{name}} {s.family:<{family}} {s.dataset:<{data}} {s.description}")

    _run(False, show)


@app.command()
def devices() -> None:
    """List the device profiles: name, connection, runtimes, threads."""
    from edgekit.devices import all_devices

    def show() -> None:
        for _, d in all_devices():
            typer.echo(f"{d.name:<14} {d.connection:<24} {','.join(d.runtimes):<28} "
                       f"threads={d.threads}  {d.description}")

    _run(False, show)


@app.command()
def compress(
    recipe: Annotated[str, typer.Argument(help="built-in recipe name or path to a recipe YAML")],
    out: Annotated[Optional[Path], typer.Option(help="bundle folder (default: export/<recipe>)")] = None,
    quick: Annotated[bool, typer.Option(help="apply the recipe's 'quick' overrides: a short smoke run")] = False,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="override a field: section.field=value (repeatable)")] = None,
    dry_run: Annotated[bool, typer.Option(help="print the fully resolved recipe as YAML and exit")] = False,
    fresh: Annotated[bool, typer.Option(help="ignore finished stages of earlier runs (kept in "
                                        ".<out>.run next to the bundle) and start clean")] = False,
    debug: Annotated[bool, typer.Option(help="show tracebacks")] = False,
) -> None:
    """Train, compress, export and prove every artifact of RECIPE; write report.json/html."""

    def go() -> None:
        from edgekit.recipe.loader import load_recipe, parse_overrides, recipe_to_yaml

        resolved = load_recipe(recipe, quick=quick, overrides=parse_overrides(set_ or []))
        if dry_run:
            typer.echo(recipe_to_yaml(resolved), nl=False)
            return
        from edgekit.strategy import make_strategy

        strategy = make_strategy(resolved.train.strategy)  # before any TensorFlow op
        from edgekit.pipeline import compress as run_pipeline
        from edgekit.progress import RichProgress

        target = out or Path("export") / resolved.name
        report = run_pipeline(resolved, target, RichProgress(), fresh=fresh, strategy=strategy)
        if "worker" in report:  # a non-chief worker of a multi-worker run: the chief writes
            typer.echo(report["worker"]["note"])
            return
        failed = [a["file"] for a in report["artifacts"] if not a["passed"]]
        generation = report.get("extras", {}).get("generation", {})
        failed += [f"generation of {p.get('folder', p['format'])}" for p in generation.get("pairs", [])
                   if p.get("passed") is False]
        typer.echo(f"wrote {target}/report.json and report.html: {len(report['artifacts'])} "
                   f"artifacts, {'all passed' if not failed else 'FAILED: ' + ', '.join(failed)}")
        if failed or not report["passed"]:
            raise typer.Exit(3)

    _run(debug, go)


# --- reliability commands (issue 3) ---------------------------------------------------------

@app.command()
def verify(
    bundle: Annotated[Path, typer.Argument(help="bundle folder written by 'edgekit compress'")],
    load: Annotated[bool, typer.Option(help="also load each artifact on its runtime (in a child "
                                       "process, so a crashing engine is reported, not fatal) "
                                       "and run one held-out example")] = False,
    debug: Annotated[bool, typer.Option(help="show tracebacks")] = False,
) -> None:
    """Check every file of BUNDLE against manifest.json (size, sha256); exit 2 on the first mismatch."""

    def go() -> None:
        from edgekit.bundle_integrity import verify_bundle, verify_loads

        res = verify_bundle(bundle)
        typer.echo(f"ok: {res.files} files, {res.bytes:,} bytes match {bundle}/manifest.json")
        if load:
            typer.echo(f"ok: {verify_loads(bundle)} artifacts load and run on their runtimes")

    _run(debug, go)

# --- end reliability commands -----------------------------------------------------------------


TargetOpt = Annotated[str, typer.Option(help="device profile name or YAML path (see 'edgekit devices')")]
DebugOpt = Annotated[bool, typer.Option(help="show tracebacks")]


EXIT_TIMED_OUT = 4  # validate: some artifacts ran out of time; those that finished passed
EXIT_NOT_MEASURED = 5  # profile --require-measurement: the device could not be reached


@app.command()
def validate(
    bundle: Annotated[Path, typer.Argument(help="bundle folder written by 'edgekit compress'")],
    target: TargetOpt = "cpu",
    examples: Annotated[Optional[int], typer.Option(
        min=1, help="held-out examples to run (default: all on real devices; under emulation a "
                    "seeded sample just large enough to resolve the budget, the reference export "
                    "on a seeded subset of it: see docs/targets.md)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the sample, when one is drawn")] = 0,
    timeout_s: Annotated[Optional[float], typer.Option(
        help="seconds each artifact may run on the target (default: the device's remote.timeout_s)")] = None,
    debug: DebugOpt = False,
) -> None:
    """Run BUNDLE's artifacts on TARGET against its held-out data; metric, agreement, max |Δ|.
    A GPT bundle's KV-cache pairs also generate there: greedy tokens vs the float model's,
    time to first token, tokens/s.

    Exit 0: all passed; 3: an artifact failed its budgets; 4: some artifacts timed out (the
    rest passed); 2: bad input or an unreachable target; 130: interrupted."""

    def go() -> None:
        from edgekit.report.targets import summary_lines
        from edgekit.validation.ondevice import validate as run_validate

        import time

        from edgekit.devices import load_device

        started = time.time()
        try:
            result = run_validate(bundle, target, examples=examples, seed=seed,
                                  timeout_s=timeout_s)
        except KeyboardInterrupt:  # the runner's whole process group is already ended
            saved = bundle / "targets" / f"{load_device(target).name}.json"
            kept = saved.is_file() and saved.stat().st_mtime >= started
            typer.echo("interrupted: " + (f"the artifacts that finished are in {saved}" if kept
                                          else "no artifact had finished, nothing was written"),
                       err=True)
            raise typer.Exit(130) from None
        typer.echo("\n".join(summary_lines(result)))
        ran = [a for a in result["artifacts"] if "skipped" not in a and "timed_out" not in a]
        pairs = (result.get("generation") or {}).get("pairs", [])  # a GPT's KV-cache pairs
        if any(not a["passed"] for a in ran) or any(p.get("passed") is False for p in pairs):
            raise typer.Exit(3)
        if result["timed_out"]:
            raise typer.Exit(EXIT_TIMED_OUT)
        if not ran:
            raise typer.Exit(3)  # nothing could run there: not a pass

    _run(debug, go)


@app.command()
def profile(
    artifact: Annotated[Path, typer.Argument(help="a .tflite, .onnx or OpenVINO .xml file")],
    target: TargetOpt = "cpu",
    runs: Annotated[int, typer.Option(min=1)] = 50,
    warmup: Annotated[int, typer.Option(min=0)] = 5,
    threads: Annotated[Optional[int], typer.Option(min=1, help="default: the device's")] = None,
    batch: Annotated[int, typer.Option(min=1)] = 1,
    inputs: Annotated[Optional[Path], typer.Option(help=".npz of x__<input> arrays (default: the bundle's held-out data)")] = None,
    runtime: Annotated[Optional[str], typer.Option(help="runtime to use (default: the device's first for the format)")] = None,
    out: Annotated[Optional[Path], typer.Option(help="also write the JSON here")] = None,
    require_measurement: Annotated[bool, typer.Option(
        help=f"exit {EXIT_NOT_MEASURED} when the device cannot be reached (the estimate is "
             "still printed); without it an unreachable device gives the estimate and exit 0")] = False,
    debug: DebugOpt = False,
) -> None:
    """Latency p50/p90/p99, throughput, peak memory, load time and GFLOP/s vs peak, as JSON.

    A device out of reach (no adb device, an SSH host that does not answer) gives the labelled
    roofline estimate with "measured": null and the reason under "unavailable"."""

    def go() -> None:
        import json

        from edgekit.atomic import write_text
        from edgekit.validation.profile import profile as run_profile

        if out is not None and out.is_dir():
            raise EdgekitError("--out is a folder; the profile is one JSON file", where=out,
                               fix="pass a file path, e.g. --out profile.json")
        result = run_profile(artifact, target, runs=runs, warmup=warmup, threads=threads,
                             batch=batch, inputs=inputs, runtime=runtime)
        text = json.dumps(result, indent=2)
        if out:
            write_text(out, text)
        typer.echo(text)
        for warning in result.get("warnings", []):  # e.g. compute nodes fell back to the CPU
            typer.echo(f"warning: {warning}", err=True)
        if require_measurement and "unavailable" in result:
            typer.echo(f"error: no measurement: {result['unavailable']}", err=True)
            raise typer.Exit(EXIT_NOT_MEASURED)

    _run(debug, go)


@app.command()
def deploy(
    bundle: Annotated[Path, typer.Argument(help="bundle folder written by 'edgekit compress'")],
    target: Annotated[str, typer.Option(help="device profile name or YAML path (see 'edgekit devices')")] = "rpi4",
    artifact: Annotated[Optional[Path], typer.Option(
        help="the artifact to deploy (default: the fastest passing one the device runs)")] = None,
    out: Annotated[Optional[Path], typer.Option(
        help="write the folder here only (no device contacted), to copy by hand")] = None,
    dest: Annotated[Optional[str], typer.Option(
        help="folder on the device (default: ~/edgekit-deploy/<bundle name>)")] = None,
    debug: DebugOpt = False,
) -> None:
    """Put a bundle's artifact on a device, ready to answer: a self-contained folder with a
    `predict` entry point, copied and checked over SSH, pushed with adb, or written to --out.

    Exit 0: deployed (or written); 3: it did not pass its check on the device (or its runtime
    is not installed there: the line says what to install); 2: bad input or no device reached."""

    def go() -> None:
        from edgekit.deploy import deploy as run_deploy

        done = run_deploy(bundle, target, artifact=artifact, out=out, dest=dest)
        typer.echo("\n".join(done.lines))
        if not done.passed:
            raise typer.Exit(3)

    _run(debug, go)


@app.command()
def optimize(
    recipe: Annotated[str, typer.Argument(help="built-in recipe name or path to a recipe YAML with an 'optimize:' section")],
    target: Annotated[str, typer.Option(help="device profile the latency is for (see 'edgekit devices')")] = "cpu",
    max_drop: Annotated[float, typer.Option(help="allowed metric loss vs the recipe's budgets.baseline, on the validation split (0.01 = 1 point)")] = 0.01,
    objective: Annotated[str, typer.Option(help="what the chosen artifact minimises: latency | size")] = "latency",
    budget: Annotated[Optional[str], typer.Option(help="wall time for the search, e.g. 45m, 90s, 2h")] = None,
    trials: Annotated[Optional[int], typer.Option(min=1, help="distinct candidates to try (default: the whole space)")] = None,
    strategy: Annotated[str, typer.Option(help="tpe (optuna) | grid (every candidate)")] = "tpe",
    out: Annotated[Optional[Path], typer.Option(help="bundle folder of the chosen artifact (default: export/<recipe>-optimized)")] = None,
    quick: Annotated[bool, typer.Option(help="apply the recipe's 'quick' overrides")] = False,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="override a field: section.field=value (repeatable)")] = None,
    dry_run: Annotated[bool, typer.Option(help="print the search space and its size and exit")] = False,
    debug: DebugOpt = False,
) -> None:
    """Search RECIPE's 'optimize:' space for the artifact best on --objective within --max-drop
    (scored on the validation split), prove it once on held-out, write it as a bundle."""

    def go() -> None:
        from edgekit.optimize.run import (OptimizeRequest, dry_run_lines, make_plan,
                                          optimize as run_optimize, parse_budget)
        from edgekit.recipe.loader import parse_overrides

        request = OptimizeRequest(recipe, target=target, max_drop=max_drop, objective=objective,
                                  trials=trials, strategy=strategy, quick=quick,
                                  budget_s=parse_budget(budget) if budget else None,
                                  overrides=parse_overrides(set_ or []))
        plan = make_plan(request)
        if dry_run:
            typer.echo("\n".join(dry_run_lines(plan, request)))
            return
        from edgekit.progress import RichProgress

        dest = out or Path("export") / f"{plan.recipe.name}-optimized"
        try:
            result = run_optimize(request, dest, RichProgress(), plan=plan)
        except KeyboardInterrupt:
            from edgekit.optimize.trials import search_folder

            typer.echo(f"interrupted: finished trials are kept in {search_folder(dest)}; the "
                       "same command resumes the search", err=True)
            raise typer.Exit(130) from None
        held = result["chosen"]["heldout"]
        typer.echo(f"wrote {dest}: trial #{result['chosen']['trial']} ({result['chosen']['file']}), "
                   f"held-out {result['metric']} {held['metric']['value']:.4f}: "
                   f"{'passed' if held['passed'] else 'FAILED'}; every trial in {dest}/optimize.json")
        if not held["passed"]:
            raise typer.Exit(3)

    _run(debug, go)


targets_app = typer.Typer(help="Targets: how each device is reached, and one-time setup.",
                          invoke_without_command=True)
app.add_typer(targets_app, name="targets")


@targets_app.callback()
def targets(ctx: typer.Context) -> None:
    """List every device profile, how it is reached and whether it is usable from here."""
    if ctx.invoked_subcommand:
        return
    from edgekit.devices import all_devices
    from edgekit.targets import target_for
    from edgekit.validation.placement import device_note

    def show() -> None:
        for _, d in all_devices():
            kind = target_for(d)
            reason = kind.missing(d)
            state = ("unavailable: " + reason if reason else
                     "tools ready (the device is reached on use)" if kind.checked_on_use else "ready")
            typer.echo(f"{d.name:<18} {d.scheme:<13} {state}")
            note = device_note(d.execution_providers, d.cuda_graphs)
            if note:
                typer.echo(f"{'':<32} note: {note}")

    _run(False, show)


@targets_app.command("setup")
def targets_setup(
    kind: Annotated[str, typer.Argument(help="what to set up: arm64 (the emulated arm64 root)")],
    debug: DebugOpt = False,
) -> None:
    """One-time setup of a target kind; 'arm64' builds the cached Debian arm64 root."""

    def go() -> None:
        if kind != "arm64":
            raise EdgekitError(f"nothing to set up for '{kind}'", fix="use: edgekit targets setup arm64")
        from edgekit.targets._arm64_root import build

        typer.echo(f"arm64 root ready at {build(log=typer.echo)}")

    _run(debug, go)


def main() -> None:
    app(prog_name="edgekit")


if __name__ == "__main__":
    sys.exit(main())
