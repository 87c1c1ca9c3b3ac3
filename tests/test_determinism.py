"""Same scenario and seed give identical files; seeds are paired; random streams are named."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import BASELINE, DONGCHENG, SMALL_BEIJING, SMALL_DONGCHENG, moves_by_year, scenario

from sim.core.model import RotationModel, stream_seed
from sim.experiments.run import run
from sim.present.outputs import write_run
from sim.seeds import replicate_seeds
from sim.storage.folders import OutputRefused
from sim.storage.store import read_manifest

PARQUETS = ("metrics.parquet", "schools.parquet", "moves.parquet")


def small(path=DONGCHENG, *extra):
    return scenario(path, *SMALL_BEIJING, "run.years=3", "run.replicates=2", *extra)


def write(sc, folder, force=False, **kw):
    return write_run(run(sc, **kw), folder, figures=False, force=force)


def test_same_scenario_and_seed_give_identical_parquet_bytes(tmp_path):
    a = write(small(), tmp_path / "a")
    b = write(small(), tmp_path / "b")
    for name in PARQUETS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ma, mb = read_manifest(a), read_manifest(b)
    assert ma["files"] == mb["files"]  # the recorded checksums agree too
    assert ma["seeds"] == mb["seeds"] == replicate_seeds(small().run.seed, 2)
    assert set(ma["files"]) == set(PARQUETS)
    for name in ("manifest.json", "summary.md", *PARQUETS):
        assert (a / name).is_file()


def test_different_seeds_give_different_results(tmp_path):
    a = write(small(), tmp_path / "a", seed=1)
    b = write(small(), tmp_path / "b", seed=2)
    for name in PARQUETS:
        assert (a / name).read_bytes() != (b / name).read_bytes(), name
    ma = pd.read_parquet(a / "metrics.parquet")
    mb = pd.read_parquet(b / "metrics.parquet")
    assert not ma["value"].equals(mb["value"])


def test_replicates_differ_and_record_their_seed():
    res = run(small())
    m = res.metrics
    assert sorted(m["replicate"].unique()) == [0, 1]
    assert [int(m[m["replicate"] == i]["seed"].iloc[0]) for i in (0, 1)] == res.seeds
    v0 = m[(m["replicate"] == 0) & (m["metric"] == "cv_backbone")]["value"].to_numpy()
    v1 = m[(m["replicate"] == 1) & (m["metric"] == "cv_backbone")]["value"].to_numpy()
    assert not np.array_equal(v0, v1)
    for frame in (res.metrics, res.schools, res.moves):
        assert {"scenario", "replicate", "seed"} <= set(frame.columns)
        assert set(frame["scenario"].unique()) == {res.scenario.name}


def test_run_frames_equal_the_model_run_with_the_replicate_seed():
    sc = small(DONGCHENG, "run.replicates=1")
    res = run(sc)
    model = RotationModel(sc, rng=res.seeds[0])
    model.run_for(3)
    expected = pd.DataFrame(model.metric_rows, columns=["year", "metric", "group", "value"])
    got = res.metrics[["year", "metric", "group", "value"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert len(res.moves) == len(model.moves)


def test_replicate_seeds_are_prefix_stable():
    for root in (0, 20210901, 2**40 + 3):
        longest = replicate_seeds(root, 12)
        assert len(set(longest)) == 12  # distinct
        for n in range(1, 12):
            assert replicate_seeds(root, n) == longest[:n]
        assert all(0 <= s < 2**63 for s in longest)
    assert replicate_seeds(1, 5) != replicate_seeds(2, 5)


def test_replicate_i_has_the_same_seed_in_every_scenario():
    a = run(small(DONGCHENG, "run.replicates=3"), years=1)
    b = run(small(BASELINE, "run.replicates=3"), years=1)
    assert a.seeds == b.seeds


def test_stream_seeds_depend_on_seed_name_and_year_only():
    a = np.random.default_rng(stream_seed(5, "attrition", 2)).random(4)
    assert np.array_equal(a, np.random.default_rng(stream_seed(5, "attrition", 2)).random(4))
    for other in (stream_seed(6, "attrition", 2), stream_seed(5, "drift", 2), stream_seed(5, "attrition", 3)):
        assert not np.array_equal(a, np.random.default_rng(other).random(4))


@pytest.mark.parametrize("world", [SMALL_DONGCHENG, SMALL_BEIJING, ()])
def test_policy_change_does_not_rerandomise_careers_in_year_one(world):
    """Common random numbers: the rotation policy runs after careers, and draws from its own
    streams, so who retires, leaves, drifts and is hired in year 1 is the same under any policy."""
    base = RotationModel(scenario(BASELINE, *world), rng=9)
    rot = RotationModel(scenario(DONGCHENG, *world), rng=9)
    base.step()
    rot.step()
    assert moves_by_year(rot, "rotation")[1]  # the policy did act
    for kind in ("retirement", "attrition", "drift", "hire"):
        b, r = moves_by_year(base, kind)[1], moves_by_year(rot, kind)[1]
        assert b == r, kind
    assert moves_by_year(base, "retirement")[1] and moves_by_year(base, "hire")[1]


def test_manifest_records_the_resolved_scenario(tmp_path):
    sc = small()
    out = write(sc, tmp_path / "m")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["scenario"] == sc.model_dump(mode="json")
    assert manifest["versions"]["mesa"].startswith("3.")
    assert manifest["schema_version"] == 1


def test_write_run_replaces_an_earlier_result(tmp_path):
    out = tmp_path / "r"
    write(small(), out, seed=1)
    write(small(), out, seed=1)  # the same resolved scenario: replaced without asking
    with pytest.raises(OutputRefused, match="differs at run.seed"):
        write(small(), out, seed=2)
    assert read_manifest(out)["seeds"] == replicate_seeds(1, 2)
    write(small(), out, seed=2, force=True)
    assert read_manifest(out)["seeds"] == replicate_seeds(2, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # no temporary folders left behind
