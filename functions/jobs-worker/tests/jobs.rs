//! The jobs worker fed the way Lambda feeds it: the local SQS shim receives real batches
//! from the emulator's queue, the worker runs in-process, and only the messages it did
//! not report as failed are deleted. Receivers are local HTTP servers; emails go through
//! the emulator's SES and are read back from it (the local mailbox).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

mod common;

use std::sync::Arc;

use aloft_auth::Role;
use aloft_http::HttpConfig;
use aloft_local::{
    mailbox::{Mail, Mailbox},
    sqs_shim::{PollOutcome, Poller, QueueBinding},
};
use aloft_provision::Template;
use aloft_queue::{Delivery, Job, Queued};
use aloft_queue::{NewJob, Producer, QueueName, QueueUrls};
use aloft_store::{
    DeliveryRecord, JobRepo, JobStatus, SubscriptionRecord, Table, TenantId, WebhookRepo,
};
use aloft_testkit::{TestEnv, oneshot, receiver::Receiver};
use common::InProcess;
use serde_json::{Value, json};

const CRM_SECRET: &str = "crm-signing-secret";

struct Stack {
    env: TestEnv,
    vars: aloft_config::Env,
    worker: InProcess,
    poller: Poller,
    binding: QueueBinding,
    table: Table,
}

