//! The budgets, the verdicts and the Markdown report.

use std::fmt::Write as _;
use std::time::Duration;

use crate::cli::Options;
use crate::measure::FunctionResult;
use crate::variant::Variant;

/// The budgets of `docs/performance.md` ("Budgets").
const COLD_START_MEDIAN: Duration = Duration::from_millis(30);
/// Init's median ratio to the floor's whole cold start (DESIGN.md's budgets).
const FLOOR_RATIO: f64 = 1.3;
const BINARY_MB: f64 = 8.0;
const PEAK_RSS_MB: f64 = 32.0;
/// "No growth": fewer bytes per invocation than the smallest heap allocation, so any
/// per-request leak is a miss while allocator warm-up (pages touched once) is not.
const RSS_GROWTH_BYTES_PER_INVOCATION: f64 = 8.0;

const BYTES_PER_MB: f64 = 1024.0 * 1024.0;

const TABLE_HEAD: &str = "\
| function | binary MB | AWS calls | cold start median ms (p90) | of which init ms | floor ms | init × floor | warm median µs (p99) | peak RSS MB | RSS growth B/invocation | verdict |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|";

const VARIANTS_HEAD: &str = "\
| function | with | cold start median ms | with it ms | added ms | warm median µs | with it µs | added µs |
|---|---|---:|---:|---:|---:|---:|---:|";

const DETAILS_HEAD: &str = "\
| function | cold min ms | cold p90 ms | cold max ms | warm min µs | warm p90 µs | warm max µs | RSS at baseline MB | RSS at end MB |
|---|---:|---:|---:|---:|---:|---:|---:|---:|";

/// The budgets `result` misses, each as a short phrase.
pub fn misses(result: &FunctionResult) -> Vec<String> {
    let mut misses = Vec::new();
    let binary = mb(result.binary_bytes);
    if binary >= BINARY_MB {
        misses.push(format!("binary {binary:.2} MB ≥ {BINARY_MB} MB"));
    }
    if result.cold.median >= COLD_START_MEDIAN {
        misses.push(format!(
            "cold start {:.1} ms ≥ {} ms",
            ms(result.cold.median),
            ms(COLD_START_MEDIAN)
        ));
    }
    if result.floor_ratio > FLOOR_RATIO {
        misses.push(format!(
            "init {:.2}× the floor's cold start > {FLOOR_RATIO}×",
            result.floor_ratio
        ));
    }
    let peak = kb_to_mb(result.memory_end.peak_kb);
    if peak >= PEAK_RSS_MB {
        misses.push(format!("peak RSS {peak:.1} MB ≥ {PEAK_RSS_MB} MB"));
    }
    let growth = result.rss_growth_per_invocation();
    if growth >= RSS_GROWTH_BYTES_PER_INVOCATION {
        misses.push(format!("RSS grew {growth:.1} B/invocation"));
    }
    misses
}

/// The results table, then (after a blank line) one line per function that misses a
/// budget, then what each variant row (secrets from SSM, OTLP export) adds.
pub fn summary(results: &[FunctionResult]) -> String {
    let miss_lines: Vec<String> = results
        .iter()
        .filter_map(|result| {
            let misses = misses(result);
            (!misses.is_empty())
                .then(|| format!("**BUDGET MISS** {}: {}", result.name, misses.join("; ")))
        })
        .collect();
    let mut summary = table(results);
    if !miss_lines.is_empty() {
        let _ = write!(summary, "\n\n{}", miss_lines.join("\n\n"));
    }
    if let Some(cost) = variants_cost(results) {
        let _ = write!(summary, "\n\nWhat the variant rows add:\n\n{cost}");
    }
    summary
}

/// For each variant row measured with its plain row: both cold-start and warm medians
/// and the differences.
fn variants_cost(results: &[FunctionResult]) -> Option<String> {
    let mut table = VARIANTS_HEAD.to_owned();
    let mut rows = 0;
    for with in results {
        let (function, variant) = Variant::split(&with.name);
        if variant == Variant::Plain {
            continue;
        }
        let Some(without) = results.iter().find(|r| r.name == function) else {
            continue;
        };
        rows += 1;
        let (before, after) = (ms(without.cold.median), ms(with.cold.median));
        let (warm_before, warm_after) = (us(without.warm.median), us(with.warm.median));
        let _ = write!(
            table,
            "\n| {function} | {} | {before:.1} | {after:.1} | {:+.1} | {warm_before:.0} | {warm_after:.0} | {:+.0} |",
            variant.label(),
            after - before,
            warm_after - warm_before
        );
    }
    (rows > 0).then_some(table)
}

