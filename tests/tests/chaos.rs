//! Chaos: a mixed workload through the local stack while the emulator fails a share of
//! the functions' AWS calls (infra/local/faults.py: throttling, 5xx, cancelled
//! transactions, answers slower than the SDK waits, writes applied but answered 500),
//! then invariants checked on the data itself. `make chaos` runs it at full size,
//! `make chaos-ci` (in `make test`) smaller; both start a stack of their own.
//!
//! Each user, concurrently with the others, creates, renames and deletes projects and
//! uploads, confirms and deletes files, retrying what is answered 503 or 429 as a client
//! would. Afterwards, with the faults off and the queues drained:
//! - every answer was an envelope, and no 5xx but 503 with `Retry-After`;
//! - what was acknowledged is there: a project at least at the version acknowledged, a
//!   deleted one gone, a confirmed file downloadable;
//! - each tenant's counts (projects; files and their bytes) and storage usage equal a
//!   recount of the items, and so do the dashboard's totals of users and queued jobs;
//! - no job is left `queued`, `running` or `failed`;
//! - every committed project change, every uploaded file and every acknowledged file
//!   delete reached the tenant's webhook exactly once in effect (deliveries told apart by
//!   `X-Webhook-Id`), and nothing uncommitted did.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use aloft_e2e::{Answer, Stack};
use aloft_testkit::receiver::Receiver;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TABLE: &str = "aloft-local-app-table";

/// How long the queues may go without finishing a job before the open ones count as
/// stuck: longer than a job's last retry backoff (2 s doubled four times, locally) and
/// the relay's 30 s quiet time.
const STALLED: Duration = Duration::from_secs(120);

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn emulator() -> String {
    std::env::var("ALOFT_EMULATOR_URL").unwrap_or_else(|_| "http://127.0.0.1:5100".into())
}

/// Every answer of the run, by status, and the ones that broke the contract.
#[derive(Default)]
struct Answers {
    by_status: BTreeMap<u16, u64>,
    violations: Vec<String>,
}

impl Answers {
    fn check(&mut self, what: &str, answer: &Answer) {
        let status = answer.status.as_u16();
        *self.by_status.entry(status).or_default() += 1;
        if answer.status.is_success() {
            return;
        }
        let envelope: Option<Value> = serde_json::from_str(&answer.text).ok();
        let coded = envelope
            .as_ref()
            .is_some_and(|e| e["error"]["code"].is_string());
        if !coded {
            self.violations.push(format!(
                "{what}: {status} is not an envelope: {}",
                answer.text
            ));
        }
        if answer.status.is_server_error()
            && (answer.status != StatusCode::SERVICE_UNAVAILABLE
                || !answer.headers.contains_key("retry-after"))
        {
            self.violations
                .push(format!("{what}: {status} {}", answer.text));
        }
    }
}

/// One user's client: sends, records every answer, retries what may be retried.
struct Client {
    stack: Stack,
    bearer: String,
    answers: Arc<Mutex<Answers>>,
    /// Per path, every answer's method and status in order: a violation's story.
    history: Mutex<BTreeMap<String, Vec<String>>>,
}

/// Whether a request happened, as far as its client can tell.
enum Outcome {
    Done(Answer),
    /// Refused with an answer that says it did not happen (4xx but 429).
    Refused,
    /// Retried until given up: it may or may not have happened.
    Unknown,
}

impl Client {
    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Outcome {
        let mut all = vec![
            ("authorization", self.bearer.as_str()),
            ("content-type", "application/json"),
        ];
        all.extend_from_slice(headers);
        for attempt in 0..8 {
            let answer = self.stack.send_body(method.clone(), path, &all, body).await;
            self.answers
                .lock()
                .unwrap()
                .check(&format!("{method} {path}"), &answer);
            (self
                .history
                .lock()
                .unwrap()
                .entry(path.to_owned())
                .or_default())
            .push(format!("{method} {}", answer.status.as_u16()));
            match answer.status {
                s if s.is_success() => return Outcome::Done(answer),
                // A retried delete finding nothing: an earlier attempt did it (a write
                // applied, then answered 503).
                StatusCode::NOT_FOUND if attempt > 0 && method == Method::DELETE => {
                    return Outcome::Done(answer);
                }
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                    let wait = answer
                        .headers
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                        .unwrap_or(1)
                        .min(1);
                    tokio::time::sleep(Duration::from_millis(200 + 300 * wait)).await;
                }
                s if s.is_client_error() => return Outcome::Refused,
                _ => return Outcome::Unknown,
            }
        }
        Outcome::Unknown
    }
}

