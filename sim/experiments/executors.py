"""Where runs execute: this process, a local Dask cluster, an existing Dask scheduler, or Slurm.

Every executor calls the same task function on the same tasks, so results never depend on
where a run executed or how many workers there were (the seeds come from the tasks). An
executor yields `(task, result, error)` as tasks finish, in any order. It keeps only a bounded
window of tasks in flight, so the client's memory does not grow with the number of runs.

Dask survives killed workers on its own: the scheduler reschedules a lost worker's tasks (up to
`distributed.scheduler.allowed-failures` times, then KilledWorker), `retries=` covers other
transient errors, and an adaptive Slurm cluster submits new jobs to replace lost ones.

A local cluster takes one to a few seconds to start (its worker processes wait for the fork
server's imports). With `overlap` (opt-in: on a 2-core machine it measured no faster, as this
process then imports the model too), it starts in a background thread and the first tasks run
in this process meanwhile, as `Serial` runs them; once the workers are up, they get the rest,
and this process finishes its task in hand and only schedules.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

LOCAL_HOST = "127.0.0.1"  # a local cluster listens on loopback only
logger = logging.getLogger(__name__)
CLOSE_TIMEOUT = 20.0  # seconds for a cluster to stop on its own before its worker processes are killed
START_TIMEOUT = 120.0  # seconds a stop waits for a local cluster's background start to end
CHECK_EVERY = 0.25  # seconds between two looks at the signals noted while waiting for a result
# what a sweep run imports, loaded once in the fork server (an import that fails there is skipped,
# and the worker imports it itself)
WORKER_IMPORTS = ("distributed", "sim.experiments.run", "sim.core.model", "sim.storage.store", "pyarrow.parquet")


def machine_workers() -> int:
    """The number of CPUs this process may use: the default size of a local cluster."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def start_fork_server() -> str:
    """Start the fork server the local workers are forked from, importing WORKER_IMPORTS, and return
    the start method for Dask's worker processes: "forkserver" on Linux, else "spawn".

    It returns at once (the server imports in the background, on another core than this
    process's), so it can be called before the sweep is checked, and before Dask is imported
    here (this module imports none). Starting it again is a no-op; a server started earlier by
    other code keeps its own imports."""
    # Linux only: on macOS a process that loaded the system's numerical libraries is not safe to fork
    if not sys.platform.startswith("linux") or "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(list(WORKER_IMPORTS))
    forkserver.ensure_running()
    return "forkserver"


class Serial:
    """Runs tasks one after another in this process (no Dask): the reference every executor matches."""

    def prepare(self) -> None:
        return None

    def __enter__(self) -> Serial:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def describe(self) -> str:
        return "serial (this process)"

    def map_unordered(self, fn: Callable, items: Iterable) -> Iterator[tuple[Any, Any, BaseException | None]]:
        for item in items:
            try:
                result = fn(item)
            except Exception as exc:  # the task function records its own failures; this is a last guard
                yield item, None, exc
            else:
                yield item, result, None


@dataclass
class SlurmOptions:
    """A Slurm cluster through dask-jobqueue: adaptive, between 1 and `jobs` jobs at a time."""

    jobs: int = 2  # most jobs at once; lost jobs are replaced while runs are pending
    cores: int = 1  # per job: one single-threaded worker process per core
    memory: str = "2GB"  # per job
    walltime: str = "01:00:00"
    queue: str | None = None  # the partition
    account: str | None = None
    directives: list[str] = field(default_factory=list)  # extra `#SBATCH` options, e.g. "--nodes=1"
    host: str | None = None  # where the scheduler listens; None: dask-jobqueue's choice (this host's address)
    log_directory: str | None = None


