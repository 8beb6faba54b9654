//! Secrets loaded at cold start from SSM Parameter Store: against the fake parameter API
//! (`aloft_testkit::fake_ssm`), which checks the wire format and the SigV4 signature,
//! and once against the emulator's SSM, a second implementation of the same API.
#![expect(
    clippy::expect_used,
    reason = "test helpers: a panic with the message is the report"
)]

use std::time::{Duration, Instant};

use aloft_config::{ConfigError, Env};
use aloft_store::parameters::{ParameterError, load};
use aloft_testkit::fake_ssm::{FAKE_SSM_ACCESS_KEY_ID, FAKE_SSM_SECRET_ACCESS_KEY, FakeSsm};

const PATH: &str = "/aloft/test/";

/// A deployed function's environment pointed at `fake`, with `extra` on top.
fn env_for(fake: &FakeSsm, extra: &[(&str, &str)]) -> Env {
    let mut pairs = vec![
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", FAKE_SSM_ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", FAKE_SSM_SECRET_ACCESS_KEY),
        ("AWS_ENDPOINT_URL_SSM", fake.url.as_str()),
        ("SECRETS_PATH", PATH),
    ];
    pairs.extend_from_slice(extra);
    Env::from_pairs(pairs)
}

fn unavailable(result: Result<Env, ParameterError>) -> String {
    match result {
        Err(error @ ParameterError::Unavailable { .. }) => error.to_string(),
        Err(other) => panic!("expected SSM to be unavailable, got {other}"),
        Ok(_) => panic!("expected SSM to be unavailable, got secrets"),
    }
}

#[tokio::test]
async fn parameters_are_decrypted_and_laid_over_the_environment() {
    let fake = FakeSsm::start().await;
    fake.put("/aloft/test/JWT_SECRET", "jwt-from-ssm");
    fake.put("/aloft/test/STRIPE_SECRET_KEY", "sk_from_ssm");
    let env = env_for(
        &fake,
        &[
            ("SECRET_NAMES", "JWT_SECRET,STRIPE_SECRET_KEY"),
            ("JWT_SECRET", "plain-jwt"),
            ("TABLE_NAME", "app-table"),
        ],
    );

    let env = load(env).await.expect("secrets load");

    assert_eq!(env.optional("JWT_SECRET").as_deref(), Some("jwt-from-ssm"));
    assert_eq!(
        env.optional("STRIPE_SECRET_KEY").as_deref(),
        Some("sk_from_ssm")
    );
    assert_eq!(env.optional("TABLE_NAME").as_deref(), Some("app-table"));
    let requests = fake.requests();
    assert_eq!(requests.len(), 1, "one GetParameters call");
    assert_eq!(
        requests[0].names,
        ["/aloft/test/JWT_SECRET", "/aloft/test/STRIPE_SECRET_KEY"]
    );
    assert!(requests[0].with_decryption);
}

#[tokio::test]
async fn a_parameter_that_does_not_exist_leaves_its_variable_unset() {
    let fake = FakeSsm::start().await;
    fake.put("/aloft/test/JWT_SECRET", "jwt-from-ssm");
    let env = env_for(
        &fake,
        &[
            ("SECRET_NAMES", "JWT_SECRET,OPENAI_API_KEY"),
            ("OPENAI_API_KEY", "plain-key-that-must-not-be-used"),
        ],
    );

    let env = load(env).await.expect("secrets load");

    assert_eq!(env.optional("OPENAI_API_KEY"), None);
    assert_eq!(
        env.required("OPENAI_API_KEY"),
        Err(ConfigError::Missing("OPENAI_API_KEY"))
    );
    assert_eq!(env.optional("JWT_SECRET").as_deref(), Some("jwt-from-ssm"));
}

