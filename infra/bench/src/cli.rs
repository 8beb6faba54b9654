//! Command-line options.

use std::path::PathBuf;

use crate::{BoxError, variant::Variant};

pub const USAGE: &str = "\
usage: aloft-bench [--functions health,health+secrets,docs] [--spawns 60] [--warm 1000]
                   [--leak-check 10000] [--out bench-results.md] [--bin-dir target/release]
                   [--events-dir events] [--launcher 'qemu-aarch64 -L /usr/aarch64-linux-gnu']
                   [--first-answer]

Each function name is a binary in --bin-dir; its event is <events-dir>/<name>-bench.json,
or the default sample event for health and docs. <name>+secrets runs the same binary
with its secrets read at cold start from a local stand-in for SSM Parameter Store.
--launcher runs each binary through that command (an emulator for another architecture);
--first-answer only starts each function once and checks its first answer.";

/// What to measure and where to put the results.
#[derive(Debug, Clone)]
pub struct Options {
    pub functions: Vec<String>,
    /// Fresh processes per function for the cold-start measurement, each paired with
    /// one of the floor. 20 pairs left the `init × floor` median moving by ±0.12 between
    /// runs of the same binary; 60 cost about a second more per row.
    pub spawns: usize,
    /// Timed invocations in one warm process.
    pub warm: usize,
    /// Untimed invocations over which RSS growth is read, after as many again to let
    /// the allocator settle: warm-up levels off, a leak grows with every invocation.
    pub leak_check: usize,
    pub out: PathBuf,
    pub bin_dir: PathBuf,
    pub events_dir: PathBuf,
    /// A command each binary is run through (`qemu-aarch64 -L …` for arm64 binaries).
    pub launcher: Vec<String>,
    /// Start each function once and check its first answer; measure nothing.
    pub first_answer: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            functions: vec!["health".to_owned(), "docs".to_owned()],
            spawns: 60,
            warm: 1000,
            leak_check: 10_000,
            out: PathBuf::from("bench-results.md"),
            bin_dir: PathBuf::from("target/release"),
            events_dir: PathBuf::from("events"),
            launcher: Vec::new(),
            first_answer: false,
        }
    }
}

#[derive(Debug)]
pub enum Command {
    Run(Options),
    Help,
}

/// Parses `--flag value` and `--flag=value` arguments (program name already skipped).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, BoxError> {
    let mut options = Options::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        if arg == "--first-answer" {
            options.first_answer = true;
            continue;
        }
        let (flag, value) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), value.to_owned()),
            None => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))?;
                (arg, value)
            }
        };
        apply(&mut options, &flag, value)?;
    }
    validate(&options)?;
    Ok(Command::Run(options))
}

fn apply(options: &mut Options, flag: &str, value: String) -> Result<(), BoxError> {
    match flag {
        "--functions" => options.functions = split_names(&value),
        "--spawns" => options.spawns = count(flag, &value)?,
        "--warm" => options.warm = count(flag, &value)?,
        "--leak-check" => options.leak_check = count(flag, &value)?,
        "--out" => options.out = PathBuf::from(value),
        "--bin-dir" => options.bin_dir = PathBuf::from(value),
        "--events-dir" => options.events_dir = PathBuf::from(value),
        "--launcher" => options.launcher = value.split_whitespace().map(str::to_owned).collect(),
        _ => return Err(format!("unknown option {flag}\n{USAGE}").into()),
    }
    Ok(())
}

fn split_names(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

fn count(flag: &str, value: &str) -> Result<usize, BoxError> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag} takes a positive integer, not {value:?}").into()),
    }
}

fn validate(options: &Options) -> Result<(), BoxError> {
    if options.functions.is_empty() {
        return Err("--functions lists no function".into());
    }
    let is_name = |name: &str| {
        let (binary, _) = Variant::split(name);
        !binary.is_empty()
            && binary
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    match options.functions.iter().find(|name| !is_name(name)) {
        Some(bad) => Err(format!("{bad:?} is not a binary name").into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Option<Options> {
        match parse(args.iter().map(|a| (*a).to_owned())) {
            Ok(Command::Run(options)) => Some(options),
            _ => None,
        }
    }

    #[test]
    fn defaults_and_both_flag_forms() {
        let defaults = run(&[]).map(|o| (o.functions, o.spawns, o.warm));
        assert_eq!(
            defaults,
            Some((vec!["health".into(), "docs".into()], 60, 1000))
        );
        let parsed = run(&["--functions", "docs", "--warm=50"]).map(|o| (o.functions, o.warm));
        assert_eq!(parsed, Some((vec!["docs".into()], 50)));
        let rows = run(&["--functions", "health,health+secrets"]).map(|o| o.functions);
        assert_eq!(rows, Some(vec!["health".into(), "health+secrets".into()]));
        let check = run(&["--first-answer", "--launcher", "qemu-aarch64 -L /x"])
            .map(|o| (o.first_answer, o.launcher));
        assert_eq!(
            check,
            Some((true, vec!["qemu-aarch64".into(), "-L".into(), "/x".into()]))
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(run(&["--spawns", "0"]).is_none());
        assert!(run(&["--warm"]).is_none());
        assert!(run(&["--functions", "../etc"]).is_none());
        assert!(run(&["--functions", "+secrets"]).is_none());
        assert!(run(&["--functions", "+otel"]).is_none());
        assert!(run(&["--functions", "health+other"]).is_none());
        assert!(run(&["--nope", "1"]).is_none());
    }
}
