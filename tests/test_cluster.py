"""Sweeps on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on 127.0.0.1,
and the local cluster the tool starts.

The same sweep gives the serial bytes, and a worker killed with SIGKILL mid-sweep still leaves
every run exactly once. A SIGINT or SIGTERM while the local cluster starts, runs or stops ends the
sweep within a bound, with the CLI's interrupted exit code, and a rerun finishes the folder. An
opt-in test runs a sweep on a single-node Slurm through dask-jobqueue (set TEACHERSIM_SLURM=1
after `sudo scripts/slurm_single_node.sh`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweep_helpers import INTERRUPTIBLE_RUNS, cli, cli_process, interruptible_sweep, run_files, serial_reference

from sim.experiments.run import sweep

DASK = Path(sys.executable).with_name("dask")
STARTUP = 90  # seconds to wait for the scheduler and workers on a busy 2-core machine
# seconds from the signal to the end of the process: a start-up in progress finishes first (the
# signal is held), then the cluster has executors.CLOSE_TIMEOUT to stop before its workers are killed
SIGNAL_BOUND = 60


def _start(*args: str, log: Path) -> subprocess.Popen:
    out = log.open("w")
    try:
        return subprocess.Popen([str(DASK), *args], stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def dask_cluster(tmp_path):
    """A scheduler on 127.0.0.1 (random port) and two single-threaded workers without nannies, so a
    SIGKILL to a worker's process kills the worker itself."""
    from dask.distributed import Client

    info = tmp_path / "scheduler.json"
    # --no-dashboard alone still serves /info and /json on 0.0.0.0:8787: keep that server on loopback
    procs = [_start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--dashboard-address",
                    "127.0.0.1:0", "--scheduler-file", str(info), log=tmp_path / "scheduler.log")]
    try:
        deadline = time.monotonic() + STARTUP
        while not info.exists() or not info.read_text().strip():
            assert procs[0].poll() is None, (tmp_path / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for i in range(2):
            procs.append(_start("worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host",
                                "127.0.0.1", "--name", f"w{i}", "--local-directory", str(tmp_path / f"w{i}"),
                                log=tmp_path / f"worker{i}.log"))
        with Client(address, timeout=STARTUP) as client:
            client.wait_for_workers(2, timeout=STARTUP)
        yield address, procs[1:]
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_scheduler_and_two_workers_give_the_serial_bytes(dask_cluster, tmp_path):
    address, _ = dask_cluster
    path = interruptible_sweep(tmp_path)
    done = cli("sweep", path, "--out", tmp_path / "out", "--scheduler", address, "--quiet", timeout=240)
    assert done.returncode == 0, done.stderr
    assert f"on dask scheduler {address}" in done.stdout
    assert run_files(tmp_path / "out") == run_files(serial_reference("interruptible"))
    # the workers' RunWarnings (capped quotas) reach the command's stderr, one labelled line each
    warned = [line for line in done.stderr.splitlines() if line.startswith("teachersim: warning: run exchange__")]
    assert warned and all("the quota asks" in line for line in warned), done.stderr


def test_worker_killed_mid_sweep_still_yields_every_run_once(dask_cluster, tmp_path):
    address, workers = dask_cluster
    path = interruptible_sweep(tmp_path)
    out = tmp_path / "out"
    proc = cli_process("sweep", path, "--out", out, "--scheduler", address, "--quiet")
    try:
        deadline = time.monotonic() + 180
        while len(list(out.glob("runs/*.parquet"))) < 3:
            assert proc.poll() is None, "the sweep ended before a worker could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(workers[1].pid, signal.SIGKILL)
        at_kill = len(list(out.glob("runs/*.parquet")))
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert workers[1].wait(timeout=10) == -signal.SIGKILL
    assert at_kill < INTERRUPTIBLE_RUNS, "the kill came after the sweep had finished"
    assert proc.returncode == 0, stderr
    assert f"{INTERRUPTIBLE_RUNS} runs: {INTERRUPTIBLE_RUNS} done, 0 failed, 0 missing" in stdout
    # exactly once: one complete file per run, nothing half-written, nothing failed
    assert run_files(out) == run_files(serial_reference("interruptible"))
    assert not (out / ".tmp").exists() and not list((out / "failed").iterdir())


def test_slurm_job_script_asks_for_what_the_options_say():
    pytest.importorskip("dask_jobqueue")
    from sim.experiments.executors import SlurmOptions, _slurm_cluster

    opts = SlurmOptions(jobs=3, cores=2, memory="3GB", walltime="00:20:00", queue="debug",
                        directives=["--nodes=1"], host="127.0.0.1")
    cluster = _slurm_cluster(opts)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in ("#SBATCH -p debug", "#SBATCH -n 1", "#SBATCH --cpus-per-task=2", "#SBATCH -t 00:20:00",
                 "#SBATCH --nodes=1"):
        assert line in script, (line, script)
    assert sys.executable in script
    assert "--nworkers 2" in script and "--nthreads 1" in script
    assert "tcp://127.0.0.1:" in script


@pytest.mark.skipif(os.environ.get("TEACHERSIM_SLURM") != "1",
                    reason="needs a Slurm cluster: run scripts/slurm_single_node.sh as root, then TEACHERSIM_SLURM=1")


def test_sweep_on_single_node_slurm(tmp_path):
    """Runs the interruptible sweep through dask-jobqueue and cancels every worker job mid-sweep; the
    adaptive cluster submits new jobs, and the result equals the serial one."""
    path = interruptible_sweep(tmp_path)
    out = tmp_path / "out"
    partition = os.environ.get("TEACHERSIM_SLURM_PARTITION", "debug")
    proc = cli_process("sweep", path, "--out", out, "--slurm", "--slurm-jobs", "2", "--slurm-cores", "1",
                       "--slurm-memory", "1GB", "--slurm-walltime", "00:15:00", "--slurm-queue", partition,
                       "--slurm-host", "127.0.0.1", "--slurm-log-dir", str(tmp_path / "logs"), "--quiet")
    try:
        deadline = time.monotonic() + 600
        while len(list(out.glob("runs/*.parquet"))) < 3:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "no run finished on Slurm within 10 minutes"
            time.sleep(0.2)
        jobs = subprocess.run(["squeue", "-h", "-n", "dask-worker", "-t", "RUNNING", "-o", "%i"],
                              capture_output=True, text=True, check=True).stdout.split()
        assert jobs, "no running dask-worker job while runs were finishing"
        subprocess.run(["scancel", *jobs], check=True)  # every worker gone: the adaptive cluster must resubmit
        stdout, stderr = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "slurm via dask-jobqueue" in stdout
    assert run_files(out) == run_files(serial_reference("interruptible"))


def test_sweep_api_with_an_executor_object(tmp_path):
    """sim.experiments.run.sweep takes any executor with map_unordered; here one that reverses the order
    of the runs, which must not change a single byte."""
    from sim.experiments.executors import Serial

    class Reversed(Serial):
        def map_unordered(self, fn, items):
            yield from super().map_unordered(fn, list(items)[::-1])

    path = interruptible_sweep(tmp_path)
    summary = sweep(path, tmp_path / "out", executor=Reversed())
    assert summary.done == INTERRUPTIBLE_RUNS
    assert run_files(tmp_path / "out") == run_files(serial_reference("interruptible"))


def test_unreachable_scheduler_is_bad_input_and_writes_nothing(tmp_path):
    from sim.config.designs import SweepError
    from sim.experiments.executors import Dask

    path = interruptible_sweep(tmp_path)
    with pytest.raises(SweepError, match="tcp://127.0.0.1:1: cannot start or connect"):
        sweep(path, tmp_path / "out", executor=Dask(address="tcp://127.0.0.1:1", connect_timeout=1))
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------- signals on a local cluster


def _worker_processes(pid: int) -> list:
    """The local cluster's worker processes: children started by multiprocessing's spawn."""
    import psutil

    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if "multiprocessing" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


def _ended(process) -> bool:
    import psutil

    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait(proc: subprocess.Popen, ready, what: str) -> None:
    deadline = time.monotonic() + 240
    while not ready():
        assert proc.poll() is None, f"the sweep ended before {what}: {proc.communicate()[1]}"
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("moment", ["starting", "running"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_one_signal_stops_a_local_cluster_sweep_in_bounded_time(tmp_path, sig, moment):
    """One signal while the local workers start (the fork server spawned, nothing written yet) or
    while runs finish. The process ends within SIGNAL_BOUND with 128 + the signal, leaves no worker
    process, and the same command run again ends with the serial bytes. (A signal while they stop:
    the next test; the process pool of --workers stops too quickly to be signalled from outside.)"""
    import psutil

    path = interruptible_sweep(tmp_path)
    out = tmp_path / "out"
    proc = cli_process("sweep", path, "--out", out, "--workers", "2", "--quiet")
    try:
        runs = lambda: len(list(out.glob("runs/*.parquet")))  # noqa: E731
        if moment == "starting":
            _wait(proc, lambda: _worker_processes(proc.pid), "spawning a worker")
            assert not (out / "manifest.json").exists(), "the cluster had started already"
        elif moment == "running":
            _wait(proc, lambda: runs() >= 3, "finishing three runs")
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(sig)
        try:
            _, stderr = proc.communicate(timeout=SIGNAL_BOUND)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {SIGNAL_BOUND} s after {sig.name} while {moment}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + sig, (proc.returncode, stderr)
    assert "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith("teachersim: interrupted"), stderr
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"processes left running: {alive}"
    again = cli("sweep", path, "--out", out, "--serial", "--quiet")
    assert again.returncode == 0, again.stderr
    assert run_files(out) == run_files(serial_reference("interruptible"))


@pytest.mark.parametrize("kind", ["processes", "dask"])
def test_a_signal_while_local_workers_stop_acts_once_they_are_gone(kind):
    """A SIGTERM that arrives while the local workers stop (the pool's shutdown, the Dask cluster's
    close, where an interruption used to leave the cluster half-closed and the next close wait
    forever) reaches the handler once, after every worker process has ended."""
    from sim.experiments.executors import Dask, Processes

    seen = []
    executor = Processes(workers=2) if kind == "processes" else Dask(workers=2)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(
        (signum, [p.pid for p in workers if not _ended(p)])))
    try:
        with executor:
            # the worker processes: forked by the fork server (this process's child), not children here
            workers = [p for p in _worker_processes(os.getpid()) if p.ppid() != os.getpid()]
            assert len(workers) == 2, workers
            stopping = executor.pool if kind == "processes" else executor.cluster
            name = "shutdown" if kind == "processes" else "close"
            stop = getattr(stopping, name)

            def signalled(*args, **kwargs):
                signal.raise_signal(signal.SIGTERM)
                return stop(*args, **kwargs)

            setattr(stopping, name, signalled)
        assert seen == [(signal.SIGTERM, [])]
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_local_workers_start_with_what_a_run_imports_already_imported_and_no_profiler():
    """The local cluster's workers are forked from a server that imported executors.WORKER_IMPORTS
    (Dask, the model, the run file writer) once, so a worker's first run waits for no import: on
    the spawned workers before, only what Dask itself needs was there."""
    from sim.experiments.executors import WORKER_IMPORTS, Dask

    # eval, a builtin, reaches the worker by name: a function of this module would import the
    # test modules (and what they import) in the worker first
    check = f"[m for m in {list(WORKER_IMPORTS)!r} if m in __import__('sys').modules]"
    executor = Dask(workers=2)
    executor.prepare()
    with executor:
        found = executor.client.run(eval, check)
        profiling = executor.client.run(eval, "__import__('dask').config.get('distributed.worker.profile.enabled')")
    assert list(found.values()) == [list(WORKER_IMPORTS)] * 2
    # and without Dask's statistical profiler, which sampled every task's stack every 10 ms
    assert list(profiling.values()) == [False, False]


def test_a_signal_lost_in_a_gc_callback_still_stops_the_tasks(monkeypatch):
    """The CLI's SIGTERM handler raises KeyboardInterrupt; when the signal lands while a
    garbage-collector callback runs (Dask registers one), the interpreter prints that exception
    and ignores it, and a sweep used to run on to its end. The executor notes each signal before
    the handler runs and raises KeyboardInterrupt itself at its next look, within
    executors.CHECK_EVERY while it waits for the workers."""
    import gc

    from sim.experiments.executors import CHECK_EVERY, Dask

    ignored, fired = [], []

    def raising(signum, frame):
        raise KeyboardInterrupt

    def in_gc(phase, info):
        if phase == "start" and not fired:
            fired.append(phase)
            signal.raise_signal(signal.SIGTERM)
            sum(range(10))  # the handler runs here, inside the callback

    monkeypatch.setattr(sys, "unraisablehook", ignored.append)  # where the interpreter puts what it ignores
    previous = signal.signal(signal.SIGTERM, raising)
    finished = 0
    try:
        with Dask(workers=1) as executor:
            results = executor.map_unordered(eval, ["__import__('time').sleep(0.2)"] * 30)
            next(results)
            gc.callbacks.append(in_gc)
            try:
                gc.collect()
            finally:
                gc.callbacks.remove(in_gc)
            t0 = time.monotonic()
            with pytest.raises(KeyboardInterrupt):
                for _ in results:
                    finished += 1
            waited = time.monotonic() - t0
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert [u.exc_type for u in ignored] == [KeyboardInterrupt]  # the handler's own exception was lost
    assert finished == 0 and waited < 0.2 + CHECK_EVERY + 1


def test_signals_held_while_a_cluster_starts_or_stops_act_once_after():
    """The hold around Cluster start and close: a SIGTERM inside reaches the handler that was there
    before only when the hold ends, once (the last signal received), so close() is never cut short."""
    from sim.experiments.executors import _signals_held

    seen = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with _signals_held():
            signal.raise_signal(signal.SIGTERM)
            signal.raise_signal(signal.SIGTERM)
            assert seen == []
        assert seen == [signal.SIGTERM]
        signal.raise_signal(signal.SIGTERM)  # the earlier handler is back
        assert seen == [signal.SIGTERM, signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_cluster_that_does_not_stop_has_its_worker_processes_killed(caplog):
    """The last resort of Dask.__exit__: when close() times out, the nannies' worker processes
    are killed by pid and the cluster is marked closed, so nothing waits for it again."""
    from distributed.core import Status

    from sim.experiments.executors import _close_cluster

    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])

    class Stuck:
        status = Status.closing
        workers = {0: type("Nanny", (), {"pid": worker.pid})()}

        def close(self, timeout=None):
            raise TimeoutError(f"timed out after {timeout} s.")

    cluster = Stuck()
    try:
        _close_cluster(cluster)
        assert worker.wait(timeout=30) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert cluster.status == Status.closed
    assert "did not stop within 20 s (TimeoutError); its worker processes were killed" in caplog.text


# ------------------------------------------------------------------- a policy search on a scheduler


def test_policy_search_on_a_scheduler_gives_the_serial_bytes(dask_cluster, tmp_path):
    from test_optimize import OUTPUTS, write_file

    from sim.experiments.executors import Serial
    from sim.experiments.optimize import optimize

    address, _ = dask_cluster
    path = write_file(tmp_path, search={"generations": 2, "population": 6, "seed": 4})
    optimize(path, tmp_path / "serial", executor=Serial())
    done = cli("optimize", path, "--out", tmp_path / "dask", "--scheduler", address, "--quiet", timeout=240)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert manifest["executor"] == f"dask scheduler {address}"
    for name in OUTPUTS:
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "serial" / name).read_bytes(), name


