//! The part of PEP 440 `doctor` needs to compare installed versions with pins: release numbers
//! (`2.12.5`), the comparison operators, `==X.*` wildcards and `~=`. Pre-, post- and dev-release
//! suffixes are ignored (`2.13.0rc1` compares as `2.13.0`), which is exact for every pin restack
//! writes. Pure.

use std::cmp::Ordering;

/// A release version: its numeric parts (`[2, 12, 5]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(pub Vec<u64>);

impl Version {
    /// Parses the release part of a version (`v` prefix, epoch-less); `None` when it has none.
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim().trim_start_matches('v');
        let mut parts = Vec::new();
        for piece in text.split('.') {
            let digits: String = piece.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() {
                break;
            }
            parts.push(digits.parse().ok()?);
            if digits.len() != piece.len() {
                break;
            }
        }
        (!parts.is_empty()).then_some(Version(parts))
    }

    fn compare(&self, other: &Version) -> Ordering {
        let len = self.0.len().max(other.0.len());
        (0..len)
            .map(|i| {
                let a = self.0.get(i).copied().unwrap_or(0);
                let b = other.0.get(i).copied().unwrap_or(0);
                a.cmp(&b)
            })
            .find(|it| it.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<_> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// Whether `version` satisfies every clause of `spec` (`>=2.12.4,<2.13`). An empty spec admits
/// everything; a clause that cannot be read is `Err` with that clause.
pub fn satisfies(version: &Version, spec: &str) -> Result<bool, String> {
    for clause in spec.split(',').map(str::trim).filter(|it| !it.is_empty()) {
        if !clause_admits(version, clause)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn clause_admits(version: &Version, clause: &str) -> Result<bool, String> {
    let op_len = clause
        .find(|c: char| !matches!(c, '=' | '!' | '<' | '>' | '~'))
        .unwrap_or(clause.len());
    let (op, rest) = clause.split_at(op_len);
    let rest = rest.trim();
    if let Some(prefix) = rest.strip_suffix(".*") {
        let wanted = Version::parse(prefix).ok_or_else(|| clause.to_owned())?;
        let matches = wanted
            .0
            .iter()
            .enumerate()
            .all(|(i, part)| version.0.get(i).copied().unwrap_or(0) == *part);
        return match op {
            "==" => Ok(matches),
            "!=" => Ok(!matches),
            _ => Err(clause.to_owned()),
        };
    }
    let other = Version::parse(rest).ok_or_else(|| clause.to_owned())?;
    let order = version.compare(&other);
    Ok(match op {
        "==" | "===" => order.is_eq(),
        "!=" => order.is_ne(),
        ">=" => order.is_ge(),
        "<=" => order.is_le(),
        ">" => order.is_gt(),
        "<" => order.is_lt(),
        "~=" => {
            if other.0.len() < 2 {
                return Err(clause.to_owned());
            }
            let prefix = &other.0[..other.0.len() - 1];
            order.is_ge() && version.0.iter().zip(prefix).all(|(a, b)| a == b)
        }
        _ => return Err(clause.to_owned()),
    })
}

/// Splits a PEP 508 requirement (`"fastmcp>=2.12.4,<2.13"`) into its normalized name and spec;
/// extras and markers are dropped.
pub fn split_requirement(requirement: &str) -> (String, String) {
    let requirement = requirement.split(';').next().unwrap_or_default().trim();
    let end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(requirement.len());
    let name = requirement[..end].to_ascii_lowercase().replace('_', "-");
    let mut spec = requirement[end..].trim();
    if spec.starts_with('[') {
        spec = spec.find(']').map_or("", |it| spec[it + 1..].trim());
    }
    (name, spec.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).expect("version")
    }

    #[test]
    fn parses_release_parts() {
        assert_eq!(v("2.12.5").0, [2, 12, 5]);
        assert_eq!(v("2.13.0rc1").0, [2, 13, 0]);
        assert_eq!(v("1.0.post2").0, [1, 0]);
        assert_eq!(Version::parse("abc"), None);
    }

    #[test]
    fn specs() {
        assert_eq!(satisfies(&v("2.12.5"), ">=2.12.4,<2.13"), Ok(true));
        assert_eq!(satisfies(&v("2.14.7"), ">=2.12.4,<2.13"), Ok(false));
        assert_eq!(satisfies(&v("0.0.121"), "==0.0.121"), Ok(true));
        assert_eq!(satisfies(&v("0.0.120"), "==0.0.121"), Ok(false));
        assert_eq!(satisfies(&v("3.9.18"), ">=3.10,<3.14"), Ok(false));
        assert_eq!(satisfies(&v("3.13.1"), ">=3.10,<3.14"), Ok(true));
        assert_eq!(satisfies(&v("3.14.0"), ">=3.10,<3.14"), Ok(false));
        assert_eq!(satisfies(&v("2.2.1"), "~=2.2"), Ok(true));
        assert_eq!(satisfies(&v("3.0"), "~=2.2"), Ok(false));
        assert_eq!(satisfies(&v("1.16.3"), "==1.16.*"), Ok(true));
        assert_eq!(satisfies(&v("1.17.0"), "==1.16.*"), Ok(false));
        assert_eq!(satisfies(&v("1.0"), ""), Ok(true));
        assert_eq!(satisfies(&v("1.0"), "=>1"), Err("=>1".to_owned()));
    }

    #[test]
    fn requirements() {
        assert_eq!(
            split_requirement("fastmcp>=2.12.4,<2.13"),
            ("fastmcp".to_owned(), ">=2.12.4,<2.13".to_owned())
        );
        assert_eq!(
            split_requirement("Restack_AI[x] ==0.0.121 ; python_version>'3'"),
            ("restack-ai".to_owned(), "==0.0.121".to_owned())
        );
    }
}
