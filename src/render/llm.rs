//! LLM router, FastMCP tool servers (and their manager) and the prompt registry: the outputs of
//! the `llm`, `tool-server` and `prompt` blocks, with the contexts their templates read. Renders
//! nothing for a project without those blocks; must not render core or pipeline files.

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde::Serialize;

use crate::ir::{self, Backend, Fallback, Transport, Type};
use std::sync::Arc;

use crate::render::group::Group;
use crate::render::{Output, Registration, Role};

/// `(name, include_str!(templates/name))`.
macro_rules! template {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $name)),
        )
    };
}

/// Embedded templates of this area: `(name, source)`.
pub(super) const TEMPLATES: &[(&str, &str)] = &[
    template!("llm/llm_router.py.j2"),
    template!("llm/llm_router.yaml.j2"),
    template!("llm/test_llm_router.py.j2"),
    template!("tools/tool_servers.py.j2"),
    template!("tools/tools.yaml.j2"),
    template!("tools/server.py.j2"),
    template!("tools/test_server.py.j2"),
    template!("tools/test_tool_servers.py.j2"),
    template!("prompts/prompts.py.j2"),
    template!("prompts/test_prompts.py.j2"),
];

/// Module-level names of a tool server file that a tool function must not rebind.
const RESERVED_IN_SERVER: &[&str] = &["main", "mcp", "serve"];

/// `[tool.ruff] line-length` of the generated project.
const LINE_LENGTH: usize = 100;
/// First port given to `http`/`sse` tool servers, in the order of `project.tool_servers`.
const FIRST_TOOL_PORT: usize = 8100;

/// The files this area renders: the tool servers' files in groups made from declared inputs
/// (see [`tool_groups`]), every other file alone.
pub(super) fn groups(project: &ir::Project) -> Vec<Group<'_>> {
    fn alone(outputs: Vec<Output<'_>>) -> impl Iterator<Item = Group<'_>> {
        outputs.into_iter().map(|output| Group::ready(vec![output]))
    }
    let mut out = Vec::new();
    if let Some(llm) = &project.llm {
        out.extend(alone(llm_outputs(project, llm)));
    }
    if !project.tool_servers.is_empty() {
        out.extend(tool_groups(project));
    }
    if !project.prompts.is_empty() {
        out.extend(alone(prompt_outputs(project)));
    }
    out
}

/// What this area's registrations are made of: the package, when there are tool servers
/// ([`registrations`] reads nothing else).
#[derive(Serialize)]
pub(super) struct RegistrationInputs<'a> {
    tool_servers: Option<&'a str>,
}

impl<'a> RegistrationInputs<'a> {
    pub(super) fn of(project: &'a ir::Project) -> Self {
        RegistrationInputs {
            tool_servers: (!project.tool_servers.is_empty()).then_some(project.package.as_str()),
        }
    }
}

/// The symbols this area asks the service to register: the tool servers' lifespan.
pub(super) fn registrations(inputs: &RegistrationInputs<'_>) -> Vec<Registration> {
    let Some(package) = inputs.tool_servers else {
        return Vec::new();
    };
    vec![Registration::new(
        Role::Lifespan,
        format!("{package}.common.tool_servers"),
        "tool_servers_lifespan",
    )]
}

// ---------------------------------------------------------------------------------------------
// LLM router

/// The wire format of a provider's API.
fn provider_api(name: &str) -> &'static str {
    if name == "anthropic" {
        "anthropic"
    } else {
        "openai"
    }
}

/// Default base URL of well-known providers; others get theirs from the environment.
fn provider_base_url(name: &str) -> &'static str {
    match name {
        "openai" => "https://api.openai.com/v1",
        "anthropic" => "https://api.anthropic.com/v1",
        "mistral" => "https://api.mistral.ai/v1",
        "groq" => "https://api.groq.com/openai/v1",
        "deepseek" => "https://api.deepseek.com/v1",
        "together" => "https://api.together.xyz/v1",
        "openrouter" => "https://openrouter.ai/api/v1",
        "ollama" => "http://localhost:11434/v1",
        _ => "",
    }
}

