"""The layers: imports run one way (spec <- model <- checkers; impl alone), and where impl must keep its
own copy of a vocabulary (it may not import spec or model), a test proves the copies agree."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import networkx as nx
import pytest

import pitmirror.impl.actions
import pitmirror.impl.messages
import pitmirror.impl.mutants
import pitmirror.impl.states
import pitmirror.model.actions
import pitmirror.model.mutants
import pitmirror.spec.actions
import pitmirror.spec.state

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("spec", "model", "impl", "checkers", "examples")
#: what each layer may import from the others (nothing may import examples/: they are users of the engine)
ALLOWED = {"spec": set(), "model": {"spec"}, "impl": set(), "checkers": {"spec", "model", "impl"},
           "examples": {"spec", "checkers"}}
#: the only modules an example may import from pitmirror: the engine interface and the explicit engine, so
#: an example shows what checking a model of one's own takes, and proves the engine needs nothing else
EXAMPLE_MAY_IMPORT = ("pitmirror.spec.interface", "pitmirror.checkers.explicit")
#: the sub-layers of checkers/: traces are data every engine writes; the engines stand side by side; reports
#: compare engines; the command line sits on top of everything. The frontier engine evaluates the symbolic
#: encoding over arrays and returns the explicit engine's result types (so the two engines are interchangeable)
CHECKER_SUBLAYERS = ("traces", "explicit", "symbolic", "conformance", "frontier", "reports", "cli")
ALLOWED_SUB = {
    "traces": set(),
    "explicit": {"traces"},
    "symbolic": {"traces"},
    "conformance": {"traces"},
    "frontier": {"traces", "symbolic", "explicit"},
    "reports": {"traces", "explicit", "symbolic", "conformance", "frontier"},
    "cli": {"traces", "explicit", "symbolic", "conformance", "frontier", "reports"},
}
#: checkers/ sub-layers that may import impl/: conformance compares it with the model; the command line runs
#: the impl's demo (and nothing else of it)
SEES_IMPL = {"conformance", "cli"}


def _imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module a file imports, absolute (relative imports resolved against the file's package)."""
    rel = path.relative_to(root).with_suffix("")
    package = ["pitmirror", *rel.parts[:-1]]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            mod = ".".join(x for x in (base, node.module or "") if x)
            found.add(mod)
            found |= {f"{mod}.{a.name}" for a in node.names}
    return found


def _imported_layers(path: Path) -> set[str]:
    mods = _imported_modules(path)
    bare = {m.split(".")[0] for m in mods} & set(LAYERS)
    assert not bare, f"{path.relative_to(ROOT)} imports {sorted(bare)} outside pitmirror: use pitmirror.<layer>"
    return {m.split(".")[1] for m in mods if m.startswith("pitmirror.") and m.count(".") >= 1} & set(LAYERS)


