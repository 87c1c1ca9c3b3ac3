"""The scenario: one typed, validated description of a run (world, careers, policy, run).

A scenario file is YAML. It may `extends:` another file (path relative to itself) and hold only
what differs; nested mappings merge key by key, lists and scalars replace. Command-line
overrides (`--set dotted.key=value`, a program by index or name) are applied last. Every key is
checked by pydantic with unknown keys rejected, numbers finite and in range, true/false only for
switches; a problem is reported as one line naming the file and the key. Every YAML text (files,
--set values, a sweep's set: items) goes through `parse_yaml`: the safe loader only, regular files
only, and limits on size, nesting, alias expansion and `extends:` chains; a repeated key is
refused. After the schema, `meaning_problems` refuses rules that no teacher or school of the world
could ever meet (nobody eligible, districts the world does not have).
"""

# no `from __future__ import annotations`: pydantic would compile every field's string annotation (170 of them)

import copy
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.files import FileRefused, read_regular
from sim.policies.matching import MATCHERS, SCOPES
from sim.policies.priority import PRIORITY_RULES
from sim.policies.rotation import FORMS
from sim.policies.selection import SELECTORS
from sim.world.presets import PRESETS

Share = Annotated[float, Field(ge=0.0, le=1.0)]
# a rate, weight or count-like number; none needs more than 100 (the bound keeps exp() and sums finite)
NonNegative = Annotated[float, Field(ge=0.0, le=100.0)]
Count = Annotated[int, Field(ge=0, le=1_000_000_000)]  # a count or years; past a billion is a typo
Minutes = Annotated[float, Field(ge=0.0, le=600.0)]  # a commute of more than ten hours is a typo


class ScenarioError(ValueError):
    """A scenario that cannot be used; its message is one line naming the file and the key."""


class Strict(BaseModel):
    """Base for every scenario section: unknown keys are errors, values are checked on assignment."""

    # finite numbers only: `.inf` and `.nan` would make metrics non-finite (values parsed past a
    # float's range, like 1e400, are .inf too)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info) -> Any:
        """YAML's true and false are not numbers (pydantic would read `years: true` as 1)."""
        if isinstance(value, bool) and bool not in _plain_types(cls.model_fields[info.field_name].annotation):
            raise ValueError("true/false is not a number")
        return value


def _plain_types(annotation: Any) -> set:
    """The types an annotation is made of (through unions, Annotated, list and Literal)."""
    args = get_args(annotation)
    if not args:
        return {annotation}
    return {annotation} | set().union(*(_plain_types(a) for a in args))


# --------------------------------------------------------------------------------------- world


class Roster(Strict):
    """A real district brought as CSV files (columns documented in docs/roster.md)."""

    schools_csv: str  # path, relative to the scenario file that names it
    teachers_csv: str
    twinning_csv: str | None = None  # optional pairs: school_a,school_b


# the power to which a school's log contrasts in one indicator (its tier's base and its standing)
# are raised: 1 the tier tables as given, 0 every school alike (chance alone), above 1 more concentrated
Concentration = Annotated[float, Field(ge=0.0, le=6.0)]


class Inequality(Strict):
    """How unequal a synthetic world starts, per indicator and level taught (sim/world/synthetic.py;
    docs/ODD.md 5.1). The defaults are calibrated so that the Dongcheng preset's mean year-0
    between-school CVs over seeds match the Ningguo county figures (sources.md: NINGGUO-2022),
    given after each; each explored 0-4 (`scripts/initial_inequality.py`)."""

    above_qualification_primary: Concentration = 3.7  # Ningguo CV 0.677
    above_qualification_junior: Concentration = 2.9  # Ningguo CV 0.542
    backbone_primary: Concentration = 0.65  # Ningguo CV 0.674
    backbone_junior: Concentration = 1.2  # Ningguo CV 1.055
    pe_art_primary: Concentration = 1.3  # Ningguo CV 0.618
    pe_art_junior: Concentration = 1.15  # Ningguo CV 0.507
    senior_title_primary: Concentration = 1.0  # assumption: no published CV; the tier table as given
    senior_title_junior: Concentration = 1.0  # assumption, as above
    # SD of a non-rural school's staff relative to its norm (share); assumption, explored 0-0.3
    staffing_sd: Annotated[float, Field(ge=0.0, le=0.5)] = 0.05

    def power(self, indicator: str) -> tuple[float, float]:
        """(primary, junior) knob of an indicator."""
        return getattr(self, f"{indicator}_primary"), getattr(self, f"{indicator}_junior")


