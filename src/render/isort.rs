//! The `isort` template filter: turns a block of import lines, in any order and with duplicates,
//! into what `ruff check --select I` and `ruff format` accept (sections, order-by-type members,
//! merged `from` imports, wrapping at 100 columns). Formats imports only; never other code.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// Line length of the generated project (`[tool.ruff] line-length`).
const LINE_LENGTH: usize = 100;

/// Standard-library top-level modules (CPython's `sys.stdlib_module_names`, public ones, sorted);
/// anything else that is not the project's package is third-party.
const STDLIB: &[&str] = &[
    "abc",
    "aifc",
    "argparse",
    "array",
    "ast",
    "asynchat",
    "asyncio",
    "asyncore",
    "atexit",
    "audioop",
    "base64",
    "bdb",
    "binascii",
    "bisect",
    "builtins",
    "bz2",
    "cProfile",
    "calendar",
    "cgi",
    "cgitb",
    "chunk",
    "cmath",
    "cmd",
    "code",
    "codecs",
    "codeop",
    "collections",
    "colorsys",
    "compileall",
    "concurrent",
    "configparser",
    "contextlib",
    "contextvars",
    "copy",
    "copyreg",
    "crypt",
    "csv",
    "ctypes",
    "curses",
    "dataclasses",
    "datetime",
    "dbm",
    "decimal",
    "difflib",
    "dis",
    "distutils",
    "doctest",
    "email",
    "encodings",
    "ensurepip",
    "enum",
    "errno",
    "faulthandler",
    "fcntl",
    "filecmp",
    "fileinput",
    "fnmatch",
    "fractions",
    "ftplib",
    "functools",
    "gc",
    "genericpath",
    "getopt",
    "getpass",
    "gettext",
    "glob",
    "graphlib",
    "grp",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http",
    "imaplib",
    "imghdr",
    "imp",
    "importlib",
    "inspect",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "keyword",
    "linecache",
    "locale",
    "logging",
    "lzma",
    "mailbox",
    "mailcap",
    "marshal",
    "math",
    "mimetypes",
    "mmap",
    "modulefinder",
    "msilib",
    "msvcrt",
    "multiprocessing",
    "netrc",
    "nis",
    "nntplib",
    "nt",
    "ntpath",
    "nturl2path",
    "numbers",
    "opcode",
    "operator",
    "optparse",
    "os",
    "ossaudiodev",
    "pathlib",
    "pdb",
    "pickle",
    "pickletools",
    "pipes",
    "pkgutil",
    "platform",
    "plistlib",
    "poplib",
    "posix",
    "posixpath",
    "pprint",
    "profile",
    "pstats",
    "pty",
    "pwd",
    "py_compile",
    "pyclbr",
    "pydoc",
    "pydoc_data",
    "pyexpat",
    "queue",
    "quopri",
    "random",
    "re",
    "readline",
    "reprlib",
    "resource",
    "rlcompleter",
    "runpy",
    "sched",
    "secrets",
    "select",
    "selectors",
    "shelve",
    "shlex",
    "shutil",
    "signal",
    "site",
    "smtpd",
    "smtplib",
    "sndhdr",
    "socket",
    "socketserver",
    "spwd",
    "sqlite3",
    "sre_compile",
    "sre_constants",
    "sre_parse",
    "ssl",
    "stat",
    "statistics",
    "string",
    "stringprep",
    "struct",
    "subprocess",
    "sunau",
    "symtable",
    "sys",
    "sysconfig",
    "syslog",
    "tabnanny",
    "tarfile",
    "telnetlib",
    "tempfile",
    "termios",
    "textwrap",
    "threading",
    "time",
    "timeit",
    "tkinter",
    "token",
    "tokenize",
    "tomllib",
    "trace",
    "traceback",
    "tracemalloc",
    "tty",
    "turtle",
    "types",
    "typing",
    "unicodedata",
    "unittest",
    "urllib",
    "uu",
    "uuid",
    "venv",
    "warnings",
    "wave",
    "weakref",
    "webbrowser",
    "winreg",
    "winsound",
    "wsgiref",
    "xdrlib",
    "xml",
    "xmlrpc",
    "zipapp",
    "zipfile",
    "zipimport",
    "zlib",
    "zoneinfo",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Future,
    Stdlib,
    ThirdParty,
    FirstParty,
}

#[derive(Default)]
struct Imports {
    /// `import x`, by section.
    plain: BTreeMap<Section, BTreeSet<String>>,
    /// `from x import a, b`, by section then module.
    from: BTreeMap<Section, BTreeMap<String, BTreeSet<String>>>,
}

