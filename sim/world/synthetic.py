"""Synthetic presets: stratified districts shaped like Dongcheng and like all of Beijing.

Stratification is what rotation acts on, so it is built in on purpose: stronger tiers get more
students, more backbone and senior-title teachers and higher quality, plus a school-level
standing effect so that schools of one tier differ too. How much schools differ in each
indicator is a knob per indicator and level (`world.inequality`), calibrated so that the year-0
between-school CVs of the Dongcheng preset fall in the target ranges of docs/ODD.md 5.1 (around
the Ningguo county figures, sources.md: NINGGUO-2022); `tests/test_world.py` checks each range.
"""

from __future__ import annotations

import numpy as np

from sim.codes import DISTRICT_TYPES, SCHOOL_LEVELS, SUBJECTS, TIERS
from sim.world.presets import Preset, preset_shape
from sim.world.system import SchoolSystem, norm_posts

# Share of non-leading schools in each tier (rural, weak, ordinary, strong), by district type.
TIER_MIX = {
    "urban_core": (0.00, 0.30, 0.50, 0.20),
    "inner_suburb": (0.05, 0.30, 0.47, 0.18),
    "outer_suburb": (0.20, 0.30, 0.40, 0.10),
    "rural": (0.45, 0.25, 0.25, 0.05),
}
DISTRICT_RADIUS_KM = {"urban_core": 3.0, "inner_suburb": 12.0, "outer_suburb": 28.0, "rural": 55.0}
SCHOOL_SPREAD_KM = {"urban_core": 1.8, "inner_suburb": 4.0, "outer_suburb": 7.0, "rural": 12.0}
LEVEL_MIX = (0.60, 0.28, 0.12)  # primary, junior, nine-year
# Students per school by tier (rural..leading), before a lognormal school effect.
ENROL_TIER = np.array([0.30, 0.80, 1.00, 1.30, 1.60])
# Chance that a teacher is a county(district)-level-or-above backbone, by tier (rural..leading).
BACKBONE_TIER = np.array([0.006, 0.015, 0.05, 0.14, 0.24])
SENIOR_TIER = np.array([0.45, 0.65, 1.00, 1.30, 1.50])
ABOVE_QUAL_TIER = np.array([0.25, 0.40, 0.55, 0.70, 0.80])
# log propensity per SD of a school's standing, by indicator (before world.inequality's power);
# assumption: the first three are the earlier prestige effects, PE/art's gives urban schools a spread
STANDING = {"senior_title": 0.165, "above_qualification": 0.19, "backbone": 0.47, "pe_art": 0.5}
SUBJECT_SHARES = np.array([0.24, 0.22, 0.15, 0.14, 0.055, 0.035, 0.035, 0.12])  # order of SUBJECTS
assert len(SUBJECT_SHARES) == len(SUBJECTS)  # noqa: S101  one share per subject


