"""Where runs execute: this process, worker processes of this machine, a local Dask cluster, an
existing Dask scheduler, or Slurm.

Every executor calls the same task function on the same tasks, so results never depend on
where a run executed or how many workers there were (the seeds come from the tasks). An
executor yields `(task, result, error)` as tasks finish, in any order. It keeps only a bounded
window of tasks in flight, so the client's memory does not grow with the number of runs.

`--workers N` runs on `Processes`, a `concurrent.futures.ProcessPoolExecutor` forked from a
preloaded fork server: it starts in about half the time of a local Dask cluster (no Dask import
here or in the workers, no scheduler, nannies or certificates), which is what a short sweep on
2 cores does not amortise. `Dask(workers=N)` remains for code that wants a local Dask cluster.

Dask survives killed workers on its own: the scheduler reschedules a lost worker's tasks (up to
`distributed.scheduler.allowed-failures` times, then KilledWorker), `retries=` covers other
transient errors, and an adaptive Slurm cluster submits new jobs to replace lost ones.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Self

LOCAL_HOST = "127.0.0.1"  # a local cluster listens on loopback only
logger = logging.getLogger(__name__)
CLOSE_TIMEOUT = 20.0  # seconds for a cluster to stop on its own before its worker processes are killed
CHECK_EVERY = 0.25  # seconds between two looks at the signals noted while waiting for a result
# what a sweep run imports, loaded once in the fork server (an import that fails there is skipped,
# and the worker imports it itself), through PRELOAD, which imports them with the garbage collector paused
# (Dask's own workers import `distributed` themselves, after the fork)
WORKER_IMPORTS = ("sim.experiments.run", "sim.core.model", "sim.storage.store", "pyarrow.parquet")
PRELOAD = "sim.experiments.worker_imports"


def machine_workers() -> int:
    """The number of CPUs this process may use: the default size of a local cluster."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def start_fork_server() -> str:
    """Start the fork server the local workers are forked from, importing WORKER_IMPORTS (PRELOAD), and return
    the start method for Dask's worker processes: "forkserver" on Linux, else "spawn".

    It returns at once (the server imports in the background, on another core than this
    process's), so it can be called before the sweep is checked, and before Dask is imported
    here (this module imports none). Starting it again is a no-op; a server started earlier by
    other code keeps its own imports."""
    # Linux only: on macOS a process that loaded the system's numerical libraries is not safe to fork
    if not sys.platform.startswith("linux") or "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload([PRELOAD])
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


class _Workers:
    """Entering starts the workers (`_start`), leaving stops them (`_stop`); SIGINT and SIGTERM received
    while entered are noted in `_noted` (see _interrupts_noted). A signal while the workers start or
    stop is held until that step ends (each is bounded), then acts: interrupting Dask there leaves a
    half-started or half-closed cluster, whose next close() waits forever."""

    _noted: list[int]
    _restore: Callable[[], None] | None

    def __enter__(self) -> Self:
        self._noted.clear()
        self._restore = _interrupts_noted(self._noted)
        try:
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


