"""Unix times as people of the district read them: a date and time in Europe/Paris."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
# Outside these bounds an integer is not a plausible time of the district (a count, an amount).
FIRST_PLAUSIBLE = 946_684_800  # 2000-01-01
LAST_PLAUSIBLE = 4_102_444_800  # 2100-01-01


def paris_time(unix: int) -> str:
    """1796167956 -> "2026-12-02 00:32:36 Europe/Paris" (daylight saving applied)."""
    moment = datetime.fromtimestamp(unix, UTC).astimezone(PARIS)
    return f"{moment:%Y-%m-%d %H:%M:%S} Europe/Paris"


def paris_minute(unix: int) -> str:
    """1796167956 -> "2026-12-02 00:32": for lists whose heading names the time zone."""
    return f"{datetime.fromtimestamp(unix, UTC).astimezone(PARIS):%Y-%m-%d %H:%M}"


def is_plausible_time(value: int) -> bool:
    return FIRST_PLAUSIBLE <= value < LAST_PLAUSIBLE
