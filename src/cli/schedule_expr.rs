//! EventBridge Scheduler's schedule expressions and time zones, checked locally with Scheduler's
//! own rules so that a bad one is a usage error before any request, and the next fire time of a
//! schedule computed the way Scheduler evaluates it. Pure: no AWS, no clock (callers pass `now`).
//!
//! Sources:
//! - botocore `scheduler` model, CreateScheduleInput.ScheduleExpression (1..=256 characters):
//!   `at(yyyy-mm-ddThh:mm:ss)`, `rate(value unit)` with a positive integer value and unit
//!   `minute | minutes | hour | hours | day | days`, `cron(fields)` with six fields
//!   `(minutes hours day_of_month month day_of_week year)`; ScheduleExpressionTimezone 1..=50.
//! - EventBridge Scheduler user guide, "Schedule types": the cron fields, their values and wildcards
//!   (minutes 0-59 `, - * /`; hours 0-23 `, - * /`; day-of-month 1-31 `, - * ? / L W`; month 1-12 or
//!   JAN-DEC `, - * /`; day-of-week 1-7 or SUN-SAT `, - * ? L #`; year 1970-2199 `, - * /`); "You
//!   can't specify the Day-of-month and Day-of-week fields in the same cron expression. If you
//!   specify a value or a * in one of the fields, you must use a ? in the other"; targets are
//!   invoked with 60 second precision.
//! - EventBridge rate expression reference: "If the value is equal to 1, then the unit must be
//!   singular. If the value is greater than 1, the unit must be plural" (rate(1 hours) and
//!   rate(5 hour) are not valid).
//! - Daylight saving time (Scheduler user guide, "Daylight saving time"): "When the time shifts
//!   forward in Spring, if a cron expression falls on a non-existent date and time, your schedule
//!   invocation is skipped. When the time shifts backwards in the Fall, your schedule runs only once
//!   and does not repeat its invocation"; a rate in days is a 24 hour duration. Which of the two
//!   instants of a repeated time is used is not said: [`Expr::next_after`] takes the first.
//!
//! Left out on purpose (not documented for Scheduler, refused here rather than guessed): ranges that
//! wrap around (`FRI-MON`), `L-n` offsets, `LW`, names mixed into steps.

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

/// A schedule expression Scheduler accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Cron(Box<Cron>),
    /// Every `seconds`, counted from when the schedule started.
    Rate {
        value: u32,
        seconds: i64,
    },
    /// Once, at this wall-clock time in the schedule's zone.
    At(DateTime),
}

