//! Maps byte offsets in a decoded KDL 2.0 string value back to its raw literal in the file; owns
//! the KDL string rules (escapes, raw strings, multi-line dedent) and must not parse anything but
//! one string literal.
//!
//! The rules follow the KDL 2.0 spec as the `kdl` crate (6.7.1) implements them, including its
//! exact behaviour for whitespace escapes and dedent:
//!
//! - `"…"`: escapes `\n \r \t \\ \" \b \f \s \u{…}`, and `\` followed by whitespace and newlines,
//!   which is removed together with that whitespace. A decoded char made by an escape maps to
//!   the escape's backslash.
//! - `#"…"#` with any number of `#`: no escapes.
//! - `"""` newline … newline `"""` (and `#"""…"""#`): the whitespace before the closing quotes is
//!   the prefix removed from every line; lines holding only whitespace become empty; every
//!   newline becomes `\n` and maps to the newline in the file; the newline before the closing
//!   line is not part of the value.
//! - A bare identifier string (`DRAFT`) maps to itself.
//!
//! `\/` is not a KDL 2.0 escape (it was one in KDL 1.0); the `kdl` crate rejects it, and so does
//! this map. Escapes are read by [`escape`] and spaces are [`UNICODE_SPACES`], both shared with
//! the manifest's parser (`manifest::quick`).

use crate::manifest::quick::{UNICODE_SPACES, escape};

/// Maps byte offsets in a decoded KDL string value to byte offsets in its raw literal (`"…"` with
/// escapes, `#"…"#` raw, `"""` multi-line). Entry `i` is the raw offset of decoded byte `i`; one
/// extra entry maps the end. `None` if `raw` is not exactly one string literal.
///
/// Bytes of a char written literally map to the matching raw bytes; every byte of a char made by
/// an escape maps to the escape's `\`. An operator-error span `a..b` in the value covers
/// `offsets[a]..offsets[b]` in the literal.
pub fn value_offsets(raw: &str) -> Option<Vec<usize>> {
    let mut cursor = Cursor {
        raw,
        pos: 0,
        offsets: Vec::new(),
    };
    if raw.starts_with('#') {
        cursor.raw_string()?;
    } else if raw.starts_with('"') {
        cursor.quoted_string()?;
    } else {
        cursor.identifier_string()?;
    }
    (cursor.pos == raw.len()).then_some(cursor.offsets)
}

/// KDL 2.0 newlines; `\r\n` comes first so that it is read as one newline.
const NEWLINES: [&str; 8] = [
    "\r\n", "\r", "\n", "\u{85}", "\u{b}", "\u{c}", "\u{2028}", "\u{2029}",
];

struct Cursor<'a> {
    raw: &'a str,
    pos: usize,
    offsets: Vec<usize>,
}

