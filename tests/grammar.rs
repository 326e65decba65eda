//! Parses every example in GRAMMAR.md: ```operators blocks must be valid, ```operators-err CODE
//! blocks must give errors, all with that code. Reads nothing at run time (the file is included
//! at compile time).

use restack::diag::Code;
use restack::operators;

const GRAMMAR: &str = include_str!("../GRAMMAR.md");

/// What a fenced example block expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Valid,
    Error(Code),
}

/// Every example line with its block's expectation and its line number in GRAMMAR.md.
fn examples() -> Vec<(usize, Expect, &'static str)> {
    let mut res = Vec::new();
    // `None` outside fences; `Some(None)` inside a fence that holds no examples.
    let mut block: Option<Option<Expect>> = None;
    for (idx, line) in GRAMMAR.lines().enumerate() {
        let line_number = idx + 1;
        if let Some(info) = line.trim_start().strip_prefix("```") {
            let info = info.trim();
            block = match block {
                Some(_) => None,
                None if info == "operators" => Some(Some(Expect::Valid)),
                None => match info.strip_prefix("operators-err ") {
                    Some(name) => {
                        let code = Code::from_name(name.trim()).unwrap_or_else(|| {
                            panic!("GRAMMAR.md:{line_number}: unknown code `{name}`")
                        });
                        Some(Some(Expect::Error(code)))
                    }
                    None => Some(None),
                },
            };
            continue;
        }
        if let Some(Some(expect)) = block
            && !line.trim().is_empty()
        {
            res.push((line_number, expect, line));
        }
    }
    assert!(block.is_none(), "GRAMMAR.md ends inside a fenced block");
    res
}

#[test]
fn every_example_parses_as_documented() {
    let examples = examples();
    let n_valid = examples.iter().filter(|it| it.1 == Expect::Valid).count();
    assert!(n_valid >= 5, "GRAMMAR.md lost its valid examples");
    let mut failures = Vec::new();
    for (line_number, expect, src) in &examples {
        let (_, errors) = operators::parse(src);
        let ok = match expect {
            Expect::Valid => errors.is_empty(),
            Expect::Error(code) => !errors.is_empty() && errors.iter().all(|it| it.code == *code),
        };
        if !ok {
            let codes: Vec<&str> = errors.iter().map(|it| it.code.name()).collect();
            failures.push(format!(
                "GRAMMAR.md:{line_number}: `{src}` expected {expect:?}, got {codes:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_operator_code_has_an_example() {
    let examples = examples();
    let operator_codes = [
        Code::EmptyPipeline,
        Code::DanglingOperator,
        Code::UnbalancedParen,
        Code::UnknownCharacter,
        Code::MissingOperator,
        Code::InvalidStepName,
        Code::DuplicateStep,
        Code::InvalidLoop,
    ];
    for code in operator_codes {
        assert!(
            examples.iter().any(|it| it.1 == Expect::Error(code)),
            "GRAMMAR.md has no `operators-err {}` example",
            code.name()
        );
    }
}
