//! `aloft-bench`: measures every Lambda function against the budgets of `docs/performance.md`.
//!
//! For each function binary it reports:
//!
//! - the **stripped binary size** (the release profile strips symbols);
//! - the **cold start**: process spawn → first response, with the event already queued,
//!   over `--spawns` fresh processes (median, p90, min, max), each paired with a cold
//!   start of the floor (a hello-world `lambda_http` binary, `infra/bench/floor`) spawned
//!   next to it, and the median of the pairs' ratios of its init (spawn → first poll) to the
//!   floor's whole cold start;
//! - the **warm invocation latency**: event queued (the runtime's `next` long-poll
//!   already waiting) → first byte of the response, over `--warm` invocations in one process
//!   (median, p99) — an upper bound for handler overhead, since it includes two loopback
//!   HTTP hops;
//! - the **peak RSS** (`VmHWM`), and the RSS growth per invocation over 10,000 untimed
//!   invocations after 10,000 more (a leak grows with every request; allocator warm-up
//!   levels off);
//! - the **handler overhead** in-process (router + edge + auth, no runtime, no network);
//! - for a row `<function>+secrets`, the same function reading its secrets from a local
//!   stand-in for SSM Parameter Store at cold start (see [`secrets`]), and what that adds;
//!   for a row `<function>+otel`, the same function exporting its spans over OTLP to a
//!   local stand-in for a collector (see [`otel`]), and what that adds.
//!
//! The functions talk to a minimal AWS Lambda Runtime API that this program serves on
//! `127.0.0.1` (see [`runtime_api`]); their AWS calls are answered by the emulator once
//! and replayed from a recording after that (see [`backend`]).
//!
//! Run it with `make bench`, which builds the release binaries first, or directly:
//!
//! ```text
//! cargo build --release --bin health --bin docs
//! aloft-bench [--functions health,health+secrets,docs] [--spawns 60] [--warm 1000]
//!             [--out bench-results.md] [--bin-dir target/release] [--events-dir events]
//! ```
//!
//! The Markdown table goes to stdout and, with a header, to `--out`. A budget miss is
//! printed but does not fail the run; a crash or a non-200 response does (exit code 1).

mod backend;
mod cli;
mod measure;
mod otel;
mod overhead;
mod quickack;
mod report;
mod runtime_api;
mod secrets;
mod session;
mod variant;

use std::io::Write as _;
use std::process::ExitCode;

use cli::{Command, Options};
use measure::FunctionResult;
use variant::Variant;

/// The error type of the harness: anything, with a readable message.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("aloft-bench: error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BoxError> {
    let options = match cli::parse(std::env::args().skip(1))? {
        Command::Help => return print_stdout(cli::USAGE),
        Command::Run(options) => options,
    };
    if options.first_answer {
        return first_answers(&options).await;
    }
    let results = measure_all(&options).await?;
    eprintln!(
        "aloft-bench: handler overhead in-process, {} requests per case",
        options.warm * 10
    );
    let overhead = overhead::table(&overhead::measure(options.warm * 10).await?);
    let overhead = format!(
        "{overhead}\n\n{}\n\n{}",
        overhead::password_hashing(20)?,
        overhead::tls_roots(20)?
    );
    print_stdout(&format!("{}\n\n{overhead}", report::summary(&results)))?;
    let document = report::document(&results, &options);
    let document = format!("{document}\n## Handler overhead (in-process)\n\n{overhead}\n");
    std::fs::write(&options.out, document)
        .map_err(|e| format!("writing {}: {e}", options.out.display()))?;
    eprintln!("aloft-bench: wrote {}", options.out.display());
    Ok(())
}

async fn measure_all(options: &Options) -> Result<Vec<FunctionResult>, BoxError> {
    eprintln!("aloft-bench: starting the emulator with the template's resources");
    let backend = backend::Backend::start().await?;
    let wants = |variant| (options.functions.iter()).any(|name| Variant::split(name).1 == variant);
    let extras = measure::Extras {
        store: match wants(Variant::Secrets) {
            true => {
                let env = backend.function_env(&session::function_env());
                Some(secrets::ParameterStore::start(&env).await)
            }
            false => None,
        },
        collector: match wants(Variant::Otel) {
            true => Some(otel::Collector::start().await?),
            false => None,
        },
    };
    let mut results = Vec::with_capacity(options.functions.len());
    for name in &options.functions {
        eprintln!(
            "aloft-bench: {name}: {} cold starts, then {} warm invocations",
            options.spawns, options.warm
        );
        results.push(measure::function(name, options, &backend, &extras).await?);
    }
    Ok(results)
}

/// `--first-answer`: each function once, its answer checked; a table of what it took.
async fn first_answers(options: &Options) -> Result<(), BoxError> {
    let backend = backend::Backend::start().await?;
    let mut table = String::from(
        "| function | first answer | init (spawn → first poll) | spawn → answer |\n|---|---|---|---|\n",
    );
    for name in &options.functions {
        let cold = measure::first_answer(name, options, &backend).await?;
        table.push_str(&format!(
            "| {name} | as expected | {:.0} ms | {:.0} ms |\n",
            cold.init.as_secs_f64() * 1e3,
            cold.total.as_secs_f64() * 1e3
        ));
    }
    print_stdout(&table)
}

fn print_stdout(text: &str) -> Result<(), BoxError> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    stdout.flush()?;
    Ok(())
}
