//! Smoke test of any running stage, as a client on the internet would use it:
//! `make smoke API_URL=https://… [WS_URL=wss://…]` against a deployed stage, and part of
//! `cargo test -p aloft-e2e` against the local stack (`http://127.0.0.1:9000`).
//!
//! It only does what any client may do: no admin calls, no local mailbox, no emulator, no
//! flags or plans, one plain source address. Steps, in order:
//!
//! 1. health and readiness;
//! 2. identity: register a new user, sign in (an unverified user may: only bootstrap
//!    operator roles wait for verification, docs/security.md "Account lifecycle"), refresh
//!    with the `aloft_refresh` cookie, read `users/me`;
//! 3. a project's round trip: create, get, update (`If-Match`), list, delete, 404;
//! 4. a file through presigned URLs: upload URL, PUT with only the signed headers,
//!    confirm, download the same bytes, delete;
//! 5. realtime (when a WebSocket URL is known): connect with the token, the `connected`
//!    greeting (pushed by the jobs worker through the `@connections` API), subscribe to a
//!    project's channel, and its `project.updated` event pushed by an API change;
//! 6. the AI status route's v2 envelope (no completion: it would cost money);
//! 7. cleanup, which runs even when a step failed: whatever is left of the files and
//!    projects is deleted, the account is deleted if the stage has a route for it, and the
//!    session is ended.
//!
//! The steps run in a task of their own so that a failed step (a panic) still lets the
//! cleanup run; the failure is raised again after it.
//!
//! Transport: the suite's reqwest is built without TLS (the workspace keeps one TLS stack,
//! hyper-rustls, which the AWS SDK brings), so this file speaks HTTP(S) and WebSocket
//! through the workspace's outbound client (`aloft_outbound`: hyper over rustls with the
//! system's root certificates; plain HTTP for the local stack). The WebSocket is an
//! HTTP/1.1 upgrade on that client, handed to tungstenite.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aloft_e2e::{Answer, unique};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::Full;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The local stack, which `cargo test -p aloft-e2e` runs against.
const LOCAL_APIS: [&str; 2] = ["http://127.0.0.1:9000", "http://localhost:9000"];
const LOCAL_WS: &str = "ws://127.0.0.1:9001/api/v1/app/ws";

/// Connect and first-byte timeouts; a cold function answers well within them.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// How long a push (through a queue and a worker on a deployed stage) may take.
const PUSH_PATIENCE: Duration = Duration::from_secs(60);
/// At most this many tries of an auth call answered 429 (5 a minute per address).
const AUTH_TRIES: u32 = 3;
const USER_AGENT: &str = "aloft-smoke";

type Socket = WebSocketStream<TokioIo<Upgraded>>;

#[tokio::test]
async fn smoke() {
    let target = Target::from_env();
    let ws = target
        .ws
        .as_deref()
        .unwrap_or("(none: the WebSocket check is skipped)");
    eprintln!("smoke: API {}, WebSocket {ws}", target.api);
    let created = Arc::new(Mutex::new(Created::default()));
    let steps = tokio::spawn(run_steps(target.clone(), created.clone()));
    let outcome = steps.await;
    if outcome.is_err() {
        eprintln!("smoke: a step failed (above); cleaning up before reporting it");
    }
    let problems = cleanup(&target, &created).await;
    if !problems.is_empty() {
        eprintln!("smoke: cleanup problems: {}", problems.join("; "));
    }
    match outcome {
        Ok(()) => {}
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("smoke: the steps did not finish: {e}"),
    }
    assert!(
        problems.is_empty(),
        "smoke step `7 cleanup` failed: {}",
        problems.join("; ")
    );
    eprintln!("smoke: all steps passed against {}", target.api);
}

async fn run_steps(target: Target, created: Arc<Mutex<Created>>) {
    let t = &target;
    timed("1 health", health(t)).await;
    let session = timed("2 identity", identity(t, &created)).await;
    timed("3 projects", projects(t, &session, &created)).await;
    timed("4 files", files(t, &session, &created)).await;
    match t.ws.clone() {
        Some(ws) => timed("5 realtime", realtime(t, &ws, &session, &created)).await,
        None => eprintln!(
            "smoke: [5 realtime] skipped: no WebSocket URL (pass WS_URL=<the stack's WebSocketUrl output>)"
        ),
    }
    timed("6 ai", ai(t, &session)).await;
}

