//! The `harness` binary: argument parsing and exit codes only; everything else is the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use harness::config;
use harness::report::progress::{self, Progress, ProgressChoice};
use harness::run::{self, Event, RunOptions, Session, SnapshotMode};

/// A CI compatibility test harness for container images: runs scenarios against hermetic
/// Docker and Podman instances and reports what each runtime did.
#[derive(Parser)]
#[command(version, about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The exit-code table of every subcommand (`harness --help`). Each subcommand's `--help`
/// repeats its own row. Bad command-line arguments exit 2 everywhere (clap's usage error).
const EXIT_CODES: &str = "\
Exit codes:
  run      0 nothing failed; 1 a cell failed (fail or fixed), or
           --unreferenced=reject found unreferenced snapshots; 2 bad usage or
           configuration (also --review under CI or without a terminal); 3 an
           infrastructure error (or the --json file or --report could not be
           written) and nothing failed; 128+N on signal N (SIGINT, SIGTERM,
           SIGHUP; Ctrl-C: 130), after tearing every instance down
  matrix   0 listed; 2 bad usage or a bad matrix
  inspect  0 no error finding; 1 at least one error finding; 2 the input cannot
           be read (or has more members than HARNESS_MAX_MEMBERS); 3 the output
           cannot be written
  craft    0 written; 2 bad usage or a bad spec; 3 the archive cannot be written
           (a full disk, an unwritable directory)
  ref      0 every reference can be stored by the style; 1 at least one cannot;
           2 bad usage
  doctor   0 every runtime has at least one source (host or a Debian suite); 1 at
           least one has none; 2 bad usage
  provision 0 provisioned, listed or pruned; 1 a root filesystem could not be
           built; 2 bad usage or a bad matrix
  validate 0 every file is valid; 2 at least one is not (each file's first error
           is printed as file:line:column: field: message), or bad usage
  schema   0 printed; 2 bad usage
  review   0 nothing pending, or every pending snapshot accepted or rejected; 1
           snapshots are pending (listed, without --accept or --reject); 2 bad
           usage or the directory cannot be read; 3 a snapshot file could not be
           renamed or removed
  report   0 every report written (whatever the results say); 2 bad usage, a
           results file that cannot be read or is not a results document of this
           schema, or (merge) files of mixed schema or a scenario x cell in two
           files; 3 a report could not be written";

const REPORT_EXIT_CODES: &str = "Exit codes: 0 every report written (whatever the results say); 2 bad usage, a results file that cannot be read or is not a results document of this schema, or (merge) files of mixed schema or a scenario x cell in two files (both named); 3 a report could not be written.";

const RUN_EXIT_CODES: &str = "Exit codes: 0 nothing failed; 1 a cell failed (fail or fixed), or --unreferenced=reject found unreferenced snapshots; 2 bad usage or configuration (--review under CI or without a terminal); 3 an infrastructure error (or the --json file or --report could not be written) and nothing failed; 128+N on signal N (SIGINT, SIGTERM, SIGHUP; Ctrl-C: 130).";

const VALIDATE_EXIT_CODES: &str = "Exit codes: 0 every file is valid (warnings do not count); 2 at least one file is not, or bad usage.";

const SCHEMA_EXIT_CODES: &str = "Exit codes: 0 printed; 2 bad usage.";

const REVIEW_EXIT_CODES: &str = "Exit codes: 0 nothing pending, or every pending snapshot accepted (--accept) or rejected (--reject); 1 snapshots are pending (listed with their diffs); 2 bad usage or the directory cannot be read; 3 a snapshot file could not be renamed or removed.";

const DOCTOR_EXIT_CODES: &str = "Exit codes: 0 every runtime has at least one source (host or a Debian suite); 1 at least one has none; 2 bad usage.";

const MATRIX_EXIT_CODES: &str = "Exit codes: 0 listed; 2 bad usage or a bad matrix.";

const CRAFT_EXIT_CODES: &str = "Exit codes: 0 written; 2 bad usage or a bad spec; 3 the archive cannot be written (a full disk, an unwritable directory).";

