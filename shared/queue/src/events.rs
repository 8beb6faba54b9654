//! The event bus: events that outgoing webhook subscriptions can listen to, published
//! once, through [`Publisher::publish`], from the place they happen. One fan-out job
//! takes each to the tenant's webhook subscriptions (signed deliveries) and to the
//! realtime channels it names. To add an event, add a variant and its row in
//! [`Event::ALL`]'s match arms; then publish it.

use aloft_store::{JobRecord, StoreError, TenantId};
use serde::{Deserialize, Serialize};

use crate::{Job, NewJob, Notification, Producer, Queued, Staged};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    #[serde(rename = "contact.submitted")]
    ContactSubmitted,
    #[serde(rename = "project.created")]
    ProjectCreated,
    #[serde(rename = "project.updated")]
    ProjectUpdated,
    #[serde(rename = "project.deleted")]
    ProjectDeleted,
    #[serde(rename = "subscription.updated")]
    SubscriptionUpdated,
    #[serde(rename = "file.uploaded")]
    FileUploaded,
    #[serde(rename = "file.deleted")]
    FileDeleted,
    #[serde(rename = "job.completed")]
    JobCompleted,
    #[serde(rename = "member.added")]
    MemberAdded,
    #[serde(rename = "member.removed")]
    MemberRemoved,
    #[serde(rename = "member.role_changed")]
    MemberRoleChanged,
}

impl Event {
    pub const ALL: [Event; 11] = [
        Event::ContactSubmitted,
        Event::ProjectCreated,
        Event::ProjectUpdated,
        Event::ProjectDeleted,
        Event::SubscriptionUpdated,
        Event::FileUploaded,
        Event::FileDeleted,
        Event::JobCompleted,
        Event::MemberAdded,
        Event::MemberRemoved,
        Event::MemberRoleChanged,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Event::ContactSubmitted => "contact.submitted",
            Event::ProjectCreated => "project.created",
            Event::ProjectUpdated => "project.updated",
            Event::ProjectDeleted => "project.deleted",
            Event::SubscriptionUpdated => "subscription.updated",
            Event::FileUploaded => "file.uploaded",
            Event::FileDeleted => "file.deleted",
            Event::JobCompleted => "job.completed",
            Event::MemberAdded => "member.added",
            Event::MemberRemoved => "member.removed",
            Event::MemberRoleChanged => "member.role_changed",
        }
    }

    /// Operator events concern the whole deployment, not one tenant: only admins may
    /// subscribe to them.
    pub fn operator_only(self) -> bool {
        matches!(self, Event::ContactSubmitted)
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == raw)
    }
}

/// The payload of a fan-out job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fanout {
    pub event: Event,
    /// The tenant whose subscriptions get a tenant event; `None` for operator events.
    pub tenant: Option<TenantId>,
    /// ISO 8601, the `timestamp` of the delivered body.
    pub occurred_at: String,
    pub data: serde_json::Value,
    /// Realtime channels (`project:<id>`, `tenant:<id>`, `user:<id>`) whose connections
    /// get the event too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
}

fn fanout_job(
    event: Event,
    tenant: Option<TenantId>,
    data: serde_json::Value,
    channels: Vec<String>,
) -> Result<NewJob, StoreError> {
    let fanout = Fanout {
        event,
        tenant,
        occurred_at: aloft_core::timestamp::now(),
        data,
        channels,
    };
    Job::Fanout(fanout).new_job()
}

/// Publishes events to subscribers, through the jobs queue.
#[derive(Debug, Clone)]
pub struct Publisher {
    producer: Producer,
}

impl Publisher {
    pub fn new(producer: Producer) -> Self {
        Self { producer }
    }

    /// Queues the fan-out of `event` to its webhook subscribers and the connections on
    /// `channels`; they get it within seconds.
    pub async fn publish(
        &self,
        event: Event,
        tenant: Option<TenantId>,
        data: serde_json::Value,
        channels: Vec<String>,
    ) -> Result<JobRecord, StoreError> {
        let job = fanout_job(event, tenant, data, channels)?;
        self.producer.enqueue(job).await
    }

    /// The fan-out of `event` as writes (its job record and its dashboard count) of the
    /// transaction that makes the change it announces (the outbox): the event exists
    /// exactly when the change does. [`Self::dispatch`] it once the transaction is in.
    pub fn stage(
        &self,
        event: Event,
        tenant: &TenantId,
        data: serde_json::Value,
        channels: Vec<String>,
    ) -> Result<Staged, StoreError> {
        let job = fanout_job(event, Some(tenant.clone()), data, channels)?;
        self.producer.stage(job)
    }

    /// The fan-out job of an operator event (no tenant), for [`Producer::enqueue_together`]
    /// with the work it announces.
    pub fn operator_event(
        &self,
        event: Event,
        data: serde_json::Value,
    ) -> Result<NewJob, StoreError> {
        fanout_job(event, None, data, Vec::new())
    }

    /// Sends a staged event on its way (a failed send is relayed later).
    pub async fn dispatch(&self, staged: &Staged) {
        self.producer.dispatch(&staged.record).await;
    }

    /// Queues the closing of every open WebSocket connection of `user_id`, after a
    /// deactivation ([`Job::disconnect_user`]).
    pub async fn disconnect_user(&self, user_id: &str) -> Result<JobRecord, StoreError> {
        self.producer.enqueue(Job::disconnect_user(user_id)?).await
    }

    /// Queues a `notification` (`data`: the reference's `{"title", "message"}`) for every
    /// open connection of `user_id` (the reference's `send_to_user`).
    pub async fn publish_to_user(
        &self,
        user_id: &str,
        data: serde_json::Value,
    ) -> Result<JobRecord, StoreError> {
        let notification = Notification {
            user_id: user_id.to_owned(),
            data,
        };
        let job = Job::RealtimeNotify(notification)
            .new_job()?
            .for_user(Some(user_id.to_owned()));
        self.producer.enqueue(job).await
    }
}