def test_policy_search_on_an_unreachable_scheduler_is_one_line_and_writes_nothing(tmp_path, capsys):
    from test_optimize import write_file

    from sim.experiments.executors import Dask
    from sim.experiments.optimize import OptimizeError, optimize

    path = write_file(tmp_path)
    with pytest.raises(OptimizeError, match="tcp://127.0.0.1:1: cannot start or connect"):
        optimize(path, tmp_path / "out", executor=Dask(address="tcp://127.0.0.1:1", connect_timeout=1))
    assert not (tmp_path / "out").exists()


def test_policy_search_slurm_options_reach_the_executor(tmp_path, monkeypatch):
    from test_optimize import write_file

    from sim.cli import _main

    seen = {}

    class Stop(Exception):
        pass

    class Recorded:
        def __init__(self, **kwargs):
            seen.update(kwargs)
            raise Stop

    monkeypatch.setattr("sim.experiments.executors.Dask", Recorded)
    path = write_file(tmp_path)
    with pytest.raises(Stop):
        _main(["optimize", str(path), "--out", str(tmp_path / "out"), "--slurm", "--slurm-jobs", "3",
               "--slurm-cores", "2", "--slurm-queue", "short"])
    slurm = seen["slurm"]
    assert (slurm.jobs, slurm.cores, slurm.queue) == (3, 2, "short") and seen["address"] is None
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------- calibrate on a scheduler