#[tokio::test]
async fn more_than_ten_names_are_fetched_ten_at_a_time_concurrently() {
    const NAMES: [&str; 21] = [
        "S00", "S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08", "S09", "S10", "S11", "S12",
        "S13", "S14", "S15", "S16", "S17", "S18", "S19", "S20",
    ];
    let fake = FakeSsm::start().await;
    for name in NAMES {
        fake.put(&format!("{PATH}{name}"), &format!("value-of-{name}"));
    }
    fake.answer_after(Duration::from_millis(200));
    let joined = NAMES.join(",");
    let env = env_for(&fake, &[("SECRET_NAMES", &joined)]);

    let env = load(env).await.expect("secrets load");

    let mut sizes: Vec<usize> = fake.requests().iter().map(|r| r.names.len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 10, 10]);
    assert_eq!(fake.peak_concurrency(), 3, "the three calls overlap");
    for name in NAMES {
        let expected = format!("value-of-{name}");
        assert_eq!(env.optional(name).as_deref(), Some(expected.as_str()));
    }
}

#[tokio::test]
async fn an_error_answer_fails_with_the_path_and_the_reason_but_no_value() {
    let fake = FakeSsm::start().await;
    fake.put("/aloft/test/JWT_SECRET", "jwt-from-ssm");
    fake.fail_next(
        400,
        "AccessDeniedException",
        "User: arn:aws:sts::123456789012:assumed-role/fn is not authorized to perform: ssm:GetParameters",
    );
    let env = env_for(&fake, &[("SECRET_NAMES", "JWT_SECRET")]);

    let error = unavailable(load(env).await);

    assert!(error.contains(PATH), "{error}");
    assert!(error.contains("AccessDeniedException"), "{error}");
    assert!(!error.contains("jwt-from-ssm"), "{error}");
    assert_eq!(fake.requests().len(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn throttling_is_retried() {
    let fake = FakeSsm::start().await;
    fake.put("/aloft/test/JWT_SECRET", "jwt-from-ssm");
    fake.fail_next(400, "ThrottlingException", "Rate exceeded");
    let env = env_for(&fake, &[("SECRET_NAMES", "JWT_SECRET")]);

    let env = load(env).await.expect("secrets load after a retry");

    assert_eq!(env.optional("JWT_SECRET").as_deref(), Some("jwt-from-ssm"));
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn a_wrong_secret_key_is_refused_by_the_signature_check() {
    let fake = FakeSsm::start().await;
    fake.put("/aloft/test/JWT_SECRET", "jwt-from-ssm");
    let env = env_for(&fake, &[("SECRET_NAMES", "JWT_SECRET")]).overlaid([(
        "AWS_SECRET_ACCESS_KEY".to_owned(),
        Some("not-the-key".to_owned()),
    )]);

    let error = unavailable(load(env).await);

    assert!(error.contains("InvalidSignatureException"), "{error}");
}

#[tokio::test]
async fn the_session_token_of_the_role_is_sent() {
    let fake = FakeSsm::start().await;
    fake.put("/aloft/test/JWT_SECRET", "jwt-from-ssm");
    let env = env_for(
        &fake,
        &[
            ("SECRET_NAMES", "JWT_SECRET"),
            ("AWS_SESSION_TOKEN", "role-session-token"),
        ],
    );

    load(env).await.expect("secrets load");

    let request = &fake.requests()[0];
    assert_eq!(
        request
            .headers
            .get("x-amz-security-token")
            .map(|v| v.as_bytes()),
        Some(b"role-session-token".as_slice())
    );
}

#[tokio::test]
async fn a_slow_server_hits_the_deadline() {
    let fake = FakeSsm::start().await;
    fake.put("/aloft/test/JWT_SECRET", "jwt-from-ssm");
    fake.answer_after(Duration::from_secs(5));
    let env = env_for(
        &fake,
        &[
            ("SECRET_NAMES", "JWT_SECRET"),
            ("SECRETS_TIMEOUT_SECONDS", "0.3"),
        ],
    );

    let started = Instant::now();
    let error = unavailable(load(env).await);

    assert!(started.elapsed() < Duration::from_secs(2), "{error}");
    assert!(
        error.contains(PATH) && error.contains("no answer within"),
        "{error}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_with_the_path() {
    let fake = FakeSsm::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let url = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let env = env_for(
        &fake,
        &[
            ("SECRET_NAMES", "JWT_SECRET"),
            ("AWS_ENDPOINT_URL_SSM", &url),
        ],
    );

    let error = unavailable(load(env).await);

    assert!(
        error.contains(PATH) && error.contains("3 attempts"),
        "{error}"
    );
}

/// Functions sign with the credentials Lambda puts in the environment; there is no
/// other source to fall back to (no profile, no instance endpoint to probe).
#[tokio::test]
async fn without_credentials_in_the_environment_nothing_is_sent() {
    let fake = FakeSsm::start().await;
    fake.put("/aloft/test/JWT_SECRET", "jwt-from-ssm");
    let env = env_for(&fake, &[("SECRET_NAMES", "JWT_SECRET")])
        .overlaid([("AWS_SECRET_ACCESS_KEY".to_owned(), None)]);

    let error = unavailable(load(env).await);

    assert!(
        error.contains(PATH) && error.contains("no AWS credentials"),
        "{error}"
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn nothing_is_fetched_without_a_secrets_path() {
    let fake = FakeSsm::start().await;
    let env = env_for(
        &fake,
        &[("SECRET_NAMES", "JWT_SECRET"), ("JWT_SECRET", "plain")],
    )
    .overlaid([("SECRETS_PATH".to_owned(), None)]);

    let env = load(env).await.expect("no fetch, no failure");

    assert_eq!(env.optional("JWT_SECRET").as_deref(), Some("plain"));
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_name_that_is_not_a_variable_name_is_a_configuration_error() {
    let fake = FakeSsm::start().await;
    let env = env_for(&fake, &[("SECRET_NAMES", "JWT_SECRET,../../other/KEY")]);

    let error = load(env).await.expect_err("refused");

    assert!(matches!(error, ParameterError::Config(_)), "{error}");
    assert!(error.to_string().contains("SECRET_NAMES"), "{error}");
    assert!(fake.requests().is_empty());
}

/// moto's SSM is another implementation of the same API: the loader's requests must be
/// understood by it too, and its answers read.
#[tokio::test]
async fn the_emulators_parameter_store_serves_the_same_calls() {
    let endpoint = aloft_testkit::emulator_url();
    let path = format!("/aloft/{}/", uuid::Uuid::new_v4().simple());
    put_parameter(&endpoint, &format!("{path}JWT_SECRET"), "jwt-in-moto").await;
    let env = Env::from_pairs([
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("SECRETS_PATH", path.as_str()),
        ("SECRET_NAMES", "JWT_SECRET,NOT_THERE"),
    ]);

    let env = load(env).await.expect("secrets load from the emulator");

    assert_eq!(env.optional("JWT_SECRET").as_deref(), Some("jwt-in-moto"));
    assert_eq!(env.optional("NOT_THERE"), None);
}

/// `PutParameter` as a SecureString; the emulator does not check signatures.
async fn put_parameter(endpoint: &str, name: &str, value: &str) {
    use http_body_util::Full;
    let body =
        format!(r#"{{"Name":"{name}","Value":"{value}","Type":"SecureString","Overwrite":true}}"#);
    let request = http::Request::post(format!("{endpoint}/"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "AmazonSSM.PutParameter")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(Full::new(bytes::Bytes::from(body)))
        .expect("request");
    let client = aloft_outbound::Client::new(Duration::from_secs(1));
    let response = client
        .send(request, Duration::from_secs(5))
        .await
        .expect("the emulator answers (is it running? `make emulator`)");
    assert!(response.status().is_success(), "{}", response.status());
}
