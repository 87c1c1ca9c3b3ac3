"""Security: YAML read safely, no pickle in results, no eval of user text, output names that cannot
leave the results folder, and Dask clusters the tool starts listening on 127.0.0.1 only."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "sim"
SOURCES = sorted(PACKAGE.rglob("*.py"))
BASE = REPO / "scenarios" / "_base.yaml"
TINY = ["world.schools_per_district=8", "world.teachers_per_school=8"]
UNSAFE = ("yaml.Loader", "yaml.FullLoader", "yaml.UnsafeLoader", "yaml.CLoader", "yaml.CFullLoader",
          "yaml.CUnsafeLoader", "yaml.unsafe_load", "yaml.full_load", "yaml.load_all", "yaml.unsafe_load_all")


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=env, check=False)


def calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return "?"


# ------------------------------------------------------------------------------------ YAML


def _enclosing_functions(tree: ast.AST) -> dict[ast.AST, str]:
    """Each call node -> the name of the function it is in ("" at module level)."""
    where = {}
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.Call):
                    where.setdefault(node, fn.name)
    return where


def test_the_package_reads_yaml_only_with_the_safe_loader():
    """Every yaml call in sim/ is safe_load, safe_dump, or compose or parse with yaml.SafeLoader
    (which build nodes or events, never Python objects); no full_load, unsafe_load or other Loader.
    The one reader that picks libyaml's twin of the safe loader, `_checked_load` in the scenario
    module, is given only `FAST_LOADER` (yaml.CSafeLoader, or yaml.SafeLoader without libyaml) or
    yaml.SafeLoader, and uses that loader and nothing else."""
    import sim.config.scenario as scenario_module

    assert scenario_module.FAST_LOADER in (yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    allowed = {"yaml.safe_load", "yaml.safe_dump"}
    seen = set()
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inside = _enclosing_functions(tree)
        for call in calls(tree):
            name = dotted(call.func)
            in_reader = path.name == "scenario.py" and inside.get(call) == "_checked_load"
            if name == "_checked_load":
                assert dotted(call.args[2]) in ("FAST_LOADER", "yaml.SafeLoader"), f"{path}:{call.lineno}"
            if not name.startswith("yaml."):
                continue
            seen.add(name)
            loader = {k.arg: dotted(k.value) for k in call.keywords}.get("Loader")
            if name in ("yaml.compose", "yaml.parse"):
                assert loader == "yaml.SafeLoader" or (in_reader and loader == "loader"), \
                    f"{path}:{call.lineno}: {name} with Loader={loader}"
            elif name == "yaml.load":
                assert in_reader and loader == "loader", f"{path}:{call.lineno}: {name} with Loader={loader}"
            else:
                assert name in allowed, f"{path}:{call.lineno}: {name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and dotted(node) in UNSAFE:
                raise AssertionError(f"{path}:{node.lineno}: {dotted(node)}")
    assert {"yaml.load", "yaml.parse", "yaml.compose"} <= seen  # the scan found the package's YAML reading


@pytest.mark.parametrize("where", ["scenario", "base", "sweep", "set"])
def test_a_python_tag_is_refused_and_never_run(tmp_path, where):
    marker = tmp_path / "pwned"
    payload = f"!!python/object/apply:os.system ['touch {marker}']"
    scenario = tmp_path / "s.yaml"
    if where == "scenario":
        scenario.write_text(f"extends: {BASE}\nname: s\ndescription: {payload}\n", encoding="utf-8")
        done = cli("validate", str(scenario))
    elif where == "base":
        (tmp_path / "b.yaml").write_text(f"extends: {BASE}\ndescription: {payload}\n", encoding="utf-8")
        scenario.write_text("extends: b.yaml\nname: s\n", encoding="utf-8")
        done = cli("validate", str(scenario))
    elif where == "sweep":
        sweep = tmp_path / "w.yaml"
        sweep.write_text(f"name: w\nbases: [{BASE}]\noutcomes: [cv_quality]\ndescription: {payload}\n",
                         encoding="utf-8")
        done = cli("sweep", str(sweep), "--out", str(tmp_path / "out"), "--serial", "--quiet")
    else:
        done = cli("validate", str(BASE), "--set", f"description={payload}")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert "python/object/apply:os.system" in done.stderr
    assert not marker.exists(), "the tag was constructed"
    assert not (tmp_path / "out").exists()


def test_user_text_is_never_evaluated(tmp_path):
    """Python in a value is a string, whatever its shape, in a file, in --set and in a sweep value."""
    marker = tmp_path / "pwned"
    code = f"__import__('os').system('touch {marker}')"
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"extends: {BASE}\nname: s\ndescription: \"{code}\"\n", encoding="utf-8")
    done = cli("validate", str(scenario), "--set", f"policy.programs=[{{name: x, eligibility: {{districts: "
               f"[\"{code}\"]}}}}]")
    assert done.returncode == 2 and "has no schools in this world" in done.stderr, done.stderr
    done = cli("validate", str(scenario))
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["description"] == code
    assert not marker.exists()


# the one module allowed a pickle: the local process pool's wire, tasks this process sends its own
# worker processes (as Dask pickles tasks on its wire, with cloudpickle); no file is read with it
WIRE = {"sim/experiments/executors.py": {"pickle", "cloudpickle"}}


def test_the_package_has_no_pickle_eval_or_exec():
    """No pickle-like module is imported (but on the process pool's wire, `WIRE`) and eval, exec,
    compile and __import__ are never called (results and manifests never hold a pickle)."""
    for path in SOURCES:
        banned_modules = {"pickle", "cPickle", "cloudpickle", "dill", "marshal", "shelve", "joblib"}
        banned_modules -= WIRE.get(path.relative_to(REPO).as_posix(), set())
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                names = set()
            assert not names & banned_modules, f"{path}:{node.lineno}: imports {names & banned_modules}"
        for call in calls(tree):
            assert dotted(call.func) not in ("eval", "exec", "compile", "__import__", "builtins.eval"), \
                f"{path}:{call.lineno}: {dotted(call.func)}"
            assert not dotted(call.func).endswith(("read_pickle", "to_pickle")), f"{path}:{call.lineno}"


def classify(path: Path) -> str:
    data = path.read_bytes()
    if data[:4] == b"PAR1" and data[-4:] == b"PAR1":
        return "parquet"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    assert data[:1] != b"\x80", f"{path}: starts like a pickle"
    text = data.decode("utf-8")  # anything else must be text
    if path.suffix == ".json":
        json.loads(text)
        return "json"
    assert path.suffix in (".md", ".csv", ".sha256"), path  # .sha256: a sweep run file's checksum
    return "text"


def test_written_results_hold_no_pickle(tmp_path):
    """Every file a run (with figures), a comparison and a sweep write is Parquet, PNG, JSON or
    text, and the Parquet files' pandas metadata is plain JSON (no pickled objects)."""
    import pyarrow.parquet as pq

    import sim
    from sim.present.outputs import write_comparison, write_run

    base = REPO / "tests" / "bad_inputs" / "sweeps" / "base_ok.yaml"
    write_run(sim.run(sim.load_scenario(base, TINY), years=1), tmp_path / "run")
    cmp = sim.compare([REPO / "scenarios" / "baseline_drift.yaml", base], reps=2, years=1, overrides=tuple(TINY))
    write_comparison(cmp, tmp_path / "cmp")
    sim.sweep(REPO / "tests" / "bad_inputs" / "sweeps" / "ok.yaml", tmp_path / "sw", serial=True)
    kinds = {}
    for path in sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".lock"):
        kind = classify(path)
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "parquet":
            meta = pq.read_schema(path).metadata or {}
            if b"pandas" in meta:
                json.loads(meta[b"pandas"])
    assert {"parquet", "png", "json", "text"} <= set(kinds), kinds


