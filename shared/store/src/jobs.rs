//! Job records: what a queued message is meant to do and how far it got. The message on
//! the queue carries only the job id; the record holds the payload, the status
//! (`queued` → `running` → `succeeded` / `failed` → `dead`, or `queued` → `cancelled`
//! by an admin), the attempts and the last error, and is listed by status through
//! `gsi1`. Finished jobs expire after [`RETENTION_SECONDS`]; a dead one stays until it
//! is retried or expires.
//!
//! Every status change is counted on the dashboard ([`Stats`]) in the write that makes
//! it: a write conditioned on the status it moves from, in one transaction with the
//! counts. Where the old status is not fixed by the change itself, the job is read first
//! and the write conditioned on what was read, read again if it moved meanwhile.

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use aloft_core::{MAX_EXAMINED, PageRequest, Slice};

use crate::{
    Key, Stats, StoreError, Table, Tally,
    table::{Merged, Range},
    table::{applied, from_item, n, s},
};

/// How long a succeeded or dead job stays visible (14 days, like the DLQs).
pub const RETENTION_SECONDS: u64 = 14 * 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    /// Failed at least once; will be retried after its backoff.
    Failed,
    /// Failed on its last allowed attempt: its message is in the dead-letter queue.
    Dead,
    /// Cancelled by an admin while queued: never runs; its message, when delivered, is
    /// acknowledged without running it.
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Dead,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Dead => "dead",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    /// What to do, e.g. `webhook.delivery`; the worker dispatches on it.
    pub kind: String,
    /// The queue that carries it (`jobs` or `webhooks`), so a retry goes back there.
    pub queue: String,
    /// The job's input, JSON.
    pub payload: String,
    pub status: JobStatus,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The user the job works for, whose usage it counts (`background_jobs`, and what
    /// the job itself meters, e.g. `email_sent`); `None` for the system's own work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The X-Ray trace id (`1-…-…`) of the request or message that enqueued the job, so
    /// the job can be found from the trace and the trace from the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// What [`JobRepo::start`] found.
#[derive(Debug)]
pub enum Start {
    /// The job is now `running`; this is its record.
    Running(Box<JobRecord>),
    /// A duplicate delivery of a job that already succeeded: nothing to do.
    AlreadySucceeded,
    /// The job was cancelled while queued: it must not run.
    Cancelled,
    /// No record: the job was never created or has expired.
    Missing,
}

/// Jobs in the table. Every status change it makes is counted in the dashboard's
/// [`Stats`], in the same transaction.
#[derive(Debug, Clone)]
pub struct JobRepo {
    table: Table,
    stats: Stats,
}

/// A change conditioned on the status read is tried this often, reading again each time
/// the status moved meanwhile (a job's status changes a few times in its life).
const ATTEMPTS: usize = 3;

fn kept_conflicting(id: &str) -> StoreError {
    StoreError::Unavailable(format!("job {id} kept changing while it was being written"))
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Other(e.to_string())
}

fn status_index(status: JobStatus) -> String {
    format!("JOBS#{}", status.as_str())
}

fn expiry() -> u64 {
    aloft_core::timestamp::unix_now() + RETENTION_SECONDS
}

impl JobRepo {
    pub fn new(table: Table) -> Self {
        Self {
            stats: Stats::new(table.clone()),
            table,
        }
    }

    /// Stores a new `queued` job and counts it, in one transaction. A job with this id
    /// already there is [`StoreError::ConditionFailed`] (and nothing is counted):
    /// enqueueing is idempotent by id.
    pub async fn create(&self, job: &JobRecord) -> Result<(), StoreError> {
        self.table.write(self.create_write(job)?).await
    }

    pub async fn get(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        self.table.get(&Key::job(id)).await
    }

    /// [`Self::create`] as writes of the transaction that makes the change the job
    /// follows (the outbox): the job's put and its count on the dashboard (one totals
    /// shard, `jobs_queued`), so the job exists, and is counted, exactly when the change
    /// does. The change's own writes must not count on the dashboard too (two counts in
    /// one transaction could name one shard twice): a change that makes several jobs
    /// stores them with [`Self::create_together`].
    pub fn create_write(&self, job: &JobRecord) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut writes = vec![self.put_write(job)?];
        writes.extend(self.stats.writes(&Tally::job(None, Some(job.status)))?);
        Ok(writes)
    }

    /// Stores `jobs` together, all or none, with one count of them all, in one
    /// transaction (of at most 98 jobs: a transaction holds 100 writes). Any of them
    /// already there is [`StoreError::ConditionFailed`], and none is stored.
    pub async fn create_together(&self, jobs: &[JobRecord]) -> Result<(), StoreError> {
        let mut writes = jobs
            .iter()
            .map(|job| self.put_write(job))
            .collect::<Result<Vec<_>, _>>()?;
        let tally: Tally = jobs
            .iter()
            .map(|job| Tally::job(None, Some(job.status)))
            .sum();
        writes.extend(self.stats.writes(&tally)?);
        self.table.write(writes).await
    }

    /// The put of a new job, listed by status, only if no job has its id.
    fn put_write(&self, job: &JobRecord) -> Result<TransactWriteItem, StoreError> {
        let index = (
            status_index(job.status),
            format!("{}#{}", job.created_at, job.id),
        );
        self.table
            .put_new_write(&Key::job(&job.id), job, Some(index))
    }

    /// Queued jobs never started whose record was last written before `before`
    /// (RFC 3339): their message may never have been sent. Oldest first, at most
    /// `limit`, reading at most [`MAX_EXAMINED`] jobs of the `queued` partition of the
    /// status index.
    pub async fn unsent(&self, before: &str, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let mut found = Vec::new();
        let mut examined = 0;
        let mut start = None;
        loop {
            let page = self
                .table
                .client()
                .query()
                .table_name(self.table.name())
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :queued AND gsi1sk < :before")
                .filter_expression("attempts = :zero AND updated_at < :before")
                .expression_attribute_values(":queued", s(status_index(JobStatus::Queued)))
                .expression_attribute_values(":before", s(before))
                .expression_attribute_values(":zero", n(0))
                .limit(100)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            examined += usize::try_from(page.scanned_count).unwrap_or(0);
            for item in page.items.unwrap_or_default() {
                found.push(from_item(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() || found.len() >= limit || examined >= MAX_EXAMINED {
                found.truncate(limit);
                return Ok(found);
            }
        }
    }

    /// Claims an unsent job for one more send: moves its `updated_at` to `now` if it is
    /// still queued and unchanged since it was read, so concurrent relays send it once
    /// and the next relay leaves it alone for a while. `false`: it moved on meanwhile.
    pub async fn claim_unsent(&self, job: &JobRecord, now: &str) -> Result<bool, StoreError> {
        let claimed = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Key::job(&job.id).attributes()))
            .update_expression("SET updated_at = :now")
            .condition_expression("#status = :queued AND attempts = :zero AND updated_at = :seen")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":queued", s(JobStatus::Queued.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":seen", s(&job.updated_at))
            .expression_attribute_values(":now", s(now))
            .send()
            .await
            .map_err(StoreError::from_sdk);
        applied(claimed)
    }

    /// Marks the job `running` for its `attempt`-th receive and returns it. The job is
    /// read, then written on condition that it is still as read (its status, and
    /// `updated_at`), with the count of its move from the status it had (a `queued` job
    /// leaves `jobs_queued`) in the same transaction. A succeeded or cancelled job is not
    /// started; one cancelled between the read and the write fails the write's condition
    /// and is found cancelled when read again.
    pub async fn start(&self, id: &str, attempt: u32, now: &str) -> Result<Start, StoreError> {
        for _ in 0..ATTEMPTS {
            let Some(read) = self.get(id).await? else {
                return Ok(Start::Missing);
            };
            match read.status {
                JobStatus::Succeeded => return Ok(Start::AlreadySucceeded),
                JobStatus::Cancelled => return Ok(Start::Cancelled),
                _ => {}
            }
            let mut writes = vec![self.start_write(&read, attempt, now)?];
            let tally = Tally::job(Some(read.status), Some(JobStatus::Running));
            writes.extend(self.stats.writes(&tally)?);
            if applied(self.table.write(writes).await)? {
                return Ok(Start::Running(Box::new(JobRecord {
                    status: JobStatus::Running,
                    attempts: attempt,
                    updated_at: now.to_owned(),
                    ..read
                })));
            }
        }
        Err(kept_conflicting(id))
    }

    /// The update that makes `read` `running` for its `attempt`-th receive, if it is
    /// still as read.
    fn start_write(
        &self,
        read: &JobRecord,
        attempt: u32,
        now: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(Key::job(&read.id).attributes()))
            .update_expression(
                "SET #status = :running, attempts = :attempt, updated_at = :now, gsi1pk = :index",
            )
            .condition_expression("#status = :read AND updated_at = :read_at")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":read", s(read.status.as_str()))
            .expression_attribute_values(":read_at", s(&read.updated_at))
            .expression_attribute_values(":attempt", n(attempt))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":index", s(status_index(JobStatus::Running)))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Records how an attempt of a `running` job ended: `succeeded`, `failed` (will be
    /// retried) or `dead`, with `also` (what its success brings: its usage, a follow-up
    /// job) in the same transaction, so they happen exactly when it is recorded, and with
    /// its count on the dashboard (the hour's `jobs_completed` or `jobs_failed`). A job no
    /// longer `running` was recorded already (a repeated call): nothing happens again.
    /// `also` may carry a job staged by [`Self::create_write`], whose count is a totals
    /// shard: an ending counts in an hourly bucket only, so no item is written twice.
    pub async fn finish(
        &self,
        id: &str,
        status: JobStatus,
        error: Option<&str>,
        now: &str,
        also: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        let mut expression =
            String::from("SET #status = :status, updated_at = :now, gsi1pk = :index");
        let mut update = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(Key::job(id).attributes()))
            .condition_expression("#status = :running")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":index", s(status_index(status)));
        if let Some(error) = error {
            expression.push_str(", last_error = :error");
            update = update.expression_attribute_values(":error", s(error));
        }
        if matches!(status, JobStatus::Succeeded | JobStatus::Dead) {
            expression.push_str(", finished_at = :now, expires_at = :expires");
            update = update.expression_attribute_values(":expires", n(expiry()));
        }
        let update = update
            .update_expression(expression)
            .build()
            .map_err(build_error)?;
        let mut writes = vec![TransactWriteItem::builder().update(update).build()];
        writes.extend(also);
        let tally = Tally::job(Some(JobStatus::Running), Some(status));
        writes.extend(self.stats.writes(&tally)?);
        match self.table.write(writes).await {
            // Refused: the job was not running, its ending is recorded already.
            Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Puts a dead job back to `queued` with its attempts reset, counted back into
    /// `jobs_queued` in the same transaction; `None` if there is no such job,
    /// [`StoreError::ConditionFailed`] if it is not dead.
    pub async fn requeue_dead(&self, id: &str, now: &str) -> Result<Option<JobRecord>, StoreError> {
        let Some(dead) = self.get(id).await? else {
            return Ok(None);
        };
        if dead.status != JobStatus::Dead {
            return Err(StoreError::ConditionFailed);
        }
        let update = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(Key::job(id).attributes()))
            .update_expression(
                "SET #status = :queued, attempts = :zero, updated_at = :now, gsi1pk = :index \
                 REMOVE finished_at, expires_at",
            )
            .condition_expression("#status = :dead")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":queued", s(JobStatus::Queued.as_str()))
            .expression_attribute_values(":dead", s(JobStatus::Dead.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":index", s(status_index(JobStatus::Queued)))
            .build()
            .map_err(build_error)?;
        let mut writes = vec![TransactWriteItem::builder().update(update).build()];
        let tally = Tally::job(Some(JobStatus::Dead), Some(JobStatus::Queued));
        writes.extend(self.stats.writes(&tally)?);
        self.table.write(writes).await?;
        // Nothing else of a dead job changes while it is dead: it is as read, requeued.
        Ok(Some(JobRecord {
            status: JobStatus::Queued,
            attempts: 0,
            updated_at: now.to_owned(),
            finished_at: None,
            ..dead
        }))
    }

    /// Cancels a `queued` job: it becomes `cancelled`, finished and expiring like a
    /// succeeded one, and leaves `jobs_queued` (nothing else counts it), in one
    /// transaction conditioned on its still being queued. Its message, when delivered, is
    /// acknowledged without running ([`Start::Cancelled`]). `None` if there is no such
    /// job, [`StoreError::ConditionFailed`] if it is not queued (running, failed and
    /// waiting for its retry, or finished). What `also` makes of the queued job is written
    /// in the same transaction (what the job would have changed: a delivery's status),
    /// its tally with the job's.
    pub async fn cancel(
        &self,
        id: &str,
        now: &str,
        also: impl AsyncFnOnce(&JobRecord) -> Result<Option<(TransactWriteItem, Tally)>, StoreError>,
    ) -> Result<Option<JobRecord>, StoreError> {
        let Some(queued) = self.get(id).await? else {
            return Ok(None);
        };
        if queued.status != JobStatus::Queued {
            return Err(StoreError::ConditionFailed);
        }
        let also = also(&queued).await?;
        let update = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(Key::job(id).attributes()))
            .update_expression(
                "SET #status = :cancelled, updated_at = :now, finished_at = :now, \
                 expires_at = :expires, gsi1pk = :index",
            )
            .condition_expression("#status = :queued")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":cancelled", s(JobStatus::Cancelled.as_str()))
            .expression_attribute_values(":queued", s(JobStatus::Queued.as_str()))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":expires", n(expiry()))
            .expression_attribute_values(":index", s(status_index(JobStatus::Cancelled)))
            .build()
            .map_err(build_error)?;
        let mut writes = vec![TransactWriteItem::builder().update(update).build()];
        let mut tally = Tally::job(Some(JobStatus::Queued), Some(JobStatus::Cancelled));
        if let Some((write, also_tally)) = also {
            writes.push(write);
            tally = tally.merge(also_tally);
        }
        writes.extend(self.stats.writes(&tally)?);
        self.table.write(writes).await?;
        // Only the relay's claim (`updated_at`) changes a queued job: it is as read, cancelled.
        Ok(Some(JobRecord {
            status: JobStatus::Cancelled,
            updated_at: now.to_owned(),
            finished_at: Some(now.to_owned()),
            ..queued
        }))
    }

    /// Removes a job (one whose message could not be sent), uncounting it in the same
    /// transaction: the job is read, and deleted on condition that its status is still
    /// the one read.
    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        for _ in 0..ATTEMPTS {
            let Some(read) = self.get(id).await? else {
                return Ok(());
            };
            let delete = Delete::builder()
                .table_name(self.table.name())
                .set_key(Some(Key::job(id).attributes()))
                .condition_expression("#status = :read")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":read", s(read.status.as_str()))
                .build()
                .map_err(build_error)?;
            let mut writes = vec![TransactWriteItem::builder().delete(delete).build()];
            writes.extend(self.stats.writes(&Tally::job(Some(read.status), None))?);
            if applied(self.table.write(writes).await)? {
                return Ok(());
            }
        }
        Err(kept_conflicting(id))
    }

    /// One page of jobs, newest first (`gsi1`: `JOBS#<status>` / `<created_at>#<id>`). Of
    /// one status: that status's partition read in key order, `skip + limit + 1` jobs
    /// at most. Of every status: each status's partition read as far as the page needs
    /// (at most [`MAX_EXAMINED`] / 6 each), merged. `total`: the dashboard's counter
    /// for `queued` (the one status it keeps); the others are counted, at most
    /// [`MAX_EXAMINED`] jobs in all (finished jobs expire by TTL, which no counter sees).
    pub async fn page(
        &self,
        status: Option<JobStatus>,
        request: &PageRequest,
    ) -> Result<Slice<JobRecord>, StoreError> {
        let range = |status| Range::index("gsi1", status_index(status)).descending(true);
        let want = request.wanted();
        let (cut, total) = match status {
            Some(status) => {
                let one = range(status);
                let page = self.table.page(&one, request, |_| true);
                let (cut, total) = tokio::join!(page, self.total(status, MAX_EXAMINED));
                (cut?, total?)
            }
            None => {
                let budget = MAX_EXAMINED / JobStatus::ALL.len();
                let ranges = JobStatus::ALL.map(range);
                let after = request.after.as_deref();
                // Boxed, as the counts are: seven futures side by side inline overflow a
                // test thread's 2 MiB stack in a debug build.
                let read =
                    |range| Box::pin(self.table.read_range(range, after, want, budget, |_| true));
                let [a, b, c, d, e, f] = &ranges;
                let (a, b, c, d, e, f, total) = tokio::join!(
                    read(a),
                    read(b),
                    read(c),
                    read(d),
                    read(e),
                    read(f),
                    Box::pin(self.total_of_all())
                );
                let runs = vec![a?, b?, c?, d?, e?, f?];
                let cut = Merged::of(runs, &ranges[0], want).page(request)?;
                (cut, total?)
            }
        };
        Ok(Slice {
            items: cut.items,
            next: cut.next,
            total: total.0,
            total_exact: total.1,
            truncated: cut.truncated,
        })
    }

    /// How many jobs are in `status`: `(count, exact)`, counting at most `budget`.
    async fn total(&self, status: JobStatus, budget: usize) -> Result<(u64, bool), StoreError> {
        if status == JobStatus::Queued {
            let queued = self.stats.total("jobs_queued").await?;
            return Ok((queued, true));
        }
        let range = Range::index("gsi1", status_index(status));
        self.table.count_range(&range, budget).await
    }

    /// How many jobs there are: the `queued` counter, and the other five statuses counted
    /// at most [`MAX_EXAMINED`] / 5 each.
    async fn total_of_all(&self) -> Result<(u64, bool), StoreError> {
        let budget = MAX_EXAMINED / 5;
        let total = |status| Box::pin(self.total(status, budget));
        let (queued, running, succeeded, failed, dead, cancelled) = tokio::join!(
            total(JobStatus::Queued),
            total(JobStatus::Running),
            total(JobStatus::Succeeded),
            total(JobStatus::Failed),
            total(JobStatus::Dead),
            total(JobStatus::Cancelled),
        );
        [queued?, running?, succeeded?, failed?, dead?, cancelled?]
            .into_iter()
            .try_fold((0, true), |(sum, exact), (count, count_exact)| {
                Ok((sum + count, exact && count_exact))
            })
    }

    /// Every job in `status`, newest first: the whole partition, for tests and tools;
    /// routes page with [`Self::page`].
    pub async fn list(&self, status: JobStatus) -> Result<Vec<JobRecord>, StoreError> {
        self.table
            .query_all(|query| {
                query
                    .index_name("gsi1")
                    .key_condition_expression("gsi1pk = :index")
                    .expression_attribute_values(":index", s(status_index(status)))
                    .scan_index_forward(false)
            })
            .await
    }
}
