"""A run's two figures drawn by a child process, for `teachersim run` on a machine with a second core.

In one process, matplotlib's import (about 0.3 s) and the drawing (0.4 s at Beijing) come after
the years, while the second core idles. The command forks this child as its first act: before
Mesa, pandas and pyarrow are imported and before any thread exists, so the fork is safe (Linux
only, like the sweeps' fork server; macOS's system libraries are not fork-safe). The child imports
the plotting module while the parent builds and simulates, then draws and writes the PNGs into the
build folder (`sim.present.run_figures.write_run_figure`, the in-process code, so the bytes are
the same; it is handed the figures' arrays, `sim.present.bands`, so it imports no pandas) while the
parent writes the Parquet files and the summary. Each figure after the first is drawn by a fork of
the child, made once its imports are done, so the two figures take the time of the longer one
where a core is free (the parent only waits by then). The Python API (`sim.write_run`) draws in
its own process: the reference path.

A child that fails or dies fails the write (`FiguresFailed`: one line, exit 1, nothing swapped
into place) rather than drawing again here: it ran the in-process code on the same data, so a
second try would meet the same error, and a child killed from outside (the OOM killer, a user)
says the machine is short of something a retry in this process would need too.

The child never outlives the parent: it is a daemon (ended when the parent exits), it ignores
Ctrl-C (which reaches the whole process group) and ends at EOF on its pipe, which the parent
closes, or the operating system when the parent dies; a drawing fork is killed by the kernel
when the child ends (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading


class FiguresFailed(Exception):
    """The figure process failed or ended before drawing; its message is one line."""


def start(preload: tuple[str, ...]) -> FigureProcess | None:
    """The figure process, importing the `preload` modules from now on; None where it cannot be
    started safely (not Linux, a thread already running, or the fork failed): draw in-process then."""
    if not sys.platform.startswith("linux") or threading.active_count() > 1:
        return None
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs, ours, preload), name="teachersim-figures", daemon=True)
    try:
        process.start()
    except OSError:  # no memory or process slots left for a fork: the figures are drawn here
        ours.close()
        theirs.close()
        return None
    theirs.close()  # the child's end: held only by the child, so its death reads as EOF here
    return FigureProcess(process, ours)


class FigureProcess:
    """The parent's side: `submit` hands the one job over, `result` waits for it, `stop` ends the child."""

    def __init__(self, process, connection):
        self.process = process
        self.connection = connection

    def submit(self, jobs: list[tuple[str, str, tuple]]) -> None:
        """Have the child call each `module.function(*args)` of `jobs` (arrays, paths, frames: what
        pickles), each in a process of its own (`_run_jobs`)."""
        try:
            self.connection.send(jobs)
        except OSError:  # the child is gone; `result` says how it ended
            pass

    def result(self) -> list:
        """What each job returned, in order; FiguresFailed when one raised or a process died."""
        try:
            status, value = self.connection.recv()
        except (EOFError, OSError):
            self.process.join(5)
            raise FiguresFailed(f"the figure process ended before drawing the figures "
                                f"(exit code {self.process.exitcode})") from None
        if status != "done":
            raise FiguresFailed(f"the figure process could not draw the figures: {value}")
        return value

    def stop(self) -> None:
        """End the child and reap it: after `result` it is exiting already; before (bad input, an
        interruption, a failure elsewhere) it is ended at once, so no PNG is written after this."""
        self.connection.close()
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()


def _serve(connection, parents_end, preload: tuple[str, ...]) -> None:
    """The child: import `preload`, then run the jobs the parent sends and send back their results."""
    import importlib
    import os

    parents_end.close()  # else the parent's death would not read as EOF here
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent unwinds and closes the pipe
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the command's handler: `stop` terminates
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy starts no BLAS threads: `_run_jobs` forks
    failure = None
    try:
        for name in preload:
            importlib.import_module(name)
    except Exception as exc:  # reported when the jobs come, as one line
        failure = f"{type(exc).__name__}: {exc}"
    try:
        jobs = connection.recv()
    except (EOFError, OSError):  # the parent is gone or wants no figures
        return
    replies = [("failed", failure)] if failure else _run_jobs(jobs)
    failed = next((reply for reply in replies if reply[0] != "done"), None)
    try:
        connection.send(failed or ("done", [value for _, value in replies]))
    except OSError:
        pass


def _run_jobs(jobs: list) -> list[tuple[str, object]]:
    """Each job's ("done", value) or ("failed", one line): the first here, each other in a fork of
    this process, whose imports are done (a few milliseconds a fork), so that a run's two figures
    take the time of the longer one where a core is free."""
    forked = [_fork(job) for job in jobs[1:]]
    return [_call(jobs[0])] + [_reply_of(pid, read) for pid, read in forked]


def _call(job) -> tuple[str, object]:
    import importlib

    module, function, args = job
    try:
        return "done", getattr(importlib.import_module(module), function)(*args)
    except Exception as exc:
        return "failed", f"{type(exc).__name__}: {exc}"


def _fork(job):
    """A process running `job` and sending its reply through a pipe; (its pid, the pipe's end)."""
    import os

    read, write = multiprocessing.Pipe(duplex=False)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            read.close()
            _end_with(parent)
            write.send(_call(job))
        finally:
            os._exit(0)  # a fork's exit: none of the figure process's exit handlers
    write.close()
    return pid, read


def _end_with(parent: int) -> None:
    """Have the kernel kill this process when `parent` ends (Linux's PR_SET_PDEATHSIG), so that a
    stopped figure process leaves no drawing process behind."""
    import ctypes
    import os

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it ended before the request took effect
        os._exit(1)


def _reply_of(pid: int, read) -> tuple[str, object]:
    import os

    try:
        reply = read.recv()
    except (EOFError, OSError):
        reply = None
    read.close()
    _, status = os.waitpid(pid, 0)
    return reply or ("failed", f"a drawing process ended before its figure "
                               f"(exit code {os.waitstatus_to_exitcode(status)})")
