//! The base context every template sees: the project (shared with the caller, not copied) and
//! what is derived from it, turned into template values one name at a time, when a template looks
//! the name up ([`super::memo::Tracked`] does the looking up, and keeps what it converted for one
//! output's render only). Converting the whole project up front built a value tree several times
//! the size of the IR and kept it for the whole rendering, though templates read a few small
//! fields of it. A project field is converted from the IR itself, through [`super::fields`], so no
//! table of field names is kept by hand.

use std::sync::Arc;

use minijinja::Value;
use minijinja::value::Serde;
use serde::Serialize;

use crate::digest;
use crate::ir;
use crate::plan::Hash;
use crate::render::check;
use crate::render::fields::{self, Take};

/// The names of the base context, sorted (the order enumerating it lists them in): `project`
/// (the IR, by field), `package`, `registrations` (every symbol the service registers),
/// `policies` (every `common/retries.py` constant) and `python_target` (`"py310"`).
pub(super) const NAMES: [&str; 5] = [
    "package",
    "policies",
    "project",
    "python_target",
    "registrations",
];

/// What the base context's names stand for, shared by every output of one rendering.
#[derive(Debug)]
pub(super) struct Base {
    /// Shared with the caller, not copied: template values are `'static`, and a copy of the IR
    /// would cost what the conversion saved.
    project: Arc<ir::Project>,
    python_target: String,
    /// The fields `project` serializes, sorted: the names of `project.<field>`.
    fields: Vec<&'static str>,
}

impl Base {
    pub(super) fn new(project: &Arc<ir::Project>) -> Base {
        let target = check::target_version(&project.python);
        Base {
            python_target: format!("py{}{}", target.major, target.minor),
            fields: fields::names(&**project),
            project: Arc::clone(project),
        }
    }

    /// The fields of `project`, sorted.
    pub(super) fn fields(&self) -> &[&'static str] {
        &self.fields
    }

    /// The template value of `dep`: a base name other than `project`, or `project.<field>`;
    /// `None` for anything else. Built anew on every call.
    pub(super) fn value(&self, dep: &str) -> Option<Value> {
        self.with(dep, ToValue)
    }

    /// A hash of `dep` that changes whenever its value as templates see it can: a name as for
    /// [`Base::value`], or `*` for every base name but `project`, or `project.*` for the whole
    /// project. Most values are digested from the Rust value, whose serde form is what the
    /// template value is built from; `registrations` and `policies`, lists the render module
    /// derives from the project by a function of declared inputs, are digested from those inputs.
    /// `None` when `dep` does not exist. Deterministic across runs: the IR holds no hash maps.
    pub(super) fn digest(&self, dep: &str) -> Option<Hash> {
        if dep == "project.*" {
            return Some(digest::digest(&*self.project));
        }
        let mut buffer = Vec::new();
        match dep {
            "*" => {
                for name in NAMES.into_iter().filter(|it| *it != "project") {
                    digest::feed(&mut buffer, name);
                    let hash = self.digest(name).unwrap_or(Hash::of(b""));
                    buffer.extend_from_slice(hash.as_bytes());
                }
            }
            // Hashed by what they are made of, much less work than making them: the same inputs
            // make the same list (see `render::RegistrationInputs`).
            "policies" => digest::feed(&mut buffer, &super::PolicyInputs::of(&self.project)),
            "registrations" => {
                digest::feed(&mut buffer, &super::RegistrationInputs::of(&self.project));
            }
            _ => self.with(dep, Feed(&mut buffer))?,
        }
        Some(Hash::of(&buffer))
    }

    /// `take` applied to the Rust value `dep` stands for.
    fn with<F: Take>(&self, dep: &str, take: F) -> Option<F::Output> {
        if let Some(field) = dep.strip_prefix("project.") {
            return fields::field(&*self.project, field, take);
        }
        Some(match dep {
            "package" => take.take(&self.project.package),
            // Derived from the project when looked up, like the rest: only three templates read
            // them, and they are large.
            "policies" => take.take(&super::policies(&self.project)),
            "python_target" => take.take(&self.python_target),
            "registrations" => take.take(&super::registrations(&self.project)),
            _ => return None,
        })
    }
}

/// A value as templates see it: what `Value::from(Serde(..))` makes of it.
struct ToValue;

impl Take for ToValue {
    type Output = Value;
    fn take<T: Serialize + ?Sized>(self, value: &T) -> Value {
        Value::from(Serde(value))
    }
}

/// A value's serde form appended to a buffer to hash (see [`digest`]).
struct Feed<'b>(&'b mut Vec<u8>);

impl Take for Feed<'_> {
    type Output = ();
    fn take<T: Serialize + ?Sized>(self, value: &T) {
        digest::feed(self.0, value);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use minijinja::Value;
    use minijinja::value::Serde;

    use super::Base;
    use crate::render::testing;

    /// A field converted alone is the value the whole project's conversion holds under its name,
    /// and every field the conversion has is one.
    #[test]
    fn a_field_converts_as_in_the_whole_project() {
        let project = Arc::new(testing::blog());
        let base = Base::new(&project);
        let whole = Value::from(Serde(&*project));
        let mut names: Vec<String> = whole
            .try_iter()
            .into_iter()
            .flatten()
            .filter_map(|key| key.as_str().map(str::to_owned))
            .collect();
        names.sort();
        assert_eq!(names, base.fields());
        for name in base.fields() {
            let dep = format!("project.{name}");
            let alone = base.value(&dep).map(|it| format!("{it:?}"));
            let within = whole.get_attr(name).ok().map(|it| format!("{it:?}"));
            assert_eq!(alone, within, "{dep}");
        }
        assert_eq!(base.value("project.nothing"), None);
        assert_eq!(base.value("nothing"), None);
        assert_eq!(
            base.value("python_target").as_ref().and_then(Value::as_str),
            Some("py310")
        );
    }

    /// Hashes tell values apart, name them (`*`), and are the same for an equal project.
    #[test]
    fn digests_are_stable_and_distinct() {
        let first = Base::new(&Arc::new(testing::blog()));
        let again = Base::new(&Arc::new(testing::blog()));
        for dep in [
            "*",
            "project.*",
            "project.agents",
            "registrations",
            "package",
        ] {
            assert!(first.digest(dep).is_some(), "{dep}");
            assert_eq!(first.digest(dep), again.digest(dep), "{dep}");
        }
        assert_ne!(
            first.digest("project.name"),
            first.digest("project.task_queue")
        );
        assert_eq!(first.digest("project.nothing"), None);
        let mut renamed = testing::blog();
        renamed.name.push('2');
        let renamed = Base::new(&Arc::new(renamed));
        assert_ne!(first.digest("project.name"), renamed.digest("project.name"));
        assert_eq!(
            first.digest("project.agents"),
            renamed.digest("project.agents")
        );
        assert_ne!(first.digest("project.*"), renamed.digest("project.*"));
    }
}
