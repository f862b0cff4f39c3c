"""The trace page and the terminal table: every trace the explicit checker writes renders and shows, the
page is self-contained and escapes what the file says, and changes read as a person says them."""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pitmirror.checkers.explicit.runner import CheckJob, run_job
from pitmirror.checkers.traces import render
from pitmirror.checkers.traces import trace as tr
from pitmirror.checkers.traces.trace import Trace
from pitmirror.model.config import PRESETS, Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import BY_NAME, PROPERTIES, Kind
from pitmirror.spec.state import RecoveryKind

# Fast mutants that between them cover host writes, deliveries, swaps, checkpoints and liveness.
SAMPLE_MUTANTS = ("ack_before_remote", "remote_applies_in_arrival_order", "swap_without_freeze",
                  "checkpoint_drops_record", "no_remote_timeout", "journal_not_persisted_before_ack")
SMALL = PRESETS["small"].with_(concurrency=2)


def walk_trace(n: int = 30, seed: int = 1) -> Trace:
    """A long trace (a random walk of the model), to check the page on 30 steps of every kind of action."""
    b = Bounds(blocks=3, values=3, host_writes=8, concurrency=2, journal_capacity=4, markers=1, path_failures=2,
               crashes=1, message_faults=2, recoveries=2, recovery_kind=RecoveryKind.SWAP)
    m = MirrorModel(b)
    rng = random.Random(seed)
    s = next(iter(m.init_states()))
    steps: list[Any] = [(None, s)]
    while len(steps) <= n:
        s_actions = sorted(m.actions(s), key=repr)  # sorted: the walk must not depend on hash order
        a = rng.choice(s_actions)
        s = m.next_state(s, a)
        steps.append((a, s))
    return Trace("explicit", b, BY_NAME["recovery_reachable"], "witness", steps, note="a random walk of the model")


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Traces written by the explicit checker: several mutants and the correct protocol's trade-off."""
    folder = tmp_path_factory.mktemp("traces")
    out: dict[str, Path] = {}
    props = tuple(p.name for p in PROPERTIES if p.kind is not Kind.SOMETIMES)
    for name in SAMPLE_MUTANTS:
        m = MUTANTS[name]
        job = CheckJob(SMALL.with_(mutant=name, recovery_kind=m.recovery_kind), props, stop_when_violated=(m.breaks,))
        o = run_job(job)
        out[name] = folder / f"{name}.json"
        o.traces[m.breaks].write(out[name])
    o = run_job(CheckJob(SMALL, ("remote_is_point_in_time",), stop_when_violated=("remote_is_point_in_time",)))
    out["trade-off"] = folder / "trade-off.json"
    o.traces["remote_is_point_in_time"].write(out["trade-off"])
    out["walk"] = folder / "walk.json"
    walk_trace().write(out["walk"])
    return out


