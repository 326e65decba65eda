//! Rendering of the LLM router, tool servers and prompt registry for project variants beyond the
//! blog example: several tool servers (stdio, http, sse), the Kong backend, several prompts and
//! versions, and a single-provider router without fallback. With `--ignored`, each generated
//! project must pass `ruff check`, `ruff format --check` and `pytest` in the pinned venv.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use restack::ir::{
    Backend, CircuitBreaker, Fallback, Field, Fingerprint, Llm, Millis, Names, Origin, Project,
    Prompt, Provider, Tool, ToolServer, Transport, Type,
};
use restack::render::{self, FileSet, Kind, testing};

fn origin(entity: &str) -> Origin {
    Origin {
        entity: entity.to_owned(),
        span: (0, 0),
    }
}

fn names(declared: &str, module: &str) -> Names {
    Names {
        declared: declared.to_owned(),
        class: declared.to_owned(),
        module: module.to_owned(),
    }
}

fn param(name: &str, ty: Type) -> Field {
    Field {
        name: name.to_owned(),
        ty,
        default: None,
    }
}

fn tool(name: &str, doc: Option<&str>, params: Vec<Field>, returns: Type) -> Tool {
    Tool {
        name: name.to_owned(),
        doc: doc.map(str::to_owned),
        params,
        returns,
    }
}

fn server(
    declared: &str,
    module: &str,
    transport: Transport,
    autostart: bool,
    tools: Vec<Tool>,
) -> ToolServer {
    ToolServer {
        names: names(declared, module),
        doc: None,
        transport,
        autostart,
        tools,
        origin: origin(&format!("tool-server \"{declared}\"")),
        fingerprint: Fingerprint::default(),
    }
}

fn provider(name: &str, model: &str, key_env: &str, priority: u32) -> Provider {
    Provider {
        name: name.to_owned(),
        model: model.to_owned(),
        key_env: key_env.to_owned(),
        priority,
    }
}

fn prompt(name: &str, version: &str, vars: &[&str], text: &str) -> Prompt {
    Prompt {
        name: name.to_owned(),
        version: version.to_owned(),
        vars: vars.iter().map(|it| (*it).to_owned()).collect(),
        text: text.to_owned(),
        origin: origin(&format!("prompt \"{name}\"")),
    }
}

fn list(ty: Type) -> Type {
    Type::List(Box::new(ty))
}

/// The blog project with three tool servers over every transport, the Kong gateway in front of
/// three providers (no fallback on timeout), and several prompts with several versions.
fn gateway() -> Project {
    let mut project = testing::blog();
    project.tool_servers = gateway_servers().into_iter().map(Arc::new).collect();
    project.llm = Some(gateway_llm());
    project.prompts = gateway_prompts();
    project
}

fn gateway_servers() -> Vec<ToolServer> {
    let long_doc = "Look up documents in the team's knowledge base and return the best matches, \
                    ranked by relevance. The \"query\" is free text; `limit` caps the number of \
                    results.\nA second paragraph with a backslash \\ in it.";
    vec![
        server(
            "Files",
            "files",
            Transport::Sse,
            false,
            vec![
                tool(
                    "read_bytes",
                    Some("Read a file."),
                    vec![param("path", Type::Str)],
                    Type::Bytes,
                ),
                tool(
                    "stat",
                    None,
                    vec![param("path", Type::Str)],
                    Type::Dict(Box::new(Type::Any)),
                ),
            ],
        ),
        server(
            "Research",
            "research",
            Transport::Stdio,
            true,
            vec![
                tool(
                    "web_search",
                    Some("Search the web."),
                    vec![param("query", Type::Str)],
                    list(Type::Str),
                ),
                tool(
                    "extract_urls",
                    None,
                    vec![param("text", Type::Str)],
                    list(Type::Str),
                ),
            ],
        ),
        server(
            "Search",
            "search",
            Transport::Http,
            true,
            vec![
                tool(
                    "lookup_documents_in_the_knowledge_base",
                    Some(long_doc),
                    vec![
                        param("query", Type::Str),
                        param("limit", Type::Int),
                        param("minimum_relevance_score", Type::Float),
                        param("include_archived_documents", Type::Bool),
                        param("tags", Type::Optional(Box::new(list(Type::Str)))),
                    ],
                    list(Type::Dict(Box::new(Type::Any))),
                ),
                tool(
                    "count_words",
                    None,
                    vec![param("text", Type::Str)],
                    Type::Int,
                ),
                tool("ping", None, Vec::new(), Type::Bool),
                tool(
                    "main",
                    Some("A tool named like the entry point."),
                    Vec::new(),
                    Type::Str,
                ),
                tool(
                    "normalize",
                    Some("Echo a maybe-missing value."),
                    vec![param("value", Type::Optional(Box::new(Type::Str)))],
                    Type::Optional(Box::new(Type::Str)),
                ),
            ],
        ),
    ]
}

