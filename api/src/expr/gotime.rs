//! Go's reference-time layouts (`2006-01-02T15:04:05Z07:00`): formatting
//! for `sprig.date` and friends, parsing for govaluate's time literals.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Timelike};

/// One element of a Go layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elem<'a> {
    Literal(&'a str),
    LongYear,
    Year,
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    YearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    PM,
    Pm,
    TzName,
    /// `Z07:00`, `Z0700`, `-07:00`, `-0700`, `-07`: (iso Z, colon, minutes).
    Zone(bool, bool, bool),
    /// `.000` (fixed, zeros kept) or `.999` (trailing zeros trimmed).
    Fraction(usize, bool),
}

fn layout(mut s: &str) -> Vec<Elem<'_>> {
    const TABLE: &[(&str, Elem<'static>)] = &[
        ("January", Elem::LongMonth),
        ("Monday", Elem::LongWeekDay),
        ("Z07:00", Elem::Zone(true, true, true)),
        ("-07:00", Elem::Zone(false, true, true)),
        ("Z0700", Elem::Zone(true, false, true)),
        ("-0700", Elem::Zone(false, false, true)),
        ("2006", Elem::LongYear),
        ("002", Elem::YearDay),
        ("Jan", Elem::LongMonth),
        ("Mon", Elem::WeekDay),
        ("MST", Elem::TzName),
        ("Z07", Elem::Zone(true, false, false)),
        ("-07", Elem::Zone(false, false, false)),
        ("_2", Elem::UnderDay),
        ("01", Elem::ZeroMonth),
        ("02", Elem::ZeroDay),
        ("03", Elem::ZeroHour12),
        ("04", Elem::ZeroMinute),
        ("05", Elem::ZeroSecond),
        ("06", Elem::Year),
        ("15", Elem::Hour),
        ("PM", Elem::PM),
        ("pm", Elem::Pm),
        ("1", Elem::NumMonth),
        ("2", Elem::Day),
        ("3", Elem::Hour12),
        ("4", Elem::Minute),
        ("5", Elem::Second),
    ];
    let mut out = Vec::new();
    let mut lit_start: Option<&str> = None;
    let mut lit_len = 0;
    'outer: while !s.is_empty() {
        // Fractions: `.000` or `.999` (or with `,`) after a seconds field.
        if let Some(rest) = s.strip_prefix(['.', ',']) {
            let digit = rest.chars().next();
            if let Some(d @ ('0' | '9')) = digit {
                let n = rest.chars().take_while(|&c| c == d).count();
                let after = rest[n..].chars().next();
                if !after.is_some_and(|c| c.is_ascii_digit()) {
                    if let Some(start) = lit_start.take() {
                        out.push(Elem::Literal(&start[..lit_len]));
                    }
                    out.push(Elem::Fraction(n, d == '9'));
                    s = &rest[n..];
                    continue;
                }
            }
        }
        for (text, elem) in TABLE {
            if let Some(rest) = s.strip_prefix(text) {
                // `Jan` must not be the start of a longer lowercase word.
                let word = matches!(elem, Elem::LongMonth | Elem::WeekDay) && text.len() == 3;
                if word && rest.starts_with(|c: char| c.is_ascii_lowercase()) {
                    break;
                }
                if let Some(start) = lit_start.take() {
                    out.push(Elem::Literal(&start[..lit_len]));
                }
                let elem = match (*text, elem) {
                    ("Jan", _) => Elem::Month,
                    _ => *elem,
                };
                out.push(elem);
                s = rest;
                continue 'outer;
            }
        }
        let c = s.chars().next().map_or(1, char::len_utf8);
        match lit_start {
            Some(_) => lit_len += c,
            None => {
                lit_start = Some(s);
                lit_len = c;
            }
        }
        s = &s[c..];
    }
    if let Some(start) = lit_start {
        out.push(Elem::Literal(&start[..lit_len]));
    }
    out
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Formats `t` with a Go layout, as Go's `time.Time.Format`.
pub fn format(t: &DateTime<FixedOffset>, go_layout: &str) -> String {
    let mut out = String::new();
    let offset = t.offset().local_minus_utc();
    for elem in layout(go_layout) {
        match elem {
            Elem::Literal(s) => out.push_str(s),
            Elem::LongYear => out.push_str(&format!("{:04}", t.year())),
            Elem::Year => out.push_str(&format!("{:02}", t.year().rem_euclid(100))),
            Elem::LongMonth => out.push_str(MONTHS[t.month0() as usize]),
            Elem::Month => out.push_str(&MONTHS[t.month0() as usize][..3]),
            Elem::NumMonth => out.push_str(&t.month().to_string()),
            Elem::ZeroMonth => out.push_str(&format!("{:02}", t.month())),
            Elem::LongWeekDay => {
                out.push_str(DAYS[t.weekday().num_days_from_monday() as usize]);
            }
            Elem::WeekDay => {
                out.push_str(&DAYS[t.weekday().num_days_from_monday() as usize][..3]);
            }
            Elem::Day => out.push_str(&t.day().to_string()),
            Elem::UnderDay => out.push_str(&format!("{:>2}", t.day())),
            Elem::ZeroDay => out.push_str(&format!("{:02}", t.day())),
            Elem::YearDay => out.push_str(&format!("{:03}", t.ordinal())),
            Elem::Hour => out.push_str(&format!("{:02}", t.hour())),
            Elem::Hour12 => out.push_str(&t.hour12().1.to_string()),
            Elem::ZeroHour12 => out.push_str(&format!("{:02}", t.hour12().1)),
            Elem::Minute => out.push_str(&t.minute().to_string()),
            Elem::ZeroMinute => out.push_str(&format!("{:02}", t.minute())),
            Elem::Second => out.push_str(&t.second().to_string()),
            Elem::ZeroSecond => out.push_str(&format!("{:02}", t.second())),
            Elem::PM => out.push_str(if t.hour() >= 12 { "PM" } else { "AM" }),
            Elem::Pm => out.push_str(if t.hour() >= 12 { "pm" } else { "am" }),
            Elem::TzName => {
                if offset == 0 {
                    out.push_str("UTC");
                } else {
                    out.push_str(&zone_text(offset, false, true));
                }
            }
            Elem::Zone(iso, colon, minutes) => {
                if iso && offset == 0 {
                    out.push('Z');
                } else {
                    out.push_str(&zone_text(offset, colon, minutes));
                }
            }
            Elem::Fraction(n, trim) => {
                let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
                let digits = &nanos[..n.min(9)];
                let digits = if trim {
                    digits.trim_end_matches('0')
                } else {
                    digits
                };
                if !digits.is_empty() {
                    out.push('.');
                    out.push_str(digits);
                }
            }
        }
    }
    out
}