class Dask:
    """Runs tasks on Dask: a local cluster (default, `sim.experiments.local_cluster`), an existing scheduler, or
    a SLURMCluster. With `overlap`, a local cluster starts in the background while the first tasks
    run in this process (the module's docstring)."""

    def __init__(self, workers: int | None = None, address: str | None = None,
                 slurm: SlurmOptions | None = None, retries: int = 2, window: int | None = None,
                 connect_timeout: float = 30.0, overlap: bool = False):
        if sum(x is not None for x in (workers, address, slurm)) > 1:
            raise ValueError("give at most one of workers, address, slurm")
        self.workers = workers
        self.address = address
        self.slurm = slurm
        self.retries = retries
        self.window = window
        self.connect_timeout = connect_timeout
        self.overlap = overlap and not (address or slurm)
        self.ran_here = 0  # tasks this process ran itself while the cluster started
        self._cluster = None
        self._client = None
        self._starter: threading.Thread | None = None  # the background start, while it runs
        self._start_error: BaseException | None = None
        self._warned = False
        self._ready = threading.Event()  # set when the background start has ended, started or not
        self._handoff = threading.Lock()  # the starter and the main thread hand the first tasks to Dask under it
        self._flight: _InFlight | None = None
        self._noted: list[int] = []  # SIGINT and SIGTERM received while entered (see _interrupts_noted)
        self._restore = None

    @property
    def client(self):
        """The Dask client (None before the start and after the stop); waits for a background start."""
        self._join_starter()
        return self._client

    @property
    def cluster(self):
        self._join_starter()
        return self._cluster

    def describe(self) -> str:
        if self.address:
            return f"dask scheduler {self.address}"
        if self.slurm:
            return f"slurm via dask-jobqueue (up to {self.slurm.jobs} jobs x {self.slurm.cores} cores)"
        return f"local dask cluster ({self.workers or machine_workers()} workers on {LOCAL_HOST})"

    def prepare(self) -> None:
        """Start what can start while the caller still checks its input: a local cluster's fork
        server, which imports what the workers need in the background."""
        if not (self.address or self.slurm):
            start_fork_server()

    def __enter__(self) -> Dask:
        self._noted.clear()
        self._restore = _interrupts_noted(self._noted)
        try:
            if self.overlap:
                if importlib.util.find_spec("distributed") is None:  # said now, as a start in the foreground would
                    raise ImportError("No module named 'distributed': pip install 'teachersim[cluster]'")
                self.prepare()
                self._ready.clear()
                self._starter = threading.Thread(target=self._start_in_background, name="teachersim-cluster-start",
                                                 daemon=True)
                self._starter.start()
                return self
            # A signal while the cluster starts or stops is held until that step ends (each is bounded),
            # then acts: interrupting Dask there leaves a half-started or half-closed cluster, whose
            # next close() waits forever.
            with _signals_held() as held:
                try:
                    self._start()
                except BaseException:
                    self._stop()
                    raise
                if held:
                    self._stop()
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            with _signals_held():
                self._stop()
        finally:
            if self._restore is not None:
                self._restore, restore = None, self._restore
                restore()

    def _start(self) -> None:
        from dask.distributed import Client

        if self.address:
            try:
                self._client = Client(self.address, timeout=self.connect_timeout)
            except (TypeError, ValueError, RuntimeError) as exc:  # TLS settings missing or refused, a bad address
                raise ConnectionError(f"{exc} (Dask's TLS settings: docs/cluster.md)") from None
        elif self.slurm:
            self._cluster = _slurm_cluster(self.slurm)
            self._cluster.adapt(minimum_jobs=1, maximum_jobs=self.slurm.jobs)
            self._client = Client(self._cluster, timeout=self.connect_timeout)
        else:
            from sim.experiments.local_cluster import local_cluster

            self._cluster = local_cluster(self.workers or machine_workers(), LOCAL_HOST,
                                          start_method=start_fork_server())
            self._client = Client(self._cluster, timeout=self.connect_timeout, security=self._cluster.security)

    def _start_in_background(self) -> None:
        """The starter thread: start the local cluster, then hand Dask the first tasks of a map
        that is running in this process meanwhile (its thread is busy with a task)."""
        try:
            self._start()
        except BaseException as exc:  # raised in the main thread, by map_unordered or the stop
            self._start_error = exc
        finally:
            self._ready.set()
        with self._handoff:
            if self._flight is not None and self._start_error is None:
                self._flight.attach(self._client)

    def _join_starter(self) -> None:
        starter = self._starter
        if starter is not None and starter is not threading.current_thread():
            starter.join(START_TIMEOUT)
            if not starter.is_alive():
                self._starter = None

    def _started_client(self):
        """The client once the background start has ended; None if that start failed (warned once:
        the tasks then run in this process, with the same results)."""
        self._join_starter()
        if self._start_error is not None and self._client is None:
            if not self._warned:
                self._warned = True
                logger.warning("%s could not start (%s: %s); the tasks run in this process instead",
                               self.describe(), type(self._start_error).__name__, self._start_error)
            return None
        return self._client

    def _stop(self) -> None:
        """Close the client and the cluster, at most once (after a background start has ended);
        worker processes still there after CLOSE_TIMEOUT are killed."""
        self._join_starter()
        self._start_error = None
        client, self._client = self._client, None
        cluster, self._cluster = self._cluster, None
        if client is not None:
            with contextlib.suppress(OSError):  # a timeout or a lost scheduler: nothing left to close
                client.close(timeout=CLOSE_TIMEOUT)
        if cluster is not None:
            _close_cluster(cluster)

    def _window(self, client) -> int:
        if self.window:
            return self.window
        if self.slurm:
            return max(8, 4 * self.slurm.jobs * self.slurm.cores)
        threads = sum(client.nthreads().values())
        return max(8, 4 * threads)

    def map_unordered(self, fn: Callable, items: Iterable) -> Iterator[tuple[Any, Any, BaseException | None]]:
        todo = _Todo(items)
        flight = _InFlight(fn, todo, self.retries, self._window)
        if not self._ready.is_set() and self._starter is not None:
            with self._handoff:
                self._flight = flight  # the starter hands Dask the first tasks as soon as the cluster is up
            try:
                while not self._ready.is_set() and self._check_signals() and (item := todo.next()) is not _END:
                    self.ran_here += 1
                    yield _run_here(fn, item)
            finally:
                with self._handoff:
                    self._flight = None
        client = self._started_client()
        if client is None:  # a background start that failed
            while self._check_signals() and (item := todo.next()) is not _END:
                self.ran_here += 1
                yield _run_here(fn, item)
            return
        with self._handoff:
            flight.attach(client)
        try:
            while (future := flight.next_done(self._check_signals)) is not None:
                item = flight.pop(future)
                try:
                    result, error = future.result(), None
                except Exception as exc:  # KilledWorker after too many lost workers, a cancelled future, ...
                    result, error = None, exc
                future.release()
                flight.top_up()
                yield item, result, error
        finally:
            flight.close()

    def _check_signals(self) -> bool:
        """Raise KeyboardInterrupt for a SIGINT or SIGTERM noted since the start: the handler's own
        exception is lost when the signal lands in a garbage-collector callback (Dask registers
        one), where the interpreter prints and ignores it."""
        if self._noted:
            raise KeyboardInterrupt(f"signal {self._noted[-1]}")
        return True