class World(Strict):
    """Where the teachers are: a synthetic preset with size knobs, or a roster."""

    preset: Literal[(*PRESETS, "roster")] = "dongcheng"
    scale: Annotated[float, Field(gt=0.0, le=4.0)] = 1.0  # multiplies schools per district
    districts: Annotated[int, Field(ge=1, le=64)] | None = None  # None: the preset's own count
    schools_per_district: Annotated[int, Field(ge=2, le=2000)] | None = None
    teachers_per_school: Annotated[float, Field(ge=5.0, le=500.0)] | None = None  # mean
    groups_per_district: Annotated[int, Field(ge=0, le=2000)] | None = None
    school_districts_per_district: Annotated[int, Field(ge=1, le=2000)] | None = None
    twinning_pairs_per_district: Annotated[int, Field(ge=0, le=2000)] | None = None
    # years; a system already rotating on a fixed cycle (Japan, Korea) starts in steady state:
    # each teacher's years at the current school drawn uniformly from 0 to this minus 1
    # (for a roster too: it then replaces the roster's years_at_school)
    initial_tenure_max: Annotated[int, Field(ge=1, le=40)] | None = None
    # relative weight (dimensionless) of each year 0..initial_tenure_max-1 in that steady start (None:
    # all equal); a cycle whose early movers come from the longest tenures keeps fewer in its last year (Japan)
    initial_tenure_weights: list[Annotated[float, Field(ge=0.0, le=1000.0)]] | None = None
    # calendar year whose September is year 0: ages are as of then, and the retirement schedule
    # (careers.retirement) is by birth month
    start_year: Annotated[int, Field(ge=1950, le=2100)] = 2021
    # shares of women among synthetic staff and new hires, by the level taught (sources.md: MOE-STATS)
    women_share_primary: Share = 0.7  # about 70% of primary teachers
    women_share_junior: Share = 0.6  # about 60% of junior-middle teachers
    inequality: Inequality = Inequality()  # initial between-school spread of each indicator (synthetic)
    roster: Roster | None = None
    max_teachers: Count = 2_000_000  # refuse to build a world larger than this

    @model_validator(mode="after")
    def _roster_when_asked(self) -> Self:
        if self.preset == "roster" and self.roster is None:
            raise ValueError("preset 'roster' needs a 'roster' section with schools_csv and teachers_csv")
        if self.preset != "roster" and self.roster is not None:
            raise ValueError("a 'roster' section is only used with preset: roster")
        w = self.initial_tenure_weights
        if w is not None and self.initial_tenure_max is None:
            raise ValueError("initial_tenure_weights needs initial_tenure_max (the years they weight)")
        if w is not None and (len(w) != self.initial_tenure_max or sum(w) <= 0):
            raise ValueError(f"initial_tenure_weights needs {self.initial_tenure_max} weights (one for each year "
                             f"0 to initial_tenure_max - 1), not all 0; got {w}")
        return self


# ------------------------------------------------------------------------------------- careers


class Cadres(Strict):
    """Leadership posts and how they are kept filled (sim/core/cadres.py; docs/ODD.md 7.15)."""

    pipeline: bool = True  # false: posts are never refilled and principals never rotate
    # students per vice-principal post, rounded up; assumption (12 classes of 45), explored 400-900
    students_per_vice_principal: Annotated[float, Field(gt=0.0, le=100_000.0)] = 540.0
    vice_principals_min: Annotated[int, Field(ge=0, le=10)] = 1  # posts; assumption, explored 0-1
    vice_principals_max: Annotated[int, Field(ge=0, le=10)] = 3  # posts; assumption, explored 2-4
    # students per middle-manager post, rounded; assumption, explored 150-300
    students_per_middle_manager: Annotated[float, Field(gt=0.0, le=100_000.0)] = 200.0
    promote_from: list[Literal["school", "group", "district"]] = ["school", "group", "district"]  # pools, in turn
    promotion_keys: list[Literal["cadre_rank", "title", "backbone", "experience"]] = [
        "cadre_rank", "title", "backbone", "experience"]  # strict order, ties at random; assumption
    principal_min_experience: Annotated[int, Field(ge=0, le=40)] = 10  # years taught; assumption, explored 5-15
    vice_principal_min_experience: Annotated[int, Field(ge=0, le=40)] = 8  # years; assumption, explored 5-12
    middle_manager_min_experience: Annotated[int, Field(ge=0, le=40)] = 5  # years; assumption, explored 3-8
    min_years_to_retirement: Annotated[int, Field(ge=0, le=20)] = 5  # years left to be promoted; assumption, 0-10
    principal_term_years: Annotated[int, Field(ge=1, le=10)] = 3  # years per term; assumption, explored 3-5
    principal_terms: Annotated[int, Field(ge=0, le=10)] = 2  # terms at a school, then rotate (MOE-2014); 0 never
    principal_max_years: Annotated[int, Field(ge=1, le=40)] = 9  # years; no deferral past this (BJ-2016-2021)
    principal_defer_share: Share = 0.5  # yearly chance that a due principal defers; assumption, explored 0-1

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.vice_principals_min > self.vice_principals_max:
            raise ValueError(f"vice_principals_min ({self.vice_principals_min}) is above vice_principals_max "
                             f"({self.vice_principals_max})")
        if not self.promote_from or not self.promotion_keys:
            raise ValueError("promote_from and promotion_keys need at least one entry (or set pipeline: false)")
        return self


class Tenure(Strict):
    """How rotation counts toward years at the home school, and the history a run starts with (sim/core/tenure.py)."""

    # reset: restart at 0 on leaving and on coming home (reading of BJ-2016-2021's "continuous
    # years at the same school"); continue: years away count at home; pause: stop while away
    rotation_counts: Literal["reset", "continue", "pause"] = "reset"
    history_years: Annotated[int, Field(ge=0, le=40)] = 0  # years the system rotated before the run; 0 none
    history_rate: Share = 0.0  # yearly share of teachers who started a rotation in those years (with history_years)

    @model_validator(mode="after")
    def _rate_with_years(self) -> Self:
        if self.history_years > 0 and self.history_rate == 0:
            raise ValueError(f"history_years is {self.history_years} but history_rate is 0: no teacher would have "
                             "rotated; set history_rate above 0 (or history_years: 0)")
        return self


# original statutory age -> the age the 2024 decision raises it to (sources.md: NPC-2024); the
# table sim/data/retirement_china_2024.csv ends there (tests/test_retirement.py checks)
RAISED_TO = {60: 63, 55: 58, 50: 55}


