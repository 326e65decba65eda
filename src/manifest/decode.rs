//! Hand-written decoding of a parsed `KdlDocument` into the spanned [`ast`](crate::manifest::ast).
//!
//! Owns every check that one node can make on its own: known node and property names, argument
//! counts, value kinds, names, types, durations, counts, choices, operator strings and prompt
//! placeholders. It must not resolve references between nodes (that is `ir::lower`), and it never
//! stops at the first problem: each is pushed and decoding carries on.
//!
//! The language beyond the DESIGN.md §1 example (decisions a user would expect):
//! - `doc "…"` is accepted on function, workflow, agent, pipeline, tool-server and tool.
//! - `timeout`, `heartbeat` and `retry` are accepted on function, workflow, agent and pipeline
//!   (a pipeline's own policy sits between `defaults` and its `step` overrides).
//! - `param` accepts `default=` like `field`.
//! - every `project` child is optional: package = snake_case of the project name, python
//!   `>=3.10,<3.14`, task-queue `restack`, restack-ai `==0.0.121`, engine `localhost:7233` /
//!   `localhost:6233`.
//! - `llm` in an agent only takes `"default"` (the project's router).
//! - `kong key-env=` defaults to `KONG_API_KEY`; `provider key-env=` defaults to
//!   `<NAME>_API_KEY`; `priority=` defaults to the declaration order.
//! - KDL type annotations (`(t)node`, `(t)"v"`) are not part of the language and are errors.

use std::cell::Cell;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};
use miette::SourceSpan;

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::manifest::ast::{
    Agent, Backend, CircuitBreaker, Defaults, Engine, Event, Fallback, Field, Function, Kong, Llm,
    Manifest, Map, Operators, Pipeline, Policy, Project, Prompt, Provider, Retry, Spanned,
    StepOverride, Style, Tool, ToolServer, Transport, Type, Value, When, Workflow,
};
use crate::manifest::shift::{Shift, shift_by};
use crate::manifest::{duration, names, quick, types};
use crate::operators;
use crate::render::parallel;

const TOP_NODES: &[&str] = &[
    "project",
    "defaults",
    "function",
    "workflow",
    "agent",
    "pipeline",
    "tool-server",
    "llm",
    "prompt",
];

/// Parses and decodes a manifest. Returns what could be decoded, and every problem found.
pub fn decode(src: &str) -> (Manifest, Diagnostics) {
    let (manifest, diags, _) = decode_with(src, None, true);
    (manifest, diags)
}

/// [`decode`], re-using the decode of every top-level slice whose text `cache` has seen before.
/// The result is the same as [`decode`]'s.
pub fn decode_cached(src: &str, cache: &mut ParseCache) -> (Manifest, Diagnostics) {
    let (manifest, diags, _) = decode_with(src, Some(cache), true);
    (manifest, diags)
}

/// [`decode_cached`], also saying which decode each entity comes from (see [`NodeIds`]), or
/// `None` when the text was parsed whole.
pub(crate) fn decode_tracked(
    src: &str,
    cache: &mut ParseCache,
) -> (Manifest, Diagnostics, Option<NodeIds>) {
    decode_with(src, Some(cache), true)
}

/// Which decode each entity of a manifest comes from, by kind, parallel to the manifest's lists:
/// two entities with the same id were decoded from the same text, so they are equal but for
/// where they sit (every span moved by the same offset). Ids come from one [`ParseCache`], which
/// gives a new id to every node it decodes and keeps the id while it reuses the node, so
/// `ir::lower` can keep what it made of an entity for as long as the entity's id lives.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct NodeIds {
    pub(crate) functions: Vec<u64>,
    pub(crate) workflows: Vec<u64>,
    pub(crate) agents: Vec<u64>,
    pub(crate) pipelines: Vec<u64>,
    pub(crate) tool_servers: Vec<u64>,
}

fn decode_with(
    src: &str,
    cache: Option<&mut ParseCache>,
    may_split: bool,
) -> (Manifest, Diagnostics, Option<NodeIds>) {
    let mut diags = Diagnostics::new();
    // With a cache, the text is split from the last text's split, and the depth of its blocks
    // counted only where it changed.
    let (deep, resplit) = match cache.as_deref() {
        Some(cache) if may_split => match self::resplit(&cache.text, &cache.ranges, src) {
            Some(split) => {
                let old_depths: &[usize] = if cache.depths.len() == cache.ranges.len() {
                    &cache.depths
                } else {
                    &[]
                };
                match too_deep_split(src, &split, cache.carriage_return, old_depths) {
                    Ok(depths) => (None, Some((split, depths))),
                    Err(at) => (Some(at), None),
                }
            }
            None => (too_deep(src), None),
        },
        _ => (too_deep(src), None),
    };
    debug_assert_eq!(
        deep,
        too_deep(src),
        "the depth counted where the text changed"
    );
    if let Some(at) = deep {
        diags.push(
            Diagnostic::error(
                Code::KdlSyntax,
                at..at + 1,
                format!("blocks are nested deeper than {MAX_DEPTH} levels"),
            )
            .label("too deep")
            .help(
                "a manifest needs only a few levels of `{ … }`; check for unclosed or stray braces",
            ),
        );
        return (Manifest::default(), diags, None);
    }
    if may_split && let Some((manifest, ids)) = decode_split(src, cache, resplit, &mut diags) {
        return (manifest, diags, ids);
    }
    let mut diags = Diagnostics::new();
    let mut manifest = match quick::parse(src) {
        Ok(doc) => {
            let mut top = TopLevel::default();
            for node in doc.nodes() {
                top.add(Decoder::new(src, 0).top_node(node), &mut diags);
            }
            top.finish(&mut diags)
        }
        Err(err) => {
            let mut decoder = Decoder::new(src, 0);
            for it in &err.diagnostics {
                decoder.kdl_diagnostic(it);
            }
            diags.extend(decoder.diags);
            Manifest::default()
        }
    };
    manifest.complete = !diags.has_errors();
    (manifest, diags, None)
}

/// The decoded top-level nodes of the last manifest, kept by a long-running caller (`watch`) so
/// that a save parses and decodes only the top-level slices (see [`split`]) whose text changed.
///
/// It holds the text of the last decode that split, its slices in order and each slice's nodes
/// with spans in that text. A new text is compared with it byte by byte from both ends: the
/// slices before the first difference are the same slices at the same offsets, and the slices
/// after the last one are the same slices moved by the change in length (see [`resplit`]), so
/// only the slices in between are scanned, and each of those is decoded unless it is the text
/// of one of the old slices in between (a moved node); the depth of blocks is counted over those
/// slices only (see [`too_deep_split`]). Reused nodes are moved in place ([`Shift`]
/// on the shared entities, which copies one only while an earlier manifest still holds it). The
/// checks between top-level nodes (a second `project`, `defaults` and `llm` once, the first
/// node, the empty manifest) run again over every node on each decode. The cache keeps only the
/// slices of the last decode that split, so it does not grow without bound.
#[derive(Debug, Default)]
pub struct ParseCache {
    /// The text of the last decode that split.
    text: String,
    /// Its slices, in order.
    ranges: Vec<Range<usize>>,
    /// The raw count of `{` at the start of each slice (see [`too_deep_split`]).
    depths: Vec<usize>,
    /// Whether `text` has a carriage return.
    carriage_return: bool,
    /// Each slice's nodes with spans in `text`, or `None` for a slice that is decoded against the
    /// whole text every time ([`Slice::Absolute`]).
    nodes: Vec<Option<Vec<TopNode>>>,
    /// The id of the next node decoded (see [`NodeIds`]).
    next_id: u64,
}

/// How many slices are parsed at once (on all cores) before they are decoded and dropped.
const PARSE_BATCH: usize = 128;

/// Fewer slices to parse than this are parsed on the calling thread (a second thread costs more).
const PARALLEL_MISSES: usize = 16;

/// Decodes the manifest one slice of top-level nodes at a time (see [`split`]), each parsed on
/// its own and dropped once decoded, so memory follows the largest node rather than the file.
/// `None` when the text cannot be split or a slice does not parse: the caller then parses the
/// whole document, so KDL's own error messages and recovery stay exactly those of one parse.
fn decode_split(
    src: &str,
    cache: Option<&mut ParseCache>,
    resplit: Option<(Resplit, (Vec<usize>, bool))>,
    diags: &mut Diagnostics,
) -> Option<(Manifest, Option<NodeIds>)> {
    let mut top = TopLevel::default();
    let ids = match cache {
        None => {
            let slices = split(src)?;
            // Slices are parsed and decoded on every core, a batch at a time (so memory stays
            // bounded by a batch), and added in file order.
            for batch in slices.chunks(PARSE_BATCH) {
                let decoded = parallel::map(batch, |range| decode_at(src, range));
                for nodes in decoded {
                    for node in nodes? {
                        top.add(node, diags);
                    }
                }
            }
            None
        }
        Some(cache) => {
            top.ids = Some(NodeIds::default());
            let (resplit, depths) = resplit?;
            decode_split_cached(src, cache, resplit, depths, &mut top, diags)?;
            top.ids.take()
        }
    };
    let mut manifest = top.finish(diags);
    manifest.complete = !diags.has_errors();
    Some((manifest, ids))
}

/// [`decode_split`] with `cache`: only the slices [`resplit`] finds changed are looked at; of
/// those, each that is not the text of an old changed slice is parsed and decoded (on every core
/// when there are many). Then every slice's nodes are added in file order. The cache then holds
/// exactly this text's slices, or, when the text does not split or a slice does not parse,
/// what it held before.
fn decode_split_cached(
    src: &str,
    cache: &mut ParseCache,
    split: Resplit,
    (depths, carriage_return): (Vec<usize>, bool),
    top: &mut TopLevel,
    diags: &mut Diagnostics,
) -> Option<()> {
    let Resplit {
        slices,
        prefix,
        suffix,
    } = split;
    let n_scanned = slices.len() - prefix - (cache.ranges.len() - suffix);
    let scanned = prefix..prefix + n_scanned;
    // The old slices between the two unchanged ends, by text, for a node that moved.
    let old_middle: HashMap<&str, usize> = (prefix..suffix)
        .rev()
        .filter(|&index| cache.nodes[index].is_some())
        .map(|index| (&cache.text[cache.ranges[index].clone()], index))
        .collect();
    let mut found = Vec::with_capacity(n_scanned);
    let mut misses = Vec::new();
    for range in &slices[scanned.clone()] {
        let old = old_middle.get(&src[range.clone()]).copied();
        if old.is_none() {
            misses.push(range.clone());
        }
        found.push(old);
    }
    let decode_miss = |range: &Range<usize>| decode_slice(src, range);
    let decoded: Vec<Option<Slice>> = if misses.len() < PARALLEL_MISSES {
        misses.iter().map(decode_miss).collect()
    } else {
        parallel::map(&misses, decode_miss)
    };
    // A slice that does not parse leaves the cache as it was.
    let mut decoded: Vec<Slice> = decoded.into_iter().collect::<Option<_>>()?;

    let old_len = cache.text.len();
    let mut old_nodes = std::mem::take(&mut cache.nodes);
    let mut nodes: Vec<Option<Vec<TopNode>>> = Vec::with_capacity(slices.len());
    nodes.extend(old_nodes.drain(..prefix));
    // Where each old middle slice went first, for a second copy of it.
    let mut moved: HashMap<usize, usize> = HashMap::new();
    let mut decoded = decoded.drain(..);
    for (index, old) in scanned.clone().zip(found) {
        let start = slices[index].start;
        let it = match old {
            Some(old) => {
                let (mut it, from) = if let Some(&first) = moved.get(&old) {
                    (nodes[first].clone(), slices[first].start)
                } else {
                    moved.insert(old, index);
                    (old_nodes[old - prefix].take(), cache.ranges[old].start)
                };
                it.shift(shift_by(from, start));
                it
            }
            None => match decoded.next() {
                Some(Slice::Relative(mut it)) => {
                    for node in &mut it {
                        node.shift(start);
                        node.id = cache.next_id;
                        cache.next_id += 1;
                    }
                    Some(it)
                }
                _ => None,
            },
        };
        nodes.push(it);
    }
    let by = shift_by(old_len, src.len());
    nodes.extend(old_nodes.drain(suffix - prefix..).map(|mut it| {
        if by != 0 {
            it.shift(by);
        }
        it
    }));
    cache.nodes = nodes;
    cache.ranges = slices;
    cache.depths = depths;
    cache.carriage_return = carriage_return;
    cache.text.clear();
    cache.text.push_str(src);

    for (range, nodes) in cache.ranges.iter().zip(&cache.nodes) {
        if let Some(nodes) = nodes {
            for node in nodes {
                top.add(node.clone(), diags);
            }
        } else {
            for mut node in decode_at(src, range)? {
                node.id = cache.next_id;
                cache.next_id += 1;
                top.add(node, diags);
            }
        }
    }
    Some(())
}