_END = object()  # what _Todo.next returns when no task is left


class _Todo:
    """The tasks still to hand out, taken one at a time from two threads (a generator cannot be)."""

    def __init__(self, items: Iterable):
        self._items = iter(items)
        self._lock = threading.Lock()

    def next(self):
        with self._lock:
            return next(self._items, _END)


class _InFlight:
    """The bounded window of tasks submitted to Dask; finished futures arrive on a queue (Dask's
    done-callbacks), read with a timeout so that the caller can look at its signals between."""

    def __init__(self, fn: Callable, todo: _Todo, retries: int, window: Callable):
        self.fn, self.todo, self.retries, self.window = fn, todo, retries, window
        self.client = None
        self.size = 0
        self.pending: dict[str, Any] = {}
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self.lock = threading.Lock()

    def attach(self, client) -> None:
        """Start submitting on `client` (once), up to the window."""
        if self.client is None:
            self.client, self.size = client, self.window(client)
        self.top_up()

    def top_up(self) -> None:
        with self.lock:
            while self.client is not None and len(self.pending) < self.size:
                item = self.todo.next()
                if item is _END:
                    return
                future = self.client.submit(self.fn, item, pure=False, retries=self.retries)
                self.pending[future.key] = item
                future.add_done_callback(self.done.put)

    def next_done(self, check: Callable[[], bool]):
        """The next finished future, None when none is pending; `check` runs every CHECK_EVERY seconds."""
        while check():
            with self.lock:
                if not self.pending:
                    return None
            try:
                return self.done.get(timeout=CHECK_EVERY)
            except queue.Empty:
                continue
        return None

    def pop(self, future):
        with self.lock:
            return self.pending.pop(future.key)

    def close(self) -> None:
        """Stop submitting (a map left early: its pending futures end with the cluster)."""
        with self.lock:
            self.client = None
            self.pending.clear()


def _run_here(fn: Callable, item) -> tuple[Any, Any, BaseException | None]:
    """One task in this process, as Serial runs it."""
    try:
        return item, fn(item), None
    except Exception as exc:  # the task function records its own failures; this is a last guard
        return item, None, exc