/// An environment variable of the generated project: `BLOG_LLM_OPENAI_BASE_URL`.
fn env_name(package: &str, parts: &[&str]) -> String {
    std::iter::once(package)
        .chain(parts.iter().copied())
        .map(|part| part.to_uppercase().replace('-', "_"))
        .collect::<Vec<_>>()
        .join("_")
}

/// A Python string literal as `ruff format` writes it: double quotes, unless the text holds more
/// double than single quotes.
fn python_string(value: &str) -> String {
    let double = value.matches('"').count();
    let single = value.matches('\'').count();
    let literal = ir::python_string(value);
    if double <= single {
        return literal;
    }
    let inner = &literal[1..literal.len() - 1];
    format!("'{}'", inner.replace("\\\"", "\"").replace('\'', "\\'"))
}

/// A YAML scalar for any string: a JSON string is a valid double-quoted YAML scalar.
fn yaml_string(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| python_string(value))
}

fn fallback_name(fallback: Fallback) -> &'static str {
    match fallback {
        Fallback::Timeout => "timeout",
        Fallback::ServerError => "5xx",
        Fallback::RateLimit => "rate-limit",
    }
}

/// Seconds as a YAML/Python float (`60.0`, `0.5`).
fn seconds(millis: ir::Millis) -> String {
    let whole = millis.0 / 1000;
    let fraction = millis.0 % 1000;
    if fraction == 0 {
        format!("{whole}.0")
    } else {
        format!("{whole}.{fraction:03}")
            .trim_end_matches('0')
            .to_owned()
    }
}

#[derive(Serialize)]
struct RouterYaml {
    backend: &'static str,
    kong: Option<KongYaml>,
    providers: Vec<ProviderYaml>,
    fallback: Vec<&'static str>,
    failures: u32,
    cooldown: String,
}

#[derive(Serialize)]
struct KongYaml {
    url: String,
    key_env: String,
}

#[derive(Serialize)]
struct ProviderYaml {
    name: String,
    api: &'static str,
    model: String,
    key_env: String,
    priority: u32,
    base_url: String,
}

#[derive(Serialize)]
struct KongTest {
    key_env: String,
    url_env: String,
}

/// One fallback condition as the router test exercises it.
#[derive(Serialize)]
struct FallbackCase {
    /// Python identifier part: `5xx`, `rate_limit`, `timeout`.
    slug: &'static str,
    /// The kind the router reports: `5xx`, `rate-limit`, `timeout`.
    kind: &'static str,
    /// The stub's scripted reply.
    reply: &'static str,
    declared: bool,
    /// Declared and there is a next provider to fall back to.
    falls_back: bool,
}

/// The context of `config/llm_router.yaml`: every string already a YAML scalar.
fn router_yaml(llm: &ir::Llm, kong: Option<(&String, &String)>) -> RouterYaml {
    RouterYaml {
        backend: if kong.is_some() { "kong" } else { "direct" },
        kong: kong.map(|(url, key_env)| KongYaml {
            url: yaml_string(url),
            key_env: yaml_string(key_env),
        }),
        providers: llm
            .providers
            .iter()
            .map(|provider| ProviderYaml {
                name: yaml_string(&provider.name),
                api: provider_api(&provider.name),
                model: yaml_string(&provider.model),
                key_env: yaml_string(&provider.key_env),
                priority: provider.priority,
                base_url: yaml_string(provider_base_url(&provider.name)),
            })
            .collect(),
        fallback: llm.fallback.iter().map(|it| fallback_name(*it)).collect(),
        failures: llm.circuit_breaker.failures,
        cooldown: seconds(llm.circuit_breaker.cooldown),
    }
}

