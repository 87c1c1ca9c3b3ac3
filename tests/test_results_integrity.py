"""Result folders as untrusted input (issue 13, items 2, 4 and 9).

Sweep run files carry checksums and are checked against their sweep, their name and the manifest,
on load and on resume; a sweep stopped before its first file can be started again; a manifest can
name only regular files inside its folder, and a crafted one gives one line naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from sweep_helpers import assert_one_line_error, cli, run_files, write_sweep

import sim
from sim.storage.results import ResultsError, read_frame, read_runs
from sim.storage.store import TMP_SUFFIX, read_manifest, run_id, write_run_file

GRID = {"kind": "grid"}


def tiny_sweep(folder: Path, values=(0.01, 0.05)) -> Path:
    """2 points x 2 replicates = 4 runs of a tiny world."""
    return write_sweep(folder, name="tiny", parameters={"careers.drift_rate": {"values": list(values)}},
                       design=GRID, replicates=2, years=2)


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """(sweep file, finished folder) and another sweep with the same run names, other results."""
    folder = tmp_path_factory.mktemp("integrity")
    path = tiny_sweep(folder)
    sim.sweep(path, folder / "out", serial=True)
    other = tmp_path_factory.mktemp("other")
    sim.sweep(tiny_sweep(other, values=(0.02, 0.06)), other / "out", serial=True)
    return path, folder / "out", other / "out"


@pytest.fixture
def copy(done, tmp_path):
    dest = tmp_path / "out"
    shutil.copytree(done[1], dest)
    return dest


def run_path(folder: Path, point: int, rep: int) -> Path:
    return folder / "runs" / f"{run_id('exchange', point, rep)}.parquet"


def load_error(folder: Path) -> str:
    with pytest.raises(ResultsError) as err:
        sim.load_results(folder)
    message = str(err.value)
    assert "\n" not in message
    return message


def flip_one_bit_of_a_value(path: Path) -> None:
    """Change one stored value by one bit (the file stays readable Parquet)."""
    frame = pd.read_parquet(path)
    good = path.read_bytes()
    value = frame.loc[frame["metric"] == "cv_quality", "value"].iloc[0]
    raw = pd.Series([value]).to_numpy().tobytes()
    at = good.index(raw)
    path.write_bytes(good[:at] + bytes([raw[0] ^ 1]) + good[at + 1:])
    assert pd.read_parquet(path)["value"].ne(frame["value"]).sum() == 1


# ----------------------------------------------------------------------- item 2: checksums


def test_a_one_bit_flip_is_named_on_load_and_run_again_on_resume(done, copy, caplog):
    path, _, _ = done
    victim = run_path(copy, 1, 0)
    good = victim.read_bytes()
    flip_one_bit_of_a_value(victim)
    assert load_error(copy) == (f"{victim}: does not match its checksum in {victim.name}.sha256 (corrupt or "
                                "replaced); running the sweep again (--resume) redoes it")
    summary = sim.sweep(path, copy, serial=True, resume=True)
    assert (summary.ran, summary.present, summary.done, summary.missing) == (1, 3, 4, 0)
    assert summary.redone == [f"{victim}: does not match its checksum in {victim.name}.sha256 (corrupt or replaced)"]
    assert f"{victim}: does not match its checksum" in caplog.text and "running it again" in caplog.text
    assert victim.read_bytes() == good
    assert len(sim.load_results(copy).metrics) > 0


def test_another_sweeps_file_under_the_same_name_is_named(done, copy):
    path, _, other = done
    victim = run_path(copy, 0, 1)
    good = victim.read_bytes()
    for suffix in ("", ".sha256"):  # the file and its checksum file: the pair is consistent
        shutil.copy(run_path(other, 0, 1).with_name(victim.name + suffix), victim.with_name(victim.name + suffix))
    assert load_error(copy).startswith(f"{victim}: written by another sweep (its sweep fingerprint differs)")
    summary = sim.sweep(path, copy, serial=True)
    assert summary.ran == 1 and victim.read_bytes() == good


def test_a_file_copied_over_another_is_named(copy):
    victim = run_path(copy, 1, 1)
    shutil.copy(run_path(copy, 1, 0), victim)
    assert load_error(copy).startswith(f"{victim}: does not match its checksum in {victim.name}.sha256")


def test_a_run_file_without_its_checksum_file_is_named(copy):
    victim = run_path(copy, 0, 1)
    victim.with_name(victim.name + ".sha256").unlink()
    assert load_error(copy).startswith(f"{victim}: has no checksum file {victim.name}.sha256")


def test_rows_that_do_not_match_the_name_are_named(copy):
    """Even with a matching checksum and metadata, the rows must be of the run the name says."""
    victim = run_path(copy, 1, 1)
    rows = pd.read_parquet(run_path(copy, 1, 0))
    fingerprint = read_manifest(copy)["fingerprint"]
    write_run_file(rows, copy, victim.stem, fingerprint)
    assert load_error(copy).startswith(f"{victim}: its rows have replicate [0], but its name says 1")


def test_a_run_file_without_a_key_column_is_named(copy):
    victim = run_path(copy, 1, 1)
    rows = pd.read_parquet(victim).drop(columns="seed")
    write_run_file(rows, copy, victim.stem, read_manifest(copy)["fingerprint"])
    assert load_error(copy).startswith(f"{victim}: cannot be read (no column 'seed')")


def test_run_files_with_narrower_string_columns_read_as_the_others(done, copy):
    """A run file written by another pandas (string where pandas 3 writes large_string) reads into
    the same frame as the others, as a dataset scan cast it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    victim = run_path(copy, 1, 1)
    table = pq.read_table(victim)
    narrow = pa.schema([f.with_type(pa.string()) if f.type == pa.large_string() else f for f in table.schema],
                       metadata=table.schema.metadata)
    pq.write_table(table.cast(narrow), victim)
    victim.with_name(victim.name + ".sha256").write_text(f"{hashlib.sha256(victim.read_bytes()).hexdigest()}  "
                                                         f"{victim.name}\n", encoding="utf-8")
    assert pq.read_schema(victim).field("metric").type == pa.string()
    pd.testing.assert_frame_equal(read_runs(copy), read_runs(done[1]))


