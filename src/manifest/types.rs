//! Type annotations: `str int float bool bytes Any None`, `list[T]`, `dict[str, T]`, `T | None`.
//!
//! Parses the decoded annotation text into a spanned [`Type`]; spans are offsets into that text and
//! the decoder shifts them to file offsets. Names that are not builtins become `Type::Named`, to be
//! resolved against the declared entities by `ir::lower`. Never panics on any input.

use std::ops::Range;

use crate::manifest::ast::{Spanned, Type};

/// The builtin type names, for suggestions.
pub(crate) const BUILTIN_TYPES: &[&str] = &[
    "str", "int", "float", "bool", "bytes", "Any", "None", "list", "dict",
];

/// A problem in an annotation, spanned in the annotation text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeError {
    pub span: Range<usize>,
    pub message: String,
    pub help: Option<String>,
}

/// Parses a whole annotation.
pub(crate) fn parse(text: &str) -> Result<Spanned<Type>, TypeError> {
    let mut parser = Parser { text, at: 0 };
    let ty = parser.union()?;
    parser.skip_ws();
    if parser.at < text.len() {
        return Err(Parser::error(
            parser.at..text.len(),
            format!("unexpected `{}` in type", &text[parser.at..]),
            None,
        ));
    }
    Ok(ty)
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn error(span: Range<usize>, message: String, help: Option<String>) -> TypeError {
        TypeError {
            span,
            message,
            help,
        }
    }

    fn skip_ws(&mut self) {
        while self.text[self.at..].starts_with([' ', '\t']) {
            self.at += 1;
        }
    }

    fn eat(&mut self, ch: char) -> bool {
        self.skip_ws();
        if self.text[self.at..].starts_with(ch) {
            self.at += ch.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, ch: char) -> Result<(), TypeError> {
        if self.eat(ch) {
            return Ok(());
        }
        let end = self.text[self.at..]
            .chars()
            .next()
            .map_or(self.at, |it| self.at + it.len_utf8());
        let found = if end > self.at {
            format!("`{}`", &self.text[self.at..end])
        } else {
            "the end".to_owned()
        };
        Err(Self::error(
            self.at..end,
            format!("expected `{ch}` in type, found {found}"),
            None,
        ))
    }

    /// `primary ("|" primary)?` where one side is `None`.
    fn union(&mut self) -> Result<Spanned<Type>, TypeError> {
        let left = self.primary()?;
        if !self.eat('|') {
            return Ok(left);
        }
        let right = self.primary()?;
        let span = left.span.start..right.span.end;
        let inner = match (left.value == Type::None, right.value == Type::None) {
            (false, true) => left,
            (true, false) => right,
            _ => {
                return Err(Self::error(
                    span,
                    format!(
                        "unsupported union `{}`",
                        &self.text[left.span.start..right.span.end]
                    ),
                    Some("unions are only `T | None`; use `Any` for anything else".to_owned()),
                ));
            }
        };
        Ok(Spanned::new(Type::Optional(Box::new(inner)), span))
    }

    fn primary(&mut self) -> Result<Spanned<Type>, TypeError> {
        self.skip_ws();
        let start = self.at;
        let len = self.text[start..]
            .find(|it: char| !(it.is_alphanumeric() || it == '_' || it == '.'))
            .unwrap_or(self.text.len() - start);
        self.at += len;
        let name = &self.text[start..self.at];
        if name.is_empty() {
            let found = self.text[start..].chars().next();
            let end = found.map_or(start, |it| start + it.len_utf8());
            let message = match found {
                Some(ch) => format!("expected a type name, found `{ch}`"),
                None => "expected a type name".to_owned(),
            };
            return Err(Self::error(start..end, message, None));
        }
        let name_span = start..self.at;
        let simple = match name {
            "str" => Some(Type::Str),
            "int" => Some(Type::Int),
            "float" => Some(Type::Float),
            "bool" => Some(Type::Bool),
            "bytes" => Some(Type::Bytes),
            "Any" => Some(Type::Any),
            "None" => Some(Type::None),
            _ => None,
        };
        if let Some(ty) = simple {
            return Ok(Spanned::new(ty, name_span));
        }
        match name {
            "list" => {
                self.expect('[')?;
                let item = self.union()?;
                self.expect(']')?;
                Ok(Spanned::new(Type::List(Box::new(item)), start..self.at))
            }
            "dict" => {
                self.expect('[')?;
                let key = self.union()?;
                if key.value != Type::Str {
                    return Err(Self::error(
                        key.span.clone(),
                        format!(
                            "unsupported dict key type `{}`",
                            &self.text[key.span.clone()]
                        ),
                        Some("dict keys are always `str`: `dict[str, T]`".to_owned()),
                    ));
                }
                self.expect(',')?;
                let value = self.union()?;
                self.expect(']')?;
                Ok(Spanned::new(Type::Dict(Box::new(value)), start..self.at))
            }
            "List" | "Dict" | "Optional" | "Union" | "typing.List" | "typing.Dict"
            | "typing.Optional" => Err(Self::error(
                name_span,
                format!("unknown type `{name}`"),
                Some("write `list[T]`, `dict[str, T]` or `T | None`".to_owned()),
            )),
            _ => {
                if self.text[self.at..].trim_start().starts_with('[') {
                    return Err(Self::error(
                        name_span,
                        format!("unknown generic type `{name}`"),
                        Some("the generic types are `list[T]` and `dict[str, T]`".to_owned()),
                    ));
                }
                Ok(Spanned::new(Type::Named(name.to_owned()), name_span))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: &str) {
        let got = match parse(text) {
            Ok(it) => format!("{:?}", strip(&it.value)),
            Err(err) => format!("error {:?} {}", err.span, err.message),
        };
        assert_eq!(got, expect, "for {text:?}");
    }

    fn strip(ty: &Type) -> String {
        match ty {
            Type::List(it) => format!("list[{}]", strip(&it.value)),
            Type::Dict(it) => format!("dict[str, {}]", strip(&it.value)),
            Type::Optional(it) => format!("{} | None", strip(&it.value)),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn annotations() {
        check("str", "\"Str\"");
        check("list[str]", "\"list[Str]\"");
        check(
            "dict[str, list[int]] | None",
            "\"dict[str, list[Int]] | None\"",
        );
        check("None | int", "\"Int | None\"");
        check("SendEmailInput", "\"Named(\\\"SendEmailInput\\\")\"");
        check("list[str", "error 8..8 expected `]` in type, found the end");
        check(
            "dict[int, str]",
            "error 5..8 unsupported dict key type `int`",
        );
        check("int | str", "error 0..9 unsupported union `int | str`");
        check("", "error 0..0 expected a type name");
        check("str]", "error 3..4 unexpected `]` in type");
        check("é[", "error 0..2 unknown generic type `é`");
    }
}