fn llm_outputs<'a>(project: &'a ir::Project, llm: &'a ir::Llm) -> Vec<Output<'a>> {
    let package = &project.package;
    let origin = &llm.origin;
    let kong = match &llm.backend {
        Backend::Direct => None,
        Backend::Kong { url, key_env } => Some((url, key_env)),
    };
    let router = router_yaml(llm, kong);

    let several = llm.providers.len() > 1;
    let declared = |fallback: Fallback| llm.fallback.contains(&fallback);
    let cases: Vec<FallbackCase> = [
        (Fallback::ServerError, "5xx", "Reply(status=503)"),
        (Fallback::RateLimit, "rate_limit", "Reply(status=429)"),
        (Fallback::Timeout, "timeout", "Reply(delay=1.5)"),
    ]
    .into_iter()
    .map(|(fallback, slug, reply)| FallbackCase {
        slug,
        kind: fallback_name(fallback),
        reply,
        declared: declared(fallback),
        falls_back: declared(fallback) && several,
    })
    .collect();
    let all_fail = if declared(Fallback::ServerError) {
        Some(500)
    } else if declared(Fallback::RateLimit) {
        Some(429)
    } else {
        None
    };
    let mut fallback_names: Vec<&str> = llm.fallback.iter().map(|it| fallback_name(*it)).collect();
    fallback_names.sort_unstable();
    fallback_names.dedup();
    let fallback_set = if fallback_names.is_empty() {
        "frozenset()".to_owned()
    } else {
        let items: Vec<String> = fallback_names.iter().map(|it| python_string(it)).collect();
        format!("{{{}}}", items.join(", "))
    };
    let providers = Py::List(llm.providers.iter().map(|it| Py::str(&it.name)).collect());
    let by_provider = |value: &dyn Fn(&ir::Provider) -> String| {
        Py::Dict(
            llm.providers
                .iter()
                .map(|it| (python_string(&it.name), Py::str(&value(it))))
                .collect(),
        )
    };
    let paths = by_provider(&|it| match kong {
        Some(_) => "/kong".to_owned(),
        None if provider_api(&it.name) == "anthropic" => format!("/{}/messages", it.name),
        None => format!("/{}/chat/completions", it.name),
    });
    let first_api = llm
        .providers
        .first()
        .map_or("openai", |it| provider_api(&it.name));

    vec![
        Output::managed(
            format!("src/{package}/common/llm_router.py"),
            "llm/llm_router.py.j2",
            origin,
        ),
        Output::managed("config/llm_router.yaml", "llm/llm_router.yaml.j2", origin)
            .with("router", router),
        Output::scaffold(
            "tests/test_llm_router.py",
            "llm/test_llm_router.py.j2",
            origin,
        )
        .with(
            "kong",
            kong.map(|(_, key_env)| KongTest {
                key_env: key_env.clone(),
                url_env: env_name(package, &["LLM", "KONG", "URL"]),
            }),
        )
        .with("providers", providers.render(0))
        .with("models", by_provider(&|it| it.model.clone()).render(0))
        .with("paths", paths.render(0))
        .with("key_envs", by_provider(&|it| it.key_env.clone()).render(0))
        .with(
            "base_url_envs",
            by_provider(&|it| env_name(package, &["LLM", &it.name, "BASE_URL"])).render(0),
        )
        .with("timeout_env", env_name(package, &["LLM", "TIMEOUT"]))
        .with("first_api", first_api)
        .with("fallback_set", fallback_set)
        .with("failures", llm.circuit_breaker.failures)
        .with("cooldown", seconds(llm.circuit_breaker.cooldown))
        .with("cases", cases)
        .with("all_fail", all_fail)
        .with("several", several)
        .with("falls_back_5xx", declared(Fallback::ServerError) && several),
    ]
}

// ---------------------------------------------------------------------------------------------
// Tool servers

#[derive(Clone, Serialize)]
struct ServerCtx {
    declared: String,
    module: String,
    /// `blog.tools.research`.
    module_path: String,
    transport: &'static str,
    autostart: bool,
    port: usize,
    path: &'static str,
    uses_any: bool,
    tools: Vec<ToolCtx>,
    /// Exploded Python list of the tool names, sorted.
    tool_names: String,
    /// Exploded Python dict: tool -> sample arguments.
    arguments: String,
}

#[derive(Clone, Serialize)]
struct ToolCtx {
    name: String,
    /// `@mcp.tool`, or `@mcp.tool(name="main")` when the function had to be renamed.
    decorator: String,
    /// The whole `def` line(s), formatted as `ruff format` would.
    signature: String,
    /// The docstring, indented for the function body, quotes included.
    docstring: String,
    /// The default return expression of the scaffold.
    body: String,
    /// What the in-memory test asserts about `data`, if anything.
    check: Option<String>,
}

