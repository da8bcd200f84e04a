"""EventBridge Scheduler's rules for schedule expressions and time zones, which moto 5.2.5 does not
check at all (it stores any string: `cron(61 8 ...)`, `Mars/Olympus`).

Sources (each rule below names its own):
- botocore `scheduler` model: ScheduleExpression 1..=256 characters; ScheduleExpressionTimezone
  1..=50; the expression doc: `at(yyyy-mm-ddThh:mm:ss)`, `rate(value unit)` with a positive integer
  value and unit `minute | minutes | hour | hours | day | days`, `cron(fields)` with six fields
  `(minutes hours day_of_month month day_of_week year)`.
- Scheduler user guide, "Schedule types" (cron-based): field values and wildcards
  (minutes 0-59 `, - * /`; hours 0-23 `, - * /`; day-of-month 1-31 `, - * ? / L W`; month 1-12 or
  JAN-DEC `, - * /`; day-of-week 1-7 or SUN-SAT `, - * ? L #`; year 1970-2199 `, - * /`); the
  day-of-month and day-of-week fields cannot both be given: one of them is `?`.
- EventBridge "Rate expressions reference": value 1 takes the singular unit, above 1 the plural.
- Time zones: IANA names (the guide's "Time zones on EventBridge Scheduler"); the sandbox reads the
  machine's zoneinfo database.

Undocumented forms (ranges that wrap around such as FRI-MON, `L-3`, `LW`) are refused: the worst
case for the tool, whose local check refuses them too.
"""

from __future__ import annotations

import re
import zoneinfo

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_AT_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$")
_RATE_UNITS = {"minute": True, "minutes": False, "hour": True, "hours": False, "day": True, "days": False}


def _value(field: str, text: str, lo: int, hi: int, names: list[str]) -> int:
    if text.isdigit():
        v = int(text)
        if lo <= v <= hi:
            return v
        raise ValueError(f"{field}: {v} is out of range {lo}-{hi}")
    upper = text.upper()
    if upper in names:
        return lo + names.index(upper)
    raise ValueError(f"{field}: {text!r} is not a value")


def _plain(field: str, text: str, lo: int, hi: int, names: list[str] | None = None) -> None:
    names = names or []
    if text == "?":
        raise ValueError(f"{field}: ? is allowed in day-of-month or day-of-week only")
    for item in text.split(","):
        rng, _, step = item.partition("/")
        if "/" in item and (not step.isdigit() or int(step) < 1):
            raise ValueError(f"{field}: the increment in {item!r} must be a positive number")
        if rng == "*":
            continue
        if "-" in rng:
            a, _, b = rng.partition("-")
            if _value(field, a, lo, hi, names) > _value(field, b, lo, hi, names):
                raise ValueError(f"{field}: the range {rng!r} goes backwards")
        else:
            _value(field, rng, lo, hi, names)


def _dom(text: str) -> None:
    items = text.split(",")
    for item in items:
        if item == "L" or (item.upper().endswith("W") and len(items) == 1 and item[:-1]):
            if item != "L":
                _value("day-of-month", item[:-1], 1, 31, [])
            continue
        _plain("day-of-month", item, 1, 31)


def _dow(text: str) -> None:
    items = text.split(",")
    for item in items:
        if len(items) == 1 and item == "L":
            continue
        if len(items) == 1 and "#" in item:
            d, _, k = item.partition("#")
            _value("day-of-week", d, 1, 7, WEEKDAYS)
            _value("day-of-week", k, 1, 5, [])
            continue
        if len(items) == 1 and item.endswith("L") and item[:-1]:
            _value("day-of-week", item[:-1], 1, 7, WEEKDAYS)
            continue
        _plain("day-of-week", item, 1, 7, WEEKDAYS)


def expression_error(expr: str | None) -> str | None:
    """Why Scheduler refuses this ScheduleExpression, or None when it is valid."""
    if not expr or len(expr) > 256:  # botocore: ScheduleExpression min 1, max 256
        return "ScheduleExpression must have 1 to 256 characters"
    try:
        if expr.startswith("cron(") and expr.endswith(")"):
            fields = [f for f in expr[5:-1].split(" ") if f]
            if len(fields) != 6:  # botocore ScheduleExpression doc: six fields
                raise ValueError("a cron expression has six fields")
            minute, hour, dom, month, dow, year = fields
            _plain("minutes", minute, 0, 59)
            _plain("hours", hour, 0, 23)
            _plain("month", month, 1, 12, MONTHS)
            _plain("year", year, 1970, 2199)
            # "You can't specify the Day-of-month and Day-of-week fields in the same cron expression"
            if (dom == "?") == (dow == "?"):
                raise ValueError("exactly one of day-of-month and day-of-week must be ?")
            if dom != "?":
                _dom(dom)
            else:
                _dow(dow)
            return None
        if expr.startswith("rate(") and expr.endswith(")"):
            parts = expr[5:-1].split(" ")
            if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) < 1 or parts[1] not in _RATE_UNITS:
                raise ValueError("rate(value unit): a positive integer and minute(s), hour(s) or day(s)")
            if _RATE_UNITS[parts[1]] != (int(parts[0]) == 1):  # EventBridge rate expression reference
                raise ValueError("rate: the unit is singular for 1 and plural above")
            return None
        if expr.startswith("at(") and expr.endswith(")"):
            m = _AT_RE.match(expr[3:-1])
            if not m:
                raise ValueError("at(yyyy-mm-ddThh:mm:ss)")
            import datetime

            datetime.datetime(*(int(g) for g in m.groups()))
            return None
        raise ValueError("expected at(...), rate(...) or cron(...)")
    except ValueError as e:
        return f"Invalid Schedule Expression {expr}: {e}"


def timezone_error(zone: str | None) -> str | None:
    """Why Scheduler refuses this ScheduleExpressionTimezone (None: valid; absent means UTC)."""
    if zone is None:
        return None
    if not 1 <= len(zone) <= 50:  # botocore: ScheduleExpressionTimezone min 1, max 50
        return "ScheduleExpressionTimezone must have 1 to 50 characters"
    if zone != zone.strip() or zone not in _zones():
        return f"Invalid timezone {zone}"
    return None


_ZONES: set[str] | None = None


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = set(zoneinfo.available_timezones()) | {"UTC"}
    return _ZONES
