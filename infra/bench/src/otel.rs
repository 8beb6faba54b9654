//! Cold starts and invocations with spans exported. A row named `<function>+otel` runs
//! `<function>` with `OTEL_EXPORTER_OTLP_ENDPOINT` set to a local stand-in for an
//! OpenTelemetry collector, which answers every export with 200 at once: the row
//! measures what building and posting the spans costs the function (the request's span,
//! each AWS call's, over loopback), not a collector's speed or a network round trip.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use crate::BoxError;

/// The collector stand-in: counts the exports it is sent.
#[derive(Debug)]
pub struct Collector {
    url: String,
    exports: Arc<AtomicUsize>,
}

impl Collector {
    /// Listens on a free loopback port until the process ends.
    pub async fn start() -> Result<Self, BoxError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let exports = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&exports);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let counted = Arc::clone(&counted);
                tokio::spawn(async move {
                    // Keep-alive: answer each request on the connection as it ends.
                    let mut buffer = vec![0; 64 * 1024];
                    let mut pending = Vec::new();
                    loop {
                        let Ok(read) = stream.read(&mut buffer).await else {
                            return;
                        };
                        if read == 0 {
                            return;
                        }
                        pending.extend_from_slice(&buffer[..read]);
                        while let Some(length) = complete_request(&pending) {
                            pending.drain(..length);
                            counted.fetch_add(1, Ordering::SeqCst);
                            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}";
                            if stream.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Ok(Self { url, exports })
    }

    /// `env` with the exporter pointed here.
    pub fn function_env(&self, env: &[(String, String)]) -> Vec<(String, String)> {
        let mut env = env.to_vec();
        env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), self.url.clone()));
        env
    }

    pub fn exports(&self) -> usize {
        self.exports.load(Ordering::SeqCst)
    }

    /// Fails unless every one of `invocations` since `before` exported: a binary that
    /// never exported would be measured without the exporter.
    pub fn ensure_exported(
        &self,
        row: &str,
        before: usize,
        invocations: usize,
    ) -> Result<(), BoxError> {
        let made = self.exports() - before;
        if made >= invocations {
            Ok(())
        } else {
            Err(format!("{row}: {invocations} invocations made {made} OTLP exports").into())
        }
    }
}

/// The length of the first whole request in `bytes` (headers and a `content-length`
/// body), if it has all arrived.
fn complete_request(bytes: &[u8]) -> Option<usize> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    (bytes.len() >= end + length).then_some(end + length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_complete_once_its_body_is_in() {
        let head = "POST /v1/traces HTTP/1.1\r\nContent-Length: 4\r\n\r\n";
        assert_eq!(complete_request(head.as_bytes()), None);
        assert_eq!(complete_request(format!("{head}ab").as_bytes()), None);
        let whole = format!("{head}abcdGET");
        assert_eq!(complete_request(whole.as_bytes()), Some(head.len() + 4));
    }
}
