//! The contact form's two routes.

use std::collections::BTreeMap;

use aloft_auth::{ClientIp, Principal};
use aloft_core::ApiError;
use aloft_http::{
    Json, Reply,
    openapi::{ErrorBody, JsonBody, RateLimited},
};
use aloft_queue::{ContactCrm, Email, Event, Job, NewJob, Queued};
use axum::{Extension, extract::State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::AppState;

/// Custom fields: enough for a real form, bounded so a submission stays small.
const MAX_EXTRA_FIELDS: usize = 30;
const MAX_EXTRA_BYTES: usize = 5000;

/// `POST /public/contact`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ContactRequest {
    /// 2–100 characters.
    #[schema(min_length = 2, max_length = 100)]
    pub name: String,
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 10–5000 characters.
    #[schema(min_length = 10, max_length = 5000)]
    pub message: String,
    /// At most 200 characters; required when `CONTACT_REQUIRE_SUBJECT=true`.
    #[schema(max_length = 200)]
    pub subject: Option<String>,
    /// At most 50 characters; required when `CONTACT_REQUIRE_PHONE=true`.
    #[schema(max_length = 50)]
    pub phone: Option<String>,
    /// At most 200 characters.
    #[schema(max_length = 200)]
    pub company: Option<String>,
    /// Any key-value pairs (at most 30, 5000 bytes in all).
    #[schema(value_type = Option<Object>)]
    pub extra_fields: Option<BTreeMap<String, Value>>,
    /// Where the form is, for analytics; at most 100 characters.
    #[schema(max_length = 100)]
    pub source: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactAccepted {
    pub success: bool,
    pub message: String,
    /// `CNT-` and 8 characters, for the sender's reference.
    pub reference_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RateLimitStatus {
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds when the window resets.
    pub reset: u64,
    pub window: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FormConfig {
    pub require_subject: bool,
    pub require_phone: bool,
    pub sends_confirmation: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactStatus {
    pub available: bool,
    pub rate_limit: RateLimitStatus,
    pub config: FormConfig,
}

/// A submission that passed the rules, trimmed.
struct Submission {
    name: String,
    email: String,
    message: String,
    subject: Option<String>,
    phone: Option<String>,
    company: Option<String>,
    extra_fields: BTreeMap<String, Value>,
    source: Option<String>,
}

/// Submit the contact form.
#[utoipa::path(
    post,
    path = "/public/contact",
    tag = "Contact",
    request_body = ContactRequest,
    responses(
        JsonBody,
        (status = 200, description = "Received; the reference identifies it", body = ContactAccepted),
        (status = 422, description = "A field breaks its rule; `details.field` names it", body = ErrorBody),
        (status = 429, description = "Over the submissions this address may send per hour (`CONTACT_RATE_LIMIT`, default 5/hour); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub(crate) async fn submit_contact(
    State(state): State<AppState>,
    caller: Option<Extension<Principal>>,
    Json(body): Json<ContactRequest>,
) -> Result<Reply<ContactAccepted>, ApiError> {
    let submission = validate(&state, body)?;
    // A signed-in sender's jobs (and emails) count as their usage.
    let owner = caller.map(|Extension(principal)| principal.user_id);
    let reference_id = reference_id();
    let submitted_at = aloft_core::timestamp::now();
    let data = json!({
        "reference_id": reference_id,
        "name": submission.name,
        "email": submission.email,
        "phone": submission.phone,
        "company": submission.company,
        "subject": submission.subject,
        "message": submission.message,
        "extra_fields": submission.extra_fields,
        "source": submission.source,
        "submitted_at": submitted_at,
    });
    let settings = &state.settings;
    let mut jobs = Vec::new();
    if let Some(url) = &settings.webhook_url {
        let crm = ContactCrm {
            url: url.clone(),
            reference_id: reference_id.clone(),
            body: json!({"event": "contact.submitted", "timestamp": submitted_at, "data": data}),
        };
        jobs.push(job(Job::ContactCrm(crm), &owner)?);
    }
    if let Some(admin) = &settings.admin_email {
        let email = Email {
            to: admin.clone(),
            subject: format!(
                "[{reference_id}] {}",
                submission
                    .subject
                    .as_deref()
                    .unwrap_or("New contact form submission")
            ),
            text: notification_text(&submission, &reference_id),
            reply_to: Some(submission.email.clone()),
        };
        jobs.push(job(Job::Email(email), &owner)?);
    }
    if settings.send_confirmation {
        let email = Email {
            to: submission.email.clone(),
            subject: format!("We received your message ({reference_id})"),
            text: format!(
                "Hello {},\n\nThank you for your message. We'll get back to you soon.\n\n\
                 Your reference: {reference_id}\n",
                submission.name
            ),
            reply_to: None,
        };
        jobs.push(job(Job::Email(email), &owner)?);
    }
    // The submission is its jobs and its event: stored together, or not at all.
    jobs.push(
        state
            .publisher
            .operator_event(Event::ContactSubmitted, data)?,
    );
    state.producer.enqueue_together(jobs).await?;
    tracing::info!(
        contact.reference_id = reference_id.as_str(),
        "contact form submitted"
    );
    Ok(Reply::ok(ContactAccepted {
        success: true,
        message: "Thank you for your message. We'll get back to you soon!".into(),
        reference_id,
    }))
}

/// `job`, done for `owner`: it counts in their usage.
fn job(job: Job, owner: &Option<String>) -> Result<NewJob, ApiError> {
    Ok(job.new_job()?.for_user(owner.clone()))
}

fn notification_text(s: &Submission, reference_id: &str) -> String {
    let mut text = format!(
        "Reference: {reference_id}\nName: {}\nEmail: {}\n",
        s.name, s.email
    );
    for (label, value) in [
        ("Phone", &s.phone),
        ("Company", &s.company),
        ("Source", &s.source),
    ] {
        if let Some(value) = value {
            text.push_str(&format!("{label}: {value}\n"));
        }
    }
    for (key, value) in &s.extra_fields {
        text.push_str(&format!("{key}: {value}\n"));
    }
    text.push_str(&format!("\n{}\n", s.message));
    text
}

/// `CNT-` and 8 characters from an unambiguous alphabet.
fn reference_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let random = uuid::Uuid::new_v4();
    let code: String = random
        .as_bytes()
        .iter()
        .take(8)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    format!("CNT-{code}")
}

fn validate(state: &AppState, body: ContactRequest) -> Result<Submission, ApiError> {
    let settings = &state.settings;
    let name = length("name", &body.name, 2, 100)?;
    let email = body.email.trim().to_lowercase();
    if !is_email(&email) {
        return Err(ApiError::validation("email", "Enter a valid email address"));
    }
    let message = length("message", &body.message, 10, 5000)?;
    let optional =
        |field: &'static str, value: Option<String>, max: usize, required: bool| match value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            Some(v) => length(field, v, 1, max).map(Some),
            None if required => Err(ApiError::validation(field, format!("{field} is required"))),
            None => Ok(None),
        };
    let subject = optional("subject", body.subject, 200, settings.require_subject)?;
    let phone = optional("phone", body.phone, 50, settings.require_phone)?;
    let company = optional("company", body.company, 200, false)?;
    let source = optional("source", body.source, 100, false)?;
    let extra_fields = body.extra_fields.unwrap_or_default();
    let extra_bytes = serde_json::to_string(&extra_fields).map_or(usize::MAX, |s| s.len());
    if extra_fields.len() > MAX_EXTRA_FIELDS || extra_bytes > MAX_EXTRA_BYTES {
        return Err(ApiError::validation(
            "extra_fields",
            format!("At most {MAX_EXTRA_FIELDS} fields and {MAX_EXTRA_BYTES} bytes"),
        ));
    }
    Ok(Submission {
        name,
        email,
        message,
        subject,
        phone,
        company,
        extra_fields,
        source,
    })
}

/// `value` trimmed, if its length in characters is within `min..=max`.
fn length(field: &'static str, value: &str, min: usize, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    let count = value.chars().count();
    if count < min || count > max {
        let rule = if min > 1 {
            format!("{field} must be {min} to {max} characters")
        } else {
            format!("{field} must be at most {max} characters")
        };
        return Err(ApiError::validation(field, rule));
    }
    Ok(value.to_owned())
}

/// A pragmatic address check: one `@`, a local part, a dotted domain, no spaces or
/// control characters, at most 254 characters.
fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Show the caller's remaining submissions and the form's settings.
#[utoipa::path(
    get,
    path = "/public/contact/status",
    tag = "Contact",
    responses(
        RateLimited,
        (status = 200, description = "The caller's window and the form's settings", body = ContactStatus),
    )
)]
pub(crate) async fn contact_status(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
) -> Result<Reply<ContactStatus>, ApiError> {
    let window = state.guard.contact_window(&ip).await?;
    let settings = &state.settings;
    Ok(Reply::ok(ContactStatus {
        available: true,
        rate_limit: RateLimitStatus {
            limit: window.limit,
            remaining: window.remaining,
            reset: window.reset_at,
            window: format!("{}/hour", window.limit),
        },
        config: FormConfig {
            require_subject: settings.require_subject,
            require_phone: settings.require_phone,
            sends_confirmation: settings.send_confirmation,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_have_the_reference_shape() {
        let id = reference_id();
        assert_eq!(id.len(), 12);
        assert!(id.starts_with("CNT-"));
        assert!(
            id[4..]
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn email_check_accepts_addresses_and_rejects_the_rest() {
        assert!(is_email("john@example.com"));
        for bad in [
            "",
            "john",
            "john@",
            "@example.com",
            "a@b",
            "a b@c.com",
            "a@@b.com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
