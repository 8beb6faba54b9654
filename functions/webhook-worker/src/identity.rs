//! User lifecycle from Clerk (`user.created` / `user.updated` / `user.deleted`) and
//! Supabase database webhooks on `auth.users` (`INSERT` / `UPDATE` / `DELETE`).

use aloft_inbound::{Provider, VerifiedEvent};
use aloft_store::{Applied, Lifecycle, ProfileChange};
use serde_json::Value;

use crate::{Outcome, ProviderEvents, outcome};

/// What the provider says about one of its users.
struct Identity {
    subject: String,
    email: Option<String>,
    profile: ProfileChange,
}

enum Action {
    Upsert,
    Deactivate,
}

pub(crate) async fn apply(
    events: &ProviderEvents,
    event: &VerifiedEvent,
) -> Result<Outcome, String> {
    let (action, identity) = match (event.provider, event.kind.as_str()) {
        (Provider::Clerk, "user.created" | "user.updated") => {
            (Action::Upsert, clerk(&event.payload)?)
        }
        (Provider::Clerk, "user.deleted") => (Action::Deactivate, clerk(&event.payload)?),
        (Provider::Supabase, "INSERT" | "UPDATE") => {
            (Action::Upsert, supabase(event.payload.get("record"))?)
        }
        (Provider::Supabase, "DELETE") => (
            Action::Deactivate,
            supabase(event.payload.get("old_record"))?,
        ),
        _ => return Ok(Outcome::Ignored),
    };
    let issuer = events
        .settings
        .issuers
        .get(&event.provider)
        .cloned()
        .unwrap_or_else(|| event.provider.as_str().to_owned());
    let users = &events.users;
    let user_id = match action {
        Action::Upsert => {
            let mut first = aloft_auth::external_user(identity.email.as_deref());
            first.full_name.clone_from(&identity.profile.full_name);
            first.avatar_url.clone_from(&identity.profile.avatar_url);
            users
                .find_or_create_external(&issuer, &identity.subject, &first)
                .await
                .map_err(|e| e.to_string())?
                .id
        }
        Action::Deactivate => {
            match users
                .external_user(&issuer, &identity.subject)
                .await
                .map_err(|e| e.to_string())?
            {
                Some(id) => id,
                // Never seen here: nothing to deactivate.
                None => return Ok(Outcome::Ignored),
            }
        }
    };
    // A provider's deletion deactivates; its other events never activate, so an admin's
    // deactivation here is not undone by the next profile update there.
    let change = Lifecycle {
        profile: identity.profile,
        is_active: matches!(action, Action::Deactivate).then_some(false),
    };
    let now = aloft_core::timestamp::now();
    let applied = users
        .apply_lifecycle(&user_id, &change, event.created, &now)
        .await
        .map_err(|e| e.to_string())?;
    if matches!(action, Action::Deactivate) && applied == Applied::Applied {
        // Tokens, keys and refresh cookies stop working on the next request too.
        events
            .deactivation
            .deactivate(&user_id)
            .await
            .map_err(|e| e.to_string())?;
        // Open WebSockets are closed too (the jobs worker holds the gateway's grant).
        events
            .publisher
            .disconnect_user(&user_id)
            .await
            .map_err(|e| e.to_string())?;
    }
    outcome(applied, &user_id)
}

fn text(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn clerk(payload: &Value) -> Result<Identity, String> {
    let data = payload.get("data").ok_or("no data")?;
    let subject = text(data, "id").ok_or("no user id")?;
    let primary = text(data, "primary_email_address_id");
    let email = data
        .get("email_addresses")
        .and_then(Value::as_array)
        .and_then(|emails| {
            emails
                .iter()
                .find(|e| primary.is_none() || text(e, "id") == primary)
        })
        .and_then(|e| text(e, "email_address"));
    let name = [text(data, "first_name"), text(data, "last_name")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Identity {
        subject,
        email,
        profile: ProfileChange {
            full_name: (!name.is_empty()).then_some(name),
            avatar_url: text(data, "image_url"),
        },
    })
}

fn supabase(record: Option<&Value>) -> Result<Identity, String> {
    let record = record.ok_or("no record")?;
    let meta = record.get("raw_user_meta_data").unwrap_or(&Value::Null);
    Ok(Identity {
        subject: text(record, "id").ok_or("no user id")?,
        email: text(record, "email"),
        profile: ProfileChange {
            full_name: text(meta, "full_name").or_else(|| text(meta, "name")),
            avatar_url: text(meta, "avatar_url"),
        },
    })
}
