//! A listener whose connections acknowledge every read at once (`TCP_QUICKACK`, which
//! Linux clears again after reads, so it is set before each one).
//!
//! Why: a streamed response reaches the Runtime API in small pieces (prelude,
//! separator, body chunks). `lambda_runtime`'s client does not set `TCP_NODELAY`, so
//! Nagle's algorithm holds each piece until the previous one is acknowledged, and a
//! receiver that delays its ACKs (Linux: 40 ms) turns that into 40 ms of idling per
//! invocation: transport, not function time, and not what the harness should measure.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};

use axum::serve::Listener;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};

/// Accepts from a [`TcpListener`], handing out [`QuickAck`] streams.
#[derive(Debug)]
pub struct QuickAckListener(pub TcpListener);

impl Listener for QuickAckListener {
    type Io = QuickAck;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (QuickAck, SocketAddr) {
        loop {
            // Accept errors (out of descriptors, say) are transient: try again.
            if let Ok((stream, addr)) = self.0.accept().await {
                return (QuickAck(stream), addr);
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// A TCP stream that asks for immediate ACKs before every read.
#[derive(Debug)]
pub struct QuickAck(TcpStream);

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let _ignored = self.0.set_quickack(true);
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
