"""Where a benchmark's time goes: py-spy samples the worker processes' Python stacks while the
work runs, from outside, so the processes run at full speed (cProfile would slow every call)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.report import table

__all__ = ["Profile", "sampled"]

SAMPLES_PER_SECOND = 50
# A function on (almost) every whole stack is the process's plumbing (its main loop, WSGI and
# the middleware, the task tracer): listing it says nothing about where the time goes. Whole:
# py-spy unwinds a few percent of the samples only part of the way, so those do not count here.
PLUMBING_SHARE = 0.97
STOP_TIMEOUT = 30
# The processes' own background threads (the connection pool's workers) wait most of the time;
# only the main thread, which serves the requests and runs the tasks, is the work measured.
BACKGROUND_THREAD = "Thread._bootstrap "


@dataclass
class Profile:
    """Main-thread stack samples of one or more processes: per function, the samples it was on
    (cumulative) and the samples it was running itself (own)."""

    rate: int = SAMPLES_PER_SECOND
    processes: int = 0
    samples: int = 0
    cumulative: Counter[str] = field(default_factory=Counter)
    own: Counter[str] = field(default_factory=Counter)
    roots: Counter[str] = field(default_factory=Counter)
    problem: str = ""

    def add_raw(self, text: str) -> None:
        """Count py-spy's raw (collapsed) stacks: `frame;frame;… count` per line."""
        for line in text.splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            functions = [_function(frame) for frame in stack.split(";")]
            functions = [f for f in functions if f]
            if not functions or functions[0].startswith(BACKGROUND_THREAD):
                continue
            weight = int(count)
            self.samples += weight
            self.roots[functions[0]] += weight
            self.own[functions[-1]] += weight
            for function in set(functions):
                self.cumulative[function] += weight

    def top(self, n: int = 10) -> list[tuple[str, float, float]]:
        """(function, cumulative share, own share) of the n functions with most cumulative time."""
        if not self.samples:
            return []
        # The stacks py-spy unwound whole all start where the process started.
        (_root, whole), *_ = self.roots.most_common(1)
        shares = [
            (function, count / self.samples, self.own[function] / self.samples)
            for function, count in self.cumulative.most_common()
            if count < PLUMBING_SHARE * whole
        ]
        return shares[:n]

    def top_own(self, n: int = 10) -> list[tuple[str, float, float]]:
        """(function, cumulative share, own share) of the n functions running most themselves."""
        if not self.samples:
            return []
        return [
            (function, self.cumulative[function] / self.samples, count / self.samples)
            for function, count in self.own.most_common(n)
        ]

    def report(self, n: int = 10) -> str:
        """The top n functions by cumulative and by own time, as the benchmarks print them."""
        if self.problem:
            return f"  Profile: none ({self.problem})."
        if not self.samples:
            return "  Profile: no samples (the work was shorter than one sampling interval)."
        seconds = self.samples / self.rate
        head = (
            f"  Profile (py-spy, {self.processes} process{'es' if self.processes != 1 else ''}, "
            f"{self.samples:,} samples = {seconds:,.0f} process-seconds, waiting for PostgreSQL "
            "included)"
        )
        columns = [">cumulative", ">own", "function"]

        def rows(shares):
            return [[f"{c:.1%}", f"{o:.1%}", function] for function, c, o in shares]

        return "\n".join(
            [
                head,
                f"   top {n} functions by cumulative time:",
                table(columns, rows(self.top(n)), indent="    "),
                f"   top {n} functions by own time:",
                table(columns, rows(self.top_own(n)), indent="    "),
            ]
        )

    def as_dict(self, n: int = 10) -> dict:
        return {
            "processes": self.processes,
            "samples": self.samples,
            "top": [[f, round(c, 4), round(o, 4)] for f, c, o in self.top(n)],
            "top_own": [[f, round(c, 4), round(o, 4)] for f, c, o in self.top_own(n)],
            "problem": self.problem,
        }


@contextmanager
def sampled(pids: Iterable[int], *, rate: int = SAMPLES_PER_SECOND) -> Iterator[Profile]:
    """Sample the processes' stacks while the block runs; the Profile is filled when it ends."""
    profile = Profile(rate=rate)
    pids = sorted(pids)
    spy = _py_spy()
    if spy is None:
        profile.problem = "py-spy is not installed (make install puts it in .venv)"
        yield profile
        return
    with tempfile.TemporaryDirectory(prefix="bench_profile_") as folder:
        recorders = []
        for pid in pids:
            output = Path(folder) / f"{pid}.raw"
            command = [
                spy, "record", "--pid", str(pid), "--rate", str(rate), "--idle", "--nonblocking",
                "--format", "raw", "--output", str(output),
            ]  # fmt: skip
            recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            recorders.append((recorder, output))
        try:
            yield profile
        finally:
            problems = []
            for recorder, output in recorders:
                if recorder.poll() is None:
                    recorder.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
                try:
                    _out, errors = recorder.communicate(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    recorder.kill()
                    _out, errors = recorder.communicate()
                if output.exists():
                    profile.processes += 1
                    profile.add_raw(output.read_text(errors="replace"))
                    _keep(output)
                else:
                    problems.extend(errors.decode(errors="replace").strip().splitlines()[-1:])
            if not profile.processes and problems:
                profile.problem = "py-spy could not attach: " + " ".join(problems)


def _keep(output: Path) -> None:
    """Copy the raw stacks into BENCH_PROFILE_DIR when set, for a flame graph or a closer look."""
    folder = os.environ.get("BENCH_PROFILE_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(output, Path(folder) / output.name)


def _function(frame: str) -> str:
    """`name (path/file.py:123)` as `name (path/file.py)`; process headers count for nothing."""
    if frame.startswith("process ") or " (" not in frame:
        return ""
    name, _, place = frame.rpartition(" (")
    return f"{name} ({place.rstrip(')').rpartition(':')[0] or place.rstrip(')')})"


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("py-spy")
