"""The spans a run's time averages are taken over: the whole run (years 1..last) and its last
five years, where a run settles once the first terms have ended (ODD 4.11, 7.16). Shared by the
summaries, the comparison and the calibration report, so all three average the same years."""

from __future__ import annotations

RECENT_YEARS = 5  # the "last years" time average


def recent_span(last: int) -> tuple[int, int]:
    """The last RECENT_YEARS simulated years (never year 0): the span of the "last years" average."""
    return max(1, last - RECENT_YEARS + 1), last


def span_words(lo: int, hi: int) -> str:
    return f"year {lo}" if lo == hi else f"years {lo}-{hi}"