fn zone_text(offset: i32, colon: bool, minutes: bool) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.unsigned_abs();
    let (h, m) = (abs / 3600, abs / 60 % 60);
    match (minutes, colon) {
        (false, _) => format!("{sign}{h:02}"),
        (true, true) => format!("{sign}{h:02}:{m:02}"),
        (true, false) => format!("{sign}{h:02}{m:02}"),
    }
}

/// Reads exactly `n` ASCII digits.
fn fixed(s: &str, n: usize) -> Option<(u32, &str)> {
    let digits = s.get(..n)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, &s[n..]))
}

/// Reads one or two ASCII digits.
fn short(s: &str) -> Option<(u32, &str)> {
    let n = s.bytes().take(2).take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return None;
    }
    fixed(s, n)
}

fn name<'a>(s: &'a str, names: &[&str], len: Option<usize>) -> Option<(usize, &'a str)> {
    names.iter().enumerate().find_map(|(i, full)| {
        let want = len.map_or(*full, |n| &full[..n]);
        let head = s.get(..want.len())?;
        head.eq_ignore_ascii_case(want)
            .then(|| (i, &s[want.len()..]))
    })
}

/// Parses `s` with a Go layout, as Go's `time.Parse` (a zone-less time is
/// UTC). `None` when it does not match.
pub fn parse(s: &str, go_layout: &str) -> Option<DateTime<FixedOffset>> {
    let (mut year, mut month, mut day) = (0i32, 1u32, 1u32);
    let (mut hour, mut minute, mut second, mut nanos) = (0u32, 0u32, 0u32, 0u32);
    let mut pm: Option<bool> = None;
    let mut offset = 0i32;
    let mut rest = s;
    let elems = layout(go_layout);
    for (i, elem) in elems.iter().enumerate() {
        match *elem {
            Elem::Literal(lit) => rest = rest.strip_prefix(lit)?,
            Elem::LongYear => {
                let (v, r) = fixed(rest, 4)?;
                year = v as i32;
                rest = r;
            }
            Elem::Year => {
                let (v, r) = fixed(rest, 2)?;
                year = if v >= 69 { 1900 } else { 2000 } + v as i32;
                rest = r;
            }
            Elem::LongMonth => {
                let (m, r) = name(rest, &MONTHS, None)?;
                month = m as u32 + 1;
                rest = r;
            }
            Elem::Month => {
                let (m, r) = name(rest, &MONTHS, Some(3))?;
                month = m as u32 + 1;
                rest = r;
            }
            Elem::LongWeekDay => rest = name(rest, &DAYS, None)?.1,
            Elem::WeekDay => rest = name(rest, &DAYS, Some(3))?.1,
            Elem::NumMonth | Elem::ZeroMonth => {
                let (v, r) = if *elem == Elem::ZeroMonth {
                    fixed(rest, 2)?
                } else {
                    short(rest)?
                };
                month = v;
                rest = r;
            }
            Elem::Day | Elem::ZeroDay | Elem::UnderDay => {
                let r = if *elem == Elem::UnderDay {
                    rest.strip_prefix(' ').unwrap_or(rest)
                } else {
                    rest
                };
                let (v, r) = if *elem == Elem::ZeroDay {
                    fixed(r, 2)?
                } else {
                    short(r)?
                };
                day = v;
                rest = r;
            }
            Elem::YearDay => rest = fixed(rest, 3)?.1,
            Elem::Hour | Elem::Hour12 | Elem::ZeroHour12 => {
                let (v, r) = if *elem == Elem::Hour12 {
                    short(rest)?
                } else {
                    fixed(rest, 2)?
                };
                hour = v;
                rest = r;
            }
            Elem::Minute | Elem::ZeroMinute => {
                let (v, r) = if *elem == Elem::Minute {
                    short(rest)?
                } else {
                    fixed(rest, 2)?
                };
                minute = v;
                rest = r;
            }
            Elem::Second | Elem::ZeroSecond => {
                let (v, r) = if *elem == Elem::Second {
                    short(rest)?
                } else {
                    fixed(rest, 2)?
                };
                second = v;
                rest = r;
                // Go accepts a fraction after seconds the layout lacks.
                let layout_has_fraction = matches!(elems.get(i + 1), Some(Elem::Fraction(..)));
                if !layout_has_fraction && let Some(frac) = rest.strip_prefix(['.', ',']) {
                    let n = frac.bytes().take_while(u8::is_ascii_digit).count();
                    if n > 0 {
                        nanos = fraction_nanos(&frac[..n]);
                        rest = &frac[n..];
                    }
                }
            }
            Elem::Fraction(n, trim) => {
                if let Some(frac) = rest.strip_prefix(['.', ',']) {
                    let len = frac.bytes().take_while(u8::is_ascii_digit).count();
                    if !trim && len != n {
                        return None;
                    }
                    nanos = fraction_nanos(&frac[..len]);
                    rest = &frac[len..];
                } else if !trim {
                    return None;
                }
            }
            Elem::PM | Elem::Pm => {
                let head = rest.get(..2)?;
                pm = Some(match head.to_ascii_uppercase().as_str() {
                    "PM" => true,
                    "AM" => false,
                    _ => return None,
                });
                rest = &rest[2..];
            }
            Elem::TzName => {
                let n = rest.bytes().take_while(u8::is_ascii_uppercase).count();
                if n < 3 {
                    return None;
                }
                rest = &rest[n..];
            }
            Elem::Zone(iso, colon, minutes) => {
                if iso && let Some(r) = rest.strip_prefix('Z') {
                    rest = r;
                    continue;
                }
                let sign = match rest.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let (h, mut r) = fixed(&rest[1..], 2)?;
                let mut m = 0;
                if minutes {
                    if colon {
                        r = r.strip_prefix(':')?;
                    }
                    let (v, r2) = fixed(r, 2)?;
                    m = v;
                    r = r2;
                }
                offset = sign * (h as i32 * 3600 + m as i32 * 60);
                rest = r;
            }
        }
    }
    if !rest.is_empty() {
        return None;
    }
    match pm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        Some(_) if hour > 12 => return None,
        _ => {}
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let naive = date.and_hms_nano_opt(hour, minute, second, nanos)?;
    FixedOffset::east_opt(offset)?
        .from_local_datetime(&naive)
        .single()
}

fn fraction_nanos(digits: &str) -> u32 {
    let mut padded: String = digits.chars().take(9).collect();
    while padded.len() < 9 {
        padded.push('0');
    }
    padded.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_go_layouts() {
        let t = parse("2024-03-05T07:08:09Z", "2006-01-02T15:04:05Z07:00").expect("rfc3339");
        assert_eq!(format(&t, "2006"), "2024");
        assert_eq!(format(&t, "Jan _2 3:04PM"), "Mar  5 7:08AM");
        assert_eq!(format(&t, "Monday 02/01/06"), "Tuesday 05/03/24");
        let t = parse("2024-03-05 07:08:09.5+02:00", "2006-01-02 15:04:05-07:00").expect("offset");
        assert_eq!(t.offset().local_minus_utc(), 7200);
        assert_eq!(format(&t, "15:04:05.000 Z07:00"), "07:08:09.500 +02:00");
        assert!(parse("2024-3-05", "2006-01-02").is_none());
        assert!(parse("3:04PM", "3:04PM").is_some());
    }
}