fn gateway_llm() -> Llm {
    Llm {
        backend: Backend::Kong {
            url: "http://kong.internal:8000/ai/chat".to_owned(),
            key_env: "KONG_API_KEY".to_owned(),
        },
        providers: vec![
            provider("openai", "gpt-4o-mini", "OPENAI_API_KEY", 1),
            provider(
                "anthropic",
                "claude-3-5-haiku-latest",
                "ANTHROPIC_API_KEY",
                2,
            ),
            provider("mistral", "mistral-small-latest", "MISTRAL_API_KEY", 3),
        ],
        fallback: vec![Fallback::ServerError, Fallback::RateLimit],
        circuit_breaker: CircuitBreaker {
            failures: 2,
            cooldown: Millis(1_500),
        },
        origin: origin("llm"),
    }
}

fn gateway_prompts() -> Vec<Prompt> {
    vec![
        prompt("greet", "0.1.0", &[], "Say hello to the team."),
        prompt(
            "outline",
            "2.0.0",
            &["topic", "audience", "sections"],
            "You are an editor for a technical blog. Write an outline for an article about \
             {{ topic }} aimed at {{audience}}, with exactly {{ sections }} sections.\n\
             Each section gets a \"title\" and one sentence; avoid the backslash \\ character.",
        ),
        prompt(
            "summarize",
            "1.0.0",
            &["article", "sentences"],
            "Summarize in {{ sentences }} sentences:\n{{ article }}",
        ),
        prompt(
            "summarize",
            "1.10.0",
            &["article"],
            "Summarize briefly:\n{{ article }}",
        ),
        prompt(
            "summarize",
            "1.9.0",
            &["article", "tone"],
            "Summarize in a {{ tone }} tone:\n{{ article }}",
        ),
    ]
}

/// A single direct provider without a default base URL, fallback on timeout only (there is no
/// next provider), and no tool servers.
fn solo() -> Project {
    let mut project = testing::blog();
    project.tool_servers = Vec::new();
    for agent in &mut project.agents {
        Arc::make_mut(agent).tools = Vec::new();
    }
    project.llm = Some(Llm {
        backend: Backend::Direct,
        providers: vec![provider("local-llm", "llama3.2", "LOCAL_LLM_KEY", 1)],
        fallback: vec![Fallback::Timeout],
        circuit_breaker: CircuitBreaker {
            failures: 1,
            cooldown: Millis(250),
        },
        origin: origin("llm"),
    });
    project.prompts = vec![prompt("only", "1", &["x"], "{{x}}")];
    project
}

fn render_project(project: &Project) -> FileSet {
    match render::render(&Arc::new(project.clone())) {
        Ok(set) => set,
        Err(err) => panic!("the project renders: {err}"),
    }
}

#[test]
fn blog_renders_router_tools_and_prompts() {
    let set = render_project(&testing::blog());
    for (path, kind) in [
        ("src/blog/common/llm_router.py", Kind::Managed),
        ("config/llm_router.yaml", Kind::Managed),
        ("tests/test_llm_router.py", Kind::Scaffold),
        ("src/blog/common/tool_servers.py", Kind::Managed),
        ("config/tools.yaml", Kind::Managed),
        ("src/blog/tools/__init__.py", Kind::Managed),
        ("src/blog/tools/research.py", Kind::Scaffold),
        ("tests/test_tools_research.py", Kind::Scaffold),
        ("tests/test_tool_servers.py", Kind::Scaffold),
        ("src/blog/common/prompts.py", Kind::Managed),
        ("tests/test_prompts.py", Kind::Scaffold),
    ] {
        let file = set
            .files
            .get(path)
            .unwrap_or_else(|| panic!("`{path}` is rendered"));
        assert_eq!(file.kind, kind, "kind of `{path}`");
    }
    let registry = set.files["src/blog/registry.py"].text().expect("rendered");
    assert!(registry.contains("from blog.common.tool_servers import tool_servers_lifespan"));
    let config = set.files["config/llm_router.yaml"]
        .text()
        .expect("rendered");
    assert!(config.contains("key_env: \"OPENAI_API_KEY\""));
    let server = set.files["src/blog/tools/research.py"]
        .text()
        .expect("rendered");
    assert!(
        server
            .contains("def web_search(query: str) -> list[str]:\n    \"\"\"Search the web.\"\"\"")
    );
    assert!(!server.contains("pass\n"));
}

