"""The house's layering, read from the code: every import of every module under edgekit/ (at the
top, inside functions and under ``TYPE_CHECKING``) found with ``ast``, and checked against the
layers of docs/architecture.md.

* no import cycles;
* every module belongs to one layer of :data:`LAYERS`, and imports only its own layer or lower;
* ``edgekit.device`` (what ships to a device, whole) imports nothing of edgekit outside itself;
* TensorFlow is imported only by ``edgekit._tf`` (annotations under ``TYPE_CHECKING`` aside);
* a plug-in package (one whose registry discovers it) holds only plug-ins, besides ``_`` helpers.

Each failure is one line per offending import, naming both modules and the way to fix it. The
table classifies by prefix, so a module that does not exist (yet, or any more) costs nothing.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edgekit"

#: The layers, bottom to top (the same table as docs/architecture.md). A module belongs to the
#: layer of the longest prefix naming it (itself or a package above it); ``edgekit`` alone names
#: only the package's ``__init__``. A module may import its own layer and the layers below.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("device", ("edgekit.device",)),
    ("core", ("edgekit", "edgekit.errors", "edgekit.atomic", "edgekit.paths", "edgekit.registry",
              "edgekit.yamlio", "edgekit.catalog", "edgekit.quiet", "edgekit.progress",
              "edgekit.resolution", "edgekit._tf", "edgekit.footprint", "edgekit.plugin_config",
              "edgekit.data_wheels",
              "edgekit.models.bert.tokenizer")),
    ("services", ("edgekit.devices", "edgekit.flops", "edgekit.roofline", "edgekit.threads",
                  "edgekit.bundle_integrity", "edgekit.outdir", "edgekit.stage_records",
                  "edgekit.strategy", "edgekit.recipe.schema", "edgekit.models.bert.sources")),
    ("data", ("edgekit.data", "edgekit.families", "edgekit.tasks", "edgekit.targets",
              "edgekit.length_buckets")),
    ("models", ("edgekit.models", "edgekit.training")),
    ("stages", ("edgekit.stages",)),
    ("exporters", ("edgekit.exporters",)),
    ("recipe", ("edgekit.recipe", "edgekit.resources")),
    ("proof", ("edgekit.validation", "edgekit.report")),
    ("pipeline", ("edgekit.pipeline", "edgekit.stage_keys", "edgekit.deploy")),
    ("search", ("edgekit.optimize",)),
    ("cli", ("edgekit.cli", "edgekit.__main__")),
)

#: Modules of plug-in packages that register no plug-in yet keep a plain name, so discovery
#: imports them: helpers with importers across the house, to get a ``_`` when those move.
#: Nothing new goes here: a helper module of a plug-in package is named ``_something.py``.
NOT_PLUGINS_YET: dict[str, str] = {
    "edgekit.data.duplicates": "exact-duplicate grouping, used by the splitter and loaders",
    "edgekit.data.split_report": "the split report, read by the pipeline and report.html",
    "edgekit.data.text": "the text data sets' shared builder",
    "edgekit.models.bert": "BERT's building blocks (config, encoder, checkpoint, heads)",
}

TENSORFLOW = ("tensorflow", "tf_keras", "tensorflow_model_optimization", "keras")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the edgekit module imported, or the top-level name of a third-party one
    line: int
    type_only: bool  # under ``if TYPE_CHECKING:``


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                inside.update(id(n) for n in ast.walk(stmt))
    return inside


def _imports(module: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    typed = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            if origin.split(".")[0] != "edgekit":
                names = [origin]
            else:
                # A name imported from a package is a module of it, or else defined in it:
                # ``from edgekit import _tf`` imports edgekit._tf, ``from edgekit.data import
                # Dataset`` imports edgekit.data.
                names = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in MODULES else origin
                         for a in node.names]
        for name in names:
            target = name if name.split(".")[0] == "edgekit" else name.split(".")[0]
            if target != module:
                found.append(Import(module, target, node.lineno, id(node) in typed))
    return found


IMPORTS = [imp for module, path in MODULES.items() for imp in _imports(module, path)]
OURS = [imp for imp in IMPORTS if imp.target.split(".")[0] == "edgekit"]
EDGES = [imp for imp in OURS if imp.target in MODULES]


def layer_of(module: str) -> tuple[int, str] | None:
    """(index, name) of the layer the longest matching prefix gives ``module``."""
    table = [(prefix, i, name) for i, (name, prefixes) in enumerate(LAYERS) for prefix in prefixes]
    index = {name: i for i, (name, _) in enumerate(LAYERS)}
    best: tuple[int, int, str] | None = None
    for prefix, i, name in table:
        matches = module == prefix or (prefix != "edgekit" and module.startswith(prefix + "."))
        if matches and (best is None or len(prefix) > best[0]):
            best = (len(prefix), i, name)
    return None if best is None else (best[1], best[2])


def _where(imp: Import) -> str:
    return f"{MODULES[imp.source].relative_to(ROOT)}:{imp.line}"


def _cycles() -> list[tuple[list[str], set[str]]]:
    """The import cycles: each strongly connected set of modules, with one cycle through it."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in EDGES:
        graph[imp.source].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(start: str) -> None:  # Tarjan's algorithm, iteratively (no recursion limit)
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)

    for module in sorted(graph):
        if module not in index:
            visit(module)

    cycles = []
    for component in components:  # one concrete path around each component, for the message
        first = min(component)
        paths, seen = [[first]], {first}
        while paths:
            path = paths.pop(0)
            nxt = sorted(graph[path[-1]] & component)
            if first in nxt:
                cycles.append((path + [first], component))
                break
            for child in nxt:
                if child not in seen:
                    seen.add(child)
                    paths.append(path + [child])
    return cycles


