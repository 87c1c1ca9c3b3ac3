"""Rotation rules as plug-in objects: eligibility, selection, matching, terms."""

from sim.policies.matching import NeedMatching, RandomMatching
from sim.policies.priority import PRIORITY_KEYS
from sim.policies.rotation import MATCHERS, RotationProgram, end_terms
from sim.policies.selection import SELECTORS, DistrictSelection

__all__ = ["MATCHERS", "SELECTORS", "PRIORITY_KEYS", "DistrictSelection", "NeedMatching",
           "RandomMatching", "RotationProgram", "end_terms"]