/// What a user was told, to hold the stack to.
#[derive(Default)]
struct Told {
    /// Acknowledged projects still there, at the version acknowledged.
    projects: BTreeMap<String, u64>,
    deleted_projects: BTreeSet<String>,
    /// Confirmed files still there.
    files: BTreeSet<String>,
    deleted_files: BTreeSet<String>,
}

async fn work(client: &Client, rounds: u64, seed: u64) -> Told {
    let mut told = Told::default();
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..rounds {
        let body = json!({ "name": format!("chaos {seed} {round}") }).to_string();
        if let Outcome::Done(created) = client
            .call(Method::POST, "/api/v1/app/projects", &[], &body)
            .await
        {
            let id = created.json()["id"].as_str().unwrap().to_owned();
            told.projects.insert(id, 1);
        }
        if let Some((id, version)) = told.projects.iter().next().map(|(i, v)| (i.clone(), *v)) {
            let rename = json!({ "name": format!("renamed {round}") }).to_string();
            let tag = format!("\"{version}\"");
            let path = format!("/api/v1/app/projects/{id}");
            match client
                .call(Method::PATCH, &path, &[("if-match", &tag)], &rename)
                .await
            {
                Outcome::Done(answer) => {
                    let now = answer.json()["version"].as_u64().unwrap_or(version + 1);
                    told.projects.insert(id.clone(), now);
                }
                // Changed by a retry that did happen: read where it is now.
                Outcome::Refused | Outcome::Unknown => {
                    if let Outcome::Done(now) = client.call(Method::GET, &path, &[], "").await {
                        let now = now.json()["version"].as_u64().unwrap_or(version);
                        told.projects.insert(id.clone(), now);
                    }
                }
            }
            if next() % 4 == 0 {
                match client.call(Method::DELETE, &path, &[], "").await {
                    Outcome::Done(_) => {
                        told.projects.remove(&id);
                        told.deleted_projects.insert(id);
                    }
                    // It may have happened: neither there nor gone is promised.
                    Outcome::Unknown => {
                        told.projects.remove(&id);
                    }
                    Outcome::Refused => {}
                }
            }
        }
        if let Some(id) = upload(client, round).await {
            told.files.insert(id);
        }
        if next() % 3 == 0
            && let Some(id) = told.files.iter().next().cloned()
        {
            let path = format!("/api/v1/app/files/{id}");
            match client.call(Method::DELETE, &path, &[], "").await {
                Outcome::Done(_) => {
                    told.files.remove(&id);
                    told.deleted_files.insert(id);
                }
                Outcome::Unknown => {
                    told.files.remove(&id);
                }
                Outcome::Refused => {}
            }
        }
    }
    told
}