fn transport_name(transport: Transport) -> &'static str {
    match transport {
        Transport::Stdio => "stdio",
        Transport::Http => "http",
        Transport::Sse => "sse",
    }
}

/// The tool servers' files: the project-wide ones as one group, made from the package and
/// every server, and each server's as one group, made from the package, the server and its
/// index (its port).
fn tool_groups(project: &ir::Project) -> Vec<Group<'_>> {
    let package = &project.package;
    let mut groups = vec![Group::made(
        "tool servers",
        &project.origin,
        (
            &project.origin,
            package.clone(),
            project.tool_servers.iter().collect::<Vec<_>>(),
        ),
        |(origin, package, servers)| tool_outputs(origin, &package, &servers),
    )];
    groups.extend(
        project
            .tool_servers
            .iter()
            .enumerate()
            .map(|(index, server)| {
                Group::made(
                    "tool server",
                    &server.origin,
                    (package.clone(), index, server),
                    |(package, index, server)| server_outputs(&package, index, server),
                )
            }),
    );
    groups
}

/// The project-wide files of the tool servers.
fn tool_outputs<'a>(
    origin: &'a ir::Origin,
    package: &str,
    declared: &[&'a Arc<ir::ToolServer>],
) -> Vec<Output<'a>> {
    let servers: Arc<[ServerCtx]> = declared
        .iter()
        .enumerate()
        .map(|(index, server)| server_ctx(package, index, server))
        .collect();
    let expected = Py::Dict(
        servers
            .iter()
            .map(|server| {
                let mut names: Vec<&str> = server.tools.iter().map(|it| it.name.as_str()).collect();
                names.sort_unstable();
                (
                    python_string(&server.declared),
                    Py::Dict(vec![
                        (python_string("transport"), Py::str(server.transport)),
                        (python_string("module"), Py::str(&server.module_path)),
                        (
                            python_string("autostart"),
                            Py::Raw(if server.autostart { "True" } else { "False" }.to_owned()),
                        ),
                        (
                            python_string("tools"),
                            Py::List(names.into_iter().map(Py::str).collect()),
                        ),
                    ]),
                )
            })
            .collect(),
    );
    let calls = Py::Dict(
        declared
            .iter()
            .filter_map(|server| {
                let tool = server.tools.first()?;
                Some((
                    python_string(&server.names.declared),
                    Py::Tuple(vec![Py::str(&tool.name), sample_arguments(tool)]),
                ))
            })
            .collect(),
    );

    let out = vec![
        Output::managed(
            format!("src/{package}/common/tool_servers.py"),
            "tools/tool_servers.py.j2",
            origin,
        ),
        Output::managed("config/tools.yaml", "tools/tools.yaml.j2", origin)
            .with("servers", Arc::clone(&servers)),
        Output::managed(
            format!("src/{package}/tools/__init__.py"),
            "core/subpackage_init.py.j2",
            origin,
        )
        .with(
            "doc",
            "Tool servers: FastMCP servers declared with `tool-server`.",
        ),
        Output::scaffold(
            "tests/test_tool_servers.py",
            "tools/test_tool_servers.py.j2",
            origin,
        )
        .with("expected", expected.render(0))
        .with("calls", calls.render(0))
        .with("servers", Arc::clone(&servers)),
    ];
    out
}

/// The files of one tool server, the `index`th.
fn server_outputs<'a>(
    package: &str,
    index: usize,
    server: &'a Arc<ir::ToolServer>,
) -> Vec<Output<'a>> {
    let ctx = Arc::new(server_ctx(package, index, server));
    let module = &server.names.module;
    vec![
        Output::scaffold(
            format!("src/{package}/tools/{module}.py"),
            "tools/server.py.j2",
            &server.origin,
        )
        .with_arc("server", Arc::clone(&ctx)),
        Output::scaffold(
            format!("tests/test_tools_{module}.py"),
            "tools/test_server.py.j2",
            &server.origin,
        )
        .with_arc("server", ctx),
    ]
}

