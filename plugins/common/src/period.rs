//! Periods as agents type them ("last month", "in March", "Q1 2025", "last
//! 30 days"), resolved against today's date into an inclusive date range.

/// An inclusive range of dates, `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
    /// How to say it: "March 2025".
    pub label: String,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Date {
    y: i32,
    m: u32,
    d: u32,
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    fn parse(s: &str) -> Option<Self> {
        let mut it = s.get(..10)?.split('-');
        let y = it.next()?.parse().ok()?;
        let m = it.next()?.parse().ok()?;
        let d = it.next()?.parse().ok()?;
        ((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)).then_some(Self { y, m, d })
    }

    fn fmt(self) -> String {
        format!("{:04}-{:02}-{:02}", self.y, self.m, self.d)
    }

    /// Days since 1970-01-01 (civil calendar).
    fn to_days(self) -> i64 {
        let y = i64::from(self.y) - i64::from(self.m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.m);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    fn from_days(z: i64) -> Self {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
        Self { y, m, d }
    }

    fn minus_days(self, n: i64) -> Self {
        Self::from_days(self.to_days() - n)
    }

    fn month_start(y: i32, m: u32) -> Self {
        Self { y, m, d: 1 }
    }

    fn month_end(y: i32, m: u32) -> Self {
        Self {
            y,
            m,
            d: days_in_month(y, m),
        }
    }

    /// The month `n` months before this one, as (year, month).
    fn months_back(self, n: u32) -> (i32, u32) {
        let total = self.y * 12 + self.m as i32 - 1 - n as i32;
        (total.div_euclid(12), total.rem_euclid(12) as u32 + 1)
    }
}

fn month_name(m: u32) -> String {
    let name = MONTHS[(m - 1) as usize];
    let mut c = name.chars();
    c.next().map_or_else(String::new, |f| {
        f.to_ascii_uppercase().to_string() + c.as_str()
    })
}

fn month_of(word: &str) -> Option<u32> {
    if word.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(word) || word.starts_with(m))
        .map(|i| i as u32 + 1)
}

fn number(word: &str) -> Option<u32> {
    match word {
        "a" | "an" | "one" => Some(1),
        "two" => Some(2),
        "three" => Some(3),
        "four" => Some(4),
        "five" => Some(5),
        "six" => Some(6),
        "seven" => Some(7),
        "eight" => Some(8),
        "nine" => Some(9),
        "ten" => Some(10),
        "twelve" => Some(12),
        _ => word.parse().ok(),
    }
}

fn range(from: Date, to: Date, label: impl Into<String>) -> Period {
    Period {
        from: from.fmt(),
        to: to.fmt(),
        label: label.into(),
    }
}

fn month_range(y: i32, m: u32) -> Period {
    range(
        Date::month_start(y, m),
        Date::month_end(y, m),
        format!("{} {y}", month_name(m)),
    )
}

