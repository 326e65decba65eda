//! Memoized rendering for `watch`: an output is rendered again only when something it read
//! changed. What an output reads is its template (and the templates it imports), its own context
//! and the parts of the base context the template looked up while rendering it, which the base
//! context records as they happen ([`Tracked`]). Rendering is a pure function of those, so an
//! output whose inputs all hash the same as last time renders to the same bytes, and is reused.
//!
//! The granularity is the top-level key of the base context (`package`, `registrations`, …) and,
//! for `project`, each of its fields (`project.name`, `project.agents`, …): a function's module
//! reads `project.name` but not `project.agents`, so editing an agent re-renders the agent's
//! files and the project-wide files that list agents, not every function. Whatever enumerates a
//! tracked map as a whole (iterating it, printing it) depends on all of it.
//!
//! The argument is the usual one for dynamic dependency tracking: a template that read the same
//! values takes the same branches, so it reads the same values again and renders the same bytes.
//!
//! Above outputs, an entity's files are a group ([`super::group::Group`]) made by a plain function
//! of inputs the group declares. A group whose inputs have the key of last time (with the same
//! templates) makes outputs with the same own keys, so the memo of each of its outputs
//! ([`GroupMemo`]) needs only its reads checked: the outputs are not made, and nothing of them is
//! hashed. The key hashes the fingerprints of the entities in the inputs
//! ([`crate::ir::Fingerprint`]), known from lowering, so no entity is serialized to prove it
//! unchanged.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr};

use crate::plan::Hash;
use crate::render::base::{self, Base};
use crate::render::keyed::{self, PartDigests};
use crate::render::output::Identity;
use crate::render::{File, Output, Overrides};

/// A base-context value an output read. Every name is one of a fixed set ([`base::NAMES`] and
/// the fields of `ir::Project`), so a dependency is a pair of words, not a string to hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Dep {
    /// A top-level name other than `project`, with its index in [`base::NAMES`].
    Name(usize, &'static str),
    /// Every top-level name but `project` (the base context enumerated).
    Names,
    /// `project.<field>`, with its index in [`Base::fields`] (the fields of one type, so the
    /// same in every rendering).
    Field(usize, &'static str),
    /// The whole project (`project` enumerated).
    Project,
}

impl Dep {
    /// The name [`Base`] knows the value by: `package`, `*`, `project.agents`, `project.*`.
    fn key(self) -> Cow<'static, str> {
        match self {
            Dep::Name(_, name) => Cow::Borrowed(name),
            Dep::Names => Cow::Borrowed("*"),
            Dep::Field(_, field) => Cow::Owned(format!("project.{field}")),
            Dep::Project => Cow::Borrowed("project.*"),
        }
    }
}

/// What the render running on a thread has read of the base context, and the template values it
/// was given for it.
#[derive(Default)]
struct Render {
    reads: BTreeSet<Dep>,
    /// Each base value converted for this render, so that a template that reads `project.agents`
    /// in a loop converts it once. Dropped with the render: what one output needed is not kept
    /// while the others render.
    values: HashMap<Dep, Value>,
}

thread_local! {
    /// The render running on this thread, when one is being tracked.
    static RENDER: RefCell<Option<Render>> = const { RefCell::new(None) };
}

fn note(dep: Dep) {
    RENDER.with(|render| {
        if let Some(render) = render.borrow_mut().as_mut() {
            render.reads.insert(dep);
        }
    });
}

/// The template value of `dep`, converted by `convert` at most once in the tracked render on this
/// thread (every time outside one).
fn cached(dep: Dep, convert: impl FnOnce() -> Option<Value>) -> Option<Value> {
    let known = RENDER.with(|render| {
        render
            .borrow()
            .as_ref()
            .and_then(|render| render.values.get(&dep).cloned())
    });
    if known.is_some() {
        return known;
    }
    // Converted with no borrow held: serializing runs code of its own.
    let value = convert()?;
    RENDER.with(|render| {
        if let Some(render) = render.borrow_mut().as_mut() {
            render.values.insert(dep, value.clone());
        }
    });
    Some(value)
}

/// Runs `render` and returns what it read of the base context on this thread. The base values
/// converted for it are freed when it returns.
pub(super) fn tracking<R>(render: impl FnOnce() -> R) -> (R, BTreeSet<Dep>) {
    RENDER.with(|it| *it.borrow_mut() = Some(Render::default()));
    let result = render();
    let done = RENDER.with(|it| it.borrow_mut().take()).unwrap_or_default();
    (result, done.reads)
}