fn server_ctx(package: &str, index: usize, server: &ir::ToolServer) -> ServerCtx {
    let mut names: Vec<&str> = server.tools.iter().map(|it| it.name.as_str()).collect();
    names.sort_unstable();
    ServerCtx {
        declared: server.names.declared.clone(),
        module: server.names.module.clone(),
        module_path: format!("{package}.tools.{}", server.names.module),
        transport: transport_name(server.transport),
        autostart: server.autostart,
        port: FIRST_TOOL_PORT + index,
        path: if server.transport == Transport::Sse {
            "/sse"
        } else {
            "/mcp"
        },
        uses_any: server
            .tools
            .iter()
            .any(|tool| tool.returns.uses_any() || tool.params.iter().any(|it| it.ty.uses_any())),
        tools: server
            .tools
            .iter()
            .map(|tool| tool_ctx(&server.names.declared, tool))
            .collect(),
        tool_names: Py::List(names.into_iter().map(Py::str).collect()).render(0),
        arguments: Py::Dict(
            server
                .tools
                .iter()
                .map(|tool| (python_string(&tool.name), sample_arguments(tool)))
                .collect(),
        )
        .render(0),
    }
}

fn tool_ctx(server: &str, tool: &ir::Tool) -> ToolCtx {
    let params: Vec<String> = tool
        .params
        .iter()
        .map(|it| format!("{}: {}", it.name, it.ty.python()))
        .collect();
    let returns = tool.returns.python();
    // A tool named like a module-level name of the server file gets a suffixed function and
    // keeps its MCP name through the decorator.
    let (function, decorator) = if RESERVED_IN_SERVER.contains(&tool.name.as_str()) {
        (
            format!("{}_tool", tool.name),
            format!("@mcp.tool(name={})", python_string(&tool.name)),
        )
    } else {
        (tool.name.clone(), "@mcp.tool".to_owned())
    };
    let one_line = format!("def {function}({}) -> {returns}:", params.join(", "));
    let signature = if one_line.chars().count() <= LINE_LENGTH || params.is_empty() {
        one_line
    } else {
        let mut text = format!("def {function}(\n");
        for param in &params {
            let _ = writeln!(text, "    {param},");
        }
        let _ = write!(text, ") -> {returns}:");
        text
    };
    let doc = tool
        .doc
        .clone()
        .unwrap_or_else(|| format!("Tool `{}` of the `{server}` server.", tool.name));
    ToolCtx {
        name: tool.name.clone(),
        decorator,
        signature,
        docstring: docstring(&doc, 4),
        body: default_body(tool),
        check: type_check(&tool.returns),
    }
}

/// What a scaffolded tool returns until the user writes it: a parameter of the return type
/// (echo), a one-element list of such a parameter, or the type's zero value.
fn default_body(tool: &ir::Tool) -> String {
    if let Some(param) = tool.params.iter().find(|it| it.ty == tool.returns) {
        return param.name.clone();
    }
    if let Type::List(item) = &tool.returns
        && let Some(param) = tool.params.iter().find(|it| it.ty == **item)
    {
        return format!("[{}]", param.name);
    }
    zero(&tool.returns)
}

fn zero(ty: &Type) -> String {
    match ty {
        Type::Str => "\"\"".to_owned(),
        Type::Int => "0".to_owned(),
        Type::Float => "0.0".to_owned(),
        Type::Bool => "False".to_owned(),
        Type::Bytes => "b\"\"".to_owned(),
        Type::List(_) => "[]".to_owned(),
        Type::Dict(_) => "{}".to_owned(),
        Type::Any | Type::None | Type::Optional(_) => "None".to_owned(),
    }
}

/// The isinstance check the in-memory test makes on a tool's result, when the type has one.
fn type_check(ty: &Type) -> Option<String> {
    let class = match ty {
        Type::Str => "str",
        Type::Int => "int",
        Type::Float => "float",
        Type::Bool => "bool",
        Type::List(_) => "list",
        // fastmcp reports an empty object result as `data=None`; no type to check then.
        Type::Dict(_) | Type::Bytes | Type::Any | Type::None | Type::Optional(_) => return None,
    };
    Some(format!("isinstance(data, {class})"))
}