#[derive(Subcommand)]
enum Command {
    /// Run scenarios on every matrix cell (each cell gets its own hermetic daemon).
    #[command(after_help = RUN_EXIT_CODES)]
    Run(RunArgs),
    /// List the cells of a matrix with the root filesystem each starts from and its shard,
    /// or plan CI jobs (`--format github`: the `strategy.matrix` of a GitHub Actions job).
    #[command(alias = "cells", after_help = MATRIX_EXIT_CODES)]
    Matrix(MatrixArgs),
    /// Read an image archive (tar, compressed tar or OCI layout directory) in one streaming
    /// pass, check it with the oracles, and predict the names each runtime family would give
    /// it on load.
    #[command(after_help = INSPECT_EXIT_CODES)]
    Inspect(InspectArgs),
    /// Write an image archive from a fixture spec, byte-exact and deterministic (the same
    /// language as scenario `fixtures:`); prints what was written.
    #[command(after_help = CRAFT_EXIT_CODES)]
    Craft(CraftArgs),
    /// Explain image references: how distribution/reference parses each one, and what a
    /// runtime of the given style stores when an image is tagged with it.
    #[command(name = "ref", after_help = REF_EXIT_CODES)]
    Ref(RefArgs),
    /// Say where each runtime can come from here (the host's binary, Debian suites), what is
    /// cached, and the command that gets each missing piece.
    #[command(after_help = DOCTOR_EXIT_CODES)]
    Doctor(DoctorArgs),
    /// Build the cached root filesystems the matrix's cells need (Debian suites, with
    /// mmdebstrap), ahead of a run; or list or prune the cache.
    #[command(after_help = PROVISION_EXIT_CODES)]
    Provision(ProvisionArgs),
    /// Check matrix and scenario files without running anything: every file's first error
    /// as `file:line:column: field: message`, and the warnings a run would print.
    #[command(after_help = VALIDATE_EXIT_CODES)]
    Validate(ValidateArgs),
    /// Print the JSON Schema (draft 2020-12) of matrix.yaml or of scenario files, for
    /// editors (yaml-language-server) and CI.
    #[command(after_help = SCHEMA_EXIT_CODES)]
    Schema(SchemaArgs),
    /// Review pending snapshots (`.snap.new` files a run wrote): list them with their
    /// diffs, or accept or reject them all. `cargo insta review` works on the same files.
    #[command(after_help = REVIEW_EXIT_CODES)]
    Review(ReviewArgs),
    /// Render reports (JUnit XML, Markdown summary, HTML, JSON) from results documents
    /// (`run --json FILE`), or merge the documents of several shards and render them.
    #[command(after_help = REPORT_EXIT_CODES)]
    Report(ReportArgs),
}

#[derive(clap::Args)]
struct ReportArgs {
    #[command(subcommand)]
    command: ReportCommand,
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Render one results document into DIR: junit.xml, summary.md, report.html (and
    /// results.json with --format json).
    #[command(after_help = REPORT_EXIT_CODES)]
    Render {
        /// The results document (`harness run --json FILE`).
        results: PathBuf,
        /// The directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Which reports, comma-separated.
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "junit,markdown,html"
        )]
        format: Vec<harness::report::ReportFormat>,
    },
    /// Merge the results documents of several shards (refusing mixed schema versions and a
    /// scenario x cell in two files) and write every report of the merged document into
    /// DIR, results.json included.
    #[command(after_help = REPORT_EXIT_CODES)]
    Merge {
        /// The shards' results documents.
        #[arg(required = true, value_name = "RESULTS")]
        results: Vec<PathBuf>,
        /// The directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Which reports, comma-separated.
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "junit,markdown,html,json"
        )]
        format: Vec<harness::report::ReportFormat>,
    },
}