/// Runs one step, saying when it starts and how long it took.
async fn timed<T>(step: &str, work: impl Future<Output = T>) -> T {
    eprintln!("smoke: [{step}] …");
    let started = Instant::now();
    let value = work.await;
    eprintln!("smoke: [{step}] ok ({} ms)", started.elapsed().as_millis());
    value
}

// ---------------------------------------------------------------------------------------
// The steps
// ---------------------------------------------------------------------------------------

async fn health(t: &Target) {
    let step = "1 health";
    let path = "/api/v1/public/health";
    let live = t
        .expect(step, Method::GET, path, None, None, StatusCode::OK)
        .await;
    let body = json_of(step, path, &live);
    ensure(body["status"] == "healthy", step, path, || {
        format!("status is not healthy: {body}")
    });

    let path = "/api/v1/public/health/ready";
    let ready = t
        .expect(step, Method::GET, path, None, None, StatusCode::OK)
        .await;
    let body = json_of(step, path, &ready);
    for component in ["database", "storage", "queue"] {
        ensure(
            body["components"][component]["status"] == "healthy",
            step,
            path,
            || format!("{component} is not healthy: {body}"),
        );
    }
}

/// A signed-in user of the stage.
#[derive(Debug, Clone)]
struct Session {
    /// `Authorization` header value.
    bearer: String,
    user_id: String,
}

async fn identity(t: &Target, created: &Mutex<Created>) -> Session {
    let step = "2 identity";
    // The SES mailbox simulator: the verification mail the stage sends at registration
    // is accepted and dropped, never bounced (a made-up address would count against the
    // sender's reputation), and it works while the SES account is in its sandbox. The
    // local stack sends it to its emulator as any other address.
    let email = format!("success+{}@simulator.amazonses.com", unique("aloft-smoke"));
    let password = format!("{}-correct-horse-battery", unique("pw"));

    let path = "/api/v1/public/auth/register";
    let body = json!({"email": email, "password": password, "full_name": "Aloft smoke test"});
    let registered = t.auth(step, path, &[], Some(&body)).await;
    t.check(
        step,
        &Method::POST,
        path,
        &registered,
        &[StatusCode::CREATED],
    );
    let profile = json_of(step, path, &registered);
    let user_id = text_at(step, path, &profile, "/id");
    ensure(profile["email"] == email.as_str(), step, path, || {
        format!("registered as {email}, answered {profile}")
    });
    {
        let mut c = lock(created);
        c.email = Some(email.clone());
        c.user_id = Some(user_id.clone());
    }
    eprintln!(
        "smoke:   registered {email} ({user_id}), is_verified {}: signing in unverified",
        profile["is_verified"]
    );

    let path = "/api/v1/public/auth/login";
    let credentials = json!({"email": email, "password": password});
    let login = t.auth(step, path, &[], Some(&credentials)).await;
    t.check(step, &Method::POST, path, &login, &[StatusCode::OK]);
    let token = text_at(step, path, &json_of(step, path, &login), "/access_token");
    let cookie = refresh_cookie(step, path, &login);
    let bearer = format!("Bearer {token}");
    {
        let mut c = lock(created);
        c.bearer = Some(bearer.clone());
        c.cookie = Some(cookie.clone());
    }

    let path = "/api/v1/app/users/me";
    let me = t
        .expect(
            step,
            Method::GET,
            path,
            Some(bearer.as_str()),
            None,
            StatusCode::OK,
        )
        .await;
    let me = json_of(step, path, &me);
    ensure(
        me["id"] == user_id.as_str() && me["email"] == email.as_str(),
        step,
        path,
        || format!("expected {user_id} / {email}, got {me}"),
    );

    // The refresh token travels only in the HttpOnly cookie; the answer rotates it.
    let path = "/api/v1/public/auth/refresh";
    let refreshed = t
        .auth(step, path, &[("cookie", cookie.as_str())], None)
        .await;
    t.check(step, &Method::POST, path, &refreshed, &[StatusCode::OK]);
    let token = text_at(
        step,
        path,
        &json_of(step, path, &refreshed),
        "/access_token",
    );
    let rotated = refresh_cookie(step, path, &refreshed);
    ensure(rotated != cookie, step, path, || {
        "the refresh cookie was not rotated".to_owned()
    });
    let bearer = format!("Bearer {token}");
    {
        let mut c = lock(created);
        c.bearer = Some(bearer.clone());
        c.cookie = Some(rotated);
    }

    // The refreshed token works, and v2 wraps the profile in its envelope.
    let path = "/api/v2/app/users/me";
    let me = t
        .expect(
            step,
            Method::GET,
            path,
            Some(bearer.as_str()),
            None,
            StatusCode::OK,
        )
        .await;
    let me = json_of(step, path, &me);
    ensure(
        me["data"]["id"] == user_id.as_str() && me["meta"]["version"] == "v2",
        step,
        path,
        || format!("expected the v2 envelope of {user_id}, got {me}"),
    );
    Session { bearer, user_id }
}