/// The six cron fields, each as the set of values it allows (day fields with their specials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    months: Vec<bool>,
    years: Vec<bool>,
    days: DaySpec,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DaySpec {
    /// Day-of-month given, day-of-week `?`.
    OfMonth(Vec<DomItem>),
    /// Day-of-week given, day-of-month `?`.
    OfWeek(Vec<DowItem>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DomItem {
    Days(Vec<bool>),
    Last,
    /// `NW`: the weekday nearest day N, within the month.
    NearestWeekday(i8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DowItem {
    /// 1 = SUN .. 7 = SAT.
    Days(Vec<bool>),
    /// `L` alone: the last day of the week (SAT); `NL`: the last day N of the month.
    LastOfMonth(i8),
    /// `N#k`: the k-th day N of the month.
    Nth(i8, i8),
}

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The longest expression Scheduler takes (botocore: ScheduleExpression max 256).
pub const MAX_EXPRESSION: usize = 256;

/// Parse an expression; the error is one line naming what is wrong and what is allowed.
pub fn parse(text: &str) -> Result<Expr, String> {
    if text.is_empty() || text.len() > MAX_EXPRESSION {
        return Err(format!("a schedule expression has 1 to {MAX_EXPRESSION} characters"));
    }
    let inner = |prefix: &str| text.strip_prefix(prefix).and_then(|r| r.strip_suffix(')'));
    if let Some(body) = inner("cron(") {
        return parse_cron(body);
    }
    if let Some(body) = inner("rate(") {
        return parse_rate(body);
    }
    if let Some(body) = inner("at(") {
        return parse_at(body);
    }
    Err("expected cron(minutes hours day-of-month month day-of-week year), rate(value unit) or \
         at(yyyy-mm-ddThh:mm:ss)"
        .into())
}

fn parse_rate(body: &str) -> Result<Expr, String> {
    let usage =
        "rate(value unit): a positive whole value and minute(s), hour(s) or day(s), e.g. rate(1 hour), rate(12 hours)";
    let parts: Vec<&str> = body.split(' ').collect();
    let [value, unit] = parts[..] else { return Err(usage.into()) };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(usage.into());
    }
    let value: u32 = value.parse().map_err(|_| usage.to_owned())?;
    if value == 0 {
        return Err(usage.into());
    }
    let (singular, each) = match unit {
        "minute" => (true, 60),
        "minutes" => (false, 60),
        "hour" => (true, 3600),
        "hours" => (false, 3600),
        "day" => (true, 86_400),
        "days" => (false, 86_400),
        _ => return Err(usage.into()),
    };
    if singular != (value == 1) {
        return Err(format!(
            "rate({value} {unit}): the unit is singular for 1 and plural above (rate(1 hour), rate(5 hours))"
        ));
    }
    Ok(Expr::Rate { value, seconds: i64::from(value) * each })
}

fn parse_at(body: &str) -> Result<Expr, String> {
    let usage = "at(yyyy-mm-ddThh:mm:ss), e.g. at(2027-03-01T08:00:00)";
    let b = body.as_bytes();
    let shape = b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return Err(usage.into());
    }
    let n = |r: std::ops::Range<usize>| body[r].parse::<i16>().map_err(|_| usage.to_owned());
    let (y, mo, d, h, mi, s) = (n(0..4)?, n(5..7)?, n(8..10)?, n(11..13)?, n(14..16)?, n(17..19)?);
    let to_i8 = |v: i16| i8::try_from(v).map_err(|_| usage.to_owned());
    DateTime::new(y, to_i8(mo)?, to_i8(d)?, to_i8(h)?, to_i8(mi)?, to_i8(s)?, 0)
        .map(Expr::At)
        .map_err(|_| format!("at({body}): no such date or time"))
}

fn parse_cron(body: &str) -> Result<Expr, String> {
    let fields: Vec<&str> = body.split(' ').filter(|f| !f.is_empty()).collect();
    let [min, hour, dom, month, dow, year] = fields[..] else {
        return Err(format!(
            "cron({body}): six fields separated by spaces: minutes hours day-of-month month day-of-week year, \
             e.g. cron(0 8 ? * MON-FRI *)"
        ));
    };
    parse_cron_fields(min, hour, dom, month, dow, year)
        .map(|c| Expr::Cron(Box::new(c)))
        .map_err(|e| format!("cron({body}): {e}"))
}

fn parse_cron_fields(min: &str, hour: &str, dom: &str, month: &str, dow: &str, year: &str) -> Result<Cron, String> {
    let minutes = plain_field("minutes", min, 0, 59, &[])?;
    let hours = plain_field("hours", hour, 0, 23, &[])?;
    let months = plain_field("month", month, 1, 12, &MONTHS)?;
    let years = plain_field("year", year, 1970, 2199, &[])?;
    let days = match (dom == "?", dow == "?") {
        (true, true) | (false, false) => {
            return Err("exactly one of day-of-month and day-of-week must be ? (e.g. `? * MON-FRI` or `1 * ?`)".into())
        }
        (false, true) => DaySpec::OfMonth(dom_field(dom)?),
        (true, false) => DaySpec::OfWeek(dow_field(dow)?),
    };
    Ok(Cron { minutes, hours, months, years, days })
}

/// A value of a field: a number in range, or a name of the field's list (JAN, MON: case-insensitive).
fn value(field: &str, text: &str, lo: u32, hi: u32, names: &[&str]) -> Result<u32, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let v: u32 = text.parse().map_err(|_| format!("{field}: {text} is out of range {lo}-{hi}"))?;
        return if (lo..=hi).contains(&v) { Ok(v) } else { Err(format!("{field}: {v} is out of range {lo}-{hi}")) };
    }
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(lo + i as u32);
    }
    let allowed = if names.is_empty() {
        format!("{lo}-{hi}")
    } else {
        format!("{lo}-{hi} or {}-{}", names[0], names[names.len() - 1])
    };
    Err(format!("{field}: `{text}` is not a value ({allowed})"))
}

