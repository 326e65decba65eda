//! Data-driven tests of the operator lexer and parser through one `check` helper; no IO.

use std::fmt::Write as _;

use proptest::prelude::*;

use crate::operators::{Entry, Pipeline, StageBody, Unit, parse};

/// The tree as an s-expression, e.g. `(then (loop IDEATE RESEARCH) PLAN (if PUBLISH))`.
fn sexpr(pipeline: &Pipeline) -> String {
    let mut res = String::from("(then");
    for stage in &pipeline.stages {
        let body = match &stage.body {
            StageBody::Loop { a, b } => format!("(loop {} {})", a.name, b.name),
            StageBody::Group { units } => {
                let units: Vec<String> = units
                    .iter()
                    .map(|unit| match unit {
                        Unit::Step(step) => step.name.clone(),
                        Unit::Nested { pipeline } => sexpr(pipeline),
                    })
                    .collect();
                if units.len() == 1 {
                    units[0].clone()
                } else {
                    format!("(fan {})", units.join(" "))
                }
            }
        };
        match stage.entry {
            Entry::Then => write!(res, " {body}").unwrap(),
            Entry::If => write!(res, " (if {body})").unwrap(),
        }
    }
    res.push(')');
    res
}

/// The tree, then one `code@start..end` per error.
fn render(src: &str) -> String {
    let (pipeline, errors) = parse(src);
    let mut res = sexpr(&pipeline);
    for error in &errors {
        write!(
            res,
            " {}@{}..{}",
            error.code.name(),
            error.span.start,
            error.span.end
        )
        .unwrap();
        for (span, _) in &error.related {
            write!(res, "[{}..{}]", span.start, span.end).unwrap();
        }
    }
    res
}

#[track_caller]
fn check(input: &str, expect: &str) {
    let actual = render(input);
    assert_eq!(actual, expect, "input: {input:?}");
}

#[test]
fn valid_trees() {
    check("A", "(then A)");
    check(
        "IDEATE ⇄ RESEARCH → PLAN →? PUBLISH",
        "(then (loop IDEATE RESEARCH) PLAN (if PUBLISH))",
    );
    check(
        "IDEATE <-> RESEARCH -> PLAN ->? PUBLISH",
        "(then (loop IDEATE RESEARCH) PLAN (if PUBLISH))",
    );
    check("A⇄B->C→?D+E⊕F", "(then (loop A B) C (if (fan D E F)))");
    check("A → B ⊕ C → D", "(then A (fan B C) D)");
    check(
        "A ⊕ (B → C ⇄ D) ⊕ E",
        "(then (fan A (then B (loop C D)) E))",
    );
    check("((A))", "(then (then (then A)))");
    check(
        "(A → (B ⊕ C)) →? D",
        "(then (then A (then (fan B C))) (if D))",
    );
    check("  SEND_EMAIL_2 \t→\nA1  ", "(then SEND_EMAIL_2 A1)");
    check("A →? B ⇄ C", "(then A (if (loop B C)))");
}

#[test]
fn empty() {
    check("", "(then) empty-pipeline@0..0");
    check("  \t ", "(then) empty-pipeline@0..4");
    check("()", "(then (then)) empty-pipeline@0..2");
    check("A ⊕ ( )", "(then (fan A (then))) empty-pipeline@6..9");
}

#[test]
fn dangling_operators() {
    check("→ A", "(then A) dangling-operator@0..3");
    check("A →", "(then A) dangling-operator@2..5");
    check("A ->?", "(then A) dangling-operator@2..5");
    check("A → → B", "(then A B) dangling-operator@6..9");
    check("A + + B", "(then (fan A B)) dangling-operator@4..5");
    check("A ⊕", "(then A) dangling-operator@2..5");
    check("+ A", "(then A) dangling-operator@0..1");
    check("(→ A)", "(then (then A)) dangling-operator@1..4");
    check("(A ->)", "(then (then A)) dangling-operator@3..5");
    check("A ⇄", "(then A) dangling-operator@2..5");
    check("⇄ B", "(then B) dangling-operator@0..3");
}

