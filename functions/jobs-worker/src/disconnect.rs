//! `realtime.disconnect`: closes a user's open WebSocket connections once their
//! credential is switched off — all of them after a deactivation, those of one
//! impersonation session after `stop` — so no push reaches them any more.

use aloft_queue::JobError;

use crate::Jobs;

/// Closes the connections of `user_id` (only those opened with `impersonation_session`,
/// if given). A connection that failed to close fails the job, to be retried: the ones
/// closed already are gone by then.
pub(crate) async fn close(
    jobs: &Jobs,
    user_id: &str,
    impersonation_session: Option<&str>,
) -> Result<(), JobError> {
    let closed = jobs
        .realtime()?
        .disconnect_user(user_id, impersonation_session)
        .await?;
    tracing::info!(
        user.id = user_id,
        connections.closed = closed,
        impersonation = impersonation_session.is_some(),
        "connections closed"
    );
    Ok(())
}