/// An upload as a client makes it; the file's id once confirmed.
async fn upload(client: &Client, round: u64) -> Option<String> {
    let bytes = format!("chaos file {round}");
    let body = json!({ "filename": "c.txt", "content_type": "text/plain", "size": bytes.len() })
        .to_string();
    let Outcome::Done(asked) = client
        .call(Method::POST, "/api/v1/app/files/upload-url", &[], &body)
        .await
    else {
        return None;
    };
    let asked = asked.json();
    // S3 may answer 503 SlowDown or 500 too: retry as its clients do.
    let mut stored = false;
    for _ in 0..6 {
        let put = reqwest::Client::new()
            .put(asked["upload_url"].as_str().unwrap())
            .header("content-type", "text/plain")
            .body(bytes.clone())
            .send()
            .await;
        if put.is_ok_and(|r| r.status().is_success()) {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !stored {
        return None;
    }
    let id = asked["file_id"].as_str().unwrap().to_owned();
    let confirm = json!({ "file_id": id }).to_string();
    match client
        .call(Method::POST, "/api/v1/app/files/confirm", &[], &confirm)
        .await
    {
        Outcome::Done(_) => Some(id),
        _ => None,
    }
}

/// The user and the tenant an access token acts for (its `sub` and `tid` claims).
fn claims_of(bearer: &str) -> (String, String) {
    let payload = bearer
        .trim_start_matches("Bearer ")
        .split('.')
        .nth(1)
        .unwrap();
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&claims).unwrap();
    let claim = |name: &str| claims[name].as_str().unwrap().to_owned();
    (claim("sub"), claim("tid"))
}

async fn faults(config: Option<Value>) -> Value {
    let client = reqwest::Client::new();
    let url = format!("{}/moto-api/faults", emulator());
    let request = match &config {
        Some(config) => client.post(&url).json(config),
        None => client.delete(&url),
    };
    let answer = request.send().await.expect("the emulator's fault injector");
    assert!(answer.status().is_success(), "faults: {}", answer.status());
    answer.json().await.unwrap()
}

/// The checks' client. After a long run moto answers an index query by scanning the
/// whole table, one request at a time: seconds each, past the functions' 5 s deadline.
async fn dynamodb() -> aws_sdk_dynamodb::Client {
    let clients =
        aloft_store::AwsClients::connect(&aloft_store::AwsSettings::local(emulator())).await;
    let patient = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .operation_timeout(Duration::from_secs(120))
        .operation_attempt_timeout(Duration::from_secs(120))
        .build();
    let config = aws_sdk_dynamodb::config::Builder::from(&clients.sdk)
        .timeout_config(patient)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// `call` until it answers: after a run the emulator is still busy (it serves DynamoDB
/// one request at a time, and scans the table for an index query), past the SDK's 5 s.
async fn patiently<T, E: std::fmt::Debug, F: Future<Output = Result<T, E>>>(
    mut call: impl FnMut() -> F,
) -> T {
    let mut last = None;
    for _ in 0..10 {
        match call().await {
            Ok(answer) => return answer,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("the emulator did not answer: {last:?}")
}

/// The items of one partition (all pages).
async fn partition(
    db: &aws_sdk_dynamodb::Client,
    pk: &str,
) -> Vec<BTreeMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = patiently(|| {
            db.query()
                .table_name(TABLE)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
                .set_exclusive_start_key(start.clone())
                .consistent_read(true)
                .send()
        })
        .await;
        items.extend(
            page.items
                .unwrap_or_default()
                .into_iter()
                .map(|i| i.into_iter().collect()),
        );
        start = page.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

fn number(item: &BTreeMap<String, AttributeValue>, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn text<'a>(item: &'a BTreeMap<String, AttributeValue>, name: &str) -> &'a str {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str)
}

/// How many user profiles the table holds (a scan: the checks run once).
async fn user_profiles(db: &aws_sdk_dynamodb::Client) -> i64 {
    let mut count = 0;
    let mut start = None;
    loop {
        let page = patiently(|| {
            db.scan()
                .table_name(TABLE)
                .filter_expression("sk = :profile AND begins_with(pk, :user)")
                .expression_attribute_values(":profile", AttributeValue::S("PROFILE".into()))
                .expression_attribute_values(":user", AttributeValue::S("USER#".into()))
                .select(Select::Count)
                .set_exclusive_start_key(start.clone())
                .send()
        })
        .await;
        count += i64::from(page.count);
        start = page.last_evaluated_key;
        if start.is_none() {
            return count;
        }
    }
}

/// Jobs not yet finished, of every status that is not an end.
async fn unfinished(db: &aws_sdk_dynamodb::Client) -> u64 {
    jobs(db, &["queued", "running", "failed"]).await
}

/// How many jobs have one of `statuses`.
async fn jobs(db: &aws_sdk_dynamodb::Client, statuses: &[&str]) -> u64 {
    let mut open = 0;
    for status in statuses {
        let page = patiently(|| {
            db.query()
                .table_name(TABLE)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(format!("JOBS#{status}")))
                .select(Select::Count)
                .send()
        })
        .await;
        open += u64::try_from(page.count).unwrap_or(0);
    }
    open
}

#[tokio::test]
#[ignore = "make chaos and make chaos-ci run it, each under a stack of its own"]
async fn the_stack_keeps_its_invariants_under_injected_faults() {
    let users = setting("CHAOS_USERS", 6);
    let rounds = setting("CHAOS_ROUNDS", 15);
    let rate = std::env::var("CHAOS_FAULT_RATE").unwrap_or_else(|_| "0.05".into());
    let receiver = Receiver::start().await;
    let answers = Arc::new(Mutex::new(Answers::default()));
    let mut clients = Vec::new();
    for n in 0..users {
        let stack = Stack::new();
        let (bearer, _) = stack.new_user(&format!("chaos{n}")).await;
        let events = [
            "project.created",
            "project.updated",
            "project.deleted",
            "file.uploaded",
            "file.deleted",
        ];
        let subscription = json!({ "url": receiver.url, "events": events }).to_string();
        let auth = [
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
        ];
        let created = stack
            .send_body(
                Method::POST,
                "/api/v1/app/webhook-subscriptions",
                &auth,
                &subscription,
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        clients.push(Arc::new(Client {
            stack,
            bearer,
            answers: Arc::clone(&answers),
            history: Mutex::default(),
        }));
    }

    let rate: f64 = rate.parse().unwrap();
    // `CHAOS_FAULTS`: the injector's whole configuration instead, e.g. a higher rate on
    // one caller's DynamoDB calls, past what the SDK's own retries absorb.
    let config = std::env::var("CHAOS_FAULTS").map_or_else(
        |_| json!({ "rate": rate, "seed": 28 }),
        |raw| serde_json::from_str(&raw).expect("CHAOS_FAULTS is the injector's JSON"),
    );
    faults(Some(config.clone())).await;
    let started = std::time::Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for (n, client) in clients.iter().enumerate() {
        let client = Arc::clone(client);
        running.spawn(async move { (n, work(&client, rounds, 0x9e37_79b9 + n as u64).await) });
    }
    // In the clients' order (a JoinSet answers in the order tasks end).
    let mut told = running.join_all().await;
    told.sort_by_key(|(n, _)| *n);
    let told: Vec<Told> = told.into_iter().map(|(_, told)| told).collect();
    let injected = faults(None).await;
    let workload = started.elapsed();

    // Drained: the relay (every 10 s locally) and the workers' retries finish the jobs.
    // On two cores the workers may be minutes behind: wait while they make progress.
    let db = dynamodb().await;
    let drained = std::time::Instant::now();
    let (mut open_jobs, mut progressed) = (unfinished(&db).await, std::time::Instant::now());
    while open_jobs > 0 && progressed.elapsed() < STALLED {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let now = unfinished(&db).await;
        if now < open_jobs {
            progressed = std::time::Instant::now();
        }
        open_jobs = now;
    }
    let drained = drained.elapsed();
    let (succeeded, dead) = (jobs(&db, &["succeeded"]).await, jobs(&db, &["dead"]).await);
    // Deliveries still arriving are given the time the queue takes.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut violations = answers.lock().unwrap().violations.clone();
    if open_jobs > 0 {
        violations.push(format!("{open_jobs} jobs still queued, running or failed"));
    }
    // The dashboard's totals (the sum of their shards) against a recount of the items.
    let totals = partition(&db, "STATS").await;
    let total = |name: &str| -> i64 { totals.iter().map(|shard| number(shard, name)).sum() };
    let profiles = user_profiles(&db).await;
    if total("users_total") != profiles {
        violations.push(format!(
            "dashboard: users_total {} but {profiles} users",
            total("users_total")
        ));
    }
    let queued = i64::try_from(jobs(&db, &["queued"]).await).unwrap();
    if total("jobs_queued") != queued {
        violations.push(format!(
            "dashboard: jobs_queued {} but {queued} jobs queued",
            total("jobs_queued")
        ));
    }
    // Deliveries, told apart by their id: (event, object id) → delivery ids. A project's
    // versions are not in its events' data: each committed change is one event id.
    let mut delivered: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for r in receiver.received() {
        let body: Value = serde_json::from_str(&r.body).unwrap();
        let key = (
            body["event"].as_str().unwrap_or_default().to_owned(),
            body["data"]["id"].as_str().unwrap_or_default().to_owned(),
        );
        let id = r.headers["x-webhook-id"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        delivered.entry(key).or_default().insert(id);
    }
    // How many events each (event, object) committed.
    let mut expected: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut projects_seen = 0;
    for (client, told) in clients.iter().zip(&told) {
        let (user, tenant) = claims_of(&client.bearer);
        // Projects: count item = recount; every committed version announced once.
        let live = partition(&db, &format!("T#{tenant}#PROJECT")).await;
        let gone = partition(&db, &format!("T#{tenant}#PROJECT_DELETED")).await;
        let counts = partition(&db, &format!("T#{tenant}#COUNT")).await;
        let count = |kind: &str, name: &str| {
            counts
                .iter()
                .find(|i| text(i, "sk") == kind)
                .map_or(0, |i| number(i, name))
        };
        if count("PROJECT", "item_count") != live.len() as i64 {
            violations.push(format!(
                "{tenant}: project count {} but {} projects",
                count("PROJECT", "item_count"),
                live.len()
            ));
        }
        for project in live.iter().chain(&gone) {
            let id = text(project, "id").to_owned();
            let version = u64::try_from(number(project, "version")).unwrap_or(0);
            let deleted = project.contains_key("deleted_at");
            // Version 1 is the create; each later version an update, the last of a
            // deleted project its delete.
            let updates = version.saturating_sub(1 + u64::from(deleted));
            expected.insert(("project.created".into(), id.clone()), 1);
            if updates > 0 {
                expected.insert(("project.updated".into(), id.clone()), updates as usize);
            }
            if deleted {
                expected.insert(("project.deleted".into(), id.clone()), 1);
            }
            projects_seen += 1;
        }
        for (id, version) in &told.projects {
            let found = live.iter().find(|p| text(p, "id") == id);
            match found {
                Some(p) if number(p, "version") >= i64::try_from(*version).unwrap() => {}
                Some(p) => violations.push(format!(
                    "{tenant}: acknowledged project {id} v{version} is at v{}",
                    number(p, "version")
                )),
                None => {
                    let deleted = gone.iter().find(|p| text(p, "id") == id);
                    let path = format!("/api/v1/app/projects/{id}");
                    violations.push(format!(
                        "{tenant}: acknowledged project {id} v{version} is not there (deleted: {}; answers: {:?})",
                        deleted.map_or_else(|| "no".into(), |p| format!("v{}", number(p, "version"))),
                        client.history.lock().unwrap().get(&path)
                    ));
                }
            }
        }
        for id in &told.deleted_projects {
            if live.iter().any(|p| text(p, "id") == id) {
                violations.push(format!("{tenant}: deleted project {id} is still there"));
            }
        }
        // Files: count and bytes = recount of uploaded files; storage usage = their bytes.
        let files = partition(&db, &format!("T#{tenant}#FILE")).await;
        let uploaded: Vec<_> = files
            .iter()
            .filter(|f| text(f, "status") == "uploaded")
            .collect();
        let bytes: i64 = uploaded.iter().map(|f| number(f, "size")).sum();
        if (count("FILE", "item_count"), count("FILE", "bytes")) != (uploaded.len() as i64, bytes) {
            violations.push(format!(
                "{tenant}: file count {} of {} bytes but {} files of {bytes} bytes",
                count("FILE", "item_count"),
                count("FILE", "bytes"),
                uploaded.len()
            ));
        }
        let usage = partition(&db, &format!("USAGE#{user}")).await;
        let stored: i64 = usage
            .iter()
            .filter(|u| text(u, "sk").starts_with("storage_bytes#"))
            .map(|u| number(u, "count"))
            .sum();
        if stored != bytes {
            violations.push(format!(
                "{tenant}: storage usage {stored} but {bytes} bytes stored"
            ));
        }
        for file in &uploaded {
            expected.insert(("file.uploaded".into(), text(file, "id").to_owned()), 1);
        }
        // An acknowledged delete was announced, after the upload it undid.
        for id in &told.deleted_files {
            expected.insert(("file.uploaded".into(), id.clone()), 1);
            expected.insert(("file.deleted".into(), id.clone()), 1);
        }
        for id in &told.files {
            if !uploaded.iter().any(|f| text(f, "id") == id) {
                violations.push(format!("{tenant}: confirmed file {id} is not there"));
            }
        }
        for id in &told.deleted_files {
            if files.iter().any(|f| text(f, "id") == id) {
                violations.push(format!("{tenant}: deleted file {id} is still there"));
            }
        }
    }
    // Exactly the committed events, each delivered once in effect.
    for (key, committed) in &expected {
        let events = delivered.get(key).map_or(0, BTreeSet::len);
        if events != *committed {
            violations.push(format!(
                "{key:?}: {committed} committed, {events} delivered"
            ));
        }
    }
    // Anything else delivered was invented, but for files uploaded and deleted by a
    // request whose answer was lost (their items are gone): those once each.
    for (key, ids) in &delivered {
        if expected.contains_key(key) {
            continue;
        }
        if !(key.0.starts_with("file.") && ids.len() == 1) {
            violations.push(format!(
                "{key:?} delivered but never committed ({} times)",
                ids.len()
            ));
        }
    }

    let answers = answers.lock().unwrap();
    let requests: u64 = answers.by_status.values().sum();
    // The report the note and docs quote: `--nocapture` shows it.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "chaos: {users} users x {rounds} rounds in {workload:.0?}, faults {config}: {requests} requests {:?}; \
         {projects_seen} projects, {} events delivered ({} deliveries); jobs {succeeded} succeeded, \
         {dead} dead, {open_jobs} open, drained in {drained:.0?}; faults injected {}; \
         {} invariant violations",
        answers.by_status,
        delivered.len(),
        receiver.received().len(),
        injected["injected"],
        violations.len()
    );
    assert!(
        violations.is_empty(),
        "{} violations:\n{}",
        violations.len(),
        violations.join("\n")
    );
}
