"""Load a recipe by name or path, apply overrides, and validate it end to end.

Validation goes through every plug-in the recipe names (builder, dataset, stages, exporters,
strategy, device), each against its own static config class, so a bad recipe fails in well under
a second with one line naming the file and the field, before any training starts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edgekit import catalog
from edgekit.errors import EdgekitError
from edgekit.paths import check_name
from edgekit.plugin_config import PluginConfig
from edgekit.recipe.schema import Recipe
from edgekit.yamlio import read_yaml_mapping, validate_model


def _set_dotted(data: dict[str, Any], dotted: str, value: Any, where: Path | str) -> None:
    keys = dotted.split(".")
    node: Any = data
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise EdgekitError(f"override '{dotted}': '{key}' is not an index of the list",
                                   where=where, fix=f"use an index below {len(node)}")
            if last:
                node[int(key)] = value
            else:
                node = node[int(key)]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
        else:
            raise EdgekitError(f"override '{dotted}': '{key}' is inside a scalar", where=where,
                               fix="override a mapping or list field")


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``['train.epochs=3', ...]`` → ``{'train.epochs': 3}``; values are read as YAML."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise EdgekitError(f"bad --set '{pair}'", fix="write --set section.field=value")
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:  # also YAML tags (!!python/...): safe_load refuses them
            problem = getattr(exc, "problem", None) or exc.__class__.__name__
            raise EdgekitError(f"--set {key.strip()}: the value {raw!r} is not valid YAML "
                               f"({' '.join(str(problem).split())})",
                               fix="quote strings and close brackets, e.g. --set "
                               "'train.epochs=3' or --set 'export=[{format: tflite}]'") from None
    return out


def _written(params: PluginConfig) -> dict[str, Any]:
    """A section's parameters as written (unset defaults left out), to be checked again by the
    plug-in's own class: once when loaded, or again when a resolved recipe is resolved anew."""
    return params.model_dump(exclude_unset=True)


def _resolve_plugins(recipe: Recipe, where: Path) -> Recipe:
    """Check every name the recipe gives against its registry, and replace each plug-in's
    :class:`~edgekit.recipe.schema.UncheckedParams` by that plug-in's validated config, which
    the pipeline, the resource estimate and the cache keys then read as it is."""
    from edgekit.data import DATASETS
    from edgekit.devices import load_device
    from edgekit.exporters import EXPORTERS
    from edgekit.families import FAMILIES
    from edgekit.models import MODELS
    from edgekit.stages import STAGES
    from edgekit.strategy import STRATEGIES

    def lookup(registry: Any, name: str, field: str) -> Any:
        if name not in registry:
            raise EdgekitError(f"field '{field}': unknown name '{name}'", where=where,
                               fix=f"use one of: {', '.join(registry.names())}")
        return registry.get(name)

    check_name(recipe.name, "name", where)  # it becomes file names: export/<name>, artifacts
    lookup(FAMILIES, recipe.family, "family")
    builder = lookup(MODELS, recipe.model.builder, "model.builder")
    if builder.family is not None and builder.family != recipe.family:
        raise EdgekitError(f"field 'family': builder '{builder.name}' is of family "
                           f"'{builder.family}', not '{recipe.family}'", where=where,
                           fix=f"set family: {builder.family}")
    recipe.model.params = validate_model(builder.Config, _written(recipe.model.params),
                                         where=where, prefix="model.params")
    loader = lookup(DATASETS, recipe.data.dataset, "data.dataset")
    recipe.data.params = validate_model(loader.Config, _written(recipe.data.params), where=where,
                                        prefix="data.params")
    lookup(STRATEGIES, recipe.train.strategy, "train.strategy")
    for i, entry in enumerate(recipe.compression):
        stage = lookup(STAGES, entry.stage, f"compression[{i}].stage")
        entry.params = validate_model(stage.Config, _written(entry.params), where=where,
                                      prefix=f"compression[{i}]")
    models = {"reference", "final", *(e.stage for e in recipe.compression)}
    files: dict[tuple[str, str], int] = {}
    for i, exp in enumerate(recipe.export):
        exporter = lookup(EXPORTERS, exp.format, f"export[{i}].format")
        if exp.precision not in exporter.precisions:
            raise EdgekitError(f"field 'export[{i}].precision': {exp.format} has no precision "
                               f"'{exp.precision}'", where=where,
                               fix=f"use one of: {', '.join(sorted(exporter.precisions))}")
        exp.options = validate_model(exporter.Options, _written(exp.options), where=where,
                                     prefix=f"export[{i}].options")
        if exp.model not in models:
            raise EdgekitError(f"field 'export[{i}].model': '{exp.model}' is not a model of this "
                               "recipe", where=where, fix=f"use one of: {', '.join(sorted(models))}")
        if exp.name is not None:
            check_name(exp.name, f"export[{i}].name", where)
        file = (check_name(exp.stem(recipe.name), f"export[{i}]", where), exporter.suffix)
        if file in files:
            raise EdgekitError(f"field 'export[{i}]': writes {''.join(file)} like export[{files[file]}]",
                               where=where, fix="give one of them a distinct 'name:'")
        files[file] = i
    if recipe.budgets.baseline not in models - {"final"}:
        raise EdgekitError(f"field 'budgets.baseline': '{recipe.budgets.baseline}' is not a model "
                           "of this recipe", where=where,
                           fix=f"use one of: {', '.join(sorted(models - {'final'}))}")
    try:
        device = load_device(recipe.validation.device)
    except EdgekitError as exc:
        raise EdgekitError(f"field 'validation.device': {exc.message}", where=where,
                           fix=exc.fix) from None
    if device.scheme != "local":
        # compress proves every artifact in-process on this machine; naming a remote device
        # here would put a machine that never ran anything into the report
        raise EdgekitError(f"field 'validation.device': '{device.name}' is reached over "
                           f"{device.scheme}, but compress proves artifacts on this machine",
                           where=where, fix="drop validation.device (default: cpu) and run "
                           f"'edgekit validate BUNDLE --target {device.name}' after compress")
    _check_budget_metric(recipe, where)
    return recipe


