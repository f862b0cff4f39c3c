"""The README's table of preset sizes is generated (bench/presets.py), and its row of ``small`` is what a run
of ``small`` gives."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pitmirror.model.config import PRESETS

ROOT = Path(__file__).resolve().parent.parent


def _presets_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_presets", ROOT / "bench" / "presets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_presets"] = module  # the worker processes unpickle its functions by this name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def presets() -> ModuleType:
    return _presets_script()


def test_the_readme_has_a_generated_row_for_each_preset(presets: ModuleType) -> None:
    text = (ROOT / "README.md").read_text()
    assert f"{presets.BEGIN}\n{presets.HEADER}\n" in text
    rows = presets.table_rows(text)
    assert set(PRESETS) - {"large"} <= set(rows) <= set(PRESETS)  # large only when it was asked for
    cells = re.compile(r"^\| `\w+` \| [^|]+ \| [\d,]+ / [\d,]+ \| [\d,]+ / [\d,]+ \| \d+ / \d+ \| [\d.]+ / [\d.]+ \|$")
    for name, line in rows.items():
        assert cells.match(line), line
        assert presets.bounds_text(PRESETS[name]) in line


def test_the_small_row_is_what_a_run_of_small_gives(presets: ModuleType) -> None:
    text = (ROOT / "README.md").read_text()
    fresh = presets.row("small")
    assert presets.check("small", text, fresh) is None
    # and the check can fail: a README whose small row has one state too many does not pass
    line = presets.table_rows(text)["small"]
    states = re.search(r"\| ([\d,]+) / ", line)
    assert states is not None
    wrong = line.replace(states.group(0), f"| {int(states.group(1).replace(',', '')) + 1:,} / ", 1)
    problem = presets.check("small", text.replace(line, wrong), fresh)
    assert problem is not None and "a run gives" in problem