def synthetic_world(preset: Preset, rng: np.random.Generator, scale: float = 1.0,
                    districts: int | None = None, schools_per_district: int | None = None,
                    teachers_per_school: float | None = None, groups_per_district: int | None = None,
                    school_districts_per_district: int | None = None,
                    twinning_pairs_per_district: int | None = None, *, staff,
                    oldest: tuple[int, int]) -> SchoolSystem:
    """Build a stratified city from a preset; any size knob given overrides the preset's. `staff`
    is the scenario's `world` section (inequality knobs, shares of women);
    `oldest` the oldest age drawn for men and for women (a year below their retirement age).
    The steps run in a fixed order because they share one random stream: each district's schools,
    then the enrolments, then the staff."""
    shape = preset_shape(preset, scale, districts, schools_per_district, teachers_per_school, groups_per_district,
                         school_districts_per_district, twinning_pairs_per_district)
    names = shape.district_names
    dtypes = np.array([DISTRICT_TYPES.index(preset.district_types[d % len(preset.district_types)])
                       for d in range(len(names))], dtype=np.int64)

    cols, sd_names, sd_of, group_names, group_district, twinning = _districts(names, dtypes, shape, rng)
    tier = np.array(cols["tier"], dtype=np.int64)
    level = np.array(cols["level"], dtype=np.int64)
    enrol_primary, enrol_junior = _enrolments(tier, level, shape.teachers_per_school, rng)
    schools = {
        "district": np.array(cols["district"], dtype=np.int64),
        "school_district": np.array(cols["school_district"], dtype=np.int64),
        "group": np.array(cols["group"], dtype=np.int64),
        "leading": np.array(cols["leading"], dtype=bool),
        "level": level, "tier": tier,
        "enrol_primary": enrol_primary, "enrol_junior": enrol_junior,
        "x": np.array(cols["x"]), "y": np.array(cols["y"]),
    }
    schools["norm"] = norm_posts(level, enrol_primary, enrol_junior)
    teachers = _synthetic_teachers(schools, dtypes, rng, staff, oldest)
    names_s = [f"{names[int(schools['district'][i])]}-{TIERS[int(tier[i])][:1].upper()}{i + 1:04d}"
               for i in range(len(tier))]
    return SchoolSystem(
        district_names=names, district_types=dtypes,
        school_district_names=sd_names, school_district_of=np.array(sd_of, dtype=np.int64),
        group_names=group_names, group_district=np.array(group_district, dtype=np.int64),
        school_names=names_s, schools=schools, teachers=teachers,
        twinning=np.array(twinning, dtype=np.int64).reshape(-1, 2),
    )


def _districts(names: list[str], dtypes: np.ndarray, shape, rng: np.random.Generator):
    """Every district's schools (columns of the school table), school districts, education groups
    and twinning pairs, numbered city-wide; one district after another, as the draws share a stream."""
    n_d, per_d = len(names), shape.schools_per_district
    n_groups, n_sd, n_pairs = shape.groups, shape.school_districts, shape.twinning_pairs
    cols: dict[str, list] = {c: [] for c in ("district", "school_district", "group", "leading", "level",
                                             "tier", "x", "y")}
    sd_names, sd_of, group_names, group_district, twinning = [], [], [], [], []
    for d in range(n_d):
        dtype = DISTRICT_TYPES[dtypes[d]]
        first = len(cols["tier"])
        tiers, levels = _tiers_and_levels(dtype, per_d, n_groups, rng)
        x, y, centre = _places(dtype, tiers, d, n_d, rng)
        sd_local = _school_districts(x, y, centre, n_sd)
        sd_base = len(sd_names)
        sd_names += [f"{names[d]}-SD{k + 1}" for k in range(n_sd)]
        sd_of += [d] * n_sd
        group = _education_groups(levels, x, y, n_groups)
        g_base = len(group_names)
        if n_groups:
            group_names += [f"{names[d]}-G{k + 1}" for k in range(n_groups)]
            group_district += [d] * n_groups
        twinning += [(first + i, first + j) for i, j in _twinning_pairs(tiers, levels, x, y, n_pairs)]
        cols["district"] += [d] * per_d
        cols["school_district"] += (sd_local + sd_base).tolist()
        cols["group"] += np.where(group >= 0, group + g_base, -1).tolist()
        cols["leading"] += [i < n_groups for i in range(per_d)]
        cols["level"] += levels.tolist()
        cols["tier"] += tiers.tolist()
        cols["x"] += x.tolist()
        cols["y"] += y.tolist()
    return cols, sd_names, sd_of, group_names, group_district, twinning


def _tiers_and_levels(dtype: str, per_d: int, n_groups: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One district's tiers and levels: the group leaders come first as the 'leading' tier (primary
    or junior, so a group has one level), the rest in the exact shares of the district type's mix."""
    tiers = np.full(per_d, TIERS.index("leading"))
    n_rest = per_d - n_groups
    counts = np.floor(np.array(TIER_MIX[dtype]) * n_rest).astype(int)
    counts[2] += n_rest - counts.sum()
    tiers[n_groups:] = np.repeat(np.arange(4), counts)
    levels = rng.choice(3, size=per_d, p=LEVEL_MIX)
    levels[:n_groups] = rng.choice(2, size=n_groups, p=(0.6, 0.4))  # leaders are primary or junior
    return tiers, levels


