//! A fake SSM Parameter Store on 127.0.0.1 that speaks `GetParameters` in the AWS JSON
//! 1.1 wire format: `POST /` with `X-Amz-Target: AmazonSSM.GetParameters` and
//! `Content-Type: application/x-amz-json-1.1`, a body `{"Names":[…],"WithDecryption":…}`,
//! and a SigV4 signature for service `ssm` that the fake checks the way AWS does
//! (recomputed here from the scheme with the secret key of [`FAKE_SSM_ACCESS_KEY_ID`],
//! apart from the signing code under test). Answers are SSM's:
//! `{"Parameters":[{"Name","Type","Value","Version","ARN",…}],"InvalidParameters":[…]}`,
//! and errors are `{"__type","message"}` with status 400 (`UnknownOperationException`,
//! `MissingAuthenticationTokenException`, `UnrecognizedClientException`,
//! `InvalidSignatureException`, `SerializationException`, `ValidationException` for no
//! names or more than 10). A SecureString asked for without decryption comes back as
//! opaque ciphertext, as in AWS.
//!
//! Tests steer it in-process: [`FakeSsm::fail_next`] makes the next call fail,
//! [`FakeSsm::answer_after`] slows every later one, [`FakeSsm::peak_concurrency`] says
//! how many calls were in flight at once.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use http::HeaderMap;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::{io::AsyncWriteExt, net::TcpStream};

use crate::receiver::{FakeServer, Received, read_request, serve_on};

mod sigv4;

/// The credentials the fake accepts: those of the local stack's environment.
pub const FAKE_SSM_ACCESS_KEY_ID: &str = "local";
pub const FAKE_SSM_SECRET_ACCESS_KEY: &str = "local";
const ACCOUNT: &str = "123456789012";
const TARGET: &str = "AmazonSSM.GetParameters";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const MAX_NAMES: usize = 10;

/// One authenticated `GetParameters` request as the fake understood it.
#[derive(Debug, Clone)]
pub struct SsmRequest {
    /// Empty when the body could not be read.
    pub names: Vec<String>,
    pub with_decryption: bool,
    pub headers: HeaderMap,
}