/// Sorts and merges the import lines of `block` (one `import x` or `from x import a, b` per line;
/// blank lines ignored). `first_party` is the project's package. The block's indentation is
/// that of its first non-blank line. Lines that are not imports are an error.
pub(super) fn isort(block: &str, first_party: &str) -> Result<String, String> {
    let indent: String = block
        .lines()
        .find(|line| !line.trim().is_empty())
        .map(|line| line.chars().take_while(|c| *c == ' ').collect())
        .unwrap_or_default();
    let mut imports = Imports::default();
    for line in block.lines().map(str::trim).filter(|line| !line.is_empty()) {
        if let Some(rest) = line.strip_prefix("from ") {
            let (module, names) = rest
                .split_once(" import ")
                .ok_or_else(|| format!("not an import line: `{line}`"))?;
            let module = module.trim();
            let entry = imports
                .from
                .entry(section(module, first_party))
                .or_default()
                .entry(module.to_owned())
                .or_default();
            for name in names.split(',').map(str::trim).filter(|it| !it.is_empty()) {
                entry.insert(name.to_owned());
            }
        } else if let Some(module) = line.strip_prefix("import ") {
            let module = module.trim();
            imports
                .plain
                .entry(section(module, first_party))
                .or_default()
                .insert(module.to_owned());
        } else {
            return Err(format!("not an import line: `{line}`"));
        }
    }
    let sections: BTreeSet<Section> = imports
        .plain
        .keys()
        .chain(imports.from.keys())
        .copied()
        .collect();
    let mut groups = Vec::new();
    for section in sections {
        let mut lines = Vec::new();
        let mut plain: Vec<&String> = imports.plain.get(&section).into_iter().flatten().collect();
        plain.sort_by(|a, b| module_order(a, b));
        for module in plain {
            lines.push(format!("{indent}import {module}"));
        }
        let mut from: Vec<(&String, &BTreeSet<String>)> =
            imports.from.get(&section).into_iter().flatten().collect();
        from.sort_by(|a, b| module_order(a.0, b.0));
        for (module, names) in from {
            let mut names: Vec<&String> = names.iter().collect();
            names.sort_by(|a, b| member_order(a, b));
            let joined = names
                .iter()
                .map(|it| it.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let line = format!("{indent}from {module} import {joined}");
            if line.chars().count() <= LINE_LENGTH {
                lines.push(line);
            } else {
                lines.push(format!("{indent}from {module} import ("));
                for name in names {
                    lines.push(format!("{indent}    {name},"));
                }
                lines.push(format!("{indent})"));
            }
        }
        groups.push(lines.join("\n"));
    }
    let mut out = groups.join("\n\n");
    if block.ends_with('\n') && !out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

fn section(module: &str, first_party: &str) -> Section {
    let top = module.split('.').next().unwrap_or(module);
    if top == "__future__" {
        Section::Future
    } else if top == first_party {
        Section::FirstParty
    } else if STDLIB.binary_search(&top).is_ok() {
        Section::Stdlib
    } else {
        Section::ThirdParty
    }
}

/// Modules compare case-insensitively, segment by segment.
fn module_order(a: &str, b: &str) -> Ordering {
    let key = |it: &str| -> Vec<String> { it.split('.').map(str::to_lowercase).collect() };
    key(a).cmp(&key(b)).then_with(|| a.cmp(b))
}

/// isort's order-by-type: CONSTANTS, then Classes, then everything else; case-insensitive inside.
fn member_order(a: &str, b: &str) -> Ordering {
    let rank = |it: &str| {
        let name = it.split(" as ").next().unwrap_or(it);
        if name.len() > 1 && name.chars().all(|c| !c.is_lowercase()) {
            0
        } else if name.starts_with(|c: char| c.is_uppercase()) {
            1
        } else {
            2
        }
    };
    rank(a)
        .cmp(&rank(b))
        .then_with(|| a.to_lowercase().cmp(&b.to_lowercase()))
        .then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(block: &str, expect: &str) {
        assert_eq!(isort(block, "blog").expect("imports"), expect);
    }

    #[test]
    fn sections_members_and_merging() {
        check(
            "from blog.models.x import XInput\nimport os\nfrom restack_ai.workflow import workflow\n\
             from datetime import timedelta\nfrom blog.common.retries import FUNCTION_X, StepPolicy\n\
             from restack_ai.workflow import RetryPolicy, import_functions\nimport os\n",
            "import os\nfrom datetime import timedelta\n\n\
             from restack_ai.workflow import RetryPolicy, import_functions, workflow\n\n\
             from blog.common.retries import FUNCTION_X, StepPolicy\nfrom blog.models.x import XInput\n",
        );
    }

    #[test]
    fn indented_and_wrapped() {
        check(
            "    from blog.models.a_very_long_module_name_indeed import AVeryLongClassName, \
             AnotherLongClassName, third_symbol\n",
            "    from blog.models.a_very_long_module_name_indeed import (\n        \
             AnotherLongClassName,\n        AVeryLongClassName,\n        third_symbol,\n    )\n",
        );
    }

    #[test]
    fn rejects_non_imports() {
        assert!(isort("x = 1\n", "blog").is_err());
    }
}
