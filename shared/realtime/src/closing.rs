//! Closing connections from the server side: one whose credential has ended (found by a
//! push or a frame), and every connection of a user who was deactivated or of an
//! impersonation that was stopped. `DeleteConnection` first, then the connection is
//! forgotten here: API Gateway's `$disconnect` forgets it too, but only at best effort.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Broadcaster, PushError, Pushed};

impl Broadcaster {
    /// Closes `connection_id` and forgets it: `Closed`, or `Gone` when the socket was
    /// closed already (forgotten all the same). A failure to forget is logged; the items
    /// expire, and the next push finds the connection again.
    pub async fn disconnect(&self, connection_id: &str) -> Result<Pushed, PushError> {
        let closed = self.push.delete(connection_id).await?;
        tracing::info!(connection.id = connection_id, outcome = ?closed, "connection closed");
        if let Err(e) = self.connections.close(connection_id).await {
            tracing::warn!(error.cause = %e, connection.id = connection_id, "a closed connection was not forgotten");
        }
        Ok(closed)
    }

    /// Closes every connection of `user_id`, or only those opened with the impersonation
    /// `session`, and returns how many were still open. Each one is tried; if any failed,
    /// the error comes after the others were closed, so a retry closes what is left.
    pub async fn disconnect_user(
        &self,
        user_id: &str,
        session: Option<&str>,
    ) -> Result<usize, String> {
        let connections = self
            .connections
            .of_user(user_id)
            .await
            .map_err(|e| e.to_string())?;
        let opened_with_session = |connection: &&aloft_store::ConnectionRecord| {
            session.is_none_or(|s| connection.impersonation_session.as_deref() == Some(s))
        };
        let mut closed = 0;
        let mut failed = None;
        for connection in connections.iter().filter(opened_with_session) {
            match self.disconnect(&connection.connection_id).await {
                Ok(Pushed::Closed) => closed += 1,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error.cause = %e, connection.id = %connection.connection_id, "connection not closed");
                    failed = Some(e);
                }
            }
        }
        match failed {
            Some(e) => Err(e.to_string()),
            None => Ok(closed),
        }
    }
}

/// Epoch seconds now (this crate has no clock of its own to share).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