/// `*`, `v`, `a-b`, `*/s`, `a/s`, `a-b/s`, comma-separated, into a set indexed from `lo`.
fn plain_field(field: &str, text: &str, lo: u32, hi: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let mut set = vec![false; (hi - lo + 1) as usize];
    if text == "?" {
        return Err(format!("{field}: ? is allowed in day-of-month or day-of-week only"));
    }
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 =
                    s.parse().ok().filter(|s| *s >= 1).ok_or_else(|| {
                        format!("{field}: the increment after / in `{item}` must be a positive number")
                    })?;
                (r, step)
            }
            None => (item, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(field, a, lo, hi, names)?, value(field, b, lo, hi, names)?);
            if a > b {
                return Err(format!("{field}: the range `{range}` goes backwards"));
            }
            (a, b)
        } else {
            let a = value(field, range, lo, hi, names)?;
            // `a/s` runs from a to the end of the field; `a` alone is a itself.
            (a, if item.contains('/') { hi } else { a })
        };
        let mut v = a;
        while v <= b {
            set[(v - lo) as usize] = true;
            v += step;
        }
    }
    Ok(set)
}

fn dom_field(text: &str) -> Result<Vec<DomItem>, String> {
    let mut out = Vec::new();
    for item in text.split(',') {
        if item == "L" {
            out.push(DomItem::Last);
        } else if let Some(n) = item.strip_suffix('W').or_else(|| item.strip_suffix('w')) {
            let n = value("day-of-month", n, 1, 31, &[])?;
            out.push(DomItem::NearestWeekday(n as i8));
        } else {
            out.push(DomItem::Days(plain_field("day-of-month", item, 1, 31, &[])?));
        }
    }
    if out.len() > 1 && out.iter().any(|i| !matches!(i, DomItem::Days(_))) {
        return Err("day-of-month: L and W stand alone, not in a list".into());
    }
    Ok(out)
}

fn dow_field(text: &str) -> Result<Vec<DowItem>, String> {
    let mut out = Vec::new();
    for item in text.split(',') {
        if item == "L" {
            out.push(DowItem::LastOfMonth(7));
        } else if let Some((d, k)) = item.split_once('#') {
            let d = value("day-of-week", d, 1, 7, &WEEKDAYS)?;
            let k = value("day-of-week", k, 1, 5, &[]).map_err(|_| format!("day-of-week: `{item}`: # takes 1-5"))?;
            out.push(DowItem::Nth(d as i8, k as i8));
        } else if let Some(d) = item.strip_suffix('L').filter(|d| !d.is_empty()) {
            out.push(DowItem::LastOfMonth(value("day-of-week", d, 1, 7, &WEEKDAYS)? as i8));
        } else {
            out.push(DowItem::Days(plain_field("day-of-week", item, 1, 7, &WEEKDAYS)?));
        }
    }
    if out.len() > 1 && out.iter().any(|i| !matches!(i, DowItem::Days(_))) {
        return Err("day-of-week: L and # stand alone, not in a list".into());
    }
    Ok(out)
}

/// A time zone Scheduler evaluates in: an IANA name (the bundled database), as given.
pub fn parse_zone(text: &str) -> Result<TimeZone, String> {
    if text.is_empty() || text.len() > 50 {
        return Err("a time zone name has 1 to 50 characters, e.g. Europe/Berlin".into());
    }
    TimeZone::get(text)
        .map_err(|_| format!("`{text}` is not a time zone of the IANA database (e.g. Europe/Berlin, UTC)"))
}

/// clap value parser for `--start`/`--stop`/`--default-*`: the expression, checked.
pub fn parse_expression_arg(text: &str) -> Result<String, String> {
    parse(text).map(|_| text.to_owned())
}

/// clap value parser for `--tz`: the zone name, checked.
pub fn parse_zone_arg(text: &str) -> Result<String, String> {
    parse_zone(text).map(|_| text.to_owned())
}