/// Resolves `text` against `today` (`YYYY-MM-DD`); `None` when the period
/// is not understood.
pub fn resolve_period(text: &str, today: &str) -> Option<Period> {
    let today = Date::parse(today)?;
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !["in", "for", "of", "the", "during", "from"].contains(w))
        .collect();
    let year_in = words
        .iter()
        .find_map(|w| w.parse::<i32>().ok().filter(|y| (1990..=2100).contains(y)));
    let has = |w: &str| words.contains(&w);
    let last = has("last") || has("past") || has("previous") || has("prior");
    let this = has("this") || has("current");

    if has("today") {
        return Some(range(today, today, "today"));
    }
    if has("yesterday") {
        let y = today.minus_days(1);
        return Some(range(y, y, "yesterday"));
    }
    // "last 30 days", "past 3 months", "last two weeks"
    if last
        && let Some(i) = words
            .iter()
            .position(|w| ["last", "past", "previous", "prior"].contains(w))
        && let Some(n) = words
            .get(i + 1)
            .and_then(|w| number(w))
            .filter(|n| *n > 0 && *n < 1000)
    {
        let unit = words.get(i + 2).copied().unwrap_or("");
        let unit_days = match unit.trim_end_matches('s') {
            "day" => Some(1),
            "week" => Some(7),
            _ => None,
        };
        if let Some(per) = unit_days {
            let from = today.minus_days(i64::from(n * per) - 1);
            return Some(range(from, today, format!("the last {n} {unit}")));
        }
        if unit.starts_with("month") {
            let (y, m) = today.months_back(n - 1);
            return Some(range(
                Date::month_start(y, m),
                today,
                format!("the last {n} months"),
            ));
        }
        if unit.starts_with("year") {
            let (y, m) = today.months_back(12 * n);
            return Some(range(
                Date::month_start(y, m),
                today,
                format!("the last {n} years"),
            ));
        }
    }
    if has("week") {
        if last {
            return Some(range(today.minus_days(6), today, "the last 7 days"));
        }
        return Some(range(today.minus_days(6), today, "this week"));
    }
    if has("month") {
        let (y, m) = if last {
            today.months_back(1)
        } else {
            (today.y, today.m)
        };
        if this || !last {
            return Some(range(
                Date::month_start(y, m),
                today,
                format!("{} {y} so far", month_name(m)),
            ));
        }
        return Some(month_range(y, m));
    }
    // Quarters: "Q1 2025", "last quarter", "this quarter"
    let quarter = words.iter().find_map(|w| {
        w.strip_prefix('q')
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|q| (1..=4).contains(q))
    });
    if quarter.is_some() || has("quarter") {
        let current_q = (today.m - 1) / 3 + 1;
        let (y, q) = match quarter {
            Some(q) => (
                year_in.unwrap_or(if q > current_q { today.y - 1 } else { today.y }),
                q,
            ),
            None if last => {
                if current_q == 1 {
                    (today.y - 1, 4)
                } else {
                    (today.y, current_q - 1)
                }
            }
            None => (today.y, current_q),
        };
        let from = Date::month_start(y, q * 3 - 2);
        let to = Date::month_end(y, q * 3);
        return Some(range(from, to.min(today).max(from), format!("Q{q} {y}")));
    }
    // Month names: "March", "in March 2025", "since March"
    if let Some(m) = words.iter().find_map(|w| month_of(w)) {
        let y = year_in.unwrap_or(if m > today.m { today.y - 1 } else { today.y });
        if has("since") {
            return Some(range(
                Date::month_start(y, m),
                today,
                format!("since {} {y}", month_name(m)),
            ));
        }
        return Some(month_range(y, m));
    }
    if has("year") {
        let y = if last { today.y - 1 } else { today.y };
        let to = if y == today.y {
            today
        } else {
            Date::month_end(y, 12)
        };
        return Some(range(Date::month_start(y, 1), to, y.to_string()));
    }
    if let Some(y) = year_in {
        return Some(range(
            Date::month_start(y, 1),
            Date::month_end(y, 12),
            y.to_string(),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> (String, String) {
        let p = resolve_period(text, "2026-11-25").unwrap_or_else(|| panic!("{text}"));
        (p.from, p.to)
    }

    #[test]
    fn resolves_common_periods() {
        assert_eq!(r("last month"), ("2026-10-01".into(), "2026-10-31".into()));
        assert_eq!(r("this month"), ("2026-11-01".into(), "2026-11-25".into()));
        assert_eq!(r("in March"), ("2026-03-01".into(), "2026-03-31".into()));
        assert_eq!(r("December"), ("2025-12-01".into(), "2025-12-31".into()));
        assert_eq!(
            r("february 2024"),
            ("2024-02-01".into(), "2024-02-29".into())
        );
        assert_eq!(
            r("last 30 days"),
            ("2026-10-27".into(), "2026-11-25".into())
        );
        assert_eq!(
            r("past three months"),
            ("2026-09-01".into(), "2026-11-25".into())
        );
        assert_eq!(r("Q1 2025"), ("2025-01-01".into(), "2025-03-31".into()));
        assert_eq!(
            r("last quarter"),
            ("2026-07-01".into(), "2026-09-30".into())
        );
        assert_eq!(r("last year"), ("2025-01-01".into(), "2025-12-31".into()));
        assert_eq!(r("2025"), ("2025-01-01".into(), "2025-12-31".into()));
        assert_eq!(r("this year"), ("2026-01-01".into(), "2026-11-25".into()));
        assert_eq!(r("yesterday"), ("2026-11-24".into(), "2026-11-24".into()));
        assert!(resolve_period("whenever", "2026-11-25").is_none());
    }

    #[test]
    fn day_arithmetic_round_trips() {
        for s in ["1970-01-01", "2000-02-29", "2026-11-25", "2024-12-31"] {
            let d = Date::parse(s).unwrap();
            assert_eq!(Date::from_days(d.to_days()), d);
        }
        assert_eq!(
            Date::parse("2026-03-01").unwrap().minus_days(1).fmt(),
            "2026-02-28"
        );
    }
}
