//! The AWS call log the IAM check reads (infra/iam/check.py): with `ALOFT_AWS_CALL_LOG`
//! naming a file, the WebSocket gateway appends one line per `@connections` call, in the
//! emulator's format (infra/local/aws_call_log.py): who signed it, the IAM action, and the
//! resource as API Gateway authorises it (API id `local-ws-api`, stage `local`).

use std::io::Write as _;

use http::Method;
use serde_json::json;

/// Appends the management call `method` on connection `id`, signed by `authorization`.
pub fn record_management_call(authorization: Option<&str>, method: &Method, id: &str) {
    let Some(path) = std::env::var_os("ALOFT_AWS_CALL_LOG") else {
        return;
    };
    let resource = format!(
        "arn:aws:execute-api:us-east-1:123456789012:local-ws-api/local/{method}/@connections/{id}"
    );
    let line = json!({
        "caller": authorization.and_then(access_key_id),
        "action": "execute-api:ManageConnections",
        "resources": [resource],
    });
    // One write of the whole line to a file opened for appending: lines from several
    // processes never interleave.
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = appended {
        tracing::warn!(error = %e, "could not append to ALOFT_AWS_CALL_LOG");
    }
}

/// The access key id of a SigV4 `Authorization` header (`… Credential=<id>/<scope>, …`).
fn access_key_id(authorization: &str) -> Option<&str> {
    let credential = authorization.split("Credential=").nth(1)?;
    credential.split('/').next().filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_access_key_id() {
        let header = "AWS4-HMAC-SHA256 Credential=jobs-worker/20261205/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=00";
        assert_eq!(access_key_id(header), Some("jobs-worker"));
        assert_eq!(access_key_id("Bearer x"), None);
        assert_eq!(access_key_id("AWS4-HMAC-SHA256 Credential=/x"), None);
    }
}