# ----------------------------------------------------------------------------- output names


@pytest.mark.parametrize("name", ["..", ".", "../x", "x/../../y", "/abs", ".hidden", "a\\b", ""])
def test_names_that_could_leave_the_results_folder_are_refused(name):
    from sim.config.designs import SweepSpec
    from sim.config.scenario import ScenarioError, scenario_from_dict

    with pytest.raises(ScenarioError, match="name"):
        scenario_from_dict({"name": name})
    with pytest.raises(ValueError):
        SweepSpec(name=name, bases=["x.yaml"], outcomes=["cv_quality"])
    with pytest.raises(ScenarioError, match="name"):
        scenario_from_dict({"policy": {"programs": [{"name": name}]}})


def test_accepted_names_stay_inside_the_results_folder():
    """What the patterns accept is always one plain folder name under results/."""
    from sim.config.scenario import scenario_from_dict

    results = (REPO / "results").resolve()
    for name in ("dongcheng_2021", "a.b", "x..y", "v1.2-final", "-x", "_"):
        sc = scenario_from_dict({"name": name})
        out = (results / sc.name).resolve()
        assert out.parent == results and out.name == name


def test_a_dot_name_does_not_write_into_the_results_folder_itself(tmp_path):
    """`name: .` once made results/. the output folder: the results folder would have been moved
    aside and deleted. The command must refuse it without touching the current folder."""
    scenario = tmp_path / "dot.yaml"
    scenario.write_text(f"extends: {BASE}\nname: '.'\n", encoding="utf-8")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "keep.txt").write_text("finished work", encoding="utf-8")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-m", "sim", "run", str(scenario), "--quiet", "--no-figures"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 2, done.stderr
    assert "name: String should match pattern" in done.stderr
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["keep.txt"]


