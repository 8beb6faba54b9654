//! `realtime.disconnect` run by the jobs worker as Lambda runs it (the local SQS shim
//! feeding real batches from the emulator's queue): a user's connections are closed
//! through the `@connections` API (a local receiver recording each call) and forgotten.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

mod common;

use std::sync::Arc;

use aloft_core::timestamp::{self, unix_now};
use aloft_local::sqs_shim::{Poller, QueueBinding};
use aloft_provision::Template;
use aloft_queue::{Job, NewJob, Producer, QueueName, QueueUrls};
use aloft_store::{ConnectionRecord, Connections, JobRepo, JobStatus, Table};
use aloft_testkit::{TestEnv, receiver::Receiver};
use common::InProcess;

struct Stack {
    env: TestEnv,
    vars: aloft_config::Env,
    worker: InProcess,
    poller: Poller,
    binding: QueueBinding,
    connections: Connections,
    jobs: JobRepo,
    /// The `@connections` management API.
    management: Receiver,
}

async fn stack() -> Stack {
    let env = TestEnv::new().await;
    let management = Receiver::start().await;
    let vars = env.env(&[("WEBSOCKET_MANAGEMENT_URL", &management.url)]);
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
    let table = Table::new(env.clients.dynamodb.clone(), env.table());
    Stack {
        poller: Poller::new(env.clients.sqs()),
        worker: InProcess(Arc::new(worker)),
        binding,
        connections: Connections::new(table.clone()),
        jobs: JobRepo::new(table),
        management,
        vars,
        env,
    }
}

impl Stack {
    /// A connection of `user` as `$connect` records it (on its user's channel), opened
    /// with the impersonation `session` if given.
    async fn open(&self, id: &str, user: &str, session: Option<&str>) {
        let now = unix_now();
        let connection = ConnectionRecord {
            connection_id: id.to_owned(),
            user_id: user.to_owned(),
            tenant_id: format!("tenant-{user}"),
            connected_at: timestamp::now(),
            channels: Vec::new(),
            expires_at: now + 3600,
            credential_expires_at: Some(now + 900),
            impersonation_session: session.map(str::to_owned),
        };
        self.connections.open(&connection).await.unwrap();
        let channel = format!("user:{user}");
        assert!(self.connections.join(&connection, &channel).await.unwrap());
    }

    /// Enqueues `job` and runs the worker until the queue is empty; the job's status.
    async fn run(&self, job: NewJob) -> JobStatus {
        let urls = QueueUrls::from_env(&self.vars, &[QueueName::Jobs]).unwrap();
        let producer = Producer::new(&self.env.clients, self.jobs.clone(), urls);
        let job = producer.enqueue(job).await.unwrap();
        loop {
            let outcome = self
                .poller
                .poll_once(&self.binding, &self.worker)
                .await
                .unwrap();
            if outcome.received == 0 {
                break;
            }
        }
        self.jobs.get(&job.id).await.unwrap().unwrap().status
    }

    /// The connections the management API was asked to close, sorted.
    fn closed(&self) -> Vec<String> {
        let mut closed: Vec<String> = self
            .management
            .received()
            .into_iter()
            .filter(|call| call.method == "DELETE")
            .filter_map(|call| Some(call.path.rsplit_once("/@connections/")?.1.to_owned()))
            .collect();
        closed.sort();
        closed
    }

    async fn is_recorded(&self, id: &str) -> bool {
        self.connections.get(id).await.unwrap().is_some()
    }
}

#[tokio::test]
async fn a_deactivated_users_connections_are_all_closed_and_forgotten() {
    let stack = stack().await;
    stack.open("ann-laptop", "ann", None).await;
    stack.open("ann-phone", "ann", Some("jti-1")).await;
    stack.open("bob-laptop", "bob", None).await;

    let status = stack.run(Job::disconnect_user("ann").unwrap()).await;

    assert_eq!(status, JobStatus::Succeeded);
    assert_eq!(stack.closed(), ["ann-laptop", "ann-phone"]);
    assert!(!stack.is_recorded("ann-laptop").await);
    assert!(!stack.is_recorded("ann-phone").await);
    let on_channel = stack.connections.members("user:ann", unix_now()).await;
    assert!(
        on_channel.unwrap().is_empty(),
        "forgotten on their channel too"
    );
    assert!(
        stack.is_recorded("bob-laptop").await,
        "another user's stays"
    );
}

#[tokio::test]
async fn a_stopped_impersonation_closes_only_the_connections_opened_with_it() {
    let stack = stack().await;
    stack.open("ann-own", "ann", None).await;
    stack.open("ann-as-root", "ann", Some("jti-1")).await;
    stack.open("ann-as-ops", "ann", Some("jti-2")).await;

    let status = stack
        .run(Job::disconnect_impersonation("ann", "jti-1").unwrap())
        .await;

    assert_eq!(status, JobStatus::Succeeded);
    assert_eq!(stack.closed(), ["ann-as-root"]);
    assert!(!stack.is_recorded("ann-as-root").await);
    assert!(stack.is_recorded("ann-own").await);
    assert!(stack.is_recorded("ann-as-ops").await);
}

#[tokio::test]
async fn a_user_without_connections_is_done_at_once() {
    let stack = stack().await;

    let status = stack.run(Job::disconnect_user("nobody").unwrap()).await;

    assert_eq!(status, JobStatus::Succeeded);
    assert!(stack.closed().is_empty());
}
