"""Category codes shared by the world, the agents and the metrics.

Categories are stored as small integers in the teacher and school arrays; these tuples give
each code its stable name (the position is the code). Order matters where it is a ranking:
tiers run from weakest to strongest, titles and backbone levels from lowest to highest.
"""

TIERS = ("rural", "weak", "ordinary", "strong", "leading")  # code = strength rank
SCHOOL_LEVELS = ("primary", "junior", "nine_year")  # nine_year has both sections
TEACHER_LEVELS = ("primary", "junior")  # the section a teacher teaches in
DISTRICT_TYPES = ("urban_core", "inner_suburb", "outer_suburb", "rural")
ROLES = ("teacher", "principal", "vice_principal", "middle_manager")  # codes > 0 are cadres
TITLES = ("unranked", "second", "first", "senior", "professor")  # senior title = code >= 3
QUALIFICATIONS = ("below", "required", "above")  # above-qualification = code 2
BACKBONE = ("none", "school", "district", "municipal")  # county-level-or-above = code >= 2
SUBJECTS = ("chinese", "maths", "english", "science", "pe", "music", "art", "other")
PE_ART_SUBJECTS = ("pe", "music", "art")  # the scarce subjects the standard counts

SENIOR_TITLE = TITLES.index("senior")
ABOVE_QUALIFICATION = QUALIFICATIONS.index("above")
DISTRICT_BACKBONE = BACKBONE.index("district")
NINE_YEAR = SCHOOL_LEVELS.index("nine_year")
PE_ART_CODES = tuple(SUBJECTS.index(s) for s in PE_ART_SUBJECTS)

# promotion: a teacher takes a leadership post at another school; cadre_rotation: principals exchange posts;
# cover / cover_end: a cover teacher takes / leaves a full-time rotator's post (backfill)
MOVE_KINDS = ("rotation", "return", "stay", "drift", "hire", "retirement", "attrition", "promotion", "cadre_rotation",
              "cover", "cover_end")


def code(names: tuple[str, ...], value: str, what: str) -> int:
    """Return the code of a category name, or raise ValueError naming the allowed values."""
    try:
        return names.index(value)
    except ValueError:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(names)}") from None


def level_fits(school_level, teacher_level):
    """Whether a teacher of `teacher_level` may teach at a school of `school_level` (ints or numpy
    arrays): the same level, or a nine-year school, which has both sections."""
    return (school_level == teacher_level) | (school_level == NINE_YEAR)
