//! Durations: `500ms`, `30s`, `5m`, `1h30m`, `2d` — number-unit pairs, largest unit first.

/// Parses a duration into milliseconds. `Err` carries a short reason for the diagnostic label.
pub(crate) fn parse(text: &str) -> Result<u64, &'static str> {
    const UNITS: &[(&str, u64)] = &[
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("ms", 1),
        ("m", 60_000),
        ("s", 1_000),
    ];
    if text.is_empty() {
        return Err("empty duration");
    }
    let mut rest = text;
    let mut total: u64 = 0;
    let mut last_scale = u64::MAX;
    while !rest.is_empty() {
        let digits = rest
            .find(|it: char| !it.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err("expected a number");
        }
        let number: u64 = rest[..digits].parse().map_err(|_| "number too large")?;
        rest = &rest[digits..];
        let Some((unit, scale)) = UNITS.iter().find(|(unit, _)| rest.starts_with(unit)) else {
            return Err("expected a unit: ms, s, m, h or d");
        };
        if *scale >= last_scale {
            return Err("units must go from largest to smallest, each once");
        }
        last_scale = *scale;
        rest = &rest[unit.len()..];
        total = number
            .checked_mul(*scale)
            .and_then(|it| total.checked_add(it))
            .ok_or("duration too large")?;
    }
    if total == 0 {
        return Err("a duration must be greater than zero");
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn durations() {
        assert_eq!(parse("500ms"), Ok(500));
        assert_eq!(parse("30s"), Ok(30_000));
        assert_eq!(parse("5m"), Ok(300_000));
        assert_eq!(parse("1h30m"), Ok(5_400_000));
        assert_eq!(parse("2d"), Ok(172_800_000));
        assert_eq!(parse("1m500ms"), Ok(60_500));
        assert!(parse("30").is_err());
        assert!(parse("5 m").is_err());
        assert!(parse("30m1h").is_err());
        assert!(parse("0s").is_err());
        assert!(parse("1s1s").is_err());
        assert!(parse("99999999999999999999d").is_err());
    }
}
