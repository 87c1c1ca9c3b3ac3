"""Sweep files and designs: schema, the four designs, overrides, and every point checked before a run."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import REPO
from hypothesis import given, settings
from hypothesis import strategies as st
from sweep_helpers import SWEEP_BASE, assert_one_line_error, cli, write_sweep
from sweep_helpers import TINY as TINY_SETS

from sim.config.designs import Parameter, SweepError, load_sweep, override
from sim.config.scenario import load_scenario
from sim.seeds import replicate_seeds


def test_grid_is_the_full_product_of_the_axes(tmp_path):
    path = write_sweep(tmp_path, parameters={
        "policy.programs.0.quota.min_count": {"low": 100, "high": 300, "integer": True},
        "policy.programs.0.matching": {"values": ["random", "need"]},
        "careers.drift_rate": {"low": 0.0, "high": 0.1}}, design={"kind": "grid", "levels": 3})
    sw = load_sweep(path)
    assert len(sw.points) == 3 * 2 * 3
    combos = {(p["policy.programs.0.quota.min_count"], p["policy.programs.0.matching"], p["careers.drift_rate"])
              for p in sw.points}
    assert combos == {(q, m, d) for q in (100, 200, 300) for m in ("random", "need") for d in (0.0, 0.05, 0.1)}
    assert all(isinstance(p["policy.programs.0.quota.min_count"], int) for p in sw.points)
    assert sw.n_runs == 18 * 2


def test_latin_hypercube_puts_one_point_in_each_stratum(tmp_path):
    path = write_sweep(tmp_path, parameters={"careers.drift_rate": {"low": 0.0, "high": 0.1},
                                             "careers.peer_effect": {"low": 0.0, "high": 0.2}},
                       design={"kind": "lhs", "points": 10, "seed": 3})
    sw = load_sweep(path)
    for name, high in (("careers.drift_rate", 0.1), ("careers.peer_effect", 0.2)):
        strata = sorted(int(p[name] / high * 10) for p in sw.points)
        assert strata == list(range(10)), name
    again = load_sweep(path)
    assert again.points == sw.points  # the sampler is seeded: the same file gives the same design


def test_sobol_and_morris_sizes_follow_salib(tmp_path):
    params = {"careers.drift_rate": {"low": 0.0, "high": 0.1}, "careers.peer_effect": {"low": 0.0, "high": 0.2},
              "policy.programs.0.matching": {"values": ["random", "need"]}}
    sobol = load_sweep(write_sweep(tmp_path, name="s1", parameters=params, design={"kind": "sobol", "points": 8}))
    assert len(sobol.points) == 8 * (3 + 2)
    second = load_sweep(write_sweep(tmp_path, name="s2", parameters=params,
                                    design={"kind": "sobol", "points": 8, "second_order": True}))
    assert len(second.points) == 8 * (2 * 3 + 2)
    morris = load_sweep(write_sweep(tmp_path, name="m", parameters=params,
                                    design={"kind": "morris", "points": 5, "levels": 4}))
    assert len(morris.points) == 5 * (3 + 1)
    problem = morris.salib_problem()
    assert problem["names"] == list(params)
    assert problem["bounds"] == [[0.0, 0.1], [0.0, 0.2], [0.0, 2.0]]
    assert {p["policy.programs.0.matching"] for p in morris.points} <= {"random", "need"}


def test_design_table_records_values_and_sampler_numbers(tmp_path):
    path = write_sweep(tmp_path, parameters={"policy.programs.0.quota.min_count": {"low": 10, "high": 20,
                                                                                   "integer": True}},
                       design={"kind": "lhs", "points": 4})
    sw = load_sweep(path)
    frame = sw.design_frame()
    assert list(frame.columns) == ["point", "quota_min_count", "raw_quota_min_count"]
    np.testing.assert_array_equal(frame["quota_min_count"], np.minimum(np.floor(frame["raw_quota_min_count"]), 20))


def test_seeds_are_the_paired_replicate_seeds(tmp_path):
    sw = load_sweep(write_sweep(tmp_path, replicates=3, seed=99))
    assert sw.seeds == replicate_seeds(99, 3)
    default = load_sweep(write_sweep(tmp_path, name="d", replicates=3))
    assert default.seeds == replicate_seeds(load_scenario(default.bases[0].path).run.seed, 3)


def test_point_scenario_is_load_scenario_with_the_overrides(tmp_path):
    sw = load_sweep(write_sweep(tmp_path, years=3, parameters={
        "careers.drift_rate": {"values": [0.0125]}, "policy.programs.0.priority": {"values": [["backbone_first"]]}}))
    sc = sw.scenario(sw.bases[0], 0)
    direct = load_scenario(sw.bases[0].path, ["world.schools_per_district=12", "world.teachers_per_school=15",
                                              "run.years=3", "careers.drift_rate=0.0125",
                                              "policy.programs.0.priority=[backbone_first]"])
    assert sc.careers.drift_rate == 0.0125
    assert sc.policy.programs[0].priority == ["backbone_first"]
    assert sc.run.years == 3
    assert sc.model_dump() == direct.model_dump() | {"run": sc.run.model_dump()}


def test_each_base_file_is_read_once_for_every_point(tmp_path, monkeypatch):
    """Checking the sweep and making its runs read a base scenario's file (and what it extends)
    once, not again for each design point, and every point's scenario is still what
    load_scenario gives for that file and those overrides."""
    import sim.config.scenario as scenario_module

    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"extends": str(SWEEP_BASE), "name": "based"}), encoding="utf-8")
    path = write_sweep(tmp_path, bases=(base,), design={"kind": "lhs", "points": 4, "seed": 2})
    reads = []
    real = scenario_module.read_yaml_mapping
    monkeypatch.setattr(scenario_module, "read_yaml_mapping", lambda p: reads.append(p.name) or real(p))
    sw = load_sweep(path)
    points = [sw.scenario(sw.bases[0], i) for i in range(len(sw.points))]
    assert sorted(reads) == ["_base.yaml", "base.yaml", SWEEP_BASE.name]
    for i, sc in enumerate(points):
        assert sc == load_scenario(base, [*sw.bases[0].overrides, *sw.point_overrides(i)])
    # each point worked on a copy: the kept read is still the file's (overrides, roster paths rebased)
    assert sw.bases[0].read == scenario_module.read_scenario_file(base)


@settings(max_examples=60)
@given(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**12, 10**12),
                 st.booleans(), st.text(max_size=20), st.lists(st.sampled_from(["a", "yes", "1.0", "null"]))))
def test_override_reads_back_exactly(value):
    text = override("a.b", value)
    assert text.startswith("a.b=")
    assert yaml.safe_load(text[4:]) == value


def test_parameter_checks():
    with pytest.raises(ValueError, match="either low and high, or values"):
        Parameter(low=0, high=1, values=[1])
    with pytest.raises(ValueError, match="below high"):
        Parameter(low=1, high=1)
    with pytest.raises(ValueError, match="whole-number"):
        Parameter(low=0.5, high=3, integer=True)
    p = Parameter(low=2, high=4, integer=True)
    assert [p.value(x) for x in (2.0, 2.99, 3.0, 4.5, 5.0)] == [2, 2, 3, 4, 4]


@pytest.mark.parametrize(("change", "fragment"), [
    ({"parameters": {"careers.drift_rate": {"low": 0, "high": 1.5}}, "design": {"kind": "lhs", "points": 6}},
     "parameters.careers.drift_rate: design point"),
    ({"parameters": {"careers.drift_ratee": {"values": [0.1]}}}, "parameters.careers.drift_ratee"),
    ({"outcomes": ["cv_qualityy"]}, "outcomes: Value error, unknown metric 'cv_qualityy'"),
    ({"design": {"kind": "sobol", "points": 6}}, "power of two"),
    ({"design": {"kind": "lhs"}}, "design: Value error, a lhs design needs 'points'"),
    ({"parameters": {"run.years": {"values": [1, 2]}}}, "set by the sweep itself"),
    ({"bases": ["no_such.yaml"]}, "bases: scenario file 'no_such.yaml' not found"),
    ({"replicatez": 3}, "replicatez: unknown key"),
    ({"set": ["world.preset=atlantis"]}, "bases: "),
])
def test_bad_sweep_file_is_one_line_naming_file_and_key(tmp_path, change, fragment):
    path = write_sweep(tmp_path, name="bad")
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) | change
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with pytest.raises(SweepError) as err:
        load_sweep(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: "), msg
    assert fragment in msg, msg


def test_bad_sweep_file_on_the_command_line_is_exit_2_and_writes_nothing(tmp_path):
    path = write_sweep(tmp_path, name="bad", parameters={"careers.drift_rate": {"low": 0, "high": 1.5}},
                       design={"kind": "lhs", "points": 6})
    out = tmp_path / "out"
    line = assert_one_line_error(cli("sweep", path, "--out", out, "--serial", "--quiet"),
                                 "parameters.careers.drift_rate: design point", "less than or equal to 1")
    assert line.startswith(f"teachersim: {path}: ")
    assert not out.exists()


def test_invalid_design_point_names_the_parameter_and_value(tmp_path):
    # term_years_min 5 is above the base's term_years_max 3: only the second point is invalid
    path = write_sweep(tmp_path, parameters={"policy.programs.0.term_years_min": {"values": [1, 5]},
                                             "careers.drift_rate": {"values": [0.01]}}, design={"kind": "grid"})
    with pytest.raises(SweepError) as err:
        load_sweep(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: parameters.policy.programs.0.term_years_min: design point 1 ")
    assert "term_years_min=5" in msg and "drift_rate" not in msg
    assert "above term_years_max" in msg


def test_parameter_that_fits_one_base_but_not_another(tmp_path):
    # baseline_drift has no rotation program, so programs.0 does not exist there
    path = write_sweep(tmp_path, bases=(SWEEP_BASE, "baseline_drift.yaml"),
                       parameters={"policy.programs.0.quota.min_count": {"values": [10]}}, design={"kind": "grid"})
    with pytest.raises(SweepError, match="makes base 'baseline_drift' invalid"):
        load_sweep(path)


def test_dry_run_prints_the_design_and_writes_nothing(tmp_path):
    path = write_sweep(tmp_path, design={"kind": "lhs", "points": 4}, replicates=3)
    done = cli("sweep", path, "--dry-run", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "1 base(s) x 4 design point(s) (lhs) x 3 replicate(s) = 12 runs" in done.stdout
    assert "careers.drift_rate" in done.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("path", sorted((REPO / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_example_sweeps_are_valid(path):
    sw = load_sweep(path)
    assert sw.spec.name == path.stem
    assert sw.n_runs > 0


# ------------------------------------------------ sizes, names, groups and options (issues 13, 16)


@pytest.mark.parametrize("parameters, design", [
    ({"policy.programs.0.quota.min_count": {"low": 1, "high": 4, "integer": True},
      "policy.programs.0.matching": {"values": ["random", "need"]}}, {"kind": "grid", "levels": 7}),
    ({"careers.drift_rate": {"low": 0.0, "high": 0.1}}, {"kind": "lhs", "points": 5}),
    ({"careers.drift_rate": {"low": 0.0, "high": 0.1}, "careers.peer_effect": {"low": 0.0, "high": 0.2}},
     {"kind": "sobol", "points": 4}),
    ({"careers.drift_rate": {"low": 0.0, "high": 0.1}, "careers.peer_effect": {"low": 0.0, "high": 0.2}},
     {"kind": "sobol", "points": 4, "second_order": True}),
    ({"careers.drift_rate": {"low": 0.0, "high": 0.1}, "careers.peer_effect": {"low": 0.0, "high": 0.2}},
     {"kind": "morris", "points": 3}),
])
def test_the_size_known_before_drawing_is_the_size_drawn(tmp_path, parameters, design):
    from sim.config.designs import design_size, read_spec, sample

    path = write_sweep(tmp_path, parameters=parameters, design=design)
    spec = read_spec(path)
    assert design_size(spec) == len(sample(spec)) == len(load_sweep(path).points)


def test_a_design_too_large_is_refused_before_it_is_drawn(tmp_path, monkeypatch):
    import sim.config.designs

    def never(spec):
        raise AssertionError("the design was drawn")

    monkeypatch.setattr(sim.config.designs, "sample", never)
    path = write_sweep(tmp_path, design={"kind": "lhs", "points": sim.config.designs.MAX_POINTS + 1})
    with pytest.raises(SweepError, match=r"design: 10,001 design points is above the most a sweep may have"):
        load_sweep(path)
    path = write_sweep(tmp_path, design={"kind": "lhs", "points": 2000}, replicates=60)
    with pytest.raises(SweepError, match=r"= 120,000 runs is above the most a sweep may have \(100,000\)"):
        load_sweep(path)


def test_programs_are_addressed_by_name_in_parameters_and_set(tmp_path):
    """Issue 16 item 5: the name form gives the same scenarios as the index form."""
    by_name = load_sweep(write_sweep(tmp_path, name="by_name", parameters={
        "policy.programs.district_exchange.quota.min_count": {"values": [5, 10]}},
        design={"kind": "grid"}, sets=[*TINY_SETS, "policy.programs.district_exchange.matching=random"]))
    by_index = load_sweep(write_sweep(tmp_path, name="by_index", parameters={
        "policy.programs.0.quota.min_count": {"values": [5, 10]}},
        design={"kind": "grid"}, sets=[*TINY_SETS, "policy.programs.0.matching=random"]))
    for i, count in enumerate((5, 10)):
        sc = by_name.scenario(by_name.bases[0], i)
        assert sc.policy.programs[0].quota.min_count == count and sc.policy.programs[0].matching == "random"
        assert sc == by_index.scenario(by_index.bases[0], i)


def test_the_command_line_options_resize_the_sweep(tmp_path):
    path = write_sweep(tmp_path, design={"kind": "lhs", "points": 3}, replicates=2, years=2)
    plain = load_sweep(path)
    sw = load_sweep(path, ["careers.peer_effect=0.02"], replicates=3, years=1, points=4)
    assert (len(sw.points), sw.spec.replicates, sw.n_runs) == (4, 3, 12)
    sc = sw.scenario(sw.bases[0], 0)
    assert sc.careers.peer_effect == 0.02 and sc.run.years == 1 and sc.run.replicates == 3
    assert sw.fingerprint() != plain.fingerprint()  # resuming needs the same options
    done = cli("sweep", path, "--dry-run", "--reps", "3", "--years", "1", "--points", "4",
               "--set", "careers.peer_effect=0.02")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == ("sweep tiny: 1 base(s) x 4 design point(s) (lhs) x 3 replicate(s) = "
                                           "12 runs; every point is valid")
    done = cli("sweep", path, "--dry-run", "--points", "0")
    assert_one_line_error(done, f"{path}: --points: design.points: Input should be greater than or equal to 1")


def test_every_group_the_metrics_report_is_known_up_front(tmp_path):
    """The groups a sweep may keep are checked against the bases before any run: every group a
    run of a two-district world actually reports must pass that check (and a misspelt one not)."""
    import sim
    from sim.config.designs import known_group

    path = write_sweep(tmp_path, sets=[*TINY_SETS, "world.districts=2",
                                       "policy.programs.0.scope=city", "policy.programs.0.form=part_time"])
    sw = load_sweep(path)
    metrics = sim.run(sw.scenario(sw.bases[0], 0), years=3).metrics
    groups = set(metrics["subgroup"].astype(str))
    assert {"primary", "all", "part_time", "cross_district"} <= groups and any("@" in g for g in groups)
    assert any("->" in g and g.split("->")[0] not in ("rural", "weak") for g in groups)
    assert [g for g in sorted(groups) if not known_group(g, sw.bases)] == []
    assert not known_group("primry", sw.bases) and not known_group("primary@Nowhere", sw.bases)


def test_the_shipped_quota_grid_varies_the_quota_that_binds():
    """Issue 16 item 5: the grid's base asked that everyone eligible rotate within 3 years, which
    outvoted every min_count below it. At each point the program's quota must be min_count alone
    (a quota is the largest of its rules, sim.policies.selection.district_quota)."""
    from sim.policies.selection import district_quota

    sw = load_sweep(REPO / "sweeps" / "dongcheng_quota_grid.yaml")
    counts = set()
    for i, point in enumerate(sw.points):
        program = sw.scenario(sw.bases[0], i).policy.programs[3]
        assert program.name == "district_exchange"
        count = point["policy.programs.district_exchange.quota.min_count"]
        for year in (1, 2, 3):  # with 5,000 eligible, all never rotated, 100,000 staff
            assert district_quota(program.quota, 5000, 5000, 100_000, year) == count
        counts.add(count)
    assert counts == {500, 1000, 2000, 3000}