/// The base context (or, with `project` set, its `project`) as templates see it: a map that
/// converts a value from [`Base`] when it is looked up, and records the lookup.
#[derive(Debug)]
pub(super) struct Tracked {
    base: Arc<Base>,
    project: bool,
}

impl Tracked {
    /// The base context.
    pub(super) fn value(base: Arc<Base>) -> Value {
        Value::from_object(Tracked {
            base,
            project: false,
        })
    }
}

impl Object for Tracked {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        let dep = if self.project {
            let fields = self.base.fields();
            let idx = fields.binary_search(&key).ok()?;
            Dep::Field(idx, fields[idx])
        } else if key == "project" {
            // `project` itself is tracked field by field.
            return Some(Value::from_object(Tracked {
                base: Arc::clone(&self.base),
                project: true,
            }));
        } else {
            let idx = base::NAMES.binary_search(&key).ok()?;
            Dep::Name(idx, base::NAMES[idx])
        };
        let value = cached(dep, || self.base.value(&dep.key()));
        debug_assert!(value.is_some(), "`{dep:?}` is listed but has no value");
        note(dep);
        value
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let (dep, names) = if self.project {
            (Dep::Project, self.base.fields())
        } else {
            (Dep::Names, &base::NAMES[..])
        };
        note(dep);
        Enumerator::Values(names.iter().map(|it| Value::from(*it)).collect())
    }
}

/// The hash of each base-context value, computed once per rendering, when first needed. One
/// slot per value there can be, so a lookup takes no lock once the value is hashed.
pub(super) struct DepHashes<'a> {
    base: &'a Base,
    /// `base::NAMES`, then `*`, `project.*`, then each field of `base.fields()`.
    slots: Vec<OnceLock<Option<Hash>>>,
    /// The digests of the parts of `policies` and `registrations` in the last rendering.
    last: &'a ListParts,
    /// Those of this rendering, once hashed.
    next: [OnceLock<PartDigests>; 2],
}

/// The digests of the parts of the lists derived from the whole project, `policies` and
/// `registrations` (see [`super::keyed`]), kept from one rendering to the next.
#[derive(Debug, Clone, Default)]
pub(super) struct ListParts {
    lists: [PartDigests; 2],
}

/// The lists [`ListParts`] keeps, in its order.
const LISTS: [&str; 2] = ["policies", "registrations"];