/// The main Markdown table, one row per function.
pub fn table(results: &[FunctionResult]) -> String {
    let mut table = TABLE_HEAD.to_owned();
    for r in results {
        let misses = misses(r);
        let verdict = if misses.is_empty() {
            "within budget".to_owned()
        } else {
            misses.join("; ")
        };
        let _ = write!(
            table,
            "\n| {} | {:.2} | {} | {:.1} ({:.1}) | {:.1} | {:.1} | {:.2} | {:.0} ({:.0}) | {:.1} | {:.1} | {verdict} |",
            r.name,
            mb(r.binary_bytes),
            r.aws_calls,
            ms(r.cold.median),
            ms(r.cold.p90),
            ms(r.init.median),
            ms(r.floor.median),
            r.floor_ratio,
            us(r.warm.median),
            us(r.warm.p99),
            kb_to_mb(r.memory_end.peak_kb),
            r.rss_growth_per_invocation(),
        );
    }
    table
}

/// The rest of the distributions, for the results file.
fn details(results: &[FunctionResult]) -> String {
    let mut table = DETAILS_HEAD.to_owned();
    for r in results {
        let _ = write!(
            table,
            "\n| {} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} |",
            r.name,
            ms(r.cold.min),
            ms(r.cold.p90),
            ms(r.cold.max),
            us(r.warm.min),
            us(r.warm.p90),
            us(r.warm.max),
            kb_to_mb(r.memory_baseline.rss_kb),
            kb_to_mb(r.memory_end.rss_kb),
        );
    }
    table
}

/// The whole results file: header, table, details and how to read them.
pub fn document(results: &[FunctionResult], options: &Options) -> String {
    format!(
        "# Aloft benchmark results\n\n{header}\n\n## Results\n\n{table}\n\n## Details\n\n{details}\n\n{notes}",
        header = header(options),
        table = summary(results),
        details = details(results),
        notes = notes(options),
    )
}

fn header(options: &Options) -> String {
    let commit = git_commit().unwrap_or_else(|| "unknown".to_owned());
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let model = cpu_model().map(|m| format!(" ({m})")).unwrap_or_default();
    format!(
        "- date: {date}\n- commit: {commit}\n- CPUs: {cpus}{model}\n\
         - cold starts: {spawns} pairs per function (the function and the floor, alternately)\n\
         - warm: {warm} invocations in one process, after a first untimed one\n\
         - binaries: `{bin_dir}` (release profile, symbols stripped)\n\
         - generated by `make bench` (`aloft-bench`)",
        date = aloft_core::timestamp::now(),
        spawns = options.spawns,
        warm = options.warm,
        bin_dir = options.bin_dir.display(),
    )
}

fn notes(options: &Options) -> String {
    format!(
        "## How to read this\n\n\
         - Budgets (docs/performance.md): cold start < {cold} ms median; stripped binary < {BINARY_MB} MB; \
         peak RSS < {PEAK_RSS_MB} MB with no growth; handler overhead < 100 µs median (judged in-process, below).\n\
         - Cold start: process spawn → the response's first byte received (for `ai-stream`, the streamed answer's prelude), with the event queued before the spawn; \
         init: spawn → the function's first `next` poll (the rest is the first request).\n\
         - Floor: the same for `bench-floor` (`infra/bench/floor`), a hello-world `lambda_http` \
         function built with the same release profile: what the runtime itself costs. Each \
         function cold start is paired with one of the floor, spawned right before or after it \
         (alternately), and `init × floor` is the median of the pairs' ratios of the function's \
         init to the floor's whole cold start, so a slower or faster machine moves both \
         (target: ≤ {FLOOR_RATIO}×). The first request's own work (its AWS calls) is in the \
         cold start, not in this ratio.\n\
         - AWS calls: what the first request calls (DynamoDB, S3, SQS). The emulator answers the \
         first process through a recording proxy; every process after it gets the recorded \
         answers from the proxy in microseconds, so the cold start includes the whole first \
         request path (signed-in reads, writes, queued jobs) but not the emulator's speed. In \
         AWS each call adds an in-region round trip; the first also a TLS handshake.\n\
         - Warm: event queued (the function's `next` long-poll already waiting) → the response's first byte received. \
         It includes two loopback HTTP hops to this harness's Runtime API and the event and \
         response JSON of the Lambda wire format, so it is an upper bound for handler overhead, \
         not judged against that budget; the in-process table is.\n\
         - Peak RSS is `VmHWM` at the end of the run. RSS growth is the `VmRSS` increase over \
         {leak_check} invocations, after {leak_check} more to let the allocator settle, per invocation: a leak grows with \
         every request, allocator warm-up does not (budget: < {growth} B/invocation).\n\
         - `<function>+secrets`: the same binary with its secrets (`JWT_SECRET`, \
         `STRIPE_WEBHOOK_SECRET`) read at cold start from a local stand-in for SSM Parameter \
         Store: the HTTPS client, SigV4 signing and one `GetParameters` over loopback. In AWS \
         the call also pays an in-region round trip and a TLS handshake, which this does not measure.\n\
         - `<function>+otel`: the same binary with `OTEL_EXPORTER_OTLP_ENDPOINT` set to a local \
         stand-in for a collector that answers every export at once: each invocation builds its \
         spans and posts them over loopback before it answers. A real collector's distance is not \
         measured.\n\
         - MB = 2^20 bytes; percentiles are nearest-rank.\n",
        cold = ms(COLD_START_MEDIAN),
        leak_check = options.leak_check,
        growth = RSS_GROWTH_BYTES_PER_INVOCATION,
    )
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / BYTES_PER_MB
}

