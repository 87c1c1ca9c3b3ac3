"""Sweeps: one atomic file per run, paired seeds, failures recorded, resume after a killed client,
identical results serially and on local Dask workers, the loader, and sensitivity analysis."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import time

import pandas as pd
import pyarrow.dataset as ds
import pytest
from conftest import REPO
from sweep_helpers import (
    INTERRUPTIBLE_RUNS,
    SWEEP_BASE,
    assert_one_line_error,
    cli,
    cli_process,
    forget_run,
    interruptible_sweep,
    run_files,
    serial_reference,
    write_sweep,
)

import sim
from sim.config.designs import load_sweep
from sim.experiments.executors import Serial
from sim.experiments.run import replicate_metrics, sweep
from sim.seeds import replicate_seeds
from sim.storage.store import run_id


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Two bases x 3 Latin-hypercube points x 2 replicates = 12 runs, run serially in this process."""
    folder = tmp_path_factory.mktemp("tiny")
    path = write_sweep(folder, bases=(SWEEP_BASE, "baseline_drift.yaml"),
                       parameters={"careers.drift_rate": {"low": 0.0, "high": 0.08},
                                   "careers.attrition_rural_extra": {"low": 0.0, "high": 0.1}}, seed=7)
    summary = sweep(path, folder / "out", serial=True)
    return path, folder / "out", summary


def test_every_run_is_one_file_with_its_seed(tiny):
    path, out, summary = tiny
    assert (summary.total, summary.ran, summary.done, summary.failed, summary.present) == (12, 12, 12, 0, 0)
    sw = load_sweep(path)
    expected = {f"{run_id(b.name, p, r)}.parquet" for b, p, r, _ in sw.runs()}
    assert set(run_files(out)) == expected
    seeds = replicate_seeds(7, 2)
    res = sim.load_results(out)
    assert res.kind == "sweep"
    assert (res.metrics["seed"] == res.metrics["replicate"].map(dict(enumerate(seeds)))).all()
    assert set(res.metrics["metric"]) == {"cv_quality", "rotations"}
    assert list(res.metrics.columns[:8]) == ["scenario", "point", "replicate", "seed", "year", "metric", "subgroup",
                                             "value"]
    assert {"careers_drift_rate", "careers_attrition_rural_extra"} <= set(res.metrics.columns)
    assert (res.runs["status"] == "done").all() and len(res.runs) == 12


def test_a_run_file_holds_what_a_direct_replicate_gives(tiny):
    path, out, _ = tiny
    sw = load_sweep(path)
    base = sw.bases[1]
    direct = replicate_metrics(sw.scenario(base, 2), 1, sw.seeds[1])
    direct = direct[direct["metric"].isin(["cv_quality", "rotations"])].reset_index(drop=True)
    stored = pd.read_parquet(out / "runs" / f"{run_id(base.name, 2, 1)}.parquet")
    params = list(sw.columns.values())
    pd.testing.assert_frame_equal(stored.drop(columns=["point", *params]), direct, check_dtype=False)
    assert (stored["point"] == 2).all()
    for path, column in sw.columns.items():  # the point's parameter values, in every row
        assert (stored[column] == sw.points[2][path]).all()
    assert stored.loc[stored["metric"] == "cv_quality", "value"].nunique() > 1


def test_common_random_numbers_across_bases_and_points(tiny):
    """Year 0 depends only on the seed, so replicate r starts identically in every base and at every point."""
    res = sim.load_results(tiny[1])
    start = res.metrics.query("year == 0 and metric == 'cv_quality' and subgroup == 'all'")
    per_rep = start.groupby("replicate")["value"].nunique()
    assert (per_rep == 1).all()
    assert start.groupby("replicate")["value"].first().nunique() == 2  # replicates do differ


def test_manifest_has_design_and_provenance(tiny):
    path, out, _ = tiny
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["kind"] == "sweep" and m["name"] == "tiny"
    assert m["fingerprint"] == load_sweep(path).fingerprint()
    assert m["design"]["n_points"] == 3 and m["design"]["kind"] == "lhs" and m["design"]["salib"] is None
    assert len(m["design"]["points"]) == 3 and m["seeds"] == replicate_seeds(7, 2)
    assert m["status"] == {"done": 12, "failed": 0, "missing": 0}
    session = m["sessions"][0]
    assert session["executor"].startswith("serial") and session["ran"] == 12 and not session["interrupted"]
    assert "numpy" in session["versions"] and "dask" in session["versions"]
    design = pd.read_parquet(out / "design.parquet")
    assert design["point"].tolist() == [0, 1, 2]
    assert not (out / ".tmp").exists()