/// A sample value of a type, as compact Python source.
fn sample(ty: &Type) -> String {
    match ty {
        Type::Str | Type::Bytes | Type::Any => "\"example\"".to_owned(),
        Type::Int => "1".to_owned(),
        Type::Float => "1.5".to_owned(),
        Type::Bool => "True".to_owned(),
        Type::None => "None".to_owned(),
        Type::List(item) => format!("[{}]", sample(item)),
        Type::Dict(item) => format!("{{\"key\": {}}}", sample(item)),
        Type::Optional(item) => sample(item),
    }
}

fn sample_arguments(tool: &ir::Tool) -> Py {
    Py::Dict(
        tool.params
            .iter()
            .map(|it| (python_string(&it.name), Py::Raw(sample(&it.ty))))
            .collect(),
    )
}

/// A docstring (quotes included) for a body indented by `indent` spaces: one line when it fits,
/// otherwise wrapped at word boundaries with the closing quotes on their own line. Quotes and
/// backslashes are escaped so any text is safe.
fn docstring(text: &str, indent: usize) -> String {
    let escaped = text
        .trim()
        .replace('\t', "    ")
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    let pad = " ".repeat(indent);
    if !escaped.contains('\n') && indent + 6 + escaped.chars().count() <= LINE_LENGTH {
        return format!("\"\"\"{escaped}\"\"\"");
    }
    let width = LINE_LENGTH - indent;
    let mut lines: Vec<String> = Vec::new();
    for (number, paragraph) in escaped.lines().enumerate() {
        let first_width = if number == 0 { width - 3 } else { width };
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let limit = if lines.is_empty() { first_width } else { width };
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > limit {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    let mut out = String::from("\"\"\"");
    for (number, line) in lines.iter().enumerate() {
        if number > 0 {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&pad);
            }
        }
        out.push_str(line);
    }
    let _ = write!(out, "\n{pad}\"\"\"");
    out
}

// ---------------------------------------------------------------------------------------------
// Prompts

#[derive(Serialize)]
struct PromptCtx {
    name: String,
    versions: Vec<VersionCtx>,
}

#[derive(Serialize)]
struct VersionCtx {
    version: String,
    /// The `variables=(...),` keyword argument line(s), indented.
    variables: String,
    /// The `text=...,` keyword argument line(s), indented.
    text: String,
}

#[derive(Serialize)]
struct PromptRef {
    name: String,
    version: String,
}

/// Orders versions like the generated `_version_key`: split on `.`, `+`, `-`; numeric parts
/// compare as numbers and sort before textual ones.
fn compare_versions(a: &str, b: &str) -> Ordering {
    let key = |version: &str| -> Vec<(u8, String)> {
        version
            .split(['.', '+', '-'])
            .map(|part| {
                if !part.is_empty() && part.bytes().all(|it| it.is_ascii_digit()) {
                    let digits = part.trim_start_matches('0');
                    (0, format!("{digits:0>40}"))
                } else {
                    (1, part.to_owned())
                }
            })
            .collect()
    };
    key(a).cmp(&key(b))
}