#[derive(clap::Args)]
struct ValidateArgs {
    /// Files or directories (a directory's *.yaml and *.yml files). A file named
    /// matrix.yaml or matrix.yml is a matrix; every other file is a scenario. Default:
    /// matrix.yaml and scenarios/.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// This file is a matrix whatever its name, and the one scenarios are checked against
    /// (default: the matrix among PATHs, else ./matrix.yaml when it exists).
    #[arg(long, value_name = "FILE")]
    matrix: Option<PathBuf>,
    /// Output format: `table` prints one line per error; `json` prints a list of
    /// {file, line, column, field, message} (field null for the file as a whole).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(clap::Args)]
struct SchemaArgs {
    /// Which file's schema: `matrix` (matrix.yaml) or `scenario` (one document of a
    /// scenario file).
    #[arg(value_enum)]
    kind: config::schema::SchemaKind,
}

#[derive(clap::Args)]
struct ReviewArgs {
    /// The snapshot directory.
    #[arg(default_value = "snapshots", value_name = "DIR")]
    dir: PathBuf,
    /// Accept every pending snapshot (rename each .snap.new over its .snap).
    #[arg(long, conflicts_with = "reject")]
    accept: bool,
    /// Reject every pending snapshot (remove each .snap.new).
    #[arg(long)]
    reject: bool,
}

const PROVISION_EXIT_CODES: &str = "Exit codes: 0 provisioned (or listed, pruned); 1 a root filesystem could not be built; 2 bad usage or a bad matrix.";

#[derive(clap::Args)]
struct ProvisionArgs {
    /// The matrix file.
    #[arg(long, default_value = "matrix.yaml")]
    matrix: PathBuf,
    /// Only these cells (ids or globs); repeatable or comma-separated. Default: all.
    #[arg(long = "cell", value_name = "ID", value_delimiter = ',')]
    cells: Vec<String>,
    /// Only the cells of shard K of N (1-based; the same shards as `harness run --shard`).
    #[arg(long, value_name = "K/N", conflicts_with_all = ["list", "prune"])]
    shard: Option<run::shard::Shard>,
    /// List the cache's entries (suite, key, runtime versions, current or stale) instead.
    #[arg(long, conflicts_with = "prune")]
    list: bool,
    /// Remove the cache's entries that no current recipe builds instead.
    #[arg(long)]
    prune: bool,
    /// How to show each suite's build on stderr (README "Progress"): the suite, `[suite
    /// k/N]`, and the bytes its build has written so far with the rate.
    #[arg(long, value_enum, value_name = "HOW", default_value_t = ProgressChoice::Auto)]
    progress: ProgressChoice,
}

#[derive(clap::Args)]
struct DoctorArgs {
    /// Read every suite's package index again instead of using the cached entries (which
    /// are used for a day).
    #[arg(long)]
    refresh: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

const REF_EXIT_CODES: &str =
    "Exit codes: 0 every reference can be stored by the style; 1 at least one cannot; 2 bad usage.";

const INSPECT_EXIT_CODES: &str = "Exit codes: 0 no error finding; 1 at least one error finding; 2 the input cannot be read; 3 the output cannot be written.";

#[derive(clap::Args)]
struct InspectArgs {
    /// The archive or OCI layout directory.
    archive: PathBuf,
    /// Output format (the JSON document is stable; see the README).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Read ARCHIVE even if it is not a regular file or directory (a FIFO, a device,
    /// `/dev/stdin`), as one stream. Off by default: such a file can block or never end.
    #[arg(long)]
    special: bool,
}

#[derive(clap::Args)]
struct CraftArgs {
    /// The fixture spec (YAML).
    spec: PathBuf,
    /// Where to write the archive.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// How to print what was written.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(clap::Args)]
struct RefArgs {
    /// References to explain (`bastion.io/foo:local`, `foo`, a 64-hex ID, ...).
    #[arg(required = true, value_name = "REF")]
    refs: Vec<String>,
    /// Whose local store `stored` describes: docker (moby), podman (containers/common
    /// libimage) or containerd (names verbatim).
    #[arg(long, default_value = "docker", value_parser = parse_style)]
    style: harness::reference::Style,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn parse_style(s: &str) -> Result<harness::reference::Style, String> {
    s.parse()
        .map_err(|e: harness::reference::UnknownStyle| e.to_string())
}

#[derive(clap::Args)]
struct RunArgs {
    /// Scenario files; default: every scenarios/*.yaml and *.yml.
    scenarios: Vec<PathBuf>,
    /// The matrix file.
    #[arg(long, default_value = "matrix.yaml")]
    matrix: PathBuf,
    /// Run only these cells (ids or globs like `podman-*`); repeatable or comma-separated.
    /// Default: all.
    #[arg(long = "cell", value_name = "ID", value_delimiter = ',')]
    cells: Vec<String>,
    /// Run only shard K of N (1-based), taken after the --cell filters: cells grouped by the
    /// root filesystem they start from, groups dealt round-robin (`harness matrix` shows
    /// each cell's shard; see README "GitHub Actions").
    #[arg(long, value_name = "K/N")]
    shard: Option<run::shard::Shard>,
    /// Cells run at once, 1 to 1024. Default: the number of CPUs.
    #[arg(long, short, value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: Option<u16>,
    /// How long one step may take, in seconds (1 to 86400), before its cell is an `error`
    /// (`step-timeout`, with the daemons' log tails).
    #[arg(long, value_name = "SECONDS", default_value_t = run::DEFAULT_STEP_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    step_timeout: u64,
    /// How to treat outcome snapshots.
    #[arg(long, value_enum, default_value_t = SnapshotMode::Check)]
    snapshots: SnapshotMode,
    /// Where snapshot files live.
    #[arg(long, default_value = "snapshots")]
    snapshot_dir: PathBuf,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write the JSON results document to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write every report (junit.xml, summary.md, report.html, results.json) into this
    /// directory, as `harness report render` would from the --json file.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// After the run, show each snapshot it wrote as `.snap.new` as a diff and ask to
    /// accept, reject or skip it. Needs a terminal on stdin; refused under CI (CI never
    /// accepts snapshots) and with --snapshots other than check.
    #[arg(long)]
    review: bool,
    /// How to show progress on stderr (README "Progress"). Colour only on a terminal
    /// without NO_COLOR, in every mode.
    #[arg(long, value_enum, value_name = "HOW", default_value_t = ProgressChoice::Auto)]
    progress: ProgressChoice,
    /// After the run, what to do with stored snapshots that no scenario x cell of the whole
    /// matrix (and no produced fixture) produces: ignore, warn, reject (exit 1) or delete.
    /// Checked only when every scenario of scenarios/ was loaded.
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = run::snapshot::Unreferenced::Ignore)]
    unreferenced: run::snapshot::Unreferenced,
}

#[derive(clap::Args)]
struct MatrixArgs {
    /// The matrix file.
    #[arg(long, default_value = "matrix.yaml")]
    matrix: PathBuf,
    /// Only these cells (ids or globs); repeatable or comma-separated. Default: all.
    #[arg(long = "cell", value_name = "ID", value_delimiter = ',')]
    cells: Vec<String>,
    /// `table`: one line per cell (id, root filesystem, shard); `json`: the cells with
    /// `root` and `shard`; `github`: one line of JSON, `{"include": [{name, shard, cells,
    /// suites}, ...]}`, one entry per job.
    #[arg(long, value_enum, default_value_t = MatrixFormat::Table)]
    format: MatrixFormat,
    /// At most N jobs (groups dealt round-robin). Default: one job per root filesystem.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    max_jobs: Option<u16>,
    /// List only the cells of shard K of N (what `harness run --shard K/N` runs); not
    /// with --format github or --max-jobs.
    #[arg(long, value_name = "K/N", conflicts_with = "max_jobs")]
    shard: Option<run::shard::Shard>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MatrixFormat {
    Table,
    Json,
    Github,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("HARNESS_LOG"))
        .with_writer(harness::report::progress::log_writer)
        .with_ansi(color_allowed(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run(_)) {
        // A closed stdout pipe (`harness ref ... | head`) ends these commands quietly, as it
        // ends `cat`, instead of a panic. `run` keeps SIGPIPE ignored: it must tear its
        // instances down whatever happens to its output, and writes its results with `emit`.
        // SAFETY: no other thread exists yet, and SIG_DFL installs no handler code.
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            );
        }
    }
    let code = match cli.command {
        Command::Run(args) => run(args),
        Command::Matrix(args) => matrix(args),
        Command::Ref(args) => explain_refs(args),
        Command::Craft(args) => craft(args),
        Command::Inspect(args) => inspect(args),
        Command::Doctor(args) => doctor(args),
        Command::Provision(args) => provision(args),
        Command::Validate(args) => validate(args),
        Command::Schema(args) => {
            emit(args.kind.text());
            0
        }
        Command::Review(args) => review(args),
        Command::Report(args) => report(args),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Colour only on a terminal, and never when `NO_COLOR` is set (https://no-color.org).
fn color_allowed(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn matrix(args: MatrixArgs) -> i32 {
    use run::shard::{self, Shard};
    if args.shard.is_some() && args.format == MatrixFormat::Github {
        return usage_error(&"--shard lists one shard's cells: use --format table or json");
    }
    let matrix = match config::load_matrix(&args.matrix) {
        Ok(m) => m,
        Err(e) => return usage_error(&e),
    };
    let cells: Vec<config::Cell> = match matrix.select(&args.cells) {
        Ok(c) => c.into_iter().cloned().collect(),
        Err(e) => return usage_error(&e),
    };
    let roots = roots_of(&cells);
    let jobs = shard::jobs(&cells, &roots, args.max_jobs.map(usize::from));
    if args.format == MatrixFormat::Github {
        emit(&format!("{}\n", shard::github_matrix(&jobs)));
        return 0;
    }
    // Each cell's shard: the one asked for, else its job's in the plan.
    let count = args.shard.map_or(jobs.len(), |s| s.count);
    let shard_of = shard::assign(&roots, count);
    let listed: Vec<usize> = (0..cells.len())
        .filter(|&i| args.shard.is_none_or(|s| shard_of[i] + 1 == s.index))
        .collect();
    let shard_text = |i: usize| {
        Shard {
            index: shard_of[i] + 1,
            count,
        }
        .to_string()
    };
    match args.format {
        MatrixFormat::Json => {
            let list: Vec<serde_json::Value> = listed
                .iter()
                .map(|&i| {
                    let mut v = serde_json::to_value(&cells[i]).expect("cells serialize");
                    v["root"] = roots[i].to_string().into();
                    v["shard"] = shard_text(i).into();
                    v
                })
                .collect();
            emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&list).expect("cells serialize")
            ));
        }
        _ => {
            let width = listed.iter().map(|&i| cells[i].id.len()).max().unwrap_or(0);
            let root_width = listed
                .iter()
                .map(|&i| roots[i].to_string().len())
                .max()
                .unwrap_or(0)
                .max(4);
            let mut out = format!("{:width$}  {:root_width$}  SHARD\n", "CELL", "ROOT");
            for &i in &listed {
                out.push_str(&format!(
                    "{:width$}  {:root_width$}  {}\n",
                    cells[i].id,
                    roots[i].to_string(),
                    shard_text(i)
                ));
            }
            emit(&out);
        }
    }
    0
}

fn inspect(args: InspectArgs) -> i32 {
    let inspected = if args.special {
        std::fs::File::open(&args.archive)
            .map_err(|source| harness::oci::archive::ReadError::Open {
                path: args.archive.clone(),
                source,
            })
            .and_then(harness::verify::inspect_archive)
    } else {
        harness::verify::inspect_path(&args.archive)
    };
    let inspection = match inspected {
        Ok(i) => i,
        Err(e) => {
            eprintln!("harness: {}", run::error_chain(&e));
            return 2;
        }
    };
    match args.format {
        Format::Json => {
            if let Err(e) = inspection.write_json(std::io::stdout().lock()) {
                eprintln!("harness: failed to write the JSON document: {e}");
                return 3;
            }
        }
        Format::Table => print!("{}", harness::verify::render_text(&inspection)),
    }
    i32::from(inspection.has_errors())
}

fn craft(args: CraftArgs) -> i32 {
    let spec = match config::load_fixture_spec(&args.spec) {
        Ok(s) => s,
        Err(e) => return usage_error(&e),
    };
    let facts = match harness::craft::write_archive_to_path(&spec, &args.output) {
        Ok(f) => f,
        Err(e) if e.is_io() => {
            eprintln!("harness: {}: {}", args.spec.display(), run::error_chain(&e));
            return 3;
        }
        Err(e) => {
            let e = format!("{}: {}", args.spec.display(), run::error_chain(&e));
            return usage_error(&e);
        }
    };
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&facts).expect("facts serialize")
        ),
        Format::Table => print!("{}", facts.render_text(&args.output)),
    }
    0
}

