"""Running explicit checks: one job per recovery kind, on both cores when there are two jobs.

The command line and the scorecard call ``run_jobs``; each job is a plain, picklable ``CheckJob`` so it can
run in a worker process (the 2-core machine explores write-through and swap side by side). A job names
bounds and catalogue properties; which model those bounds build is the ``model_factory`` (``MirrorModel``
unless a caller checks a variant of the protocol), so the runner, like the engine, is not welded to it.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pitmirror.checkers.explicit.checker import INTERRUPTED, CheckResult, Discovery, ExplicitChecker, Verdict
from pitmirror.checkers.traces.trace import Trace
from pitmirror.model.actions import Action
from pitmirror.model.config import Bounds
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.interface import Model
from pitmirror.spec.properties import BY_NAME, Property
from pitmirror.spec.state import State

#: builds the model a job checks from the job's bounds (a module-level callable, so jobs pickle)
ModelFactory = Callable[[Bounds], Model[State, Action]]


@dataclass(frozen=True)
class CheckJob:
    """One exhaustive run: the bounds (recovery kind and mutant included) and what to check."""

    bounds: Bounds
    properties: tuple[str, ...]
    symmetry: bool = True
    max_states: int | None = None
    stop_when_violated: tuple[str, ...] = ()
    label: str = ""


@dataclass
class JobOutcome:
    """A finished job: its result and the traces of its discoveries."""

    job: CheckJob
    result: CheckResult[State, Action]
    traces: dict[str, Trace] = field(default_factory=dict)


def trace_of(job: CheckJob, d: Discovery[State, Action], source: str = "explicit") -> Trace:
    """The discovery as a trace in the common format (with the catalogue's entry for its property)."""
    verdict = "witness" if d.verdict is Verdict.REACHED else "violated"
    return Trace(source, job.bounds, BY_NAME[d.prop.name], verdict, d.path, note=d.note)


ProgressSink = Callable[[str, int, int, int], None]  # (label, states, depth, frontier)
JobRunner = Callable[[CheckJob, "ProgressSink | None"], "JobOutcome"]  # runs one job in this process


def run_job(job: CheckJob, progress: ProgressSink | None = None,
            model_factory: ModelFactory = MirrorModel) -> JobOutcome:
    """Run one job in this process, on the model ``model_factory`` builds from the job's bounds."""
    props: list[Property] = [BY_NAME[n] for n in job.properties]
    cb = None if progress is None else (lambda n, d, f: progress(job.label, n, d, f))
    checker = ExplicitChecker(model_factory(job.bounds), props, symmetry=job.symmetry, max_states=job.max_states,
                              stop_when_violated=job.stop_when_violated, progress=cb)
    result = checker.run()
    traces = {name: trace_of(job, d) for name, d in result.discoveries.items()
              if d.verdict in (Verdict.VIOLATED, Verdict.REACHED) and d.path}
    return JobOutcome(job, result, traces)


def _worker(job: CheckJob, shared: Any, run: JobRunner) -> JobOutcome:
    def sink(label: str, n: int, d: int, f: int) -> None:
        shared[label] = (n, d, f)

    return run(job, sink)  # the checker turns Ctrl-C into a partial verdict itself


def not_run(job: CheckJob) -> JobOutcome:
    """The outcome of a job that Ctrl-C stopped before it started, or before it could give its partial verdict
    (the interrupt landed after the search, while the checker built its result): every property unknown."""
    props: dict[str, Discovery[State, Action]] = {n: Discovery(BY_NAME[n], Verdict.UNKNOWN) for n in job.properties}
    return JobOutcome(job, CheckResult(props, 0, 0, 0, 0.0, False, INTERRUPTED, 1))


def run_jobs(jobs: list[CheckJob], progress: ProgressSink | None = None, workers: int = 2,
             model_factory: ModelFactory = MirrorModel, run: JobRunner | None = None) -> list[JobOutcome]:
    """Run the jobs, in worker processes when there is more than one job and more than one worker. One
    outcome per job, in order; after Ctrl-C, the jobs not yet started are ``not_run``. ``run`` runs one job
    (this engine's ``run_job`` on ``model_factory`` unless another engine brings its own)."""
    if run is None:
        run = partial(run_job, model_factory=model_factory)
    if len(jobs) <= 1 or workers <= 1:
        outcomes: list[JobOutcome] = []
        for j in jobs:
            if outcomes and outcomes[-1].result.stop_reason == INTERRUPTED:
                outcomes.append(not_run(j))  # Ctrl-C ends the whole run, not just the job it landed in
                continue
            try:
                outcomes.append(run(j, progress))
            except KeyboardInterrupt:  # after the search, where the checker no longer turns it into a verdict
                outcomes.append(not_run(j))
        return outcomes
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ctx.Manager() as manager:
        shared = manager.dict()
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
            futures: list[Future[JobOutcome]] = [pool.submit(_worker, j, shared, run) for j in jobs]
            while not all(f.done() for f in futures):
                try:
                    if progress is not None:
                        for label, (n, d, f) in list(shared.items()):
                            progress(label, n, d, f)
                    time.sleep(0.2)
                except KeyboardInterrupt:
                    # Ctrl-C reached the running workers too: each returns its partial verdict; the queued
                    # jobs must not start afterwards
                    for f in futures:
                        f.cancel()
            return [_outcome(j, f) for j, f in zip(jobs, futures, strict=True)]


def _outcome(job: CheckJob, future: Future[JobOutcome]) -> JobOutcome:
    """A worker's outcome. A Ctrl-C that reached the worker after its search (while the checker built its
    result) comes back as the worker's exception, and would end a caller that keeps partial results (the
    scorecard) without them: the job is ``not_run`` instead."""
    if future.cancelled():
        return not_run(job)
    try:
        return future.result()
    except KeyboardInterrupt:
        return not_run(job)
