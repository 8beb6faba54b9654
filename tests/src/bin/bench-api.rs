//! `make bench-api`: drives the running local stack with concurrent clients over a mixed
//! workload and writes, per route, the latency and the AWS calls one request makes (from
//! the `x-aloft-aws-usage` header every local function sets: DynamoDB capacity units as
//! the emulator reports them by DynamoDB's rules, S3 and SQS calls), and what a million
//! such requests would cost on AWS at the prices in [`PRICES`].
//!
//! Each client signs up and in once, creates an organization, switches to it and makes
//! an API key there, then repeats: `GET users/me`, list, create, get and patch a project,
//! an upload URL + the upload + its confirmation, a signed Stripe webhook, and the project
//! list again acting in the organization (with its token, and with its key): what a
//! request acting in an organization costs next to a personal one.
//!
//! Usage: `bench-api [--clients N] [--iterations N] [--out FILE]`.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::Write as _,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use aloft_core::aws_usage::{self, AwsUsage};
use aloft_e2e::Stack;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// `STRIPE_WEBHOOK_SECRET` of the local stack (infra/stack.sh's local default).
const STRIPE_SECRET: &str = "whsec_local_stripe_signing_secret";

/// On-demand prices, us-east-1, December 2026, in dollars per million.
struct Prices {
    http_api_requests: f64,
    lambda_requests: f64,
    /// Per GB-second, arm64.
    lambda_gb_second: f64,
    dynamodb_read_units: f64,
    dynamodb_write_units: f64,
    sqs_requests: f64,
    /// GET/HEAD class requests (the confirm's HEAD).
    s3_get_requests: f64,
}

const PRICES: Prices = Prices {
    http_api_requests: 1.00,
    lambda_requests: 0.20,
    lambda_gb_second: 0.000_013_333_4 * 1e6,
    dynamodb_read_units: 0.125,
    dynamodb_write_units: 0.625,
    sqs_requests: 0.40,
    s3_get_requests: 0.40,
};

/// The memory each function is given in template.yaml: 128 MB, and 512 MB for `auth`
/// (password hashing is CPU-bound and Lambda's CPU scales with memory).
fn memory_mb(route: &str) -> f64 {
    if route.contains("/public/auth/") {
        512.0
    } else {
        128.0
    }
}

#[derive(Debug, Default)]
struct Samples {
    latencies: Vec<Duration>,
    read_units: f64,
    write_units: f64,
    dynamodb_calls: u64,
    s3_calls: u64,
    sqs_calls: u64,
    /// Responses without the usage header (the stack was not started with it).
    unmetered: u64,
}