/// How a slice decoded on its own.
enum Slice {
    /// Its nodes, with spans relative to the slice.
    Relative(Vec<TopNode>),
    /// kdl reported a span past the end of the slice, which [`Decoder::span`] clamps to the text
    /// it decodes against, so the slice must be decoded against the whole text ([`decode_at`]).
    Absolute,
}

/// Parses and decodes the slice `range` of `src` on its own, or `None` when it does not parse.
fn decode_slice(src: &str, range: &Range<usize>) -> Option<Slice> {
    let text = &src[range.clone()];
    let doc = quick::parse(text).ok()?;
    let mut decoder = Decoder::new(text, 0);
    let nodes: Vec<TopNode> = doc.nodes().iter().map(|it| decoder.top_node(it)).collect();
    if decoder.outside.get() {
        return Some(Slice::Absolute);
    }
    Some(Slice::Relative(nodes))
}

/// Parses the slice `range` of `src` and decodes it against the whole text, with file offsets,
/// or `None` when it does not parse.
fn decode_at(src: &str, range: &Range<usize>) -> Option<Vec<TopNode>> {
    let doc = quick::parse(&src[range.clone()]).ok()?;
    let mut decoder = Decoder::new(src, range.start);
    Some(doc.nodes().iter().map(|it| decoder.top_node(it)).collect())
}

/// [`split`] of a text, found from the split of an earlier text.
#[derive(Debug, PartialEq)]
struct Resplit {
    /// Exactly `split(src)`.
    slices: Vec<Range<usize>>,
    /// How many slices at the start are the old text's first slices, at the same offsets.
    prefix: usize,
    /// The index of the first old slice that ends the new text (moved by the change in length):
    /// the last `old.len() - suffix` slices are those. `prefix <= suffix <= old.len()`.
    suffix: usize,
}

/// [`split`] of `src`, given that the text `old` split into `old_slices`, scanning only what
/// lies between the parts the two texts share at their start and at their end.
///
/// The scan of [`split`] is in the same state at every cut (outside every block, string and
/// comment, on a new line), and what it does before a cut depends only on the bytes before it
/// (the byte before a cut is a newline, which ends every look-ahead). So every old cut inside the
/// shared start is a cut of `src`, and the scan can start again at the last of them. Once it
/// cuts inside the shared end where an old cut was, the rest of `src` is the rest of `old`, and
/// so are the cuts. What the scan refuses (a newline it does not know, a byte-order mark) is
/// looked for only in the bytes it scanned: the old text had none.
fn resplit(old: &str, old_slices: &[Range<usize>], src: &str) -> Option<Resplit> {
    if old_slices.is_empty() {
        let slices = split(src)?;
        return Some(Resplit {
            slices,
            prefix: 0,
            suffix: 0,
        });
    }
    let head = shared_prefix(old.as_bytes(), src.as_bytes());
    let tail = shared_suffix(&old.as_bytes()[head..], &src.as_bytes()[head..]);
    // The last old slice starting inside the shared start: the scan starts again there.
    let prefix = old_slices.partition_point(|it| it.start <= head) - 1;
    let mut suffix = old_slices.len();
    let (scanned, _) = split_from(src, old_slices[prefix].start, |cut| {
        let from_end = src.len() - cut;
        if from_end > tail {
            return false;
        }
        match old_slices.binary_search_by_key(&(old.len() - from_end), |it| it.start) {
            Ok(index) => {
                suffix = index;
                true
            }
            Err(_) => false,
        }
    })?;
    let by = shift_by(old.len(), src.len());
    let mut slices = Vec::with_capacity(prefix + scanned.len() + old_slices.len() - suffix);
    slices.extend_from_slice(&old_slices[..prefix]);
    slices.extend(scanned);
    slices.extend(old_slices[suffix..].iter().map(|it| {
        let mut it = it.clone();
        it.shift(by);
        it
    }));
    Some(Resplit {
        slices,
        prefix,
        suffix,
    })
}

/// How many bytes `a` and `b` share at their start.
fn shared_prefix(a: &[u8], b: &[u8]) -> usize {
    // A whole manifest is hundreds of chunks, each compared in one call.
    const CHUNK: usize = 1024;
    let shared = a.len().min(b.len());
    let mut at = 0;
    // Whole chunks first: comparing slices is one `memcmp`.
    while at + CHUNK <= shared && a[at..at + CHUNK] == b[at..at + CHUNK] {
        at += CHUNK;
    }
    at + a[at..shared]
        .iter()
        .zip(&b[at..shared])
        .position(|(x, y)| x != y)
        .unwrap_or(shared - at)
}

/// How many bytes `a` and `b` share at their end.
fn shared_suffix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 1024;
    let shared = a.len().min(b.len());
    let (a, b) = (&a[a.len() - shared..], &b[b.len() - shared..]);
    let mut at = shared;
    while at >= CHUNK && a[at - CHUNK..at] == b[at - CHUNK..at] {
        at -= CHUNK;
    }
    shared - at
        + a[..at]
            .iter()
            .rev()
            .zip(b[..at].iter().rev())
            .position(|(x, y)| x != y)
            .unwrap_or(at)
}

/// Cuts the manifest into slices at newlines that end a top-level node: outside every block,
/// string and comment, not after a line continuation `\` or a slashdash `/-`. A document of
/// slices cut there is the concatenation of the slices' documents, so each slice parses to the
/// same nodes, at the same offsets within the slice, as in the whole document. `None` (parse the
/// whole text) when the scan is unsure: an unclosed string or comment, a stray `}`, a byte-order
/// mark or a newline other than LF and CR.
fn split(src: &str) -> Option<Vec<Range<usize>>> {
    split_from(src, 0, |_| false).map(|(slices, _)| slices)
}

/// The characters [`split`] refuses anywhere in the text.
const UNSPLITTABLE: [char; 6] = [
    '\u{85}', '\u{b}', '\u{c}', '\u{2028}', '\u{2029}', '\u{feff}',
];

/// [`split`] of `src` from `start`, where a slice starts, up to the first cut for which `stop`
/// is true (that slice included), or to the end; with the cut it stopped at.
fn split_from(
    src: &str,
    start: usize,
    mut stop: impl FnMut(usize) -> bool,
) -> Option<(Vec<Range<usize>>, Option<usize>)> {
    let bytes = src.as_bytes();
    let mut slices = Vec::new();
    let (mut start, mut at, mut depth) = (start, start, 0usize);
    let from = start;
    let (mut node, mut escline, mut slashdash) = (false, false, false);
    while at < bytes.len() {
        let rest = &bytes[at..];
        match bytes[at] {
            b'\n' => {
                at += 1;
                if depth == 0 && node && !escline && !slashdash {
                    slices.push(start..at);
                    start = at;
                    node = false;
                    if stop(at) {
                        if src[from..at].contains(UNSPLITTABLE) {
                            return None;
                        }
                        return Some((slices, Some(at)));
                    }
                }
                escline = false;
            }
            b' ' | b'\t' | b'\r' => at += 1,
            b'\\' => {
                escline = true;
                at += 1;
            }
            b'/' if rest.starts_with(b"//") => {
                at += rest
                    .iter()
                    .position(|&it| it == b'\n')
                    .unwrap_or(rest.len());
            }
            b'/' if rest.starts_with(b"/*") => {
                let mut nesting = 0usize;
                loop {
                    if bytes[at..].starts_with(b"/*") {
                        nesting += 1;
                        at += 2;
                    } else if bytes[at..].starts_with(b"*/") {
                        nesting -= 1;
                        at += 2;
                        if nesting == 0 {
                            break;
                        }
                    } else if at >= bytes.len() {
                        return None;
                    } else {
                        at += 1;
                    }
                }
            }
            b'/' if rest.starts_with(b"/-") => {
                slashdash = true;
                node = true;
                at += 2;
            }
            other => {
                node = true;
                slashdash = false;
                at = match other {
                    b'"' if rest.starts_with(b"\"\"\"") => closed(bytes, at + 3, b"\"\"\"")?,
                    b'"' => closed(bytes, at + 1, b"\"")?,
                    b'#' if rest.iter().find(|&&it| it != b'#') == Some(&b'"') => {
                        let hashes = rest.iter().take_while(|&&it| it == b'#').count();
                        let body = &rest[hashes..];
                        let quotes: &[u8] = if body.starts_with(b"\"\"\"") {
                            b"\"\"\""
                        } else {
                            b"\""
                        };
                        let mut close = quotes.to_vec();
                        close.extend(std::iter::repeat_n(b'#', hashes));
                        let from = hashes + quotes.len();
                        let found = rest[from..]
                            .windows(close.len())
                            .position(|it| it == close.as_slice())?;
                        at + from + found + close.len()
                    }
                    b'{' => {
                        depth += 1;
                        at + 1
                    }
                    b'}' => {
                        depth = depth.checked_sub(1)?;
                        at + 1
                    }
                    _ => at + 1,
                };
            }
        }
    }
    if escline || slashdash || src[from..].contains(UNSPLITTABLE) {
        return None;
    }
    slices.push(start..bytes.len());
    Some((slices, None))
}

/// The offset just past the `close` that ends an escaped string whose body starts at `at`, or
/// `None` when the string is not closed.
fn closed(bytes: &[u8], mut at: usize, close: &[u8]) -> Option<usize> {
    while at < bytes.len() {
        if bytes[at] == b'\\' {
            at += 2;
        } else if bytes[at..].starts_with(close) {
            return Some(at + close.len());
        } else {
            at += 1;
        }
    }
    None
}

/// One top-level node decoded on its own: what it adds to the manifest and the diagnostics its
/// decode pushed. Whether it is added (a second `project`, `defaults` or `llm` is not) is decided
/// by [`TopLevel::add`], over all nodes in order.
#[derive(Debug, Clone)]
struct TopNode {
    /// Which decode this is (see [`NodeIds`]); 0 when no [`ParseCache`] was used.
    id: u64,
    /// The span of the node's name.
    name: Range<usize>,
    /// A type annotation on the node (`(t)node`), reported whatever else happens.
    annotation: Option<Box<Diagnostic>>,
    body: TopBody,
    /// What decoding the node's content pushed, in order.
    diags: Vec<Diagnostic>,
}

/// What one top-level node decodes to, by kind. The blocks of which there is one are boxed, so
/// that a node is small: every node is moved and copied on each decode with a cache.
#[derive(Debug, Clone)]
enum TopBody {
    Project(Option<Box<Project>>),
    Defaults(Box<Defaults>),
    Function(Option<Arc<Function>>),
    Workflow(Option<Arc<Workflow>>),
    Agent(Option<Arc<Agent>>),
    Pipeline(Option<Arc<Pipeline>>),
    ToolServer(Option<Arc<ToolServer>>),
    Llm(Box<Llm>),
    Prompt(Option<Box<Prompt>>),
    /// Not a top-level node: `diags` says so.
    Unknown,
}

impl Shift for TopNode {
    fn shift(&mut self, by: usize) {
        let TopNode {
            id: _,
            name,
            annotation,
            body,
            diags,
        } = self;
        name.shift(by);
        annotation.shift(by);
        diags.shift(by);
        match body {
            TopBody::Project(it) => it.shift(by),
            TopBody::Defaults(it) => it.shift(by),
            TopBody::Function(it) => it.shift(by),
            TopBody::Workflow(it) => it.shift(by),
            TopBody::Agent(it) => it.shift(by),
            TopBody::Pipeline(it) => it.shift(by),
            TopBody::ToolServer(it) => it.shift(by),
            TopBody::Llm(it) => it.shift(by),
            TopBody::Prompt(it) => it.shift(by),
            TopBody::Unknown => {}
        }
    }
}

/// What adding the top-level nodes in order has gathered so far.
#[derive(Default)]
struct TopLevel {
    manifest: Manifest,
    seen: Seen,
    /// The span of the first node's name, once there is a node.
    first: Option<Range<usize>>,
    /// The id of each entity added, when they are tracked.
    ids: Option<NodeIds>,
}

