"""The `teachersim` command: run, validate, scenarios; exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO

FAST = ("--quiet", "--no-figures", "--set", "world.scale=0.3")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "sim", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env, check=False)


def assert_one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])
    return lines[0]


def bad_scenario(folder: Path) -> Path:
    path = folder / "typo.yaml"
    path.write_text(f"extends: {REPO / 'scenarios' / '_base.yaml'}\nname: typo\n"
                    "policy:\n  programs:\n    - name: a\n      quota:\n        bogus: 1\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------ run


def test_run_writes_results(tmp_path):
    out = tmp_path / "dc"
    done = cli("run", "scenarios/dongcheng_2021.yaml", "--years", "2", "--out", out, *FAST)
    assert done.returncode == 0, done.stderr
    for name in ("metrics.parquet", "schools.parquet", "moves.parquet", "manifest.json", "summary.md"):
        assert (out / name).is_file(), name
    assert not (out / "figures").exists()
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert list(metrics.columns) == ["scenario", "replicate", "seed", "year", "metric", "subgroup", "value"]
    assert sorted(metrics["year"].unique()) == [0, 1, 2]
    rot = metrics[(metrics["metric"] == "rotations") & (metrics["year"] == 1)]["value"]
    assert rot.iloc[0] > 0
    schools = pd.read_parquet(out / "schools.parquet")
    assert len(schools) == 3 * schools["school"].nunique()
    assert schools["school"].nunique() == round(79 * 0.3)  # world.scale applied
    moves = pd.read_parquet(out / "moves.parquet")
    assert "rotation" in set(moves["kind"].astype(str))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["scenario"]["world"]["scale"] == 0.3
    assert manifest["scenario"]["run"]["years"] == 2
    assert "dongcheng_2021" in (out / "summary.md").read_text(encoding="utf-8")
    assert str(out) in done.stdout


def test_run_with_figures(tmp_path):
    out = tmp_path / "fig"
    done = cli("run", "scenarios/dongcheng_2021.yaml", "--years", "1", "--out", out, "--quiet",
               "--set", "world.scale=0.3")
    assert done.returncode == 0, done.stderr
    for name in ("cv_trajectories.png", "rotation_activity.png"):
        path = out / "figures" / name
        assert path.is_file()
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert path.stat().st_size > 5_000
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert "figures/cv_trajectories.png" in manifest["files"]


def test_bad_scenario_is_one_line_exit_2_and_writes_nothing(tmp_path):
    path = bad_scenario(tmp_path)
    out = tmp_path / "new" / "out"
    done = cli("run", path, "--out", out, *FAST)
    assert_one_line_error(done, str(path.resolve()), "policy.programs.0.quota.bogus", "unknown key")
    assert not out.exists()
    assert not out.parent.exists()
    assert done.stdout == ""


def test_bad_set_override_is_one_line_exit_2(tmp_path):
    out = tmp_path / "o"
    done = cli("run", "scenarios/dongcheng_2021.yaml", "--out", out, "--quiet", "--set", "careers.drift_rate=7")
    assert_one_line_error(done, "careers.drift_rate")
    assert not out.exists()


def test_missing_scenario_file_is_exit_2(tmp_path):
    done = cli("run", tmp_path / "nope.yaml", "--out", tmp_path / "o", "--quiet")
    assert_one_line_error(done, "nope.yaml", "not found")


@pytest.mark.parametrize("args, fragment", [
    (("--seed", "-1"), "seed"),
    (("--years", "500"), "years"),
    (("--years", "0"), "years"),
    (("--reps", "0"), "reps"),
])
def test_out_of_range_run_options_are_exit_2(tmp_path, args, fragment):
    out = tmp_path / "o"
    done = cli("run", "scenarios/dongcheng_2021.yaml", *args, "--out", out, *FAST)
    assert_one_line_error(done, fragment)
    assert not out.exists()


def test_output_path_that_is_a_file_is_exit_2(tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder", encoding="utf-8")
    done = cli("run", "scenarios/dongcheng_2021.yaml", "--years", "1", "--out", target, *FAST)
    assert_one_line_error(done, str(target))
    assert target.read_text(encoding="utf-8") == "not a folder"


def test_output_under_a_file_is_exit_2(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x", encoding="utf-8")
    done = cli("run", "scenarios/dongcheng_2021.yaml", "--years", "1", "--out", blocker / "sub" / "out", *FAST)
    assert_one_line_error(done, "--out")
    assert blocker.read_text(encoding="utf-8") == "x"


def test_bad_roster_is_one_line_exit_2(tmp_path):
    roster = REPO / "tests" / "data" / "roster"
    teachers = (roster / "teachers.csv").read_text(encoding="utf-8").replace("T3,B,29", "T3,B,300")
    (tmp_path / "teachers.csv").write_text(teachers, encoding="utf-8")
    sc = tmp_path / "r.yaml"
    sc.write_text("name: r\nworld:\n  preset: roster\n  roster:\n"
                  f"    schools_csv: {roster / 'schools.csv'}\n    teachers_csv: teachers.csv\n", encoding="utf-8")
    out = tmp_path / "o"
    done = cli("run", sc, "--years", "1", "--out", out, "--quiet", "--no-figures")
    assert_one_line_error(done, str(tmp_path / "teachers.csv"), "line 4", "age")
    assert not out.exists()


# ------------------------------------------------------------------------------- validate


def test_validate_prints_resolved_yaml():
    done = cli("validate", "scenarios/dongcheng_2021.yaml", "--set", "run.years=4")
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(done.stdout)
    assert data["name"] == "dongcheng_2021"
    assert data["run"] == {"years": 4, "replicates": 1, "seed": 20210901}
    assert data["world"]["preset"] == "dongcheng"  # from _base.yaml
    assert data["careers"]["retirement"]["women_age"] == 55  # a schema default, spelled out
    programs = {p["name"]: p for p in data["policy"]["programs"]}
    assert programs["district_exchange"]["quota"]["min_count"] == 2000
    assert "source_dir" not in data


def test_validate_bad_scenario_is_exit_2(tmp_path):
    path = bad_scenario(tmp_path)
    done = cli("validate", path)
    assert_one_line_error(done, str(path.resolve()), "policy.programs.0.quota.bogus")
    assert done.stdout == ""


def test_validate_refuses_a_world_above_max_teachers():
    done = cli("validate", "scenarios/dongcheng_2021.yaml", "--set", "world.max_teachers=1000")
    assert_one_line_error(done, "max_teachers")


# ------------------------------------------------------------------------------ scenarios


def test_scenarios_lists_the_reference_scenarios():
    done = cli("scenarios")
    assert done.returncode == 0, done.stderr
    names = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    assert "baseline_drift" in names and "dongcheng_2021" in names
    assert "_base" not in names
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("dongcheng_2021"))
    assert "Dongcheng 2021 plan" in line


def test_scenarios_in_an_empty_folder_is_exit_2(tmp_path):
    assert_one_line_error(cli("scenarios", tmp_path), str(tmp_path))


def test_console_script_lists_scenarios():
    script = Path(sysconfig.get_path("scripts")) / "teachersim"
    assert script.is_file(), f"{script} missing: install the package (pip install -e .)"
    done = subprocess.run([str(script), "scenarios"], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "baseline_drift" in done.stdout and "dongcheng_2021" in done.stdout
