//! DynamoDB, S3 and SQS access: clients built once from one `SdkConfig`, the single
//! table's keys and typed repositories, and the single place where SDK failures become
//! API errors.
//!
//! Locally, `AWS_ENDPOINT_URL` points every client at the emulator (moto), and S3 uses
//! path-style addressing because the emulator cannot serve virtual-host buckets.

mod api_keys;
mod audit;
mod aws_json;
mod capacity;
mod clients;
mod credentials;
mod error;
mod files;
mod flags;
mod impersonation;
mod jobs;
mod keys;
mod objects;
mod one_time;
mod organizations;
pub mod parameters;
mod projects;
mod rate;
pub mod realtime;
mod refresh;
mod signing;
mod stats;
mod table;
pub mod usage;
mod users;
mod webhooks;

pub use api_keys::{ApiKeyRecord, ApiKeyRepo, CreateApiKeyOutcome, KeyOwner, MAX_API_KEYS};
pub use audit::{AuditEntry, AuditLog, AuditPage, AuditQuery};
/// One write of a transaction, for the writes a caller adds to a repository's (events).
pub use aws_sdk_dynamodb::types::TransactWriteItem;
pub use clients::{AwsClients, AwsSettings};
pub use credentials::{CredentialRecord, TenantCredentials};
pub use error::StoreError;
pub use files::{Confirmation, FileRecord, FileRepo, StorageQuota, Stored};
pub use flags::{CreateFlagOutcome, FlagRecord, FlagRepo, MAX_FLAGS, MAX_USER_IDS};
pub use impersonation::{ActiveImpersonation, ImpersonationSession, ImpersonationSessions};
pub use jobs::{JobRecord, JobRepo, JobStatus, Start};
pub use keys::{Key, TenantId};
pub use objects::Objects;
pub use one_time::{OneTimeRecord, OneTimeTokens, Purpose};
pub use organizations::{
    InvitationRecord, Joined, MemberRole, MembershipLimits, MembershipRecord, OrganizationChange,
    OrganizationRecord, OrganizationRepo,
};
pub use projects::{
    ProjectChange, ProjectListing, ProjectRecord, ProjectRepo, ProjectSort, UpdateOutcome,
};
pub use rate::{RateLimiter, Window};
pub use realtime::{ConnectionRecord, Connections, Member};
pub use refresh::{RefreshRecord, RefreshTokens, Rotation, SessionRecord, SessionUse};
pub use stats::{Counters, STATS_SHARDS, Stats, Tally};
pub use table::Table;
pub use usage::{Metric, UsageMeter, UsageOwner};
pub use users::{
    AdminChange, Applied, BillingChange, Lifecycle, Payer, ProfileChange, UserRecord, UserRepo,
    is_active_subscription, is_paid_status, normalize_email,
};
pub use webhooks::{
    DeliveryAttempt, DeliveryRecord, InboundEventRecord, SubscriptionRecord, WebhookRepo,
};
