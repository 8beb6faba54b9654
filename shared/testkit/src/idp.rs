//! A local stand-in for an external identity provider: it serves a real JWKS over HTTP
//! and signs RS256/ES256 tokens with the test keys in `fixtures/`.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use jsonwebtoken::{
    Algorithm, EncodingKey, Header,
    jwk::{Jwk, JwkSet},
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

pub const RSA_PRIVATE_PEM: &str = include_str!("../fixtures/rsa-private.pem");
pub const RSA_PUBLIC_PEM: &str = include_str!("../fixtures/rsa-public.pem");
pub const EC_PRIVATE_PEM: &str = include_str!("../fixtures/ec-private.pem");
/// A key the provider never publishes (a forger's).
pub const RSA_OTHER_PRIVATE_PEM: &str = include_str!("../fixtures/rsa-other-private.pem");

/// Where the end-to-end stack expects the fake provider (`infra/stack.sh` points
/// `AUTH_JWKS_URL` here in its `full` mode, with [`ISSUER`] and [`AUDIENCE`]).
pub const STACK_ADDRESS: &str = "127.0.0.1:5302";
pub const ISSUER: &str = "https://idp.example.test/";
pub const AUDIENCE: &str = "aloft-tests";

/// A running fake provider.
#[derive(Debug, Clone)]
pub struct FakeIdp {
    pub jwks_url: String,
    pub issuer: String,
    pub audience: String,
    published: Arc<Mutex<Vec<Jwk>>>,
    fetches: Arc<AtomicUsize>,
}

fn encoding_key(algorithm: Algorithm) -> EncodingKey {
    match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()),
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()),
        other => panic!("the fake provider has no {other:?} key"),
    }
    .expect("fixture keys parse")
}

impl FakeIdp {
    /// Serves a JWKS with `rsa-1` (RS256) and `ec-1` (ES256) on a free local port.
    pub async fn start() -> Self {
        Self::bind("127.0.0.1:0").await.expect("a free port")
    }

    /// [`Self::start`] on `address` (the end-to-end stack's is [`STACK_ADDRESS`]).
    pub async fn bind(address: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let idp = Self {
            jwks_url: format!("http://{address}/.well-known/jwks.json"),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            published: Arc::new(Mutex::new(Vec::new())),
            fetches: Arc::new(AtomicUsize::new(0)),
        };
        idp.publish("rsa-1", Algorithm::RS256);
        idp.publish("ec-1", Algorithm::ES256);
        let (published, fetches) = (idp.published.clone(), idp.fetches.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0_u8; 4096];
                let _ = socket.read(&mut request).await;
                fetches.fetch_add(1, Ordering::SeqCst);
                let keys = published.lock().map(|k| k.clone()).unwrap_or_default();
                let body = serde_json::to_string(&JwkSet { keys }).unwrap_or_default();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        Ok(idp)
    }

    /// Adds a key to the JWKS under `kid` (what a provider does when it rotates keys).
    pub fn publish(&self, kid: &str, algorithm: Algorithm) {
        let mut jwk = Jwk::from_encoding_key(&encoding_key(algorithm), algorithm)
            .expect("fixture keys convert to JWKs");
        jwk.common.key_id = Some(kid.to_owned());
        self.published.lock().expect("not poisoned").push(jwk);
    }

    /// Removes `kid` from the JWKS (the end of a rotation).
    pub fn retire(&self, kid: &str) {
        self.published
            .lock()
            .expect("not poisoned")
            .retain(|jwk| jwk.common.key_id.as_deref() != Some(kid));
    }

    /// A token signed by a key the provider never published, under `kid`.
    pub fn forge(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        let key = EncodingKey::from_rsa_pem(RSA_OTHER_PRIVATE_PEM.as_bytes())
            .expect("fixture keys parse");
        jsonwebtoken::encode(&header, claims, &key).expect("token signs")
    }

    /// How many times the JWKS was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Valid claims for `sub`, expiring in ten minutes.
    pub fn claims(&self, sub: &str) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        json!({
            "sub": sub, "email": format!("{sub}@idp.example.test"),
            "iss": self.issuer, "aud": self.audience,
            "iat": now, "nbf": now, "exp": now + 600
        })
    }

    /// A token signed with the provider's key for `algorithm`, under `kid`.
    pub fn sign(&self, algorithm: Algorithm, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(algorithm);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &encoding_key(algorithm)).expect("token signs")
    }
}