class Processes(_Workers):
    """Runs tasks on `workers` processes of this machine: a `concurrent.futures.ProcessPoolExecutor`
    whose workers are forked from `start_fork_server` (the run's imports done once), the local
    executor of `--workers N`. Tasks travel with cloudpickle, as on Dask, so a closure runs too.

    Without Dask a local sweep starts sooner, but has no Dask dashboard and no per-worker memory
    limit (a local Dask cluster serves no dashboard either: `Dask(workers=N)` for its other tools).
    A worker process that dies (killed, out of memory) breaks the pool: the tasks it held are run
    again on a new pool, up to `retries` times, as Dask reschedules a lost worker's tasks."""

    def __init__(self, workers: int | None = None, retries: int = 2, window: int | None = None,
                 start_timeout: float = 120.0):
        self.workers = workers or machine_workers()
        self.retries = retries
        self.window = window
        self.start_timeout = start_timeout  # seconds for the workers to start (the fork server's imports first)
        self.pool = None
        self.pids: list[int] = []  # of the workers, for stopping them at once when interrupted
        self._noted: list[int] = []
        self._restore = None

    def describe(self) -> str:
        return f"{self.workers} local worker processes"

    def prepare(self) -> None:
        start_fork_server()

    def slots(self) -> int:
        return self.workers

    def _start(self) -> None:
        """A pool with every worker started: each submit of a first task starts one (Python starts
        them on demand), and each worker reports its process id as it starts."""
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        context = multiprocessing.get_context(start_fork_server())
        started = context.Queue()
        self.pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_started,
                                        initargs=(started,))
        try:
            for future in [self.pool.submit(int) for _ in range(self.workers)]:
                future.result(timeout=self.start_timeout)
            self.pids = [started.get(timeout=self.start_timeout) for _ in range(self.workers)]
        except (BrokenProcessPool, queue.Empty) as exc:
            raise OSError(f"the worker processes did not start ({type(exc).__name__}: {exc})") from None

    def _stop(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _terminate(self) -> None:
        """Stop the workers' tasks now (interrupted): each worker process is killed."""
        for pid in self.pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self.pids = []

    def map_unordered(self, fn: Callable, items: Iterable) -> Iterator[tuple[Any, Any, BaseException | None]]:
        """Tasks submitted in a bounded window; a task lost with its worker is submitted again on a
        new pool. Waits CHECK_EVERY seconds at a time, looking at the noted signals between (see
        Dask._next_done)."""
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        import cloudpickle

        todo = iter(items)
        pending: dict = {}  # future -> (item, tries, the pool that ran it)

        def submit(item, tries: int = 0) -> None:
            pending[self.pool.submit(_call, cloudpickle.dumps((fn, item)))] = item, tries, self.pool

        for item in itertools.islice(todo, self.window or max(8, 4 * self.workers)):
            submit(item)
        try:
            while pending:
                if self._noted:
                    raise KeyboardInterrupt(f"signal {self._noted[-1]}")
                done, _ = wait(pending, timeout=CHECK_EVERY, return_when=FIRST_COMPLETED)
                for future in done:
                    item, tries, pool = pending.pop(future)
                    try:
                        result, error = future.result(), None
                    except BrokenProcessPool as exc:
                        if tries < self.retries:
                            if pool is self.pool:  # the first task lost with this pool: a new pool
                                self._stop()
                                self._start()
                            submit(item, tries + 1)
                            continue
                        result, error = None, exc
                    except Exception as exc:
                        result, error = None, exc
                    for item_next in itertools.islice(todo, 1):
                        submit(item_next)
                    yield item, result, error
        except GeneratorExit:  # the caller has what it needs (ABC: enough particles): the rest is not run
            for future in pending:
                future.cancel()
            raise
        except BaseException:  # interrupted: no task goes on
            self._terminate()
            raise


def _worker_started(started) -> None:
    """In each worker process as it starts: Ctrl-C in a terminal reaches the whole process group, and
    the tool, not each worker, decides how to stop; report this process's id."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    started.put(os.getpid())


def _call(payload: bytes):
    """A task sent by Processes: the function and its item, pickled by cloudpickle."""
    import pickle

    fn, item = pickle.loads(payload)  # noqa: S301 (sent by this tool's own process, as Dask's tasks are)
    return fn(item)


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


class Dask(_Workers):
    """Runs tasks on Dask: a local cluster (default, `sim.experiments.local_cluster`), an existing scheduler, or
    a SLURMCluster."""

    def __init__(self, workers: int | None = None, address: str | None = None,
                 slurm: SlurmOptions | None = None, retries: int = 2, window: int | None = None,
                 connect_timeout: float = 30.0):
        if sum(x is not None for x in (workers, address, slurm)) > 1:
            raise ValueError("give at most one of workers, address, slurm")
        self.workers = workers
        self.address = address
        self.slurm = slurm
        self.retries = retries
        self.window = window
        self.connect_timeout = connect_timeout
        self.cluster = None
        self.client = None
        self._noted: list[int] = []  # SIGINT and SIGTERM received while entered (see _interrupts_noted)
        self._restore = None

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

    def _start(self) -> None:
        from dask.distributed import Client

        if self.address:
            try:
                self.client = Client(self.address, timeout=self.connect_timeout)
            except (TypeError, ValueError, RuntimeError) as exc:  # TLS settings missing or refused, a bad address
                raise ConnectionError(f"{exc} (Dask's TLS settings: docs/cluster.md)") from None
        elif self.slurm:
            self.cluster = _slurm_cluster(self.slurm)
            self.cluster.adapt(minimum_jobs=1, maximum_jobs=self.slurm.jobs)
            self.client = Client(self.cluster, timeout=self.connect_timeout)
        else:
            from sim.experiments.local_cluster import local_cluster

            self.cluster = local_cluster(self.workers or machine_workers(), LOCAL_HOST,
                                         start_method=start_fork_server())
            self.client = Client(self.cluster, timeout=self.connect_timeout, security=self.cluster.security)

    def _stop(self) -> None:
        """Close the client and the cluster, at most once; worker processes still there after
        CLOSE_TIMEOUT are killed."""
        client, self.client = self.client, None
        cluster, self.cluster = self.cluster, None
        if client is not None:
            with contextlib.suppress(OSError):  # a timeout or a lost scheduler: nothing left to close
                client.close(timeout=CLOSE_TIMEOUT)
        if cluster is not None:
            _close_cluster(cluster)

    def slots(self) -> int:
        """How many tasks run at once: the workers' threads (Slurm: the most jobs x their cores)."""
        if self.slurm:
            return self.slurm.jobs * self.slurm.cores
        return max(1, sum(self.client.nthreads().values()))

    def _window(self) -> int:
        return self.window or max(8, 4 * self.slots())

    def map_unordered(self, fn: Callable, items: Iterable) -> Iterator[tuple[Any, Any, BaseException | None]]:
        """Tasks submitted in a bounded window; finished futures arrive on a queue (Dask's
        done-callbacks), read with a timeout so that the loop looks at the noted signals between."""
        todo = iter(items)
        pending: dict[str, Any] = {}
        done: queue.SimpleQueue = queue.SimpleQueue()

        def submit_next() -> bool:
            for item in todo:
                future = self.client.submit(fn, item, pure=False, retries=self.retries)
                pending[future.key] = item
                future.add_done_callback(done.put)
                return True
            return False

        for _ in range(self._window()):
            if not submit_next():
                break
        while pending:
            future = self._next_done(done)
            item = pending.pop(future.key)
            try:
                result, error = future.result(), None
            except Exception as exc:  # KilledWorker after too many lost workers, a cancelled future, ...
                result, error = None, exc
            future.release()
            submit_next()
            yield item, result, error

    def _next_done(self, done: queue.SimpleQueue):
        """The next finished future; every CHECK_EVERY seconds, a noted SIGINT or SIGTERM raises
        KeyboardInterrupt: the handler's own exception is lost when the signal lands in a
        garbage-collector callback (Dask registers one), where the interpreter prints and ignores it."""
        while True:
            if self._noted:
                raise KeyboardInterrupt(f"signal {self._noted[-1]}")
            try:
                return done.get(timeout=CHECK_EVERY)
            except queue.Empty:
                continue


def executor_for(serial: bool = False, workers: int | None = None, scheduler: str | None = None,
                 slurm: SlurmOptions | None = None) -> Serial | Processes | Dask:
    """The one choice of executor from the command line's words, shared by compare, sweep,
    calibrate and optimize: `serial` runs in this process; otherwise Dask on an existing scheduler
    (its address) or on Slurm, or `workers` processes of this machine (default one per CPU). A new kind
    of executor is a class with the same four methods, passed as `executor=`. Call `prepare()`
    on the executor before checking the input, to let a local cluster start its imports early."""
    if serial:
        return Serial()
    if scheduler is None and slurm is None:
        return Processes(workers)
    return Dask(workers=workers, address=scheduler, slurm=slurm)


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
