//! Handler overhead in-process: each function's real router, shared edge included,
//! driven with `tower::ServiceExt::oneshot` — no Lambda runtime and no network. This is
//! docs/performance.md's "handler overhead excluding AWS calls (auth + routing + envelope)"; the
//! warm latency of the process measurements adds the Runtime API round trip on top.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use aloft_auth::{AuthConfig, AuthUser, Authenticator, JwtKeys, Principal, Role, TenantId};
use aloft_config::Env;
use aloft_http::{HttpConfig, Reply};
use axum::{Router, body::Body, routing::get};
use http::{Request, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::{BoxError, measure::Summary};

/// The budget for the median.
pub const BUDGET: Duration = Duration::from_micros(100);
const WARM_UP: usize = 200;

/// One measured request shape.
#[derive(Debug)]
pub struct OverheadResult {
    pub case: &'static str,
    pub summary: Summary,
}

struct Case {
    name: &'static str,
    app: Router,
    path: &'static str,
    bearer: Option<String>,
}

/// Times `iterations` requests of each case, after a warm-up.
pub async fn measure(iterations: usize) -> Result<Vec<OverheadResult>, BoxError> {
    let mut results = Vec::new();
    for case in cases().await? {
        for _ in 0..WARM_UP {
            call(&case).await?;
        }
        let mut samples = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            samples.push(call(&case).await?);
        }
        results.push(OverheadResult {
            case: case.name,
            summary: Summary::of(samples)?,
        });
    }
    Ok(results)
}

async fn call(case: &Case) -> Result<Duration, BoxError> {
    let mut request = Request::get(case.path);
    if let Some(token) = &case.bearer {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(Body::empty())?;
    let started = Instant::now();
    let response = case.app.clone().oneshot(request).await?;
    let status = response.status();
    response.into_body().collect().await?;
    let elapsed = started.elapsed();
    if !status.is_success() {
        return Err(format!("{}: {} answered {status}", case.name, case.path).into());
    }
    Ok(elapsed)
}

async fn cases() -> Result<Vec<Case>, BoxError> {
    // Never contacted: the measured routes make no AWS call.
    let env = Env::from_pairs([
        ("ALOFT_STAGE", "local"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("TABLE_NAME", "bench-table"),
        ("BUCKET_NAME", "bench-bucket"),
        (
            "JOBS_QUEUE_URL",
            "http://127.0.0.1:9/000000000000/bench-jobs",
        ),
        (
            "JWT_SECRET",
            "bench-secret-long-enough-for-hs256-0123456789",
        ),
        ("JWT_ISSUER", "aloft-bench"),
        ("JWT_AUDIENCE", "aloft"),
        ("RATE_LIMITS_ENABLED", "false"),
        ("DOCS_ENABLED", "true"),
    ]);
    let http = HttpConfig::from_env(&env)?;
    let keys = Arc::new(JwtKeys::new(&AuthConfig::from_env(&env)?));
    let token = keys.issue(&bench_principal(), unix_now()?)?;
    let whoami = Router::new()
        .route(
            "/api/v2/app/whoami",
            get(|AuthUser(p): AuthUser| async move { Reply::ok(p.user_id) }),
        )
        .with_state(Authenticator::new(keys, None));
    Ok(vec![
        Case {
            name: "routing + envelope (health, GET /api/v2/public/health)",
            app: fn_health::router(fn_health::AppState::from_env(&env).await?, &http),
            path: "/api/v2/public/health",
            bearer: None,
        },
        Case {
            name: "auth + routing + envelope (bearer token, GET /api/v2/app/whoami)",
            app: aloft_http::edge(whoami, &http),
            path: "/api/v2/app/whoami",
            bearer: Some(token),
        },
        Case {
            name: "docs, GET /openapi.json (whole document)",
            app: fn_docs::router(fn_docs::AppState::from_env(&env).await?, &http),
            path: "/openapi.json",
            bearer: None,
        },
    ])
}

fn bench_principal() -> Principal {
    Principal {
        user_id: "bench-user".into(),
        tenant_id: TenantId::new("bench-tenant"),
        membership: None,
        role: Role::User,
        plan: aloft_auth::Plan::Free,
        email: None,
        impersonator: None,
        token_id: None,
        credential: aloft_auth::Credential::SESSIONLESS,
    }
}

fn unix_now() -> Result<u64, BoxError> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())
}

/// The overhead table, one row per case.
pub fn table(results: &[OverheadResult]) -> String {
    let mut table =
        String::from("| in-process request | median µs | p99 µs | verdict |\n|---|---:|---:|---|");
    for r in results {
        let verdict = if r.summary.median < BUDGET {
            "within budget".to_owned()
        } else {
            format!("median ≥ {} µs", BUDGET.as_micros())
        };
        table.push_str(&format!(
            "\n| {} | {:.1} | {:.1} | {verdict} |",
            r.case,
            r.summary.median.as_secs_f64() * 1e6,
            r.summary.p99.as_secs_f64() * 1e6,
        ));
    }
    table
}

/// Time per argon2id hash with the production parameters, on this machine's CPU. A
/// Lambda gets CPU in proportion to its memory, so a 128 MB function hashes several
/// times slower; the auth function is given 512 MB for this reason.
pub fn password_hashing(samples: usize) -> Result<String, BoxError> {
    let passwords = aloft_auth::Passwords::new()?;
    let mut timings = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        passwords.hash("correct horse battery staple")?;
        timings.push(started.elapsed());
    }
    let summary = Summary::of(timings)?;
    Ok(format!(
        "| password hashing (argon2id, m=19 MiB, t=2, p=1) | median ms | p90 ms |\n|---|---:|---:|\n| {samples} hashes | {:.1} | {:.1} |",
        summary.median.as_secs_f64() * 1e3,
        summary.p90.as_secs_f64() * 1e3,
    ))
}

/// What the first HTTPS connection of a process pays, deployed: reading the system's
/// root certificates (as the AWS SDK and `aloft-outbound` do, from `SSL_CERT_FILE` or
/// the platform's bundle and directory) and parsing them into a root store. Functions
/// no longer pay it at cold start, only on their first HTTPS call.
pub fn tls_roots(samples: usize) -> Result<String, BoxError> {
    let mut timings = Vec::with_capacity(samples);
    let mut roots = 0;
    for _ in 0..samples {
        let started = Instant::now();
        let mut store = rustls::RootCertStore::empty();
        store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        timings.push(started.elapsed());
        roots = store.len();
    }
    let summary = Summary::of(timings)?;
    Ok(format!(
        "| system TLS roots, loaded and parsed | roots | median ms | p90 ms |\n|---|---:|---:|---:|\n| {samples} loads | {roots} | {:.1} | {:.1} |",
        summary.median.as_secs_f64() * 1e3,
        summary.p90.as_secs_f64() * 1e3,
    ))
}