def _fail(problems: list[str], what: str) -> None:
    if problems:
        lines = sorted(set(problems))
        pytest.fail(f"{len(lines)} {what}:\n" + "\n".join(lines), pytrace=False)


def test_the_import_graph_is_read() -> None:
    """The reader sees what it must (else every check below passes vacuously)."""
    assert len(MODULES) > 100
    pairs = {(i.source, i.target) for i in EDGES}
    assert ("edgekit.models", "edgekit.registry") in pairs  # top-level
    assert ("edgekit.models", "edgekit.footprint") in pairs  # TYPE_CHECKING and in a function
    assert ("edgekit.models.bert.encoder", "edgekit.models.bert.names") in pairs  # relative
    assert ("edgekit.exporters.onnx", "edgekit._tf") in pairs  # from edgekit import _tf


def test_every_import_of_edgekit_names_a_module_that_exists() -> None:
    """After a move, an import left at the old name fails here, before any test imports it."""
    _fail([f"{_where(imp)}: {imp.source} imports {imp.target}, which is no module of edgekit: "
           "import it from where it lives now" for imp in OURS if imp.target not in MODULES],
          "imports of modules that do not exist")


def test_no_import_cycles() -> None:
    _fail([" -> ".join(cycle) + (f" (in a knot of {', '.join(sorted(knot))})"
                                  if len(knot) > len(cycle) - 1 else "")
           + ": break it by moving what they share into a lower module"
           for cycle, knot in _cycles()], "import cycles")


def test_every_module_is_in_one_layer() -> None:
    _fail([f"{m} ({path.relative_to(ROOT)}) is in no layer: add it (or a package above it) to "
           "LAYERS in tests/test_layering.py and to docs/architecture.md"
           for m, path in MODULES.items() if layer_of(m) is None], "modules without a layer")


def test_imports_point_to_the_same_or_a_lower_layer() -> None:
    problems = []
    for imp in EDGES:
        here, there = layer_of(imp.source), layer_of(imp.target)
        if here and there and there[0] > here[0]:
            problems.append(f"{_where(imp)}: {imp.source} (layer {here[1]}) imports {imp.target} "
                            f"(layer {there[1]}, above it): move what it needs down, or the "
                            "importer up (docs/architecture.md)")
    _fail(problems, "imports pointing upward")


def _in_device(module: str) -> bool:
    return module == "edgekit.device" or module.startswith("edgekit.device.")


def test_the_device_package_imports_nothing_else_of_edgekit() -> None:
    _fail([f"{_where(imp)}: {imp.source} imports {imp.target}, which does not ship to devices: "
           "move (or copy) what it needs into edgekit.device"
           for imp in EDGES if _in_device(imp.source) and not _in_device(imp.target)],
          "device imports from outside edgekit.device")


def test_tensorflow_is_imported_only_by_tf_module() -> None:
    _fail([f"{_where(imp)}: {imp.source} imports {imp.target}: take it from edgekit._tf "
           "(tf(), keras(), tfmot()), which selects tf-keras before TensorFlow's first import"
           for imp in IMPORTS if imp.target in TENSORFLOW and not imp.type_only
           and imp.source != "edgekit._tf"], "TensorFlow imports outside edgekit._tf")


def _registers(path: Path) -> bool:
    """Whether a module registers a plug-in: ``REGISTRY.register(...)`` or ``@REGISTRY.add``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("register", "add") and isinstance(node.func.value, ast.Name)
                and node.func.value.id.isupper()):
            return True
    return False


def _discovered_packages() -> list[str]:
    """Packages a registry discovers: ``Registry(kind, "edgekit.x")`` in their code."""
    found = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Registry"
                    and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)):
                found.append(str(node.args[1].value))
    return sorted(found)


def test_plugin_packages_hold_only_plugins() -> None:
    """Discovery imports every module of a plug-in package whose name has no ``_`` prefix, so
    a helper module without one is imported as if it were a plug-in."""
    packages = _discovered_packages()
    assert "edgekit.exporters" in packages and "edgekit.targets" in packages
    problems = []
    for package in packages:
        for module, path in MODULES.items():
            parent, _, name = module.rpartition(".")
            if parent != package or name.startswith("_") or module in NOT_PLUGINS_YET:
                continue
            if path.name == "__init__.py":  # a subpackage: fine when it is a registry's own
                if module not in packages:
                    problems.append(f"{module} (a package inside {package}) is no plug-in and "
                                    "no registry's package: name it _{name}")
            elif not _registers(path):
                problems.append(f"{path.relative_to(ROOT)} registers no plug-in, yet "
                                f"{package}'s discovery imports it: rename it _{name}.py")
    _fail(problems, "helper modules named as plug-ins")