def test_duckdb_friendly_path_reads_every_run(tiny):
    res = sim.load_results(tiny[1], parameters=False)
    assert sorted(glob.glob(res.parquet)) == sorted(str(tiny[1] / "runs" / n) for n in run_files(tiny[1]))
    table = ds.dataset(glob.glob(res.parquet), format="parquet").to_table().to_pandas()
    assert len(table) == len(res.metrics)


def test_rerun_runs_only_what_is_missing(tiny, tmp_path):
    path, out, _ = tiny
    out2 = tmp_path / "copy"
    shutil.copytree(out, out2)
    before = run_files(out2)
    stamps = {p.name: p.stat().st_mtime_ns for p in (out2 / "runs").iterdir()}
    victim = out2 / "runs" / f"{run_id('baseline_drift', 1, 0)}.parquet"
    victim.unlink()
    summary = sweep(path, out2, serial=True, resume=True)
    assert (summary.ran, summary.present, summary.done) == (1, 11, 12)
    assert summary.redone == [f"{victim}: listed as done in manifest.json but missing"]
    assert "1 corrupt or missing were run again" in summary.line()
    assert run_files(out2) == before
    for p in (out2 / "runs").iterdir():
        if not p.name.startswith(victim.name):  # the run file and its checksum file
            assert p.stat().st_mtime_ns == stamps[p.name], p.name  # untouched
    again = sweep(path, out2, serial=True)
    assert (again.ran, again.present) == (0, 12)
    assert len(json.loads((out2 / "manifest.json").read_text())["sessions"]) == 3


def test_a_different_sweep_is_refused_in_the_same_folder(tiny, tmp_path):
    other = write_sweep(tmp_path, name="tiny", parameters={"careers.drift_rate": {"low": 0.0, "high": 0.05}})
    line = assert_one_line_error(cli("sweep", other, "--out", tiny[1], "--serial", "--quiet"),
                                 "holds a different sweep (tiny)")
    assert str(tiny[1]) in line


def test_a_run_that_raises_is_recorded_and_the_others_complete(tmp_path, monkeypatch):
    import sim.experiments.run as experiment

    path = write_sweep(tmp_path, parameters={"careers.drift_rate": {"values": [0.01, 0.02, 0.03]}},
                       design={"kind": "grid"}, replicates=2)
    real = experiment.simulate

    def flaky(scenario, seed, years, on_year=None):
        if scenario.careers.drift_rate == 0.02:
            raise RuntimeError("model blew up")
        return real(scenario, seed, years, on_year)

    monkeypatch.setattr(experiment, "simulate", flaky)
    out = tmp_path / "out"
    summary = sweep(path, out, serial=True)
    assert (summary.ran, summary.failed_now, summary.done, summary.failed) == (6, 2, 4, 2)
    assert summary.failures[0][1] == "RuntimeError: model blew up"
    record = json.loads((out / "failed" / f"{run_id('exchange', 1, 0)}.json").read_text())
    assert record["error"] == "RuntimeError: model blew up" and "flaky" in record["traceback"]
    assert record["point"] == 1 and record["seed"] == replicate_seeds(20210901, 2)[0]
    status = sim.load_results(out).runs.set_index("run")["status"]
    assert status.value_counts().to_dict() == {"done": 4, "failed": 2}
    assert json.loads((out / "manifest.json").read_text())["status"] == {"done": 4, "failed": 2, "missing": 0}

    monkeypatch.setattr(experiment, "simulate", real)  # the bug is fixed: a rerun redoes only the failures
    again = sweep(path, out, serial=True)
    assert (again.ran, again.present, again.done, again.failed) == (2, 4, 6, 0)
    assert list((out / "failed").iterdir()) == []