class Retirement(Strict):
    """Statutory retirement by sex and birth month (sim/world/retirement.py; sources.md: NPC-2024)."""

    # china_2024: the original ages below, raised from 2025 by the 2024 decision's table
    # (sim/data/retirement_china_2024.csv); fixed: the ages below for every birth date
    schedule: Literal["china_2024", "fixed"] = "china_2024"
    men_age: Annotated[int, Field(ge=45, le=75)] = 60  # years; the statutory age for men before 2025
    # years; women in cadre and professional posts (teachers) 55, female workers 50, before 2025
    women_age: Annotated[int, Field(ge=45, le=75)] = 55

    @model_validator(mode="after")
    def _in_table(self) -> Self:
        if self.schedule == "china_2024" and (self.men_age != 60 or self.women_age not in (50, 55)):
            raise ValueError(f"schedule china_2024 raises the ages of men from 60 and of women from 55 or 50 "
                             f"(got men_age {self.men_age}, women_age {self.women_age}); "
                             "use schedule: fixed for other ages")
        return self

    @property
    def oldest(self) -> int:
        """The highest statutory age any teacher can have, in whole years (china_2024 raises men's
        60 to 63 for those born from September 1976)."""
        if self.schedule == "fixed":
            return max(self.men_age, self.women_age)
        return max(RAISED_TO[self.men_age], RAISED_TO[self.women_age])


class Careers(Strict):
    """Ageing, leaving, hiring, learning and voluntary drift; all rates are per year."""

    retirement: Retirement = Retirement()  # statutory ages by sex and birth month (sim/world/retirement.py)
    attrition_base: Share = 0.015  # yearly exit hazard of an urban teacher
    attrition_rural_extra: Share = 0.06  # added at rural posts; ~7.5%/yr rural loss (sources.md: RURAL-LOSS)
    attrition_weak_extra: Share = 0.01  # added at weak schools
    attrition_commute_per_hour: NonNegative = 0.03  # added per hour of commute beyond 45 minutes
    attrition_dissatisfaction: NonNegative = 0.05  # added times (1 - satisfaction)
    hire_fill_urban: Share = 1.0  # share of vacancies filled each year in urban districts
    hire_fill_rural: Share = 0.7  # rural schools struggle to recruit
    # mean effectiveness of a new teacher (mean teacher = 1)
    new_hire_quality: Annotated[float, Field(ge=0.0, le=5.0)] = 0.8
    new_hire_quality_sd: Annotated[float, Field(ge=0.0, le=2.0)] = 0.15
    new_hire_above_qualification: Share = 0.6  # share of new hires above the required degree
    hire_placement: Literal["vacancies", "weak_first", "training_first"] = "vacancies"
    training_years: Annotated[int, Field(ge=1, le=5)] = 1  # training_first: years at a leading school
    learning_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.04  # quality gained per year early in a career
    learning_halflife: Annotated[float, Field(gt=0.0, le=100.0)] = 7.0  # years; experience curve flattens
    peer_effect: Share = 0.05  # share of the gap to the school's mean closed per year
    # share of the gap to the visiting backbone rotators' mean quality closed per year, per unit
    # share of backbone rotators among the staff (ODD 7.9; the form after sources.md:
    # JACKSON-BRUEGMANN-2009; the size an assumption, 0-1 explored)
    radiation: Share = 0.5
    # quality never exceeds the initial staff's mean + this many of its SDs (7.9; assumption, 2-4 explored)
    quality_ceiling_sd: Annotated[float, Field(ge=0.5, le=10.0)] = 3.0
    title_promotion: Share = 0.04  # yearly chance of a title step for an average teacher
    backbone_promotion: Share = 0.025  # yearly chance of a backbone step for an average teacher
    # title chance x exp(this x (quality - 1)); per unit quality; assumption, explored 0-4
    title_quality_slope: Annotated[float, Field(ge=0.0, le=10.0)] = 2.0
    # senior -> professor title chance x this (the top title is rare); factor; assumption, explored 0.01-0.2
    professor_title_factor: Share = 0.05
    # backbone chance x exp(slope x (quality - centre)); per unit quality; assumption, explored 0-8
    backbone_quality_slope: Annotated[float, Field(ge=0.0, le=10.0)] = 4.0
    # quality at which the backbone chance is backbone_promotion; mean teacher = 1; assumption, explored 0.9-1.3
    backbone_quality_centre: Annotated[float, Field(ge=0.0, le=5.0)] = 1.1
    # none -> school backbone chance x this (schools name their own easily); factor; assumption, explored 1-4
    school_backbone_factor: Annotated[float, Field(ge=0.0, le=10.0)] = 2.0
    # district -> municipal backbone chance x this (few municipal posts); factor; assumption, explored 0.05-0.5
    municipal_backbone_factor: Share = 0.15
    backbone_min_experience: Count = 5  # years of experience before any backbone step; assumption, explored 3-8
    # backbone level from which a rotator radiates quality to the host (county level or above); assumption
    radiation_min_backbone: Literal["school", "district", "municipal"] = "district"
    prestige_in_promotion: NonNegative = 0.35  # promotion chances x exp(this x (tier - ordinary)); assumption
    rotation_counts_for_promotion: NonNegative = 0.2  # relative boost after a rotation (Beijing)
    drift_rate: Share = 0.03  # yearly share of teachers seeking a transfer to a stronger school
    drift_min_years: Count = 3  # years at a school before a voluntary transfer
    drift_quality_selection: NonNegative = 1.0  # stronger teachers seek transfers more often (and choose first)
    commute_minutes_per_km: Annotated[float, Field(ge=0.0, le=60.0)] = 2.5
    commute_fixed_minutes: Minutes = 10.0
    dissatisfaction_commute_minutes: Minutes = 60.0  # commutes past this lower satisfaction
    # student SD of achievement lost when all of a school's teachers are new (math, 0.06-0.10;
    # sources.md: RONFELDT-2013)
    turnover_effect_sd: Annotated[float, Field(ge=0.0, le=1.0)] = 0.08
    # student SD of achievement per SD of teacher quality, math (sources.md: HANUSHEK-RIVKIN-2010);
    # maps the loss to quality units
    teacher_effect_sd: Annotated[float, Field(gt=0.0, le=1.0)] = 0.15
    # quality units lost per unit turnover share; None: turnover_effect_sd x quality SD / teacher_effect_sd (7.12)
    disruption: Annotated[float, Field(ge=0.0, le=10.0)] | None = None
    cadres: Cadres = Cadres()  # leadership posts, promotion and principal rotation
    tenure: Tenure = Tenure()  # rotation time and home tenure; rotation history before the run