def test_calibrate_on_a_scheduler_gives_the_serial_trials_and_posterior(dask_cluster, tmp_path):
    """`teachersim calibrate --scheduler`: TPE trials and an ABC posterior byte-identical to serial."""
    from test_calibrate import ABC, ATTR, PART, target, write_calibration

    from sim.cli import main
    from sim.experiments.calibrate import calibrate
    from sim.experiments.executors import Serial

    address, _ = dask_cluster
    targets = {"part": target(PART, 0.5, 0.03), "attr": target(ATTR, 0.05, 0.01)}
    for method, extra, name in (("tpe", {"trials": 4, "batch": 2, "startup_trials": 2}, "trials.parquet"),
                                ("abc", ABC, "posterior.parquet")):
        folder = tmp_path / method
        folder.mkdir()
        path = write_calibration(folder, targets, **extra)
        calibrate(path, folder / "serial", executor=Serial())
        assert main(["calibrate", str(path), "--out", str(folder / "dask"), "--scheduler", address, "--quiet"]) == 0
        assert (folder / "dask" / name).read_bytes() == (folder / "serial" / name).read_bytes(), method
        assert json.loads((folder / "dask" / "manifest.json").read_text())["status"] == "complete"


def test_calibrate_slurm_options_reach_the_executor(tmp_path, monkeypatch):
    """`teachersim calibrate --slurm ...` builds the same SlurmOptions as `sweep --slurm`."""
    import sim.experiments.calibrate
    from sim.cli import main
    from sim.experiments.executors import SlurmOptions

    seen = {}

    def fake(cal, out, **kw):
        seen.update(kw)
        raise sim.experiments.calibrate.CalibrationError("stop here")

    monkeypatch.setattr(sim.experiments.calibrate, "calibrate", fake)
    path = Path(__file__).resolve().parents[1] / "calibration" / "china_2014_fit.yaml"
    assert main(["calibrate", str(path), "--slurm", "--slurm-jobs", "3", "--slurm-queue", "debug",
                 "--slurm-option=--nodes=1", "--quiet"]) == 2
    assert seen["slurm"] == SlurmOptions(jobs=3, queue="debug", directives=["--nodes=1"])
    assert seen["scheduler"] is None and not seen["serial"]


