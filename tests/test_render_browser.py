"""The trace page in a real browser: headless Chromium loads a rendered page, and its DOM shows every step
and the verdict; a screenshot is kept as a test artefact (``artifacts/trace.png``, gitignored) so a person
can check the page is readable.

Skips when Chromium is absent. CI installs it (Debian): ``apt-get install -y --no-install-recommends chromium``.
"""

from __future__ import annotations

import html
import json
import random
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pitmirror.checkers.explicit.runner import CheckJob, run_job
from pitmirror.checkers.traces import render
from pitmirror.checkers.traces import trace as tr
from pitmirror.checkers.traces.trace import Trace
from pitmirror.model.config import PRESETS, Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import BY_NAME, PROPERTIES, Kind
from pitmirror.spec.state import RecoveryKind

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y "
                                                          "--no-install-recommends chromium)")


def chromium(url: str, *extra: str) -> str:
    """Run headless Chromium on a page, isolated (throw-away profile, no network services); its stdout."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        got = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                              "--disable-background-networking", "--disable-component-update", "--disable-sync",
                              "--no-first-run",
                              f"--user-data-dir={profile}", *extra, url],
                             capture_output=True, text=True, timeout=60, check=False)
    assert got.returncode == 0, got.stderr[-2000:]
    return got.stdout


class DomText(HTMLParser):
    """The text of a DOM, and the text inside each step section and the verdict section."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.steps: dict[int, list[str]] = {}
        self.verdict: list[str] = []
        self._where: list[tuple[str, list[str] | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        sink: list[str] | None = None
        if tag == "section" and a.get("data-step") is not None:
            sink = self.steps.setdefault(int(a["data-step"] or 0), [])
        elif tag == "section" and a.get("id") == "verdict":
            sink = self.verdict
        if tag == "section" or self._where:
            self._where.append((tag, sink if tag == "section" else None))

    def handle_endtag(self, tag: str) -> None:
        while self._where:
            t, _ = self._where.pop()
            if t == tag:
                break

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for _, sink in self._where:
            if sink is not None:
                sink.append(data)


def walk_trace(n: int = 30, seed: int = 1) -> Trace:
    """A 30-step trace of every kind of action (a random walk of the model): the page must stay readable."""
    b = Bounds(blocks=3, values=3, host_writes=8, concurrency=2, journal_capacity=4, markers=1, path_failures=2,
               crashes=1, message_faults=2, recoveries=2, recovery_kind=RecoveryKind.SWAP)
    m = MirrorModel(b)
    rng = random.Random(seed)
    s = next(iter(m.init_states()))
    steps: list[Any] = [(None, s)]
    while len(steps) <= n:
        a = rng.choice(sorted(m.actions(s), key=repr))  # sorted: the walk must not depend on hash order
        s = m.next_state(s, a)
        steps.append((a, s))
    return Trace("explicit", b, BY_NAME["recovery_reachable"], "witness", steps, note="a random walk of the model")


def dom_of(doc: dict[str, Any], page: Path) -> DomText:
    page.write_text(render.render_html(doc), encoding="utf-8")
    parsed = DomText()
    parsed.feed(chromium(page.as_uri(), "--dump-dom"))
    return parsed


@pytest.mark.parametrize("mutant", ["remote_applies_in_arrival_order", None])
def test_browser_shows_every_step_and_the_violation(mutant: str | None, tmp_path: Path) -> None:
    """A mutant's counterexample and the correct protocol's trade-off (write-through recovery): every step,
    the property where it breaks, its meaning and claims. The mutant's page is kept as artifacts/trace.png
    (1400 x 2000, the whole 6-step trace and its verdict in view)."""
    prop = MUTANTS[mutant].breaks if mutant else "remote_is_point_in_time"
    props = tuple(p.name for p in PROPERTIES if p.kind is not Kind.SOMETIMES)
    job = CheckJob(PRESETS["small"].with_(concurrency=2, mutant=mutant), props, stop_when_violated=(prop,))
    path = tmp_path / "trace.json"
    run_job(job).traces[prop].write(path)
    doc = tr.load(path)
    page = tmp_path / "trace.html"
    dom = dom_of(doc, page)
    last = len(doc["steps"]) - 1
    assert sorted(dom.steps) == list(range(last + 1))
    for i, step in enumerate(doc["steps"]):
        shown = " ".join(" ".join(dom.steps[i]).split())
        assert f"step {i}" in shown
        if step["action"] is not None:
            assert step["action"] in shown, (i, shown)
    verdict = " ".join(" ".join(dom.verdict).split())
    assert f"violated at step {last}: {prop}" in verdict
    assert doc["property"]["meaning"] in verdict
    assert "claims of US 7,139,851" in verdict
    if mutant is None:
        assert "expected trade-off" in verdict
        return
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "trace.png"
    shot.unlink(missing_ok=True)
    chromium(page.as_uri(), f"--screenshot={shot}", "--window-size=1400,2000", "--hide-scrollbars")
    assert shot.exists() and shot.stat().st_size > 20_000


def test_browser_thirty_steps(tmp_path: Path) -> None:
    """A 30-step trace: all 31 rows in the DOM and the witness "reached" (the page is meant to stay readable
    at this length: open ``pitmirror trace render`` of any long trace to look)."""
    path = tmp_path / "walk.json"
    walk_trace().write(path)
    doc = tr.load(path)
    dom = dom_of(doc, tmp_path / "walk.html")
    assert sorted(dom.steps) == list(range(31))
    assert "reached at step 30" in " ".join(" ".join(dom.verdict).split())


#: Measures the laid-out page: any value that sticks out of its lane cell or is clipped by its box, and any
#: text that wraps inside a word (a line break between two letters). Appended to a copy of the page with the
#: Content-Security-Policy removed (the real page runs no script); the findings land in the DOM as JSON.
LAYOUT_PROBE = r"""<script>
(function () {
  const problems = [];
  const say = (what, el) => problems.push(what + ": " + JSON.stringify(el.textContent.trim().slice(0, 80)));
  for (const cell of document.querySelectorAll(".cell")) {
    const box = cell.getBoundingClientRect();
    for (const v of cell.querySelectorAll(".k, .v, .sub, .item, .blk, .now, .was")) {
      const r = v.getBoundingClientRect();
      if (r.width > 0 && (r.right > box.right + 1 || r.left < box.left - 1)) say("sticks out of its lane", v);
      if (getComputedStyle(v).overflow !== "visible" && v.scrollWidth > v.clientWidth + 1) say("clipped", v);
    }
  }
  const page = document.documentElement.clientWidth;
  for (const t of document.querySelectorAll(".arrow .t, .badge, .headline, .verdict")) {
    const r = t.getBoundingClientRect();
    if (r.right > page + 1 || r.left < -1) say("off the page", t);
  }
  const between = /[\s,=(\/;:\-.\]]/;
  for (const root of document.querySelectorAll(".cell, .verdict, .headline, .note, .badge, .arrow .t, .meta")) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent;
      let top = null;
      for (let i = 0; i < text.length; i++) {
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const rects = range.getClientRects();
        if (!rects.length) continue;
        if (top !== null && rects[0].top > top + 2 && !between.test(text[i - 1]) && !/\s/.test(text[i])) {
          problems.push("wraps inside a word: " + JSON.stringify(text.slice(Math.max(0, i - 20), i) + "|" +
                                                               text.slice(i, i + 20)));
        }
        top = rects[0].top;
      }
    }
  }
  const out = document.createElement("pre");
  out.id = "layout-report";
  out.textContent = JSON.stringify(problems);
  document.body.appendChild(out);
})();
</script>"""


def layout_problems(doc: dict[str, Any], tmp_path: Path, width: int) -> list[str]:
    """What the probe finds on the page of ``doc`` in a window ``width`` pixels wide."""
    page = render.render_html(doc)
    csp = page.index("<meta http-equiv")
    page = page[:csp] + page[page.index(">", csp) + 1:]
    probe = tmp_path / f"probe-{width}.html"
    probe.write_text(page.replace("</body>", LAYOUT_PROBE + "</body>"), encoding="utf-8")
    dom = chromium(probe.as_uri(), "--dump-dom", f"--window-size={width},3000", "--hide-scrollbars")
    start = dom.index('<pre id="layout-report">') + len('<pre id="layout-report">')
    found: list[str] = json.loads(html.unescape(dom[start:dom.index("</pre>", start)]))
    return found


@pytest.mark.parametrize("width", [900, 1400])
def test_nothing_clipped_or_split_mid_word(width: int, tmp_path: Path) -> None:
    """At 900 and 1400 px: no value sticks out of its lane or is clipped (``a_swapped=fals``), no text wraps
    inside a word, and the page opens with the verdict: property, step, expected against actual. A
    screenshot of each width is kept in artifacts/ for a person to look at."""
    m = MUTANTS["recovery_off_by_one"]
    job = CheckJob(PRESETS["small"].with_(concurrency=2, mutant=m.name, recovery_kind=m.recovery_kind), (m.breaks,),
                   stop_when_violated=(m.breaks,))
    traces = [run_job(job).traces[m.breaks], walk_trace()]
    for k, t in enumerate(traces):
        path = tmp_path / f"t{k}.json"
        t.write(path)
        doc = tr.load(path)
        assert layout_problems(doc, tmp_path, width) == [], (k, width)
    doc = tr.load(tmp_path / "t0.json")
    page = tmp_path / "mutant.html"
    dom = dom_of(doc, page)
    text = " ".join(" ".join(dom.text).split())
    opening = text[:text.index("step 0")]
    assert "recovery_correct violated at step" in opening
    assert "expected P = image(" in opening and "got P = (" in opening
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"trace-{width}.png"
    shot.unlink(missing_ok=True)
    chromium(page.as_uri(), f"--screenshot={shot}", f"--window-size={width},1200", "--hide-scrollbars")
    assert shot.exists() and shot.stat().st_size > 20_000
