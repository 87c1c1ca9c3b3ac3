"""Rotation rules as plug-in objects: eligibility, selection, matching, forms and terms."""

from sim.policies.matching import (
    MATCHERS,
    LeadingSchoolMatching,
    NeedMatching,
    OptimalMatching,
    PointsMatching,
    RandomMatching,
)
from sim.policies.priority import PRIORITY_RULES
from sim.policies.rotation import RotationProgram, end_terms, form_label
from sim.policies.selection import SELECTORS, DistrictSelection, SchoolSelection

__all__ = ["MATCHERS", "SELECTORS", "PRIORITY_RULES", "DistrictSelection", "LeadingSchoolMatching",
           "NeedMatching", "OptimalMatching", "PointsMatching", "RandomMatching", "RotationProgram",
           "SchoolSelection", "end_terms", "form_label"]
