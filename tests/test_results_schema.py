"""The files a run, a comparison, a sweep, a calibration and a policy search write are what
results/README.md documents, read back with pyarrow and with DuckDB SQL typed without quotes (but
for the dotted parameter names the document says need them); folders of schema version 1
(tests/data/schema_v1/, written by the earlier code) still read, report and export."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sim
from sim.config.designs import column_names
from sim.present.outputs import write_comparison, write_run
from sim.storage.export import export_csv, export_xlsx
from sim.storage.store import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "tests" / "data" / "schema_v1_base.yaml"
V1 = REPO / "tests" / "data" / "schema_v1"
DOC = REPO / "results" / "README.md"
TYPES = {"string": "string", "category": "category", "int64": "int64", "float64": "float64", "bool": "bool"}


def documented() -> dict[str, list[tuple[str, set[str]]]]:
    """File -> [(column, allowed types)] from the tables under results/README.md's Schema section."""
    text = DOC.read_text(encoding="utf-8").split("## Schema", 1)[1]
    found = {}
    for block in re.split(r"^### ", text, flags=re.M)[1:]:
        name = re.match(r"`([^`]+)`", block)[1]
        rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \|", block, flags=re.M)
        found[name] = [(col, {t.strip() for t in re.split(r",| or ", kind) if t.strip()}) for col, kind in rows]
    return found


def kind_of(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        return "category" if pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type) else str(t)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    return {pa.int64(): "int64", pa.float64(): "float64", pa.bool_(): "bool"}.get(t, str(t))


PLAIN = re.compile(r"[a-z_][a-z0-9_]*")


def expected_columns(spec, names: dict[str, list[str]], absent=()) -> list[tuple[str, set[str]]]:
    """The documented columns with each `<placeholder>` replaced by its values in `names`; a run of
    rows that begin the same before it is repeated per value (objective_0, objective_0_low,
    objective_1, ...; but all of `<parameter>` before all of `raw_<parameter>`)."""
    def group(col):
        m = re.search(r"<[a-z]+>", col)
        return (col[:m.start()], m[0]) if m else None

    want, rows, i = [], [(col, kinds) for col, kinds in spec if col not in absent], 0
    while i < len(rows):
        key = group(rows[i][0])
        if key is None:
            want.append(rows[i])
            i += 1
            continue
        end = next((k for k in range(i, len(rows)) if group(rows[k][0]) != key), len(rows))
        for value in names[key[1]]:
            want += [(col.replace(key[1], value), kinds) for col, kinds in rows[i:end]]
        i = end
    return want


def check_against_doc(path: Path, doc_name: str, parameters: list[str] = (), names: dict | None = None,
                      absent=()) -> None:
    spec = documented()[doc_name]
    schema = pq.read_schema(path)
    assert schema.metadata[b"teachersim_schema_version"] == str(SCHEMA_VERSION).encode()
    want = expected_columns(spec, {"<parameter>": list(parameters), **(names or {})}, absent)
    assert [n for n, _ in want] == schema.names, f"{path.name}: columns differ from results/README.md"
    for (name, kinds), field in zip(want, schema, strict=True):
        assert kinds <= set(TYPES), f"results/README.md: {doc_name}: {name}: unknown type {kinds}"
        assert kind_of(field.type) in kinds, f"{path.name}: {name} is {field.type}, documented {kinds}"
    # the same columns, typed in SQL without quotes (only the documented dotted names are quoted)
    keywords = {k for (k,) in duckdb.sql("select keyword_name from duckdb_keywords() "
                                         "where keyword_category = 'reserved'").fetchall()}
    assert not keywords & {n.lower() for n in schema.names}
    fixed = [col for col, _ in spec if "<" not in col]
    assert all(PLAIN.fullmatch(col) for col in fixed), f"results/README.md: {doc_name}: a column needs quotes"
    columns = ", ".join(n if PLAIN.fullmatch(n) else f'"{n}"' for n in schema.names)
    got = duckdb.sql(f"select {columns} from read_parquet('{path}')").fetchall()
    assert len(got) == pq.read_metadata(path).num_rows > 0


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    out = tmp_path_factory.mktemp("schema")
    overrides = ["world.schools_per_district=6", "world.teachers_per_school=10"]
    run = write_run(sim.run(sim.load_scenario(BASE), years=2, reps=1), out / "run", figures=False)
    cmp = sim.compare([REPO / "scenarios" / "baseline_drift.yaml", BASE], reps=2, years=2, overrides=tuple(overrides),
                      outcomes=["cv_quality:all", "cv_backbone"])
    compare = write_comparison(cmp, out / "compare", figures=False)
    sweep_file = out / "sweep.yaml"
    sweep_file.write_text((V1 / "sweep.yaml").read_text().replace("../schema_v1_base.yaml", str(BASE)))
    sim.sweep(sweep_file, out / "sweep", serial=True)
    return {"run": run, "compare": compare, "sweep": out / "sweep"}