impl TopLevel {
    /// Adds the next top-level node (spans already file offsets) with the checks between nodes.
    fn add(&mut self, node: TopNode, diags: &mut Diagnostics) {
        let TopNode {
            id,
            name,
            annotation,
            body,
            diags: own,
        } = node;
        if self.first.is_none() {
            self.first = Some(name.clone());
        }
        if let Some(it) = annotation {
            diags.push(*it);
        }
        let manifest = &mut self.manifest;
        let keep = match body {
            TopBody::Project(project) => {
                if let Some(first) = &manifest.project {
                    diags.push(
                        Diagnostic::error(
                            Code::DuplicateProject,
                            name,
                            "more than one `project` node",
                        )
                        .label("second project")
                        .related(first.span.clone(), "first declared here")
                        .help("a manifest describes one project; use one directory per project"),
                    );
                    false
                } else {
                    manifest.project = project.map(|it| *it);
                    true
                }
            }
            TopBody::Defaults(defaults) => {
                let new = once(&mut self.seen, "defaults", name, diags);
                if new {
                    manifest.defaults = Some(*defaults);
                }
                new
            }
            TopBody::Llm(llm) => {
                let new = once(&mut self.seen, "llm", name, diags);
                if new {
                    manifest.llm = Some(*llm);
                }
                new
            }
            TopBody::Function(it) => {
                let ids = self.ids.as_mut().map(|ids| &mut ids.functions);
                entity(&mut manifest.functions, ids, id, it)
            }
            TopBody::Workflow(it) => {
                let ids = self.ids.as_mut().map(|ids| &mut ids.workflows);
                entity(&mut manifest.workflows, ids, id, it)
            }
            TopBody::Agent(it) => {
                let ids = self.ids.as_mut().map(|ids| &mut ids.agents);
                entity(&mut manifest.agents, ids, id, it)
            }
            TopBody::Pipeline(it) => {
                let ids = self.ids.as_mut().map(|ids| &mut ids.pipelines);
                entity(&mut manifest.pipelines, ids, id, it)
            }
            TopBody::ToolServer(it) => {
                let ids = self.ids.as_mut().map(|ids| &mut ids.tool_servers);
                entity(&mut manifest.tool_servers, ids, id, it)
            }
            TopBody::Prompt(it) => {
                manifest.prompts.extend(it.map(|it| *it));
                true
            }
            TopBody::Unknown => true,
        };
        if keep {
            for it in own {
                diags.push(it);
            }
        }
    }

    /// The manifest once every top-level node is added, with the checks over all of them.
    fn finish(self, diags: &mut Diagnostics) -> Manifest {
        let Some(first) = self.first else {
            diags.push(
                Diagnostic::error(Code::EmptyManifest, 0..0, "the manifest declares nothing")
                    .label("no nodes")
                    .help("start with `project \"name\" { }`; `restack init` writes a starter manifest"),
            );
            return Manifest::default();
        };
        if self.manifest.project.is_none() {
            diags.push(
                Diagnostic::error(
                    Code::MissingProject,
                    first,
                    "the manifest has no `project` node",
                )
                .label("expected a `project` node")
                .help("add `project \"name\" { }` at the top of the manifest"),
            );
        }
        self.manifest
    }
}

/// Adds a decoded entity (if it decoded) to `list`, and its node's `id` to `ids` when they are
/// tracked. Returns true: an entity's own diagnostics are always kept.
fn entity<T>(list: &mut Vec<T>, ids: Option<&mut Vec<u64>>, id: u64, it: Option<T>) -> bool {
    if let Some(it) = it {
        if let Some(ids) = ids {
            ids.push(id);
        }
        list.push(it);
    }
    true
}

/// Records a once-only node called `name` whose name has `span`; reports it and returns false
/// when it was seen before.
fn once(seen: &mut Seen, name: &str, span: Range<usize>, diags: &mut Diagnostics) -> bool {
    if let Some(first) = seen.get(name) {
        diags.push(
            Diagnostic::error(Code::DuplicateNode, span, format!("`{name}` given twice"))
                .label("again here")
                .related(first.clone(), "first given here")
                .help(format!("`{name}` may appear once in its block")),
        );
        return false;
    }
    seen.insert(name.to_owned(), span);
    true
}

/// The deepest `{ … }` nesting accepted. The KDL parser recurses per level, so a hostile file
/// could otherwise overflow the stack; real manifests use four levels at most.
pub(super) const MAX_DEPTH: usize = 64;

/// The offset of the first `{` that opens a block deeper than [`MAX_DEPTH`], if any.
///
/// Two counts, and either one over the limit refuses the file: one that skips strings (plain,
/// multi-line and raw `#"…"#`) and comments (line, and nested block comments) as KDL 2.0 does,
/// so braces in prompt text do not count; and one over every byte, which cannot be fooled by a
/// literal this scan reads differently from the KDL parser (its error recovery, say), since
/// hiding a deep block from it takes a `}` between every two `{`.
fn too_deep(src: &str) -> Option<usize> {
    too_deep_raw(src.as_bytes(), 0)
        .err()
        .or_else(|| too_deep_kdl(src))
}

/// The count of [`too_deep`] that skips strings and comments, over `src` from depth 0.
fn too_deep_kdl(src: &str) -> Option<usize> {
    let bytes = src.as_bytes();
    let mut depth = 0usize;
    let mut at = 0;
    while at < bytes.len() {
        let rest = &src[at..];
        if rest.starts_with("\"\"\"") {
            at = skip_quoted(bytes, at + 3, "\"\"\"");
        } else if rest.starts_with('"') {
            at = skip_quoted(bytes, at + 1, "\"");
        } else if rest.starts_with('#') && rest.trim_start_matches('#').starts_with('"') {
            let hashes = rest.len() - rest.trim_start_matches('#').len();
            let after = &rest[hashes..];
            let quotes = if after.starts_with("\"\"\"") {
                "\"\"\""
            } else {
                "\""
            };
            let close = format!("{quotes}{}", "#".repeat(hashes));
            at = rest[hashes + quotes.len()..]
                .find(&close)
                .map_or(bytes.len(), |it| {
                    at + hashes + quotes.len() + it + close.len()
                });
        } else if rest.starts_with("//") {
            at = rest
                .find([
                    '\n', '\r', '\u{85}', '\u{b}', '\u{c}', '\u{2028}', '\u{2029}',
                ])
                .map_or(bytes.len(), |it| at + it);
        } else if rest.starts_with("/*") {
            let mut nesting = 0usize;
            while at < bytes.len() {
                if bytes[at..].starts_with(b"/*") {
                    nesting += 1;
                    at += 2;
                } else if bytes[at..].starts_with(b"*/") {
                    nesting -= 1;
                    at += 2;
                    if nesting == 0 {
                        break;
                    }
                } else {
                    at += 1;
                }
            }
        } else {
            match bytes[at] {
                b'{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some(at);
                    }
                }
                b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            // Every other byte only moves on: go to the next that may start something.
            at += 1;
            at += bytes[at..]
                .iter()
                .position(|it| matches!(it, b'"' | b'#' | b'/' | b'{' | b'}'))
                .unwrap_or(bytes.len() - at);
        }
        while at < bytes.len() && !src.is_char_boundary(at) {
            at += 1;
        }
    }
    None
}

/// The count of [`too_deep`] over every byte, from `depth`: the count at the end, or the offset
/// of the first `{` that makes more than [`MAX_DEPTH`] unclosed `{` (a `}` with none open counts
/// for nothing).
///
/// It goes a chunk at a time. A chunk whose `{` cannot take the count over the limit and whose
/// `}` cannot take it below zero (where it stops counting) changes the count by its `{` less its
/// `}`, which is counted without a branch per byte; any other chunk is counted byte by byte.
fn too_deep_raw(bytes: &[u8], mut depth: usize) -> Result<usize, usize> {
    const CHUNK: usize = 64;
    for (chunk_idx, chunk) in bytes.chunks(CHUNK).enumerate() {
        // At most 64 of each, so a byte holds the count (and the loop is vectorized).
        let (opens, closes) = chunk.iter().fold((0u8, 0u8), |(opens, closes), &it| {
            (opens + u8::from(it == b'{'), closes + u8::from(it == b'}'))
        });
        let (opens, closes) = (usize::from(opens), usize::from(closes));
        if depth + opens <= MAX_DEPTH && closes <= depth {
            depth = depth + opens - closes;
            continue;
        }
        for (offset, byte) in chunk.iter().enumerate() {
            match byte {
                b'{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(chunk_idx * CHUNK + offset);
                    }
                }
                b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(depth)
}

/// [`too_deep`] of `src`, which splits into `split.slices`, with the raw count (see
/// [`too_deep_raw`]) at the start of each slice and whether `src` has a carriage return, for the
/// cache; given the counts `old_depths` at the start of each slice of the last text `old` (which
/// was not too deep), when known, and whether `old` has a carriage return.
///
/// The scan of [`split`] and the count of [`too_deep`] that skips strings and comments read
/// strings and comments alike, but for a line comment, which the first ends at a line feed and
/// the second at a carriage return too. So in a text without a carriage return, that count is
/// 0, outside every string and comment, at every cut, and is the same over the slices the two
/// texts share as it was in `old`: only the slices in between are counted. The raw count starts
/// again from its count at the first of those, and once past them, it counts as in `old` when
/// it has the count `old` had there (otherwise it goes on to the end). Any other case is counted
/// over the whole text.
fn too_deep_split(
    src: &str,
    split: &Resplit,
    old_carriage_return: bool,
    old_depths: &[usize],
) -> Result<(Vec<usize>, bool), usize> {
    let Resplit {
        slices,
        prefix,
        suffix,
    } = split;
    let (prefix, suffix) = (*prefix, *suffix);
    let n_old = old_depths.len();
    // The slices scanned, between those `old` shares at both ends.
    let scanned = (n_old > 0 && suffix <= n_old && !old_carriage_return).then(|| {
        let n_scanned = slices.len() + suffix - prefix - n_old;
        let bytes = slices[prefix..prefix + n_scanned]
            .first()
            .zip(slices[prefix..prefix + n_scanned].last())
            .map_or(0..0, |(first, last)| first.start..last.end);
        (n_scanned, bytes)
    });
    let raw = |range: &Range<usize>, depth| {
        too_deep_raw(&src.as_bytes()[range.clone()], depth).map_err(|at| range.start + at)
    };
    let Some((n_scanned, scanned)) =
        scanned.filter(|(_, bytes)| !src.as_bytes()[bytes.clone()].contains(&b'\r'))
    else {
        let mut depths = Vec::with_capacity(slices.len());
        let mut depth = 0;
        for range in slices {
            depths.push(depth);
            depth = raw(range, depth)?;
        }
        return match too_deep_kdl(src) {
            Some(at) => Err(at),
            None => Ok((depths, src.as_bytes().contains(&b'\r'))),
        };
    };
    let mut depths = Vec::with_capacity(slices.len());
    depths.extend_from_slice(&old_depths[..prefix]);
    let mut depth = old_depths[prefix];
    for range in &slices[prefix..prefix + n_scanned] {
        depths.push(depth);
        depth = raw(range, depth)?;
    }
    if suffix < n_old && depth == old_depths[suffix] {
        depths.extend_from_slice(&old_depths[suffix..]);
    } else {
        for range in &slices[prefix + n_scanned..] {
            depths.push(depth);
            depth = raw(range, depth)?;
        }
    }
    if let Some(at) = too_deep_kdl(&src[scanned.clone()]) {
        return Err(scanned.start + at);
    }
    Ok((depths, false))
}

/// The offset just past the `close` that ends a quoted string whose body starts at `at`
/// (backslash escapes skipped), or the end of the text.
fn skip_quoted(bytes: &[u8], mut at: usize, close: &str) -> usize {
    while at < bytes.len() {
        if bytes[at] == b'\\' {
            at += 2;
        } else if bytes[at..].starts_with(close.as_bytes()) {
            return at + close.len();
        } else {
            // Only a backslash or a quote can change what happens next.
            at += 1;
            at += bytes[at..]
                .iter()
                .position(|&it| it == b'\\' || it == b'"')
                .unwrap_or(bytes.len() - at);
        }
    }
    bytes.len()
}

struct Decoder<'a> {
    src: &'a str,
    /// Where the text that kdl parsed starts in `src`: kdl's spans are relative to it.
    base: usize,
    diags: Diagnostics,
    /// Whether kdl reported a span reaching past the end of `src` (which [`Decoder::span`]
    /// clamps to `src`, so the result depends on where `src` ends).
    outside: Cell<bool>,
}

/// Once-only child nodes seen so far in one block, with the span of the first occurrence.
type Seen = HashMap<String, Range<usize>>;