def test_executor_for_is_the_one_choice_of_the_command_line_words():
    """compare, sweep, calibrate and optimize choose through executor_for: serial, processes of
    this machine, or Dask on a scheduler or on Slurm; two places at once is refused."""
    from sim.experiments.executors import Processes, Serial, SlurmOptions, executor_for

    assert isinstance(executor_for(serial=True, workers=4), Serial)
    local = executor_for(workers=3)
    assert isinstance(local, Processes) and local.workers == 3
    assert executor_for(scheduler="tcp://h:8786").describe() == "dask scheduler tcp://h:8786"
    assert executor_for(slurm=SlurmOptions(jobs=5)).slurm.jobs == 5
    with pytest.raises(ValueError, match="at most one"):
        executor_for(workers=2, scheduler="tcp://h:8786")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_the_fork_server_imports_with_the_collector_paused_and_freezes_what_it_imported():
    """The fork server preloads executors.PRELOAD, which imports WORKER_IMPORTS without a single
    automatic collection (about 350 otherwise, 0.15-0.2 s of the start's critical path) and
    freezes the imported objects, so no later collection, there or in a forked worker, walks
    them; the collector is on again after."""
    from sim.experiments.executors import PRELOAD, WORKER_IMPORTS

    probe = ("import gc, sys\n"
             "seen = []\n"
             "gc.callbacks.append(lambda phase, info: phase == 'start' and seen.append(info['generation']))\n"
             "import sim.experiments.executors\n"
             "seen.clear()\n"
             f"import {PRELOAD}\n"
             f"print(len(seen), gc.isenabled(), gc.get_freeze_count() > 100_000, "
             f"[m for m in {list(WORKER_IMPORTS)!r} if m not in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip().split(maxsplit=3) == ["0", "True", "True", "[]"]


def test_local_workers_are_processes_without_dask_and_a_killed_one_is_replaced(tmp_path):
    """`--workers` runs on processes of this machine forked from the fork server: the command imports
    no Dask, and a worker process killed mid-sweep (SIGKILL) breaks the pool, whose lost tasks run
    again on a new one: every run is there once, with the serial bytes."""
    path = interruptible_sweep(tmp_path)
    out = tmp_path / "out"
    code = (
        "import signal, sys, os\n"
        "from sim.experiments import executors\n"
        "from sim.experiments.run import sweep\n"
        "class Killing(executors.Processes):\n"
        "    def map_unordered(self, fn, items):\n"
        "        for n, done in enumerate(super().map_unordered(fn, items)):\n"
        "            if n == 1:\n"
        "                os.kill(self.pids[0], signal.SIGKILL)\n"
        "            yield done\n"
        f"s = sweep({str(path)!r}, {str(out)!r}, executor=Killing(workers=2))\n"
        "print(s.done, s.failed, 'distributed' in sys.modules, 'dask' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(INTERRUPTIBLE_RUNS), "0", "False", "False"], done.stdout
    assert run_files(out) == run_files(serial_reference("interruptible"))