def test_every_column_of_a_run_is_documented_and_reads_in_sql(folders):
    for name in ("metrics", "schools", "moves"):
        check_against_doc(folders["run"] / f"{name}.parquet", f"{name}.parquet")


def test_every_column_of_a_comparison_is_documented_and_reads_in_sql(folders):
    check_against_doc(folders["compare"] / "metrics.parquet", "metrics.parquet")
    check_against_doc(folders["compare"] / "trajectories.parquet", "trajectories.parquet")


def test_a_sweeps_run_files_carry_their_parameters_under_plain_names(folders):
    folder = folders["sweep"]
    params = list(column_names(["policy.programs.0.quota.min_count", "careers.drift_rate"]).values())
    assert params == ["quota_min_count", "careers_drift_rate"]
    for path in sorted((folder / "runs").glob("*.parquet")):
        check_against_doc(path, "runs/<run>.parquet", params)
    check_against_doc(folder / "design.parquet", "design.parquet", params)
    # metric by parameter without a join
    rows = duckdb.sql(f"select point, quota_min_count, avg(value) from read_parquet('{folder}/runs/*.parquet') "
                      "where metric = 'rotations' and subgroup = 'all' and year = 2 "
                      "group by all order by point").fetchall()
    design = sim.load_results(folder).design.set_index("point")
    assert [(p, q) for p, q, _ in rows] == [(p, design.loc[p, "quota_min_count"]) for p in design.index]
    meta = pq.read_schema(next((folder / "runs").glob("*.parquet"))).metadata
    assert b'"quota_min_count": "policy.programs.0.quota.min_count"' in meta[b"teachersim_parameters"]


def test_moves_are_labelled_and_the_outside_is_null(folders):
    moves = duckdb.sql(f"select kind, from_school, to_school, title, backbone, program "
                       f"from read_parquet('{folders['run']}/moves.parquet')").df()
    hires, exits = moves[moves["kind"] == "hire"], moves[moves["kind"].isin(["retirement", "attrition"])]
    assert len(hires) and hires["from_school"].isna().all() and hires["to_school"].notna().all()
    assert len(exits) and exits["to_school"].isna().all()
    assert set(moves["title"]) <= {"unranked", "second", "first", "senior", "professor"}
    assert set(moves["backbone"]) <= {"none", "school", "district", "municipal"}
    assert moves.loc[moves["kind"] == "rotation", "program"].notna().all()
    assert moves.loc[moves["kind"] == "hire", "program"].isna().all()


def test_scenario_is_a_string_in_every_file(folders):
    paths = [p for f in folders.values() for p in f.rglob("*.parquet")]
    for path in paths:
        schema = pq.read_schema(path)
        if "scenario" in schema.names:
            assert kind_of(schema.field("scenario").type) == "string", path


@pytest.mark.parametrize("kind", ["run", "compare", "sweep"])
def test_a_schema_1_folder_reads_as_this_version(kind, folders):
    old, new = sim.load_results(V1 / kind), sim.load_results(folders[kind])
    assert old.manifest["schema_version"] == 1
    assert list(old.metrics.columns) == list(new.metrics.columns)
    for name in ("schools", "moves", "trajectories", "design"):
        a, b = getattr(old, name), getattr(new, name)
        if b is not None:
            assert list(a.columns) == list(b.columns), name
            assert [str(t) for t in a.dtypes] == [str(t) for t in b.dtypes], name
    if kind == "compare":
        assert list(old.comparison.columns) == list(new.comparison.columns)
    if kind == "sweep":
        assert old.parameters == new.parameters == {"quota_min_count": "policy.programs.0.quota.min_count",
                                                    "careers_drift_rate": "careers.drift_rate"}


