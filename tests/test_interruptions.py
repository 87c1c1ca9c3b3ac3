"""Interruptions and faults: SIGINT and SIGTERM mid-run and mid-sweep, unwritable and full disks,
and loading result folders that hold a corrupt or foreign file.

What is guaranteed (README, "Robustness"): a `run` writes its folder whole or not at all, and an
earlier result in the same folder survives an interrupted rerun; a sweep keeps every finished run
as one complete file and a manifest that counts them, and a rerun does only the rest and ends with
the bytes of an uninterrupted sweep; loading names any file that is missing, corrupt or foreign.

The unwritable folder and the full disk are real, never mocked: as a normal user the folder is
made read-only with chmod; as root (chmod does not stop root) it is a read-only tmpfs mount, or,
where this process may not mount, a path under a regular file. The full disk is a 64 KiB tmpfs
(ENOSPC) where mounting works, else a file-size limit (RLIMIT_FSIZE, which fails the same writes
with EFBIG); which one ran is in the test's name.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from sweep_helpers import INTERRUPTIBLE_RUNS, forget_run, interruptible_sweep, run_files, serial_reference

import sim
from sim.storage.results import ResultsError
from sim.storage.store import SCHEMA_VERSION, read_manifest, run_id

REPO = Path(__file__).resolve().parents[1]
EXCHANGE = REPO / "tests" / "data" / "exchange.yaml"
SMALL = ("--set", "world.schools_per_district=30", "--set", "world.teachers_per_school=25",
         "--set", "policy.programs.0.quota.min_count=50")
# about 0.1 s a simulated year after a second or two of start-up: long enough to interrupt
LONG_RUN = ("run", str(EXCHANGE), "--years", "40", "--no-figures", *SMALL)
STARTUP = 120  # seconds allowed for a busy 2-core machine to get going


class Watched:
    """A `python -m sim` subprocess whose stderr is collected while it runs (tqdm writes there)."""

    def __init__(self, *args: str):
        env = {**os.environ, "MPLBACKEND": "Agg"}
        self.proc = subprocess.Popen([sys.executable, "-m", "sim", *args], cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.err = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b""):
            self.err += chunk

    def wait_for(self, ready, what: str) -> None:
        deadline = time.monotonic() + STARTUP
        while not ready():
            assert self.proc.poll() is None, f"ended before {what}: {self.err.decode(errors='replace')}"
            assert time.monotonic() < deadline, f"never {what}"
            time.sleep(0.02)

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(timeout=10)
            self.proc.stdout.close()
            self.proc.stderr.close()
        return code

    def last_line(self) -> str:
        return self.err.decode(errors="replace").replace("\r", "\n").strip().splitlines()[-1]


def cli(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env, check=False, **kw)


def years_done(w: Watched) -> int:
    """The highest `k/N` of the run's progress bar so far."""
    import re

    found = re.findall(rb"\| *(\d+)/\d+ \[", w.err)
    return int(found[-1]) if found else 0


# ------------------------------------------------------------------------------ teachersim run


def test_sigint_mid_run_leaves_nothing(tmp_path):
    out = tmp_path / "res"
    w = Watched(*LONG_RUN, "--out", str(out))
    w.wait_for(lambda: years_done(w) >= 3, "simulated three years")
    code = w.stop(signal.SIGINT)
    assert code == 130, w.err
    assert w.last_line() == "teachersim: interrupted; no partial results were kept"
    assert b"Traceback" not in w.err
    assert list(tmp_path.iterdir()) == [], "an interrupted run left files or a temporary folder"


