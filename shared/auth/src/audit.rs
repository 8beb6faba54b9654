//! The one way functions write the audit log: the [`Audit`] extractor knows who acts
//! (and for whom, under impersonation), from which address and in which request;
//! [`Audit::record`] appends what they did.

use aloft_core::ApiError;
use aloft_http::RequestId;
use aloft_store::{AuditEntry, AuditLog};
use axum::extract::FromRequestParts;
use http::request::Parts;
use serde_json::Value;

use crate::{App, AuthUser, Principal, guard::source_ip};

/// The audit context of a signed-in request; 401 without valid credentials.
#[derive(Debug, Clone)]
pub struct Audit {
    log: AuditLog,
    actor_id: String,
    impersonator_id: Option<String>,
    ip_address: String,
    request_id: Option<String>,
}

impl<P: Send + Sync> FromRequestParts<App<P>> for Audit {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App<P>) -> Result<Self, ApiError> {
        let AuthUser(principal) = AuthUser::from_request_parts(parts, app).await?;
        Ok(Audit::of(
            app.guard.audit_log(),
            &principal,
            &parts.extensions,
        ))
    }
}

impl Audit {
    pub(crate) fn of(log: &AuditLog, principal: &Principal, extensions: &http::Extensions) -> Self {
        Self {
            log: log.clone(),
            actor_id: principal.user_id.clone(),
            impersonator_id: principal.impersonator.clone(),
            ip_address: source_ip(extensions),
            request_id: extensions
                .get::<RequestId>()
                .and_then(|id| id.0.to_str().ok())
                .map(str::to_owned),
        }
    }

    /// Appends that the caller did `action` to `resource_type`/`resource_id`, with the
    /// resource `before` and `after` when it changed. The action is done by now: a log
    /// that cannot be written is reported as an error in the logs, not to the caller.
    pub async fn record(
        &self,
        action: &str,
        resource_type: &str,
        resource_id: Option<&str>,
        before: Option<Value>,
        after: Option<Value>,
    ) {
        let entry = AuditEntry {
            id: uuid::Uuid::now_v7().to_string(),
            created_at: aloft_core::timestamp::now(),
            actor_id: self.actor_id.clone(),
            impersonator_id: self.impersonator_id.clone(),
            action: action.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.map(str::to_owned),
            before: before.map(|v| v.to_string()),
            after: after.map(|v| v.to_string()),
            ip_address: Some(self.ip_address.clone()),
            request_id: self.request_id.clone(),
        };
        if let Err(e) = self.log.append(&entry).await {
            tracing::error!(
                error.cause = %e,
                audit.action = action,
                audit.resource_type = resource_type,
                "audit entry not written"
            );
        }
    }
}
