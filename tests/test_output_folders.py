"""Output folders: `run` and `compare` replace only what teachersim wrote, never a user's files.

Each case here lost data, or wrote somewhere unexpected, before `sim.storage.folders` (issue "Never lose a
researcher's files"): a user's folder as --out, `--out .`, a sweep folder, an empty --out, two
runs into one folder, a kill between the two renames, leftovers of killed runs, planted links.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import sim
from sim.present.outputs import write_run
from sim.storage.folders import OutputRefused, check_replaceable, claim
from sim.storage.store import write_bytes_atomic

REPO = Path(__file__).resolve().parents[1]
EXCHANGE = REPO / "tests" / "data" / "exchange.yaml"
FIXTURE = REPO / "tests" / "data" / "fixture"
TINY = ["world.schools_per_district=12", "world.teachers_per_school=12", "policy.programs.0.quota.min_count=10"]
TINY_ARGS = [a for item in TINY for a in ("--set", item)]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=300)


def run_into(out: Path | str, *extra: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return cli("run", str(EXCHANGE), *TINY_ARGS, "--years", "1", "--reps", "1", "--no-figures", "--quiet",
               "--out", str(out), *extra, cwd=cwd)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def results(folder: Path) -> dict[str, bytes]:
    """The result files (the manifest's timings differ from one write to the next)."""
    return {k: v for k, v in snapshot(folder).items() if k.endswith(".parquet")}


@pytest.fixture(scope="module")
def tiny_result():
    return sim.run(sim.load_scenario(EXCHANGE, TINY), years=1, reps=1)


def test_a_users_folder_is_refused_before_any_work(tmp_path):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.docx").write_bytes(b"three years of work")
    done = run_into(thesis)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "did not write" in done.stderr
    assert snapshot(thesis) == {"chapter1.docx": b"three years of work"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]  # no lock or temporary folder left


def test_out_dot_never_touches_the_working_folder(tmp_path):
    (tmp_path / "data.csv").write_text("mine")
    done = run_into(Path("."), cwd=tmp_path)
    assert done.returncode == 2 and "working folder" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_a_sweep_folder_is_not_replaced_by_a_run(tmp_path):
    folder = tmp_path / "sweep"
    shutil.copytree(FIXTURE / "sweep", folder)
    before = snapshot(folder)
    done = run_into(folder)
    assert done.returncode == 2 and "holds a teachersim sweep, not a run" in done.stderr
    assert snapshot(folder) == before


def test_empty_out_and_virtual_file_systems_are_refused_up_front(tmp_path):
    done = run_into("", cwd=tmp_path)
    assert done.returncode == 2 and "--out: empty path" in done.stderr
    assert list(tmp_path.iterdir()) == []
    done = run_into(Path("/proc/teachersim-out"))
    assert done.returncode == 2 and "read-only or virtual" in done.stderr


def test_same_scenario_replaces_other_scenario_needs_force(tmp_path):
    out = tmp_path / "res"
    assert run_into(out).returncode == 0
    assert run_into(out).returncode == 0  # the same resolved scenario: replaced
    before = snapshot(out)
    other = run_into(out, "--seed", "99")
    assert other.returncode == 2 and "differs at run.seed" in other.stderr and "--force" in other.stderr
    assert snapshot(out) == before
    forced = run_into(out, "--seed", "99", "--force")
    assert forced.returncode == 0, forced.stderr
    assert sim.load_results(out).manifest["scenario"]["run"]["seed"] == 99


def test_a_file_added_to_a_result_folder_is_kept(tmp_path, tiny_result):
    out = tmp_path / "res"
    write_run(tiny_result, out, figures=False)
    (out / "my_notes.md").write_text("keep me")
    with pytest.raises(OutputRefused, match="my_notes.md"):
        write_run(tiny_result, out, figures=False)
    assert (out / "my_notes.md").read_text() == "keep me"
    (out / "my_notes.md").unlink()
    (out / "figures").mkdir()
    (out / "figures" / "mine.png").write_bytes(b"png")  # a folder this run (no figures) did not write
    with pytest.raises(OutputRefused, match="holds figures/,"):
        write_run(tiny_result, out, figures=False)


def test_a_comparison_folder_is_not_a_run_folder(tmp_path, tiny_result):
    folder = tmp_path / "cmp"
    shutil.copytree(FIXTURE / "compare", folder)
    with pytest.raises(OutputRefused, match="compare, not a run"):
        write_run(tiny_result, folder, figures=False)


def test_symbolic_links_are_refused(tmp_path, tiny_result):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(OutputRefused, match="symbolic link"):
        write_run(tiny_result, tmp_path / "link", figures=False)
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (tmp_path / ".res.lock").symlink_to(secret)
    with pytest.raises(OutputRefused, match="lock"):
        write_run(tiny_result, tmp_path / "res", figures=False)
    assert secret.read_text() == "secret" and not (tmp_path / "res").exists()


def test_a_second_writer_is_told_and_writes_nothing(tmp_path):
    out = tmp_path / "res"
    with claim(out, "run"):
        done = run_into(out)
    assert done.returncode == 1 and "another teachersim process" in done.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the lock file goes with its holder


def _frozen_while_holding_the_lock(cmd: list[str], lock: Path) -> subprocess.Popen | None:
    """Start `cmd` and freeze it (SIGSTOP) once it holds `lock`; None if it let go first."""
    first = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    first.send_signal(signal.SIGSTOP)
    if lock.exists():  # removed before it is released: the frozen run holds it
        return first
    first.send_signal(signal.SIGCONT)
    first.wait(timeout=300)
    return None


def test_two_runs_started_together_one_wins_one_is_told(tmp_path):
    """The second run starts while the first holds the folder (frozen there, so the overlap does not
    depend on the machine's speed): it is told and writes nothing; the first then finishes."""
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "sim", "run", str(EXCHANGE), *TINY_ARGS, "--years", "20", "--reps", "2",
           "--no-figures", "--quiet", "--out", str(out)]
    for _ in range(3):
        first = _frozen_while_holding_the_lock(cmd, tmp_path / ".res.lock")
        if first is not None:
            break
    assert first is not None, "the first run never held the lock long enough to be frozen there"
    try:
        second = subprocess.run([*cmd[:-1], str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert second.returncode == 1, second.stderr
    assert "another teachersim process is writing" in second.stderr
    assert sim.load_results(out).manifest["scenario"]["run"]["years"] == 20


KILLED_WRITE = """
import os, sys
import sim, sim.storage.folders, sim.present.outputs
from pathlib import Path
out = Path(sys.argv[1])
res = sim.run(sim.load_scenario(sys.argv[2], sys.argv[4:]), years=1, reps=1)
if sys.argv[3] == "between-renames":  # a file system that cannot swap: killed after moving the old aside
    sim.storage.folders._exchange = lambda a, b: False
    real = os.rename
    def rename(src, dst):
        real(src, dst)
        if Path(dst).name == "result":
            os._exit(9)
    sim.storage.folders.os.rename = rename
else:  # killed after the swap, before the earlier result (now hidden) is removed
    sim.storage.folders.shutil.rmtree = lambda *a, **k: os._exit(9)
sim.present.outputs.write_run(res, out, figures=False)
"""


@pytest.mark.parametrize("moment", ["between-renames", "after-swap"])
def test_a_kill_while_replacing_loses_nothing_and_is_tidied_next_time(tmp_path, tiny_result, moment):
    out = tmp_path / "res"
    write_run(tiny_result, out, figures=False)
    results_before = results(out)
    script = tmp_path.parent / f"killed_write_{moment}.py"
    script.write_text(textwrap.dedent(KILLED_WRITE))
    killed = subprocess.run([sys.executable, str(script), str(out), str(EXCHANGE), moment, *TINY], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == 9, killed.stderr
    hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".res."))
    assert hidden, "the kill should have left a hidden folder"
    if moment == "between-renames":
        assert not out.exists()  # the one moment the fallback has: the next write puts it back
    else:
        assert results(out) == results_before  # the swap is one step: the new result is in place
    with claim(out, "run") as claimed:  # what the next write into the folder does first
        assert claimed.notes
    assert results(out) == results_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


def test_leftovers_of_killed_builds_are_removed_with_a_note(tmp_path, tiny_result):
    out = tmp_path / "res"
    for name in (".res.tmp-abc123", ".res.k3j4h5g6"):  # this version's and the earlier versions' names
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.parquet").write_bytes(b"half")
    (tmp_path / ".res.notours").mkdir()
    (tmp_path / ".res.notours" / "diary.txt").write_text("mine")
    with claim(out, "run") as claimed:
        assert any("removed 2 unfinished" in n for n in claimed.notes)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".res.notours"]