def test_command_line_counts_failures_and_shows_progress(tmp_path):
    roster = tmp_path / "roster"
    shutil.copytree(REPO / "tests" / "data" / "roster", roster)
    scen = roster / "roster_scenario.yaml"
    scen.write_text(scen.read_text().replace("../../../scenarios/", f"{REPO / 'scenarios'}/"))
    path = write_sweep(tmp_path, bases=(roster / "roster_scenario.yaml",), sets=(),
                       parameters={"world.roster.teachers_csv": {"values": ["teachers.csv", "teachers_b.csv"]}},
                       design={"kind": "grid"}, replicates=2, outcomes=["teachers_in_post"])
    out = tmp_path / "out"
    done = cli("sweep", path, "--out", out, "--serial")
    assert done.returncode == 1, done.stderr
    assert "4 runs: 2 done, 2 failed, 0 missing" in done.stdout
    assert "failed=2" in done.stderr and "4/4" in done.stderr  # the progress bar: counts and failures
    failures = [ln for ln in done.stderr.splitlines() if ln.startswith("failed: ")]
    assert len(failures) == 2 and all("teachers_b.csv: file not found" in ln for ln in failures)
    shutil.copy(roster / "teachers.csv", roster / "teachers_b.csv")
    again = cli("sweep", path, "--out", out, "--serial", "--quiet")
    assert again.returncode == 0, again.stderr
    assert "4 done, 0 failed" in again.stdout and "this session ran 2" in again.stdout


def test_client_killed_mid_sweep_then_resumed_equals_uninterrupted(tmp_path):
    path = interruptible_sweep(tmp_path)
    out = tmp_path / "out"
    proc = cli_process("sweep", path, "--out", out, "--serial", "--quiet")
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob("runs/*.parquet"))) < 3:
            assert proc.poll() is None, "the sweep ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    kept = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "runs").glob("*.parquet")}
    assert 3 <= len(kept) < INTERRUPTIBLE_RUNS
    done = cli("sweep", path, "--out", out, "--serial", "--quiet", "--resume")
    assert done.returncode == 0, done.stderr
    assert f"this session ran {INTERRUPTIBLE_RUNS - len(kept)}, 0 failed; {len(kept)} were already done" in done.stdout
    for p in (out / "runs").glob("*.parquet"):
        if p.name in kept:
            assert (p.stat().st_ino, p.stat().st_mtime_ns) == kept[p.name], p.name  # not run again
    assert run_files(out) == run_files(serial_reference("interruptible"))
    assert not (out / ".tmp").exists()
    assert not list(out.glob("runs/.*")) and not list((out / "failed").iterdir())


def test_local_worker_processes_give_the_serial_bytes(tiny, tmp_path):
    """`workers=` (the command line's --workers) runs on processes of this machine, without Dask."""
    path, out, _ = tiny
    summary = sweep(path, tmp_path / "procs", workers=2)
    assert summary.executor == "2 local worker processes"
    assert run_files(tmp_path / "procs") == run_files(out)


def test_local_dask_cluster_gives_the_serial_bytes(tiny, tmp_path):
    from sim.experiments.executors import Dask

    path, out, _ = tiny
    summary = sweep(path, tmp_path / "dask", executor=Dask(workers=2))
    assert summary.executor.startswith("local dask cluster (2 workers")
    assert run_files(tmp_path / "dask") == run_files(out)



class _Batched(Serial):
    """Runs in this process but, like Dask, runs `slots()` tasks at once: the sweep batches its runs."""

    def __init__(self, fail_batches: bool = False):
        self.sizes: list[int] = []
        self.fail_batches = fail_batches

    def slots(self) -> int:
        return 2

    def map_unordered(self, fn, items):
        for item in items:
            self.sizes.append(len(item))
            if self.fail_batches and len(item) > 1:
                yield item, None, RuntimeError("worker lost")
            else:
                yield item, fn(item), None


def test_run_warnings_come_back_labelled_with_their_run_the_first_few_and_a_count(tmp_path):
    """A quota larger than the pool warns in every run (a RunWarning): the sweep shows each with its
    run's id, for the first SHOWN_WARNED_RUNS runs that warned, then how many warned in all, whatever
    process ran them (workers used to print Python's two-line warnings, unlabelled)."""
    from sim.core.run_warning import RunWarning
    from sim.experiments.run import SHOWN_WARNED_RUNS

    path = write_sweep(tmp_path, name="capped", replicates=3, design={"kind": "grid"},
                       parameters={"policy.programs.0.quota.min_count": {"values": [900, 1000]}})
    with pytest.warns(RunWarning) as caught:
        summary = sweep(path, tmp_path / "out", serial=True)
    texts = [str(w.message) for w in caught if w.category is RunWarning]
    assert summary.warned == summary.ran == 6 > SHOWN_WARNED_RUNS
    labelled = [t for t in texts if t.startswith("run ")]
    runs = {t.split(":")[0].removeprefix("run ") for t in labelled}
    assert len(runs) == SHOWN_WARNED_RUNS and runs <= {p.stem for p in (tmp_path / "out" / "runs").glob("*.parquet")}
    assert all("the quota asks" in t for t in labelled)
    assert texts[-1] == f"6 runs of this session issued warnings; those of the first {SHOWN_WARNED_RUNS} are shown"
    assert len(texts) == len(labelled) + 1  # nothing unlabelled