fn explain_refs(args: RefArgs) -> i32 {
    let reports: Vec<_> = args
        .refs
        .iter()
        .map(|r| harness::reference::report(r, args.style))
        .collect();
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&reports).expect("reports serialize")
        ),
        Format::Table => print!("{}", harness::reference::render_text(&reports, args.style)),
    }
    i32::from(reports.iter().any(|r| r.stored.is_none()))
}

fn doctor(args: DoctorArgs) -> i32 {
    use harness::runtime::{doctor, sources};
    let mut resolver = sources::Resolver::from_env();
    resolver.refresh = args.refresh;
    let report = doctor::diagnose(&resolver, &doctor::rootfs_dir());
    match args.format {
        Format::Json => println!("{}", report.to_json()),
        Format::Table => print!(
            "{}",
            doctor::render_text(&report, color_allowed(&std::io::stdout()))
        ),
    }
    report.exit_code()
}

fn provision(args: ProvisionArgs) -> i32 {
    use harness::run::provision;
    if args.list {
        return match provision::list() {
            Ok(entries) => {
                print!("{}", provision::render_list(&entries));
                0
            }
            Err(e) => usage_error(&e),
        };
    }
    if args.prune {
        return match provision::prune() {
            Ok(removed) => {
                for r in &removed {
                    println!("removed {}", r.display());
                }
                println!("{} stale entries removed", removed.len());
                0
            }
            Err(e) => usage_error(&e),
        };
    }
    let matrix = match config::load_matrix(&args.matrix) {
        Ok(m) => m,
        Err(e) => return usage_error(&e),
    };
    let mut cells: Vec<config::Cell> = match matrix.select(&args.cells) {
        Ok(c) => c.into_iter().cloned().collect(),
        Err(e) => return usage_error(&e),
    };
    if let Some(shard) = args.shard {
        cells = take_shard(&cells, shard);
    }
    run::session::resolve_cell_sources(&mut cells);
    for c in &cells {
        if let Some(why) = c.extra.get(run::session::SOURCE_ERROR) {
            eprintln!("harness: {}: {why}", c.id);
        }
    }
    let suites = provision::suites_of(&cells);
    if suites.is_empty() {
        println!("nothing to provision: no cell needs a Debian suite");
        return 0;
    }
    let shown = Progress::new(progress::decide(
        args.progress,
        &progress::Surroundings::of_stderr(),
    ));
    let results = provision::provision(&suites, |e| shown.provision_event(&e));
    shown.finish();
    let (out, errors) = provision::render_provisioned(&results);
    print!("{out}");
    for e in &errors {
        eprintln!("harness: {e}");
    }
    i32::from(!errors.is_empty())
}

