//! The account mails (docs/api.md, "Identity"): a verification link for an address
//! awaiting verification, a reset link for an account with a password. The token is
//! minted here, stored hashed with its expiry, and sent only in the mail; an address
//! that qualifies for neither gets nothing, and nobody outside learns which it was.

use std::time::Duration;

use aloft_config::{ConfigError, Env, Stage};
use aloft_queue::{AccountMail, Email, JobError};
use aloft_store::{OneTimeRecord, OneTimeTokens, Purpose, Table, UserRecord};

use crate::Jobs;

/// Where links point and how long they work: `APP_URL` (default, locally, the web
/// client on `http://localhost:5173`), `VERIFY_EMAIL_TTL_HOURS` (48),
/// `PASSWORD_RESET_TTL_MINUTES` (30).
#[derive(Debug, Clone)]
pub struct AccountLinks {
    tokens: OneTimeTokens,
    app_url: String,
    verify_ttl: Duration,
    reset_ttl: Duration,
}

impl AccountLinks {
    /// Where the links of every mail point (`APP_URL`), without a trailing `/`.
    pub fn app_url(&self) -> &str {
        &self.app_url
    }

    pub fn from_env(env: &Env, table: &Table) -> Result<Self, ConfigError> {
        let app_url = match (env.optional("APP_URL"), Stage::from_env(env)) {
            (Some(url), _) => url,
            (None, Stage::Local) => "http://localhost:5173".into(),
            (None, Stage::Deployed) => env.required("APP_URL")?,
        };
        Ok(Self {
            tokens: OneTimeTokens::new(table.clone()),
            app_url: app_url.trim_end_matches('/').to_owned(),
            verify_ttl: Duration::from_secs(env.parse_or("VERIFY_EMAIL_TTL_HOURS", 48)? * 3600),
            reset_ttl: Duration::from_secs(env.parse_or("PASSWORD_RESET_TTL_MINUTES", 30)? * 60),
        })
    }
}

/// What a mail for `purpose` says, and how long its link works.
struct Link {
    path: &'static str,
    ttl: Duration,
    subject: &'static str,
    body: &'static str,
}

/// The link `user` gets for `purpose`, if they qualify for one.
fn link_for(links: &AccountLinks, purpose: Purpose, user: &UserRecord) -> Option<Link> {
    match purpose {
        Purpose::VerifyEmail if !user.email_verified => Some(Link {
            path: "verify-email",
            ttl: links.verify_ttl,
            subject: "Verify your email address",
            body: "Open this link to verify your email address:",
        }),
        Purpose::ResetPassword if user.password_hash.is_some() => Some(Link {
            path: "reset-password",
            ttl: links.reset_ttl,
            subject: "Reset your password",
            body: "Someone (we hope you) asked to reset your password. Open this link to choose a new one:",
        }),
        _ => None,
    }
}

/// Runs a `Job::VerifyEmail` (`purpose` [`Purpose::VerifyEmail`]) or a
/// `Job::ResetPassword` ([`Purpose::ResetPassword`]).
pub(crate) async fn mail(
    jobs: &Jobs,
    purpose: Purpose,
    AccountMail { email }: &AccountMail,
) -> Result<(), JobError> {
    let Some(user) = jobs
        .users
        .find_by_email(email)
        .await?
        .filter(|user| user.is_active)
    else {
        return Ok(());
    };
    let Some(link) = link_for(&jobs.account, purpose, &user) else {
        return Ok(());
    };
    let token = aloft_auth::opaque::random_secret().map_err(|e| e.to_string())?;
    let record = OneTimeRecord {
        user_id: user.id.clone(),
        email: user.email.clone(),
        expires_at: aloft_core::timestamp::unix_now() + link.ttl.as_secs(),
    };
    jobs.account
        .tokens
        .issue(purpose, &aloft_auth::opaque::secret_hash(&token), &record)
        .await?;
    let url = format!("{}/{}?token={token}", jobs.account.app_url, link.path);
    let hours = link.ttl.as_secs().div_ceil(3600);
    let validity = if link.ttl.as_secs() < 3600 {
        format!("{} minutes", link.ttl.as_secs() / 60)
    } else {
        format!("{hours} hours")
    };
    let message = Email {
        to: user.email.clone(),
        subject: link.subject.to_owned(),
        text: format!(
            "{}\n\n{url}\n\nThe link works once, for {validity}. If you did not ask for it, ignore this email.\n",
            link.body
        ),
        reply_to: None,
    };
    // The system's mail (the user asked for nothing billable): in nobody's usage.
    jobs.send_email(&message, None).await
}
