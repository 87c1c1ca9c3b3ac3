"""Shipped scenarios: listed, run by name and copied from any folder, and inside the built wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from sim.config.examples import SCENARIOS, find_scenario, scenario_files

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_scenarios_are_listed_outside_the_checkout(tmp_path):
    done = cli("scenarios", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    names = [line.split()[0] for line in done.stdout.splitlines()[1:]]
    assert {"dongcheng_2021", "beijing_2022_citywide", "rosters/example/roster_example"} <= set(names)
    assert not any(n.startswith("_") for n in names)


def test_a_shipped_scenario_runs_by_name_from_another_folder(tmp_path):
    done = cli("run", "dongcheng_2021", "--years", "1", "--reps", "1", "--no-figures", "--quiet",
               "--set", "world.scale=0.1", "--out", "dc", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "dc" / "metrics.parquet").is_file()


def test_a_file_path_wins_over_a_name_and_unknown_names_stay_errors(tmp_path):
    (tmp_path / "dongcheng_2021").write_text("not yaml: [")
    assert find_scenario(str(tmp_path / "dongcheng_2021")) == str(tmp_path / "dongcheng_2021")
    assert find_scenario("roster_example") == str(SCENARIOS / "rosters" / "example" / "roster_example.yaml")
    done = cli("run", "no_such_scenario", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no_such_scenario" in done.stderr


def test_init_copies_the_examples_and_never_overwrites(tmp_path):
    done = cli("init", "work", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    copied = scenario_files(tmp_path / "work" / "scenarios")
    assert set(copied) == set(scenario_files())
    assert (tmp_path / "work" / "scenarios" / "_base.yaml").is_file()
    assert (tmp_path / "work" / "sweeps" / "dongcheng_quota_grid.yaml").is_file()
    (tmp_path / "work" / "scenarios" / "dongcheng_2021.yaml").write_text("# my edits\n")
    again = cli("init", "work", cwd=tmp_path)
    assert again.returncode == 2 and "not an empty folder" in again.stderr
    assert (tmp_path / "work" / "scenarios" / "dongcheng_2021.yaml").read_text() == "# my edits\n"
    listed = cli("scenarios", cwd=tmp_path / "work")  # ./scenarios is listed where there is one
    assert listed.returncode == 0 and listed.stdout.startswith("# scenarios")


def test_the_wheel_carries_the_scenarios_and_sweeps(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    wheel = next(tmp_path.glob("teachersim-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in scenario_files():
        assert f"sim/data/scenarios/{name}.yaml" in names
    assert "sim/data/scenarios/_base.yaml" in names
    assert "sim/data/scenarios/rosters/example/teachers.csv" in names
    assert "sim/data/sweeps/dongcheng_sobol.yaml" in names


def test_listing_a_folder_never_hangs_or_expands_a_bomb(tmp_path):
    import os

    (tmp_path / "fine.yaml").write_text("description: A fine scenario.\n")
    os.mkfifo(tmp_path / "pipe.yaml")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    (tmp_path / "bomb.yaml").write_text(bomb + "description: never shown\n")
    done = subprocess.run([sys.executable, "-m", "sim", "scenarios", str(tmp_path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()[1:]
    assert [line.split()[0] for line in lines] == ["bomb", "fine"]  # the FIFO is not a file to list
    assert "never shown" not in done.stdout and "A fine scenario." in done.stdout
