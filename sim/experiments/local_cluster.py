"""The local Dask cluster the tool starts: loopback only, TLS with this run's own certificates, no HTTP.

Anyone who can reach a Dask scheduler can run code in its workers, and on a shared machine every
local user can reach 127.0.0.1. So the cluster's scheduler, nannies and workers speak TLS with a
certificate authority made for this cluster alone (`Security.temporary()`, kept in memory and
passed to the worker processes; Dask writes them for a moment to a private temporary folder to
load them) and require the same
credentials from every peer: a process without them is refused.

Dask's scheduler and workers also always start an HTTP server, even with the dashboard off
(`dashboard_address=None` still serves /info, /json and /metrics on 127.0.0.1:8787, and each
worker serves /metrics on a random port). The tool reads none of it, so these servers start none.

The worker processes are forked from multiprocessing's fork server, which imports what a run
needs once (`executors.WORKER_IMPORTS`, with the collector paused: `worker_imports`), instead of
each being a fresh interpreter that imports Dask, Mesa, pandas and pyarrow on its own: a worker
is ready in a fraction of a second, and a forked worker ends without tearing its modules down
(`os._exit`). The fork server is a process started for
this (`executors.start_fork_server`, as early as the caller likes), shared by every cluster of the session
and ended with it. It is not single-threaded once numpy and pyarrow are imported (OpenBLAS's and
jemalloc's own threads, which install fork handlers, so forking from it is safe), and the
environment a nanny sets before starting a worker (one thread per numerical library) reaches a
forked worker after those libraries started: the model does no linear algebra, so only their
idle threads differ; a worker Dask restarts after a crash is spawned as before.
Code edited after the fork server started reaches the workers only in a new Python session
(as in this process, which also keeps the modules it imported).
"""

from __future__ import annotations

import logging
import signal
import threading

import dask
from distributed import Nanny, Scheduler, SpecCluster, Worker
from distributed.security import Security


class _NoHttp:
    """A Dask server that binds no HTTP port (Dask calls `start_http_server` from its __init__)."""

    def start_http_server(self, *args, **kwargs) -> None:
        return None


class QuietScheduler(_NoHttp, Scheduler):
    """A scheduler without the HTTP server (dashboard, /info, /json, /metrics)."""


class QuietWorker(_NoHttp, Worker):
    """A worker without the HTTP server (/metrics, /health); imported by name in the worker process.

    It ignores SIGINT: Ctrl-C in a terminal reaches the whole process group, and the tool, not
    each worker, decides how to stop (it closes the cluster, which stops the workers)."""

    def __init__(self, *args, **kwargs):
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        super().__init__(*args, **kwargs)


# Dask's background work that nothing here reads (there is no dashboard): a worker's statistical
# profiler samples the running task's stack every 10 ms (7-15 % of the task's CPU time in a
# Dongcheng run, and the GIL), and every scheduler, nanny and worker checks its event loop every
# 20 ms and the host every 500 ms. On a 2-core machine that time is taken from the runs.
QUIET_CONFIG = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s",
                "distributed.admin.system-monitor.interval": "5s", "distributed.worker.memory.monitor-interval": "1s"}

def local_cluster(workers: int, host: str, silence_logs: int = logging.ERROR,
                  worker_logs: int = logging.CRITICAL, start_method: str = "spawn") -> SpecCluster:
    """A started cluster of `workers` single-threaded worker processes (each under a nanny) on `host`,
    with Dask's unread background work turned down (QUIET_CONFIG).

    The worker processes log only critical errors: a run's own errors come back with its result,
    and what they log otherwise is noise from shutdown races (a heartbeat to a scheduler that
    has just removed the worker). `start_method`: how the nannies start their worker processes
    ("forkserver": from `executors.start_fork_server`, which returns it)."""
    security = Security.temporary()
    common = {"host": host, "protocol": "tls://", "security": security}
    scheduler = {"cls": QuietScheduler, "options": common | {"port": 0, "dashboard": False}}
    worker = {"cls": Nanny, "options": common | {
        "nthreads": 1, "worker_class": QuietWorker, "silence_logs": worker_logs,
        "memory_limit": 1 / workers,  # a share of this machine's memory, as LocalCluster gives
        "dashboard": False}}
    # the nannies hand the configuration set here to their worker processes
    with dask.config.set(QUIET_CONFIG | {"distributed.worker.multiprocessing-method": start_method}):
        return SpecCluster(scheduler=scheduler, workers=dict.fromkeys(range(workers), worker), worker=worker,
                           security=security, silence_logs=silence_logs)
