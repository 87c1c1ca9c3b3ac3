"""Scenario files: `extends:` merging, `--set` overrides and one-line validation errors."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import BASE, BASELINE, DONGCHENG, DONGCHENG_2021

from sim.config.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict, scenario_to_yaml


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def base_dir(tmp_path: Path) -> Path:
    """A folder holding a copy of the real _base.yaml, so test files can `extends: _base.yaml`."""
    shutil.copy(BASE, tmp_path / "_base.yaml")
    return tmp_path


def error_of(path, overrides=()) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, list(overrides))
    msg = str(info.value)
    assert "\n" not in msg, f"error message is not one line: {msg!r}"
    return msg


# ------------------------------------------------------------------------------- extends


def test_baseline_drift_resolves_with_base_defaults():
    sc = load_scenario(BASELINE)
    assert isinstance(sc, Scenario)
    assert sc.name == "baseline_drift"  # the child's value wins over base's `name: base`
    assert sc.description.startswith("No mandatory rotation")
    # everything else comes from _base.yaml
    assert sc.world.preset == "dongcheng"
    assert sc.policy.programs == []
    assert sc.run.years == 10
    assert sc.run.replicates == 1
    assert sc.run.seed == 20210901
    # and the schema defaults fill what neither file says
    assert sc.careers.retirement.men_age == 60 and sc.careers.retirement.schedule == "china_2024"
    assert sc.policy.receiving_capacity == pytest.approx(1.0)  # hosts hold at most their staffing norm


def test_dongcheng_resolves_program_and_base_run_section():
    sc = load_scenario(DONGCHENG_2021)
    assert sc.name == "dongcheng_2021"
    assert sc.run.seed == 20210901 and sc.run.years == 10  # from _base.yaml
    assert [p.name for p in sc.policy.programs] == ["twinning_pairs", "pilot_school_district", "training_flow",
                                                     "district_exchange"]
    assert sc.policy.double_teacher.classrooms == 78
    p = sc.policy.programs[-1]
    assert p.quota.min_count == 2000
    assert p.quota.coverage_years == 3
    assert p.eligibility.min_years_at_school == 6
    assert p.eligibility.min_years_to_retirement == 6
    assert p.priority == ["never_rotated", "teachers_before_cadres", "primary_before_junior", "backbone_first"]
    assert (p.term_years_min, p.term_years_max) == (1, 3)


def test_nested_mappings_merge_key_by_key_and_lists_replace(base_dir):
    write(base_dir, "mid.yaml", """\
        extends: _base.yaml
        name: mid
        world:
          scale: 0.5
          districts: 1
        run:
          years: 4
        policy:
          programs:
            - name: a
            - name: b
        """)
    child = write(base_dir, "child.yaml", """\
        extends: mid.yaml
        name: child
        world:
          scale: 0.25
        policy:
          programs:
            - name: c
        """)
    sc = load_scenario(child)
    assert sc.name == "child"
    assert sc.world.scale == 0.25  # child wins
    assert sc.world.districts == 1  # sibling key kept from mid
    assert sc.world.preset == "dongcheng"  # from _base.yaml, two levels up
    assert sc.run.years == 4 and sc.run.seed == 20210901  # merged across three files
    assert [p.name for p in sc.policy.programs] == ["c"]  # lists replace, not append


def test_name_defaults_to_file_stem(tmp_path):
    path = write(tmp_path, "my_scenario.yaml", "description: nameless\n")
    assert load_scenario(path).name == "my_scenario"


# ------------------------------------------------------------------------------- overrides


def test_set_overrides_apply_including_list_index():
    sc = load_scenario(DONGCHENG, ["policy.programs.0.quota.min_count=2500", "run.years=4",
                                   "world.preset=beijing", "careers.drift_rate=0.1",
                                   "policy.programs.0.priority=[backbone_first]"])
    assert sc.policy.programs[0].quota.min_count == 2500
    assert sc.policy.programs[0].quota.coverage_years == 3  # untouched sibling
    assert sc.run.years == 4
    assert sc.world.preset == "beijing"
    assert sc.careers.drift_rate == pytest.approx(0.1)
    assert sc.policy.programs[0].priority == ["backbone_first"]


def test_set_override_is_applied_after_extends(base_dir):
    path = write(base_dir, "s.yaml", "extends: _base.yaml\nrun:\n  years: 4\n")
    assert load_scenario(path).run.years == 4
    assert load_scenario(path, ["run.years=7"]).run.years == 7


@pytest.mark.parametrize("item, fragment", [
    ("run.years", "expected dotted.key=value"),
    ("policy.programs.5.quota.min_count=1", "'5' is not an index"),
    ("policy.programs.x.quota.min_count=1", "'x' is neither an index of a list of 1 nor the name of one of its "
                          "items (names: district_exchange)"),
    ("run..years=3", "empty key"),
])
def test_bad_set_items_are_one_line_errors(item, fragment):
    msg = error_of(DONGCHENG, [item])
    assert fragment in msg
    assert item.split("=")[0].split(".")[0] in msg


def test_set_unknown_key_is_rejected_with_its_dotted_name():
    msg = error_of(DONGCHENG, ["policy.programs.0.quota.bogus=1"])
    assert "policy.programs.0.quota.bogus" in msg
    assert "unknown key" in msg


# ------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("text, dotted", [
    ("bogus: 1\n", "bogus"),
    ("world:\n  bogus: 1\n", "world.bogus"),
    ("careers:\n  retirment_age: 60\n", "careers.retirment_age"),
    ("run:\n  yeras: 3\n", "run.yeras"),
    ("policy:\n  programs:\n    - name: a\n      quota:\n        bogus: 3\n", "policy.programs.0.quota.bogus"),
    ("policy:\n  programs:\n    - name: a\n    - name: b\n      eligibility:\n        bogus: 3\n",
     "policy.programs.1.eligibility.bogus"),
])
def test_unknown_key_is_one_line_naming_file_and_dotted_key(base_dir, text, dotted):
    path = write(base_dir, "typo.yaml", "extends: _base.yaml\n" + text)
    msg = error_of(path)
    assert str(path.resolve()) in msg
    assert f": {dotted}: " in msg
    assert "unknown key" in msg


def test_unknown_key_in_base_file_names_the_base_file(tmp_path):
    base = write(tmp_path, "parent.yaml", "name: parent\nworld:\n  bogus: 2\n")
    child = write(tmp_path, "child.yaml", "extends: parent.yaml\nrun:\n  years: 3\n")
    msg = error_of(child)
    assert str(base.resolve()) in msg
    assert str(child.resolve()) not in msg
    assert "world.bogus" in msg


@pytest.mark.parametrize("text, dotted", [
    ("run:\n  years: many\n", "run.years"),
    ("run:\n  seed: 1.5\n", "run.seed"),
    ("world:\n  preset: atlantis\n", "world.preset"),
    ("world:\n  scale: big\n", "world.scale"),
    ("careers:\n  attrition_base: lots\n", "careers.attrition_base"),
    ("policy:\n  programs: 5\n", "policy.programs"),
    ("policy:\n  programs:\n    - name: a\n      scope: planet\n", "policy.programs.0.scope"),
    ("policy:\n  programs:\n    - name: a\n      priority: [alphabetical]\n", "policy.programs.0.priority.0"),
    ("policy:\n  programs:\n    - name: a\n      quota:\n        per_school: maybe\n",
     "policy.programs.0.quota.per_school"),
    ("world: 3\n", "world"),
])
def test_wrong_types_are_rejected(base_dir, text, dotted):
    path = write(base_dir, "types.yaml", "extends: _base.yaml\n" + text)
    msg = error_of(path)
    assert str(path.resolve()) in msg
    assert f": {dotted}: " in msg


@pytest.mark.parametrize("text, dotted", [
    ("careers:\n  attrition_base: 1.5\n", "careers.attrition_base"),
    ("careers:\n  drift_rate: -0.01\n", "careers.drift_rate"),
    ("careers:\n  hire_fill_rural: 1.0001\n", "careers.hire_fill_rural"),
    ("policy:\n  programs:\n    - name: a\n      backbone_floor: 2\n", "policy.programs.0.backbone_floor"),
    ("policy:\n  programs:\n    - name: a\n      quota:\n        share_of_eligible: -0.1\n",
     "policy.programs.0.quota.share_of_eligible"),
    ("policy:\n  programs:\n    - name: a\n      stay_share: 1.2\n", "policy.programs.0.stay_share"),
])
def test_shares_outside_unit_interval_are_rejected(base_dir, text, dotted):
    path = write(base_dir, "shares.yaml", "extends: _base.yaml\n" + text)
    msg = error_of(path)
    assert str(path.resolve()) in msg
    assert f": {dotted}: " in msg


@pytest.mark.parametrize("value", [0.0, 0.5, 1.0])
def test_shares_at_and_inside_bounds_are_accepted(value):
    sc = scenario_from_dict({"careers": {"attrition_base": value},
                             "policy": {"programs": [{"name": "a", "backbone_floor": value}]}})
    assert sc.careers.attrition_base == value
    assert sc.policy.programs[0].backbone_floor == value


@pytest.mark.parametrize("text, dotted", [
    ("policy:\n  programs:\n    - name: a\n      quota:\n        min_count: -1\n", "policy.programs.0.quota.min_count"),
    ("policy:\n  programs:\n    - name: a\n      eligibility:\n        min_years_at_school: -2\n",
     "policy.programs.0.eligibility.min_years_at_school"),
    ("careers:\n  drift_min_years: -1\n", "careers.drift_min_years"),
    ("world:\n  max_teachers: -5\n", "world.max_teachers"),
    ("world:\n  districts: 0\n", "world.districts"),
    ("run:\n  replicates: 0\n", "run.replicates"),
    ("run:\n  seed: -3\n", "run.seed"),
])
def test_negative_counts_are_rejected(base_dir, text, dotted):
    path = write(base_dir, "counts.yaml", "extends: _base.yaml\n" + text)
    msg = error_of(path)
    assert str(path.resolve()) in msg
    assert f": {dotted}: " in msg


def test_negative_count_through_set_names_the_key():
    msg = error_of(DONGCHENG, ["policy.programs.0.quota.min_count=-5"])
    assert "policy.programs.0.quota.min_count" in msg


def test_term_years_min_above_max_is_rejected(base_dir):
    path = write(base_dir, "terms.yaml", """\
        extends: _base.yaml
        policy:
          programs:
            - name: a
              term_years_min: 4
              term_years_max: 2
        """)
    msg = error_of(path)
    assert str(path.resolve()) in msg
    assert "policy.programs.0" in msg
    assert "term_years_min" in msg
    # equal bounds are fine
    sc = load_scenario(path, ["policy.programs.0.term_years_max=4"])
    assert sc.policy.programs[0].term_years_min == sc.policy.programs[0].term_years_max == 4


def test_term_years_min_above_max_through_set():
    msg = error_of(DONGCHENG, ["policy.programs.0.term_years_min=3", "policy.programs.0.term_years_max=2"])
    assert "term_years_min" in msg


def test_repeated_program_names_are_rejected():
    with pytest.raises(ScenarioError, match="repeated: a"):
        scenario_from_dict({"policy": {"programs": [{"name": "a"}, {"name": "a"}]}})


def test_cyclic_extends_is_reported(tmp_path):
    a = write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\nname: b\n")
    msg = error_of(a)
    assert "cyclic" in msg
    assert "a.yaml" in msg and "b.yaml" in msg


def test_self_extends_is_cyclic(tmp_path):
    a = write(tmp_path, "self.yaml", "extends: self.yaml\n")
    assert "cyclic" in error_of(a)


def test_missing_base_file_is_reported(tmp_path):
    path = write(tmp_path, "orphan.yaml", "extends: nowhere.yaml\nname: orphan\n")
    msg = error_of(path)
    assert str(path.resolve()) in msg
    assert "nowhere.yaml" in msg
    assert "not found" in msg


def test_missing_scenario_file_is_reported(tmp_path):
    msg = error_of(tmp_path / "absent.yaml")
    assert "absent.yaml" in msg and "not found" in msg


@pytest.mark.parametrize("text, line", [
    ("name: x\ndescription: ok\nrun:\n  years: 3: 4\n", 4),
    ("name: x\nworld:\n  preset: dongcheng\n  scale: [1, 2\nrun:\n  years: 3\n", 5),
])
def test_invalid_yaml_reports_line_number(tmp_path, text, line):
    path = write(tmp_path, "broken.yaml", text)
    msg = error_of(path)
    assert str(path) in msg
    assert f"line {line}" in msg
    assert "invalid YAML" in msg


def test_invalid_yaml_in_base_names_the_base(tmp_path):
    base = write(tmp_path, "parent.yaml", "name: p\nrun: {years: 3\n")
    child = write(tmp_path, "child.yaml", "extends: parent.yaml\n")
    msg = error_of(child)
    assert str(base.resolve()) in msg
    assert "invalid YAML" in msg


def test_top_level_must_be_a_mapping(tmp_path):
    path = write(tmp_path, "list.yaml", "- a\n- b\n")
    assert "mapping" in error_of(path)


def test_roster_section_needs_roster_preset():
    with pytest.raises(ScenarioError, match="roster"):
        scenario_from_dict({"world": {"preset": "roster"}})


def test_resolved_yaml_round_trips():
    sc = load_scenario(DONGCHENG, ["run.years=3"])
    again = scenario_from_dict(yaml.safe_load(scenario_to_yaml(sc)))
    assert again.model_dump() == sc.model_dump()


# ---------------------------------------------------- programs by name, strict numbers (issues 13, 16)


def test_a_program_is_addressed_by_name_as_by_index():
    by_name = load_scenario(DONGCHENG_2021, ["policy.programs.district_exchange.quota.min_count=2500",
                                             "policy.programs.training_flow.eligibility.roles.0=teacher"])
    by_index = load_scenario(DONGCHENG_2021, ["policy.programs.3.quota.min_count=2500",
                                              "policy.programs.2.eligibility.roles.0=teacher"])
    assert by_name.policy.programs[3].quota.min_count == 2500
    assert by_name == by_index


def test_a_problem_set_by_name_is_reported_at_its_index_and_blamed_on_set():
    msg = error_of(DONGCHENG_2021, ["policy.programs.district_exchange.quota.min_count=-1"])
    assert msg.startswith("--set: policy.programs.3.quota.min_count: Input should be greater than or equal to 0")


@pytest.mark.parametrize("item", ["run.years=true", "run.replicates=false", "careers.drift_min_years=true",
                                  "world.districts=true", "policy.programs.0.quota.min_count=true",
                                  "careers.drift_rate=true"])
def test_true_and_false_are_not_numbers(item):
    """pydantic alone reads `years: true` as 1 year (issue 13 item 8); switches still take them."""
    msg = error_of(DONGCHENG, [item])
    assert msg == f"--set: {item.split('=')[0]}: Value error, true/false is not a number"
    sc = load_scenario(DONGCHENG, ["policy.programs.0.quota.per_school=true", "policy.programs.0.cross_level=yes"])
    assert sc.policy.programs[0].quota.per_school is True and sc.policy.programs[0].cross_level is True


@pytest.mark.parametrize("value", [".inf", "1.0e400"])  # YAML reads a number past a float's range as inf
@pytest.mark.parametrize("key", ["careers.learning_rate", "careers.commute_fixed_minutes",
                                 "policy.programs.0.points.performance_weight"])
def test_numbers_must_be_finite(key, value):
    assert error_of(DONGCHENG, [f"{key}={value}"]).startswith(f"--set: {key}: Input should be a finite number (got ")


def _float_fields(model, prefix=""):
    """(dotted key, largest allowed value) of every float field of a section and of the sections in
    it (not through lists), from the schema itself, so fields added later are covered too."""
    from typing import Annotated, get_args, get_origin

    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

    from sim.config.scenario import _plain_types

    for name, info in model.model_fields.items():
        types = _plain_types(info.annotation)
        sections = [t for t in types if isinstance(t, type) and issubclass(t, BaseModel)]
        if get_origin(info.annotation) is list:
            continue
        if sections:
            yield from _float_fields(sections[0], f"{prefix}{name}.")
        elif float in types:
            rules = [*info.metadata, *(m for a in get_args(info.annotation) if get_origin(a) is Annotated
                                       for m in FieldInfo.from_annotation(a).metadata)]
            top = [m.le for m in rules if getattr(m, "le", None) is not None]
            below = [m.lt for m in rules if getattr(m, "lt", None) is not None]
            yield f"{prefix}{name}", top[0] if top else below[0] - 1e-9 if below else 1e300


def test_every_float_at_its_largest_value_keeps_the_metrics_finite():
    """The README promises that only the named indices (Theil L, max/min, P90/P10) can be infinite:
    every float of the scenario at the top of its range (1e300 where it has none) must keep every
    other metric finite (issue 13 item 8: .inf and 1e308 gave runs with hundreds of inf rows)."""
    import warnings

    import numpy as np

    import sim
    from sim.config.scenario import Careers, Policy, Program
    from sim.metrics import REGISTRY

    keys = [*_float_fields(Careers, "careers."), *_float_fields(Policy, "policy."),
            *_float_fields(Program, "policy.programs.0.")]
    assert len(keys) > 30 and "policy.programs.0.points.preference_noise" in dict(keys), keys
    tiny = ["world.schools_per_district=6", "world.teachers_per_school=10"]
    for key, top in keys:
        matching = ["policy.programs.0.matching=points"] if ".points." in key else \
            ["policy.programs.0.matching=optimal"] if key.endswith("commute_weight") else []
        sc = load_scenario(DONGCHENG, [*tiny, *matching, f"{key}={float(top)!r}"])
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # an overflow on the way is a failure too
            m = sim.run(sc, years=2).metrics
        values = m["value"].to_numpy(dtype=float)
        named = m["metric"].map(lambda n: REGISTRY[n].may_be_infinite).to_numpy()
        bad = sorted(set(m.loc[~np.isfinite(values) & ~named, "metric"]))
        assert not bad, (key, top, bad[:5])


# ------------------------------------------------------------------------------- the YAML reader

REPO = Path(__file__).resolve().parents[1]
SHIPPED_YAML = sorted(p for p in REPO.rglob("*.y*ml") if p.suffix in (".yaml", ".yml")
                      and not {".venv", ".git", "node_modules"} & set(p.relative_to(REPO).parts))


def _outcome(text: str, where: str):
    from sim.config.scenario import parse_yaml

    try:
        return parse_yaml(text, where)
    except ScenarioError as exc:
        return ("ScenarioError", str(exc))


def test_yaml_files_read_by_libyaml_as_by_the_pure_python_reader(monkeypatch):
    """parse_yaml reads with libyaml where PyYAML has it (a scenario file took 37 ms with the
    pure-Python reader, about 3 ms with libyaml): every YAML file of the project, the bad-input
    corpus included, gives the same document or the same one-line error as with the pure reader."""
    import sim.config.scenario as scenario_module

    if yaml.__with_libyaml__:
        assert scenario_module.FAST_LOADER is yaml.CSafeLoader
    texts = {}
    for path in SHIPPED_YAML:
        try:
            texts[path] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # refused before parsing, whichever reader
            continue
    assert len(texts) > 100 and any("bad_inputs" in str(p) for p in texts)
    fast = {path: _outcome(text, str(path)) for path, text in texts.items()}
    monkeypatch.setattr(scenario_module, "FAST_LOADER", yaml.SafeLoader)
    for path, text in texts.items():
        assert fast[path] == _outcome(text, str(path)), path


def test_invalid_yaml_is_described_by_the_pure_python_reader(tmp_path):
    """libyaml's messages differ ("did not find expected key"): a document libyaml refuses is read
    again by the pure-Python reader, so the one-line message says what it always said."""
    path = write(tmp_path, "bad.yaml", "run:\n  years: 3\n   seed: 1\n")
    with pytest.raises(yaml.YAMLError) as pure:
        yaml.load(path.read_text(), Loader=yaml.SafeLoader)
    msg = error_of(path)
    assert msg == f"{path}: line 3: invalid YAML: {pure.value.problem}"