def _places(dtype: str, tiers: np.ndarray, d: int, n_d: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """School positions (km) around the district's centre, which lies on a ring whose radius grows
    from the urban core outwards, so commutes and sharing distances differ by district type."""
    angle = 2 * np.pi * d / n_d
    cx, cy = DISTRICT_RADIUS_KM[dtype] * np.cos(angle), DISTRICT_RADIUS_KM[dtype] * np.sin(angle)
    spread = SCHOOL_SPREAD_KM[dtype]
    per_d = len(tiers)
    x = cx + rng.normal(0, spread, per_d)
    y = cy + rng.normal(0, spread, per_d)
    rural = tiers == TIERS.index("rural")
    x[rural] = cx + rng.normal(0, spread * 1.6, rural.sum())  # villages lie farther out
    y[rural] = cy + rng.normal(0, spread * 1.6, rural.sum())
    return x, y, (cx, cy)


def _school_districts(x: np.ndarray, y: np.ndarray, centre: tuple[float, float], n_sd: int) -> np.ndarray:
    """Each school's school district within its district: contiguous sectors around the centre,
    as real school districts are neighbouring areas (local numbers 0..n_sd-1)."""
    cx, cy = centre
    per_d = len(x)
    order = np.argsort(np.arctan2(y - cy, x - cx), kind="stable")
    sd_local = np.empty(per_d, dtype=np.int64)
    sd_local[order] = np.arange(per_d) * n_sd // per_d
    return sd_local


def _education_groups(levels: np.ndarray, x: np.ndarray, y: np.ndarray, n_groups: int) -> np.ndarray:
    """Each school's group within its district (local number, -1 for none): the leaders (the first
    n_groups schools) take turns claiming their nearest free school of their level (or a nine-year
    one) until about 70% of the schools are in a group, as Beijing's groups cover most schools."""
    per_d = len(levels)
    group = np.full(per_d, -1)
    if not n_groups:
        return group
    group[:n_groups] = np.arange(n_groups)
    target = int(0.7 * per_d)
    # each leader's fitting schools nearest first (ties: lower number first, as a first-nearest
    # search over the free schools in order), so a turn takes the first one still free
    others = np.arange(n_groups, per_d)
    taken = [False] * per_d
    queues = []
    for g in range(n_groups):
        fits = others[(levels[others] == levels[g]) | (levels[others] == 2)]
        dx, dy = x[fits] - x[g], y[fits] - y[g]
        queues.append(_FirstFree(fits[np.argsort(dx * dx + dy * dy, kind="stable")].tolist(), taken))
    grouped, free, k = n_groups, per_d - n_groups, 0
    while grouped < target and free:
        leader = k % n_groups
        k += 1
        j = queues[leader].first()  # a group keeps to one level: the leader's (or nine-year schools)
        if j is None:
            if all(q.first() is None for q in queues):
                break
            continue
        taken[j] = True
        group[j] = leader
        grouped += 1
        free -= 1
    return group


class _FirstFree:
    """A school's candidates in its order of preference, and the first not yet `taken` (a list
    shared by the queues of one search); each taken one is skipped once, not searched again."""

    def __init__(self, order: list[int], taken: list[bool]):
        self.order, self.taken, self.at = order, taken, 0

    def first(self) -> int | None:
        while self.at < len(self.order) and self.taken[self.order[self.at]]:
            self.at += 1
        return self.order[self.at] if self.at < len(self.order) else None


def _twinning_pairs(tiers: np.ndarray, levels: np.ndarray, x: np.ndarray, y: np.ndarray,
                    n_pairs: int) -> list[tuple[int, int]]:
    """Up to n_pairs twinning pairs (local school numbers): each strong or leading school (in turn,
    several times if needed) is paired with the nearest unpaired school of the weakest tier left,
    weak and rural before ordinary, since twinning is meant to lift the weakest schools."""
    strong = [i for i in np.argsort(-tiers, kind="stable").tolist() if tiers[i] >= TIERS.index("strong")]
    partners = np.flatnonzero(tiers <= TIERS.index("ordinary"))
    # each strong school's fitting partners by (tier, distance, number), made on its first turn:
    # its first one still free is the nearest of the weakest tier left (ties: the lower number)
    queues: dict[int, _FirstFree] = {}
    taken = [False] * len(tiers)
    pairs: list[tuple[int, int]] = []
    left = len(partners)
    for k in range(4 * n_pairs if strong else 0):
        if len(pairs) == n_pairs or not left:
            break
        i = strong[k % len(strong)]
        if i not in queues:
            fits = partners[(levels[partners] == levels[i]) | (levels[partners] == 2) | (levels[i] == 2)]
            dx, dy = x[fits] - x[i], y[fits] - y[i]
            queues[i] = _FirstFree(fits[np.lexsort((dx * dx + dy * dy, tiers[fits]))].tolist(), taken)
        j = queues[i].first()
        if j is None:
            continue
        taken[j] = True
        left -= 1
        pairs.append((i, j))
    return pairs


def _enrolments(tier: np.ndarray, level: np.ndarray, tps: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Primary and junior students per school: a tier size times a lognormal school effect, scaled
    so the city's posts match teachers_per_school on average, with a floor so no school is empty."""
    size = ENROL_TIER[tier] * rng.lognormal(0.0, 0.30, len(tier))
    nine = level == SCHOOL_LEVELS.index("nine_year")
    share_primary = np.where(level == 0, 1.0, np.where(level == 1, 0.0, 0.62))
    per_100 = share_primary * 7.7 + (1 - share_primary) * 10.0
    students = size / np.mean(size * per_100 / 100) * tps
    enrol_primary = np.rint(students * share_primary).astype(np.int64)
    enrol_junior = np.rint(students * (1 - share_primary)).astype(np.int64)
    enrol_primary[nine] = np.maximum(enrol_primary[nine], 20)
    enrol_junior[nine] = np.maximum(enrol_junior[nine], 20)
    enrol_primary[level == 0] = np.maximum(enrol_primary[level == 0], 30)
    enrol_junior[level == 1] = np.maximum(enrol_junior[level == 1], 30)
    return enrol_primary, enrol_junior


def steady_tenures(system: SchoolSystem, cycle: int, rng: np.random.Generator,
                   weights: list[float] | None = None) -> None:
    """Start a system that already rotates every `cycle` years in its steady state: each teacher's
    years at the current school drawn on 0..cycle-1, uniformly or in proportion to `weights` (a
    cycle with early movers keeps fewer in its last years), never more than their experience. The
    synthetic draw otherwise has long tenures, as Chinese schools had before rotation, so a
    fixed-cycle scenario would move everyone past the cycle in its first year."""
    t = system.teachers
    n = len(t["years_at_school"])
    if weights is None:
        drawn = rng.integers(0, cycle, n)  # as before weights existed: the same worlds
    else:
        w = np.asarray(weights, dtype=float)
        drawn = rng.choice(cycle, n, p=w / w.sum())
    t["years_at_school"] = np.minimum(drawn, t["experience"]).astype(np.int64)


def _synthetic_teachers(schools: dict[str, np.ndarray], district_types: np.ndarray,
                        rng: np.random.Generator, staff, oldest: tuple[int, int]) -> dict[str, np.ndarray]:
    """Staff every school near its norm, with tier- and standing-dependent attributes. A teacher's
    propensity to hold an indicator is exp(r), r = log(tier base) + b z with z the school's standing
    (standard normal) and b the indicator's STANDING slope; the indicator's `world.inequality` knob
    c for the level taught raises these contrasts to the power c and rescales them to the same mean
    (c = 1: the tables as they are; 0: every school alike, chance alone; above 1: more concentrated).
    The steps share one random stream, so their order is part of the world a seed gives."""
    spread = staff.inequality
    tier = schools["tier"]
    n_s = len(tier)
    rural_district = district_types[schools["district"]] == DISTRICT_TYPES.index("rural")
    fill = np.where(tier == 0, rng.uniform(0.80, 1.0, n_s), rng.normal(1.0, spread.staffing_sd, n_s))
    fill = np.where(tier >= 3, fill + 0.04, fill)  # strong schools are a little over their norm
    staff_n = np.maximum(np.rint(schools["norm"] * fill), 6).astype(np.int64)
    school = np.repeat(np.arange(n_s), staff_n)
    n = len(school)
    standing = rng.standard_normal(n_s)  # a school's standing beyond its tier
    t = tier[school]
    z = standing[school]
    level = _levels_taught(schools, school, rng)

    def concentrate(r: np.ndarray, indicator: str) -> np.ndarray:
        """exp(r) with its contrasts raised to the indicator's knob for each level, mean kept per level."""
        out = np.empty(n)
        for lv, c in enumerate(spread.power(indicator)):
            mine = level == lv
            if mine.any():
                r_m = r[mine]  # gathered and exponentiated once each (a Beijing world: 10 ms)
                contrast = np.exp(c * (r_m - r_m.mean()))
                out[mine] = np.exp(r_m).mean() * contrast / contrast.mean()
        return out

    woman, age, experience, years_at_school = _ages(level, staff, oldest, rng)
    title = _titles(concentrate(np.log(SENIOR_TIER[t]) + STANDING["senior_title"] * z, "senior_title"),
                    t, age, experience, rng)
    above = concentrate(np.log(ABOVE_QUAL_TIER[t]) + STANDING["above_qualification"] * z, "above_qualification")
    qualification = _qualifications(above, t, age, rng)
    backbone = _backbones(concentrate(np.log(BACKBONE_TIER[t]) + STANDING["backbone"] * z, "backbone"),
                          experience, rng)
    rural_post = rural_district[school] | (t == 0)  # rural schools lack PE and art teachers: half the share
    pe_art = concentrate(np.log(np.where(rural_post, 0.5, 1.0)) + STANDING["pe_art"] * z, "pe_art")
    subject = _subjects(pe_art, rng)
    quality = (1.0 + 0.07 * (t - 2) + 0.033 * z
               + 0.25 * (1 - np.exp(-experience / 7.0)) - 0.15
               + 0.10 * (backbone >= 2) + rng.normal(0, 0.12, n))
    quality = np.clip(quality, 0.1, None)
    role = _roles(quality, experience, age, school, staff_n, rng)
    far = rng.random(n) < np.where(t == 0, 0.4, 0.05)  # some live in the district town
    home_x = schools["x"][school] + rng.normal(0, 3.0, n) + far * rng.normal(0, 15.0, n)
    home_y = schools["y"][school] + rng.normal(0, 3.0, n) + far * rng.normal(0, 15.0, n)
    return {
        "school": school, "role": role, "level": level.astype(np.int64),
        "subject": subject.astype(np.int64), "title": title.astype(np.int64),
        "qualification": qualification.astype(np.int64), "backbone": backbone.astype(np.int64),
        "age": age, "experience": experience.astype(np.int64), "years_at_school": years_at_school,
        "quality": quality, "home_x": home_x, "home_y": home_y, "woman": woman,
        "birth_month": rng.integers(1, 13, n),
    }


def _levels_taught(schools: dict[str, np.ndarray], school: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The level each teacher teaches: the school's, or at a nine-year school primary or junior in
    the school's share of primary students, so posts follow the pupils."""
    level = schools["level"][school].copy()
    nine = level == SCHOOL_LEVELS.index("nine_year")
    share_primary = schools["enrol_primary"] / (schools["enrol_primary"] + schools["enrol_junior"])
    level[nine] = (rng.random(nine.sum()) >= share_primary[school[nine]]).astype(np.int64)
    return level


def _ages(level: np.ndarray, staff, oldest: tuple[int, int], rng: np.random.Generator):
    """Sex, age, experience and years at the school: ages up to a year below each sex's retirement
    age (women retire earlier, so their ages are capped lower), tenures long as before rotation."""
    n = len(level)
    woman = rng.random(n) < np.where(level == 0, staff.women_share_primary, staff.women_share_junior)
    top = np.where(woman, oldest[1], oldest[0])
    age = np.clip(np.rint(22 + rng.beta(1.6, 1.5, n) * (top - 21.5)), 22, top).astype(np.int64)
    experience = np.clip(age - 22 - rng.integers(0, 3, n), 0, None)
    years_at_school = np.minimum(experience, np.rint(rng.exponential(9.0, n))).astype(np.int64)
    return woman, age, experience, years_at_school


def _titles(senior: np.ndarray, t: np.ndarray, age: np.ndarray, experience: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
    """Professional titles: second-level after a year, first-level slowly (about half by 18 years of
    experience), senior by the school's concentrated propensity and age, a few professors among the
    senior teachers of strong and leading schools."""
    n = len(t)
    senior_p = senior / (1 + np.exp(-(age - 46) / 4.0))
    u = rng.random(n)
    first_p = 1.0 / (1.0 + np.exp(-(experience - 18) / 4.0))
    title = np.where(experience < 1, 0, np.where((experience >= 5) & (rng.random(n) < first_p), 2, 1))
    title = np.where((u < senior_p * 0.55) & (experience >= 12), 3, title)
    return np.where((title == 3) & (rng.random(n) < 0.05 * (t >= 3)), 4, title)


def _qualifications(above: np.ndarray, t: np.ndarray, age: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Qualification (below, required, above): younger teachers more often above, a few below the
    required level, more of them in rural schools."""
    above_p = np.clip(above + 0.15 * (age < 35), 0, 0.98)
    below_p = np.where(t == 0, 0.06, 0.01)
    uq = rng.random(len(t))
    return np.where(uq < above_p, 2, np.where(uq > 1 - below_p, 0, 1))


def _backbones(bb: np.ndarray, experience: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Backbone level: district-level-or-above only after six years (a quarter of them municipal),
    school-level backbones after four."""
    bb_p = np.clip(bb * (experience >= 6) * 1.6, 0, 0.8)
    ub = rng.random(len(bb))
    return np.where(ub < bb_p, np.where(ub < bb_p * 0.25, 3, 2),
                    np.where(ub < bb_p + 0.10 * (experience >= 4), 1, 0))


def _subjects(pe_art: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Subjects in SUBJECT_SHARES, with the PE, art and music shares scaled by the school's
    concentrated propensity (rural posts and weaker standing get fewer of them)."""
    shares = np.tile(SUBJECT_SHARES, (len(pe_art), 1))
    shares[:, 4:7] *= pe_art[:, None]
    shares /= shares.sum(axis=1, keepdims=True)
    return (rng.random(len(pe_art))[:, None] < np.cumsum(shares, axis=1)).argmax(axis=1)


def _roles(quality: np.ndarray, experience: np.ndarray, age: np.ndarray, school: np.ndarray,
           staff_n: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cadres: in each school, staff of 35 or more ranked by score (stable): the first is principal,
    the next 1-3 vice principals (by staff size), then about 6% of the staff middle managers."""
    role = np.zeros(len(school), dtype=np.int64)
    score = quality + 0.02 * experience + rng.normal(0, 0.1, len(school))
    senior = np.flatnonzero(age >= 35)
    # by school, then score (stable), as np.lexsort((-score, school)) but quicker: a stable sort by score,
    # then a stable sort by school, which numpy does by radix on 16-bit codes
    by_score = senior[np.argsort(-score[senior], kind="stable")]
    ranked = by_score[np.argsort(school[by_score].astype(np.uint16 if len(staff_n) <= 2**16 else np.int64),
                                 kind="stable")]
    at = school[ranked]
    rank = np.arange(len(ranked)) - np.searchsorted(at, np.arange(len(staff_n)))[at]  # place within the school
    n_vice = 1 + (staff_n[at] > 60) + (staff_n[at] > 120)
    n_mid = np.array([int(round(0.06 * k)) for k in staff_n.tolist()])[at]
    role[ranked] = np.where(rank == 0, 1, np.where(rank <= n_vice, 2, np.where(rank <= n_vice + n_mid, 3, 0)))
    return role