impl Cron {
    fn day_matches(&self, date: Date) -> bool {
        let (y, m) = (date.year(), date.month());
        if !self.years.get((i32::from(y) - 1970) as usize).copied().unwrap_or(false) || !self.months[(m - 1) as usize] {
            return false;
        }
        let last = date.days_in_month();
        match &self.days {
            DaySpec::OfMonth(items) => items.iter().any(|i| match i {
                DomItem::Days(set) => set[(date.day() - 1) as usize],
                DomItem::Last => date.day() == last,
                DomItem::NearestWeekday(n) => nearest_weekday(date, *n.min(&last)) == date.day(),
            }),
            DaySpec::OfWeek(items) => {
                let dow = date.weekday().to_sunday_one_offset();
                items.iter().any(|i| match i {
                    DowItem::Days(set) => set[(dow - 1) as usize],
                    DowItem::LastOfMonth(d) => *d == dow && date.day() + 7 > last,
                    DowItem::Nth(d, k) => *d == dow && (date.day() - 1) / 7 + 1 == *k,
                })
            }
        }
    }
}

/// The weekday (Mon-Fri) nearest day `n` of `date`'s month, without leaving the month (Quartz's W,
/// which Scheduler's "3W specifies the weekday closest to the third day of the month" follows).
fn nearest_weekday(date: Date, n: i8) -> i8 {
    let Ok(target) = date.with().day(n).build() else { return -1 };
    let last = date.days_in_month();
    match target.weekday().to_sunday_one_offset() {
        7 if n == 1 => 3,        // Saturday the 1st: Monday the 3rd
        7 => n - 1,              // Saturday: Friday before
        1 if n == last => n - 2, // Sunday the last: Friday before
        1 => n + 1,              // Sunday: Monday after
        _ => n,
    }
}

/// The instant a wall-clock time in `tz` names, as Scheduler runs it: None in a spring-forward gap
/// (skipped), the first instant in a fall-back fold (runs once).
fn resolve(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    let amb = tz.to_ambiguous_timestamp(dt);
    match amb.offset() {
        AmbiguousOffset::Unambiguous { .. } => amb.compatible().ok(),
        AmbiguousOffset::Gap { .. } => None,
        AmbiguousOffset::Fold { .. } => amb.earlier().ok(),
    }
}

/// How far ahead a cron expression is searched (a yearly schedule on 29 February fires every
/// four years; further than this, the schedule is reported as having no next run).
const SEARCH_DAYS: i64 = 366 * 8 + 2;

impl Expr {
    /// The first time strictly after `now` at which the schedule runs, or None when it never runs
    /// again. `started` is when a rate schedule began counting (its StartDate, else its creation).
    pub fn next_after(&self, now: Timestamp, tz: &TimeZone, started: Option<Timestamp>) -> Option<Timestamp> {
        match self {
            Expr::At(dt) => {
                resolve(tz, *dt).or_else(|| tz.to_ambiguous_timestamp(*dt).compatible().ok()).filter(|t| *t > now)
            }
            Expr::Rate { seconds, .. } => {
                let start = started.unwrap_or(now);
                if start > now {
                    return Some(start);
                }
                let elapsed = now.duration_since(start).as_secs();
                let periods = elapsed / seconds + 1;
                start.checked_add(SignedDuration::from_secs(periods * seconds)).ok()
            }
            Expr::Cron(cron) => cron.next_after(now, tz),
        }
    }
}