# ------------------------------------------------------------------------------------- Dask


def test_a_local_dask_cluster_listens_on_loopback_only(tmp_path):
    """A tiny sweep on the local cluster the tool starts: the scheduler, every worker and every
    listening socket of this process and its children are on 127.0.0.1, and no dashboard runs."""
    import psutil

    import sim
    from sim.experiments.executors import Dask

    seen = {}

    class Spy(Dask):
        def map_unordered(self, fn, items):
            info = self.client.scheduler_info()
            seen["scheduler"] = self.client.scheduler.address
            seen["workers"] = list(info["workers"])
            seen["dashboard"] = self.cluster.dashboard_link if hasattr(self.cluster, "dashboard_link") else None
            me = psutil.Process()
            seen["listening"] = [
                (p.pid, c.laddr.ip, c.laddr.port)
                for p in [me, *me.children(recursive=True)]
                for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
            yield from super().map_unordered(fn, items)

    summary = sim.sweep(REPO / "tests" / "bad_inputs" / "sweeps" / "ok.yaml", tmp_path / "out",
                        executor=Spy(workers=1))
    assert summary.done == summary.total == 6
    loopback = ("tcp://127.0.0.1:", "tls://127.0.0.1:")  # TLS where the tool starts the cluster (issue 13 item 10)
    assert seen["scheduler"].startswith(loopback), seen
    assert seen["workers"] and all(w.startswith(loopback) for w in seen["workers"]), seen
    assert seen["listening"], "found no listening socket at all: the check would be vacuous"
    assert all(ip == "127.0.0.1" for _, ip, _ in seen["listening"]), seen["listening"]
    assert not seen["dashboard"] or "127.0.0.1" in seen["dashboard"], seen["dashboard"]


# ------------------------------------------- bounded reads and YAML guards everywhere (issue 13)

# 10 x 10 x ... : a million values from a one-line string (the guard refuses more than 100,000)
BOMB = "[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], " \
       "&d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d], &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]]"
DEEP = "[" * 20_000 + "]" * 20_000


GUARDED = [(where, "deep", DEEP, "nested more than 50 levels deep")
           for where in ("file", "base", "set", "sweep file", "sweep set")]
GUARDED += [(where, "bomb", BOMB, "expands to more than 100,000 values") for where in ("set", "sweep set")]


@pytest.mark.parametrize("where, what, text, problem", GUARDED, ids=[f"{g[0]}-{g[1]}" for g in GUARDED])
def test_the_yaml_guards_apply_to_every_yaml_string(tmp_path, where, what, text, problem):
    """A 20,000-deep document is refused in one line wherever YAML is read (a scenario file, its
    base, a --set value, a sweep file, an item of a sweep's set: list), and so is an alias bomb in
    the two places the file guard did not cover (--set took 2 GB; the deep file a RecursionError)."""
    from sim.config.designs import SweepError, load_sweep
    from sim.config.scenario import ScenarioError, load_scenario

    scenario = tmp_path / "s.yaml"
    sweep = tmp_path / "w.yaml"
    scenario.write_text(f"extends: {BASE}\nname: s\n", encoding="utf-8")
    overrides = []
    if where == "file":
        scenario.write_text(f"extends: {BASE}\nname: s\ndescription: {text}\n", encoding="utf-8")
    elif where == "base":
        (tmp_path / "b.yaml").write_text(f"extends: {BASE}\ndescription: {text}\n", encoding="utf-8")
        scenario.write_text("extends: b.yaml\nname: s\n", encoding="utf-8")
    elif where == "set":
        overrides = [f"description={text}"]
    body = {"name": "w", "bases": [str(scenario)], "outcomes": ["cv_quality"],
            "parameters": {"careers.drift_rate": {"values": [0.01]}}}
    if where == "sweep set":
        body["set"] = [f"description={text}"]
    sweep.write_text(json.dumps(body) if where != "sweep file" else
                     json.dumps(body)[:-1] + f', "description": {text}}}', encoding="utf-8")
    with pytest.raises((ScenarioError, SweepError)) as err:
        if where.startswith("sweep"):
            load_sweep(sweep)
        else:
            load_scenario(scenario, overrides)
    assert problem in str(err.value) and "\n" not in str(err.value)


def test_a_long_extends_chain_is_one_line(tmp_path):
    """1,200 files each extending the next: a RecursionError traceback before (issue 13 item 11)."""
    (tmp_path / "f1200.yaml").write_text(f"extends: {BASE}\n", encoding="utf-8")
    for i in range(1200):
        (tmp_path / f"f{i}.yaml").write_text(f"extends: f{i + 1}.yaml\n", encoding="utf-8")
    done = cli("validate", str(tmp_path / "f0.yaml"))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines() == [f"teachersim: {tmp_path / 'f29.yaml'}: extends: a chain of more than 30 "
                                        "files; refused"]


@pytest.mark.parametrize("where", ["scenario", "base", "sweep"])
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path, where):
    """Only regular files are read: a FIFO is refused at once (reading one waits forever)."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    target = fifo
    if where == "base":
        target = tmp_path / "s.yaml"
        target.write_text("extends: pipe.yaml\nname: s\n", encoding="utf-8")
    args = ["sweep", str(target), "--dry-run"] if where == "sweep" else ["validate", str(target)]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-m", "sim", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env=env, check=False)
    assert done.returncode == 2, done.stderr
    expected = (f"{target}: extends: base file 'pipe.yaml' is not a regular file" if where == "base"
                else f"{fifo}: is a device, FIFO or socket, not a regular file")
    assert done.stderr.splitlines() == [f"teachersim: {expected}"]


def test_a_scenario_file_over_the_size_limit_is_refused(tmp_path):
    """A scenario or sweep file is a few kilobytes; more than 1,000,000 bytes is refused unread."""
    from sim.config.designs import SweepError, load_sweep
    from sim.config.scenario import ScenarioError, load_scenario

    big = tmp_path / "big.yaml"
    big.write_text(f"extends: {BASE}\nname: big\n" + "# padding\n" * 110_000, encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"big.yaml: larger than 1,000,000 bytes; refused"):
        load_scenario(big)
    with pytest.raises(SweepError, match=r"big.yaml: larger than 1,000,000 bytes; refused"):
        load_sweep(big)
    with pytest.raises(ScenarioError, match=r"--set description: larger than 1,000,000 characters"):
        load_scenario(BASE, ["description=" + "x" * 1_000_001])
