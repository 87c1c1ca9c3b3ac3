"""Statutory retirement by sex and birth month, and the year of the run each teacher retires in.

China's statutory ages were 60 for men and 55 for women in cadre and professional posts (most
teachers; 50 for female workers). The 2024 decision of the NPC Standing Committee raises them
from 1 January 2025 by a month for every four (or, from 50, two) months of birth, to 63, 58 and
55 (sources.md: NPC-2024). The schedule is the table `sim/data/retirement_china_2024.csv`.
`careers.retirement.schedule: fixed` applies the original ages to every birth date (systems
outside China, or the counterfactual without the rise).

Ages and dates are in months. Year `t` of a run is dated September of `world.start_year + t`
(the school year rotations start); a teacher's age is whole years then, and the birth month
places the birthday within the year. Each teacher keeps their own statutory age (`retire_months`,
set when the teacher is added); they retire at the first year at whose date they have reached it
(year 1 at the earliest: the world at year 0 is as given), and "N years before retirement"
counts to it (`years_left`).
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import numpy as np

TABLE = Path(__file__).resolve().parents[1] / "data" / "retirement_china_2024.csv"
SEPTEMBER = 8  # month index of a year's date (0 = January)
# months from the birthday to 1 September by birth month (1-12; rosters are checked to be in it),
# looked up: an integer modulo per row took most of a Beijing year's `years_left`
MONTHS_PAST_BIRTHDAY = (9 - np.arange(13)) % 12


def month_index(text: str) -> int:
    """'1965-01' as months since year 0 (year * 12 + month - 1)."""
    year, month = text.split("-")
    return int(year) * 12 + int(month) - 1


@cache
def schedule() -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """original age -> (first birth month of each row, statutory age in months), rows in order."""
    rows: dict[int, list[tuple[int, int]]] = {}
    with TABLE.open(encoding="utf-8") as fh:
        for row in csv.DictReader(line for line in fh if not line.startswith("#")):
            age = int(row["years"]) * 12 + int(row["months"])
            rows.setdefault(int(row["original_age"]), []).append((month_index(row["born_from"]), age))
    return {k: (np.array([r[0] for r in v]), np.array([r[1] for r in v])) for k, v in rows.items()}


def statutory_months(birth: np.ndarray, original_years: np.ndarray, rule: str) -> np.ndarray:
    """Each person's statutory retirement age in months, from the birth month index and the
    original age (60, 55 or 50 under china_2024)."""
    out = np.asarray(original_years, dtype=np.int64) * 12
    if rule == "fixed":
        return out
    table = schedule()
    for original, (born_from, age) in table.items():
        mine = original_years == original
        row = np.searchsorted(born_from, birth[mine], side="right") - 1  # -1: born before the first row
        out[mine] = np.where(row >= 0, age[np.maximum(row, 0)], original * 12)
    return out


def age_in_months(age: np.ndarray, birth_month: np.ndarray) -> np.ndarray:
    """Age in months on 1 September from whole years and the birth month (1-12): born in
    September the birthday is just passed, in October it is 11 months past."""
    return np.asarray(age, dtype=np.int64) * 12 + MONTHS_PAST_BIRTHDAY[birth_month]


def statutory_age(cfg, year: int, start_year: int, age: np.ndarray, birth_month: np.ndarray,
                  woman: np.ndarray) -> np.ndarray:
    """Each teacher's statutory retirement age in months under `careers.retirement` `cfg`, for
    teachers aged `age` (whole years) at run year `year` (which dates their birth)."""
    birth = (start_year + year) * 12 + SEPTEMBER - age_in_months(age, birth_month)
    return statutory_months(birth, np.where(woman, cfg.women_age, cfg.men_age), cfg.schedule)


def years_left(age: np.ndarray, birth_month: np.ndarray, retire_months: np.ndarray) -> np.ndarray:
    """Years of the run a teacher still works before retiring: the dated years until the
    statutory age is reached, rounded up (5 years and 1 month left is 6, "more than 5 years
    before retirement"; 0 or less: retires now)."""
    return -(-(retire_months - age_in_months(age, birth_month)) // 12)


def retirement_year(cfg, year: int, start_year: int, age: np.ndarray, birth_month: np.ndarray,
                    woman: np.ndarray) -> np.ndarray:
    """The year of the run in which each teacher retires, for teachers aged `age` at run year
    `year` (year 1 at the earliest)."""
    left = years_left(age, birth_month, statutory_age(cfg, year, start_year, age, birth_month, woman))
    return np.maximum(year + left, max(year, 1))