fn validate(args: ValidateArgs) -> i32 {
    let v = run::validate::validate(&args.paths, args.matrix.as_deref());
    for w in &v.warnings {
        eprintln!("harness: warning: {w}");
    }
    if let Some(why) = &v.unchecked {
        eprintln!("harness: {why}");
    }
    match args.format {
        Format::Json => emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v.problems).expect("problems serialize")
        )),
        Format::Table => {
            let lines: String = v.problems.iter().map(|p| format!("{p}\n")).collect();
            emit(&lines);
            eprintln!(
                "{} files checked, {} invalid",
                v.files.len(),
                v.problems.len()
            );
        }
    }
    v.exit_code()
}

fn review(args: ReviewArgs) -> i32 {
    use run::review::{self, Decision};
    let pending = match review::pending(&args.dir) {
        Ok(p) => p,
        Err(e) => return usage_error(&format!("cannot read {}: {e}", args.dir.display())),
    };
    if pending.is_empty() {
        eprintln!("no pending snapshots in {}", args.dir.display());
        return 0;
    }
    let decision = match (args.accept, args.reject) {
        (true, _) => Decision::Accept,
        (_, true) => Decision::Reject,
        _ => {
            let color = color_allowed(&std::io::stdout());
            let mut out = String::new();
            for p in &pending {
                match p.diff(color) {
                    Ok(d) => out.push_str(&format!("{}\n{d}\n", p.name)),
                    Err(e) => out.push_str(&format!("{}: cannot read: {e}\n", p.name)),
                }
            }
            emit(&out);
            eprintln!(
                "{} pending snapshots in {}: harness review --accept or --reject, or cargo insta review",
                pending.len(),
                args.dir.display()
            );
            return 1;
        }
    };
    match review::apply_all(&pending, decision) {
        Ok(summary) => {
            eprintln!("{}", summary.line());
            0
        }
        Err(e) => {
            eprintln!("harness: {e}");
            3
        }
    }
}