def test_read_runs_cuts_and_names_columns(done):
    import pyarrow.dataset as ds

    whole = read_runs(done[1])
    pd.testing.assert_frame_equal(read_runs(done[1], columns=["scenario", "point", "value"]),
                                  whole[["scenario", "point", "value"]])
    for where in (None, ds.field("metric") == "rotations"):
        with pytest.raises(ValueError, match="no column 'nope'"):
            read_runs(done[1], filter=where, columns=["value", "nope"])


def test_a_deleted_run_is_named_and_resume_says_so(done, copy):
    path, _, _ = done
    victim = run_path(copy, 0, 0)
    good = victim.read_bytes()
    victim.unlink()
    victim.with_name(victim.name + ".sha256").unlink()
    assert load_error(copy) == (f"{victim}: listed as done in manifest.json but missing; running the sweep "
                                "again (--resume) redoes it")
    resumed = cli("sweep", path, "--out", copy, "--serial", "--quiet", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.splitlines() == [f"teachersim: warning: {victim}: listed as done in manifest.json but "
                                           "missing; running it again"]
    assert "4 done, 0 failed, 0 missing" in resumed.stdout and "1 corrupt or missing were run again" in resumed.stdout
    assert victim.read_bytes() == good


def test_every_bad_file_is_named_in_one_line(copy):
    flipped, deleted = run_path(copy, 0, 0), run_path(copy, 1, 1)
    flip_one_bit_of_a_value(flipped)
    deleted.unlink()
    stray = copy / "runs" / "notes.txt"
    stray.write_text("mine", encoding="utf-8")
    message = load_error(copy)
    assert message.startswith(f"{copy}: 3 files cannot be trusted: ")
    names = [str(p.relative_to(copy)) for p in (flipped, deleted, stray)]
    for name in names:
        assert f" {name}: " in message
    assert_one_line_error(cli("report", copy), *names)


def test_a_foreign_file_stops_resume_with_one_line_and_is_left_alone(done, copy):
    path, _, _ = done
    stray = copy / "runs" / f"{run_id('exchange', 7, 0)}.parquet"  # a point this sweep does not have
    shutil.copy(run_path(copy, 0, 0), stray)
    before = run_files(copy)
    line = assert_one_line_error(cli("sweep", path, "--out", copy, "--serial", "--quiet"), str(stray),
                                 "not a run of this sweep (a foreign file); move it out of runs/")
    assert "Traceback" not in line
    assert run_files(copy) == before


def test_an_extra_failure_record_never_makes_a_negative_count(done, copy):
    """A failure record beside a finished run (copied in by hand) counted twice: '-1 missing'."""
    path, _, _ = done
    record = {"run": run_id("exchange", 0, 0), "error": "RuntimeError: old", "traceback": ""}
    (copy / "failed" / f"{run_id('exchange', 0, 0)}.json").write_text(json.dumps(record), encoding="utf-8")
    summary = sim.sweep(path, copy, serial=True)
    assert (summary.done, summary.failed, summary.missing, summary.ran) == (4, 0, 0, 0)
    assert "4 done, 0 failed, 0 missing" in summary.line()
    assert sim.load_results(copy).runs["status"].eq("done").all()


# ------------------------------------------------------------ item 4: a full disk at the start


def test_a_full_disk_at_the_start_leaves_a_folder_the_same_command_can_start(tmp_path):
    """The first file a sweep writes fails (files over 1 KiB fail, as on a full disk); the advice
    in the error line is to run the same command again, and that must work."""
    path = tiny_sweep(tmp_path)
    out = tmp_path / "out"

    def full():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    failed = cli("sweep", path, "--out", out, "--serial", "--quiet", preexec_fn=full)
    assert failed.returncode == 1, failed.stderr
    assert "File too large" in failed.stderr and "run the same command again" in failed.stderr
    again = cli("sweep", path, "--out", out, "--serial", "--quiet")
    assert again.returncode == 0, again.stderr
    assert "4 runs: 4 done, 0 failed, 0 missing" in again.stdout


def test_a_sweep_killed_while_writing_its_first_file_starts_again(tmp_path):
    """What SIGKILL during the first manifest write leaves: the lock and a temporary file."""
    path = tiny_sweep(tmp_path)
    out = tmp_path / "out"
    (out / ".tmp").mkdir(parents=True)
    (out / ".lock").touch()
    tmp_name = f"manifest.json.k1l2m3n4{TMP_SUFFIX}"  # as store.replace_atomically names it
    (out / ".tmp" / tmp_name).write_text('{"schema_ver', encoding="utf-8")
    summary = sim.sweep(path, out, serial=True)
    assert (summary.done, summary.missing) == (4, 0)
    assert not (out / ".tmp").exists()


def test_a_user_folder_named_tmp_is_not_taken_for_a_leftover(tmp_path):
    path = tiny_sweep(tmp_path)
    out = tmp_path / "out"
    (out / ".tmp").mkdir(parents=True)
    (out / ".tmp" / "notes.txt").write_text("mine", encoding="utf-8")
    assert_one_line_error(cli("sweep", path, "--out", out, "--serial", "--quiet"), "holds no sweep")
    assert (out / ".tmp" / "notes.txt").read_text(encoding="utf-8") == "mine"


# -------------------------------------------------------------- item 9: untrusted manifests


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    from sim.present.outputs import write_run

    scenario = sim.load_scenario(Path(__file__).parent / "data" / "sweep_base.yaml",
                                 ["world.schools_per_district=12", "world.teachers_per_school=15"])
    out = tmp_path_factory.mktemp("run") / "res"
    write_run(sim.run(scenario, years=1, reps=1), out, figures=False)
    return out


def with_manifest(src: Path, tmp_path: Path, change) -> Path:
    folder = tmp_path / "res"
    shutil.copytree(src, folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


@pytest.mark.parametrize("name, fragment", [
    ("../secret.txt", "'../secret.txt' is not a path inside the folder"),
    ("/etc/hostname", "'/etc/hostname' is not a path inside the folder"),
    ("a/../../secret.txt", "is not a path inside the folder"),
    ("link.parquet", "link.parquet: is a symbolic link"),
    ("sub", "sub: not a regular file"),
])
def test_a_manifest_names_only_regular_files_inside_its_folder(run_folder, tmp_path, name, fragment):
    secret = tmp_path / "secret.txt"
    secret.write_text("private", encoding="utf-8")
    digest = hashlib.sha256(b"private").hexdigest()
    folder = with_manifest(run_folder, tmp_path, lambda m: m["files"].update({name: digest}))
    (folder / "link.parquet").symlink_to(secret)
    (folder / "sub").mkdir()
    message = load_error(folder)
    assert fragment in message and str(folder) in message
    assert "private" not in message


@pytest.mark.parametrize("change, fragment", [
    (lambda m: m.update(seeds="12"), "seeds: Input should be a valid list"),
    (lambda m: m.update(seeds=[True]), "seeds.0: Input should be a valid integer"),
    (lambda m: m.update(files=[]), "files: Input should be a valid dictionary"),
    (lambda m: m["files"].update({"metrics.parquet": 5}), "files.metrics.parquet: Input should be a valid string"),
    (lambda m: m.pop("scenario"), "scenario: Field required"),
    (lambda m: m.update(kind=7), "kind: 7 is not run, compare or sweep"),
    (lambda m: m.update(schema_version=True), "schema_version True, expected one of 1, 2"),
    (lambda m: m["scenario"].update(run="x"), "scenario.run: Input should be"),
])
def test_a_crafted_run_manifest_is_one_line(run_folder, tmp_path, change, fragment):
    folder = with_manifest(run_folder, tmp_path, change)
    message = load_error(folder)
    assert message.startswith(f"{folder / 'manifest.json'}: ") and fragment in message, message
    assert_one_line_error(cli("report", folder), fragment)


@pytest.mark.parametrize("change, fragment", [
    (lambda m: m["design"].update(n_points=10**12), "design.n_points: Input should be less than or equal to"),
    (lambda m: m["design"].update(n_points=3), "n_points is 3 but 2 points are listed"),
    (lambda m: m.update(bases=5), "bases: Input should be a valid list"),
    (lambda m: m["bases"][0].update(name="../../x"), "bases.0.name: String should match pattern"),
    (lambda m: m.update(seeds=[1, 2, 3]), "runs.total is 4, but bases x points x seeds = 6"),
    (lambda m: m.pop("fingerprint"), "fingerprint: Field required"),
    (lambda m: m["status"].update(done=-1), "status.done: Input should be greater than or equal to 0"),
    (lambda m: m.update(done_runs=["elsewhere__p000000__r0000"]), "done_runs: 'elsewhere__p000000__r0000' is not"),
    (lambda m: m["sessions"][0].update(ran="all"), "sessions.0.ran: Input should be a valid integer"),
])
def test_a_crafted_sweep_manifest_is_one_line(done, tmp_path, change, fragment):
    folder = with_manifest(done[1], tmp_path, change)
    message = load_error(folder)
    assert message.startswith(f"{folder / 'manifest.json'}: ") and fragment in message, message
    assert_one_line_error(cli("report", folder), fragment)
    assert_one_line_error(cli("sweep", done[0], "--out", folder, "--serial", "--quiet"), fragment)


def test_a_deeply_nested_manifest_is_one_line(run_folder, tmp_path):
    folder = tmp_path / "res"
    shutil.copytree(run_folder, folder)
    (folder / "manifest.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert load_error(folder) == f"{folder / 'manifest.json'}: cannot read manifest: nested too deeply"


def test_an_oversized_manifest_is_refused_unread(run_folder, tmp_path):
    folder = tmp_path / "res"
    shutil.copytree(run_folder, folder)
    with open(folder / "manifest.json", "r+b") as f:
        f.truncate(2**27)  # sparse: 128 MiB that take no disk
    assert "more than the 67,108,864 allowed" in load_error(folder)


THREADS_AFTER_READS = """
import os, sys
import pandas as pd, pyarrow.dataset as ds
import sim
from sim.storage.results import read_runs

def threads():
    return len(os.listdir("/proc/self/task"))

sweep, run = sys.argv[1:]
before = threads()
sim.load_results(sweep)
sim.load_results(run)
read_runs(sweep, filter=ds.field("metric") == "cv_quality")
after = threads()
pd.read_parquet(os.path.join(run, "moves.parquet"))  # pandas' reader, as a control
print(before, after, threads())
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc (Linux)")
def test_reading_results_back_leaves_no_arrow_thread(done, run_folder):
    """A read that leaves Arrow's I/O threads at work can abort the command that exits right after
    it (exit 134 after the answer is printed): reading a run and a sweep back starts no thread,
    where pandas' own reader, run after it in the same fresh process, does."""
    out = subprocess.run([sys.executable, "-c", THREADS_AFTER_READS, str(done[1]), str(run_folder)],
                         capture_output=True, text=True, check=True, timeout=120)
    before, after, control = map(int, out.stdout.split())
    assert after == before and control > after, out.stdout


def test_the_threadless_reads_give_pandas_frames(done, run_folder):
    """read_frame is pd.read_parquet's frame, dtypes included; a filtered read_runs is the
    dataset scan's rows."""
    import pyarrow.dataset as ds

    for path in [*sorted(run_folder.glob("*.parquet")), done[1] / "design.parquet"]:
        pd.testing.assert_frame_equal(read_frame(path), pd.read_parquet(path))
    expression = (ds.field("metric") == "cv_quality") & (ds.field("point") == 1)
    files = sorted((done[1] / "runs").glob("*.parquet"))
    scanned = ds.dataset([str(f) for f in files], format="parquet").to_table(filter=expression).to_pandas()
    rows = read_runs(done[1], filter=expression)
    assert len(rows) > 0 and set(rows["point"]) == {1}
    pd.testing.assert_frame_equal(rows, scanned.sort_values(["scenario", "point", "replicate", "year"],
                                                            kind="stable", ignore_index=True))


def in_thread(fn, seconds: float = 20):
    """fn() run in a thread; fails (instead of hanging the test run) when it blocks."""
    result = {}

    def target():
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked reading a FIFO"
    return result.get("error")


def test_a_fifo_named_manifest_json_does_not_hang(run_folder, tmp_path):
    folder = tmp_path / "res"
    shutil.copytree(run_folder, folder)
    (folder / "manifest.json").unlink()
    os.mkfifo(folder / "manifest.json")
    error = in_thread(lambda: sim.load_results(folder))
    assert isinstance(error, ResultsError)
    assert str(error) == f"{folder / 'manifest.json'}: cannot read manifest: not a regular file"


def test_a_fifo_in_a_sweep_folder_does_not_hang(copy):
    victim = run_path(copy, 0, 0)
    victim.unlink()
    os.mkfifo(victim)
    error = in_thread(lambda: sim.load_results(copy))
    assert isinstance(error, ResultsError) and str(error).startswith(f"{victim}: not a regular file")


def test_a_changed_design_table_is_named(done, copy):
    """A flipped parameter value in design.parquet would label every metric row wrongly."""
    from sim.storage.store import parquet_bytes

    table = copy / "design.parquet"
    column = {path: col for col, path in sim.load_results(copy).parameters.items()}["careers.drift_rate"]
    design = pd.read_parquet(table)
    design.loc[0, column] = 0.5
    table.write_bytes(parquet_bytes(design))
    assert load_error(copy).startswith(f"{table}: does not match its checksum in manifest.json")
    sim.sweep(done[0], copy, serial=True)  # a rerun writes it again
    assert sim.load_results(copy).design[column].tolist() == [0.01, 0.05]


@pytest.fixture(scope="module")
def compare_folder(tmp_path_factory):
    from sim.present.outputs import write_comparison

    tiny = ["world.schools_per_district=12", "world.teachers_per_school=15"]
    repo = Path(__file__).resolve().parents[1]
    result = sim.compare([repo / "tests" / "data" / "sweep_base.yaml", repo / "scenarios" / "baseline_drift.yaml"],
                         reps=2, years=1, overrides=tuple(tiny))
    out = tmp_path_factory.mktemp("cmp") / "cmp"
    write_comparison(result, out, figures=False)
    return out


@pytest.mark.parametrize("change, fragment", [
    (lambda m: m.update(baseline="nobody"), "baseline 'nobody' is not one of the scenarios"),
    (lambda m: m.update(scenarios=m["scenarios"][:1]), "scenarios: List should have at least 2 items"),
    (lambda m: m.update(at=[-1]), "at.0: Input should be greater than or equal to 0"),
    (lambda m: m["files"].update({"../x.csv": "0" * 64}), "'../x.csv' is not a path inside the folder"),
])
def test_a_crafted_compare_manifest_is_one_line(compare_folder, tmp_path, change, fragment):
    assert sim.load_results(compare_folder).kind == "compare"
    folder = with_manifest(compare_folder, tmp_path, change)
    message = load_error(folder)
    assert message.startswith(f"{folder / 'manifest.json'}: ") and fragment in message, message