#[test]
fn parens() {
    check("(A → B", "(then (then A B)) unbalanced-paren@0..1");
    check("A → B)", "(then A B) unbalanced-paren@7..8");
    check(")A", "(then A) unbalanced-paren@0..1");
    check("((A)", "(then (then (then A))) unbalanced-paren@0..1");
    check("(A)) → B", "(then (then A) B) unbalanced-paren@3..4");
    check(
        "é(A",
        "(then (then A)) unknown-character@0..2 unbalanced-paren@2..3",
    );
}

#[test]
fn unknown_characters() {
    check("A $ B", "(then A B) unknown-character@2..3");
    check("A → B é", "(then A B) unknown-character@8..10");
    check("A 🦀→ B", "(then A B) unknown-character@2..6");
    check("A ? B", "(then A B) unknown-character@2..3");
    check("A → ? B", "(then A B) unknown-character@6..7");
    check("A - B", "(then A B) unknown-character@2..3");
    check("A <- B", "(then A B) unknown-character@2..4");
    check("A < B", "(then A B) unknown-character@2..3");
    check("A -", "(then A) unknown-character@2..3");
    check("DRAFTÉ", "(then DRAFT) unknown-character@5..7");
    check("A ⇄ B → $", "(then (loop A B)) unknown-character@12..13");
}

#[test]
fn missing_operators() {
    check("A B", "(then A B) missing-operator@2..3");
    check("A (B)", "(then A (then B)) missing-operator@2..3");
    check("(A)(B)", "(then (then A) (then B)) missing-operator@3..4");
    check(
        "é A B",
        "(then A B) unknown-character@0..2 missing-operator@5..6",
    );
}

#[test]
fn step_names() {
    check(
        "draft → REVIEW",
        "(then draft REVIEW) invalid-step-name@0..5",
    );
    check(
        "A → DraftReview",
        "(then A DraftReview) invalid-step-name@6..17",
    );
    check(
        "→ 1A",
        "(then 1A) dangling-operator@0..3 invalid-step-name@4..6",
    );
    let (_, errors) = parse("A → sendEmail");
    assert_eq!(
        errors[0].help.as_deref(),
        Some("steps are UPPER_SNAKE: write `SEND_EMAIL`")
    );
}

#[test]
fn duplicates() {
    check("A → B → A", "(then A B A) duplicate-step@12..13[0..1]");
    check("A ⇄ A", "(then (loop A A)) duplicate-step@6..7[0..1]");
    check(
        "ü A ⊕ (B → A) → A",
        "(then (fan A (then B A)) A) unknown-character@0..2 duplicate-step@16..17[3..4] duplicate-step@23..24[3..4]",
    );
}

#[test]
fn loops() {
    check("A ⇄ B ⇄ C", "(then (fan A B C)) invalid-loop@8..13");
    check("(A → B) ⇄ C", "(then (fan (then A B) C)) invalid-loop@0..9");
    check("A ⊕ B ⇄ C", "(then (fan A B C)) invalid-loop@0..7");
    check("A ⇄ (B)", "(then (fan A (then B))) invalid-loop@6..9");
    check(
        "X → é A ⇄ B ⊕ C",
        "(then X (fan A B C)) unknown-character@6..8 invalid-loop@15..22",
    );
}

#[test]
fn several_errors() {
    check(
        "→ a B (C → ⊕ D",
        "(then a B (then C D)) dangling-operator@0..3 invalid-step-name@4..5 \
         missing-operator@6..7 missing-operator@8..9 unbalanced-paren@8..9 dangling-operator@15..18",
    );
}