/// `harness run --review`, decided before anything runs: a review needs someone to answer.
fn review_refusal(args: &RunArgs) -> Option<String> {
    if !args.review {
        return None;
    }
    if run::in_ci() {
        return Some("--review is refused under CI (CI is set): CI never accepts snapshots; review the .snap.new files it leaves with `harness review` or `cargo insta review`".into());
    }
    if !std::io::stdin().is_terminal() {
        return Some("--review asks on a terminal, and stdin is not one; use `harness review --accept|--reject` instead".into());
    }
    if args.snapshots != SnapshotMode::Check {
        return Some(
            "--review needs --snapshots check (the mode that writes .snap.new files)".into(),
        );
    }
    None
}

/// `harness run --review` after the run: every `.snap.new` the run wrote, asked about.
fn review_written(dir: &Path, since: std::time::SystemTime) {
    let pending = match run::review::written_since(dir, since) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("harness: cannot review {}: {e}", dir.display());
            return;
        }
    };
    if pending.is_empty() {
        eprintln!("harness: no new snapshots to review");
        return;
    }
    let color = color_allowed(&std::io::stderr());
    match run::review::interactive(&pending, std::io::stdin().lock(), std::io::stderr(), color) {
        Ok(summary) => eprintln!("harness: review: {}", summary.line()),
        Err(e) => eprintln!("harness: review stopped: {e}"),
    }
}

/// `harness run --unreferenced`: the stored snapshots nothing in the whole loaded plan
/// produces. Returns whether `reject` found some.
fn check_unreferenced(session: &Session, args: &RunArgs) -> Result<bool, String> {
    use run::snapshot::Unreferenced;
    if args.unreferenced == Unreferenced::Ignore {
        return Ok(false);
    }
    // With only some scenarios loaded, the others' snapshots would all look unreferenced.
    if !args.scenarios.is_empty() {
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let given: std::collections::BTreeSet<PathBuf> =
            args.scenarios.iter().map(|p| canonical(p)).collect();
        let all = run::session::discover_scenarios(Path::new("scenarios")).unwrap_or_default();
        if all.is_empty() || !all.iter().all(|p| given.contains(&canonical(p))) {
            eprintln!(
                "harness: unreferenced snapshots not checked: only some scenarios of scenarios/ were loaded"
            );
            return Ok(false);
        }
    }
    let referenced = run::snapshot::referenced_names(&session.scenarios, &session.matrix.cells);
    let found = run::snapshot::unreferenced(&args.snapshot_dir, &referenced)
        .map_err(|e| format!("cannot read {}: {e}", args.snapshot_dir.display()))?;
    for path in &found {
        if args.unreferenced == Unreferenced::Delete {
            std::fs::remove_file(path)
                .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
            eprintln!("harness: removed unreferenced snapshot {}", path.display());
        } else {
            eprintln!(
                "harness: unreferenced snapshot {} (no scenario x cell of {} produces it)",
                path.display(),
                session.matrix.source.display()
            );
        }
    }
    Ok(args.unreferenced == Unreferenced::Reject && !found.is_empty())
}

/// Each cell's root (for grouping), with a warning for each cell no suite places.
fn roots_of(cells: &[config::Cell]) -> Vec<run::shard::Root> {
    let roots = run::shard::roots(cells);
    for (cell, root) in cells.iter().zip(&roots) {
        if *root == run::shard::Root::Unresolved {
            eprintln!(
                "harness: warning: {}: no Debian suite's package index has {} {} (or the indexes cannot be read: `harness doctor`); grouped as `unresolved`",
                cell.id, cell.runtime, cell.version
            );
        }
    }
    roots
}

/// The cells of `shard` among `cells` (the selection, before sources are resolved), in order.
fn take_shard(cells: &[config::Cell], shard: run::shard::Shard) -> Vec<config::Cell> {
    let roots = roots_of(cells);
    run::shard::select(&roots, shard)
        .into_iter()
        .map(|i| cells[i].clone())
        .collect()
}