def executor_for(serial: bool = False, workers: int | None = None, scheduler: str | None = None,
                 slurm: SlurmOptions | None = None) -> Serial | Dask:
    """The one choice of executor from the command line's words, shared by compare, sweep,
    calibrate and optimize: `serial` runs in this process; otherwise Dask on an existing scheduler
    (its address), on Slurm, or on a local cluster of `workers` (default one per CPU). A new kind
    of executor is a class with the same four methods, passed as `executor=`. Call `prepare()`
    on the executor before checking the input, to let a local cluster start its imports early.
    The cluster starts before the first task (`Dask(overlap=True)`, which runs the first tasks
    here meanwhile, measured no faster on 2 cores: benchmarks/README.md, "Sweeps")."""
    return Serial() if serial else Dask(workers=workers, address=scheduler, slurm=slurm)


@contextlib.contextmanager
def running(executor, error: type[Exception]):
    """Enter `executor` for the body and always leave it; a failure to start or connect (a missing
    extra, an unreachable scheduler) becomes one line of `error`, the caller's bad-input class."""
    try:
        executor.__enter__()
    except ImportError as exc:
        raise error(str(exc)) from None
    except (OSError, TimeoutError) as exc:
        raise error(f"{executor.describe()}: cannot start or connect: {exc}") from None
    try:
        yield executor
    finally:
        executor.__exit__(None, None, None)


def _interrupts_noted(noted: list[int], signals=(signal.SIGINT, signal.SIGTERM)) -> Callable[[], None]:
    """Wrap the Python handlers of SIGINT and SIGTERM so that each signal is appended to `noted`
    before the handler runs (the CLI's raises KeyboardInterrupt, which the interpreter ignores
    when it is raised inside a garbage-collector callback); return the function that puts the
    handlers back. Only the main thread can set handlers; elsewhere nothing is wrapped."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in signals:
            handler = signal.getsignal(sig)
            if callable(handler):  # not SIG_DFL, SIG_IGN or a handler not set from Python (None)
                def noting(signum, frame, handler=handler):
                    noted.append(signum)
                    handler(signum, frame)

                previous[sig] = signal.signal(sig, noting)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


@contextlib.contextmanager
def _signals_held(signals=(signal.SIGINT, signal.SIGTERM)):
    """Record SIGINT and SIGTERM instead of acting on them, then deliver the last one received to
    the handler that was there before (the CLI's raises KeyboardInterrupt). Only the main thread
    can set handlers; elsewhere nothing is held."""
    held: list[int] = []  # the signals received, in order
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in signals:
            handler = signal.getsignal(sig)
            # None: a handler not set from Python, which cannot be put back; SIG_IGN: nothing to hold
            if handler not in (None, signal.SIG_IGN):
                previous[sig] = signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        yield held
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            signal.raise_signal(held[-1])


def _close_cluster(cluster) -> None:
    """Close a cluster within CLOSE_TIMEOUT; if it does not stop, kill its worker processes."""
    from distributed.core import Status

    try:
        cluster.close(timeout=CLOSE_TIMEOUT)
    except Exception as exc:  # a timeout, or a worker or job that failed to stop
        pids = [getattr(w, "pid", None) for w in getattr(cluster, "workers", {}).values()]
        pids = [pid for pid in pids if pid]  # a nanny's worker process; Slurm jobs have none
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if pids:
            cluster.status = Status.closed  # so that Dask's exit hook does not wait for it again
            logger.warning("the Dask cluster did not stop within %.0f s (%s); its worker processes were killed",
                           CLOSE_TIMEOUT, type(exc).__name__)
        else:
            logger.warning("the Dask cluster did not stop within %.0f s (%s); check for jobs still queued",
                           CLOSE_TIMEOUT, type(exc).__name__)


def _slurm_cluster(opts: SlurmOptions):
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ImportError("Slurm needs dask-jobqueue: pip install 'teachersim[cluster]'") from None
    scheduler_options = {"dashboard_address": None}
    if opts.host:
        scheduler_options["host"] = opts.host
    return SLURMCluster(cores=opts.cores, processes=opts.cores, memory=opts.memory, walltime=opts.walltime,
                        queue=opts.queue, account=opts.account, job_extra_directives=list(opts.directives),
                        python=sys.executable, scheduler_options=scheduler_options,
                        log_directory=opts.log_directory, worker_extra_args=["--no-dashboard"],
                        silence_logs="error")