impl Decoder<'_> {
    fn new(src: &str, base: usize) -> Decoder<'_> {
        Decoder {
            src,
            base,
            diags: Diagnostics::new(),
            outside: Cell::new(false),
        }
    }

    fn push(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    /// A span of the source, widened to char boundaries (kdl can report one inside a char).
    fn span(&self, span: SourceSpan) -> Range<usize> {
        let offset = self.base + span.offset();
        if offset + span.len() > self.src.len() {
            self.outside.set(true);
        }
        let start = floor_char_boundary(self.src, offset);
        let mut end = (offset + span.len()).clamp(start, self.src.len());
        while !self.src.is_char_boundary(end) {
            end += 1;
        }
        start..end
    }

    // ---- KDL syntax ----

    fn kdl_diagnostic(&mut self, it: &kdl::KdlDiagnostic) {
        let mut span = self.span(it.span);
        // kdl 6.7.1 reports some bad property values with a span starting at offset 0 (fixed
        // upstream, unreleased): anchor such spans on the whitespace-delimited token at their end.
        let end = floor_char_boundary(self.src, span.end);
        if span.start == 0 && self.src[..end].contains(char::is_whitespace) {
            let start = self.src[..end]
                .char_indices()
                .rfind(|(_, c)| c.is_whitespace())
                .map_or(0, |(at, c)| at + c.len_utf8());
            let stop = self.src[end..]
                .find(char::is_whitespace)
                .map_or(self.src.len(), |it| end + it);
            span = start..stop;
        }
        let message = it
            .message
            .clone()
            .unwrap_or_else(|| "unexpected input".to_owned());
        let mut diagnostic =
            Diagnostic::error(Code::KdlSyntax, span.clone(), lowercase_first(&message))
                .label(it.label.clone().unwrap_or_else(|| "here".to_owned()));
        let under = self.src.get(span.clone()).unwrap_or("");
        let word = under.rsplit(['=', ' ']).next().unwrap_or(under).trim();
        if matches!(word, "true" | "false" | "null") {
            diagnostic = diagnostic.help(format!("KDL 2 spells it `#{word}`"));
        } else if let Some(help) = &it.help {
            diagnostic = diagnostic.help(help.clone());
        }
        self.push(diagnostic);
    }

    // ---- the document ----

    /// Decodes one top-level node on its own, taking the diagnostics it pushed (see
    /// [`TopLevel::add`] for the checks between nodes).
    fn top_node(&mut self, node: &KdlNode) -> TopNode {
        debug_assert!(
            self.diags.is_empty(),
            "each top-level node takes its own diagnostics"
        );
        let name = self.span(node.name().span());
        self.no_type_annotation(node);
        // At most one: the annotation on the node itself.
        let annotation = std::mem::take(&mut self.diags)
            .into_iter()
            .next()
            .map(Box::new);
        let body = match node.name().value() {
            "project" => TopBody::Project(self.project(node).map(Box::new)),
            "defaults" => TopBody::Defaults(Box::new(self.defaults(node))),
            "function" => TopBody::Function(self.function(node).map(Arc::new)),
            "workflow" => TopBody::Workflow(self.workflow(node).map(Arc::new)),
            "agent" => TopBody::Agent(self.agent(node).map(Arc::new)),
            "pipeline" => TopBody::Pipeline(self.pipeline(node).map(Arc::new)),
            "tool-server" => TopBody::ToolServer(self.tool_server(node).map(Arc::new)),
            "llm" => TopBody::Llm(Box::new(self.llm(node))),
            "prompt" => TopBody::Prompt(self.prompt(node).map(Box::new)),
            _ => {
                self.unknown_node(node, TOP_NODES, "the manifest");
                TopBody::Unknown
            }
        };
        TopNode {
            id: 0,
            name,
            annotation,
            body,
            diags: std::mem::take(&mut self.diags).into_iter().collect(),
        }
    }

    // ---- shapes ----

    fn no_type_annotation(&mut self, node: &KdlNode) {
        if let Some(ty) = node.ty() {
            self.push(
                Diagnostic::error(
                    Code::UnexpectedArgument,
                    self.span(ty.span()),
                    format!(
                        "type annotation `({})` on `{}`",
                        ty.value(),
                        node.name().value()
                    ),
                )
                .label("not used by restack")
                .help("remove the annotation"),
            );
        }
    }

    /// Checks argument count, property names and whether a block is allowed.
    fn shape(&mut self, node: &KdlNode, max_args: usize, props: &[&str], block: bool) {
        let name = node.name().value().to_owned();
        let mut n_args = 0;
        let mut seen_props = Seen::new();
        for entry in node.entries() {
            if let Some(ty) = entry.ty() {
                self.push(
                    Diagnostic::error(
                        Code::UnexpectedArgument,
                        self.span(ty.span()),
                        format!("type annotation `({})` in `{name}`", ty.value()),
                    )
                    .label("not used by restack")
                    .help("remove the annotation"),
                );
            }
            match entry.name() {
                None => {
                    n_args += 1;
                    if n_args > max_args {
                        let help = match max_args {
                            0 => format!("`{name}` takes no arguments"),
                            1 => format!("`{name}` takes one argument"),
                            n => format!("`{name}` takes at most {n} arguments"),
                        };
                        self.push(
                            Diagnostic::error(
                                Code::UnexpectedArgument,
                                self.span(entry.span()),
                                format!("unexpected argument `{}` to `{name}`", Self::repr(entry)),
                            )
                            .label("not expected here")
                            .help(help),
                        );
                    }
                }
                Some(key) => {
                    let key_span = self.span(key.span());
                    if !props.contains(&key.value()) {
                        let help = names::suggestion(key.value(), props.iter().copied())
                            .unwrap_or_else(|| match props {
                                [] => format!("`{name}` takes no properties"),
                                _ => format!("`{name}` accepts: {}", props.join(", ")),
                            });
                        self.push(
                            Diagnostic::error(
                                Code::UnknownProperty,
                                key_span,
                                format!("unknown property `{}` on `{name}`", key.value()),
                            )
                            .label("not a known property")
                            .help(help),
                        );
                    } else if let Some(first) = seen_props.get(key.value()) {
                        self.push(
                            Diagnostic::error(
                                Code::DuplicateNode,
                                key_span,
                                format!("property `{}` given twice on `{name}`", key.value()),
                            )
                            .label("again here")
                            .related(first.clone(), "first given here"),
                        );
                    } else {
                        seen_props.insert(key.value().to_owned(), key_span);
                    }
                }
            }
        }
        if !block && let Some(children) = node.children() {
            self.push(
                Diagnostic::error(
                    Code::UnexpectedArgument,
                    self.span(children.span()),
                    format!("`{name}` takes no block"),
                )
                .label("unexpected block")
                .help("remove the `{ … }`"),
            );
        }
    }

    /// Records a once-only node; reports it and returns false when it was seen before.
    fn once(&mut self, seen: &mut Seen, node: &KdlNode) -> bool {
        let span = self.span(node.name().span());
        once(seen, node.name().value(), span, &mut self.diags)
    }

    fn unknown_node(&mut self, node: &KdlNode, known: &[&str], parent: &str) {
        let name = node.name().value();
        let help = names::suggestion(name, known.iter().copied())
            .unwrap_or_else(|| format!("{parent} accepts: {}", known.join(", ")));
        self.push(
            Diagnostic::error(
                Code::UnknownNode,
                self.span(node.name().span()),
                format!("unknown node `{name}` in {parent}"),
            )
            .label("not a known node")
            .help(help),
        );
    }

    /// Reports a block that needs children but has none.
    fn missing_children(&mut self, node: &KdlNode, what: &str) {
        let name = node.name().value();
        self.push(
            Diagnostic::error(
                Code::MissingChildren,
                self.span(node.span()),
                format!("`{name}` has no {what}"),
            )
            .label(format!("needs {what}"))
            .help(format!("add {what} inside `{name} {{ … }}`")),
        );
    }

    fn children(node: &KdlNode) -> &[KdlNode] {
        node.children().map_or(&[], KdlDocument::nodes)
    }

    // ---- values ----

    fn repr(entry: &KdlEntry) -> String {
        entry
            .format()
            .map_or_else(|| entry.value().to_string(), |it| it.value_repr.clone())
    }

    /// The span of an entry's value (without `key=` for properties).
    fn value_span(&self, entry: &KdlEntry) -> Range<usize> {
        let span = self.span(entry.span());
        match entry.format() {
            Some(format) if entry.name().is_some() => {
                span.end
                    .saturating_sub(format.value_repr.len())
                    .max(span.start)..span.end
            }
            _ => span,
        }
    }

    /// Shifts a byte range of an entry's decoded string to file offsets. Without an offset map
    /// the plain `"…"` form is shifted directly and anything else falls back to the whole value.
    fn inner_span(&self, entry: &KdlEntry, range: &Range<usize>) -> Range<usize> {
        let value = self.value_span(entry);
        let raw = self.src.get(value.clone()).unwrap_or("");
        if let Some(map) = operators::value_offsets(raw) {
            if let (Some(start), Some(end)) = (map.get(range.start), map.get(range.end)) {
                return value.start + start..value.start + end;
            }
            return value;
        }
        if raw.starts_with('"') && !raw.starts_with("\"\"\"") && !raw.contains('\\') {
            let start = value.start + 1 + range.start;
            let end = value.start + 1 + range.end;
            if end < value.end {
                return start..end;
            }
        }
        value
    }

    fn arg(node: &KdlNode, index: usize) -> Option<&KdlEntry> {
        node.entries()
            .iter()
            .filter(|it| it.name().is_none())
            .nth(index)
    }

    fn prop<'n>(node: &'n KdlNode, key: &str) -> Option<&'n KdlEntry> {
        node.entries()
            .iter()
            .find(|it| it.name().is_some_and(|name| name.value() == key))
    }

    fn missing_argument(&mut self, node: &KdlNode, what: &str, example: &str) {
        let name = node.name().value();
        self.push(
            Diagnostic::error(
                Code::MissingArgument,
                self.span(node.name().span()),
                format!("`{name}` is missing its {what}"),
            )
            .label(format!("expected {what}"))
            .help(format!("write it as: {example}")),
        );
    }

    fn wrong_type(&mut self, entry: &KdlEntry, expected: &str, help: Option<String>) {
        let found = match entry.value() {
            KdlValue::String(_) => "a string",
            KdlValue::Integer(_) => "an integer",
            KdlValue::Float(_) => "a number",
            KdlValue::Bool(_) => "a boolean",
            KdlValue::Null => "`#null`",
        };
        let mut diagnostic = Diagnostic::error(
            Code::WrongType,
            self.value_span(entry),
            format!("expected {expected}, found {found} `{}`", Self::repr(entry)),
        )
        .label(format!("expected {expected}"));
        if let Some(help) = help {
            diagnostic = diagnostic.help(help);
        }
        self.push(diagnostic);
    }

    fn string(&mut self, entry: &KdlEntry) -> Option<Spanned<String>> {
        if let KdlValue::String(it) = entry.value() {
            Some(Spanned::new(it.clone(), self.value_span(entry)))
        } else {
            let help = Some(format!("quote it: `\"{}\"`", entry.value()));
            self.wrong_type(entry, "a string", help);
            None
        }
    }

    /// The string argument at `index`, reporting it missing with an example.
    fn string_arg(
        &mut self,
        node: &KdlNode,
        index: usize,
        what: &str,
        example: &str,
    ) -> Option<Spanned<String>> {
        if let Some(entry) = Self::arg(node, index) {
            self.string(entry)
        } else {
            self.missing_argument(node, what, example);
            None
        }
    }

    /// A non-empty string.
    fn text(&mut self, entry: &KdlEntry, what: &str) -> Option<Spanned<String>> {
        let value = self.string(entry)?;
        if value.value.trim().is_empty() {
            self.push(
                Diagnostic::error(Code::InvalidValue, value.span, format!("empty {what}"))
                    .label("empty")
                    .help(format!("give a {what}")),
            );
            return None;
        }
        Some(value)
    }

    fn count(&mut self, entry: &KdlEntry) -> Option<Spanned<u32>> {
        let span = self.value_span(entry);
        match entry.value() {
            KdlValue::Integer(it) => match u32::try_from(*it) {
                Ok(n) if n > 0 => Some(Spanned::new(n, span)),
                _ => {
                    self.invalid_count(entry, span);
                    None
                }
            },
            KdlValue::Float(_) => {
                self.invalid_count(entry, span);
                None
            }
            _ => {
                self.wrong_type(
                    entry,
                    "a whole number",
                    Some("write it without quotes, e.g. `3`".to_owned()),
                );
                None
            }
        }
    }

    fn invalid_count(&mut self, entry: &KdlEntry, span: Range<usize>) {
        self.push(
            Diagnostic::error(
                Code::InvalidCount,
                span,
                format!("`{}` is not a positive whole number", Self::repr(entry)),
            )
            .label("expected a count of 1 or more")
            .help("counts are whole numbers greater than zero"),
        );
    }

    fn duration(&mut self, entry: &KdlEntry) -> Option<Spanned<u64>> {
        let span = self.value_span(entry);
        match entry.value() {
            KdlValue::String(text) => match duration::parse(text) {
                Ok(ms) => Some(Spanned::new(ms, span)),
                Err(reason) => {
                    self.push(
                        Diagnostic::error(
                            Code::InvalidDuration,
                            span,
                            format!("invalid duration `{text}`"),
                        )
                        .label(reason)
                        .help("write durations like `500ms`, `30s`, `5m`, `1h30m` or `2d`"),
                    );
                    None
                }
            },
            KdlValue::Integer(n) => {
                let help = Some(format!(
                    "durations are strings with a unit, e.g. `\"{n}s\"`"
                ));
                self.wrong_type(entry, "a duration string", help);
                None
            }
            _ => {
                let help = Some("durations are strings with a unit, e.g. `\"30s\"`".to_owned());
                self.wrong_type(entry, "a duration string", help);
                None
            }
        }
    }

    fn choice<T: Copy>(&mut self, entry: &KdlEntry, options: &[(&str, T)]) -> Option<Spanned<T>> {
        let value = self.string(entry)?;
        if let Some((_, it)) = options.iter().find(|(name, _)| *name == value.value) {
            return Some(Spanned::new(*it, value.span));
        }
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let listed = names
            .iter()
            .map(|it| format!("`{it}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let help = names::suggestion(&value.value, names.iter().copied())
            .unwrap_or_else(|| format!("choose one of {listed}"));
        self.push(
            Diagnostic::error(
                Code::InvalidChoice,
                value.span,
                format!("`{}` is not one of {listed}", value.value),
            )
            .label("not a valid choice")
            .help(help),
        );
        None
    }

    fn type_value(&mut self, entry: &KdlEntry) -> Option<Spanned<Type>> {
        let text = self.string(entry)?;
        match types::parse(&text.value) {
            Ok(ty) => Some(self.shift_type(entry, ty)),
            Err(err) => {
                let span = self.inner_span(entry, &err.span);
                let mut diagnostic = Diagnostic::error(Code::UnknownType, span, err.message)
                    .label("not a supported type");
                diagnostic = diagnostic.help(err.help.unwrap_or_else(|| {
                    "types are str, int, float, bool, bytes, Any, None, list[T], dict[str, T] and T | None"
                        .to_owned()
                }));
                self.push(diagnostic);
                None
            }
        }
    }

    fn shift_type(&self, entry: &KdlEntry, ty: Spanned<Type>) -> Spanned<Type> {
        let span = self.inner_span(entry, &ty.span);
        let value = match ty.value {
            Type::List(it) => Type::List(Box::new(self.shift_type(entry, *it))),
            Type::Dict(it) => Type::Dict(Box::new(self.shift_type(entry, *it))),
            Type::Optional(it) => Type::Optional(Box::new(self.shift_type(entry, *it))),
            other => other,
        };
        Spanned::new(value, span)
    }

    // ---- names ----

    /// An entity name (`function "SendEmail"`): PascalCase, not reserved, no path.
    fn entity_name(&mut self, node: &KdlNode) -> Option<Spanned<String>> {
        let kind = node.name().value().to_owned();
        let name = self.string_arg(
            node,
            0,
            &format!("{kind} name"),
            &format!("{kind} \"Name\" {{ … }}"),
        )?;
        self.check_entity_name(&name, &kind);
        Some(name)
    }

    fn check_entity_name(&mut self, name: &Spanned<String>, kind: &str) {
        let text = &name.value;
        if names::has_path(text) {
            self.push(
                Diagnostic::error(
                    Code::PathInName,
                    name.span.clone(),
                    format!("{kind} name `{text}` contains a path"),
                )
                .label("names cannot contain `/`, `\\` or `..`")
                .help("names become Python modules inside the package; use a plain name"),
            );
        } else if !names::is_pascal_case(text) {
            let fixed = names::pascal(text);
            let help = if names::is_pascal_case(&fixed) {
                format!("write it in PascalCase: `{fixed}`")
            } else {
                "start with an ASCII capital letter, then letters and digits".to_owned()
            };
            self.push(
                Diagnostic::error(
                    Code::InvalidEntityName,
                    name.span.clone(),
                    format!("{kind} name `{text}` is not PascalCase"),
                )
                .label("not a PascalCase identifier")
                .help(help),
            );
        } else if names::is_reserved_entity(text) {
            self.push(
                Diagnostic::error(
                    Code::ReservedName,
                    name.span.clone(),
                    format!("{kind} name `{text}` is reserved"),
                )
                .label(format!(
                    "`{text}` or its module `{}` is {}",
                    names::snake(text),
                    names::reserved_reason(text)
                ))
                .help("pick another name"),
            );
        }
    }

    /// A snake_case identifier argument (field, event, tool, param, var, prompt).
    fn ident_arg(&mut self, node: &KdlNode, what: &str, example: &str) -> Option<Spanned<String>> {
        let name = self.string_arg(node, 0, &format!("{what} name"), example)?;
        self.check_ident(&name, what, false);
        Some(name)
    }

    fn check_ident(&mut self, name: &Spanned<String>, what: &str, field: bool) {
        let text = &name.value;
        if names::has_path(text) {
            self.push(
                Diagnostic::error(
                    Code::PathInName,
                    name.span.clone(),
                    format!("{what} name `{text}` contains a path"),
                )
                .label("names cannot contain `/`, `\\` or `..`")
                .help("use a plain snake_case name"),
            );
        } else if !names::is_snake_case(text) {
            let fixed = names::snake(text);
            let help = if names::is_snake_case(&fixed) {
                format!("write it in snake_case: `{fixed}`")
            } else {
                "start with a lowercase ASCII letter, then lowercase letters, digits and `_`"
                    .to_owned()
            };
            self.push(
                Diagnostic::error(
                    Code::InvalidIdentifier,
                    name.span.clone(),
                    format!("{what} name `{text}` is not snake_case"),
                )
                .label("not a snake_case identifier")
                .help(help),
            );
        } else if names::is_reserved(text) || (field && names::is_reserved_field(text)) {
            let reason = if names::is_reserved(text) {
                names::reserved_reason(text)
            } else {
                "reserved by pydantic (`model_` prefix)"
            };
            self.push(
                Diagnostic::error(
                    Code::ReservedName,
                    name.span.clone(),
                    format!("{what} name `{text}` is reserved"),
                )
                .label(format!("`{text}` is {reason}"))
                .help(format!("rename it, e.g. `{text}_value`")),
            );
        }
    }

    /// Reports a name given twice in one list; returns whether it was new.
    fn unique(&mut self, seen: &mut Seen, name: &Spanned<String>, what: &str) -> bool {
        if let Some(first) = seen.get(&name.value) {
            self.push(
                Diagnostic::error(
                    Code::DuplicateName,
                    name.span.clone(),
                    format!("{what} `{}` is declared twice", name.value),
                )
                .label("declared again here")
                .related(first.clone(), "first declared here"),
            );
            return false;
        }
        seen.insert(name.value.clone(), name.span.clone());
        true
    }

    // ---- project and defaults ----

    fn project(&mut self, node: &KdlNode) -> Option<Project> {
        const NODES: &[&str] = &["package", "python", "task-queue", "restack-ai", "engine"];
        self.shape(node, 1, &[], true);
        let name = self.string_arg(node, 0, "project name", "project \"blog\" { … }")?;
        if names::has_path(&name.value) {
            self.push(
                Diagnostic::error(
                    Code::PathInName,
                    name.span.clone(),
                    format!("project name `{}` contains a path", name.value),
                )
                .label("names cannot contain `/`, `\\` or `..`")
                .help("use a plain name; the project lives in the manifest's directory"),
            );
        } else if name.value.trim().is_empty() {
            self.push(
                Diagnostic::error(Code::InvalidValue, name.span.clone(), "empty project name")
                    .label("empty")
                    .help("name the project, e.g. `project \"blog\"`"),
            );
        }
        let mut project = Project {
            name,
            span: self.span(node.span()),
            package: None,
            python: None,
            task_queue: None,
            restack_ai: None,
            engine: None,
        };
        let mut seen = Seen::new();
        for child in Self::children(node) {
            self.no_type_annotation(child);
            let known = NODES.contains(&child.name().value());
            if known && !self.once(&mut seen, child) {
                continue;
            }
            match child.name().value() {
                "package" => {
                    self.shape(child, 1, &[], false);
                    project.package = self.string_arg(child, 0, "package name", "package \"blog\"");
                    if let Some(package) = &project.package {
                        self.check_package(package, true);
                    }
                }
                "python" => {
                    self.shape(child, 1, &[], false);
                    project.python =
                        self.string_arg(child, 0, "version requirement", "python \">=3.10,<3.14\"");
                    self.check_requirement(project.python.as_ref());
                }
                "task-queue" => {
                    self.shape(child, 1, &[], false);
                    project.task_queue = self
                        .string_arg(child, 0, "task queue", "task-queue \"restack\"")
                        .filter(|it| self.plain_name(it, "task queue"));
                }
                "restack-ai" => {
                    self.shape(child, 1, &[], false);
                    project.restack_ai = self.string_arg(
                        child,
                        0,
                        "version requirement",
                        "restack-ai \"==0.0.121\"",
                    );
                    self.check_requirement(project.restack_ai.as_ref());
                }
                "engine" => {
                    self.shape(child, 0, &["address", "api-address"], false);
                    let mut engine = Engine {
                        span: self.span(child.span()),
                        address: None,
                        api_address: None,
                    };
                    if let Some(entry) = Self::prop(child, "address") {
                        engine.address = self.address(entry);
                    }
                    if let Some(entry) = Self::prop(child, "api-address") {
                        engine.api_address = self.address(entry);
                    }
                    project.engine = Some(engine);
                }
                _ => self.unknown_node(child, NODES, "`project`"),
            }
        }
        if project.package.is_none() {
            let derived =
                Spanned::new(names::snake(&project.name.value), project.name.span.clone());
            self.check_package(&derived, false);
        }
        Some(project)
    }

    fn check_package(&mut self, package: &Spanned<String>, declared: bool) {
        let text = &package.value;
        if names::is_snake_case(text)
            && !names::is_reserved(text)
            && !names::is_reserved_entity(text)
        {
            return;
        }
        let (message, help) = if declared {
            (
                format!("package name `{text}` is not a usable Python package name"),
                "use a lowercase identifier that is not a keyword or builtin, e.g. `my_app`"
                    .to_owned(),
            )
        } else {
            (
                format!(
                    "the project name gives the package name `{text}`, which is not a usable Python package name"
                ),
                "add `package \"my_app\"` to the project block".to_owned(),
            )
        };
        self.push(
            Diagnostic::error(Code::InvalidPackageName, package.span.clone(), message)
                .label("not a lowercase Python identifier")
                .help(help),
        );
    }

    /// A PEP 440 specifier set such as `>=3.10,<3.14`.
    fn check_requirement(&mut self, value: Option<&Spanned<String>>) {
        let Some(value) = value else { return };
        let valid = value.value.split(',').all(|clause| {
            let clause = clause.trim();
            let version = ["===", "==", ">=", "<=", "!=", "~=", ">", "<"]
                .iter()
                .find_map(|op| clause.strip_prefix(op));
            version.is_some_and(|it| {
                let it = it.trim();
                it.starts_with(|c: char| c.is_ascii_digit())
                    && it
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".*+!-".contains(c))
            })
        });
        if !valid {
            self.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    value.span.clone(),
                    format!("`{}` is not a version requirement", value.value),
                )
                .label("not a PEP 440 specifier set")
                .help("write it like `>=3.10,<3.14` or `==0.0.121`"),
            );
        }
    }

    fn plain_name(&mut self, value: &Spanned<String>, what: &str) -> bool {
        let ok = !value.value.is_empty()
            && value
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok {
            self.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    value.span.clone(),
                    format!("invalid {what} `{}`", value.value),
                )
                .label("expected letters, digits, `-`, `_` or `.`")
                .help(format!("name the {what} like `restack`")),
            );
        }
        ok
    }

    fn address(&mut self, entry: &KdlEntry) -> Option<Spanned<String>> {
        let value = self.string(entry)?;
        let valid = value.value.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty()
                && !host.contains(char::is_whitespace)
                && !host.contains("://")
                && port.parse::<u16>().is_ok_and(|it| it > 0)
        });
        if !valid {
            self.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    value.span.clone(),
                    format!("`{}` is not a `host:port` address", value.value),
                )
                .label("expected `host:port`")
                .help("write it like `localhost:7233`"),
            );
            return None;
        }
        Some(value)
    }

    fn defaults(&mut self, node: &KdlNode) -> Defaults {
        const NODES: &[&str] = &["timeout", "heartbeat", "retry"];
        self.shape(node, 0, &[], true);
        let mut policy = Policy::default();
        let mut seen = Seen::new();
        for child in Self::children(node) {
            self.no_type_annotation(child);
            if !self.policy_node(child, &mut policy, &mut seen) {
                self.unknown_node(child, NODES, "`defaults`");
            }
        }
        Defaults {
            span: self.span(node.span()),
            policy,
        }
    }

    /// Decodes `timeout`, `heartbeat` or `retry` into `policy`; false for any other node.
    fn policy_node(&mut self, node: &KdlNode, policy: &mut Policy, seen: &mut Seen) -> bool {
        match node.name().value() {
            "timeout" | "heartbeat" => {
                if !self.once(seen, node) {
                    return true;
                }
                self.shape(node, 1, &[], false);
                let name = node.name().value();
                let value = if let Some(entry) = Self::arg(node, 0) {
                    self.duration(entry)
                } else {
                    self.missing_argument(node, "duration", &format!("{name} \"30s\""));
                    None
                };
                if name == "timeout" {
                    policy.timeout = value;
                } else {
                    policy.heartbeat = value;
                }
                true
            }
            "retry" => {
                const PROPS: &[&str] = &["attempts", "initial", "backoff", "max-interval"];
                if !self.once(seen, node) {
                    return true;
                }
                self.shape(node, 0, PROPS, false);
                let mut retry = Retry {
                    span: self.span(node.span()),
                    ..Retry::default()
                };
                if !node.entries().iter().any(|it| it.name().is_some()) {
                    self.missing_argument(
                        node,
                        "settings",
                        "retry attempts=3 initial=\"1s\" backoff=2.0 max-interval=\"1m\"",
                    );
                }
                if let Some(entry) = Self::prop(node, "attempts") {
                    retry.attempts = self.count(entry);
                }
                if let Some(entry) = Self::prop(node, "initial") {
                    retry.initial = self.duration(entry);
                }
                if let Some(entry) = Self::prop(node, "backoff") {
                    retry.backoff = self.backoff(entry);
                }
                if let Some(entry) = Self::prop(node, "max-interval") {
                    retry.max_interval = self.duration(entry);
                }
                policy.retry = Some(retry);
                true
            }
            _ => false,
        }
    }

    fn backoff(&mut self, entry: &KdlEntry) -> Option<Spanned<f64>> {
        let span = self.value_span(entry);
        #[expect(
            clippy::cast_precision_loss,
            reason = "backoff coefficients are small numbers"
        )]
        let value = match entry.value() {
            KdlValue::Float(it) => *it,
            KdlValue::Integer(it) => *it as f64,
            _ => {
                self.wrong_type(
                    entry,
                    "a number",
                    Some("write it like `backoff=2.0`".to_owned()),
                );
                return None;
            }
        };
        if !(value.is_finite() && (1.0..=100.0).contains(&value)) {
            self.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    span,
                    format!("backoff `{}` is out of range", Self::repr(entry)),
                )
                .label("expected a number from 1.0 to 100.0")
                .help(
                    "the delay is multiplied by the backoff after each attempt; `2.0` doubles it",
                ),
            );
            return None;
        }
        Some(Spanned::new(value, span))
    }

    // ---- fields ----

    /// `field "name" "type" default=…` (and `param`).
    fn field(&mut self, node: &KdlNode, what: &str) -> Option<Field> {
        let keyword = node.name().value().to_owned();
        self.shape(node, 2, &["default"], false);
        let example = format!("{keyword} \"name\" \"str\"");
        let name = self.string_arg(node, 0, &format!("{what} name"), &example)?;
        self.check_ident(&name, what, true);
        let ty = if let Some(entry) = Self::arg(node, 1) {
            self.type_value(entry)
        } else {
            self.missing_argument(
                node,
                "type",
                &format!("{keyword} \"{}\" \"str\"", name.value),
            );
            None
        };
        let default = Self::prop(node, "default").and_then(|entry| {
            let span = self.value_span(entry);
            let value = match entry.value() {
                KdlValue::String(it) => Value::Str(it.clone()),
                KdlValue::Integer(it) if i64::try_from(*it).is_ok() => Value::Int(*it),
                KdlValue::Integer(_) => {
                    self.push(
                        Diagnostic::error(Code::InvalidValue, span, format!("default `{}` is out of range", Self::repr(entry)))
                            .label("does not fit a 64-bit integer")
                            .help("use a smaller number"),
                    );
                    return None;
                }
                KdlValue::Float(it) => Value::Float(*it),
                KdlValue::Bool(it) => Value::Bool(*it),
                KdlValue::Null => Value::Null,
            };
            let value = Spanned::new(value, span);
            match &ty {
                Some(ty) if !default_fits(&ty.value, &value.value) => {
                    self.push(
                        Diagnostic::error(
                            Code::WrongType,
                            value.span.clone(),
                            format!("default `{}` does not fit the type `{}`", Self::repr(entry), type_text(&ty.value)),
                        )
                        .label("wrong kind of value")
                        .related(ty.span.clone(), "the field's type")
                        .help("defaults are str, int, float or bool values of the field's type, or `#null` for `T | None`"),
                    );
                    None
                }
                _ => Some(value),
            }
        });
        Some(Field {
            span: self.span(node.span()),
            name,
            ty,
            default,
        })
    }

    /// A block of `field` nodes (`input`, `state`, `event`).
    fn fields(&mut self, node: &KdlNode, parent: &str, required: bool) -> Vec<Field> {
        let mut fields = Vec::new();
        let mut seen = Seen::new();
        for child in Self::children(node) {
            self.no_type_annotation(child);
            if child.name().value() == "field" {
                if let Some(field) = self.field(child, "field")
                    && self.unique(&mut seen, &field.name, "field")
                {
                    fields.push(field);
                }
            } else {
                self.unknown_node(child, &["field"], &format!("`{parent}`"));
            }
        }
        if required && Self::children(node).is_empty() {
            self.missing_children(node, "fields");
        }
        fields
    }

    fn doc(&mut self, node: &KdlNode) -> Option<Spanned<String>> {
        self.shape(node, 1, &[], false);
        if let Some(entry) = Self::arg(node, 0) {
            self.text(entry, "doc")
        } else {
            self.missing_argument(node, "text", "doc \"What it does.\"");
            None
        }
    }

    fn type_arg(&mut self, node: &KdlNode) -> Option<Spanned<Type>> {
        self.shape(node, 1, &[], false);
        let name = node.name().value().to_owned();
        if let Some(entry) = Self::arg(node, 0) {
            self.type_value(entry)
        } else {
            self.missing_argument(node, "type", &format!("{name} \"str\""));
            None
        }
    }

    /// `calls "A" "B"`, `tools "A"`: one or more entity names.
    fn name_list(&mut self, node: &KdlNode, what: &str) -> Vec<Spanned<String>> {
        self.shape(node, usize::MAX, &[], false);
        let name = node.name().value().to_owned();
        let list: Vec<_> = node
            .entries()
            .iter()
            .filter(|it| it.name().is_none())
            .filter_map(|entry| self.string(entry))
            .collect();
        if Self::arg(node, 0).is_none() {
            self.missing_argument(node, what, &format!("{name} \"Name\""));
        }
        let mut seen = Seen::new();
        list.into_iter()
            .filter(|it| self.unique(&mut seen, it, &format!("`{name}` entry")))
            .collect()
    }

    // ---- entities ----

    fn function(&mut self, node: &KdlNode) -> Option<Function> {
        const NODES: &[&str] = &["doc", "input", "output", "timeout", "heartbeat", "retry"];
        self.shape(node, 1, &[], true);
        let name = self.entity_name(node)?;
        let mut function = Function {
            name,
            span: self.span(node.span()),
            doc: None,
            input: Vec::new(),
            output: None,
            policy: Policy::default(),
        };
        let mut seen = Seen::new();
        for child in Self::children(node) {
            self.no_type_annotation(child);
            if self.policy_node(child, &mut function.policy, &mut seen) {
                continue;
            }
            let known = NODES.contains(&child.name().value());
            if known && !self.once(&mut seen, child) {
                continue;
            }
            match child.name().value() {
                "doc" => function.doc = self.doc(child),
                "input" => {
                    self.shape(child, 0, &[], true);
                    function.input = self.fields(child, "input", true);
                }
                "output" => function.output = self.type_arg(child),
                _ => self.unknown_node(child, NODES, "`function`"),
            }
        }
        Some(function)
    }

    fn workflow(&mut self, node: &KdlNode) -> Option<Workflow> {
        const NODES: &[&str] = &[
            "doc",
            "input",
            "output",
            "calls",
            "timeout",
            "heartbeat",
            "retry",
        ];
        self.shape(node, 1, &[], true);
        let name = self.entity_name(node)?;
        let mut workflow = Workflow {
            name,
            span: self.span(node.span()),
            doc: None,
            input: Vec::new(),
            output: None,
            calls: Vec::new(),
            policy: Policy::default(),
        };
        let mut seen = Seen::new();
        for child in Self::children(node) {
            self.no_type_annotation(child);
            if self.policy_node(child, &mut workflow.policy, &mut seen) {
                continue;
            }
            let known = NODES.contains(&child.name().value());
            if known && !self.once(&mut seen, child) {
                continue;
            }
            match child.name().value() {
                "doc" => workflow.doc = self.doc(child),
                "input" => {
                    self.shape(child, 0, &[], true);
                    workflow.input = self.fields(child, "input", true);
                }
                "output" => workflow.output = self.type_arg(child),
                "calls" => workflow.calls = self.name_list(child, "function or workflow names"),
                _ => self.unknown_node(child, NODES, "`workflow`"),
            }
        }
        Some(workflow)
    }

    fn agent(&mut self, node: &KdlNode) -> Option<Agent> {
        const NODES: &[&str] = &[
            "doc",
            "state",
            "event",
            "calls",
            "llm",
            "tools",
            "timeout",
            "heartbeat",
            "retry",
        ];
        self.shape(node, 1, &[], true);
        let name = self.entity_name(node)?;
        let mut agent = Agent {
            name,
            span: self.span(node.span()),
            doc: None,
            state: Vec::new(),
            events: Vec::new(),
            calls: Vec::new(),
            llm: None,
            tools: Vec::new(),
            policy: Policy::default(),
        };
        let mut seen = Seen::new();
        let mut events = Seen::new();
        let mut event_classes = Seen::new();
        for child in Self::children(node) {
            self.no_type_annotation(child);
            if self.policy_node(child, &mut agent.policy, &mut seen) {
                continue;
            }
            let name = child.name().value();
            if NODES.contains(&name) && name != "event" && !self.once(&mut seen, child) {
                continue;
            }
            match name {
                "doc" => agent.doc = self.doc(child),
                "state" => {
                    self.shape(child, 0, &[], true);
                    agent.state = self.fields(child, "state", true);
                }
                "event" => {
                    self.shape(child, 1, &[], true);
                    let Some(event_name) =
                        self.ident_arg(child, "event", "event \"user_signed_up\"")
                    else {
                        continue;
                    };
                    if !self.unique(&mut events, &event_name, "event") {
                        continue;
                    }
                    let class = names::pascal(&event_name.value);
                    if let Some(first) = event_classes.get(&class) {
                        self.push(
                            Diagnostic::error(
                                Code::NameCollision,
                                event_name.span.clone(),
                                format!(
                                    "event `{}` collides with another event as `{class}Event`",
                                    event_name.value
                                ),
                            )
                            .label("same model class")
                            .related(first.clone(), "the other event"),
                        );
                        continue;
                    }
                    event_classes.insert(class, event_name.span.clone());
                    let fields = self.fields(child, "event", false);
                    agent.events.push(Event {
                        span: self.span(child.span()),
                        name: event_name,
                        fields,
                    });
                }
                "calls" => agent.calls = self.name_list(child, "function or workflow names"),
                "llm" => {
                    self.shape(child, 1, &[], false);
                    agent.llm = if let Some(entry) = Self::arg(child, 0) {
                        self.choice(entry, &[("default", ())])
                            .map(|it| Spanned::new("default".to_owned(), it.span))
                    } else {
                        self.missing_argument(child, "router", "llm \"default\"");
                        None
                    };
                }
                "tools" => agent.tools = self.name_list(child, "tool-server names"),
                _ => self.unknown_node(child, NODES, "`agent`"),
            }
        }
        Some(agent)
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one match arm per child node of the language"
    )]
    fn pipeline(&mut self, node: &KdlNode) -> Option<Pipeline> {
        const NODES: &[&str] = &[
            "doc",
            "operators",
            "style",
            "max-loops",
            "map",
            "when",
            "step",
            "continue-as-new",
            "timeout",
            "heartbeat",
            "retry",
        ];
        self.shape(node, 1, &[], true);
        let name = self.entity_name(node)?;
        let mut pipeline = Pipeline {
            name,
            span: self.span(node.span()),
            doc: None,
            operators: None,
            style: None,
            max_loops: None,
            maps: Vec::new(),
            whens: Vec::new(),
            steps: Vec::new(),
            continue_as_new_after: None,
            policy: Policy::default(),
        };
        let mut seen = Seen::new();
        let mut has_operators = false;
        let (mut maps, mut whens, mut steps) = (Seen::new(), Seen::new(), Seen::new());
        for child in Self::children(node) {
            self.no_type_annotation(child);
            if self.policy_node(child, &mut pipeline.policy, &mut seen) {
                continue;
            }
            let name = child.name().value();
            if NODES.contains(&name)
                && !["map", "when", "step"].contains(&name)
                && !self.once(&mut seen, child)
            {
                continue;
            }
            match name {
                "doc" => pipeline.doc = self.doc(child),
                "operators" => {
                    has_operators = true;
                    self.shape(child, 1, &[], false);
                    match Self::arg(child, 0) {
                        Some(entry) => pipeline.operators = self.operators(entry),
                        None => self.missing_argument(
                            child,
                            "operator string",
                            "operators \"DRAFT → REVIEW\"",
                        ),
                    }
                }
                "style" => {
                    self.shape(child, 1, &[], false);
                    match Self::arg(child, 0) {
                        Some(entry) => {
                            pipeline.style = self.choice(
                                entry,
                                &[
                                    ("subworkflows", Style::Subworkflows),
                                    ("functions", Style::Functions),
                                ],
                            );
                        }
                        None => self.missing_argument(child, "style", "style \"subworkflows\""),
                    }
                }
                "max-loops" => {
                    self.shape(child, 1, &[], false);
                    match Self::arg(child, 0) {
                        Some(entry) => pipeline.max_loops = self.count(entry),
                        None => self.missing_argument(child, "count", "max-loops 3"),
                    }
                }
                "map" => {
                    self.shape(child, 2, &[], false);
                    let step = self.step_arg(child, "map \"STEP\" \"FunctionOrWorkflow\"");
                    let target =
                        self.string_arg(child, 1, "target", "map \"STEP\" \"FunctionOrWorkflow\"");
                    if let (Some(step), Some(target)) = (step, target)
                        && self.once_step(&mut maps, &step, "map")
                    {
                        pipeline.maps.push(Map {
                            span: self.span(child.span()),
                            step,
                            target,
                        });
                    }
                }
                "when" => {
                    self.shape(child, 2, &[], false);
                    let step = self.step_arg(child, "when \"STEP\" \"should_run\"");
                    let condition = self.string_arg(
                        child,
                        1,
                        "condition function name",
                        "when \"STEP\" \"should_run\"",
                    );
                    if let Some(condition) = &condition {
                        self.check_ident(condition, "condition", false);
                    }
                    if let (Some(step), Some(condition)) = (step, condition)
                        && self.once_step(&mut whens, &step, "when")
                    {
                        pipeline.whens.push(When {
                            span: self.span(child.span()),
                            step,
                            condition,
                        });
                    }
                }
                "step" => {
                    const PROPS: &[&str] = &["timeout", "retry-attempts", "heartbeat"];
                    self.shape(child, 1, PROPS, false);
                    let Some(step) = self.step_arg(child, "step \"STEP\" timeout=\"10m\"") else {
                        continue;
                    };
                    if !child.entries().iter().any(|it| it.name().is_some()) {
                        self.missing_argument(
                            child,
                            "overrides",
                            "step \"STEP\" timeout=\"10m\" retry-attempts=5 heartbeat=\"1m\"",
                        );
                    }
                    let timeout = Self::prop(child, "timeout").and_then(|it| self.duration(it));
                    let heartbeat = Self::prop(child, "heartbeat").and_then(|it| self.duration(it));
                    let retry_attempts =
                        Self::prop(child, "retry-attempts").and_then(|it| self.count(it));
                    if self.once_step(&mut steps, &step, "step") {
                        pipeline.steps.push(StepOverride {
                            span: self.span(child.span()),
                            step,
                            timeout,
                            heartbeat,
                            retry_attempts,
                        });
                    }
                }
                "continue-as-new" => {
                    self.shape(child, 0, &["after"], false);
                    match Self::prop(child, "after") {
                        Some(entry) => pipeline.continue_as_new_after = self.count(entry),
                        None => self.missing_argument(
                            child,
                            "`after=` count",
                            "continue-as-new after=200",
                        ),
                    }
                }
                _ => self.unknown_node(child, NODES, "`pipeline`"),
            }
        }
        if !has_operators {
            self.push(
                Diagnostic::error(
                    Code::MissingChildren,
                    pipeline.name.span.clone(),
                    format!("pipeline `{}` has no `operators`", pipeline.name.value),
                )
                .label("needs an operator string")
                .help("add `operators \"DRAFT → REVIEW\"` inside the pipeline block"),
            );
        }
        Some(pipeline)
    }

    /// The step-name argument of `map`, `when` and `step`: an UPPER_SNAKE token.
    fn step_arg(&mut self, node: &KdlNode, example: &str) -> Option<Spanned<String>> {
        let step = self.string_arg(node, 0, "step name", example)?;
        if !names::is_upper_snake(&step.value) {
            self.push(
                Diagnostic::error(
                    Code::InvalidStepName,
                    step.span.clone(),
                    format!("step name `{}` is not UPPER_SNAKE", step.value),
                )
                .label("not a step token")
                .help(format!(
                    "steps are written like `{}`",
                    names::snake(&step.value).to_uppercase()
                )),
            );
        }
        Some(step)
    }

    fn once_step(&mut self, seen: &mut Seen, step: &Spanned<String>, what: &str) -> bool {
        if let Some(first) = seen.get(&step.value) {
            self.push(
                Diagnostic::error(
                    Code::DuplicateNode,
                    step.span.clone(),
                    format!("`{what}` given twice for step `{}`", step.value),
                )
                .label("again here")
                .related(first.clone(), "first given here")
                .help(format!("give one `{what}` per step")),
            );
            return false;
        }
        seen.insert(step.value.clone(), step.span.clone());
        true
    }

    fn operators(&mut self, entry: &KdlEntry) -> Option<Operators> {
        let text = self.string(entry)?;
        let (mut tree, errors) = operators::parse(&text.value);
        for error in errors {
            let span = self.inner_span(entry, &error.span);
            let mut diagnostic =
                Diagnostic::error(error.code, span, error.message).label(error.label);
            if let Some(help) = error.help {
                diagnostic = diagnostic.help(help);
            }
            self.push(diagnostic);
        }
        self.shift_pipeline(entry, &mut tree);
        Some(Operators {
            text: text.value,
            span: text.span,
            tree,
        })
    }

    fn shift_pipeline(&self, entry: &KdlEntry, tree: &mut operators::Pipeline) {
        for stage in &mut tree.stages {
            stage.span = self.inner_span(entry, &stage.span);
            match &mut stage.body {
                operators::StageBody::Loop { a, b } => {
                    a.span = self.inner_span(entry, &a.span);
                    b.span = self.inner_span(entry, &b.span);
                }
                operators::StageBody::Group { units } => {
                    for unit in units {
                        match unit {
                            operators::Unit::Step(step) => {
                                step.span = self.inner_span(entry, &step.span);
                            }
                            operators::Unit::Nested { pipeline } => {
                                self.shift_pipeline(entry, pipeline);
                            }
                        }
                    }
                }
            }
        }
    }

    fn tool_server(&mut self, node: &KdlNode) -> Option<ToolServer> {
        const NODES: &[&str] = &["doc", "transport", "autostart", "tool"];
        self.shape(node, 1, &[], true);
        let name = self.entity_name(node)?;
        let mut server = ToolServer {
            name,
            span: self.span(node.span()),
            doc: None,
            transport: None,
            autostart: None,
            tools: Vec::new(),
        };
        let mut seen = Seen::new();
        let mut tools = Seen::new();
        for child in Self::children(node) {
            self.no_type_annotation(child);
            let name = child.name().value();
            if NODES.contains(&name) && name != "tool" && !self.once(&mut seen, child) {
                continue;
            }
            match name {
                "doc" => server.doc = self.doc(child),
                "transport" => {
                    self.shape(child, 1, &[], false);
                    match Self::arg(child, 0) {
                        Some(entry) => {
                            server.transport = self.choice(
                                entry,
                                &[
                                    ("stdio", Transport::Stdio),
                                    ("http", Transport::Http),
                                    ("sse", Transport::Sse),
                                ],
                            );
                        }
                        None => self.missing_argument(child, "transport", "transport \"stdio\""),
                    }
                }
                "autostart" => {
                    self.shape(child, 1, &[], false);
                    match Self::arg(child, 0) {
                        Some(entry) => match entry.value() {
                            KdlValue::Bool(it) => {
                                server.autostart = Some(Spanned::new(*it, self.value_span(entry)));
                            }
                            _ => self.wrong_type(
                                entry,
                                "a boolean",
                                Some("write `#true` or `#false`".to_owned()),
                            ),
                        },
                        None => self.missing_argument(child, "value", "autostart #true"),
                    }
                }
                "tool" => {
                    if let Some(tool) = self.tool(child)
                        && self.unique(&mut tools, &tool.name, "tool")
                    {
                        server.tools.push(tool);
                    }
                }
                _ => self.unknown_node(child, NODES, "`tool-server`"),
            }
        }
        if server.tools.is_empty()
            && !Self::children(node)
                .iter()
                .any(|it| it.name().value() == "tool")
        {
            self.missing_children(node, "tools");
        }
        Some(server)
    }

    fn tool(&mut self, node: &KdlNode) -> Option<Tool> {
        const NODES: &[&str] = &["doc", "param", "returns"];
        self.shape(node, 1, &[], true);
        let name = self.ident_arg(node, "tool", "tool \"web_search\" { … }")?;
        let mut tool = Tool {
            span: self.span(node.span()),
            name,
            doc: None,
            params: Vec::new(),
            returns: None,
        };
        let mut seen = Seen::new();
        let mut params = Seen::new();
        for child in Self::children(node) {
            self.no_type_annotation(child);
            let name = child.name().value();
            if NODES.contains(&name) && name != "param" && !self.once(&mut seen, child) {
                continue;
            }
            match name {
                "doc" => tool.doc = self.doc(child),
                "param" => {
                    if let Some(param) = self.field(child, "param")
                        && self.unique(&mut params, &param.name, "param")
                    {
                        tool.params.push(param);
                    }
                }
                "returns" => tool.returns = self.type_arg(child),
                _ => self.unknown_node(child, NODES, "`tool`"),
            }
        }
        Some(tool)
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one match arm per child node of the language"
    )]
    fn llm(&mut self, node: &KdlNode) -> Llm {
        const NODES: &[&str] = &["backend", "kong", "provider", "fallback", "circuit-breaker"];
        self.shape(node, 0, &[], true);
        let mut llm = Llm {
            span: self.span(node.span()),
            backend: None,
            kong: None,
            providers: Vec::new(),
            fallback: None,
            circuit_breaker: None,
        };
        let mut seen = Seen::new();
        let mut providers = Seen::new();
        for child in Self::children(node) {
            self.no_type_annotation(child);
            let name = child.name().value();
            if NODES.contains(&name) && name != "provider" && !self.once(&mut seen, child) {
                continue;
            }
            match name {
                "backend" => {
                    self.shape(child, 1, &[], false);
                    match Self::arg(child, 0) {
                        Some(entry) => {
                            llm.backend = self.choice(
                                entry,
                                &[("direct", Backend::Direct), ("kong", Backend::Kong)],
                            );
                        }
                        None => self.missing_argument(child, "backend", "backend \"direct\""),
                    }
                }
                "kong" => {
                    self.shape(child, 0, &["url", "key-env"], false);
                    let url = Self::prop(child, "url").and_then(|entry| self.url(entry));
                    let key_env =
                        Self::prop(child, "key-env").and_then(|entry| self.env_name(entry));
                    llm.kong = Some(Kong {
                        span: self.span(child.span()),
                        url,
                        key_env,
                    });
                }
                "provider" => {
                    const PROPS: &[&str] = &["model", "key-env", "priority"];
                    self.shape(child, 1, PROPS, false);
                    let Some(provider_name) = self.string_arg(
                        child,
                        0,
                        "provider name",
                        "provider \"openai\" model=\"gpt-4o-mini\"",
                    ) else {
                        continue;
                    };
                    let valid = provider_name
                        .value
                        .starts_with(|c: char| c.is_ascii_lowercase())
                        && provider_name.value.chars().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
                        });
                    if !valid {
                        self.push(
                            Diagnostic::error(
                                Code::InvalidIdentifier,
                                provider_name.span.clone(),
                                format!(
                                    "provider name `{}` is not a lowercase name",
                                    provider_name.value
                                ),
                            )
                            .label("expected lowercase letters, digits, `_` or `-`")
                            .help("name providers like `openai` or `anthropic`"),
                        );
                    }
                    let model = if let Some(entry) = Self::prop(child, "model") {
                        self.text(entry, "model")
                    } else {
                        self.missing_argument(
                            child,
                            "`model=`",
                            &format!("provider \"{}\" model=\"…\"", provider_name.value),
                        );
                        None
                    };
                    let key_env =
                        Self::prop(child, "key-env").and_then(|entry| self.env_name(entry));
                    let priority =
                        Self::prop(child, "priority").and_then(|entry| self.count(entry));
                    if let Some(first) = providers.get(&provider_name.value) {
                        self.push(
                            Diagnostic::error(
                                Code::DuplicateProvider,
                                provider_name.span.clone(),
                                format!("provider `{}` is declared twice", provider_name.value),
                            )
                            .label("declared again here")
                            .related(first.clone(), "first declared here")
                            .help("each provider appears once; remove the duplicate"),
                        );
                        continue;
                    }
                    providers.insert(provider_name.value.clone(), provider_name.span.clone());
                    llm.providers.push(Provider {
                        span: self.span(child.span()),
                        name: provider_name,
                        model,
                        key_env,
                        priority,
                    });
                }
                "fallback" => {
                    self.shape(child, usize::MAX, &[], false);
                    let options = [
                        ("timeout", Fallback::Timeout),
                        ("5xx", Fallback::ServerError),
                        ("rate-limit", Fallback::RateLimit),
                    ];
                    let mut list = Vec::new();
                    let mut seen_values: Vec<Fallback> = Vec::new();
                    for entry in child.entries().iter().filter(|it| it.name().is_none()) {
                        if let Some(it) = self.choice(entry, &options) {
                            if seen_values.contains(&it.value) {
                                self.push(
                                    Diagnostic::error(
                                        Code::DuplicateName,
                                        it.span.clone(),
                                        format!("fallback `{}` is listed twice", Self::repr(entry)),
                                    )
                                    .label("listed again here"),
                                );
                                continue;
                            }
                            seen_values.push(it.value);
                            list.push(it);
                        }
                    }
                    llm.fallback = Some(list);
                }
                "circuit-breaker" => {
                    self.shape(child, 0, &["failures", "cooldown"], false);
                    let failures =
                        Self::prop(child, "failures").and_then(|entry| self.count(entry));
                    let cooldown =
                        Self::prop(child, "cooldown").and_then(|entry| self.duration(entry));
                    llm.circuit_breaker = Some(CircuitBreaker {
                        span: self.span(child.span()),
                        failures,
                        cooldown,
                    });
                }
                _ => self.unknown_node(child, NODES, "`llm`"),
            }
        }
        if !Self::children(node)
            .iter()
            .any(|it| it.name().value() == "provider")
        {
            self.missing_children(node, "providers");
        }
        llm
    }

    fn url(&mut self, entry: &KdlEntry) -> Option<Spanned<String>> {
        let value = self.string(entry)?;
        let rest = value
            .value
            .strip_prefix("https://")
            .or_else(|| value.value.strip_prefix("http://"));
        if !rest.is_some_and(|it| !it.is_empty() && !it.contains(char::is_whitespace)) {
            self.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    value.span.clone(),
                    format!("`{}` is not an http(s) URL", value.value),
                )
                .label("expected `http://…` or `https://…`")
                .help("write it like `https://kong.example.com/ai`"),
            );
            return None;
        }
        Some(value)
    }

    fn env_name(&mut self, entry: &KdlEntry) -> Option<Spanned<String>> {
        let value = self.string(entry)?;
        let valid = value
            .value
            .starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
            && value
                .value
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            self.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    value.span.clone(),
                    format!("`{}` is not an environment variable name", value.value),
                )
                .label("expected UPPER_SNAKE, e.g. `OPENAI_API_KEY`")
                .help("`key-env` names the variable that holds the key, never the key itself"),
            );
            return None;
        }
        Some(value)
    }

    fn prompt(&mut self, node: &KdlNode) -> Option<Prompt> {
        const NODES: &[&str] = &["var", "text"];
        self.shape(node, 1, &["version"], true);
        let name = self.ident_arg(
            node,
            "prompt",
            "prompt \"summarize\" version=\"1.0.0\" { … }",
        )?;
        let version = Self::prop(node, "version").and_then(|entry| {
            let value = self.text(entry, "version")?;
            if value.value.contains(char::is_whitespace) {
                self.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        value.span.clone(),
                        format!("version `{}` contains whitespace", value.value),
                    )
                    .label("not a version")
                    .help("write it like `1.0.0`"),
                );
                return None;
            }
            Some(value)
        });
        let mut prompt = Prompt {
            name,
            span: self.span(node.span()),
            version,
            vars: Vec::new(),
            text: None,
            placeholders: Vec::new(),
        };
        let mut seen = Seen::new();
        let mut vars = Seen::new();
        for child in Self::children(node) {
            self.no_type_annotation(child);
            let name = child.name().value();
            if name == "text" && !self.once(&mut seen, child) {
                continue;
            }
            match name {
                "var" => {
                    self.shape(child, 1, &[], false);
                    if let Some(var) = self.ident_arg(child, "var", "var \"article\"")
                        && self.unique(&mut vars, &var, "var")
                    {
                        prompt.vars.push(var);
                    }
                }
                "text" => {
                    self.shape(child, 1, &[], false);
                    match Self::arg(child, 0) {
                        Some(entry) => {
                            prompt.text = self.text(entry, "prompt text");
                            if let Some(text) = &prompt.text {
                                prompt.placeholders = self.placeholders(entry, &text.value.clone());
                            }
                        }
                        None => {
                            self.missing_argument(
                                child,
                                "text",
                                "text \"Summarize {{ article }}\"",
                            );
                        }
                    }
                }
                _ => self.unknown_node(child, NODES, "`prompt`"),
            }
        }
        if !seen.contains_key("text") {
            self.missing_children(node, "`text`");
        }
        Some(prompt)
    }

    /// Finds `{{ name }}` placeholders; reports placeholders whose name is not an identifier.
    fn placeholders(&mut self, entry: &KdlEntry, text: &str) -> Vec<Spanned<String>> {
        let mut found = Vec::new();
        let mut at = 0;
        while let Some(open) = text[at..].find("{{").map(|it| at + it) {
            let Some(close) = text[open + 2..].find("}}").map(|it| open + 2 + it) else {
                let span = self.inner_span(entry, &(open..open + 2));
                self.push(
                    Diagnostic::error(
                        Code::UndeclaredPlaceholder,
                        span,
                        "unclosed placeholder `{{`",
                    )
                    .label("no matching `}}`")
                    .help("write placeholders as `{{ name }}`"),
                );
                break;
            };
            let inner = &text[open + 2..close];
            let lead = inner.len() - inner.trim_start().len();
            let name = inner.trim();
            let start = open + 2 + lead;
            let span = self.inner_span(entry, &(start..start + name.len()));
            let name = Spanned::new(name.to_owned(), span);
            if names::is_snake_case(&name.value) {
                found.push(name);
            } else {
                self.push(
                    Diagnostic::error(
                        Code::InvalidIdentifier,
                        name.span.clone(),
                        format!("placeholder `{}` is not a snake_case name", name.value),
                    )
                    .label("not a variable name")
                    .help("placeholders are `{{ name }}` with a declared `var \"name\"`"),
                );
            }
            at = close + 2;
        }
        found
    }
}