#[derive(Debug, Clone, Copy)]
struct Options {
    clients: usize,
    iterations: usize,
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let (options, out) = parse_args()?;
    let stack = Stack::new();
    let started = Instant::now();
    let runs: Vec<_> = (0..options.clients)
        .map(|i| tokio::spawn(client(stack.clone(), i, options.iterations)))
        .collect();
    let mut all: BTreeMap<&'static str, Samples> = BTreeMap::new();
    for run in runs {
        let samples = run.await.map_err(|e| format!("client failed: {e}"))??;
        for (route, s) in samples {
            let into = all.entry(route).or_default();
            into.latencies.extend(s.latencies);
            into.read_units += s.read_units;
            into.write_units += s.write_units;
            into.dynamodb_calls += s.dynamodb_calls;
            into.s3_calls += s.s3_calls;
            into.sqs_calls += s.sqs_calls;
            into.unmetered += s.unmetered;
        }
    }
    let table = render(&mut all, options, started.elapsed());
    std::io::stdout()
        .write_all(table.as_bytes())
        .map_err(|e| format!("stdout: {e}"))?;
    if let Some(path) = out {
        std::fs::write(&path, &table).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

fn parse_args() -> Result<(Options, Option<String>), String> {
    let mut options = Options {
        clients: 4,
        iterations: 100,
    };
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--clients" => options.clients = value()?.parse().map_err(|e| format!("{e}"))?,
            "--iterations" => options.iterations = value()?.parse().map_err(|e| format!("{e}"))?,
            "--out" => out = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok((options, out))
}

/// One client's run: sign in once, then the workload `iterations` times.
async fn client(
    stack: Stack,
    index: usize,
    iterations: usize,
) -> Result<BTreeMap<&'static str, Samples>, String> {
    let (bearer, _) = stack.new_user(&format!("bench{index}")).await;
    let organization = stack.create_organization(&bearer, "Bench team").await;
    let in_organization = stack.switch(&bearer, &organization).await;
    let key = stack
        .call(
            &in_organization,
            Method::POST,
            "/api/v1/app/api-keys",
            r#"{"name": "bench"}"#,
        )
        .await;
    let organization_key = text(&key.json(), "secret")?;
    let mut client = Client {
        stack,
        bearer,
        in_organization,
        organization_key,
        samples: BTreeMap::new(),
        s3: reqwest::Client::new(),
    };
    for i in 0..iterations {
        client.iteration(index, i).await?;
    }
    Ok(client.samples)
}

struct Client {
    stack: Stack,
    bearer: String,
    /// A token acting in the client's organization (`switch`).
    in_organization: String,
    /// An API key made in the organization.
    organization_key: String,
    samples: BTreeMap<&'static str, Samples>,
    s3: reqwest::Client,
}

impl Client {
    async fn iteration(&mut self, client: usize, i: usize) -> Result<(), String> {
        self.call(
            "GET /app/users/me",
            Method::GET,
            "/api/v1/app/users/me",
            None,
        )
        .await?;
        self.call(
            "GET /app/projects",
            Method::GET,
            "/api/v1/app/projects?limit=20",
            None,
        )
        .await?;
        let project = self
            .call(
                "POST /app/projects",
                Method::POST,
                "/api/v1/app/projects",
                Some(json!({"name": format!("Bench {client}-{i}"), "description": "bench"})),
            )
            .await?;
        let id = text(&project, "id")?;
        let path = format!("/api/v1/app/projects/{id}");
        self.call("GET /app/projects/{id}", Method::GET, &path, None)
            .await?;
        self.call(
            "PATCH /app/projects/{id}",
            Method::PATCH,
            &path,
            Some(json!({"description": "patched"})),
        )
        .await?;

        let bytes = b"bench upload".to_vec();
        let upload = self
            .call(
                "POST /app/files/upload-url",
                Method::POST,
                "/api/v1/app/files/upload-url",
                Some(json!({"filename": "bench.txt", "content_type": "text/plain", "size": bytes.len()})),
            )
            .await?;
        let put = self
            .s3
            .put(text(&upload, "upload_url")?)
            .header("content-type", "text/plain")
            .body(bytes)
            .send()
            .await
            .map_err(|e| format!("upload: {e}"))?;
        if put.status() != StatusCode::OK {
            return Err(format!("upload: {}", put.status()));
        }
        self.call(
            "POST /app/files/confirm",
            Method::POST,
            "/api/v1/app/files/confirm",
            Some(json!({"file_id": text(&upload, "file_id")?})),
        )
        .await?;
        self.webhook(client, i).await?;
        let list = "/api/v1/app/projects?limit=20";
        let token = self.in_organization.clone();
        self.call_as(
            "GET /app/projects (organization token)",
            ("authorization", &token),
            list,
        )
        .await?;
        let key = self.organization_key.clone();
        self.call_as(
            "GET /app/projects (organization API key)",
            ("x-api-key", &key),
            list,
        )
        .await
    }

    /// A GET with other credentials than the client's personal token.
    async fn call_as(
        &mut self,
        route: &'static str,
        credential: (&str, &str),
        path: &str,
    ) -> Result<(), String> {
        let started = Instant::now();
        let answer = self.stack.send(Method::GET, path, &[credential]).await;
        self.record(route, started, &answer)
    }

    /// A Stripe event the worker accepts and has nothing to do for (a one-off payment).
    async fn webhook(&mut self, client: usize, i: usize) -> Result<(), String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let body = json!({
            "id": format!("evt_bench_{now}_{client}_{i}"),
            "type": "checkout.session.completed",
            "created": now,
            "data": {"object": {"object": "checkout.session", "mode": "payment"}},
        })
        .to_string();
        let signed_at = i64::try_from(now).map_err(|e| e.to_string())?;
        let signature = aloft_testkit::receiver::signature_header(STRIPE_SECRET, signed_at, &body);
        let started = Instant::now();
        let answer = self
            .stack
            .send_body(
                Method::POST,
                "/api/v1/public/webhooks/stripe",
                &[
                    ("content-type", "application/json"),
                    ("stripe-signature", &signature),
                ],
                &body,
            )
            .await;
        self.record("POST /public/webhooks/stripe", started, &answer)?;
        Ok(())
    }

    async fn call(
        &mut self,
        route: &'static str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut headers = vec![("authorization", self.bearer.as_str())];
        if !body.is_empty() {
            headers.push(("content-type", "application/json"));
        }
        let started = Instant::now();
        let answer = self.stack.send_body(method, path, &headers, &body).await;
        self.record(route, started, &answer)?;
        serde_json::from_str(&answer.text).map_err(|e| format!("{route}: {e}"))
    }