@pytest.mark.parametrize("kind", ["run", "compare", "sweep"])
def test_report_and_export_work_on_a_schema_1_folder(kind, tmp_path):
    from sim.cli import main

    folder = shutil.copytree(V1 / kind, tmp_path / kind)
    assert main(["report", str(folder)]) == 0
    assert (folder / "report.html").is_file()
    assert (export_csv(folder) / "metrics.csv").is_file()
    assert export_xlsx(folder).is_file()


def test_a_schema_1_sweep_is_not_resumed_into(tmp_path):
    from sim.config.designs import SweepError

    folder = shutil.copytree(V1 / "sweep", tmp_path / "sweep")
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text((V1 / "sweep.yaml").read_text().replace("../schema_v1_base.yaml", str(BASE)))
    with pytest.raises(SweepError, match="schema 1.*choose another --out"):
        sim.sweep(sweep_file, folder, serial=True)


def test_a_folder_of_an_unknown_schema_version_is_one_line(tmp_path):
    import json

    from sim.storage.manifests import ResultsError

    folder = shutil.copytree(V1 / "run", tmp_path / "run")
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(manifest | {"schema_version": 99}))
    with pytest.raises(ResultsError, match=r"manifest.json: schema_version 99, expected one of 1, 2") as err:
        sim.load_results(folder)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------ calibration and policy search


@pytest.fixture(scope="module")
def searches(tmp_path_factory):
    """A tiny pareto and ABC calibration and a one-generation policy search (the setups of
    tests/test_calibrate.py and tests/test_optimize.py, cut down)."""
    from test_calibrate import ABC, ATTR, PART, target, write_calibration
    from test_optimize import write_file

    from sim.experiments.calibrate import calibrate
    from sim.experiments.executors import Serial
    from sim.experiments.optimize import optimize

    out = tmp_path_factory.mktemp("searches")
    targets = {"part": target(PART, 0.5, 0.03), "attr": target(ATTR, 0.05, 0.01)}
    folders = {}
    for method, spec in {"pareto": {"method": "pareto", "trials": 4, "batch": 2, "startup_trials": 2},
                         "abc": ABC | {"abc": {"population": 4, "generations": 1, "seed": 3}}}.items():
        (out / method).mkdir()
        folders[method] = out / method / "out"
        calibrate(write_calibration(out / method, targets, **spec), folders[method], executor=Serial())
    folders["search"] = out / "search"
    optimize(write_file(out, replicates=1, search={"generations": 1, "population": 4, "seed": 1}),
             folders["search"], executor=Serial())
    return folders


def test_every_column_of_a_calibration_is_documented(searches):
    from test_calibrate import ATTRITION, SHARE

    # in the files' order (write_calibration's yaml.safe_dump sorts targets and parameters)
    names = {"<target>": ["attr", "part"], "<statistic>": ["attr/published", "part/published"]}
    check_against_doc(searches["pareto"] / "trials.parquet", "trials.parquet", [ATTRITION, SHARE], names)
    check_against_doc(searches["abc"] / "posterior.parquet", "posterior.parquet", [ATTRITION, SHARE], names)
    for method in ("pareto", "abc"):
        check_against_doc(searches[method] / "paths.parquet", "paths.parquet")
    # a parameter column typed with its double quotes, as the document says
    rows = duckdb.sql(f"""select trial, loss, "{SHARE}" from read_parquet('{searches["pareto"]}/trials.parquet')
                          where state = 'COMPLETE' order by trial""").fetchall()
    assert len(rows) == 4 and all(0.05 <= share <= 0.9 for _, _, share in rows)


def test_every_column_of_a_policy_search_is_documented(searches):
    from test_optimize import BEDS, SHARE

    folder = searches["search"]
    names = {"<lever>": [SHARE, BEDS], "<i>": ["0", "1"], "<j>": ["0"],
             "<item>": ["allowance", "dormitory_bed", "double_teacher_classroom"]}
    for name in ("candidates.parquet", "front.parquet"):
        check_against_doc(folder / name, "candidates.parquet", names=names, absent={"objective_<i>_worst"})
    check_against_doc(folder / "replicates.parquet", "replicates.parquet", names=names)
    check_against_doc(folder / "convergence.parquet", "convergence.parquet")
    joined = duckdb.sql(f"select c.candidate, count(*) from read_parquet('{folder}/candidates.parquet') c "
                        f"join read_parquet('{folder}/replicates.parquet') r using (candidate) "
                        "group by all").fetchall()
    assert joined and all(n == 1 for _, n in joined)  # one replicate, one world