# -------------------------------------------------------------------------------------- policy

ROLE_NAMES = Literal["teacher", "principal", "vice_principal", "middle_manager"]
PRIORITY_NAMES = Literal[tuple(PRIORITY_RULES)]


TIER_NAMES = Literal["rural", "weak", "ordinary", "strong", "leading"]
DISTRICT_TYPE_NAMES = Literal["urban_core", "inner_suburb", "outer_suburb", "rural"]


class Eligibility(Strict):
    """Who may be rotated this year."""

    min_years_at_school: Count = 6  # years; Beijing 2016/2021 rule
    min_years_to_retirement: Count = 6  # "more than 5 years before retirement" (Beijing)
    max_experience: Count | None = None  # only new or young teachers (training flow)
    roles: list[ROLE_NAMES] = ["teacher", "principal", "vice_principal", "middle_manager"]
    levels: list[Literal["primary", "junior"]] = ["primary", "junior"]
    sending_tiers: list[TIER_NAMES] = ["rural", "weak", "ordinary", "strong", "leading"]
    min_backbone: Literal["none", "school", "district", "municipal"] = "none"
    districts: list[str] | None = None  # only schools of these districts take part (None: all)
    district_types: list[DISTRICT_TYPE_NAMES] | None = None  # only districts of these types send (None: all)
    school_districts: list[str] | None = None  # only these school districts (a pilot school district)
    twinned_only: bool = False  # only schools in a twinning pair (Dongcheng's 27 pilot pairs)
    remote_min_years: Count = 0  # years a teacher at a rural school must stay first (Japan)
    exempt_men_over: Annotated[int, Field(ge=30, le=75)] | None = None  # Wuhan 2015: men over 52
    exempt_women_over: Annotated[int, Field(ge=30, le=75)] | None = None  # Wuhan 2015: women over 48

    @field_validator("roles", "levels", "sending_tiers", "districts", "district_types")
    @classmethod
    def _not_empty(cls, names: list[str] | None) -> list[str] | None:
        if names is not None and not names:
            raise ValueError("empty list: no teacher could ever be eligible (leave the key out to allow all)")
        return names


class Quota(Strict):
    """How many are rotated: the largest of the rules that apply, never more than are eligible."""

    share_of_eligible: Share = 0.0  # e.g. 0.10, the 2014 national floor
    # people a year, for a synthetic world at scale 1 (scaled by world.scale); e.g. 2,000 (Dongcheng 2021)
    min_count: Count = 0
    # district: min_count in each district; city: one total, shared by the districts as their eligible
    count_scope: Literal["district", "city"] = "district"
    # district name -> its own head count a year (x world.scale), in place of min_count there
    min_count_by_district: dict[str, Count] = {}
    share_of_staff: Share = 0.0  # e.g. 0.05 of all teachers (Shanghai 2019)
    coverage_years: Annotated[int, Field(ge=1, le=200)] | None = None  # every eligible within N years
    per_school: bool = False  # apply share_of_eligible within each school, not district-wide
    mandatory_after_years: Annotated[int, Field(ge=1, le=200)] | None = None  # must move at this tenure (Japan: 6)
    # share_of_eligible applies to the eligible not yet at the mandatory tenure and adds to those who
    # must move (Japan: all at 6 years move, and some between 3 and 6), instead of the larger of the two
    share_beyond_mandatory: bool = False

    @model_validator(mode="after")
    def _by_district_is_per_district(self) -> Self:
        if self.min_count_by_district and self.count_scope == "city":
            raise ValueError("min_count_by_district gives each district its own head count; it cannot go with "
                             "count_scope: city (one total shared by the districts)")
        return self


class Points(Strict):
    """Korea-style placement points and teachers' ranked preferences (Seoul)."""

    location_weight: NonNegative = 1.0  # points per year served at rural or weak schools
    performance_weight: NonNegative = 5.0  # points per unit of quality above the mean
    bonus_backbone: NonNegative = 2.0  # bonus points per backbone level
    preferences: Annotated[int, Field(ge=1, le=20)] = 5  # length of each teacher's ranked list
    preference_commute_weight: NonNegative = 0.05  # utility lost per minute of commute
    preference_tier_weight: NonNegative = 0.5  # utility per tier step of the school
    preference_noise: NonNegative = 0.5  # idiosyncratic taste (sd of a normal draw)