    fn record(
        &mut self,
        route: &'static str,
        started: Instant,
        answer: &aloft_e2e::Answer,
    ) -> Result<(), String> {
        let elapsed = started.elapsed();
        if !answer.status.is_success() {
            return Err(format!("{route}: {} {}", answer.status, answer.text));
        }
        let samples = self.samples.entry(route).or_default();
        samples.latencies.push(elapsed);
        let usage = answer
            .headers
            .get(aws_usage::HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(AwsUsage::from_header_value);
        match usage {
            Some(u) => {
                samples.read_units += u.dynamodb_read_units;
                samples.write_units += u.dynamodb_write_units;
                samples.dynamodb_calls += u64::from(u.dynamodb_calls);
                samples.s3_calls += u64::from(u.s3_calls);
                samples.sqs_calls += u64::from(u.sqs_calls);
            }
            None => samples.unmetered += 1,
        }
        Ok(())
    }
}

fn text(value: &Value, field: &str) -> Result<String, String> {
    value[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no \"{field}\" in {value}"))
}

/// What a warm stack should answer within, however many clients: the line the summary
/// counts requests over.
const SLOW: Duration = Duration::from_secs(2);

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn render(all: &mut BTreeMap<&'static str, Samples>, options: Options, took: Duration) -> String {
    let mut out = String::new();
    let requests: usize = all.values().map(|s| s.latencies.len()).sum();
    let _ = writeln!(
        out,
        "{} clients × {} iterations: {requests} requests in {:.1} s. Latency is measured by the \
         client through the local API front; capacity units and calls are per request (mean).\n",
        options.clients,
        options.iterations,
        took.as_secs_f64()
    );
    let mut every: Vec<Duration> = all.values().flat_map(|s| s.latencies.clone()).collect();
    every.sort();
    let slow = every.iter().filter(|l| **l > SLOW).count();
    let _ = writeln!(
        out,
        "All requests: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms; over {} s: {slow}.\n",
        percentile(&every, 0.50),
        percentile(&every, 0.90),
        percentile(&every, 0.99),
        percentile(&every, 1.0),
        SLOW.as_secs(),
    );
    let _ = writeln!(
        out,
        "| Route | Requests | p50 ms | p99 ms | max ms | DynamoDB calls | RCU | WCU | S3 calls | SQS calls | $ per 1M requests |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (route, samples) in all.iter_mut() {
        samples.latencies.sort();
        let n = samples.latencies.len() as f64;
        let metered = n - samples.unmetered as f64;
        let mean = |total: f64| {
            if metered > 0.0 {
                total / metered
            } else {
                f64::NAN
            }
        };
        let p50 = percentile(&samples.latencies, 0.50);
        let (rcu, wcu) = (mean(samples.read_units), mean(samples.write_units));
        let (s3, sqs) = (
            mean(samples.s3_calls as f64),
            mean(samples.sqs_calls as f64),
        );
        // Lambda bills the function's duration; the client's median includes the local
        // front and emulator, so it is an upper bound.
        let lambda = PRICES.lambda_requests
            + PRICES.lambda_gb_second * (p50 / 1000.0) * memory_mb(route) / 1024.0;
        let cost = PRICES.http_api_requests
            + lambda
            + rcu * PRICES.dynamodb_read_units
            + wcu * PRICES.dynamodb_write_units
            + sqs * PRICES.sqs_requests
            + s3 * PRICES.s3_get_requests;
        let _ = writeln!(
            out,
            "| `{route}` | {} | {p50:.1} | {:.1} | {:.1} | {:.2} | {rcu:.2} | {wcu:.2} | {s3:.2} | {sqs:.2} | {cost:.2} |",
            samples.latencies.len(),
            percentile(&samples.latencies, 0.99),
            percentile(&samples.latencies, 1.0),
            mean(samples.dynamodb_calls as f64),
        );
    }
    let _ = writeln!(
        out,
        "\nPrices (us-east-1, on-demand, per million): HTTP API requests ${:.2}; Lambda requests \
         ${:.2} + ${:.7} per GB-s (arm64) at the route's p50 and memory (128 MB, auth 512 MB); \
         DynamoDB read units ${:.3}, write units ${:.3}; SQS requests ${:.2}; S3 GET/HEAD ${:.2}. \
         Not included: the client's own S3 PUT of an upload ($5.00 per million), the worker's \
         invocation for an SQS message, data transfer, CloudWatch logs.",
        PRICES.http_api_requests,
        PRICES.lambda_requests,
        PRICES.lambda_gb_second / 1e6,
        PRICES.dynamodb_read_units,
        PRICES.dynamodb_write_units,
        PRICES.sqs_requests,
        PRICES.s3_get_requests,
    );
    let unmetered: u64 = all.values().map(|s| s.unmetered).sum();
    if unmetered > 0 {
        let _ = writeln!(
            out,
            "\n{unmetered} responses had no x-aloft-aws-usage header (start the stack with \
             AWS_USAGE_HEADER=true): their capacity is not in the means."
        );
    }
    out
}