impl<'a> DepHashes<'a> {
    /// The hashes of `base`'s values, reusing what `last` proves of the parts of its lists.
    pub(super) fn new(base: &'a Base, last: &'a ListParts) -> Self {
        DepHashes {
            base,
            slots: (0..base::NAMES.len() + 2 + base.fields().len())
                .map(|_| OnceLock::new())
                .collect(),
            last,
            next: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// The parts of the lists this rendering hashed, with those of the last for any it did not.
    pub(super) fn list_parts(&self) -> ListParts {
        ListParts {
            lists: [0, 1].map(|idx| {
                self.next[idx]
                    .get()
                    .unwrap_or(&self.last.lists[idx])
                    .clone()
            }),
        }
    }

    /// The digest of `dep`, a list's parts digested reusing the last rendering's.
    fn digest(&self, dep: Dep) -> Option<Hash> {
        let list = match dep {
            Dep::Name(_, name) => LISTS.iter().position(|it| *it == name),
            _ => None,
        };
        let Some(idx) = list else {
            return self.base.digest(&dep.key());
        };
        let (hash, next) = keyed::reusing(&self.last.lists[idx], || self.base.digest(LISTS[idx]));
        // Set once: the slot of `dep` computes it once.
        let _ = self.next[idx].set(next);
        hash
    }

    /// The hash of `dep` now; `None` for a name that no longer exists.
    pub(super) fn get(&self, dep: Dep) -> Option<Hash> {
        let n_names = base::NAMES.len();
        let slot = match dep {
            Dep::Name(idx, name) => {
                debug_assert_eq!(base::NAMES.get(idx), Some(&name), "a name's index");
                idx
            }
            Dep::Names => n_names,
            Dep::Project => n_names + 1,
            Dep::Field(idx, field) => {
                debug_assert_eq!(self.base.fields().get(idx), Some(&field), "a field's index");
                n_names + 2 + idx
            }
        };
        match self.slots.get(slot) {
            Some(slot) => *slot.get_or_init(|| self.digest(dep)),
            None => self.base.digest(&dep.key()),
        }
    }
}

/// The hash of everything an output is besides the base context: where it goes, what it is, its
/// template (with every template it imports) and its own context. Not its origin, which only
/// labels the file (templates never see manifest positions).
pub(super) fn own_key(
    output: &Output<'_>,
    templates: &TemplateHashes,
    shared: &SharedDigests,
) -> Hash {
    let mut buffer = Vec::with_capacity(512);
    let field = |buffer: &mut Vec<u8>, bytes: &[u8]| {
        buffer.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        buffer.extend_from_slice(bytes);
    };
    field(&mut buffer, output.path.as_bytes());
    field(&mut buffer, output.kind.name().as_bytes());
    field(&mut buffer, templates.closure(output.template).as_bytes());
    for (key, value) in &output.context {
        field(&mut buffer, key.as_bytes());
        match value.identity() {
            Some(identity) => {
                let digest = shared.digest(identity, || {
                    let mut bytes = Vec::new();
                    value.feed(&mut bytes);
                    Hash::of(&bytes)
                });
                field(&mut buffer, digest.as_bytes());
            }
            None => value.feed(&mut buffer),
        }
    }
    Hash::of(&buffer)
}

/// The digest of each shared context value (see [`crate::render::output::Identity`]), computed
/// once per rendering. Keeps every `Arc` it was given alive until the rendering ends, so that no
/// other value can take a remembered address.
#[derive(Default)]
pub(super) struct SharedDigests {
    known: Mutex<HashMap<(usize, &'static str), SharedDigest>>,
}

type SharedDigest = (Hash, Option<Arc<dyn std::any::Any + Send + Sync>>);

impl SharedDigests {
    fn digest(&self, identity: Identity, compute: impl FnOnce() -> Hash) -> Hash {
        let known = self
            .known
            .lock()
            .ok()
            .and_then(|it| it.get(&identity.key).map(|(hash, _)| *hash));
        if let Some(hash) = known {
            return hash;
        }
        let hash = compute();
        if let Ok(mut known) = self.known.lock() {
            known.insert(identity.key, (hash, identity.keep));
        }
        hash
    }
}

/// The hash of each template together with every template it imports, includes or extends.
#[derive(Debug)]
pub(super) struct TemplateHashes {
    sources: BTreeMap<String, String>,
    closures: Mutex<HashMap<String, Hash>>,
}

impl TemplateHashes {
    pub(super) fn new(overrides: &Overrides) -> TemplateHashes {
        // Every name the environment's loader can serve: the embedded templates (overridden or
        // not) and any other override an override might import.
        let mut sources: BTreeMap<String, String> = super::template_names()
            .into_iter()
            .map(|name| {
                let source = overrides
                    .get(name)
                    .or_else(|| super::template_source(name))
                    .unwrap_or_default();
                (name.to_owned(), source.to_owned())
            })
            .collect();
        for name in overrides.names() {
            let source = overrides.get(name).unwrap_or_default();
            sources.insert(name.to_owned(), source.to_owned());
        }
        TemplateHashes {
            sources,
            closures: Mutex::new(HashMap::new()),
        }
    }

    /// The hash of every template the environment can load, by name: two renderings with the
    /// same fingerprint load the same templates.
    pub(super) fn fingerprint(&self) -> Hash {
        let mut hasher = blake3::Hasher::new();
        for (name, source) in &self.sources {
            for text in [name, source] {
                hasher.update(&(text.len() as u64).to_le_bytes());
                hasher.update(text.as_bytes());
            }
        }
        Hash::from_bytes(*hasher.finalize().as_bytes())
    }

    fn closure(&self, name: &str) -> Hash {
        if let Some(hash) = self
            .closures
            .lock()
            .ok()
            .and_then(|it| it.get(name).copied())
        {
            return hash;
        }
        let mut seen = BTreeSet::new();
        let mut todo = vec![name.to_owned()];
        let mut hasher = blake3::Hasher::new();
        while let Some(next) = todo.pop() {
            if !seen.insert(next.clone()) {
                continue;
            }
            let source = self.sources.get(&next).map_or("", String::as_str);
            hasher.update(next.as_bytes());
            hasher.update(&(source.len() as u64).to_le_bytes());
            hasher.update(source.as_bytes());
            if loads_dynamically(source) {
                // A template named by an expression could be any: depend on all of them.
                todo.extend(self.sources.keys().cloned());
            }
            todo.extend(referenced(source));
        }
        let hash = Hash::from_bytes(*hasher.finalize().as_bytes());
        if let Ok(mut closures) = self.closures.lock() {
            closures.insert(name.to_owned(), hash);
        }
        hash
    }
}

/// Every quoted name ending in `.j2` in a template's source: the templates it may load. Broader
/// than the `import`/`from`/`include`/`extends` tags (a name in a comment counts too), which only
/// makes the memo more cautious.
fn referenced(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for quote in ['"', '\''] {
        let mut parts = source.split(quote);
        parts.next();
        // Every other part is inside quotes (approximately: this over-approximates).
        for part in parts {
            let is_template = std::path::Path::new(part)
                .extension()
                .is_some_and(|ext| ext == "j2");
            if is_template && !part.contains(char::is_whitespace) {
                names.push(part.to_owned());
            }
        }
    }
    names
}

/// Whether a template loads another by a name that is not a string literal
/// (`{% include name_var %}`), which [`referenced`] cannot see.
fn loads_dynamically(source: &str) -> bool {
    source.match_indices("{%").any(|(at, _)| {
        let rest = source[at + 2..].trim_start_matches('-').trim_start();
        ["include", "import", "from", "extends"].iter().any(|tag| {
            rest.strip_prefix(tag).is_some_and(|after| {
                after.starts_with(char::is_whitespace)
                    && !after.trim_start().starts_with(['"', '\''])
            })
        })
    })
}

/// One output as last rendered, and what it read.
#[derive(Debug, Clone)]
pub(super) struct Memo {
    pub(super) own: Hash,
    pub(super) deps: Vec<(Dep, Option<Hash>)>,
    pub(super) file: File,
    /// Whether the file is Python (its path ends in `.py`), so parsed before it is returned.
    pub(super) python: bool,
}

impl Memo {
    /// Whether the output would render the same now: the same own inputs, and every base value
    /// it read unchanged.
    pub(super) fn still_valid(&self, own: Hash, hashes: &DepHashes<'_>) -> bool {
        self.own == own && self.reads_unchanged(hashes)
    }

    /// The file as last rendered, with the origin of now (an entity's span may have moved).
    pub(super) fn file_from(&self, origin: &crate::ir::Origin) -> File {
        File {
            contents: self.file.contents.clone(),
            hash: self.file.hash,
            kind: self.file.kind,
            origin: origin.clone(),
            template: self.file.template.clone(),
        }
    }

    /// Whether every base value the output read hashes as it did.
    pub(super) fn reads_unchanged(&self, hashes: &DepHashes<'_>) -> bool {
        self.deps
            .iter()
            .all(|(dep, hash)| hashes.get(*dep) == *hash)
    }
}

/// The outputs of a group ([`super::group::Group`]) as last rendered: the key of the inputs they
/// were made from ([`super::group::Key`]), and each output's memo, in the group's order. Since a
/// group's outputs are a function of its inputs, inputs with the same key (with the same
/// templates) make outputs with the same own keys, so each is reused while what it read of the
/// base context is unchanged, without being made.
#[derive(Debug, Clone)]
pub(super) struct GroupMemo {
    pub(super) key: Box<[u8]>,
    pub(super) outputs: Vec<(String, Memo)>,
    /// What the outputs read, together: every pair of a dependency and its hash that one of
    /// them read, sorted and once each. Every output reads nothing changed exactly when each
    /// pair is as it was, so this is checked once for the group instead of once per output;
    /// groups that read alike share one list (see [`Reads`]), checked once per rendering.
    pub(super) reads: Reads,
}

/// A group's reads (see [`GroupMemo::reads`]), shared by the groups that read alike.
pub(super) type Reads = Arc<[(Dep, Option<Hash>)]>;

impl GroupMemo {
    /// The memo of a group made from inputs of key `key`, whose outputs have these memos.
    pub(super) fn new(key: Box<[u8]>, outputs: Vec<(String, Memo)>) -> GroupMemo {
        let mut reads: Vec<(Dep, Option<Hash>)> = outputs
            .iter()
            .flat_map(|(_, memo)| memo.deps.iter().copied())
            .collect();
        reads.sort_unstable();
        reads.dedup();
        GroupMemo {
            key,
            outputs,
            reads: reads.into(),
        }
    }

    /// Whether every base value the group's outputs read hashes as it did (see
    /// [`Memo::reads_unchanged`]).
    pub(super) fn reads_unchanged(&self, hashes: &DepHashes<'_>) -> bool {
        let unchanged = self
            .reads
            .iter()
            .all(|(dep, hash)| hashes.get(*dep) == *hash);
        debug_assert_eq!(
            unchanged,
            self.outputs
                .iter()
                .all(|(_, memo)| memo.reads_unchanged(hashes)),
            "a group reads what its outputs read"
        );
        unchanged
    }

    /// The memo of the output at `path`.
    pub(super) fn output(&self, path: &str) -> Option<&Memo> {
        self.outputs
            .iter()
            .find(|(candidate, _)| candidate == path)
            .map(|(_, memo)| memo)
    }
}

#[cfg(test)]
mod tests {
    use minijinja::Value;

    use super::{Dep, cached, referenced, tracking};

    /// A value is converted once per tracked render, and again in the next one.
    #[test]
    fn converted_values_last_one_render() {
        let converts = std::cell::Cell::new(0);
        let convert = || {
            converts.set(converts.get() + 1);
            Some(Value::from("v"))
        };
        for _ in 0..2 {
            let ((), reads) = tracking(|| {
                assert_eq!(cached(Dep::Name(0, "dep"), convert), Some(Value::from("v")));
                assert_eq!(cached(Dep::Name(0, "dep"), convert), Some(Value::from("v")));
            });
            assert!(reads.is_empty(), "converting is not reading");
        }
        assert_eq!(converts.get(), 2);
        cached(Dep::Name(0, "dep"), convert);
        cached(Dep::Name(0, "dep"), convert);
        assert_eq!(converts.get(), 4, "nothing is kept outside a render");
    }

    /// A shared value is hashed once per rendering; a value at the same address but of another
    /// type (a struct and its first field) is another value.
    #[test]
    fn shared_values_are_hashed_once_each() {
        use super::{Identity, SharedDigests};
        use crate::plan::Hash;
        let shared = SharedDigests::default();
        let computed = std::cell::Cell::new(0);
        let digest = |ty: &'static str, seed: &[u8]| {
            shared.digest(
                Identity {
                    key: (0x1000, ty),
                    keep: None,
                },
                || {
                    computed.set(computed.get() + 1);
                    Hash::of(seed)
                },
            )
        };
        assert_eq!(digest("Outer", b"outer"), Hash::of(b"outer"));
        assert_eq!(digest("Outer", b"ignored"), Hash::of(b"outer"));
        assert_eq!(digest("Inner", b"inner"), Hash::of(b"inner"));
        assert_eq!(computed.get(), 2);
    }

    /// `policies` and `registrations` hash the same when their parts are reused from the last
    /// rendering as when every part is digested, and a part is reused only for an entity of
    /// the same fingerprint: an edited policy changes `policies`, an edited name both, and an
    /// edited doc neither.
    #[test]
    fn list_digests_reuse_the_parts_of_unchanged_entities() {
        use std::sync::Arc;

        use super::{DepHashes, ListParts};
        use crate::ir;
        use crate::render::base::{self, Base};
        use crate::render::testing;

        let lists = ["policies", "registrations"];
        let hash = |project: ir::Project, last: &ListParts| {
            let base = Base::new(&Arc::new(project));
            let hashes = DepHashes::new(&base, last);
            let reused = lists.map(|name| {
                let idx = base::NAMES.binary_search(&name).expect("a base name");
                hashes.get(Dep::Name(idx, base::NAMES[idx]))
            });
            assert_eq!(reused, lists.map(|name| base.digest(name)));
            (reused, hashes.list_parts())
        };
        let (before, parts) = hash(testing::blog(), &ListParts::default());
        assert_eq!(hash(testing::blog(), &parts).0, before);
        let edited = |edit: fn(&mut ir::Function)| {
            let mut project = testing::blog();
            edit(Arc::make_mut(&mut project.functions[0]));
            hash(project, &parts).0
        };
        let [policies, registrations] = edited(|it| it.policy.retry.attempts += 1);
        assert_ne!(policies, before[0]);
        assert_eq!(registrations, before[1]);
        let [policies, registrations] = edited(|it| it.names.module.push('2'));
        assert_ne!(policies, before[0]);
        assert_ne!(registrations, before[1]);
        let doc = edited(|it| it.doc = Some("Edited.".to_owned()));
        assert_eq!(doc, before);
    }

    #[test]
    fn loads_by_expression_are_seen() {
        use super::loads_dynamically;
        assert!(!loads_dynamically("{% from \"core/macros.j2\" import x %}"));
        assert!(!loads_dynamically(
            "{%- include 'a.j2' %}{% if x %}{% endif %}"
        ));
        assert!(loads_dynamically("{% include name %}"));
        assert!(loads_dynamically("{%- extends base ~ \".j2\" %}"));
        assert!(!loads_dynamically("{% for item in includes %}{% endfor %}"));
    }

    #[test]
    fn referenced_templates_are_found_in_any_quote() {
        let source =
            "{% from \"core/macros.j2\" import x %}\n{% include 'a/b.j2' %}\n\"not a template\"";
        let mut names = referenced(source);
        names.sort();
        assert_eq!(names, ["a/b.j2", "core/macros.j2"]);
    }
}