/// A status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    /// AWS's JSON 1.1 error shape.
    fn error(status: u16, kind: &str, message: &str) -> Self {
        Self {
            status,
            body: json!({"__type": kind, "message": message}),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Name → value; every parameter is a SecureString.
    parameters: BTreeMap<String, String>,
    faults: VecDeque<Answer>,
    delay: Option<Duration>,
    received: Vec<SsmRequest>,
    in_flight: usize,
    peak: usize,
}

/// A running fake; stops with the test's runtime.
#[derive(Debug, Clone)]
pub struct FakeSsm {
    /// `http://127.0.0.1:<port>`: `AWS_ENDPOINT_URL_SSM`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeServer for FakeSsm {
    fn serve(&self, stream: TcpStream) -> impl std::future::Future<Output = ()> + Send {
        self.handle(stream)
    }
}

impl FakeSsm {
    /// On a free port.
    pub async fn start() -> Self {
        serve_on("127.0.0.1:0", |url| Self {
            url,
            state: Arc::default(),
        })
        .await
        .expect("a free local port")
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fake lock")
    }

    /// Stores the SecureString parameter `name` (a full name: `/aloft/test/JWT_SECRET`).
    pub fn put(&self, name: &str, value: &str) {
        self.state()
            .parameters
            .insert(name.to_owned(), value.to_owned());
    }

    /// Every authenticated request so far, in arrival order.
    pub fn requests(&self) -> Vec<SsmRequest> {
        self.state().received.clone()
    }

    /// The next authenticated call answers `status` with the error `kind` and `message`.
    pub fn fail_next(&self, status: u16, kind: &str, message: &str) {
        self.state()
            .faults
            .push_back(Answer::error(status, kind, message));
    }

    /// Every later call answers only after `delay`.
    pub fn answer_after(&self, delay: Duration) {
        self.state().delay = Some(delay);
    }

    /// The most calls that were being answered at the same time.
    pub fn peak_concurrency(&self) -> usize {
        self.state().peak
    }

    async fn handle(&self, mut stream: TcpStream) {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        {
            let mut state = self.state();
            state.in_flight += 1;
            state.peak = state.peak.max(state.in_flight);
        }
        let answer = self.answer(&request).await;
        self.state().in_flight -= 1;
        let _ = respond(&mut stream, &answer).await;
        let _ = stream.shutdown().await;
    }

    async fn answer(&self, request: &Received) -> Answer {
        let region = match check(request) {
            Ok(region) => region,
            Err(refused) => return refused,
        };
        let body = serde_json::from_str::<Value>(&request.body).ok();
        let names = body.as_ref().and_then(names);
        let with_decryption = body
            .as_ref()
            .and_then(|b| b.get("WithDecryption")?.as_bool())
            .unwrap_or(false);
        let (fault, delay) = {
            let mut state = self.state();
            state.received.push(SsmRequest {
                names: names.clone().unwrap_or_default(),
                with_decryption,
                headers: request.headers.clone(),
            });
            (state.faults.pop_front(), state.delay)
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(fault) = fault {
            return fault;
        }
        match names {
            None => Answer::error(
                400,
                "SerializationException",
                "The request body is not {\"Names\":[string…],\"WithDecryption\":boolean}",
            ),
            Some(names) if names.is_empty() || names.len() > MAX_NAMES => Answer::error(
                400,
                "ValidationException",
                &format!(
                    "1 validation error detected: Value '{names:?}' at 'names' failed to satisfy constraint: Member must have length less than or equal to {MAX_NAMES} and greater than or equal to 1"
                ),
            ),
            Some(names) => self.parameters(&names, with_decryption, &region),
        }
    }

    /// The `GetParameters` answer for `names`.
    fn parameters(&self, names: &[String], with_decryption: bool, region: &str) -> Answer {
        let state = self.state();
        let mut found = Vec::new();
        let mut invalid = Vec::new();
        for name in names {
            let Some(value) = state.parameters.get(name) else {
                invalid.push(name.clone());
                continue;
            };
            let value = if with_decryption {
                value.clone()
            } else {
                format!("AQICAHh{}", hex::encode(Sha256::digest(value.as_bytes())))
            };
            let separator = if name.starts_with('/') { "" } else { "/" };
            found.push(json!({
                "Name": name,
                "Type": "SecureString",
                "Value": value,
                "Version": 1,
                "LastModifiedDate": 1_767_225_600.0,
                "ARN": format!("arn:aws:ssm:{region}:{ACCOUNT}:parameter{separator}{name}"),
                "DataType": "text",
            }));
        }
        Answer {
            status: 200,
            body: json!({"Parameters": found, "InvalidParameters": invalid}),
        }
    }
}

/// `Names` when it is a list of strings.
fn names(body: &Value) -> Option<Vec<String>> {
    body.get("Names")?
        .as_array()?
        .iter()
        .map(|name| name.as_str().map(str::to_owned))
        .collect()
}

/// The operation, the content type and the signature, as AWS checks them; the signing
/// region when all is well.
fn check(request: &Received) -> Result<String, Answer> {
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
    if request.method != "POST" || request.path != "/" || header("x-amz-target") != Some(TARGET) {
        return Err(Answer::error(400, "UnknownOperationException", ""));
    }
    if header("content-type") != Some(CONTENT_TYPE) {
        return Err(Answer::error(
            400,
            "SerializationException",
            "Content-Type must be application/x-amz-json-1.1",
        ));
    }
    let Some(authorization) = header("authorization") else {
        return Err(Answer::error(
            400,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    sigv4::verify(request, authorization)
}

async fn respond(stream: &mut TcpStream, answer: &Answer) -> std::io::Result<()> {
    let body = answer.body.to_string();
    let head = format!(
        "HTTP/1.1 {} Fake\r\ncontent-type: {CONTENT_TYPE}\r\ncontent-length: {}\r\nconnection: close\r\nx-amzn-requestid: fake-ssm\r\n\r\n",
        answer.status,
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMZ_DATE: &str = "20260101T000000Z";
    const SCOPE: &str = "20260101/us-east-1/ssm/aws4_request";

    /// A `GetParameters` request with `body`, signed by the fake's own scheme.
    fn signed(body: &str) -> Received {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1".parse().expect("header"));
        headers.insert("content-type", CONTENT_TYPE.parse().expect("header"));
        headers.insert("x-amz-target", TARGET.parse().expect("header"));
        headers.insert("x-amz-date", AMZ_DATE.parse().expect("header"));
        let mut request = Received {
            method: "POST".into(),
            path: "/".into(),
            headers,
            body: body.into(),
        };
        sigv4::sign(&mut request, AMZ_DATE, SCOPE);
        request
    }

    fn answer(request: &Received) -> Answer {
        let fake = FakeSsm {
            url: String::new(),
            state: Arc::default(),
        };
        fake.put("/app/A", "a-value");
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(fake.answer(request))
    }

    fn error_type(answer: &Answer) -> (u16, &str) {
        (answer.status, answer.body["__type"].as_str().unwrap_or(""))
    }

    #[test]
    fn found_and_missing_names_are_answered_as_ssm_does() {
        let answer = answer(&signed(
            r#"{"Names":["/app/A","/app/B"],"WithDecryption":true}"#,
        ));
        assert_eq!(answer.status, 200);
        let parameter = &answer.body["Parameters"][0];
        assert_eq!(parameter["Value"], "a-value");
        assert_eq!(parameter["Type"], "SecureString");
        assert_eq!(
            parameter["ARN"],
            "arn:aws:ssm:us-east-1:123456789012:parameter/app/A"
        );
        assert_eq!(answer.body["InvalidParameters"], json!(["/app/B"]));
    }

    #[test]
    fn without_decryption_a_secure_string_is_ciphertext() {
        let answer = answer(&signed(r#"{"Names":["/app/A"]}"#));
        let value = answer.body["Parameters"][0]["Value"].as_str().unwrap_or("");
        assert!(
            value.starts_with("AQICAHh") && !value.contains("a-value"),
            "{value}"
        );
    }

    #[test]
    fn malformed_bodies_and_too_many_names_are_refused() {
        let eleven: Vec<String> = (0..11).map(|i| format!("/app/{i}")).collect();
        let too_many = json!({"Names": eleven}).to_string();
        assert_eq!(
            error_type(&answer(&signed(&too_many))),
            (400, "ValidationException")
        );
        assert_eq!(
            error_type(&answer(&signed(r#"{"Names":[]}"#))),
            (400, "ValidationException")
        );
        assert_eq!(
            error_type(&answer(&signed("{nope"))),
            (400, "SerializationException")
        );
        assert_eq!(
            error_type(&answer(&signed(r#"{"Names":[1]}"#))),
            (400, "SerializationException")
        );
    }

    #[test]
    fn the_target_and_the_signature_are_checked() {
        let mut other = signed(r#"{"Names":["/app/A"]}"#);
        other.headers.insert(
            "x-amz-target",
            "AmazonSSM.PutParameter".parse().expect("header"),
        );
        assert_eq!(
            error_type(&answer(&other)),
            (400, "UnknownOperationException")
        );

        let mut unsigned = signed(r#"{"Names":["/app/A"]}"#);
        unsigned.headers.remove("authorization");
        assert_eq!(
            error_type(&answer(&unsigned)),
            (400, "MissingAuthenticationTokenException")
        );

        let mut tampered = signed(r#"{"Names":["/app/A"]}"#);
        tampered.body = r#"{"Names":["/app/B"]}"#.into();
        assert_eq!(
            error_type(&answer(&tampered)),
            (400, "InvalidSignatureException")
        );

        let s3 = signed(r#"{"Names":["/app/A"]}"#);
        let authorization = s3.headers["authorization"]
            .to_str()
            .unwrap_or("")
            .replace("/ssm/", "/s3/");
        let mut s3 = s3;
        s3.headers
            .insert("authorization", authorization.parse().expect("header"));
        assert_eq!(error_type(&answer(&s3)), (400, "InvalidSignatureException"));
    }
}
