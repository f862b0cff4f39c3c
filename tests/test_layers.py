"""The layers: imports run one way (spec <- model <- checkers; impl alone), and where impl must keep its
own copy of a vocabulary (it may not import spec or model), a test proves the copies agree."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import impl.actions
import impl.messages
import impl.mutants
import impl.states
import model.actions
import model.mutants
import spec.state

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("spec", "model", "impl", "checkers")
#: what each layer may import from the others
ALLOWED = {"spec": set(), "model": {"spec"}, "impl": set(), "checkers": {"spec", "model", "impl"}}


def _imported_layers(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_run_one_way(layer: str) -> None:
    for path in sorted((ROOT / layer).rglob("*.py")):
        bad = _imported_layers(path) - ALLOWED[layer] - {layer}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: not allowed for {layer}/"


def test_only_the_conformance_layer_sees_both_impl_and_model() -> None:
    both = [p.name for p in sorted((ROOT / "checkers").glob("*.py"))
            if {"impl", "model"} <= _imported_layers(p) and p.name not in ("conformance.py", "fuzz.py", "cli.py")]
    assert not both, f"modules outside the conformance layer import both impl and model: {both}"


@pytest.mark.parametrize("name", ["PairState", "JournalingState", "FencePolicy", "RecoveryKind",
                                  "RemoteSwapStatus", "Origin"])
def test_impl_enums_agree_with_the_spec(name: str) -> None:
    ours = {m.name: int(m) for m in getattr(spec.state, name)}
    theirs = {m.name: int(m) for m in getattr(impl.states, name)}
    assert ours == theirs


def test_impl_speaks_the_models_action_message_and_mutant_names() -> None:
    assert set(impl.actions.ACTION_NAMES) == set(model.actions.ACTION_TYPES)
    assert set(impl.messages.MESSAGE_NAMES) == set(spec.state.MESSAGE_NAMES.values())
    assert list(impl.mutants.MUTANTS) == list(model.mutants.MUTANTS)
