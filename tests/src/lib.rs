//! End-to-end tests: a plain HTTP client against the running local stack
//! (the API front on `ALOFT_API_URL`, default `http://127.0.0.1:9000`).
//! `make e2e` starts the stack, runs them, and stops it.

use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode, header::HeaderMap};
use serde_json::Value;

/// A response as a test looks at it.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

/// A client for the local stack.
#[derive(Debug, Clone)]
pub struct Stack {
    client: Client,
    base: String,
}

impl Default for Stack {
    fn default() -> Self {
        Self::new()
    }
}

impl Stack {
    pub fn new() -> Self {
        Self::with(Client::builder())
    }

    /// A client whose requests come from `address` (every 127.x.y.z is this machine), so
    /// the stack sees it as another caller.
    pub fn from_address(address: std::net::IpAddr) -> Self {
        Self::with(Client::builder().local_address(address))
    }

    fn with(builder: reqwest::ClientBuilder) -> Self {
        let base =
            std::env::var("ALOFT_API_URL").unwrap_or_else(|_| "http://127.0.0.1:9000".into());
        let client = builder
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_else(|e| panic!("HTTP client: {e}"));
        Self { client, base }
    }

    pub async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send_body(method, path, headers, "").await
    }

    pub async fn send_body(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        self.send_bytes(method, path, headers, body.as_bytes().to_vec())
            .await
    }

    /// A request with any bytes as its body, UTF-8 or not.
    pub async fn send_bytes(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let response = self.open(method, path, headers, body).await;
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap_or_default(),
        }
    }

    /// Sends a request and returns as soon as the status and headers arrive, for tests
    /// that read the body as it streams in.
    pub async fn open(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> reqwest::Response {
        let body = body.into();
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if !body.is_empty() {
            request = request.body(body);
        }
        request.send().await.unwrap_or_else(|e| {
            panic!("{path}: {e}. Is the local stack running? `make e2e` starts it")
        })
    }

    /// Registers a new user with a unique email, signs in, and returns the
    /// `Authorization` header value and the email.
    pub async fn new_user(&self, tag: &str) -> (String, String) {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let email = format!("{tag}-{nanos}@example.com");
        let credentials = format!(r#"{{"email": "{email}", "password": "correct horse"}}"#);
        let registered = self.auth("register", &credentials).await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{}",
            registered.text
        );
        (self.sign_in(&credentials).await, email)
    }

    /// The local stack's bootstrap admin (`admin@example.com`): registered on first use,
    /// signed in after. Returns the `Authorization` header value.
    pub async fn admin(&self) -> String {
        self.operator("admin@example.com").await
    }

    /// The local stack's bootstrap superadmin (`root@example.com`), like [`Self::admin`].
    pub async fn superadmin(&self) -> String {
        self.operator("root@example.com").await
    }

    async fn operator(&self, email: &str) -> String {
        let credentials = format!(r#"{{"email": "{email}", "password": "correct horse"}}"#);
        let credentials = credentials.as_str();
        let registered = self.auth("register", credentials).await;
        assert!(
            matches!(
                registered.status,
                StatusCode::CREATED | StatusCode::CONFLICT
            ),
            "{}",
            registered.text
        );
        self.sign_in(credentials).await
    }

    async fn sign_in(&self, credentials: &str) -> String {
        let login = self.auth("login", credentials).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.text);
        let token = login.json()["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        format!("Bearer {token}")
    }

    /// `POST /public/auth/<action>` with a JSON body. The suite signs in more often than
    /// the per-IP auth limit allows in a minute; a 429 waits out its `Retry-After` and
    /// tries again.
    pub async fn auth(&self, action: &str, credentials: &str) -> Answer {
        let path = format!("/api/v1/public/auth/{action}");
        let json = [("content-type", "application/json")];
        loop {
            let answer = self
                .send_body(Method::POST, &path, &json, credentials)
                .await;
            if answer.status != StatusCode::TOO_MANY_REQUESTS {
                return answer;
            }
            let wait: u64 = answer.header("retry-after").parse().unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait)).await;
        }
    }

    /// A request with `bearer` as its `Authorization` and `body` (if any) as JSON.
    pub async fn call(&self, bearer: &str, method: Method, path: &str, body: &str) -> Answer {
        let headers = [
            ("authorization", bearer),
            ("content-type", "application/json"),
        ];
        self.send_body(method, path, &headers, body).await
    }

    /// The id of the user behind `bearer` (`GET /app/users/me`).
    pub async fn user_id(&self, bearer: &str) -> String {
        let me = self
            .call(bearer, Method::GET, "/api/v1/app/users/me", "")
            .await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        me.json()["id"].as_str().unwrap_or_default().to_owned()
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, &[]).await
    }
}

/// Queue → shim → worker takes about a second; allow for a cold build of the worker.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// Waits (up to [`PATIENCE`]) until `check` finds what an asynchronous part of the stack
/// does, and returns it.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