def test_sigterm_mid_run_keeps_the_earlier_result_and_a_rerun_completes(tmp_path):
    """SIGTERM (a job's time limit, `kill`) unwinds like Ctrl-C: the earlier complete result in the
    folder is untouched, nothing else is left, and running the command again finishes it."""
    out = tmp_path / "res"
    first = cli("run", str(EXCHANGE), "--years", "1", "--out", str(out), "--quiet", "--no-figures", *SMALL)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    w = Watched(*LONG_RUN, "--out", str(out), "--force")  # another scenario (40 years): --force to replace
    w.wait_for(lambda: years_done(w) >= 3, "simulated three years")
    code = w.stop(signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, w.err
    assert w.last_line() == "teachersim: interrupted; no partial results were kept"
    assert b"Traceback" not in w.err
    assert [p.name for p in tmp_path.iterdir()] == ["res"], "a temporary folder was left beside the result"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sim.load_results(out).manifest["scenario"]["run"]["years"] == 1  # checksums verified on load

    again = cli(*LONG_RUN, "--out", str(out), "--quiet", "--force")
    assert again.returncode == 0, again.stderr
    res = sim.load_results(out)
    assert res.manifest["scenario"]["run"]["years"] == 40 and res.metrics["year"].max() == 40
    assert [p.name for p in tmp_path.iterdir()] == ["res"]


# ---------------------------------------------------------------------------- teachersim sweep


def check_sweep_folder(out: Path) -> int:
    """Only complete run files (each byte-equal to the uninterrupted sweep's), no temporary files,
    and a manifest whose counts agree with the folder. Returns the number of finished runs."""
    reference = run_files(serial_reference("interruptible"))
    kept = run_files(out)
    assert 0 < len(kept) < INTERRUPTIBLE_RUNS
    for name, data in kept.items():
        assert (out / "runs" / f"{name}.sha256").is_file(), name
        assert data == reference[name], f"{name} differs from the uninterrupted sweep's"
    others = [p.name for p in (out / "runs").iterdir() if p.name not in kept]
    assert all(n.endswith(".parquet.sha256") for n in others), "a stray file in runs/"
    assert not (out / ".tmp").exists() and list((out / "failed").iterdir()) == []
    manifest = read_manifest(out)
    assert manifest["status"] == {"done": len(kept), "failed": 0, "missing": INTERRUPTIBLE_RUNS - len(kept)}
    assert manifest["sessions"][-1]["interrupted"] is True
    status = sim.load_results(out).runs["status"].value_counts().to_dict()
    assert status == {"done": len(kept), "missing": INTERRUPTIBLE_RUNS - len(kept)}
    return len(kept)


def resume_and_compare(path: Path, out: Path, kept: int) -> None:
    done = cli("sweep", str(path), "--out", str(out), "--serial", "--quiet", "--resume")
    assert done.returncode == 0, done.stderr
    assert f"this session ran {INTERRUPTIBLE_RUNS - kept}, 0 failed; {kept} were already done" in done.stdout
    assert run_files(out) == run_files(serial_reference("interruptible"))
    assert read_manifest(out)["status"] == {"done": INTERRUPTIBLE_RUNS, "failed": 0, "missing": 0}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_sweep_keeps_complete_runs_and_resume_finishes(tmp_path, sig):
    path = interruptible_sweep(tmp_path)
    out = tmp_path / "out"
    w = Watched("sweep", str(path), "--out", str(out), "--serial", "--quiet")
    w.wait_for(lambda: len(list(out.glob("runs/*.parquet"))) >= 3, "finished three runs")
    code = w.stop(sig)
    assert code == 128 + sig, w.err
    assert b"Traceback" not in w.err
    assert w.last_line().startswith("teachersim: interrupted; finished runs are kept")
    kept = check_sweep_folder(out)
    resume_and_compare(path, out, kept)


def test_sigterm_mid_sweep_on_a_local_dask_cluster(tmp_path):
    """The same on a local Dask cluster: the workers go away with the client, and what is left is
    complete (a worker may finish a run while the client shuts down: that file is complete too)."""
    import psutil

    path = interruptible_sweep(tmp_path)
    out = tmp_path / "out"
    w = Watched("sweep", str(path), "--out", str(out), "--workers", "2", "--quiet")
    w.wait_for(lambda: len(list(out.glob("runs/*.parquet"))) >= 3, "finished three runs")
    children = psutil.Process(w.proc.pid).children(recursive=True)
    assert children, "no worker processes"
    code = w.stop(signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, w.err
    assert b"Traceback" not in w.err
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"worker processes left running: {alive}"
    kept = check_sweep_folder(out)
    resume_and_compare(path, out, kept)


# ------------------------------------------------------------- unwritable folders, full disks


def _mount_tmpfs(target: Path, options: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True,
                          check=False)
    return done.returncode == 0


def _umount(target: Path) -> None:
    subprocess.run(["umount", str(target)], capture_output=True, check=False)


@pytest.fixture
def unwritable(tmp_path):
    """(how, a folder nobody may write to, the --out inside it that must not appear)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield "chmod 555", folder, folder / "res"
        folder.chmod(0o755)
    elif _mount_tmpfs(folder, "ro,size=64k"):
        try:
            yield "read-only tmpfs", folder, folder / "res"
        finally:
            _umount(folder)
    else:
        blocker = folder / "a-file"
        blocker.write_text("not a folder", encoding="utf-8")
        yield "under a regular file", blocker, blocker / "res"


def test_unwritable_output_folder_is_refused_before_work_starts(unwritable, tmp_path):
    how, folder, out = unwritable
    # without --quiet a started simulation would draw its progress bar on stderr: one line means
    # the folder was refused before any work
    done = cli("run", str(EXCHANGE), "--years", "40", "--out", str(out), "--no-figures", *SMALL)
    assert done.returncode == 2, (how, done.stderr)
    assert "Traceback" not in done.stderr
    line, = done.stderr.splitlines()
    assert line.startswith(f"teachersim: --out {out}: ") and str(folder) in line, (how, line)
    assert not out.exists()
    done = cli("sweep", str(interruptible_sweep(tmp_path)), "--out", str(out), "--serial", "--quiet")
    assert done.returncode == 2, (how, done.stderr)
    assert done.stderr.splitlines() == [line]  # the same check, the same line
    assert not out.exists()


@pytest.fixture
def small_disk(tmp_path):
    """(how, a folder on a nearly full disk, what the child process needs to see it that way)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if _mount_tmpfs(folder, "size=64k"):
        try:
            yield "tmpfs of 64 KiB", folder, None, "No space left on device"
        finally:
            _umount(folder)
    else:
        def limit():  # files larger than 64 KiB fail with EFBIG, as a full disk fails with ENOSPC
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
        yield "RLIMIT_FSIZE 64 KiB", folder, limit, "File too large"


def test_full_disk_while_writing_leaves_no_half_written_result(small_disk):
    how, folder, preexec, errno_text = small_disk
    out = folder / "res"
    done = cli("run", str(EXCHANGE), "--years", "3", "--out", str(out), "--quiet", "--no-figures", *SMALL,
               preexec_fn=preexec)
    assert done.returncode == 1, (how, done.stderr)
    assert "Traceback" not in done.stderr
    line, = done.stderr.splitlines()
    assert line.startswith(f"teachersim: {out}: cannot write the results (") and errno_text in line, (how, line)
    assert line.endswith("nothing was kept there")
    assert list(folder.iterdir()) == [], f"{how}: a half-written result was left: {list(folder.iterdir())}"


def test_full_disk_mid_sweep_keeps_only_complete_run_files(small_disk, tmp_path):
    how, folder, preexec, errno_text = small_disk
    path = interruptible_sweep(tmp_path)
    out = folder / "out"
    done = cli("sweep", str(path), "--out", str(out), "--serial", "--quiet", preexec_fn=preexec)
    assert done.returncode == 1, (how, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert errno_text in done.stderr, (how, done.stderr)
    reference = run_files(serial_reference("interruptible"))
    kept = run_files(out)
    for name, data in kept.items():  # whatever fitted is complete; nothing is half-written
        assert data == reference[name], name
    runs = sorted(p.name for p in (out / "runs").iterdir()) if (out / "runs").exists() else []
    assert [n for n in runs if not n.endswith(".sha256")] == sorted(kept), "a partial file in runs/"
    assert all(f"{name}.sha256" in runs for name in kept), "a run file without its checksum"
    assert len(kept) < INTERRUPTIBLE_RUNS, f"{how}: the disk was not full after all"


# ------------------------------------------------------------ loading corrupt or foreign files


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    from sim.present.outputs import write_run

    res = sim.run(sim.load_scenario(EXCHANGE, [s for s in SMALL if s != "--set"]), years=2)
    out = tmp_path_factory.mktemp("run") / "res"
    write_run(res, out, figures=False)
    return out


def copy_of(folder: Path, tmp_path: Path) -> Path:
    dest = tmp_path / folder.name
    shutil.copytree(folder, dest)
    return dest


def test_every_result_file_carries_the_schema_version(run_folder):
    import pyarrow.parquet as pq

    assert read_manifest(run_folder)["schema_version"] == SCHEMA_VERSION
    for path in run_folder.glob("*.parquet"):
        assert pq.read_schema(path).metadata[b"teachersim_schema_version"] == str(SCHEMA_VERSION).encode(), path
    sweep_out = serial_reference("interruptible")
    assert read_manifest(sweep_out)["schema_version"] == SCHEMA_VERSION
    for path in [sweep_out / "design.parquet", *sorted((sweep_out / "runs").glob("*.parquet"))]:
        assert pq.read_schema(path).metadata[b"teachersim_schema_version"] == str(SCHEMA_VERSION).encode(), path


@pytest.mark.parametrize("damage, message", [
    ("truncate", "does not match its checksum in manifest.json (corrupt or replaced)"),
    ("flip", "does not match its checksum in manifest.json (corrupt or replaced)"),
    ("delete", "listed in manifest.json but missing"),
])
@pytest.mark.parametrize("name", ["metrics.parquet", "moves.parquet", "schools.parquet"])
def test_a_damaged_run_file_is_named_on_load(run_folder, tmp_path, damage, message, name):
    folder = copy_of(run_folder, tmp_path)
    path = folder / name
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # same size, one byte changed in the middle: only the checksum sees it
        i = len(data) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
    else:
        path.unlink()
    with pytest.raises(ResultsError) as err:
        sim.load_results(folder)
    assert str(err.value) == f"{path}: {message}"


@pytest.mark.parametrize("content, message", [
    ("not json", "cannot read manifest"),
    ("[1, 2]", "not a teachersim manifest (a JSON list)"),
    ('{"schema_version": 99}', "schema_version 99, expected 1"),
])
def test_a_foreign_or_corrupt_manifest_is_named(run_folder, tmp_path, content, message):
    folder = copy_of(run_folder, tmp_path)
    (folder / "manifest.json").write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        sim.load_results(folder)
    assert str(err.value).startswith(f"{folder / 'manifest.json'}: {message}")


def test_a_foreign_parquet_file_in_a_run_folder_is_named(run_folder, tmp_path):
    """A Parquet file swapped in by hand (right name, but not ours): the checksum refuses it."""
    folder = copy_of(run_folder, tmp_path)
    pd.DataFrame({"scenario": ["x"], "value": [1.0]}).to_parquet(folder / "metrics.parquet")
    with pytest.raises(ResultsError, match=f"^{folder / 'metrics.parquet'}: does not match its checksum"):
        sim.load_results(folder)


@pytest.fixture
def sweep_copy(tmp_path):
    return copy_of(serial_reference("interruptible"), tmp_path)


def test_a_foreign_file_in_a_sweeps_runs_is_named_not_skipped(sweep_copy):
    stray = sweep_copy / "runs" / "notes.txt"
    stray.write_text("my notes", encoding="utf-8")
    with pytest.raises(ResultsError) as err:
        sim.load_results(sweep_copy)
    assert str(err.value) == f"{stray}: not a run of this sweep (a foreign file); move it out of runs/"


def test_a_run_file_of_another_schema_is_named(sweep_copy):
    import hashlib

    victim = sweep_copy / "runs" / f"{run_id('exchange', 2, 1)}.parquet"
    pd.read_parquet(victim).to_parquet(victim)  # same rows, written without our schema version
    digest = hashlib.sha256(victim.read_bytes()).hexdigest()  # and a checksum file that matches it
    (sweep_copy / "runs" / f"{victim.name}.sha256").write_text(f"{digest}  {victim.name}\n", encoding="utf-8")
    with pytest.raises(ResultsError) as err:
        sim.load_results(sweep_copy)
    assert str(err.value).startswith(f"{victim}: schema version none, expected {SCHEMA_VERSION}")


def test_a_corrupt_run_file_is_named_and_resume_redoes_it(sweep_copy, tmp_path):
    victim = sweep_copy / "runs" / f"{run_id('exchange', 3, 0)}.parquet"
    good = victim.read_bytes()
    victim.write_bytes(good[:200])
    with pytest.raises(ResultsError) as err:
        sim.load_results(sweep_copy)
    assert str(err.value) == (f"{victim}: does not match its checksum in {victim.name}.sha256 (corrupt or replaced); "
                              "running the sweep again (--resume) redoes it")
    manifest = read_manifest(sweep_copy)
    summary = sim.sweep(manifest["sweep_file"], sweep_copy, serial=True)
    assert (summary.ran, summary.present) == (1, INTERRUPTIBLE_RUNS - 1)
    assert victim.read_bytes() == good
    assert len(sim.load_results(sweep_copy).metrics) > 0


def test_a_corrupt_failure_record_is_named(sweep_copy):
    rid = run_id("exchange", 1, 1)
    (sweep_copy / "runs" / f"{rid}.parquet").unlink()
    forget_run(sweep_copy, rid)
    record = sweep_copy / "failed" / f"{rid}.json"
    record.write_text("{not json", encoding="utf-8")
    with pytest.raises(ResultsError, match=f"^{record}: not a failure record"):
        sim.load_results(sweep_copy)


def test_a_missing_run_is_reported_as_missing_not_dropped(sweep_copy):
    (sweep_copy / "runs" / f"{run_id('exchange', 0, 0)}.parquet").unlink()
    forget_run(sweep_copy, run_id("exchange", 0, 0))
    res = sim.load_results(sweep_copy)
    runs = res.runs.set_index("run")["status"]
    assert runs[run_id("exchange", 0, 0)] == "missing"
    assert (runs == "done").sum() == INTERRUPTIBLE_RUNS - 1
    assert not ((res.metrics["point"] == 0) & (res.metrics["replicate"] == 0)).any()