def _check_budget_metric(recipe: Recipe, where: Path) -> None:
    """``budgets.metric`` must be a metric some task has (which task the data poses is known
    only once it loads: the pipeline checks that one before training)."""
    from edgekit.tasks import TASKS

    name = recipe.budgets.metric
    if name is None:
        return
    tasks = [TASKS.get(t) for t in TASKS.names()]
    if not any(t.metric_named(name) is not None for t in tasks):
        raise EdgekitError(f"field 'budgets.metric': unknown metric '{name}'", where=where,
                           fix="use one of: " + "; ".join(f"{t.name}: {t.metric_names()}"
                                                          for t in tasks))


def load_recipe(name_or_path: str | Path, *, quick: bool = False,
                overrides: dict[str, Any] | None = None) -> Recipe:
    path = catalog.resolve("recipes", str(name_or_path))
    looks_like_path = Path(str(name_or_path)).suffix in (".yaml", ".yml") or "/" in str(name_or_path)
    if path is None and looks_like_path:
        raise EdgekitError("recipe file not found", where=name_or_path, fix="check the path")
    if path is None:
        raise EdgekitError(f"no recipe named '{name_or_path}'", fix="run 'edgekit recipes' "
                           "for the built-in ones, or pass a path to a .yaml file")
    data = read_yaml_mapping(path)
    raw = copy.deepcopy(data)
    if quick:
        quick_map = raw.get("quick") or {}
        if not isinstance(quick_map, dict):
            raise EdgekitError("field 'quick': expected a mapping of dotted overrides", where=path,
                               fix="write e.g. quick: {train.epochs: 2}")
        for key, value in quick_map.items():
            _set_dotted(raw, str(key), value, path)
    for key, value in (overrides or {}).items():
        _set_dotted(raw, key, value, f"{path} (--set {key})")
    written_for = (data.get("data") or {}).get("dataset") if isinstance(data.get("data"), dict) else None
    ran_on = (raw.get("data") or {}).get("dataset") if isinstance(raw.get("data"), dict) else None
    if raw.get("description") and written_for and ran_on != written_for:
        # The description names the recipe's own data; report.json must not claim it.
        raw["description"] = (f"{raw['description']} (written for data set {written_for}; "
                              f"this run: {ran_on})")
    recipe = validate_model(Recipe, raw, where=path)
    return _resolve_plugins(recipe, path)


def recipe_to_yaml(recipe: Recipe) -> str:
    """The fully resolved recipe: every default filled in, reproducible as a file."""
    data = recipe.model_dump(mode="json")
    for entry in data["compression"]:
        entry.update(entry.pop("params"))
    if data.get("optimize") is None:  # an absent search space is not a setting to reproduce
        data.pop("optimize", None)
    return yaml.safe_dump(data, sort_keys=False)


@dataclass(frozen=True)
class RecipeSummary:
    name: str
    family: str
    dataset: str
    description: str
    path: Path


def recipe_summaries() -> list[RecipeSummary]:
    """One line of facts per built-in recipe, read without importing TensorFlow."""
    out = []
    for path in sorted(catalog.catalog_dir("recipes").glob("*.yaml")):
        data = read_yaml_mapping(path)
        out.append(RecipeSummary(name=str(data.get("name", path.stem)),
                                 family=str(data.get("family", "?")),
                                 dataset=str((data.get("data") or {}).get("dataset", "?")),
                                 description=str(data.get("description", "")).strip().splitlines()[0]
                                 if data.get("description") else "", path=path))
    return out