async fn projects(t: &Target, session: &Session, created: &Mutex<Created>) {
    let step = "3 projects";
    let bearer = Some(session.bearer.as_str());
    let name = unique("smoke project");

    let path = "/api/v1/app/projects";
    let body = json!({"name": name, "description": "created by make smoke; deleted at its end"});
    let answer = t
        .expect(
            step,
            Method::POST,
            path,
            bearer,
            Some(&body),
            StatusCode::CREATED,
        )
        .await;
    let project = json_of(step, path, &answer);
    let id = text_at(step, path, &project, "/id");
    lock(created).projects.push(id.clone());
    let item = format!("/api/v1/app/projects/{id}");

    let got = t
        .expect(step, Method::GET, &item, bearer, None, StatusCode::OK)
        .await;
    let body = json_of(step, &item, &got);
    ensure(body["name"] == name.as_str(), step, &item, || {
        format!("expected the name {name}, got {body}")
    });
    let etag = got
        .headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| fail(step, &item, "no ETag header"))
        .to_owned();

    let renamed = format!("{name} renamed");
    let patch = json!({"name": renamed});
    let updated = t
        .send(
            step,
            Method::PATCH,
            &item,
            &[
                ("authorization", session.bearer.as_str()),
                ("content-type", "application/json"),
                ("if-match", etag.as_str()),
            ],
            patch.to_string().into_bytes(),
        )
        .await;
    t.check(step, &Method::PATCH, &item, &updated, &[StatusCode::OK]);
    let body = json_of(step, &item, &updated);
    ensure(body["name"] == renamed.as_str(), step, &item, || {
        format!("expected the name {renamed}, got {body}")
    });

    let list = "/api/v1/app/projects?limit=100";
    let listed = t
        .expect(step, Method::GET, list, bearer, None, StatusCode::OK)
        .await;
    let body = json_of(step, list, &listed);
    let listed_ids = ids_of(&body["items"]);
    ensure(listed_ids.contains(&id), step, list, || {
        format!("project {id} is not listed: {body}")
    });

    t.expect(
        step,
        Method::DELETE,
        &item,
        bearer,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    lock(created).projects.retain(|p| *p != id);
    t.expect(
        step,
        Method::GET,
        &item,
        bearer,
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn files(t: &Target, session: &Session, created: &Mutex<Created>) {
    let step = "4 files";
    let bearer = Some(session.bearer.as_str());
    let bytes = format!("{}: bytes through presigned URLs\n", unique("aloft smoke")).into_bytes();

    let path = "/api/v1/app/files/upload-url";
    let body = json!({"filename": "smoke.txt", "content_type": "text/plain", "size": bytes.len()});
    let answer = t
        .expect(
            step,
            Method::POST,
            path,
            bearer,
            Some(&body),
            StatusCode::OK,
        )
        .await;
    let upload = json_of(step, path, &answer);
    let file_id = text_at(step, path, &upload, "/file_id");
    let upload_url = text_at(step, path, &upload, "/upload_url");
    lock(created).files.push(file_id.clone());

    // What a browser sends: the body with the signed Content-Type (its length is the
    // signed Content-Length), nothing of ours.
    let put = t
        .http
        .send(
            &Method::PUT,
            &upload_url,
            &[("content-type", "text/plain")],
            bytes.clone(),
        )
        .await
        .unwrap_or_else(|e| fail(step, &shown("PUT", &upload_url), &e));
    ensure(
        put.status.is_success(),
        step,
        &shown("PUT", &upload_url),
        || {
            format!(
                "the presigned PUT answered {}: {}",
                put.status,
                excerpt(&put.text())
            )
        },
    );

    let path = "/api/v1/app/files/confirm";
    let confirm = json!({"file_id": file_id});
    let answer = t
        .expect(
            step,
            Method::POST,
            path,
            bearer,
            Some(&confirm),
            StatusCode::OK,
        )
        .await;
    let file = json_of(step, path, &answer);
    ensure(file["status"] == "uploaded", step, path, || {
        format!("the file is not uploaded: {file}")
    });

    let path = format!("/api/v1/app/files/{file_id}/download-url");
    let answer = t
        .expect(step, Method::GET, &path, bearer, None, StatusCode::OK)
        .await;
    let download_url = text_at(step, &path, &json_of(step, &path, &answer), "/download_url");
    let got = t
        .http
        .send(&Method::GET, &download_url, &[], Vec::new())
        .await
        .unwrap_or_else(|e| fail(step, &shown("GET", &download_url), &e));
    ensure(
        got.status == StatusCode::OK,
        step,
        &shown("GET", &download_url),
        || {
            format!(
                "the presigned GET answered {}: {}",
                got.status,
                excerpt(&got.text())
            )
        },
    );
    ensure(
        got.body[..] == bytes[..],
        step,
        &shown("GET", &download_url),
        || {
            format!(
                "downloaded {} bytes that differ from the {} uploaded",
                got.body.len(),
                bytes.len()
            )
        },
    );

    let item = format!("/api/v1/app/files/{file_id}");
    t.expect(
        step,
        Method::DELETE,
        &item,
        bearer,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    lock(created).files.retain(|f| *f != file_id);
    // The object went with the record: the URL signed before no longer downloads it.
    let after = t
        .http
        .send(&Method::GET, &download_url, &[], Vec::new())
        .await
        .unwrap_or_else(|e| fail(step, &shown("GET", &download_url), &e));
    ensure(
        !after.status.is_success(),
        step,
        &shown("GET", &download_url),
        || format!("the deleted object still downloads ({})", after.status),
    );
}

async fn realtime(t: &Target, ws: &str, session: &Session, created: &Mutex<Created>) {
    let step = "5 realtime";
    let bearer = Some(session.bearer.as_str());
    let name = unique("smoke realtime");
    let path = "/api/v1/app/projects";
    let answer = t
        .call(
            step,
            Method::POST,
            path,
            bearer,
            Some(&json!({"name": name})),
        )
        .await;
    t.check(step, &Method::POST, path, &answer, &[StatusCode::CREATED]);
    let project = text_at(step, path, &json_of(step, path, &answer), "/id");
    lock(created).projects.push(project.clone());
    let channel = format!("project:{project}");

    let token = session.bearer.trim_start_matches("Bearer ");
    let mut socket = open_socket(t, step, ws, token).await;
    // `$connect` queues the greeting; the jobs worker pushes it through `@connections`.
    let hello = wait_for(&mut socket, step, "the connected greeting", |frame| {
        frame["type"] == "connected"
    })
    .await;
    ensure(
        hello["data"]["user_id"] == session.user_id.as_str(),
        step,
        ws,
        || format!("the greeting names another user: {hello}"),
    );

    let subscribe = json!({"type": "subscribe", "channel": channel}).to_string();
    socket
        .send(Message::text(subscribe))
        .await
        .unwrap_or_else(|e| fail(step, ws, &format!("sending subscribe: {e}")));
    wait_for(
        &mut socket,
        step,
        "the subscription's acknowledgement",
        |frame| frame["type"] == "subscribed" && frame["channel"] == channel.as_str(),
    )
    .await;

    // A change through the HTTP API reaches the channel through the event bus.
    let item = format!("/api/v1/app/projects/{project}");
    let renamed = format!("{name} renamed");
    let answer = t
        .call(
            step,
            Method::PATCH,
            &item,
            bearer,
            Some(&json!({"name": renamed})),
        )
        .await;
    t.check(step, &Method::PATCH, &item, &answer, &[StatusCode::OK]);
    wait_for(
        &mut socket,
        step,
        "the pushed project.updated event",
        |frame| {
            frame["type"] == "event"
                && frame["event"] == "project.updated"
                && frame["channel"] == channel.as_str()
                && frame["data"]["name"] == renamed.as_str()
        },
    )
    .await;
    let _ = socket.close(None).await;

    t.expect(
        step,
        Method::DELETE,
        &item,
        bearer,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    lock(created).projects.retain(|p| *p != project);
}

async fn ai(t: &Target, session: &Session) {
    let step = "6 ai";
    let path = "/api/v2/app/ai/status";
    let answer = t
        .expect(
            step,
            Method::GET,
            path,
            Some(session.bearer.as_str()),
            None,
            StatusCode::OK,
        )
        .await;
    let body = json_of(step, path, &answer);
    let data = &body["data"];
    ensure(
        data["available"].is_boolean()
            && data["providers"].is_array()
            && body["meta"]["version"] == "v2"
            && body["meta"]["request_id"].is_string(),
        step,
        path,
        || format!("not the v2 envelope of the AI status: {body}"),
    );
    eprintln!(
        "smoke:   AI available {}, providers {}, default model {}",
        data["available"], data["providers"], data["default_model"]
    );
}

// ---------------------------------------------------------------------------------------
// Cleanup
// ---------------------------------------------------------------------------------------

/// What the steps made and have not removed yet, for the cleanup.
#[derive(Debug, Clone, Default)]
struct Created {
    email: Option<String>,
    user_id: Option<String>,
    /// The newest `Authorization` header value.
    bearer: Option<String>,
    /// The newest `aloft_refresh=…` cookie.
    cookie: Option<String>,
    projects: Vec<String>,
    files: Vec<String>,
}

fn lock(created: &Mutex<Created>) -> MutexGuard<'_, Created> {
    created
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Deletes what is left, the account if the stage can, and ends the session. Never
/// panics: returns what it could not do.
async fn cleanup(t: &Target, created: &Mutex<Created>) -> Vec<String> {
    let step = "7 cleanup";
    eprintln!("smoke: [{step}] …");
    let left = lock(created).clone();
    let mut problems = Vec::new();
    let who = format!(
        "{} ({})",
        left.email.as_deref().unwrap_or("no user"),
        left.user_id.as_deref().unwrap_or("-")
    );
    let Some(bearer) = left.bearer.as_deref() else {
        if left.email.is_some() {
            problems.push(format!(
                "{who} was registered but never signed in, so it could not be cleaned up"
            ));
        } else {
            eprintln!("smoke: [{step}] nothing was created");
        }
        return problems;
    };
    let auth = [("authorization", bearer)];

    let leftovers = left
        .files
        .iter()
        .map(|id| format!("/api/v1/app/files/{id}"))
        .chain(
            left.projects
                .iter()
                .map(|id| format!("/api/v1/app/projects/{id}")),
        );
    for path in leftovers {
        match t.try_send(&Method::DELETE, &path, &auth, Vec::new()).await {
            Ok(answer)
                if matches!(
                    answer.status,
                    StatusCode::NO_CONTENT | StatusCode::NOT_FOUND
                ) =>
            {
                eprintln!("smoke:   deleted {path}");
            }
            Ok(answer) => problems.push(format!(
                "DELETE {path} answered {}: {}",
                answer.status,
                excerpt(&answer.text)
            )),
            Err(e) => problems.push(format!("DELETE {path}: {e}")),
        }
    }

    // The account itself. No route deletes one's own account today (docs/api.md lists
    // none; only admins deactivate): a 404 or 405 says so, and the user stays behind,
    // signed out and owning nothing. A stage that has the route deletes it here.
    let path = "/api/v1/app/users/me";
    match t.try_send(&Method::DELETE, path, &auth, Vec::new()).await {
        Ok(answer) if answer.status.is_success() => eprintln!("smoke:   deleted the account {who}"),
        Ok(answer)
            if matches!(
                answer.status,
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
            ) =>
        {
            eprintln!(
                "smoke:   note: the stage has no account deletion route (DELETE {path} answered {}); \
                 the user {who} remains, signed out, with no projects or files",
                answer.status
            );
        }
        Ok(answer) => problems.push(format!(
            "DELETE {path} answered {}: {}",
            answer.status,
            excerpt(&answer.text)
        )),
        Err(e) => problems.push(format!("DELETE {path}: {e}")),
    }

    // Sign out: the session (refresh family) is revoked. Always 204.
    if let Some(cookie) = left.cookie.as_deref() {
        let path = "/api/v1/public/auth/logout";
        match t.try_auth(path, &[("cookie", cookie)], None).await {
            Ok(answer) if answer.status == StatusCode::NO_CONTENT => {
                eprintln!("smoke:   signed out")
            }
            Ok(answer) => problems.push(format!(
                "POST {path} answered {}: {}",
                answer.status,
                excerpt(&answer.text)
            )),
            Err(e) => problems.push(format!("POST {path}: {e}")),
        }
    }
    if problems.is_empty() {
        eprintln!("smoke: [{step}] ok");
    }
    problems
}

// ---------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------

/// The stage under test.
#[derive(Debug, Clone)]
struct Target {
    /// The API's base URL, without a trailing `/` (the `ApiUrl` output ends with one).
    api: String,
    /// The WebSocket endpoint (`WebSocketUrl`), if known.
    ws: Option<String>,
    http: Http,
}

impl Target {
    /// `ALOFT_API_URL` (default the local stack) and `ALOFT_WS_URL`; without the latter,
    /// only the local stack's gateway is known.
    fn from_env() -> Self {
        let api = setting("ALOFT_API_URL").unwrap_or_else(|| LOCAL_APIS[0].to_owned());
        let api = api.trim_end_matches('/').to_owned();
        assert!(
            api.starts_with("https://") || api.starts_with("http://"),
            "ALOFT_API_URL must be an http(s) URL, e.g. `make smoke API_URL=https://<id>.execute-api.<region>.amazonaws.com`; got {api:?}"
        );
        let ws = match setting("ALOFT_WS_URL") {
            Some(url) => Some(url.trim_end_matches('/').to_owned()),
            None if LOCAL_APIS.contains(&api.as_str()) => Some(LOCAL_WS.to_owned()),
            None => None,
        };
        if let Some(ws) = &ws {
            assert!(
                ws.starts_with("wss://") || ws.starts_with("ws://"),
                "ALOFT_WS_URL must be a ws(s) URL, e.g. WS_URL=wss://<id>.execute-api.<region>.amazonaws.com/<stage>; got {ws:?}"
            );
        }
        Self {
            api,
            ws,
            http: Http::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// An API request; a transport failure fails `step`.
    async fn send(
        &self,
        step: &str,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        self.try_send(&method, path, headers, body)
            .await
            .unwrap_or_else(|e| fail(step, &shown(method.as_str(), &self.url(path)), &e))
    }

    /// An API request with `bearer` (if any) and `body` (if any) as JSON.
    async fn call(
        &self,
        step: &str,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut headers = Vec::new();
        if let Some(bearer) = bearer {
            headers.push(("authorization", bearer));
        }
        let body = match body {
            Some(body) => {
                headers.push(("content-type", "application/json"));
                body.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        self.send(step, method, path, &headers, body).await
    }

    async fn try_send(
        &self,
        method: &Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        let mut all = vec![("user-agent", USER_AGENT)];
        all.extend_from_slice(headers);
        let reply = self.http.send(method, &self.url(path), &all, body).await?;
        Ok(Answer {
            status: reply.status,
            text: reply.text(),
            headers: reply.headers,
        })
    }

    /// `POST /public/auth/…`: 5 a minute per address and route, so a 429 waits out its
    /// `Retry-After` (at most [`AUTH_TRIES`] tries). A transport failure fails `step`.
    async fn auth(
        &self,
        step: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Answer {
        self.try_auth(path, headers, body)
            .await
            .unwrap_or_else(|e| fail(step, &shown("POST", &self.url(path)), &e))
    }

    async fn try_auth(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let mut all = headers.to_vec();
        let bytes = match body {
            Some(body) => {
                all.push(("content-type", "application/json"));
                body.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        let mut tries = 0;
        loop {
            tries += 1;
            let answer = self
                .try_send(&Method::POST, path, &all, bytes.clone())
                .await?;
            if answer.status != StatusCode::TOO_MANY_REQUESTS || tries >= AUTH_TRIES {
                return Ok(answer);
            }
            let wait = answer
                .headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(10)
                .clamp(1, 65);
            eprintln!(
                "smoke:   POST {path} answered 429: waiting {wait} s (the auth routes allow 5 a minute per address)"
            );
            tokio::time::sleep(Duration::from_secs(wait)).await;
        }
    }

    /// Fails `step` unless `answer`'s status is one of `wanted`.
    /// [`Self::call`], failing the step unless the answer has the status `wanted`.
    async fn expect(
        &self,
        step: &str,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
        wanted: StatusCode,
    ) -> Answer {
        let answer = self.call(step, method.clone(), path, bearer, body).await;
        self.check(step, &method, path, &answer, &[wanted]);
        answer
    }

    fn check(
        &self,
        step: &str,
        method: &Method,
        path: &str,
        answer: &Answer,
        wanted: &[StatusCode],
    ) {
        if wanted.contains(&answer.status) {
            return;
        }
        let request_id = answer
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let wanted: Vec<String> = wanted.iter().map(ToString::to_string).collect();
        fail(
            step,
            &shown(method.as_str(), &self.url(path)),
            &format!(
                "answered {} (expected {}), x-request-id {request_id}: {}",
                answer.status,
                wanted.join(" or "),
                excerpt(&answer.text)
            ),
        );
    }
}

/// HTTP(S) to any host: the workspace's outbound client.
#[derive(Debug, Clone)]
struct Http {
    client: aloft_outbound::Client,
}

/// A whole response.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Http {
    fn new() -> Self {
        Self {
            client: aloft_outbound::Client::new(CONNECT_TIMEOUT),
        }
    }

    /// `method url` with exactly `headers` (plus `Host` and the body's `Content-Length`).
    async fn send(
        &self,
        method: &Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Reply, String> {
        let mut request = Request::builder().method(method.clone()).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        // hyper sends no length for an empty body; a browser says 0 on a POST, and some
        // proxies refuse a POST without one (411).
        let writes = *method == Method::POST || *method == Method::PUT || *method == Method::PATCH;
        if body.is_empty() && writes {
            request = request.header(header::CONTENT_LENGTH, "0");
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("not a valid request: {e}"))?;
        let response = self
            .client
            .send(request, ANSWER_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = aloft_outbound::read_body(response, MAX_BODY_BYTES, ANSWER_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// A WebSocket to `ws` (`ws://` or `wss://`) with `?token=`: an HTTP/1.1 upgrade through
/// the outbound client (TLS included), then tungstenite over the upgraded connection.
async fn open_socket(t: &Target, step: &str, ws: &str, token: &str) -> Socket {
    let what = format!("WebSocket {ws}");
    let base = if let Some(rest) = ws.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = ws.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        fail(step, &what, "not a ws:// or wss:// URL")
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}token={token}");
    let key = generate_key();
    let request = Request::get(url.as_str())
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .header(header::SEC_WEBSOCKET_KEY, key.as_str())
        .header(header::USER_AGENT, USER_AGENT)
        .body(Full::new(Bytes::new()))
        .unwrap_or_else(|e| fail(step, &what, &format!("not a valid request: {e}")));
    let response = t
        .http
        .client
        .send(request, ANSWER_TIMEOUT)
        .await
        .unwrap_or_else(|e| fail(step, &what, &e.to_string()));
    let status = response.status();
    if status != StatusCode::SWITCHING_PROTOCOLS {
        let body = aloft_outbound::read_body(response, 64 * 1024, ANSWER_TIMEOUT)
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        fail(
            step,
            &what,
            &format!(
                "the handshake answered {status} (expected 101): {}",
                excerpt(&body)
            ),
        );
    }
    let accept = response
        .headers()
        .get(header::SEC_WEBSOCKET_ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    ensure(
        accept == derive_accept_key(key.as_bytes()),
        step,
        &what,
        || format!("Sec-WebSocket-Accept {accept:?} does not answer the key"),
    );
    let upgraded = hyper::upgrade::on(response)
        .await
        .unwrap_or_else(|e| fail(step, &what, &format!("upgrade: {e}")));
    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await
}

/// The first text frame on `socket` that `wanted` accepts, within [`PUSH_PATIENCE`]. An
/// `error` event, the socket's end, or the deadline fails `step`.
async fn wait_for(
    socket: &mut Socket,
    step: &str,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + PUSH_PATIENCE;
    let mut seen: Vec<String> = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(frame) = tokio::time::timeout(left, socket.next()).await else {
            fail(
                step,
                what,
                &format!(
                    "nothing within {PUSH_PATIENCE:?}; frames received meanwhile: [{}]",
                    seen.join(", ")
                ),
            );
        };
        match frame {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
                    fail(step, what, &format!("a frame is not JSON ({e}): {text}"))
                });
                if wanted(&frame) {
                    return frame;
                }
                if frame["type"] == "error" {
                    fail(
                        step,
                        what,
                        &format!("the realtime function answered an error: {frame}"),
                    );
                }
                seen.push(frame.to_string());
            }
            Some(Ok(Message::Close(close))) => fail(
                step,
                what,
                &format!(
                    "the socket was closed ({close:?}) after [{}]",
                    seen.join(", ")
                ),
            ),
            Some(Ok(_)) => {}
            Some(Err(e)) => fail(step, what, &format!("the socket failed: {e}")),
            None => fail(
                step,
                what,
                &format!("the socket ended after [{}]", seen.join(", ")),
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------

fn fail(step: &str, what: &str, detail: &str) -> ! {
    panic!("smoke step `{step}` failed: {what}: {detail}")
}

fn ensure(condition: bool, step: &str, what: &str, detail: impl FnOnce() -> String) {
    if !condition {
        fail(step, what, &detail());
    }
}

/// `METHOD url` with the query left out: presigned URLs carry signatures, WebSocket
/// URLs tokens.
fn shown(method: &str, url: &str) -> String {
    match url.split_once('?') {
        Some((before, _)) => format!("{method} {before}?…"),
        None => format!("{method} {url}"),
    }
}

fn excerpt(text: &str) -> String {
    const MAX: usize = 1500;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX).collect();
    cut.push('…');
    cut
}

fn json_of(step: &str, what: &str, answer: &Answer) -> Value {
    serde_json::from_str(&answer.text).unwrap_or_else(|e| {
        fail(
            step,
            what,
            &format!("the body is not JSON ({e}): {}", excerpt(&answer.text)),
        )
    })
}

fn text_at(step: &str, what: &str, value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| fail(step, what, &format!("no string at {pointer} in {value}")))
}

fn ids_of(items: &Value) -> Vec<String> {
    items
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `aloft_refresh=…` from a sign-in's or refresh's `Set-Cookie`.
fn refresh_cookie(step: &str, path: &str, answer: &Answer) -> String {
    answer
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| {
            pair.trim().starts_with("aloft_refresh=") && pair.trim().len() > "aloft_refresh=".len()
        })
        .map(|pair| pair.trim().to_owned())
        .unwrap_or_else(|| fail(step, path, "no aloft_refresh cookie in Set-Cookie"))
}

/// An environment variable's value, `None` when unset or blank (`make smoke` passes
/// `ALOFT_WS_URL=` when `WS_URL` is not given).
fn setting(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}