fn report(args: ReportArgs) -> i32 {
    let (doc, out, mut formats) = match args.command {
        ReportCommand::Render {
            results,
            out,
            format,
        } => {
            let text = match std::fs::read_to_string(&results) {
                Ok(t) => t,
                Err(e) => return usage_error(&format!("{}: {e}", results.display())),
            };
            match harness::results::ResultsDoc::from_json(&text) {
                Ok(doc) => (doc, out, format),
                Err(e) => {
                    return usage_error(&format!(
                        "{}: {}",
                        results.display(),
                        run::error_chain(&e)
                    ));
                }
            }
        }
        ReportCommand::Merge {
            results,
            out,
            format,
        } => match harness::report::merge::merge_files(&results) {
            Ok(doc) => (doc, out, format),
            Err(e) => return usage_error(&e),
        },
    };
    formats.sort();
    formats.dedup();
    match harness::report::write_reports(&doc, &out, &formats) {
        Ok(written) => {
            for path in written {
                eprintln!("harness: wrote {}", path.display());
            }
            0
        }
        Err(e) => {
            eprintln!("harness: cannot write reports into {}: {e}", out.display());
            3
        }
    }
}

fn usage_error(e: &dyn std::fmt::Display) -> i32 {
    eprintln!("harness: {e}");
    2
}

fn run(args: RunArgs) -> i32 {
    if let Some(why) = review_refusal(&args) {
        return usage_error(&why);
    }
    // Everything is validated before anything has a side effect.
    let mut session = match Session::load(
        &args.matrix,
        &args.scenarios,
        Path::new("scenarios"),
        &args.cells,
    ) {
        Ok(s) => s,
        Err(e) => return usage_error(&run::error_chain(&e)),
    };
    if let Some(shard) = args.shard {
        let selected = session.cells.len();
        session.cells = take_shard(&session.cells, shard);
        let ids: Vec<&str> = session.cells.iter().map(|c| c.id.as_str()).collect();
        eprintln!(
            "harness: shard {shard}: {} of {selected} cells: {}",
            ids.len(),
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        );
    }
    session.resolve_sources();
    for w in &session.warnings {
        eprintln!("harness: warning: {w}");
    }
    // A results file that cannot be written would lose every result at the end: find out now.
    if let Some(path) = &args.json
        && let Err(e) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
    {
        return usage_error(&format!("cannot write --json {}: {e}", path.display()));
    }
    for stale in Session::begin() {
        eprintln!("harness: removed stale instance root {}", stale.display());
    }
    let prepared = match session.craft() {
        Ok(p) => p,
        Err(e) => return usage_error(&run::error_chain(&e)),
    };
    let opts = RunOptions {
        snapshots: args.snapshots,
        snapshot_dir: args.snapshot_dir.clone(),
        jobs: args
            .jobs
            .map_or_else(run::session::default_jobs, usize::from),
        ci: run::in_ci(),
        step_timeout: std::time::Duration::from_secs(args.step_timeout),
    };
    let total = prepared.len() * session.cells.len();
    let shown = Arc::new(Progress::new(progress::decide(
        args.progress,
        &progress::Surroundings::of_stderr(),
    )));
    // The cells that finished, for the results a signal writes before the process exits.
    let finished = Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        // A live display is cleared before the signal handler says anything.
        let shown = shown.clone();
        harness::runtime::teardown::on_signal_caught(move |_| shown.stop());
    }
    {
        let (finished, json) = (finished.clone(), args.json.clone());
        harness::runtime::teardown::on_signal(move |signal| {
            let results = finished
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            let n = results.len();
            let mut doc = harness::results::ResultsDoc::new(results);
            doc.interrupted = Some(harness::results::Interrupted {
                signal,
                planned: total,
            });
            match &json {
                Some(path) => match write_atomically(path, &doc.to_json()) {
                    Ok(()) => eprintln!(
                        "harness: interrupted after {n} of {total} results; they are in {}",
                        path.display()
                    ),
                    Err(e) => eprintln!("harness: failed to write {}: {e}", path.display()),
                },
                None => eprintln!("harness: interrupted after {n} of {total} results"),
            }
        });
    }
    provision_missing(&session, &prepared, &shown);
    shown.begin_cells(total);
    let on_event: Arc<dyn Fn(Event) + Send + Sync> = {
        let shown = shown.clone();
        Arc::new(move |e| {
            if let Event::CellFinished(r) = &e {
                // Once a signal is tearing the run down, a cell that ends is an artefact of that.
                if harness::runtime::teardown::stopping() {
                    return;
                }
                finished
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((**r).clone());
            }
            shown.event(&e);
        })
    };
    let started = std::time::SystemTime::now();
    let results = session.run(&prepared, &opts, on_event);
    // A signal's handler is tearing the run down and will exit with 128 + its number after
    // writing what finished; the cells that ended because of it must not be reported here.
    if harness::runtime::teardown::stopping() {
        loop {
            std::thread::park();
        }
    }
    // The live display ends before anything else is printed.
    shown.finish();

    let json = harness::report::to_json(&results);
    if let Some(path) = &args.json
        && let Err(e) = write_atomically(path, &json)
    {
        eprintln!("harness: failed to write {}: {e}", path.display());
        return 3;
    }
    if let Some(dir) = &args.report {
        let doc = harness::results::ResultsDoc::new(results.clone());
        let all = harness::report::ReportFormat::ALL;
        if let Err(e) = harness::report::write_reports(&doc, dir, &all) {
            eprintln!(
                "harness: failed to write reports into {}: {e}",
                dir.display()
            );
            return 3;
        }
    }
    match args.format {
        Format::Json => emit(&format!("{json}\n")),
        Format::Table => {
            let color = color_allowed(&std::io::stdout());
            emit(&format!(
                "{}{}\n{}\n",
                harness::report::table(&results, color),
                harness::report::details(&results),
                harness::report::Summary::of(&results).line()
            ));
        }
    }
    if args.review {
        review_written(&args.snapshot_dir, started);
    }
    let code = harness::report::exit_code(&results);
    match check_unreferenced(&session, &args) {
        Ok(false) => code,
        // Unreferenced snapshots fail the run as a failed cell does (1 outranks 3).
        Ok(true) => {
            if code == 0 || code == 3 {
                1
            } else {
                code
            }
        }
        Err(e) => {
            eprintln!("harness: {e}");
            if code == 0 { 3 } else { code }
        }
    }
}