fn prompt_outputs(project: &ir::Project) -> Vec<Output<'_>> {
    let package = &project.package;
    let origin = &project.origin;
    let mut names: Vec<&str> = project.prompts.iter().map(|it| it.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let grouped: Vec<(&str, Vec<&ir::Prompt>)> = names
        .into_iter()
        .map(|name| {
            let mut versions: Vec<&ir::Prompt> = project
                .prompts
                .iter()
                .filter(|it| it.name == name)
                .collect();
            versions.sort_by(|a, b| compare_versions(&a.version, &b.version));
            (name, versions)
        })
        .collect();
    let prompts: Vec<PromptCtx> = grouped
        .iter()
        .map(|(name, versions)| PromptCtx {
            name: (*name).to_owned(),
            versions: versions
                .iter()
                .map(|prompt| VersionCtx {
                    version: prompt.version.clone(),
                    variables: keyword_tuple("variables", &prompt.vars, 12),
                    text: keyword_string("text", &prompt.text, 12),
                })
                .collect(),
        })
        .collect();
    let variables = Py::Dict(
        grouped
            .iter()
            .map(|(name, versions)| {
                (
                    python_string(name),
                    Py::Dict(
                        versions
                            .iter()
                            .map(|prompt| {
                                (
                                    python_string(&prompt.version),
                                    Py::List(prompt.vars.iter().map(|it| Py::str(it)).collect()),
                                )
                            })
                            .collect(),
                    ),
                )
            })
            .collect(),
    );
    let versions = Py::Dict(
        grouped
            .iter()
            .map(|(name, versions)| {
                (
                    python_string(name),
                    Py::List(versions.iter().map(|it| Py::str(&it.version)).collect()),
                )
            })
            .collect(),
    );
    let reference = |prompt: &ir::Prompt| PromptRef {
        name: prompt.name.clone(),
        version: prompt.version.clone(),
    };
    let first = grouped
        .first()
        .and_then(|(_, versions)| versions.first().copied());
    let with_variables = grouped
        .iter()
        .flat_map(|(_, versions)| versions.iter())
        .find(|prompt| !prompt.vars.is_empty())
        .map(|prompt| reference(prompt));
    vec![
        Output::managed(
            format!("src/{package}/common/prompts.py"),
            "prompts/prompts.py.j2",
            origin,
        )
        .with("prompts", prompts),
        Output::scaffold(
            "tests/test_prompts.py",
            "prompts/test_prompts.py.j2",
            origin,
        )
        .with("variables", variables.render(0))
        .with("versions", versions.render(0))
        .with("first", first.map(reference))
        .with("with_variables", with_variables),
    ]
}

/// `name=("a", "b"),` at `indent`, exploded one item per line when it does not fit.
fn keyword_tuple(name: &str, items: &[String], indent: usize) -> String {
    let quoted: Vec<String> = items.iter().map(|it| python_string(it)).collect();
    let inline = match quoted.len() {
        0 => "()".to_owned(),
        1 => format!("({},)", quoted[0]),
        _ => format!("({})", quoted.join(", ")),
    };
    let line = format!("{name}={inline},");
    if indent + line.chars().count() <= LINE_LENGTH || quoted.len() < 2 {
        return line;
    }
    let pad = " ".repeat(indent);
    let mut out = format!("{name}=(\n");
    for item in &quoted {
        let _ = writeln!(out, "{pad}    {item},");
    }
    let _ = write!(out, "{pad}),");
    out
}

/// `name="...",` at `indent`; when too long, a parenthesized implicit concatenation of pieces
/// split after newlines and between words so each line fits.
fn keyword_string(name: &str, text: &str, indent: usize) -> String {
    let line = format!("{name}={},", python_string(text));
    if indent + line.chars().count() <= LINE_LENGTH {
        return line;
    }
    let pad = " ".repeat(indent + 4);
    // Room for a piece's contents: the line minus indent and the two quotes.
    let room = LINE_LENGTH - indent - 4 - 2;
    let mut pieces: Vec<String> = Vec::new();
    for segment in text.split_inclusive('\n') {
        let mut current = String::new();
        for word in words_keeping_placeholders(segment) {
            let candidate = format!("{current}{word}");
            if !current.is_empty() && quoted_len(&candidate) > room {
                pieces.push(std::mem::take(&mut current));
            }
            current.push_str(&word);
        }
        if !current.is_empty() {
            pieces.push(current);
        }
    }
    let mut out = format!("{name}=(\n");
    for piece in &pieces {
        let _ = writeln!(out, "{pad}{}", python_string(piece));
    }
    let _ = write!(out, "{}),", " ".repeat(indent));
    out
}

/// The words of `text`, each with its trailing space; a `{{ placeholder }}` stays one word.
fn words_keeping_placeholders(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut open = false;
    for word in text.split_inclusive(' ') {
        match words.last_mut() {
            Some(last) if open => last.push_str(word),
            _ => words.push(word.to_owned()),
        }
        if let Some(last) = words.last() {
            open = last.matches("{{").count() > last.matches("}}").count();
        }
    }
    words
}

/// Length of the contents of a Python string literal for `text`, without its quotes.
fn quoted_len(text: &str) -> usize {
    python_string(text).chars().count() - 2
}

// ---------------------------------------------------------------------------------------------
// Python literals