def test_write_bytes_atomic_never_writes_through_a_planted_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    (tmp_path / ".report.html.tmp").symlink_to(victim)
    write_bytes_atomic(tmp_path / "report.html", b"<html>")
    assert victim.read_text() == "untouched" and (tmp_path / "report.html").read_bytes() == b"<html>"


def test_a_planted_tmp_link_in_a_sweep_folder_is_refused(tmp_path):
    from sim.storage.store import replace_atomically

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder = tmp_path / "sweep"
    folder.mkdir()
    (folder / ".tmp").symlink_to(elsewhere)
    with pytest.raises(OSError, match="symbolic link"):
        replace_atomically(folder, folder / "design.parquet", lambda tmp: tmp.write_text("x"))
    assert list(elsewhere.iterdir()) == []


def test_check_replaceable_accepts_empty_and_missing_folders(tmp_path):
    check_replaceable(tmp_path / "missing", "run")
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty", "run")


# ------------------------------------------------ found by the adversarial pass (each failed before)


def test_sweep_refuses_an_empty_out(tmp_path):
    from sweep_helpers import write_sweep

    path = write_sweep(tmp_path)
    work = tmp_path / "empty"
    work.mkdir()
    done = cli("sweep", str(path), "--serial", "--quiet", "--out", "", cwd=work)
    assert done.returncode == 2 and "--out: empty path" in done.stderr
    assert list(work.iterdir()) == []