impl Cron {
    fn next_after(&self, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = now.to_zoned_datetime(tz.clone()).datetime();
        let mut date = local.date();
        for _ in 0..SEARCH_DAYS {
            if self.day_matches(date) {
                for h in (0..24).filter(|h| self.hours[*h as usize]) {
                    for m in (0..60).filter(|m| self.minutes[*m as usize]) {
                        let Ok(dt) = DateTime::new(date.year(), date.month(), date.day(), h, m, 0, 0) else { continue };
                        if let Some(t) = resolve(tz, dt).filter(|t| *t > now) {
                            return Some(t);
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

/// The next run of a schedule after `now_epoch` as (UTC instant, the same instant in the schedule's
/// zone), both RFC 3339; None when it never runs again, or the expression or zone is not one this
/// module reads (a schedule written by hand with a syntax Scheduler added later).
pub fn next_run(expression: &str, zone: &str, now_epoch: i64, started_epoch: Option<i64>) -> Option<(String, String)> {
    let tz = parse_zone(zone).ok()?;
    let now = Timestamp::from_second(now_epoch).ok()?;
    let started = started_epoch.and_then(|s| Timestamp::from_second(s).ok());
    let next = parse(expression).ok()?.next_after(now, &tz, started)?;
    let local = next.to_zoned_datetime(tz);
    Some((next.to_string(), local.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(expr: &str, zone: &str, now: &str) -> Option<String> {
        let tz = parse_zone(zone).unwrap();
        parse(expr).unwrap().next_after(ts(now), &tz, None).map(|t| t.to_string())
    }

    #[test]
    fn accepts_scheduler_examples() {
        for ok in [
            "cron(0 8 ? * MON-FRI *)",
            "cron(0 19 ? * MON-FRI *)",
            "cron(15 10 ? * 6L 2022-2023)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(0 8 1 * ? *)",
            "cron(0/15 * * * ? *)",
            "cron(0/10 * ? * MON-FRI *)",
            "cron(0/5 8-17 ? * MON-FRI *)",
            "cron(0 9 ? * 2#1 *)",
            "cron(0 12 L * ? *)",
            "cron(0 12 3W * ? *)",
            "cron(0 12 ? JAN,FEB,mar * *)",
            "cron(0 12 ? * L *)",
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(1 hour)",
            "rate(12 hours)",
            "rate(1 day)",
            "rate(7 days)",
            "at(2027-03-01T08:00:00)",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok));
        }
    }

    #[test]
    fn refuses_what_scheduler_refuses_with_a_reason() {
        for (bad, says) in [
            ("cron(61 8 ? * MON-FRI *)", "minutes: 61 is out of range 0-59"),
            ("cron(0 24 ? * * *)", "hours: 24"),
            ("cron(0 8 * * * *)", "exactly one of day-of-month and day-of-week"),
            ("cron(0 8 ? * ? *)", "exactly one"),
            ("cron(0 8 ? * MON-FRI)", "six fields"),
            ("cron(0 8 ? * MON-FRI * *)", "six fields"),
            ("cron(0 8 ? * FUN *)", "day-of-week: `FUN`"),
            ("cron(0 8 ? * 8 *)", "day-of-week: 8 is out of range 1-7"),
            ("cron(0 8 ? * 2#6 *)", "# takes 1-5"),
            ("cron(0 8 32 * ? *)", "day-of-month: 32"),
            ("cron(0 8 1 13 ? *)", "month: 13"),
            ("cron(0 8 1 * ? 1969)", "year: 1969"),
            ("cron(0 8 1 * ? 2200)", "year: 2200"),
            ("cron(0 ? 1 * ? *)", "hours: ? is allowed"),
            ("cron(0/0 8 1 * ? *)", "increment"),
            ("cron(30-10 8 1 * ? *)", "goes backwards"),
            ("rate(1 hours)", "singular for 1"),
            ("rate(5 hour)", "singular for 1"),
            ("rate(0 minutes)", "positive whole value"),
            ("rate(5 weeks)", "minute(s), hour(s) or day(s)"),
            ("rate(-5 minutes)", "positive whole value"),
            ("at(2027-02-30T08:00:00)", "no such date"),
            ("at(2027-03-01 08:00:00)", "yyyy-mm-ddThh:mm:ss"),
            ("every day at 8", "expected cron("),
            ("", "1 to 256"),
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains('\n'), "{bad}: one line: {e}");
        }
        assert!(parse(&format!("cron(0 8 ? * MON-FRI *){}", " ".repeat(250))).is_err());
    }

    #[test]
    fn zones_are_iana_names() {
        for ok in ["Europe/Berlin", "UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"] {
            assert!(parse_zone(ok).is_ok(), "{ok}");
        }
        for bad in ["Mars/Olympus", "", "CEST+2", "Europe/Berlin "] {
            let e = parse_zone(bad).map(|_| ()).expect_err(bad);
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn next_weekday_morning_in_berlin() {
        // Thursday 3 December 2026, 11:20 UTC = 12:20 in Berlin (CET, +01:00).
        let now = "2026-12-03T11:20:00Z";
        assert_eq!(next("cron(0 8 ? * MON-FRI *)", "Europe/Berlin", now).unwrap(), "2026-12-04T07:00:00Z");
        assert_eq!(next("cron(0 19 ? * MON-FRI *)", "Europe/Berlin", now).unwrap(), "2026-12-03T18:00:00Z");
        // Friday evening: the next start is Monday.
        assert_eq!(
            next("cron(0 8 ? * MON-FRI *)", "Europe/Berlin", "2026-12-04T19:00:00Z").unwrap(),
            "2026-12-07T07:00:00Z"
        );
        // Summer time: +02:00.
        assert_eq!(
            next("cron(0 8 ? * MON-FRI *)", "Europe/Berlin", "2027-06-01T12:00:00Z").unwrap(),
            "2027-06-02T06:00:00Z"
        );
    }

    #[test]
    fn spring_forward_time_is_skipped_and_fall_back_time_runs_once() {
        // Berlin moves from 02:00 to 03:00 on Sunday 28 March 2027: 02:30 does not exist that day.
        let tz = "Europe/Berlin";
        assert_eq!(next("cron(30 2 * * ? *)", tz, "2027-03-27T02:00:00Z").unwrap(), "2027-03-29T00:30:00Z");
        // 31 October 2027: 02:30 happens twice (CEST then CET); it runs at the first only.
        let first = next("cron(30 2 * * ? *)", tz, "2027-10-30T02:00:00Z").unwrap();
        assert_eq!(first, "2027-10-31T00:30:00Z");
        assert_eq!(next("cron(30 2 * * ? *)", tz, &first).unwrap(), "2027-11-01T01:30:00Z");
    }

    #[test]
    fn day_specials() {
        let utc = "UTC";
        // Last day of February 2027 (not a leap year).
        assert_eq!(next("cron(0 12 L * ? *)", utc, "2027-02-10T00:00:00Z").unwrap(), "2027-02-28T12:00:00Z");
        // 1W in May 2027: the 1st is a Saturday, so Monday the 3rd.
        assert_eq!(next("cron(0 12 1W * ? *)", utc, "2027-04-30T13:00:00Z").unwrap(), "2027-05-03T12:00:00Z");
        // 15W in May 2027: the 15th is a Saturday, so Friday the 14th.
        assert_eq!(next("cron(0 12 15W * ? *)", utc, "2027-05-01T00:00:00Z").unwrap(), "2027-05-14T12:00:00Z");
        // The first Monday of January 2027 (2#1) is the 4th.
        assert_eq!(next("cron(0 9 ? * 2#1 *)", utc, "2027-01-01T00:00:00Z").unwrap(), "2027-01-04T09:00:00Z");
        // The last Friday (6L) of January 2027 is the 29th.
        assert_eq!(next("cron(0 9 ? * 6L *)", utc, "2027-01-01T00:00:00Z").unwrap(), "2027-01-29T09:00:00Z");
        // Years: nothing after 2027 in a 2027-only expression.
        assert_eq!(next("cron(0 9 1 1 ? 2027)", utc, "2027-06-01T00:00:00Z"), None);
        // 29 February: four years ahead at most.
        assert_eq!(next("cron(0 0 29 2 ? *)", utc, "2027-01-01T00:00:00Z").unwrap(), "2028-02-29T00:00:00Z");
        // Steps: 0/20 in minutes.
        assert_eq!(next("cron(0/20 * * * ? *)", utc, "2027-01-01T00:21:00Z").unwrap(), "2027-01-01T00:40:00Z");
    }

    #[test]
    fn rate_counts_from_the_start_and_at_runs_once() {
        let tz = parse_zone("Europe/Berlin").unwrap();
        let rate = parse("rate(8 hours)").unwrap();
        let start = ts("2027-01-01T00:00:00Z");
        assert_eq!(rate.next_after(ts("2027-01-01T09:00:00Z"), &tz, Some(start)).unwrap(), ts("2027-01-01T16:00:00Z"));
        assert_eq!(rate.next_after(ts("2027-01-01T08:00:00Z"), &tz, Some(start)).unwrap(), ts("2027-01-01T16:00:00Z"));
        let at = parse("at(2027-03-01T08:00:00)").unwrap();
        assert_eq!(at.next_after(ts("2027-01-01T00:00:00Z"), &tz, None).unwrap(), ts("2027-03-01T07:00:00Z"));
        assert_eq!(at.next_after(ts("2027-03-01T07:00:00Z"), &tz, None), None);
    }
}