def test_every_trace_renders_a_self_contained_page(traces: dict[str, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    for name, path in traces.items():
        page = tmp_path / f"{name}.html"
        code, _out, err = run_cli(monkeypatch, capsys, "trace", "render", str(path), "-o", str(page))
        assert code == 0, (name, err)
        text = page.read_text()
        doc = json.loads(path.read_text())
        for i in range(len(doc["steps"])):
            assert f'id="step-{i}"' in text
        assert doc["property"]["name"] in text and render.esc(doc["property"]["meaning"]) in text
        assert 'id="verdict"' in text
        # self-contained: no script, no external asset, nothing fetched
        assert "<script" not in text.lower()
        assert not re.search(r"""(src|href)=["']?(https?:|//)""", text)
        for lane in ("host", "array A", "path", "array R"):
            assert lane in text


def test_page_names_the_verdict(traces: dict[str, Path]) -> None:
    page = render.render_html(tr.load(traces["ack_before_remote"]))
    assert "violated at step 1: ack_durable" in page and "claims of US 7,139,851:</b> 1, 5" in page
    trade = render.render_html(tr.load(traces["trade-off"]))
    assert "expected trade-off" in trade
    walk = render.render_html(tr.load(traces["walk"]))
    assert "reached at step 30" in walk and "a random walk of the model" in walk
    live = render.render_html(tr.load(traces["no_remote_timeout"]))
    assert "(liveness)" in live


def test_page_escapes_everything_from_the_file(traces: dict[str, Path]) -> None:
    doc = tr.load(traces["ack_before_remote"])
    doc["note"] = "<script>alert(1)</script>"
    doc["steps"][1]["state"]["primary"] = ["<img src=x onerror=alert(2)>"]
    doc["steps"][1]["state"]["<b>field</b>"] = "\"'><i>"
    page = render.render_html(doc)
    assert "<script>alert" not in page and "<img" not in page and "<b>field" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_each_field_has_one_lane() -> None:
    from pitmirror.spec.state import State

    assert set(render.FIELD_LANE) == set(State._fields)
    assert set(render.FIELD_LANE.values()) <= {*render.LANES, render.GHOST}
    assert render.lane_of("primary") == "A" and render.lane_of("remote_journal") == "R"
    assert render.lane_of("path") == "path" and render.lane_of("history") == render.GHOST


def test_changes_read_as_a_person_says_them() -> None:
    assert render.change_text("primary", [1, 0], [0, 0]) == "P (1,0)->(0,0)"
    rec = {"seq": 3, "lba": 0, "value": 0}
    assert render.change_text("journal", [], [rec]) == "J +{seq=3 lba=0 value=0}"
    w, ack = {"kind": "MirrorWrite", "seq": 1, "lba": 0, "value": 1}, {"kind": "MirrorAck", "seq": 1}
    assert render.change_text("path", [w], [ack]) == "path -MirrorWrite(seq=1,lba=0,value=1) +MirrorAck(seq=1)"
    h0 = {"seq": 1, "lba": 0, "value": 1, "acked": False, "point_in_time": True}
    assert render.change_text("history", [h0], [{**h0, "acked": True}]) == "history[seq=1].acked false->true"
    r0 = {"recovery_id": 1, "remote_status": "REQUESTED"}
    assert render.change_text("recovery", r0, {**r0, "remote_status": "DONE"}) == \
        "recovery.remote_status REQUESTED->DONE"
    assert render.change_text("pair_state", "PAIR", "SUSPENDED") == "pair PAIR->SUSPENDED"
    assert render.brief({"seq": 2, "lba": -1, "value": 0}) == "{seq=2 lba=MARKER value=0}"


def test_arrows_follow_the_messages(traces: dict[str, Path]) -> None:
    doc = tr.load(traces["remote_applies_in_arrival_order"])
    steps = doc["steps"]
    first = render.arrows(steps[1], steps[0]["state"])
    assert [(a.src, a.dst, a.kind) for a in first] == [("host", "A", "call"), ("A", "path", "send")]
    delivers = [render.arrows(s, p["state"]) for p, s in itertools.pairwise(steps)
                if s["action"] == "Deliver" and s["args"]["message"]["kind"] == "MirrorWrite"]
    assert delivers and all(d[0].src == "path" and d[0].dst == "R" for d in delivers)
    assert all(("R", "path") in [(a.src, a.dst) for a in d] for d in delivers)  # R answers MirrorAck


def test_show_is_one_row_per_step_with_list_changes(traces: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    for name, path in traces.items():
        code, out, err = run_cli(monkeypatch, capsys, "trace", "show", str(path))
        assert code == 0, (name, err)
        doc = json.loads(path.read_text())
        rows = [line for line in out.splitlines() if re.match(r"^│\s*\d+\s*│", line)]
        assert len(rows) == len(doc["steps"]), name
    code, out, _ = run_cli(monkeypatch, capsys, "trace", "show", str(traces["remote_applies_in_arrival_order"]))
    flat = " ".join(out.split())
    assert "+{seq=1 lba=0" in flat and "-MirrorWrite(seq=" in flat and "+MirrorAck(seq=" in flat
    assert re.search(r"P \(\d,\d\)->\(\d,\d\)", flat) and "ghost" in flat
    assert "mirror_consistent violated at step" in flat
    doc = json.loads(traces["ack_before_remote"].read_text())
    doc["note"] = "[/] [bold red]not markup[/bold red] [link=http://x]"
    marked = traces["ack_before_remote"].parent / "markup.json"
    marked.write_text(json.dumps(doc))
    code, out, err = run_cli(monkeypatch, capsys, "trace", "show", str(marked))
    assert code == 0, err
    assert "[bold red]not markup[/bold red]" in out  # shown as text, never interpreted


def _bad_files(folder: Path, good: Path) -> dict[str, Path]:
    doc = json.loads(good.read_text())
    files = {"not-json": "{ this is not json", "foreign": json.dumps({"hello": "world"}),
             "schema": json.dumps({**doc, "steps": []}),
             "unknown-action": json.dumps({**doc, "steps": [doc["steps"][0], {**doc["steps"][1], "action": "Reboot"}]}),
             "wrong-version": json.dumps({**doc, "version": 99})}
    out = {}
    for name, text in files.items():
        out[name] = folder / f"{name}.json"
        out[name].write_text(text)
    out["missing"] = folder / "does-not-exist.json"
    return out


def test_malformed_or_foreign_files_exit_2_with_one_line(traces: dict[str, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    good = traces["ack_before_remote"]
    for name, bad in _bad_files(tmp_path, good).items():
        for args in (("trace", "show", str(bad)), ("trace", "render", str(bad), "-o", str(tmp_path / "x.html")),
                     ("trace", "diff", str(bad), str(good)), ("trace", "diff", str(good), str(bad))):
            code, out, err = run_cli(monkeypatch, capsys, *args)
            assert code == 2, (name, args, out, err)
            assert len(err.strip().splitlines()) == 1 and err.startswith("pitmirror: error:"), (name, err)
            assert "Traceback" not in err
    assert not (tmp_path / "x.html").exists()


_json = st.recursive(st.none() | st.booleans() | st.integers(-3, 9) | st.text(max_size=8),
                     lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
                     max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.tuples(st.sampled_from(["primary", "journal", "path", "recovery", "history", "odd"]),
                                 _json), min_size=1, max_size=6))
def test_any_json_in_a_state_renders_and_shows(traces: dict[str, Path], values: list[tuple[str, Any]]) -> None:
    """A foreign but schema-valid trace may hold any JSON in its states: the page, the change texts and the
    diff must cope, never raise."""
    from pitmirror.checkers.traces import diff as tracediff

    doc = tr.load(traces["ack_before_remote"])
    for k, (name, v) in enumerate(values):
        doc["steps"][k % len(doc["steps"])]["state"][name] = v
    page = render.render_html(doc)
    assert page.count('class="step grid') == len(doc["steps"])
    prev = None
    for step in doc["steps"]:
        for f, (b, a) in render.state_changes(prev, step["state"]).items():
            assert isinstance(render.change_text(f, b, a), str)
        prev = step["state"]
    tracediff.summary_lines(tracediff.compare(doc, tr.load(traces["ack_before_remote"])))


def test_other_verdicts_render(traces: dict[str, Path]) -> None:
    doc = tr.load(traces["ack_before_remote"])
    doc["verdict"] = "possibly-unreachable"
    page = render.render_html(doc)
    assert "possibly-unreachable at step 1: ack_durable" in page and "✖ violated" not in page
