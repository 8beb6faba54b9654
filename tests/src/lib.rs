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
    /// A client of its own address ([`fresh_loopback`]): the per-address limits (5
    /// sign-ins a minute) count each test's requests apart, so a suite of many tests
    /// does not queue behind one address's window.
    pub fn new() -> Self {
        Self::from_address(fresh_loopback())
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
        let email = format!("{}@example.com", unique(tag));
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

    /// An operator's account: registered on first use, its bootstrap role granted once the
    /// address is verified through the link in the local mailbox (a concurrent test may
    /// have used it already), signed in after.
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
        let bearer = self.sign_in(credentials).await;
        let me = self
            .call(&bearer, Method::GET, "/api/v1/app/users/me", "")
            .await;
        if me.json()["is_verified"] == true {
            // Verified, but perhaps by a concurrent test after this sign-in: a token
            // signed now carries the role.
            return self.sign_in(credentials).await;
        }
        if self.link_tokens(email, "verify-email").await.is_empty() {
            // Mailed to an emulator that has restarted since: ask for another link.
            self.call(
                &bearer,
                Method::POST,
                "/api/v1/app/users/me/verify-email",
                "",
            )
            .await;
        }
        eventually(&format!("{email} verified"), async || {
            let me = self
                .call(&bearer, Method::GET, "/api/v1/app/users/me", "")
                .await;
            if me.json()["is_verified"] == true {
                return Some(());
            }
            for token in self.link_tokens(email, "verify-email").await {
                let body = format!(r#"{{"token": "{token}"}}"#);
                self.auth("verify-email", &body).await;
            }
            None
        })
        .await;
        // The role is in the token: sign in again to carry it.
        self.sign_in(credentials).await
    }

    /// The messages the stack mailed to `to`, newest first (`GET /_local/mail`).
    pub async fn mail(&self, to: &str) -> Vec<Value> {
        let path = format!("/_local/mail?to={}", to.replace('+', "%2B"));
        let answer = self.get(&path).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.json()["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The tokens of the `<APP_URL>/<page>?token=…` links mailed to `to`, newest first.
    pub async fn link_tokens(&self, to: &str, page: &str) -> Vec<String> {
        let marker = format!("/{page}?token=");
        self.mail(to)
            .await
            .iter()
            .filter_map(|message| {
                let text = message["text"].as_str()?;
                let start = text.find(&marker)? + marker.len();
                let token: String = text[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                    .collect();
                Some(token)
            })
            .collect()
    }

    /// The newest link token mailed to `to` for `page`, waiting for the mail to arrive.
    pub async fn newest_link_token(&self, to: &str, page: &str) -> String {
        eventually(&format!("a {page} link mailed to {to}"), async || {
            self.link_tokens(to, page).await.into_iter().next()
        })
        .await
    }

    pub async fn sign_in(&self, credentials: &str) -> String {
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

    /// Creates an organization named `name` as `bearer` (its owner); returns its id.
    pub async fn create_organization(&self, bearer: &str, name: &str) -> String {
        let body = serde_json::json!({ "name": name }).to_string();
        let created = self
            .call(bearer, Method::POST, "/api/v1/app/organizations", &body)
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        created.json()["id"].as_str().unwrap_or_default().to_owned()
    }

    /// A new verified user who accepted an invitation to `organization` as `role`; returns their
    /// `Authorization` header value.
    pub async fn join(&self, owner: &str, organization: &str, role: &str, tag: &str) -> String {
        let (bearer, email) = self.new_user(tag).await;
        let verify = self.newest_link_token(&email, "verify-email").await;
        self.auth("verify-email", &format!(r#"{{"token": "{verify}"}}"#))
            .await;
        let invited = self
            .call(
                owner,
                Method::POST,
                &format!("/api/v1/app/organizations/{organization}/invitations"),
                &format!(r#"{{"email": "{email}", "role": "{role}"}}"#),
            )
            .await;
        assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
        let token = self.newest_link_token(&email, "accept-invitation").await;
        let joined = self
            .call(
                &bearer,
                Method::POST,
                "/api/v1/app/invitations/accept",
                &format!(r#"{{"token": "{token}"}}"#),
            )
            .await;
        assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
        bearer
    }

    /// `bearer`'s token for tenant `id` (`switch`), as an `Authorization` header value.
    pub async fn switch(&self, bearer: &str, id: &str) -> String {
        let switched = self
            .call(
                bearer,
                Method::POST,
                &format!("/api/v1/app/organizations/{id}/switch"),
                "",
            )
            .await;
        assert_eq!(switched.status, StatusCode::OK, "{}", switched.text);
        assert_eq!(switched.json()["tenant_id"], id);
        format!(
            "Bearer {}",
            switched.json()["access_token"].as_str().unwrap_or_default()
        )
    }

    /// Uploads `bytes` as a `text/plain` file named `filename` the way a client does:
    /// an upload URL, a PUT straight to S3, the confirmation. Returns the file's id.
    pub async fn upload_file(&self, bearer: &str, filename: &str, bytes: &[u8]) -> String {
        let headers = [
            ("authorization", bearer),
            ("content-type", "application/json"),
        ];
        let body = format!(
            r#"{{"filename": "{filename}", "content_type": "text/plain", "size": {}}}"#,
            bytes.len()
        );
        let upload = self
            .send_body(
                Method::POST,
                "/api/v1/app/files/upload-url",
                &headers,
                &body,
            )
            .await;
        assert_eq!(upload.status, StatusCode::OK, "{}", upload.text);
        let upload = upload.json();
        let put = reqwest::Client::new()
            .put(upload["upload_url"].as_str().unwrap_or_default())
            .header("content-type", "text/plain")
            .body(bytes.to_vec())
            .send()
            .await
            .map(|r| r.status());
        assert_eq!(put.ok(), Some(StatusCode::OK));
        let file_id = upload["file_id"].as_str().unwrap_or_default().to_owned();
        let confirm = format!(r#"{{"file_id": "{file_id}"}}"#);
        let confirmed = self
            .send_body(
                Method::POST,
                "/api/v1/app/files/confirm",
                &headers,
                &confirm,
            )
            .await;
        assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
        file_id
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

/// `<tag>-<nanoseconds>`: a name (email, sub, key) no other test or run uses.
pub fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{tag}-{nanos}")
}

/// A loopback address no other request of the run is likely to have come from: a client
/// of its own for the per-address limits ([`Stack::from_address`]).
pub fn fresh_loopback() -> std::net::IpAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let [_, a, b, c] = nanos
        .wrapping_add(NEXT.fetch_add(7919, Ordering::Relaxed))
        .to_be_bytes();
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, a.max(1), b, c.max(1)))
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
