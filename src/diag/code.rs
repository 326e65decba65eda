//! The stable diagnostic codes. Codes name the problem, never the fix; the fix goes in `help`.
//!
//! Adding a code: add a line here, emit it, add `tests/cases/err/<code>/restack.kdl`, and run
//! `INSTA_UPDATE=always cargo test`. `tests/tidy.rs` fails on a code without a case.

macro_rules! codes {
    ($($variant:ident = $name:literal, $summary:literal, $explanation:literal;)*) => {
        /// A stable diagnostic code (`restack explain CODE` prints its explanation).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as users see and type it, e.g. `unknown-node`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }

            /// One line saying what the problem is.
            pub fn summary(self) -> &'static str {
                match self {
                    $(Code::$variant => $summary,)*
                }
            }

            /// The long explanation printed by `restack explain`.
            pub fn explanation(self) -> &'static str {
                match self {
                    $(Code::$variant => $explanation,)*
                }
            }

            pub fn from_name(name: &str) -> Option<Code> {
                Code::ALL.iter().copied().find(|it| it.name() == name)
            }
        }
    };
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

codes! {
    // The file itself.
    NotUtf8 = "not-utf8", "the manifest is not valid UTF-8",
        "restack.kdl must be UTF-8 text. The span points at the first byte that is not part of a \
         valid UTF-8 sequence. Re-save the file as UTF-8.";
    EmptyManifest = "empty-manifest", "the manifest declares nothing",
        "The manifest is empty or holds only comments. A manifest needs at least a `project` node; \
         `restack init` writes a starter manifest.";
    KdlSyntax = "kdl-syntax", "the manifest is not valid KDL 2.0",
        "The KDL parser could not read the manifest. restack.kdl is KDL 2.0: booleans are `#true` and \
         `#false`, strings are quoted unless they are plain identifiers, and a `}` ends a node.";

    // Shape of nodes.
    UnknownNode = "unknown-node", "a node that the manifest language does not have",
        "Each block accepts a fixed set of child nodes (see docs/manifest.md). A misspelt node name is \
         reported with the closest known name.";
    UnknownProperty = "unknown-property", "a property that this node does not accept",
        "Properties are `key=value` entries. Each node accepts a fixed set of them; a misspelt key is \
         reported with the closest known key.";
    UnexpectedArgument = "unexpected-argument", "an argument that this node does not take",
        "The node was given more positional arguments than it accepts, or arguments where it takes \
         none.";
    MissingArgument = "missing-argument", "a required argument or property is missing",
        "The node needs an argument or property it was not given, e.g. `function` without a name or \
         `field` without a type.";
    WrongType = "wrong-type", "a value of the wrong kind",
        "A value has the wrong KDL type: a string where a number is needed, a number where a string \
         is needed, or a boolean written as a string.";
    DuplicateNode = "duplicate-node", "a node that may appear once appears again",
        "Nodes such as `doc`, `timeout`, `output` or `operators` describe one thing and may be given \
         once per block. The first occurrence is shown as related.";
    MissingProject = "missing-project", "the manifest has no `project` node",
        "Every manifest declares exactly one `project \"name\" { ... }` block, which names the Python \
         package and the engine settings.";
    DuplicateProject = "duplicate-project", "more than one `project` node",
        "A manifest describes one project. Split several projects into several directories, each with \
         its own restack.kdl (`restack check --workspace` checks them all).";
    MissingChildren = "missing-children", "a block that needs children has none",
        "Some nodes are only meaningful with a block of children, e.g. a `pipeline` without \
         `operators` or an `input` without fields.";

    // Names.
    InvalidEntityName = "invalid-entity-name", "an entity name that is not a PascalCase identifier",
        "Functions, workflows, agents, pipelines and tool servers are named in PascalCase \
         (`SendEmail`): an ASCII letter, then letters and digits. The name becomes a Python class; \
         its snake_case form becomes a module name.";
    InvalidIdentifier = "invalid-identifier", "a name that is not a snake_case identifier",
        "Fields, events, tools, parameters, prompt variables and prompt names are snake_case \
         identifiers (`user_id`): lowercase ASCII letters, digits and underscores, starting with a \
         letter.";
    InvalidPackageName = "invalid-package-name", "a Python package name that is not an identifier",
        "`package` must be a lowercase Python identifier (`blog`, `my_app`), because it is imported \
         as `import <package>`.";
    PathInName = "path-in-name", "a name that contains a path separator",
        "Names become file and module names inside the generated package. A name containing `/`, \
         `\\` or `..` could write outside it, so it is refused.";
    ReservedName = "reserved-name", "a name that is a Python keyword or shadows a builtin",
        "A name that would become a Python keyword (`class`), a builtin (`list`, `id`, `type`) or a \
         name that generated code relies on cannot be used, because the generated code would not \
         parse or would silently shadow it.";
    DuplicateName = "duplicate-name", "the same name is declared twice",
        "Two entities, fields, events, tools, providers or prompts share a name within the same \
         scope. The first declaration is shown as related.";
    NameCollision = "name-collision", "two names that collide after case conversion",
        "Names become Python classes (PascalCase) and modules (snake_case). `SendEmail` and \
         `Send_Email` both become `send_email.py`, so only one of them can exist.";

    // Values.
    UnknownType = "unknown-type", "a type annotation outside the supported subset",
        "Types are a checked subset of Python annotations: str int float bool bytes Any None, \
         list[T], dict[str, T] and T | None.";
    EntityModelType = "entity-model-type", "a type that names a declared entity's model",
        "Models stay local to their entity: a field cannot be typed as another entity's model. Declare \
         the fields you need, or use `dict[str, Any]`.";
    InvalidDuration = "invalid-duration", "a duration that cannot be parsed",
        "Durations are a sequence of a number and a unit, largest unit first: `500ms`, `30s`, `5m`, \
         `1h30m`, `2d`. They must be greater than zero.";
    InvalidCount = "invalid-count", "a count that is not a positive integer",
        "Counts (attempts, max-loops, failures, priority, continue-as-new after) are positive whole \
         numbers.";
    InvalidChoice = "invalid-choice", "a value outside the set this setting accepts",
        "Some settings take one of a fixed set of values, e.g. `transport \"stdio\"|\"http\"|\"sse\"`, \
         `style \"subworkflows\"|\"functions\"`, `backend \"direct\"|\"kong\"`.";
    InvalidValue = "invalid-value", "a value that is malformed for its setting",
        "The value has the right kind but not the right form, e.g. an engine address without a port, \
         a version requirement that is not a PEP 440 specifier, or a backoff below 1.0.";

    // Cross references.
    UnknownReference = "unknown-reference", "a reference to an entity that is not declared",
        "`calls`, `tools`, `map` and similar nodes name entities declared elsewhere in the manifest. \
         The closest declared name is suggested.";
    WrongReferenceKind = "wrong-reference-kind", "a reference to an entity of the wrong kind",
        "`calls` names a function or a workflow, `tools` names a tool-server, and `map` binds a step to \
         a function or workflow.";
    MissingLlm = "missing-llm", "an agent uses an LLM but there is no `llm` block",
        "`llm \"default\"` in an agent needs a top-level `llm { ... }` block with at least one \
         provider.";
    UnknownStep = "unknown-step", "a step name that does not occur in the operator string",
        "`map`, `when` and `step` name steps of the pipeline; each must occur as a token in its \
         `operators` string.";
    UnconditionalWhen = "unconditional-when", "`when` on a step that is not behind `→?`",
        "A condition function only runs for a stage entered through `→?` (or `->?`). Put the step \
         behind a conditional operator or remove the `when`.";
    UnusedVariable = "unused-variable", "a prompt variable that the text never uses",
        "Every `var` of a prompt must appear in its text as `{{ name }}`; a declared but unused \
         variable is almost always a typo.";
    UndeclaredPlaceholder = "undeclared-placeholder", "a prompt placeholder without a `var`",
        "Every `{{ name }}` in a prompt's text must be declared with `var \"name\"`, so that \
         rendering can check that callers pass it.";
    MissingKongUrl = "missing-kong-url", "`backend \"kong\"` without `kong url=`",
        "The Kong AI gateway backend needs the gateway address: `kong url=\"https://...\" \
         key-env=\"KONG_API_KEY\"`.";
    DuplicateProvider = "duplicate-provider", "an LLM provider declared twice",
        "Each provider appears once in the `llm` block; give different models to different \
         providers, or remove the duplicate.";

    // Operator strings.
    EmptyPipeline = "empty-pipeline", "an operator string with no steps",
        "A pipeline's `operators` string must name at least one step, e.g. `\"DRAFT → REVIEW\"`.";
    DanglingOperator = "dangling-operator", "an operator without a step on one side",
        "Every operator joins two operands: `A → B`, `A ⇄ B`, `A ⊕ B`. An operator at the start or \
         end, or two operators in a row, is missing an operand.";
    UnbalancedParen = "unbalanced-paren", "a parenthesis without its partner",
        "Every `(` in an operator string needs a matching `)`, and the reverse.";
    UnknownCharacter = "unknown-character", "a character that is not part of the operator grammar",
        "Operator strings contain UPPER_SNAKE step names, the operators → →? ⇄ ⊕ (or -> ->? <-> +), \
         parentheses and whitespace. See GRAMMAR.md.";
    MissingOperator = "missing-operator", "two operands with no operator between them",
        "Steps and groups are joined by operators: write `A → B`, not `A B`.";
    InvalidStepName = "invalid-step-name", "a step name that is not UPPER_SNAKE",
        "Steps are UPPER_SNAKE tokens (`DRAFT`, `SEND_EMAIL`): uppercase ASCII letters, digits and \
         underscores, starting with a letter.";
    DuplicateStep = "duplicate-step", "a step that occurs more than once in a pipeline",
        "Each step occurs once in its pipeline's operator string. To run the same logic twice, map two \
         steps to the same function or workflow with `map`.";
    InvalidLoop = "invalid-loop", "a refine loop that does not join exactly two single steps",
        "`⇄` joins exactly two steps: `DRAFT ⇄ REVIEW`. It cannot join groups, fan-outs or a third \
         step (`A ⇄ B ⇄ C`).";

    // Scaffold checks (warnings).
    MissingHandler = "missing-handler", "a declared agent event without a handler in the scaffold",
        "The manifest declares an event that the agent's file does not handle. Add an \
         `@agent.event` method with the event's name, or remove the event from the manifest.";
    ScaffoldMismatch = "scaffold-mismatch", "a scaffold that disagrees with the manifest",
        "The user's scaffold no longer matches what the manifest declares (e.g. the class or function \
         restack expects is missing). The file still belongs to you; restack only reports this.";
}