/// Builds the root filesystems the run's cells need and the cache lacks, before any cell
/// starts, with provisioning's progress (a cell would otherwise build it on first use, inside
/// its own time and without a word); a build that fails is a warning, and its cells report it.
fn provision_missing(session: &Session, prepared: &run::session::Prepared, shown: &Progress) {
    let missing = run::provision::missing_for_run(&session.cells, prepared);
    if missing.is_empty() {
        return;
    }
    let results = run::provision::provision(&missing, |e| shown.provision_event(&e));
    shown.finish();
    for p in results {
        if let Err(e) = &p.entry {
            shown.println(&format!(
                "harness: warning: {}: no root filesystem: {}",
                p.suite,
                run::error_chain(e)
            ));
        }
    }
}

/// Writes `text` to `path` through a temporary file beside it and a rename, so a reader never
/// sees half a document.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::write(tmp.path(), text)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes `text` to stdout; a reader that went away (a closed pipe) is not an error worth a
/// panic after a whole run: the exit code still says how the run went.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every subcommand has a row in the `--help` exit-code table and its own line in its
    /// `--help`, so a new subcommand cannot ship without documented exit codes.
    #[test]
    fn every_subcommand_documents_its_exit_codes() {
        let cli = Cli::command();
        let mut names = Vec::new();
        for sub in cli.get_subcommands() {
            let name = sub.get_name();
            names.push(name.to_string());
            assert!(
                EXIT_CODES
                    .lines()
                    .any(|l| l.starts_with(&format!("  {name:<8} 0 "))),
                "no row for {name} in:\n{EXIT_CODES}"
            );
            let own = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(own.starts_with("Exit codes: 0 "), "{name}: {own:?}");
        }
        assert_eq!(
            names,
            [
                "run",
                "matrix",
                "inspect",
                "craft",
                "ref",
                "doctor",
                "provision",
                "validate",
                "schema",
                "review",
                "report"
            ]
        );
    }

    /// `harness report` exits 0 having written the reports, 2 when a file cannot be read or
    /// two shards overlap (naming both), 3 when the output cannot be written.
    #[test]
    fn report_exit_codes() {
        let dir = tempfile::tempdir().unwrap();
        let example = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/results/podman3-host.json"
        );
        let args = |argv: &[&str]| -> ReportArgs {
            let mut full = vec!["harness", "report"];
            full.extend(argv);
            match Cli::try_parse_from(full).unwrap().command {
                Command::Report(a) => a,
                _ => unreachable!(),
            }
        };
        let out = dir.path().join("out");
        let out_s = out.to_str().unwrap();
        assert_eq!(report(args(&["render", example, "--out", out_s])), 0);
        let names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let mut names = names;
        names.sort();
        assert_eq!(names, ["junit.xml", "report.html", "summary.md"]);
        // The same file twice is two shards holding the same results.
        assert_eq!(
            report(args(&["merge", example, example, "--out", out_s])),
            2
        );
        let missing = dir.path().join("missing.json");
        let missing = missing.to_str().unwrap();
        assert_eq!(report(args(&["render", missing, "--out", out_s])), 2);
        assert_eq!(
            report(args(&["render", example, "--out", "/proc/no-such-dir"])),
            3
        );
        let merged = dir.path().join("merged");
        let merged_s = merged.to_str().unwrap();
        assert_eq!(report(args(&["merge", example, "--out", merged_s])), 0);
        assert!(merged.join("results.json").is_file());
        assert!(Cli::try_parse_from(["harness", "report", "merge", "--out", merged_s]).is_err());
    }
}