/// Pieces the random operator strings are made of.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("A".to_owned()),
        Just("B".to_owned()),
        Just("STEP_2".to_owned()),
        Just("draft".to_owned()),
        Just("→".to_owned()),
        Just("->".to_owned()),
        Just("→?".to_owned()),
        Just("->?".to_owned()),
        Just("⇄".to_owned()),
        Just("<->".to_owned()),
        Just("⊕".to_owned()),
        Just("+".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(" ".to_owned()),
        Just("-".to_owned()),
        Just("<".to_owned()),
        Just("?".to_owned()),
        any::<char>().prop_map(String::from),
    ]
}

/// A valid tree, written out with random spellings.
fn valid_source(depth: u32) -> BoxedStrategy<String> {
    let step = prop_oneof![Just("A"), Just("B"), Just("C"), Just("D_1"), Just("E")]
        .prop_map(str::to_owned);
    let unit = if depth == 0 {
        step.clone().boxed()
    } else {
        prop_oneof![3 => step.clone(), 1 => valid_source(depth - 1).prop_map(|it| format!("({it})"))].boxed()
    };
    let fan = prop_oneof![Just(" ⊕ "), Just("+"), Just(" + ")];
    let group =
        (unit.clone(), prop::collection::vec((fan, unit), 0..3)).prop_map(|(first, rest)| {
            let mut res = first;
            for (op, unit) in rest {
                res.push_str(op);
                res.push_str(&unit);
            }
            res
        });
    let loop_ = (step.clone(), prop_oneof![Just(" ⇄ "), Just("<->")], step)
        .prop_map(|(a, op, b)| format!("{a}{op}{b}"));
    let stage = prop_oneof![3 => group, 1 => loop_];
    let arrow = prop_oneof![Just(" → "), Just("->"), Just(" →? "), Just(" ->? ")];
    (stage.clone(), prop::collection::vec((arrow, stage), 0..4))
        .prop_map(|(first, rest)| {
            let mut res = first;
            for (op, stage) in rest {
                res.push_str(op);
                res.push_str(&stage);
            }
            res
        })
        .boxed()
}

proptest! {
    #[test]
    fn never_panics_and_spans_are_sound(pieces in prop::collection::vec(piece(), 0..24)) {
        let src: String = pieces.concat();
        let (pipeline, errors) = parse(&src);
        for error in &errors {
            prop_assert!(error.span.start <= error.span.end && error.span.end <= src.len(), "{src:?}: {error:?}");
            prop_assert!(src.is_char_boundary(error.span.start) && src.is_char_boundary(error.span.end), "{src:?}: {error:?}");
            for (span, _) in &error.related {
                prop_assert!(span.end <= src.len() && src.is_char_boundary(span.start) && src.is_char_boundary(span.end));
            }
        }
        for step in pipeline.steps() {
            prop_assert_eq!(&src[step.span.clone()], step.name.as_str());
        }
        if errors.is_empty() {
            let printed = pipeline.to_string();
            let (again, again_errors) = parse(&printed);
            prop_assert!(again_errors.is_empty(), "{printed:?}: {again_errors:?}");
            prop_assert_eq!(sexpr(&again), sexpr(&pipeline));
        } else {
            prop_assert!(!src.trim().is_empty() || errors.len() == 1);
        }
    }

    #[test]
    fn valid_strings_round_trip(src in valid_source(2)) {
        let (pipeline, errors) = parse(&src);
        let steps: Vec<&str> = pipeline.steps().iter().map(|it| it.name.as_str()).collect();
        let mut unique = steps.clone();
        unique.sort_unstable();
        unique.dedup();
        // Random trees may repeat a step; that must be the only kind of error.
        prop_assert!(errors.iter().all(|it| it.code == crate::diag::Code::DuplicateStep), "{src:?}: {errors:?}");
        prop_assert_eq!(errors.len(), steps.len() - unique.len());
        let printed = pipeline.to_string();
        let (again, _) = parse(&printed);
        prop_assert_eq!(sexpr(&again), sexpr(&pipeline));
        prop_assert_eq!(again.to_string(), printed);
    }
}
