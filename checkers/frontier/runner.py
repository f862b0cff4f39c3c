"""Running frontier-engine checks: the explicit engine's jobs and outcomes, so the command line, the traces
and the reports take either engine's results alike."""

from __future__ import annotations

from functools import partial

from pitmirror.checkers.explicit.checker import Verdict
from pitmirror.checkers.explicit.runner import CheckJob, JobOutcome, JobRunner, ProgressSink, run_jobs, trace_of
from pitmirror.checkers.frontier.engine import FrontierChecker
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import BY_NAME


def run_job(job: CheckJob, progress: ProgressSink | None = None, exact: bool = False, jobs: int = 1,
            kernel: str = "auto") -> JobOutcome:
    """Run one job on the frontier engine: in this process, with ``jobs`` worker processes expanding each
    frontier when more than one."""
    cb = None if progress is None else (lambda n, d, f: progress(job.label, n, d, f))
    checker = FrontierChecker(MirrorModel(job.bounds), [BY_NAME[n] for n in job.properties], symmetry=job.symmetry,
                              exact=exact, max_states=job.max_states, stop_when_violated=job.stop_when_violated,
                              progress=cb, jobs=jobs, kernel=kernel)
    result = checker.run()
    traces = {name: trace_of(job, d) for name, d in result.discoveries.items()
              if d.verdict in (Verdict.VIOLATED, Verdict.REACHED) and d.path}
    return JobOutcome(job, result, traces)


def run_frontier_jobs(jobs: list[CheckJob], progress: ProgressSink | None = None, workers: int = 2,
                      exact: bool = False, kernel: str = "auto") -> list[JobOutcome]:
    """Run the jobs on the frontier engine: one process per job when there are several, and the workers
    left over shared out to expand each job's frontiers (``--jobs 2`` with one recovery kind: both cores
    inside the one run)."""
    run: JobRunner = partial(run_job, exact=exact, jobs=max(1, workers // max(1, len(jobs))), kernel=kernel)
    return run_jobs(jobs, progress, workers=workers, run=run)