class Program(Strict):
    """One rotation stream: whom, how many, where to and for how long."""

    name: Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_\-]+$")]
    eligibility: Eligibility = Eligibility()
    quota: Quota = Quota()
    backbone_floor: Share = 0.0  # minimum backbone share of rotators; 0.20 in the 2014 opinion
    backbone_floor_level: Literal["school", "district", "municipal"] = "district"
    priority: list[PRIORITY_NAMES] = ["never_rotated"]
    selection: Literal[tuple(SELECTORS)] = "district"  # who chooses: the district, or the sending school
    gaming: Share = 0.0  # with school selection: how strongly schools send their weaker teachers (Wei & Zhou 2019)
    leadership_cap: Share = 1.0  # most of a school's cadres that may leave in a year (Wuhan 2015: 0.3)
    scope: Literal[tuple(SCOPES)] = "district"
    prefer: list[Literal["twinning", "group"]] = []  # hosts tried first when feasible
    cross_level: bool = False  # primary teachers may go to junior schools and vice versa
    direction: Literal["any", "strong_to_weak", "weak_to_strong"] = "any"
    matching: Literal[tuple(MATCHERS)] = "need"
    commute_cap_minutes: Annotated[float, Field(gt=0, le=600.0)] | None = None  # Japan: about 90 minutes
    # optimal matching: equity units given up per minute of commute
    commute_weight: Annotated[float, Field(ge=0.0, le=1.0)] = 0.002
    points: Points = Points()
    form: Literal[tuple(FORMS)] = "full_time"
    part_time_share: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5  # share of load taught at the host
    term_years_min: Annotated[int, Field(ge=1, le=10)] = 1  # years; Beijing term 1-3
    term_years_max: Annotated[int, Field(ge=1, le=10)] = 3
    stay_share: Share = 0.0  # share of rotators who transfer to the host at term end
    # how the move is an exchange (docs/ODD.md 7.6.13): one_way, hosts receive and nobody comes back;
    # paired, each rotator's host sends one of its teachers to the rotator's school (one for one)
    exchange: Literal["one_way", "paired"] = "one_way"
    # a full-time rotator's home post while away: none (left open); temporary (a temporary hire, at
    # the hiring fill rate); pool (a teacher of the district's reserve); the cover leaves at term end
    backfill: Literal["none", "temporary", "pool"] = "none"
    # x norm: teachers a host of this program may hold; None: policy.receiving_capacity
    host_cap: Annotated[float, Field(ge=1.0, le=3.0)] | None = None
    receiving_districts: list[str] | None = None  # hosts only in these districts (None: any in scope)
    receiving_district_types: list[DISTRICT_TYPE_NAMES] | None = None  # hosts only in these types
    receiving_tiers: list[TIER_NAMES] | None = None  # hosts only of these tiers (None: any, as direction allows)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.term_years_min > self.term_years_max:
            raise ValueError(
                f"term_years_min ({self.term_years_min}) is above term_years_max ({self.term_years_max})"
            )
        if self.matching == "leading_school" and self.scope != "group":
            raise ValueError("matching 'leading_school' sends teachers within their group: set scope: group")
        if self.form == "part_time" and self.stay_share > 0:
            raise ValueError("a part-time rotator keeps the home post: stay_share must be 0")
        if self.backfill != "none" and self.form != "full_time":
            raise ValueError(f"backfill covers a full-time rotator's post; a {self.form} rotator leaves none "
                             "open: set backfill: none")
        if [] in (self.receiving_districts, self.receiving_district_types, self.receiving_tiers):
            raise ValueError("empty receiving list: no school could ever receive (leave the key out to allow all)")
        return self


class DoubleTeacher(Strict):
    """Double-teacher classrooms: a strong teacher's lessons reach classes at other schools live."""

    classrooms: Count = 0  # Dongcheng: 78
    reach: Annotated[int, Field(ge=1, le=20)] = 2  # receiving schools per classroom
    class_size: Annotated[int, Field(ge=1, le=200)] = 45  # students per reached class
    strength: Share = 0.5  # share of the quality gap to the lead teacher closed for reached students
    scope: Literal["group", "school_district", "district", "city"] = "district"


class Policy(Strict):
    """The rotation rules: zero or more programs, run in order each year, and what supports them."""

    programs: list[Program] = []
    # x norm: teachers a full-time host may hold (1.0: its staffing norm); assumption, explored 1.0-1.3
    receiving_capacity: Annotated[float, Field(ge=1.0, le=3.0)] = 1.0
    double_teacher: DoubleTeacher = DoubleTeacher()
    dormitories_per_district: Count = 0  # rotation dormitory beds per district (Binzhou built 90 dormitories)
    dormitory_commute_minutes: Minutes = 15.0  # commute of a rotator who has a dormitory bed
    allowance: Share = 0.0  # satisfaction added for teachers on rotation (pay and allowances)
    title_requires_rotation_years: Count = 0  # years of rotation or rural service before a senior title

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [p.name for p in self.programs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"program names must be unique; repeated: {', '.join(dupes)}")
        return self


# ----------------------------------------------------------------------------------------- run


class Run(Strict):
    """How long, how many replicates, from which root seed."""

    years: Annotated[int, Field(ge=1, le=200)] = 10
    replicates: Annotated[int, Field(ge=1, le=10_000)] = 1
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 20210901


class Scenario(Strict):
    """A whole scenario. `name` labels results; `description` says it in words."""

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_\-][A-Za-z0-9_\-\.]*$")] = "scenario"
    description: str = ""
    world: World = World()
    careers: Careers = Careers()
    policy: Policy = Policy()
    run: Run = Run()
    source_dir: str = Field(default=".", exclude=True)  # where relative roster paths resolve

    def __iter__(self):
        """A scenario is one value, not a sequence of its fields: Mesa's batch_run (which tries to
        iterate every parameter value) then passes it whole. Use model_dump() for the fields."""
        raise TypeError("a Scenario is not iterable; use scenario.model_dump() for its fields")


# -------------------------------------------------------------------------------------- loading


MAX_YAML_VALUES = 100_000  # a scenario or sweep file holds a few hundred; more is an alias bomb
MAX_YAML_DEPTH = 50  # mappings and lists nested in one another; a scenario needs about 6
MAX_YAML_BYTES = 1_000_000  # a scenario or sweep file is a few kilobytes
MAX_EXTENDS = 30  # files in one `extends:` chain


