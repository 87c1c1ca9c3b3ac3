"""Promotion's and radiation's constants are scenario parameters (careers.*), read by the model."""

from __future__ import annotations

import numpy as np
from conftest import BASELINE, SMALL_DONGCHENG, scenario

from sim.core.model import RotationModel


def backbone_levels(*overrides: str) -> np.ndarray:
    model = RotationModel(scenario(BASELINE, *SMALL_DONGCHENG, *overrides), rng=5)
    before = model.workforce.backbone[model.workforce.active_rows()].copy()
    model.run_for(3)
    return before, model.workforce.backbone[: len(before)]


def test_backbone_min_experience_is_read():
    before, after = backbone_levels()
    assert (after > before).any()  # the default lets teachers step up within 3 years
    before, after = backbone_levels("careers.backbone_min_experience=60")
    assert not (after > before).any()


def test_a_higher_municipal_factor_makes_more_municipal_backbones():
    _, few = backbone_levels("careers.municipal_backbone_factor=0.0")
    _, many = backbone_levels("careers.municipal_backbone_factor=1.0")
    assert (many == 3).sum() > (few == 3).sum()
