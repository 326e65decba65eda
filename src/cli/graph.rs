//! `restack graph NAME [--format mermaid|dot|ascii]`: print a pipeline's graph.

use std::collections::BTreeMap;

use crate::cli::GlobalArgs;
use crate::cli::args::GraphFormat;
use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;
use crate::cli::session;
use crate::operators;

/// Exit 0 with the graph on stdout; 1 when the manifest is invalid or has no such pipeline.
pub(crate) fn graph(
    global: &GlobalArgs,
    printer: &Printer,
    name: &str,
    format: GraphFormat,
) -> ExitStatus {
    let loaded = match session::load(global, printer) {
        Ok(loaded) => loaded,
        Err(status) => return status,
    };
    let Some(project) = loaded.analysis.project else {
        printer.err(&format!("{}: invalid; no graph\n", loaded.name));
        return ExitStatus::Failure;
    };
    let Some(pipeline) = project
        .pipelines
        .iter()
        .find(|it| it.names.declared == name || it.names.module == name)
    else {
        let declared: Vec<&str> = project
            .pipelines
            .iter()
            .map(|it| it.names.declared.as_str())
            .collect();
        let hint = match crate::manifest::names::did_you_mean(name, declared.iter().copied()) {
            Some(close) => format!("; did you mean `{close}`?"),
            None if declared.is_empty() => "; the manifest declares no pipeline".to_owned(),
            None => format!(
                "; the pipelines are {}",
                declared
                    .iter()
                    .map(|it| format!("`{it}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        printer.error(&format!("unknown pipeline `{name}`{hint}"));
        return ExitStatus::Failure;
    };
    let when: BTreeMap<String, String> = pipeline
        .steps
        .iter()
        .filter_map(|step| Some((step.names.declared.clone(), step.condition.clone()?)))
        .collect();
    let lowered = operators::lower(
        &pipeline.names.declared,
        &pipeline.tree,
        pipeline.max_loops,
        &when,
    );
    printer.out(&match format {
        GraphFormat::Mermaid => lowered.to_mermaid(),
        GraphFormat::Dot => lowered.to_dot(),
        GraphFormat::Ascii => lowered.to_ascii(),
    });
    ExitStatus::Success
}