#[test]
fn nothing_is_rendered_without_llm_tools_or_prompts() {
    let mut project = testing::blog();
    project.llm = None;
    project.tool_servers = Vec::new();
    project.prompts = Vec::new();
    for agent in &mut project.agents {
        let agent = Arc::make_mut(agent);
        agent.tools = Vec::new();
        agent.llm = false;
    }
    let set = render_project(&project);
    for path in set.files.keys() {
        assert!(
            !path.contains("llm_router") && !path.contains("tool") && !path.contains("prompts"),
            "`{path}` is rendered without an llm, tool-server or prompt block"
        );
    }
    assert!(
        !set.files["src/blog/registry.py"]
            .text()
            .expect("rendered")
            .contains("tool_servers_lifespan")
    );
}

#[test]
fn variants_render_deterministically() {
    for project in [gateway(), solo()] {
        assert_eq!(render_project(&project), render_project(&project));
    }
    let set = render_project(&gateway());
    let tools = set.files["config/tools.yaml"].text().expect("rendered");
    assert!(tools.contains("transport: sse"));
    assert!(tools.contains("transport: http"));
    assert!(
        set.files["config/llm_router.yaml"]
            .text()
            .expect("rendered")
            .contains("backend: kong")
    );
}

fn venv() -> PathBuf {
    std::env::var_os("RESTACK_VENV").map_or_else(|| PathBuf::from("/work/venv"), PathBuf::from)
}

fn write_file_set(set: &FileSet, root: &Path) {
    for (path, file) in &set.files {
        let target = root.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).expect("create directory");
        }
        #[expect(
            clippy::disallowed_methods,
            reason = "test fixture output, not an apply"
        )]
        std::fs::write(&target, file.text().expect("rendered")).expect("write file");
    }
}

fn run(root: &Path, program: &Path, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(root)
        .env("PATH", venv().join("bin"))
        .output()
        .unwrap_or_else(|err| panic!("run `{}`: {err}", program.display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "`{} {}` failed in {}:\n{stdout}\n{}",
        program.display(),
        args.join(" "),
        root.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Renders `project`, then runs the generated project's gate; nothing may be skipped.
fn gate(name: &str, project: &Project) {
    let keep = std::env::var_os("RESTACK_RENDER_OUT").map(|it| PathBuf::from(it).join(name));
    let temp = tempfile::tempdir().expect("temp dir");
    let root = keep.unwrap_or_else(|| temp.path().to_path_buf());
    write_file_set(&render_project(project), &root);
    let bin = venv().join("bin");
    run(&root, &bin.join("ruff"), &["check", "--no-cache", "."]);
    run(
        &root,
        &bin.join("ruff"),
        &["format", "--check", "--no-cache", "."],
    );
    let report = run(
        &root,
        &bin.join("python"),
        &["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"],
    );
    assert!(!report.contains("skipped"), "nothing is skipped:\n{report}");
}

/// Needs the pinned venv (`RESTACK_VENV`, default `/work/venv`): `cargo test --test render_llm --
/// --ignored`. `RESTACK_RENDER_OUT=DIR` keeps the projects in DIR/<variant>.
#[test]
#[ignore = "needs the pinned Python venv; run with --ignored"]
fn gateway_variant_passes_ruff_and_pytest() {
    gate("gateway", &gateway());
}

#[test]
#[ignore = "needs the pinned Python venv; run with --ignored"]
fn solo_variant_passes_ruff_and_pytest() {
    gate("solo", &solo());
}