def test_runs_batched_per_task_give_the_serial_bytes(tmp_path):
    """An executor running several tasks at once gets several runs a task (Dask's cost per task,
    about 10 ms of the client's and the worker's CPU, is then shared), big batches first and single
    runs at the end; every run is still its own file, byte for byte the serial one."""
    path = interruptible_sweep(tmp_path)
    executor = _Batched()
    summary = sweep(path, tmp_path / "out", executor=executor)
    assert (summary.done, summary.ran, summary.failed) == (INTERRUPTIBLE_RUNS, INTERRUPTIBLE_RUNS, 0)
    assert sum(executor.sizes) == INTERRUPTIBLE_RUNS and len(executor.sizes) < INTERRUPTIBLE_RUNS
    assert executor.sizes[0] > 1 and executor.sizes[-1] == 1
    assert executor.sizes == sorted(executor.sizes, reverse=True)
    assert run_files(tmp_path / "out") == run_files(serial_reference("interruptible"))


def test_a_batch_that_fails_records_each_of_its_runs_and_a_rerun_does_them(tmp_path):
    path = interruptible_sweep(tmp_path)
    out = tmp_path / "out"
    executor = _Batched(fail_batches=True)
    summary = sweep(path, out, executor=executor)
    lost = sum(n for n in executor.sizes if n > 1)
    assert lost > 1 and (summary.failed, summary.done) == (lost, INTERRUPTIBLE_RUNS - lost)
    assert len(list((out / "failed").glob("*.json"))) == lost
    assert summary.failures[0][1] == "RuntimeError: worker lost"
    again = sweep(path, out, serial=True)
    assert (again.ran, again.done, again.failed) == (lost, INTERRUPTIBLE_RUNS, 0)
    assert run_files(out) == run_files(serial_reference("interruptible"))


@pytest.mark.parametrize(("todo", "slots", "timed", "expected"), [
    (32, 2, None, [4, 4, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1]),  # untimed: at most 4, then guided
    (8, 0, None, [1] * 8),  # no slots (this process): one run a task
    # 0.5 s runs: 2 a task (about 1 s) while more than 4 x 2 runs are left, then one
    (40, 2, 0.5, [2] * 16 + [1] * 8),
    # 0.01 s runs: 16 a task (the cap) while more than 4 x 1 x 16 are left, then left / 4 rounded up
    (500, 1, 0.01, [16] * 28 + [13, 10, 8, 6, 4, 3, 2, 2, 1, 1, 1, 1]),
])
def test_batch_sizes(todo, slots, timed, expected):
    from sim.experiments.run import _Batches

    batches = _Batches(todo, slots)
    if timed is not None:
        batches.observe({"status": "done", "seconds": timed})
    batches.observe({"status": "failed", "error": "x"})  # a failed run is not timed
    assert [len(b) for b in batches.group(range(todo))] == expected


# ------------------------------------------------------------------------------ sensitivity

SENSITIVITY_PARAMS = {"policy.programs.0.quota.min_count": {"low": 0, "high": 40, "integer": True},
                      # a term ends after year 1 at the earliest, so stay_share cannot change year-1 rotations
                      "policy.programs.0.stay_share": {"low": 0.0, "high": 1.0}}


@pytest.fixture(scope="module")
def sobol_sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sobol")
    path = write_sweep(folder, name="sob", parameters=SENSITIVITY_PARAMS, years=1, replicates=1,
                       design={"kind": "sobol", "points": 8, "seed": 2}, outcomes=["rotations", "cv_quality"])
    sweep(path, folder / "out", serial=True)
    return folder / "out"