impl Cursor<'_> {
    fn rest_at(&self, pos: usize) -> &str {
        &self.raw[pos..]
    }

    fn newline_at(&self, pos: usize) -> Option<usize> {
        let rest = self.rest_at(pos);
        NEWLINES
            .iter()
            .find(|it| rest.starts_with(**it))
            .map(|it| pos + it.len())
    }

    fn space_at(&self, pos: usize) -> Option<usize> {
        let ch = self.rest_at(pos).chars().next()?;
        UNICODE_SPACES.contains(&ch).then(|| pos + ch.len_utf8())
    }

    /// `\` followed by one or more spaces or newlines, all consumed.
    fn ws_escape_at(&self, pos: usize) -> Option<usize> {
        if !self.rest_at(pos).starts_with('\\') {
            return None;
        }
        let mut end = pos + 1;
        while let Some(next) = self.space_at(end).or_else(|| self.newline_at(end)) {
            end = next;
        }
        (end > pos + 1).then_some(end)
    }

    /// `(ws-escape | unicode-space)*`.
    fn spaces_and_escapes_at(&self, mut pos: usize) -> usize {
        while let Some(next) = self.ws_escape_at(pos).or_else(|| self.space_at(pos)) {
            pos = next;
        }
        pos
    }

    /// `(ws-escape | unicode-space)* newline`: returns the newline's start and end.
    fn empty_line_at(&self, pos: usize) -> Option<(usize, usize)> {
        let newline_start = self.spaces_and_escapes_at(pos);
        self.newline_at(newline_start)
            .map(|end| (newline_start, end))
    }

    /// Records decoded char `ch`, written literally at `pos` or by an escape starting at `pos`.
    fn push(&mut self, ch: char, pos: usize, literal: bool) {
        for idx in 0..ch.len_utf8() {
            self.offsets.push(if literal { pos + idx } else { pos });
        }
    }

    /// A bare identifier string maps to itself.
    fn identifier_string(&mut self) -> Option<()> {
        let disallowed = |ch: char| {
            "\\/(){}[];\"#=".contains(ch)
                || UNICODE_SPACES.contains(&ch)
                || NEWLINES.iter().any(|it| it.contains(ch))
        };
        if self.raw.is_empty() || self.raw.contains(disallowed) {
            return None;
        }
        for (idx, ch) in self.raw.char_indices() {
            self.push(ch, idx, true);
        }
        self.pos = self.raw.len();
        self.offsets.push(self.pos);
        Some(())
    }

    /// One element of a quoted string body: a whitespace escape (decodes to nothing), an escape
    /// or a plain char. `None` at `"` or on a bad escape.
    fn string_char(&mut self) -> Option<()> {
        if let Some(end) = self.ws_escape_at(self.pos) {
            self.pos = end;
            return Some(());
        }
        let start = self.pos;
        let mut chars = self.rest_at(start).chars();
        match chars.next()? {
            '"' => None,
            '\\' => {
                let (ch, n_bytes) = escape(self.rest_at(start))?;
                self.push(ch, start, false);
                self.pos = start + n_bytes;
                Some(())
            }
            ch => {
                self.push(ch, start, true);
                self.pos = start + ch.len_utf8();
                Some(())
            }
        }
    }

    fn quoted_string(&mut self) -> Option<()> {
        if self.raw.starts_with("\"\"\"") {
            self.pos = self.newline_at(3)?;
            return self.multi_line_quoted();
        }
        self.pos = 1;
        loop {
            if self.rest_at(self.pos).starts_with('"') {
                self.offsets.push(self.pos);
                self.pos += 1;
                return Some(());
            }
            if self.newline_at(self.pos).is_some() {
                return None;
            }
            self.string_char()?;
        }
    }

    /// One element of a multi-line quoted line: like `string_char`, plus `"` when it does not
    /// start `"""`.
    fn multi_line_char(&mut self) -> Option<()> {
        if self.ws_escape_at(self.pos).is_none()
            && self.rest_at(self.pos).starts_with('"')
            && !self.rest_at(self.pos).starts_with("\"\"\"")
        {
            self.push('"', self.pos, true);
            self.pos += 1;
            return Some(());
        }
        self.string_char()
    }

    fn multi_line_quoted(&mut self) -> Option<()> {
        let prefix = self.quoted_prefix()?;
        let closes = |cursor: &Cursor<'_>| -> bool {
            let Some(after_prefix) = cursor.rest_at(cursor.pos).strip_prefix(prefix.as_str())
            else {
                return false;
            };
            let mut at = cursor.raw.len() - after_prefix.len();
            while let Some(next) = cursor.ws_escape_at(at) {
                at = next;
            }
            cursor.rest_at(at).starts_with("\"\"\"")
        };
        self.lines(&prefix, closes, Cursor::multi_line_char)?;
        // The terminator: prefix, whitespace escapes, `"""`.
        self.pos += prefix.len();
        while let Some(next) = self.ws_escape_at(self.pos) {
            self.pos = next;
        }
        debug_assert!(
            self.rest_at(self.pos).starts_with("\"\"\""),
            "`closes` checked the quotes"
        );
        self.pos += 3;
        Some(())
    }

    /// Finds the closing line of a multi-line quoted string and returns its whitespace (the
    /// spaces only; whitespace escapes on that line are not part of the prefix).
    fn quoted_prefix(&self) -> Option<String> {
        let mut probe = Cursor {
            raw: self.raw,
            pos: self.pos,
            offsets: Vec::new(),
        };
        loop {
            // Is this the closing line?
            let mut at = probe.pos;
            let mut prefix = String::new();
            loop {
                if let Some(next) = probe.ws_escape_at(at) {
                    at = next;
                } else if let Some(next) = probe.space_at(at) {
                    prefix.push_str(&probe.raw[at..next]);
                    at = next;
                } else {
                    break;
                }
            }
            if probe.rest_at(at).starts_with("\"\"\"") {
                return Some(prefix);
            }
            // No: skip one line of body.
            loop {
                if let Some(end) = probe.newline_at(probe.pos) {
                    probe.pos = end;
                    break;
                }
                probe.multi_line_char()?;
            }
        }
    }

    /// The body lines of a multi-line string, up to (not including) the closing line. Each line
    /// starts with `prefix` or holds only whitespace; `element` reads one item of a content line.
    fn lines(
        &mut self,
        prefix: &str,
        closes: impl Fn(&Cursor<'_>) -> bool,
        element: impl Fn(&mut Self) -> Option<()>,
    ) -> Option<()> {
        let mut any_line = false;
        while !closes(self) {
            any_line = true;
            if self.rest_at(self.pos).starts_with(prefix) {
                self.pos += prefix.len();
            } else if self.empty_line_at(self.pos).is_none() {
                return None;
            }
            if let Some((newline_start, end)) = self.empty_line_at(self.pos) {
                self.push('\n', newline_start, true);
                self.pos = end;
                continue;
            }
            loop {
                if let Some(end) = self.newline_at(self.pos) {
                    self.push('\n', self.pos, true);
                    self.pos = end;
                    break;
                }
                if self.pos == self.raw.len() {
                    return None;
                }
                element(self)?;
            }
        }
        // The newline before the closing line is not part of the value.
        if any_line {
            let last = self.offsets.pop();
            debug_assert!(last.is_some(), "every body line ends in a newline");
            self.offsets.push(last.unwrap_or(self.pos));
        } else {
            self.offsets.push(self.pos);
        }
        Some(())
    }

    fn raw_string(&mut self) -> Option<()> {
        let n_hashes = self.raw.len() - self.raw.trim_start_matches('#').len();
        let hashes = &self.raw[..n_hashes];
        self.pos = n_hashes;
        if self.rest_at(self.pos).starts_with("\"\"\"")
            && let Some(body_start) = self.newline_at(self.pos + 3)
        {
            self.pos = body_start;
            return self.multi_line_raw(hashes);
        }
        if !self.rest_at(self.pos).starts_with('"') {
            return None;
        }
        self.pos += 1;
        let body_start = self.pos;
        let closing = format!("\"{hashes}");
        loop {
            if self.rest_at(self.pos).starts_with(closing.as_str()) {
                break;
            }
            if self.newline_at(self.pos).is_some() {
                return None;
            }
            let ch = self.rest_at(self.pos).chars().next()?;
            self.push(ch, self.pos, true);
            self.pos += ch.len_utf8();
        }
        if &self.raw[body_start..self.pos] == "\"" {
            // `#"""#` would look like a multi-line string.
            return None;
        }
        self.offsets.push(self.pos);
        self.pos += closing.len();
        Some(())
    }

    fn multi_line_raw(&mut self, hashes: &str) -> Option<()> {
        let closing = format!("\"\"\"{hashes}");
        // The closing line: spaces, then the closing quotes.
        let mut probe = self.pos;
        let prefix = loop {
            let mut at = probe;
            while let Some(next) = self.space_at(at) {
                at = next;
            }
            if self.rest_at(at).starts_with(closing.as_str()) {
                break self.raw[probe..at].to_owned();
            }
            loop {
                if let Some(end) = self.newline_at(probe) {
                    probe = end;
                    break;
                }
                if self.rest_at(probe).starts_with(closing.as_str()) {
                    return None;
                }
                probe += self.rest_at(probe).chars().next()?.len_utf8();
            }
        };
        let closes = |cursor: &Cursor<'_>| -> bool {
            let Some(after_prefix) = cursor.rest_at(cursor.pos).strip_prefix(prefix.as_str())
            else {
                return false;
            };
            let mut at = cursor.raw.len() - after_prefix.len();
            while let Some(next) = cursor.space_at(at) {
                at = next;
            }
            cursor.rest_at(at).starts_with(closing.as_str())
        };
        let element = |cursor: &mut Cursor<'_>| -> Option<()> {
            if cursor.rest_at(cursor.pos).starts_with(closing.as_str()) {
                return None;
            }
            let ch = cursor.rest_at(cursor.pos).chars().next()?;
            cursor.push(ch, cursor.pos, true);
            cursor.pos += ch.len_utf8();
            Some(())
        };
        self.lines(&prefix, closes, element)?;
        if self.offsets.len() == 2 && self.raw[self.offsets[0]..].starts_with('"') {
            // kdl rejects a raw string whose value is one `"`, multi-line or not.
            return None;
        }
        self.pos += prefix.len();
        while let Some(next) = self.space_at(self.pos) {
            self.pos = next;
        }
        debug_assert!(
            self.rest_at(self.pos).starts_with(closing.as_str()),
            "`closes` checked it"
        );
        self.pos += closing.len();
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use proptest::prelude::*;

    use super::value_offsets;

    /// The value as kdl decodes it from `node <raw>`.
    fn kdl_value(raw: &str) -> Option<String> {
        let doc: kdl::KdlDocument = format!("node {raw}\n").parse().ok()?;
        let [node] = doc.nodes() else { return None };
        let [entry] = node.entries() else { return None };
        entry.value().as_string().map(str::to_owned)
    }

    /// Decodes `raw` through the offsets (taking each decoded char from kdl's value) and checks
    /// that every decoded char maps to where it, or its escape, starts.
    #[track_caller]
    fn check(raw: &str, expect: &str) {
        let value = kdl_value(raw).unwrap_or_else(|| panic!("kdl rejects {raw:?}"));
        assert_eq!(value, expect, "kdl's value of {raw:?}");
        let offsets = value_offsets(raw).unwrap_or_else(|| panic!("no offsets for {raw:?}"));
        assert_eq!(offsets.len(), value.len() + 1, "{raw:?}");
        for (idx, ch) in value.char_indices() {
            let at = &raw[offsets[idx]..];
            let ok = at.starts_with(ch)
                || escape_value(at) == Some(ch)
                || (ch == '\n' && super::NEWLINES.iter().any(|it| at.starts_with(it)));
            assert!(ok, "{raw:?}: char {ch:?} at {idx} maps to {at:?}");
        }
        assert!(
            offsets.windows(2).all(|it| it[0] <= it[1]),
            "{raw:?}: {offsets:?}"
        );
    }

    /// The char that the escape at the start of `at` stands for.
    fn escape_value(at: &str) -> Option<char> {
        let rest = at.strip_prefix('\\')?;
        let simple = match rest.chars().next()? {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            '\\' => '\\',
            '"' => '"',
            'b' => '\u{8}',
            'f' => '\u{c}',
            's' => ' ',
            'u' => {
                let hex = rest.strip_prefix("u{")?.split('}').next()?;
                return char::from_u32(u32::from_str_radix(hex, 16).ok()?);
            }
            _ => return None,
        };
        Some(simple)
    }

    #[test]
    fn shifts_operator_errors() {
        // What the manifest does: parse the decoded value, map each error span into the literal.
        for raw in [
            r#""A \u{2192} é""#,
            "#\"A → é\"#",
            "\"\"\"\n    A →\\\n   é\n    \"\"\"",
        ] {
            let value = kdl_value(raw).unwrap();
            let (_, errors) = crate::operators::parse(&value);
            let offsets = value_offsets(raw).unwrap();
            let spans: Vec<&str> = errors
                .iter()
                .map(|it| &raw[offsets[it.span.start]..offsets[it.span.end]])
                .collect();
            assert_eq!(spans, ["é"], "{raw:?}");
        }
    }

    #[test]
    fn forms() {
        check("\"A → B\"", "A → B");
        check("\"A\\n\\t\\u{2192}\\\"B\"", "A\n\t→\"B");
        check("\"A \\   \n   → B\"", "A → B");
        check("DRAFT", "DRAFT");
        check("#\"A \\ → B\"#", "A \\ → B");
        check("##\"say \"#hi\"#\"##", "say \"#hi\"#");
        check(
            "\"\"\"\n    A →\n      B\n\n    C\n    \"\"\"",
            "A →\n  B\n\nC",
        );
        check("\"\"\"\r\n  A\r\n  \"\"\"", "A");
        check("\"\"\"\n\"\"\"", "");
        check("#\"\"\"\n  A \\ \"\"\"\n  \"\"\"#", "A \\ \"\"\"");
        check("\"\"\"\n  A \\\n   B\n  \"\"\"", "A B");
        check("\"\"", "");
    }

    #[test]
    fn offsets_of_escapes() {
        let offsets = value_offsets(r#""A\u{2192}B""#).unwrap();
        // `A` at 1, the three bytes of `→` at the escape's `\` (2), `B` after `}` (10).
        assert_eq!(offsets, vec![1, 2, 2, 2, 10, 11]);
        assert_eq!(value_offsets("\"\"\"\n  AB\n  \"\"\""), Some(vec![6, 7, 8]));
    }

    #[test]
    fn not_literals() {
        for raw in [
            "",
            "\"A",
            "\"A\"x",
            "#\"A\"",
            "\"a\\/b\"",
            "\"\"\"A\"\"\"",
            "\"a\nb\"",
            "A B",
            "#\"\"\"#",
        ] {
            assert_eq!(value_offsets(raw), None, "{raw:?}");
            assert_eq!(kdl_value(raw), None, "kdl accepts {raw:?}");
        }
    }

    /// A char for random values: operator text, quotes, backslashes, `#`, and any char.
    fn value_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => prop::sample::select(vec!['A', 'B', '_', ' ', '→', '⇄', '⊕', '?', '(', ')', '-', '>']),
            2 => prop::sample::select(vec!['"', '\\', '#', '\t', '\n', '\r', '\u{8}', '\u{c}', '/']),
            1 => any::<char>().prop_filter("kdl forbids it in literals", |it| !forbidden(*it)),
        ]
    }

    /// Code points KDL does not allow to appear literally, plus newlines other than `\n`, which
    /// a multi-line string would normalize.
    fn forbidden(ch: char) -> bool {
        let code = u32::from(ch);
        (code <= 0x1f && ch != '\t' && ch != '\n')
            || (0x7f..=0x9f).contains(&code)
            || (0xd800..=0xdfff).contains(&code)
            || (0x200e..=0x200f).contains(&code)
            || (0x202a..=0x202e).contains(&code)
            || (0x2066..=0x2069).contains(&code)
            || ch == '\u{feff}'
            || ch == '\u{2028}'
            || ch == '\u{2029}'
    }

    /// `value` as a quoted literal; `style` picks which escapes to use.
    fn quoted(value: &str, style: u8) -> String {
        let ws_escapes = style % 4 == 1;
        let mut res = String::from("\"");
        for (idx, ch) in value.chars().enumerate() {
            match ch {
                '"' => res.push_str("\\\""),
                '\\' => res.push_str("\\\\"),
                '\n' => res.push_str("\\n"),
                '\r' => res.push_str("\\r"),
                '\t' if style.is_multiple_of(2) || ws_escapes => res.push_str("\\t"),
                '\u{8}' => res.push_str("\\b"),
                '\u{c}' => res.push_str("\\f"),
                ' ' if style.is_multiple_of(3) || ws_escapes => res.push_str("\\s"),
                // A whitespace escape would swallow a literal space after it.
                ch if forbidden(ch)
                    || (style.is_multiple_of(5) && !ch.is_ascii())
                    || (ws_escapes && super::UNICODE_SPACES.contains(&ch)) =>
                {
                    write!(res, "\\u{{{:x}}}", u32::from(ch)).unwrap();
                }
                ch => res.push(ch),
            }
            // A whitespace escape now and then: elided, with a newline and indentation.
            if ws_escapes && idx % 3 == 2 {
                res.push_str("\\\n   ");
            }
        }
        res.push('"');
        res
    }

    /// `value` as a raw literal with enough `#`.
    fn raw(value: &str) -> String {
        let hashes = "#".repeat(1 + value.matches('#').count());
        format!("{hashes}\"{value}\"{hashes}")
    }

    /// `value` (one line per `\n`) as a multi-line literal indented by `indent`; quoted lines
    /// use escapes but no whitespace escapes.
    fn multi_line(value: &str, indent: &str, raw: bool) -> String {
        let hashes = if raw {
            "#".repeat(1 + value.matches('#').count())
        } else {
            String::new()
        };
        let mut res = format!("{hashes}\"\"\"\n");
        for line in value.split('\n') {
            if !line.is_empty() {
                res.push_str(indent);
            }
            if raw {
                res.push_str(line);
            } else {
                let escaped = quoted(line, 2);
                res.push_str(&escaped[1..escaped.len() - 1]);
            }
            res.push('\n');
        }
        res.push_str(indent);
        write!(res, "\"\"\"{hashes}").unwrap();
        res
    }

    proptest! {
        #[test]
        fn matches_kdl(chars in prop::collection::vec(value_char(), 0..16), style in 0u8..60) {
            let value: String = chars.into_iter().collect();
            let mut forms = vec![(quoted(&value, style), value.clone())];
            if !value.contains(['\n', '\r']) && !value.chars().any(forbidden) && value != "\"" {
                forms.push((raw(&value), value.clone()));
            }
            // Multi-line bodies hold no `\r` (a newline there) and no line of only spaces and
            // tabs (it would decode to an empty line).
            let ml_value = value.replace('\r', "");
            let lines_ok = ml_value
                .split('\n')
                .all(|line| line.is_empty() || !line.chars().all(|it| it == ' ' || it == '\t'));
            if lines_ok {
                forms.push((multi_line(&ml_value, "  ", false), ml_value.clone()));
                if !ml_value.chars().any(forbidden) && !ml_value.contains("\"\"\"") && !ml_value.contains('\\') && ml_value != "\"" {
                    forms.push((multi_line(&ml_value, "\t ", true), ml_value.clone()));
                }
            }
            for (literal, expect) in forms {
                let decoded = kdl_value(&literal);
                prop_assert_eq!(decoded.as_deref(), Some(expect.as_str()), "kdl's value of {:?}", literal);
                check(&literal, &expect);
            }
        }
    }
}