def test_a_manifest_kind_that_is_not_text_is_one_line(tmp_path, tiny_result):
    import json

    out = write_run(tiny_result, tmp_path / "m", figures=False)
    manifest = json.loads((out / "manifest.json").read_text())
    for kind in ([1], {"a": 1}):
        (out / "manifest.json").write_text(json.dumps(manifest | {"kind": kind}))
        for args in (("report", str(out)), ("export", str(out), "--csv")):
            done = cli(*args)
            assert done.returncode == 2 and done.stderr.count("\n") == 1 and "kind" in done.stderr, done.stderr


def test_counts_past_a_billion_are_refused_before_a_run():
    done = cli("validate", str(EXCHANGE), "--set", "policy.programs.0.quota.min_count=9223372036854775807")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "min_count" in done.stderr


def test_export_and_resume_never_remove_a_users_tmp_folder(tmp_path, tiny_result):
    from sweep_helpers import write_sweep

    from sim.experiments.run import sweep

    out = write_run(tiny_result, tmp_path / "r", figures=False)
    (out / "csv" / ".tmp").mkdir(parents=True)
    (out / "csv" / ".tmp" / "notes.txt").write_text("mine")
    assert cli("export", str(out), "--csv").returncode == 0
    assert (out / "csv" / ".tmp" / "notes.txt").read_text() == "mine"
    path = write_sweep(tmp_path)
    sweep(path, tmp_path / "sw", serial=True)
    (tmp_path / "sw" / ".tmp").mkdir(exist_ok=True)
    (tmp_path / "sw" / ".tmp" / "mine.txt").write_text("mine")
    sweep(path, tmp_path / "sw", serial=True, resume=True)
    assert (tmp_path / "sw" / ".tmp" / "mine.txt").read_text() == "mine"


def test_usage_errors_are_one_line():
    for args in (("run", str(EXCHANGE), "--years", "true"), ("bogus",), ("export",)):
        done = cli(*args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--help" in done.stderr, done.stderr


def test_a_setting_added_since_a_run_was_written_is_not_a_different_scenario(tmp_path, tiny_result):
    import json

    out = write_run(tiny_result, tmp_path / "r", figures=False)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["scenario"]["careers"]["cadres"]  # as written by a teachersim without the cadre pipeline
    (out / "manifest.json").write_text(json.dumps(manifest))
    check_replaceable(out, "run", tiny_result.scenario.model_dump(mode="json"))
    manifest["scenario"]["careers"]["drift_rate"] = 0.5  # a setting it had, changed: still refused
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(OutputRefused, match="careers.drift_rate"):
        check_replaceable(out, "run", tiny_result.scenario.model_dump(mode="json"))


def test_a_report_or_export_replaced_with_its_run_only_as_teachersim_wrote_it(tmp_path, tiny_result):
    """A re-run deleted a user's report.md, an edited csv/metrics.csv and a report.html without a
    word: report and export files are the run's to replace only as the tool wrote them."""
    from sim.present.reports import write_report
    from sim.storage.export import export_csv, export_xlsx

    out = write_run(tiny_result, tmp_path / "r", figures=False)
    write_report(out)
    export_csv(out)
    export_xlsx(out)
    write_run(tiny_result, out, figures=False)  # all as written: replaced with the run
    assert not (out / "report.html").exists() and not (out / "csv").exists() and not (out / "export.xlsx").exists()

    export_csv(out)
    with open(out / "csv" / "metrics.csv", "a", encoding="utf-8") as f:
        f.write('"my note"\n')
    edited = (out / "csv" / "metrics.csv").read_bytes()
    with pytest.raises(OutputRefused, match=r"holds csv/metrics.csv, which teachersim did not write \(or which was "
                                            r"changed since\)"):
        write_run(tiny_result, out, figures=False)
    assert (out / "csv" / "metrics.csv").read_bytes() == edited

    export_csv(out)  # written again by the tool: its own once more
    (out / "report.md").write_text("my own notes")  # a DERIVED name the run command never writes here
    done = run_into(out)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "report.md" in done.stderr, done.stderr
    assert (out / "report.md").read_text() == "my own notes"


def test_a_report_written_elsewhere_or_a_bad_record_protects_the_users_files(tmp_path, tiny_result):
    from sim.present.reports import write_report
    from sim.storage.folders import DERIVED_RECORD, derived_record

    out = write_run(tiny_result, tmp_path / "r", figures=False)
    write_report(out, tmp_path / "elsewhere.html")  # not in the folder: nothing noted there
    assert derived_record(out) == {} and not (out / DERIVED_RECORD).exists()
    (out / "report.html").write_text("<p>mine</p>")
    with pytest.raises(OutputRefused, match="report.html"):
        write_run(tiny_result, out, figures=False)
    write_report(out)
    assert set(derived_record(out)) == {"report.html"}
    for bad in ("[1]", "{not json", '{"report.html": 5}'):
        (out / DERIVED_RECORD).write_text(bad)  # a record that cannot be read notes nothing
        with pytest.raises(OutputRefused, match="report.html"):
            write_run(tiny_result, out, figures=False)
    assert (out / "report.html").exists()