def _imported_sublayers(path: Path, root: Path = ROOT) -> set[str]:
    return {m.split(".")[2] for m in _imported_modules(path, root)
            if m.startswith("pitmirror.checkers.") and m.count(".") >= 2} & set(CHECKER_SUBLAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_run_one_way(layer: str) -> None:
    for path in sorted((ROOT / layer).rglob("*.py")):
        bad = _imported_layers(path) - ALLOWED[layer] - {layer}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: not allowed for {layer}/"


def test_examples_import_only_the_engine_and_its_interface() -> None:
    paths = sorted((ROOT / "examples").rglob("*.py"))
    assert paths
    for path in paths:
        ours = {m for m in _imported_modules(path) if m.startswith("pitmirror.")}
        bad = {m for m in ours if not m.startswith(EXAMPLE_MAY_IMPORT)}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: an example sees only the engine"
        # the explicit engine's package, not its mirror-specific runner
        assert not [m for m in ours if m.startswith("pitmirror.checkers.explicit.runner")]


def test_checkers_has_exactly_the_named_sublayers() -> None:
    found = {p.name for p in (ROOT / "checkers").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert found == set(CHECKER_SUBLAYERS)
    assert not [p.name for p in (ROOT / "checkers").glob("*.py") if p.name != "__init__.py"], \
        "checkers/ holds sub-packages only: put a new module in the engine or concern it belongs to"


@pytest.mark.parametrize("sub", CHECKER_SUBLAYERS)
def test_checker_sublayers_import_one_way(sub: str) -> None:
    for path in sorted((ROOT / "checkers" / sub).rglob("*.py")):
        bad = _imported_sublayers(path) - ALLOWED_SUB[sub] - {sub}
        assert not bad, f"{path.relative_to(ROOT)} imports checkers sub-layers {sorted(bad)}: not allowed"
        if sub not in SEES_IMPL:
            assert "impl" not in _imported_layers(path), f"{path.relative_to(ROOT)} imports impl/"


def test_the_layer_test_sees_a_wrong_way_import(tmp_path: Path) -> None:
    # the checks above must be able to fail: a traces module importing an engine is caught
    bad = tmp_path / "checkers" / "traces" / "probe.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("from pitmirror.checkers.explicit.checker import Verdict\nfrom ..symbolic import bmc\n")
    assert _imported_sublayers(bad, tmp_path) == {"explicit", "symbolic"}
    assert not ({"explicit", "symbolic"} <= ALLOWED_SUB["traces"])


@pytest.mark.parametrize("layer", ["spec", "model", "impl"])
def test_modules_of_a_layer_import_one_another_without_a_cycle(layer: str) -> None:
    # imports under TYPE_CHECKING count too: a cycle of types is a cycle of ideas (primary <-> recovery was one)
    graph = nx.DiGraph()
    for path in sorted((ROOT / layer).glob("*.py")):
        me = f"pitmirror.{layer}.{path.stem}"
        graph.add_node(me)
        graph.add_edges_from((me, m) for m in _imported_modules(path)
                             if m.startswith(f"pitmirror.{layer}.") and m.count(".") == 2 and m != me)
    assert nx.is_directed_acyclic_graph(graph), f"{layer}/ import cycle: {nx.find_cycle(graph)}"


def test_only_the_conformance_layer_sees_both_impl_and_model() -> None:
    both = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "checkers").rglob("*.py"))
            if {"impl", "model"} <= _imported_layers(p) and p.parent.name not in SEES_IMPL]
    assert not both, f"modules outside the conformance layer import both impl and model: {both}"


@pytest.mark.parametrize("name", ["PairState", "JournalingState", "FencePolicy", "RecoveryKind",
                                  "RemoteSwapStatus", "Origin"])
def test_impl_enums_agree_with_the_spec(name: str) -> None:
    ours = {m.name: int(m) for m in getattr(pitmirror.spec.state, name)}
    theirs = {m.name: int(m) for m in getattr(pitmirror.impl.states, name)}
    assert ours == theirs


def test_impl_speaks_the_models_action_message_and_mutant_names() -> None:
    # the impl's copy of spec.actions' names, in the table's order (the order both list enabled actions in)
    assert pitmirror.impl.actions.ACTION_NAMES == pitmirror.spec.actions.ACTION_NAMES
    assert tuple(pitmirror.model.actions.ACTION_TYPES) == pitmirror.spec.actions.ACTION_NAMES
    assert set(pitmirror.impl.messages.MESSAGE_NAMES) == set(pitmirror.spec.state.MESSAGE_NAMES.values())
    assert list(pitmirror.impl.mutants.MUTANTS) == list(pitmirror.model.mutants.MUTANTS)


def _packages() -> list[str]:
    """Every package of pitmirror, by import name (the layers' folders with an ``__init__.py``)."""
    out = ["pitmirror"]
    for layer in LAYERS:
        for init in sorted((ROOT / layer).rglob("__init__.py")):
            out.append(".".join(("pitmirror", *init.parent.relative_to(ROOT).parts)))
    return out


@pytest.mark.parametrize("package", _packages())
def test_every_package_declares_its_public_api(package: str) -> None:
    # __all__ names what the package offers: a re-exported name, or one of its modules; each must resolve
    mod = importlib.import_module(package)
    public = getattr(mod, "__all__", None)
    assert public, f"{package} has no __all__"
    for name in public:
        assert hasattr(mod, name) or importlib.util.find_spec(f"{package}.{name}") is not None, \
            f"{package}.__all__ names {name!r}, which is neither an attribute nor a module"