async fn stack(extra: &[(&'static str, &str)]) -> Stack {
    let env = TestEnv::new().await;
    let mut pairs = vec![
        // Retry at once: the test plays every attempt without waiting.
        ("JOB_BACKOFF_SECONDS", "0"),
        ("CONTACT_WEBHOOK_SECRET", CRM_SECRET),
        ("RATE_LIMIT_DEFAULT_PER_MINUTE", "100000"),
    ];
    pairs.extend_from_slice(extra);
    let vars = env.env(&pairs);
    let worker = fn_jobs_worker::worker(&vars).await.unwrap();
    let mapping = Template::bundled()
        .unwrap()
        .sqs_mappings
        .into_iter()
        .find(|m| m.binary == "jobs-worker")
        .unwrap();
    let binding =
        QueueBinding::for_queue_url(&env.clients.sqs(), &mapping, env.queue_url("JobsQueue"))
            .await
            .unwrap();
    Stack {
        table: Table::new(env.clients.dynamodb.clone(), env.table()),
        poller: Poller::new(env.clients.sqs()),
        worker: InProcess(Arc::new(worker)),
        binding,
        vars,
        env,
    }
}

fn uuid_like() -> String {
    format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

impl Stack {
    async fn poll(&self) -> PollOutcome {
        self.poller
            .poll_once(&self.binding, &self.worker)
            .await
            .unwrap()
    }

    /// Polls until a poll receives nothing; the outcomes of the polls that did.
    async fn run_until_idle(&self) -> Vec<PollOutcome> {
        let mut outcomes = Vec::new();
        loop {
            let outcome = self.poll().await;
            if outcome.received == 0 {
                return outcomes;
            }
            outcomes.push(outcome);
        }
    }

    fn producer(&self) -> Producer {
        let urls = QueueUrls::from_env(&self.vars, &[QueueName::Jobs]).unwrap();
        Producer::new(&self.env.clients, JobRepo::new(self.table.clone()), urls)
    }

    fn webhooks(&self) -> WebhookRepo {
        WebhookRepo::new(self.table.clone())
    }

    /// The emails sent to `to` through the emulator's SES, newest first. Every test sends
    /// into the same SES, so each uses addresses of its own.
    async fn mail_to(&self, to: &str) -> Vec<Mail> {
        let emulator = self.env.settings.endpoint_url.as_deref().unwrap();
        Mailbox::new(emulator).messages(Some(to)).await.unwrap()
    }

    /// A subscription of tenant `t1` to `url`, with one delivery queued to it.
    async fn subscription(&self, url: &str) -> SubscriptionRecord {
        let record = SubscriptionRecord {
            id: format!("sub-{}", uuid_like()),
            tenant_id: "t1".into(),
            owner_id: "u1".into(),
            url: url.to_owned(),
            events: vec!["contact.submitted".into()],
            secret: "whsec_subscriber".into(),
            created_at: aloft_core::timestamp::now(),
        };
        self.webhooks()
            .create_subscription(&record, true)
            .await
            .unwrap();
        record
    }

    async fn queue_delivery(&self, subscription: &SubscriptionRecord, n: usize) -> String {
        let tenant = TenantId::new("t1");
        let id = format!("d{n}-{}", uuid_like());
        let now = aloft_core::timestamp::now();
        let delivery = DeliveryRecord {
            id: id.clone(),
            subscription_id: subscription.id.clone(),
            event: "contact.submitted".into(),
            body: json!({"id": id, "n": n}).to_string(),
            status: "pending".into(),
            attempts: 0,
            response_status: None,
            last_error: None,
            created_at: now.clone(),
            updated_at: now,
            expires_at: 0,
        };
        self.webhooks()
            .create_delivery(&tenant, &delivery)
            .await
            .unwrap();
        let job = Job::Delivery(Delivery {
            tenant,
            subscription_id: subscription.id.clone(),
            delivery_id: id.clone(),
        })
        .new_job()
        .unwrap();
        self.producer()
            .enqueue(NewJob {
                id: id.clone(),
                ..job
            })
            .await
            .unwrap();
        id
    }

    /// Delivery `id` of tenant `t1`'s subscription `subscription_id`.
    async fn delivery(&self, subscription_id: &str, id: &str) -> DeliveryRecord {
        let tenant = TenantId::new("t1");
        let found = self.webhooks().delivery(&tenant, subscription_id, id).await;
        found.unwrap().unwrap()
    }

    async fn job_status(&self, id: &str) -> (JobStatus, u32) {
        let job = JobRepo::new(self.table.clone())
            .get(id)
            .await
            .unwrap()
            .unwrap();
        (job.status, job.attempts)
    }

    async fn dead_letters(&self) -> Vec<Value> {
        let output = self
            .env
            .clients
            .sqs()
            .receive_message()
            .queue_url(self.env.queue_url("JobsDeadLetterQueue"))
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        output
            .messages
            .unwrap_or_default()
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn one_failure_in_a_batch_of_ten_comes_back_alone() {
    let stack = stack(&[]).await;
    let ok = Receiver::start().await;
    let failing = Receiver::start().await;
    failing.answer_with(500);
    let good = stack.subscription(&ok.url).await;
    let bad = stack.subscription(&failing.url).await;
    for n in 0..9 {
        stack.queue_delivery(&good, n).await;
    }
    let doomed = stack.queue_delivery(&bad, 9).await;

    let first = stack.poll().await;
    assert_eq!(
        (first.received, first.deleted, first.failed),
        (10, 9, 1),
        "{first:?}"
    );
    assert_eq!(ok.received().len(), 9);
    assert!(
        ok.received()
            .iter()
            .all(|r| r.signed_with("whsec_subscriber"))
    );

    // Only the failed one is redelivered (backoff 0 here), as its second attempt.
    let second = stack.poll().await;
    assert_eq!((second.received, second.failed), (1, 1), "{second:?}");
    assert_eq!(stack.job_status(&doomed).await, (JobStatus::Failed, 2));
    let delivery = stack.delivery(&bad.id, &doomed).await;
    assert_eq!(delivery.status, "failed");
    assert_eq!(delivery.response_status, Some(500));
    assert_eq!(ok.received().len(), 9, "nothing delivered twice");
}

#[tokio::test]
async fn a_job_that_always_fails_ends_dead_in_the_dlq_and_an_admin_can_retry_it() {
    let stack = stack(&[]).await;
    let receiver = Receiver::start().await;
    receiver.answer_with(503);
    let subscription = stack.subscription(&receiver.url).await;
    let id = stack.queue_delivery(&subscription, 0).await;

    let outcomes = stack.run_until_idle().await;
    let max_receives = Template::bundled()
        .unwrap()
        .queues
        .iter()
        .find(|q| q.logical_id == "JobsQueue")
        .unwrap()
        .redrive_policy
        .as_ref()
        .unwrap()
        .max_receive_count;
    assert_eq!(outcomes.len(), max_receives as usize, "{outcomes:?}");
    assert_eq!(receiver.received().len(), max_receives as usize);
    assert_eq!(stack.job_status(&id).await, (JobStatus::Dead, max_receives));
    let dead = stack.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["job_id"], id.as_str());
    let delivery = stack.delivery(&subscription.id, &id).await;
    assert_eq!(delivery.status, "dead");

    // The receiver is fixed; an admin retries the dead job.
    receiver.answer_with(200);
    let admin = fn_admin::router(
        fn_admin::AppState::from_env(&stack.vars).await.unwrap(),
        &HttpConfig::from_env(&stack.vars).unwrap(),
    );
    let listed = oneshot::send(
        &admin,
        oneshot::as_role(
            "GET",
            "/api/v1/admin/jobs?status=dead",
            "ops",
            Role::Admin,
            None,
        ),
    )
    .await;
    assert_eq!(listed.json()["items"][0]["id"], id.as_str());
    let retried = oneshot::send(
        &admin,
        oneshot::as_role(
            "POST",
            &format!("/api/v1/admin/jobs/{id}/retry"),
            "ops",
            Role::Admin,
            None,
        ),
    )
    .await;
    assert_eq!(
        retried.status,
        axum::http::StatusCode::OK,
        "{}",
        retried.text
    );
    assert_eq!(retried.json()["status"], "queued");
    let outcomes = stack.run_until_idle().await;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(stack.job_status(&id).await, (JobStatus::Succeeded, 1));
    let delivery = stack.delivery(&subscription.id, &id).await;
    assert_eq!(delivery.status, "succeeded");
}

/// An admin cancels a job whose message waits on the queue: when the message arrives,
/// the job is not run and the message is deleted as done (not failed, not retried).
#[tokio::test]
async fn a_job_cancelled_while_queued_is_acknowledged_without_running() {
    let stack = stack(&[]).await;
    let receiver = Receiver::start().await;
    let subscription = stack.subscription(&receiver.url).await;
    let id = stack.queue_delivery(&subscription, 0).await;
    let admin = fn_admin::router(
        fn_admin::AppState::from_env(&stack.vars).await.unwrap(),
        &HttpConfig::from_env(&stack.vars).unwrap(),
    );
    let cancelled = oneshot::send(
        &admin,
        oneshot::as_role(
            "DELETE",
            &format!("/api/v1/admin/jobs/{id}"),
            "ops",
            Role::Admin,
            None,
        ),
    )
    .await;
    assert_eq!(
        cancelled.status,
        axum::http::StatusCode::OK,
        "{}",
        cancelled.text
    );
    assert_eq!(cancelled.json()["status"], "cancelled");

    let outcomes = stack.run_until_idle().await;
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    let outcome = &outcomes[0];
    assert_eq!(
        (outcome.received, outcome.deleted, outcome.failed),
        (1, 1, 0),
        "{outcome:?}"
    );
    assert!(receiver.received().is_empty(), "never delivered");
    assert_eq!(stack.job_status(&id).await, (JobStatus::Cancelled, 0));
    assert!(stack.dead_letters().await.is_empty());
}

/// Submits the contact form as `email`; the submission's reference.
async fn submit_contact(stack: &Stack, email: &str) -> String {
    let contact = fn_contact::router(
        fn_contact::AppState::from_env(&stack.vars).await.unwrap(),
        &HttpConfig::from_env(&stack.vars).unwrap(),
    );
    let body = json!({
        "name": "John Doe",
        "email": email,
        "message": "I'd like to learn more about your services.",
        "subject": "Product Inquiry",
        "extra_fields": {"budget": "$5000-$10000"},
        "source": "homepage"
    });
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/public/contact")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    let answer = oneshot::send(&contact, request).await;
    assert_eq!(answer.status, axum::http::StatusCode::OK, "{}", answer.text);
    answer.json()["reference_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_contact_submission_reaches_the_crm_signed_and_sends_both_emails() {
    let crm = Receiver::start().await;
    let john = format!("john-{}@example.com", uuid_like());
    let owner = format!("owner-{}@example.com", uuid_like());
    let stack = stack(&[
        ("CONTACT_WEBHOOK_URL", crm.url.as_str()),
        ("ADMIN_EMAIL", owner.as_str()),
    ])
    .await;
    let reference = submit_contact(&stack, &john).await;
    stack.run_until_idle().await;

    let received = crm.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert!(request.signed_with(CRM_SECRET), "{:?}", request.headers);
    assert!(!request.signed_with("another-secret"));
    assert_eq!(request.headers["x-reference-id"], reference.as_str());
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["event"], "contact.submitted");
    assert_eq!(body["data"]["reference_id"], reference.as_str());
    assert_eq!(body["data"]["extra_fields"]["budget"], "$5000-$10000");

    // The emulator keeps no Reply-To: the contact function's tests check that the
    // notification's job carries the submitter's address as its reply_to.
    let confirmation = stack.mail_to(&john).await;
    assert_eq!(confirmation.len(), 1, "{confirmation:?}");
    assert!(confirmation[0].subject.contains(&reference));
    assert!(confirmation[0].text.contains(&reference));
    let notification = stack.mail_to(&owner).await;
    assert_eq!(notification.len(), 1, "{notification:?}");
    assert!(notification[0].subject.contains(&reference));
    assert!(
        notification[0].text.contains(&john),
        "{}",
        notification[0].text
    );
}

#[tokio::test]
async fn contact_submitted_fans_out_to_subscribers_signed_with_their_secret() {
    let subscriber = Receiver::start().await;
    let stack = stack(&[]).await;
    let webhooks = fn_webhooks::router(
        fn_webhooks::AppState::from_env(&stack.vars).await.unwrap(),
        &HttpConfig::from_env(&stack.vars).unwrap(),
    );
    let body = json!({"url": subscriber.url, "events": ["contact.submitted"]}).to_string();
    let created = oneshot::send(
        &webhooks,
        oneshot::as_role(
            "POST",
            "/api/v1/app/webhook-subscriptions",
            "ops",
            Role::Admin,
            Some(&body),
        ),
    )
    .await;
    assert_eq!(
        created.status,
        axum::http::StatusCode::CREATED,
        "{}",
        created.text
    );
    let secret = created.json()["secret"].as_str().unwrap().to_owned();
    let id = created.json()["id"].as_str().unwrap().to_owned();

    let john = format!("john-{}@example.com", uuid_like());
    let reference = submit_contact(&stack, &john).await;
    stack.run_until_idle().await;

    let received = subscriber.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].signed_with(&secret));
    assert_eq!(received[0].headers["x-webhook-event"], "contact.submitted");
    // The delivery carries its trace on, W3C's way, for a receiver to continue.
    let traceparent = received[0].headers["traceparent"].to_str().unwrap();
    assert!(
        aloft_http::TraceHeader::from_traceparent(traceparent, None).is_some(),
        "{traceparent}"
    );
    let body: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(body["data"]["reference_id"], reference.as_str());
    assert_eq!(
        body["id"],
        received[0].headers["x-webhook-id"].to_str().unwrap()
    );

    let deliveries = oneshot::send(
        &webhooks,
        oneshot::as_role(
            "GET",
            &format!("/api/v1/app/webhook-subscriptions/{id}/deliveries"),
            "ops",
            Role::Admin,
            None,
        ),
    )
    .await;
    let deliveries = deliveries.json();
    assert_eq!(deliveries["total"], 1);
    assert_eq!(deliveries["items"][0]["status"], "succeeded");
    assert_eq!(deliveries["items"][0]["response_status"], 200);
}

#[tokio::test]
async fn a_job_done_for_a_user_publishes_job_completed_to_their_tenant() {
    let subscriber = Receiver::start().await;
    let stack = stack(&[]).await;
    aloft_store::UserRepo::new(stack.table.clone())
        .create(&aloft_testkit::user_record("u9"))
        .await
        .unwrap();
    let subscription = SubscriptionRecord {
        id: format!("sub-{}", uuid_like()),
        tenant_id: "tenant-u9".into(),
        owner_id: "u9".into(),
        url: subscriber.url.clone(),
        events: vec!["job.completed".into()],
        secret: "whsec_u9".into(),
        created_at: aloft_core::timestamp::now(),
    };
    stack
        .webhooks()
        .create_subscription(&subscription, false)
        .await
        .unwrap();
    let email = aloft_queue::Email {
        to: "u9@example.com".into(),
        subject: "Your export".into(),
        text: "It is ready.".into(),
        reply_to: None,
    };
    let job = Job::Email(email)
        .new_job()
        .unwrap()
        .for_user(Some("u9".into()));
    let job = stack.producer().enqueue(job).await.unwrap();
    stack.run_until_idle().await;

    let received = subscriber.received();
    assert_eq!(
        received.len(),
        1,
        "one job.completed, however the fan-out ran"
    );
    assert!(received[0].signed_with("whsec_u9"));
    assert_eq!(received[0].headers["x-webhook-event"], "job.completed");
    let body: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(body["data"]["job_id"], job.id.as_str());
    assert_eq!(body["data"]["kind"], "email.send");
}

#[tokio::test]
async fn account_mails_go_to_known_addresses_only_with_a_working_link() {
    let stack = stack(&[("APP_URL", "https://app.example.test/")]).await;
    let users = aloft_store::UserRepo::new(stack.table.clone());
    let mut ann = aloft_testkit::user_record(&format!("acct-{}", uuid_like()));
    ann.email = format!("{}@example.com", ann.id);
    ann.password_hash = Some("$argon2id$stand-in".into());
    users.create(&ann).await.unwrap();
    let unknown = format!("nobody-{}@example.com", uuid_like());
    let producer = stack.producer();
    let mail = |email: &str| aloft_queue::AccountMail {
        email: email.to_owned(),
    };
    for job in [
        Job::VerifyEmail(mail(&ann.email)),
        Job::ResetPassword(mail(&ann.email)),
        Job::ResetPassword(mail(&unknown)),
    ] {
        producer.enqueue(job.new_job().unwrap()).await.unwrap();
    }
    stack.run_until_idle().await;

    assert!(
        stack.mail_to(&unknown).await.is_empty(),
        "nothing for an unknown address"
    );
    let mail = stack.mail_to(&ann.email).await;
    let link = |page: &str| {
        let marker = format!("https://app.example.test/{page}?token=");
        let text = mail
            .iter()
            .map(|m| m.text.as_str())
            .find(|text| text.contains(&marker))
            .unwrap_or_else(|| panic!("no {page} link in {mail:?}"));
        let start = text.find(&marker).unwrap() + marker.len();
        text[start..].split_whitespace().next().unwrap().to_owned()
    };
    let tokens = aloft_store::OneTimeTokens::new(stack.table.clone());
    let now = aloft_core::timestamp::unix_now();
    for (page, purpose) in [
        ("verify-email", aloft_store::Purpose::VerifyEmail),
        ("reset-password", aloft_store::Purpose::ResetPassword),
    ] {
        let hash = aloft_auth::opaque::secret_hash(&link(page));
        let used = tokens.consume(purpose, &hash, now).await.unwrap().unwrap();
        assert_eq!(
            (used.user_id.as_str(), used.email.as_str()),
            (ann.id.as_str(), ann.email.as_str())
        );
        assert!(used.expires_at > now);
        assert!(
            tokens.consume(purpose, &hash, now).await.unwrap().is_none(),
            "single use"
        );
    }
}

/// A job stored whose message was never sent (SQS failed after the record was written)
/// is not lost: the relay sends it, once however often it runs, and it runs.
#[tokio::test]
async fn a_stored_job_whose_send_failed_is_relayed_once_and_runs() {
    let subscriber = Receiver::start().await;
    let stack = stack(&[]).await;
    let subscription = stack.subscription(&subscriber.url).await;
    // A producer whose queue does not exist: the record is stored, the send fails.
    let gone = stack
        .env
        .env(&[("JOBS_QUEUE_URL", "http://127.0.0.1:1/000000000000/gone")]);
    let urls = QueueUrls::from_env(&gone, &[QueueName::Jobs]).unwrap();
    let unsent = Producer::new(&stack.env.clients, JobRepo::new(stack.table.clone()), urls);
    let fanout = aloft_queue::Publisher::new(unsent);
    let data = json!({ "name": "Relayed" });
    let job = fanout
        .publish(aloft_queue::Event::ContactSubmitted, None, data, Vec::new())
        .await
        .expect("stored even though its message was not sent");
    assert_eq!(stack.job_status(&job.id).await, (JobStatus::Queued, 0));
    assert!(
        stack.run_until_idle().await.is_empty(),
        "no message was sent"
    );

    // Not yet quiet for long enough: left alone.
    let relay = stack.producer();
    assert_eq!(relay.relay(time::Duration::hours(1)).await.unwrap(), 0);
    // Two relays at once send it once; a later one finds it claimed.
    let (a, b) = tokio::join!(
        relay.relay(time::Duration::ZERO),
        relay.relay(time::Duration::ZERO)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    stack.run_until_idle().await;
    assert_eq!(stack.job_status(&job.id).await.0, JobStatus::Succeeded);
    let received = subscriber.received();
    assert_eq!(received.len(), 1, "delivered once");
    assert_eq!(received[0].headers["x-webhook-event"], "contact.submitted");
    assert!(received[0].signed_with(&subscription.secret));
    assert_eq!(relay.relay(time::Duration::ZERO).await.unwrap(), 0);
}

/// The deployed path: a `Scheduled Event` invocation of the worker runs the relay.
#[tokio::test]
async fn a_scheduled_invocation_runs_the_relay() {
    let stack = stack(&[]).await;
    let event = json!({
        "version": "0", "id": "t", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-05T00:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {}
    });
    let answer = stack.worker.0.invoked(event).await.unwrap();
    assert!(answer["relayed"].is_u64(), "{answer}");
}