fn kb_to_mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn us(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// `git rev-parse --short HEAD`, with `-dirty` if the work tree has changes.
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| {
        let output = std::process::Command::new("git").args(args).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty = git(&["status", "--porcelain"]).is_some_and(|changes| !changes.is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

fn cpu_model() -> Option<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = cpuinfo
        .lines()
        .find(|line| line.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_owned())
}

/// The current time as `YYYY-MM-DD HH:MM UTC`.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Summary;
    use crate::session::Memory;

    fn named(name: &str, cold_ms: u64) -> FunctionResult {
        FunctionResult {
            name: name.to_owned(),
            ..result(cold_ms, 60, 6000, 0)
        }
    }

    #[test]
    fn variants_cost_pairs_each_variant_row_with_its_function() {
        let results = [
            named("health", 7),
            named("docs", 9),
            named("health+secrets", 10),
            named("health+otel", 8),
        ];
        let cost = variants_cost(&results).unwrap_or_default();
        assert!(
            cost.contains("| health | secrets from SSM | 7.0 | 10.0 | +3.0 | 60 | 60 | +0 |"),
            "{cost}"
        );
        assert!(
            cost.contains("| health | spans exported over OTLP | 7.0 | 8.0 | +1.0 |"),
            "{cost}"
        );
        assert!(!cost.contains("docs"), "{cost}");
        assert!(summary(&results).contains("What the variant rows add"));
        assert_eq!(variants_cost(&[named("health", 7)]), None);
    }

    fn result(cold_ms: u64, warm_us: u64, peak_kb: u64, growth_bytes: u64) -> FunctionResult {
        let cold = Duration::from_millis(cold_ms);
        let warm = Duration::from_micros(warm_us);
        let flat = |d| Summary {
            min: d,
            median: d,
            p90: d,
            p99: d,
            max: d,
        };
        FunctionResult {
            name: "health".to_owned(),
            binary_bytes: 3 * 1024 * 1024,
            cold: flat(cold),
            init: flat(cold),
            floor: flat(cold),
            floor_ratio: 1.0,
            aws_calls: 1,
            warm: flat(warm),
            memory_baseline: Memory {
                peak_kb,
                rss_kb: 4096,
            },
            memory_end: Memory {
                peak_kb,
                rss_kb: 4096 + growth_bytes * 10_000 / 1024,
            },
            leak_check: 10_000,
        }
    }

    #[test]
    fn verdicts() {
        assert!(misses(&result(5, 60, 6000, 0)).is_empty());
        assert!(
            table(&[result(5, 60, 6000, 0)])
                .contains("| health | 3.00 | 1 | 5.0 (5.0) | 5.0 | 5.0 | 1.00 | 60 (60) |")
        );
        let missed = misses(&result(31, 150, 40 * 1024, 16));
        // Cold start, peak RSS and growth; warm latency is judged in-process instead.
        assert_eq!(missed.len(), 3, "{missed:?}");
    }
}