def test_sobol_indices_find_the_parameter_that_matters(sobol_sweep):
    sens = sim.sensitivity(sobol_sweep, "rotations", year=1)
    assert sens.method == "sobol" and sens.group == "all" and sens.n_points == 8 * 4
    t = sens.table.set_index("parameter")
    stay = t.loc["policy.programs.0.stay_share"]
    assert stay["S1"] == 0.0 and stay["ST"] == 0.0  # no effect at all: exactly zero
    quota = t.loc["policy.programs.0.quota.min_count"]
    assert quota["ST"] > 0.5 and quota["ST_conf"] > 0


def test_sensitivity_command_writes_table_and_figure(sobol_sweep):
    done = cli("sensitivity", sobol_sweep, "--outcome", "rotations", "--year", "1")
    assert done.returncode == 0, done.stderr
    assert "first order S1" in done.stdout and "quota.min_count" in done.stdout
    stem = sobol_sweep / "sensitivity" / "exchange__rotations__all__y1"
    table = pd.read_csv(f"{stem}.csv")
    assert list(table.columns) == ["parameter", "S1", "S1_conf", "ST", "ST_conf"]
    assert open(f"{stem}.png", "rb").read(4) == b"\x89PNG"
    assert not (sobol_sweep / "sensitivity" / ".tmp").exists()


@pytest.mark.parametrize(("args", "fragment"), [
    (("--outcome", "cv_backbone"), "--outcome cv_backbone: not kept by this sweep"),
    (("--outcome", "cv_quality"), None),  # several groups: 'all' is taken
    (("--outcome", "cv_quality", "--group", "nowhere"), "--group nowhere"),
    (("--outcome", "rotations", "--year", "5"), "--year 5: not a simulated year"),
    (("--outcome", "rotations", "--scenario", "x"), "--scenario x: not a base"),
])
def test_sensitivity_requests(sobol_sweep, args, fragment):
    from sim.experiments.statistics import AnalysisError

    kw = {"--group": "group", "--year": "year", "--scenario": "scenario"}
    options = {kw[k]: (int(v) if k == "--year" else v) for k, v in zip(args[2::2], args[3::2], strict=True)}
    if fragment is None:
        assert sim.sensitivity(sobol_sweep, args[1], **options).group == "all"
        return
    with pytest.raises(AnalysisError, match=fragment.replace("(", r"\(")):
        sim.sensitivity(sobol_sweep, args[1], **options)


def test_sensitivity_of_a_grid_or_a_non_sweep_is_exit_2(tiny, tmp_path):
    assert_one_line_error(cli("sensitivity", tiny[1], "--outcome", "rotations"), "has no sensitivity indices")
    assert_one_line_error(cli("sensitivity", tmp_path, "--outcome", "rotations"), "cannot read manifest")


def test_morris_screening(tmp_path):
    path = write_sweep(tmp_path, name="mor", parameters=SENSITIVITY_PARAMS, years=1, replicates=1,
                       design={"kind": "morris", "points": 4, "levels": 4, "seed": 5}, outcomes=["rotations"])
    sweep(path, tmp_path / "out", serial=True)
    sens = sim.sensitivity(tmp_path / "out", "rotations")
    t = sens.table.set_index("parameter")
    assert sens.method == "morris"
    assert t.loc["policy.programs.0.stay_share", "mu_star"] == 0.0
    assert t.loc["policy.programs.0.quota.min_count", "mu_star"] > 0.0
    assert "mu*" in sens.markdown()


def test_sensitivity_needs_every_design_point(sobol_sweep, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(sobol_sweep, partial)
    os.remove(partial / "runs" / f"{run_id('exchange', 3, 0)}.parquet")
    forget_run(partial, run_id("exchange", 3, 0))  # never run, rather than deleted
    from sim.experiments.statistics import AnalysisError

    with pytest.raises(AnalysisError, match="1 of 32 design points have no result"):
        sim.sensitivity(partial, "rotations")


def test_sensitivity_refuses_a_corrupt_run_file(sobol_sweep, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(sobol_sweep, damaged)
    victim = damaged / "runs" / f"{run_id('exchange', 5, 0)}.parquet"
    data = victim.read_bytes()
    victim.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    assert_one_line_error(cli("sensitivity", damaged, "--outcome", "rotations", "--year", "1"),
                          f"{victim}: does not match its checksum")