/// A Python literal laid out as `ruff format` keeps it: non-empty lists, dicts and tuples are
/// exploded one item per line with a trailing (magic) comma; scalars are inline.
enum Py {
    /// Python source, inline.
    Raw(String),
    List(Vec<Py>),
    /// Keys are Python source (already quoted).
    Dict(Vec<(String, Py)>),
    /// At least two items.
    Tuple(Vec<Py>),
}

impl Py {
    fn str(value: &str) -> Py {
        Py::Raw(python_string(value))
    }

    /// The literal, continuation lines indented for a value at `indent` spaces.
    fn render(&self, indent: usize) -> String {
        let pad = " ".repeat(indent + 4);
        let close = " ".repeat(indent);
        match self {
            Py::Raw(source) => source.clone(),
            Py::List(items) if items.is_empty() => "[]".to_owned(),
            Py::Dict(items) if items.is_empty() => "{}".to_owned(),
            Py::List(items) | Py::Tuple(items) => {
                let (open, end) = if matches!(self, Py::List(_)) {
                    ("[", "]")
                } else {
                    ("(", ")")
                };
                let mut out = format!("{open}\n");
                for item in items {
                    let _ = writeln!(out, "{pad}{},", item.render(indent + 4));
                }
                let _ = write!(out, "{close}{end}");
                out
            }
            Py::Dict(items) => {
                let mut out = String::from("{\n");
                for (key, value) in items {
                    let _ = writeln!(out, "{pad}{key}: {},", value.render(indent + 4));
                }
                let _ = write!(out, "{close}}}");
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_numerically() {
        let mut versions = vec!["1.10.0", "1.9.0", "1.0.0-beta", "1.0.0", "2"];
        versions.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(versions, ["1.0.0", "1.0.0-beta", "1.9.0", "1.10.0", "2"]);
    }

    #[test]
    fn literals_explode_with_magic_commas() {
        let value = Py::Dict(vec![(
            python_string("a"),
            Py::List(vec![Py::str("x"), Py::Raw("1".to_owned())]),
        )]);
        assert_eq!(
            value.render(0),
            "{\n    \"a\": [\n        \"x\",\n        1,\n    ],\n}"
        );
        assert_eq!(Py::List(Vec::new()).render(4), "[]");
    }

    #[test]
    fn long_strings_split_between_words() {
        let text = "word ".repeat(40);
        let out = keyword_string("text", &text, 12);
        assert!(out.starts_with("text=(\n"));
        // Continuation lines carry their own indentation.
        assert!(
            out.lines()
                .skip(1)
                .all(|line| line.chars().count() <= LINE_LENGTH)
        );
        assert!(out.lines().count() > 3);
        assert_eq!(keyword_string("text", "short", 12), "text=\"short\",");
        assert_eq!(
            words_keeping_placeholders("a {{ b }} c"),
            ["a ", "{{ b }} ", "c"]
        );
    }

    #[test]
    fn docstrings_escape_and_wrap() {
        assert_eq!(docstring("Say \"hi\".", 4), "\"\"\"Say \\\"hi\\\".\"\"\"");
        let long = docstring(&"word ".repeat(40), 4);
        assert!(long.ends_with("\n    \"\"\""));
        let mut lines = long.lines();
        assert!(
            lines
                .next()
                .is_some_and(|line| 4 + line.chars().count() <= LINE_LENGTH)
        );
        assert!(lines.all(|line| line.chars().count() <= LINE_LENGTH));
    }

    #[test]
    fn strings_use_the_quotes_ruff_prefers() {
        assert_eq!(python_string("a \"b\""), "'a \"b\"'");
        assert_eq!(python_string("it's \"b\""), "'it\\'s \"b\"'");
        assert_eq!(python_string("it's"), "\"it's\"");
        assert_eq!(python_string("a\\\"b"), "'a\\\\\"b'");
    }

    #[test]
    fn seconds_are_floats() {
        assert_eq!(seconds(ir::Millis(60_000)), "60.0");
        assert_eq!(seconds(ir::Millis(1_500)), "1.5");
        assert_eq!(seconds(ir::Millis(250)), "0.25");
    }
}
