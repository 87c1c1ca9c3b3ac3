"""A run's two figures drawn by a child process, for `teachersim run` on a machine with a second core.

In one process, matplotlib's import (about 0.3 s) and the drawing (0.4 s at Beijing) come after
the years, while the second core idles. The command forks this child as its first act: before
Mesa, pandas and pyarrow are imported and before any thread exists, so the fork is safe (Linux
only, like the sweeps' fork server; macOS's system libraries are not fork-safe). The child imports
the plotting module while the parent builds and simulates, then draws and writes the PNGs into the
build folder (`sim.present.run_figures.write_run_figures`, the in-process code, so the bytes are
the same; it is handed the figures' arrays, `sim.present.bands`, so it imports no pandas) while the
parent writes the Parquet files and the summary. The Python API (`sim.write_run`) draws in its
own process: the reference path.

The child never outlives the parent: it is a daemon (ended when the parent exits), it ignores
Ctrl-C (which reaches the whole process group) and ends at EOF on its pipe, which the parent
closes, or the operating system when the parent dies.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
from pathlib import Path


class FiguresFailed(Exception):
    """The figure process failed or ended before drawing; its message is one line."""


def start() -> FigureProcess | None:
    """The figure process, importing the plotting module from now on; None where it cannot be
    started safely (not Linux, a thread already running, or the fork failed): draw in-process then."""
    if not sys.platform.startswith("linux") or threading.active_count() > 1:
        return None
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs, ours), name="teachersim-figures", daemon=True)
    try:
        process.start()
    except OSError:  # no memory or process slots left for a fork: the figures are drawn here
        ours.close()
        theirs.close()
        return None
    theirs.close()  # the child's end: held only by the child, so its death reads as EOF here
    return FigureProcess(process, ours)


class FigureProcess:
    """The parent's side: `draw` hands a job over, `wait` returns the PNG paths, `stop` ends the child."""

    def __init__(self, process, connection):
        self.process = process
        self.connection = connection

    def draw(self, data: dict, folder: Path) -> None:
        """Hand the child what the figures draw (`sim.present.bands.run_figure_data`: numpy arrays,
        no frame) and the build folder for its PNGs."""
        try:
            self.connection.send((data, Path(folder)))
        except OSError:  # the child is gone; `wait` says how it ended
            pass

    def wait(self) -> list[Path]:
        """The PNG files the child wrote; FiguresFailed when it failed or died."""
        try:
            status, detail = self.connection.recv()
        except (EOFError, OSError):
            self.process.join(5)
            raise FiguresFailed(f"the figure process ended before drawing the figures "
                                f"(exit code {self.process.exitcode})") from None
        if status != "done":
            raise FiguresFailed(f"the figure process could not draw the figures: {detail}")
        return [Path(p) for p in detail]

    def stop(self) -> None:
        """End the child (at once if it is still drawing) and reap it."""
        self.connection.close()
        self.process.join(1)  # after `wait` it is exiting already
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


def _serve(connection, parents_end) -> None:
    """The child: import the plotting module, then draw the one job the parent sends."""
    parents_end.close()  # else the parent's death would not read as EOF here
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent unwinds and closes the pipe
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the command's handler: `stop` terminates
    try:
        from sim.present import run_figures  # matplotlib and numpy: pandas is not needed here
    except Exception as exc:  # reported when the job comes, as one line
        run_figures, failure = None, f"{type(exc).__name__}: {exc}"
    try:
        data, folder = connection.recv()
    except (EOFError, OSError):  # the parent is gone or wants no figures
        return
    try:
        if run_figures is not None:
            reply = ("done", [str(p) for p in run_figures.write_run_figures(data, folder)])
        else:
            reply = ("failed", failure)
    except Exception as exc:
        reply = ("failed", f"{type(exc).__name__}: {exc}")
    try:
        connection.send(reply)
    except OSError:
        pass