/// Whether a KDL literal is a valid default for a type.
fn default_fits(ty: &Type, value: &Value) -> bool {
    match (ty, value) {
        (Type::Any | Type::Named(_), _)
        | (Type::Str, Value::Str(_))
        | (Type::Int, Value::Int(_))
        | (Type::Float, Value::Float(_) | Value::Int(_))
        | (Type::Bool, Value::Bool(_))
        | (Type::None | Type::Optional(_), Value::Null) => true,
        (Type::Optional(inner), _) => default_fits(&inner.value, value),
        _ => false,
    }
}

/// The annotation as written, for messages.
pub(crate) fn type_text(ty: &Type) -> String {
    match ty {
        Type::Str => "str".to_owned(),
        Type::Int => "int".to_owned(),
        Type::Float => "float".to_owned(),
        Type::Bool => "bool".to_owned(),
        Type::Bytes => "bytes".to_owned(),
        Type::Any => "Any".to_owned(),
        Type::None => "None".to_owned(),
        Type::List(it) => format!("list[{}]", type_text(&it.value)),
        Type::Dict(it) => format!("dict[str, {}]", type_text(&it.value)),
        Type::Optional(it) => format!("{} | None", type_text(&it.value)),
        Type::Named(it) => it.clone(),
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|it| it.to_lowercase().collect())
        .unwrap_or_default();
    out.push_str(chars.as_str());
    out.trim_end_matches('.').to_owned()
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every manifest the repository holds, plus texts that stress the splitter.
    fn corpus() -> Vec<String> {
        let mut texts = Vec::new();
        for dir in ["tests/cases", "examples", "tests/fixtures"] {
            let mut stack = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir)];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|it| it == "kdl")
                        && let Ok(text) = std::fs::read_to_string(&path)
                    {
                        texts.push(text);
                    }
                }
            }
        }
        assert!(texts.len() > 20, "the corpus was not found");
        let project = "project \"p\" {\n  python \"3.12\"\n}\n";
        for tail in [
            "function \"A\" {\n  doc \"a { b\"\n}\nfunction \"B\"",
            "/-\nfunction \"A\" { }\nfunction \"B\" { doc #\"x\"y\n\"# }",
            "function \\\n  \"A\" { doc \"\"\"\n  x } \\\"\"\"\n  \"\"\"\n}\n",
            "/* a\n/* nested */\n*/ function \"A\" { } // c\nfunction \"B\" {};function \"C\"\n",
            "function \"A\" { doc ##\"\"\"\n  \"\"\"# }\n  \"\"\"##\n}\nfunction \"B\" /- {\n}\n",
            "function \"A\" {\r\n}\r\nfunction \"B\" { }",
            "function \"A\" {\n}\n}\nfunction \"B\"\n",
            "function \"A\" \"unclosed\nfunction \"B\"\n",
            "function \"A\" { doc true }\nfunction \"B\" { doc #true }\n",
            "function \"A\" { doc \"é\" }\nfunction \"B\" (t)\n",
            "\n\n// only a comment\n",
        ] {
            texts.push(format!("{project}{tail}"));
            texts.push(tail.to_owned());
        }
        texts
    }

    #[test]
    fn split_decoding_equals_one_parse() {
        for text in corpus() {
            let (manifest, diags, _) = decode_with(&text, None, false);
            let whole = (manifest, diags);
            let split = decode(&text);
            assert_eq!(format!("{split:?}"), format!("{whole:?}"), "{text}");
            let mut cache = ParseCache::default();
            for _ in 0..2 {
                let cached = decode_cached(&text, &mut cache);
                assert_eq!(format!("{cached:?}"), format!("{whole:?}"), "{text}");
            }
        }
    }

    /// `resplit` of a text from any earlier text is exactly `split` of it, and the slices it says
    /// were kept are the old ones, at the same offsets or moved by the change in length.
    #[test]
    fn resplitting_equals_splitting() {
        let texts = corpus();
        let check = |old: &str, new: &str| {
            let Some(old_slices) = split(old) else {
                return;
            };
            let resplit = resplit(old, &old_slices, new);
            assert_eq!(
                resplit.as_ref().map(|it| &it.slices),
                split(new).as_ref(),
                "{old:?} then {new:?}"
            );
            if let Some(Resplit {
                slices,
                prefix,
                suffix,
            }) = resplit
            {
                assert_eq!(slices[..prefix], old_slices[..prefix]);
                let kept = old_slices.len() - suffix;
                for (new_slice, old_slice) in slices[slices.len() - kept..]
                    .iter()
                    .zip(&old_slices[suffix..])
                {
                    assert_eq!(&new[new_slice.clone()], &old[old_slice.clone()]);
                    assert_eq!(new.len() - new_slice.start, old.len() - old_slice.start);
                }
            }
        };
        for old in &texts {
            for new in &texts {
                check(old, new);
            }
            // Every piece inserted, and a few bytes deleted, all along the text.
            for at in (0..=old.len())
                .filter(|it| old.is_char_boundary(*it))
                .step_by(3)
            {
                let next = old[at..].chars().next().map_or(at, |it| at + it.len_utf8());
                for piece in [
                    "\n", "{", "}", "\"", "/", "*", "#", "\\", "-", "x", "\r", "\u{85}", "x\n",
                    "\nx", "a\nx",
                ] {
                    let mut new = old.clone();
                    new.insert_str(at, piece);
                    check(old, &new);
                    // The next character replaced.
                    let mut new = old.clone();
                    new.replace_range(at..next, piece);
                    check(old, &new);
                }
                for len in 1..4 {
                    let end = floor_char_boundary(old, (at + len).min(old.len()));
                    let mut new = old.clone();
                    new.replace_range(at..end.max(at), "");
                    check(old, &new);
                }
            }
        }
    }

    #[test]
    fn splits_only_between_top_level_nodes() {
        let text = "a { b \"}\n\" }\nc #\"\n\"# /-\nd\ne \\\n f\n// x\ng";
        let slices: Vec<&str> = split(text)
            .unwrap_or_default()
            .into_iter()
            .map(|it| &text[it])
            .collect();
        assert_eq!(
            slices,
            [
                "a { b \"}\n\" }\n",
                "c #\"\n\"# /-\nd\n",
                "e \\\n f\n",
                "// x\ng"
            ]
        );
        assert_eq!(split("a }\nb"), None);
        assert_eq!(split("a \"b\nc"), None);
        assert_eq!(split("a /* b\nc"), None);
    }

    /// The raw count of `too_deep`, chunk by chunk, finds exactly what a count byte by byte
    /// finds: braces at every offset around chunk ends, with `}` that would count below zero.
    #[test]
    fn raw_depth_counts_every_byte() {
        fn byte_by_byte(bytes: &[u8]) -> Option<usize> {
            let mut depth = 0usize;
            for (at, byte) in bytes.iter().enumerate() {
                match byte {
                    b'{' => {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            return Some(at);
                        }
                    }
                    b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            None
        }
        // A fixed pseudo-random walk, so a failure repeats.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for len in [0, 1, 63, 64, 65, 127, 128, 129, 300, 1000] {
            for _ in 0..200 {
                // Between 1 and 4 in 8 bytes open, 2 in 8 close.
                let opens = 1 + next() % 4;
                let text: Vec<u8> = (0..len)
                    .map(|_| match next() % 8 {
                        it if it < opens => b'{',
                        it if it < opens + 2 => b'}',
                        _ => b'x',
                    })
                    .collect();
                assert_eq!(
                    too_deep_raw(&text, 0).err(),
                    byte_by_byte(&text),
                    "{text:?}"
                );
            }
        }
        let mut deep = "}".repeat(70);
        deep.push_str(&"{".repeat(65));
        assert_eq!(too_deep_raw(deep.as_bytes(), 0), Err(134));
    }
}