def read_text(path: Path, limit: int = MAX_YAML_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes (`sim.files.read_regular`, links
    followed), or ScenarioError in the configuration files' own words."""
    try:
        data = read_regular(path, limit, follow_links=True)
    except FileRefused as exc:
        raise ScenarioError(f"{path}: {_refusal_words(exc, limit)}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _refusal_words(exc: FileRefused, limit: int) -> str:
    """How a scenario, sweep or other configuration file's refusal is said (tests hold these words)."""
    return {"missing": "file not found", "unreadable": f"cannot read: {exc.strerror}",
            "folder": "is a folder, not a regular file",
            "special": "is a device, FIFO or socket, not a regular file",
            "too large": f"larger than {limit:,} bytes; refused"}[exc.reason]


# libyaml's safe loader where PyYAML was built with it: the same documents about 10x faster than
# the pure-Python reader (a scenario file took 37 ms, read three times by parse_yaml)
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is {}); ScenarioError otherwise."""
    data = parse_yaml(read_text(path), str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: top level must be a mapping of keys, not {type(data).__name__}")
    return data


def parse_yaml(text: str, where: str) -> Any:
    """Every YAML text the tool reads (files, --set values, a sweep's `set:` items) goes through
    here: the safe loader only, at most MAX_YAML_BYTES, MAX_YAML_DEPTH levels and MAX_YAML_VALUES
    values after aliases, no repeated key. Problems are ScenarioError("<where>: ...")."""
    if len(text) > MAX_YAML_BYTES:
        raise ScenarioError(f"{where}: larger than {MAX_YAML_BYTES:,} characters; refused")
    try:
        return _checked_load(text, where, FAST_LOADER)
    except yaml.YAMLError:
        pass  # read again by the pure-Python reader, whose messages say where and what is wrong
    try:
        return _checked_load(text, where, yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}" if mark is not None else "syntax"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{where}: {at}: invalid YAML: {problem}") from None


def _checked_load(text: str, where: str, loader) -> Any:
    # the parser is a loop, not a recursion: the depth is measured before composing recurses
    problem = _depth_problem(yaml.parse(text, Loader=loader))
    # composing builds only the node tree (no Python objects), so it is as safe as safe_load;
    # it lets repeated keys and alias bombs be refused before anything is constructed
    problem = problem or _node_problem(yaml.compose(text, Loader=loader))
    if problem:
        raise ScenarioError(f"{where}: {problem}")
    return yaml.load(text, Loader=loader)  # noqa: S506 - loader is SafeLoader or its libyaml twin


def _depth_problem(events) -> str | None:
    depth = 0
    for event in events:
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                return (f"line {event.start_mark.line + 1}: nested more than {MAX_YAML_DEPTH} levels deep; "
                        "refused")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return None


def _node_problem(root) -> str | None:
    """A repeated key in one mapping (YAML would silently keep the last), a recursive alias, or a
    document whose aliases expand to more than MAX_YAML_VALUES values; None when there is none."""
    if root is None:
        return None
    sizes: dict[int, int] = {}
    busy: set[int] = set()

    def size(node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in busy:
            raise _NodeProblem(f"line {node.start_mark.line + 1}: a YAML alias refers to itself")
        busy.add(id(node))
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                    line = key.start_mark.line + 1
                    if key.value in seen:
                        raise _NodeProblem(f"line {line}: key {key.value!r} is repeated (first on line "
                                           f"{seen[key.value]}); YAML would silently keep only the last")
                    seen[key.value] = line
                total += size(key) + size(value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        busy.discard(id(node))
        if total > MAX_YAML_VALUES:
            raise _NodeProblem(f"line {node.start_mark.line + 1}: the document expands to more than "
                               f"{MAX_YAML_VALUES:,} values (YAML aliases); refused")
        sizes[id(node)] = total
        return total

    try:
        size(root)
    except _NodeProblem as exc:
        return str(exc)
    except RecursionError:
        return "nested too deeply"
    return None


class _NodeProblem(Exception):
    pass


def _merge(base: dict, over: dict, origin: dict[str, str], source: str, prefix: str = "") -> dict:
    """Merge `over` into a copy of `base`; record in `origin` which file set each dotted key."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, origin, source, dotted + ".")
        else:
            out[key] = copy.deepcopy(value)
            _record(origin, dotted, value, source)
    return out


def _record(origin: dict[str, str], dotted: str, value: Any, source: str) -> None:
    origin[dotted] = source
    if isinstance(value, dict):
        for k, v in value.items():
            _record(origin, f"{dotted}.{k}", v, source)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _record(origin, f"{dotted}.{i}", v, source)


def _resolve(path: Path, origin: dict[str, str], chain: tuple[Path, ...]) -> dict:
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise ScenarioError(f"{chain[-1]}: extends: cyclic extends ({cycle})")
    if len(chain) >= MAX_EXTENDS:
        raise ScenarioError(f"{chain[-1]}: extends: a chain of more than {MAX_EXTENDS} files; refused")
    data = read_yaml_mapping(path)
    parent = data.pop("extends", None)
    if parent is None:
        return _merge({}, data, origin, str(path))
    if not isinstance(parent, str) or not parent:
        raise ScenarioError(f"{path}: extends: must be a file path")
    parent_path = (path.parent / parent)
    if not parent_path.exists():
        raise ScenarioError(f"{path}: extends: base file {parent!r} not found")
    if not parent_path.is_file():
        raise ScenarioError(f"{path}: extends: base file {parent!r} is not a regular file")
    base = _resolve(parent_path, origin, (*chain, path))
    return _merge(base, data, origin, str(path))


KEY = re.compile(r"^[A-Za-z0-9_\-]+$")  # one step of a dotted key: a field, a list index or a program name


def _apply_override(data: dict, origin: dict[str, str], item: str) -> None:
    """Set one dotted key. A step into a list is an index or, for a list of named items (programs),
    a name: `policy.programs.district_exchange.quota.min_count=2500`. The key is recorded in its
    index form, so problems are reported and traced as for a file."""
    if "=" not in item:
        raise ScenarioError(f"--set {item}: expected dotted.key=value")
    dotted, raw = item.split("=", 1)
    keys = dotted.strip().split(".")
    if not all(keys):
        raise ScenarioError(f"--set {item}: empty key in {dotted!r}")
    bad = next((k for k in keys if not KEY.match(k)), None)
    if bad is not None:
        raise ScenarioError(f"--set {item}: {bad!r} in {dotted.strip()!r} is not a key (letters, digits, _ and - only)")
    value = parse_yaml(raw, f"--set {dotted.strip()}") if raw.strip() else ""
    node: Any = data
    steps = []
    for key in keys[:-1]:
        if isinstance(node, list):
            index = _list_index(node, key, item)
            steps.append(str(index))
            node = node[index]
            continue
        if key not in node or not isinstance(node[key], (dict, list)):
            node[key] = {}
        steps.append(key)
        node = node[key]
    last = keys[-1]
    if isinstance(node, list):
        index = _list_index(node, last, item)
        steps.append(str(index))
        node[index] = value
    else:
        steps.append(last)
        node[last] = value
    _record(origin, ".".join(steps), value, "--set")


def _list_index(node: list, key: str, item: str) -> int:
    """The index a step names in a list: the number, or the item whose `name` it is."""
    if key.isdigit():
        if int(key) >= len(node):
            raise ScenarioError(f"--set {item}: {key!r} is not an index of a list of {len(node)}")
        return int(key)
    names = [x.get("name") if isinstance(x, dict) else None for x in node]
    if key in names:
        return names.index(key)
    known = ", ".join(str(n) for n in names if n is not None) or "none"
    raise ScenarioError(f"--set {item}: {key!r} is neither an index of a list of {len(node)} nor the name of "
                        f"one of its items (names: {known})")


def field_problem(dotted: str) -> str | None:
    """Why a dotted key does not name exactly one field of the scenario schema, None when it does.
    A step into a list is an index or an item's name; a whole section (`run`, `careers`) is not one
    field. Used for sweep parameters, whose values replace what the key names."""
    annotation: Any = Scenario
    steps = dotted.split(".")
    if not all(KEY.match(step) for step in steps):
        return "not a dotted scenario key (letters, digits, _ and - between the dots)"
    for i, step in enumerate(steps):
        where = ".".join(steps[:i]) or "the scenario"
        models = _models(annotation)
        if models:
            fields = {k: f for k, f in models[0].model_fields.items() if not f.exclude}
            if step not in fields:
                return f"{where} has no key {step!r}"
            annotation = fields[step].annotation
        elif get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        else:
            return f"{where} is a single value: {step!r} cannot be below it"
    models = _models(annotation)
    if models:
        keys = ", ".join(k for k, f in models[0].model_fields.items() if not f.exclude)
        return f"names the whole section; name one of its keys ({keys})"
    return None


def _models(annotation: Any) -> list[type[BaseModel]]:
    return [t for t in _plain_types(annotation) if isinstance(t, type) and issubclass(t, BaseModel)
            and get_origin(annotation) is not list]


def _source(dotted: str, origin: dict[str, str], default: str) -> str:
    """The file (or --set) that gave the value at a dotted key, else `default`. A problem with a
    whole mapping (a rule across its keys) is blamed on --set if it set any key there, else on the
    top file if it did, else on the last base file that did."""
    if origin.get(dotted) in ("--set", default):  # the top file or --set replaced this value outright
        return origin[dotted]
    under = [src for key, src in origin.items() if key.startswith(dotted + ".")]
    if under:
        return "--set" if "--set" in under else default if default in under else under[-1]
    loc = dotted.split(".")
    for n in range(len(loc), 0, -1):
        found = origin.get(".".join(loc[:n]))
        if found:
            return found
    return default


def validation_line(exc: ValidationError, origin: dict[str, str], default: str) -> str:
    """The first problem of a pydantic error as one line: the dotted key, the file that set it."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"] if p != "[key]"]  # a mapping's key is named by its own path
    dotted = ".".join(loc) or "(top level)"
    source = _source(".".join(loc), origin, default) if loc else default
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "literal_error":
        msg = f"{msg}, got {err.get('input')!r}"
    elif "input" in err and err["type"] not in ("missing",) and not isinstance(err["input"], (dict, list, bool)) \
            and "[key]" not in err["loc"]:
        msg = f"{msg} (got {err['input']!r})"
    more = len(exc.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{source}: {dotted}: {msg}{tail}"


MIN_TEACHER_AGE = 18  # the youngest a roster teacher may be (docs/roster.md); synthetic staff start at 22


def meaning_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Rules that pass the schema but that no teacher or school of the world could ever meet, as
    (dotted key, problem): eligibility nobody can have, and names or links the world does not have
    (district and school-district names, twinning pairs, education groups). Synthetic worlds are
    known from their size knobs; roster names are checked by `sim.config.checks.check_size`."""
    from sim.world.presets import synthetic_shape

    problems: list[tuple[str, str]] = []
    shape = synthetic_shape(scenario.world) if scenario.world.preset != "roster" else None
    retire = scenario.careers.retirement.oldest
    for i, p in enumerate(scenario.policy.programs):
        key = f"policy.programs.{i}"
        e = p.eligibility
        if retire - e.min_years_to_retirement < MIN_TEACHER_AGE:
            problems.append((f"{key}.eligibility.min_years_to_retirement",
                             f"{e.min_years_to_retirement} years before retirement at {retire} means younger than "
                             f"{MIN_TEACHER_AGE}: no teacher could ever be eligible"))
        if e.max_experience is not None and e.min_years_at_school > e.max_experience + 1:
            problems.append((f"{key}.eligibility.min_years_at_school",
                             f"{e.min_years_at_school} years at the school needs more experience than "
                             f"max_experience ({e.max_experience}) allows: no teacher could ever be eligible"))
        if shape is None:
            continue
        problems += name_problems(scenario, shape.district_names, shape.school_district_names,
                                  "this world", only=i)
        if shape.twinning_pairs == 0 and (e.twinned_only or p.scope == "twinning"):
            what = f"{key}.eligibility.twinned_only" if e.twinned_only else f"{key}.scope"
            problems.append((what, "this world has no twinning pairs (world.twinning_pairs_per_district is 0)"))
        if shape.groups == 0 and p.scope == "group":
            problems.append((f"{key}.scope", "this world has no education groups (world.groups_per_district is 0)"))
    return problems


def name_problems(scenario: Scenario, districts: list[str], school_districts: list[str], where: str,
                  only: int | None = None) -> list[tuple[str, str]]:
    """District and school-district names a program gives (eligibility, receiving districts,
    per-district head counts) that name no district of the world."""
    problems = []
    for i, p in enumerate(scenario.policy.programs):
        if only is not None and i != only:
            continue
        for field_name, given, known, what in (
                ("eligibility.districts", p.eligibility.districts, districts, "district"),
                ("eligibility.school_districts", p.eligibility.school_districts, school_districts, "school district"),
                ("receiving_districts", p.receiving_districts, districts, "district"),
                ("quota.min_count_by_district", list(p.quota.min_count_by_district), districts, "district")):
            for name in given or []:
                if name not in known:
                    shown = ", ".join(known[:6]) + (f", ... ({len(known)} in all)" if len(known) > 6 else "")
                    problems.append((f"policy.programs.{i}.{field_name}",
                                     f"{what} {name!r} has no schools in {where} (it has {shown})"))
                    break
    return problems


def read_scenario_file(path: str | Path) -> tuple[dict, dict[str, str]]:
    """A scenario file's keys with its `extends:` chain merged, and which file set each dotted key:
    what `load_scenario` applies overrides to (given to it again, the files are not read again)."""
    origin: dict[str, str] = {}
    return _resolve(Path(path), origin, ()), origin


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                  read: tuple[dict, dict[str, str]] | None = None) -> Scenario:
    """Read a scenario file, follow `extends:`, apply `--set` overrides, and validate.

    Args:
        path: the YAML file.
        overrides: items like ``"policy.programs.0.quota.min_count=2500"``.
        read: `read_scenario_file(path)` already made (a sweep's design points), used in its place.

    Returns:
        The validated Scenario. Raises ScenarioError with a one-line message otherwise.

    Example:
        >>> sc = load_scenario("scenarios/dongcheng_2021.yaml", ["run.years=5"])
    """
    path = Path(path)
    data, origin = read_scenario_file(path) if read is None else copy.deepcopy(read)
    for item in overrides:
        _apply_override(data, origin, item)
    data.setdefault("name", path.stem)
    _rebase_roster_paths(data, origin, path.resolve().parent)
    return scenario_from_dict(data, origin=origin, default_source=str(path.resolve()),
                              source_dir=str(path.resolve().parent))


def _rebase_roster_paths(data: dict, origin: dict[str, str], top: Path) -> None:
    """Roster paths are relative to the scenario file that names them: one inherited through
    `extends:` from a file in another folder is rewritten relative to the top file's folder (where
    relative paths resolve). Paths given with --set stay relative to the top file."""
    world = data.get("world")
    roster = world.get("roster") if isinstance(world, dict) else None
    if not isinstance(roster, dict):
        return
    for key in ("schools_csv", "teachers_csv", "twinning_csv"):
        value, source = roster.get(key), origin.get(f"world.roster.{key}")
        if not isinstance(value, str) or not value or source in (None, "--set") or Path(value).is_absolute():
            continue
        folder = Path(source).parent
        if folder != top:
            roster[key] = os.path.relpath(folder / value, top)


def scenario_from_dict(data: dict, origin: dict[str, str] | None = None,
                       default_source: str = "<scenario>", source_dir: str = ".") -> Scenario:
    """Validate a plain dict as a Scenario (for notebooks and tests); errors as in load_scenario."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(validation_line(exc, origin or {}, default_source)) from None
    problems = meaning_problems(scenario)
    if problems:
        dotted, problem = problems[0]
        raise ScenarioError(f"{_source(dotted, origin or {}, default_source)}: {dotted}: {problem}")
    scenario.source_dir = source_dir
    return scenario


def with_settings(scenario: Scenario, overrides: list[str] | tuple[str, ...]) -> Scenario:
    """A loaded scenario with `--set`-style items applied (programs by name or index), checked
    again as a whole; errors as in load_scenario."""
    data = scenario.model_dump(mode="json")
    origin: dict[str, str] = {}
    for item in overrides:
        _apply_override(data, origin, item)
    return scenario_from_dict(data, origin, "--set", scenario.source_dir)


def scenario_to_yaml(scenario: Scenario) -> str:
    """The resolved scenario as YAML, every default spelled out (what `teachersim validate` prints)."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
