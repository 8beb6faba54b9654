//! User records: one profile item per user, with an email guard item written in the same
//! transaction so two registrations cannot take one address, and the user's search
//! entries ([`search`]) written with every change of their email or name. Every change
//! is counted on the dashboard ([`Stats`]) in its own transaction: a change of a user
//! read first is conditioned on what the dashboard counts of them being still as read.

mod renaming;
pub(crate) mod search;

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    operation::update_item::builders::UpdateItemFluentBuilder,
    types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update},
};
use serde::{Deserialize, Serialize};

use aloft_core::{PageRequest, Slice};

use crate::{
    ApiKeyRepo, Key, Stats, StoreError, Table, Tally,
    table::{Item, Range, from_item, n, s, to_item},
};
use search::{SearchIndex, Searchable, guarded, name_terms, normalize};

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: String,
    /// Lower-cased.
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    /// `user`, `admin` or `superadmin`.
    pub role: String,
    pub is_active: bool,
    pub tenant_id: String,
    /// `free`, `pro` or `enterprise`.
    pub subscription_plan: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_status: Option<String>,
    /// Unix seconds when the paid period ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_period_end: Option<i64>,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    /// The subscription the billing routes cancel and resume (Stripe's `sub_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// The user's Stripe customer, written with its link item by
    /// [`UserRepo::link_customer`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_customer_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
    /// argon2id PHC string; absent for users of an external identity provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// The user proved they read mail at `email` (a verification link), or their
    /// identity provider vouches for it.
    #[serde(default)]
    pub email_verified: bool,
}

/// The profile fields a user may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChange {
    pub full_name: Option<String>,
    pub avatar_url: Option<String>,
}

/// Subscription state from a billing provider's event; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillingChange {
    pub plan: Option<String>,
    pub status: Option<String>,
    pub period_end: Option<i64>,
    pub cancel_at_period_end: Option<bool>,
    pub subscription_id: Option<String>,
}

/// Provider statuses in which a subscription is still paid for (Stripe's vocabulary,
/// which the stores' events are mapped to).
pub fn is_paid_status(status: &str) -> bool {
    matches!(status, "active" | "trialing" | "past_due")
}

/// A paid plan in a paid-for status: a second checkout must not start another one.
pub fn is_active_subscription(plan: &str, status: Option<&str>) -> bool {
    plan != "free" && status.is_some_and(is_paid_status)
}

impl UserRecord {
    pub fn has_active_subscription(&self) -> bool {
        is_active_subscription(&self.subscription_plan, self.subscription_status.as_deref())
    }

    /// The email or the name holds `needle` (lower-cased) anywhere: what a search the
    /// index does not answer looks for.
    fn contains(&self, needle: &str) -> bool {
        self.email.contains(needle)
            || self
                .full_name
                .as_deref()
                .is_some_and(|name| name.to_lowercase().contains(needle))
    }
}

/// A user is searched by their email (slot 0) and their name from each of its first
/// words on (slots 1 to 4).
impl Searchable for UserRecord {
    fn id(&self) -> &str {
        &self.id
    }

    fn terms(&self) -> Vec<Option<String>> {
        let email = Some(normalize(&self.email)).filter(|e| !e.is_empty());
        let mut terms = vec![email];
        terms.extend(name_terms(self.full_name.as_deref()));
        terms
    }
}

impl BillingChange {
    /// The attributes the change sets, named as both payers' records (a user's, an
    /// organization's) store them.
    pub(crate) fn sets(&self) -> Vec<(&'static str, AttributeValue)> {
        let mut sets = Vec::new();
        if let Some(plan) = &self.plan {
            sets.push(("subscription_plan", s(plan)));
        }
        if let Some(status) = &self.status {
            sets.push(("subscription_status", s(status)));
        }
        if let Some(end) = self.period_end {
            sets.push(("subscription_period_end", n(end)));
        }
        if let Some(cancel) = self.cancel_at_period_end {
            sets.push(("cancel_at_period_end", AttributeValue::Bool(cancel)));
        }
        if let Some(subscription) = &self.subscription_id {
            sets.push(("subscription_id", s(subscription)));
        }
        sets
    }
}

/// The condition of an event applied in order: `#marker` (the creation time of the last
/// applied event of its kind) is not newer than `:marker`. Events of the same second
/// apply in arrival order.
pub(crate) const IN_ORDER: &str =
    "attribute_exists(pk) AND (attribute_not_exists(#marker) OR #marker <= :marker)";

/// A user's profile and activity from an identity provider's event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    pub profile: ProfileChange,
    pub is_active: Option<bool>,
}

/// What applying a provider event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// A newer event of the same kind was applied already; this one changes nothing.
    Stale,
    NoSuchPayer,
}

/// Points at the user who owns an email address or an external identity.
#[derive(Debug, Serialize, Deserialize)]
struct UserLink {
    user_id: String,
}

/// A provider's customer: the user or the organization it pays for.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct CustomerLink {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// Who pays for a tenant: a user for their personal tenant (the subscription is on their
/// user record), or an organization for itself (on its record; every member gets its
/// plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payer {
    User(String),
    Organization(crate::TenantId),
}

impl Payer {
    /// The record that holds the subscription.
    pub(crate) fn key(&self) -> Key {
        match self {
            Payer::User(id) => Key::user(id),
            Payer::Organization(tenant) => Key::organization(tenant),
        }
    }

    /// The id a provider's metadata names.
    pub fn id(&self) -> &str {
        match self {
            Payer::User(id) => id,
            Payer::Organization(tenant) => tenant.as_str(),
        }
    }
}

/// What an admin may change of a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminChange {
    pub full_name: Option<String>,
    pub role: Option<String>,
    pub plan: Option<String>,
    pub is_active: Option<bool>,
}

/// Every user is listed under this `gsi1` partition, oldest first, for the admin
/// directory.
const DIRECTORY: &str = "USERS";

/// Users' search entries: `USER#<id>` / `SEARCH#<slot>`, in `gsi2` under
/// `USER_SEARCH#<first 2 characters>`.
const SEARCH: SearchIndex = SearchIndex::new("USER", "USER#", "PROFILE");

/// A change of a user read first (a rename, a provider's event) that met another change
/// of the same user is read and tried again this often.
const RENAME_ATTEMPTS: usize = 3;

/// Users in the table. Every change it makes is counted in the dashboard's [`Stats`], in
/// the change's transaction, and every change of a role, plan or activity is copied onto
/// the user's API keys ([`ApiKeyRepo::follow_owner`]).
#[derive(Debug, Clone)]
pub struct UserRepo {
    table: Table,
    stats: Stats,
    api_keys: ApiKeyRepo,
}

/// Emails are compared case-insensitively.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// `request`, a change of the user `before`, also conditioned on the user still having
/// `before`'s role, plan, subscription status and activity: what the dashboard counts
/// and API keys copy. The count worked out from `before` is then the change's, and the
/// keys copy what the change leaves.
fn as_counted(request: UpdateItemFluentBuilder, before: &UserRecord) -> UpdateItemFluentBuilder {
    let mut clauses: Vec<String> = request
        .get_condition_expression()
        .iter()
        .map(|condition| format!("({condition})"))
        .collect();
    clauses.extend(
        [
            "#counted_role = :counted_role",
            "#counted_plan = :counted_plan",
            "#counted_active = :counted_active",
        ]
        .map(String::from),
    );
    let mut request = request
        .expression_attribute_names("#counted_role", "role")
        .expression_attribute_names("#counted_plan", "subscription_plan")
        .expression_attribute_names("#counted_active", "is_active")
        .expression_attribute_names("#counted_status", "subscription_status")
        .expression_attribute_values(":counted_role", s(&before.role))
        .expression_attribute_values(":counted_plan", s(&before.subscription_plan))
        .expression_attribute_values(":counted_active", AttributeValue::Bool(before.is_active));
    match &before.subscription_status {
        Some(status) => {
            clauses.push("#counted_status = :counted_status".into());
            request = request.expression_attribute_values(":counted_status", s(status));
        }
        None => clauses.push("attribute_not_exists(#counted_status)".into()),
    }
    request.condition_expression(clauses.join(" AND "))
}

/// `stored` is counted as `read` was: the fields [`as_counted`] holds a change to.
fn counted_alike(stored: &UserRecord, read: &UserRecord) -> bool {
    stored.role == read.role
        && stored.subscription_plan == read.subscription_plan
        && stored.subscription_status == read.subscription_status
        && stored.is_active == read.is_active
}

/// The user `before` as a change that sets `sets` (a `#name` field's name is the
/// request's to map) at `now` leaves them.
fn with_sets(
    before: &UserRecord,
    sets: &[(&str, AttributeValue)],
    now: &str,
) -> Result<UserRecord, StoreError> {
    let mut item = to_item(&Key::user(&before.id), before)?;
    let fields = sets.iter().filter(|(field, _)| !field.starts_with('#'));
    item.extend(fields.map(|(field, value)| ((*field).to_owned(), value.clone())));
    item.insert("updated_at".to_owned(), s(now));
    from_item(item)
}

impl UserRepo {
    pub fn new(table: Table) -> Self {
        Self {
            stats: Stats::new(table.clone()),
            api_keys: ApiKeyRepo::new(table.clone()),
            table,
        }
    }

    /// Creates the user and claims the email in one transaction. An email already taken
    /// (or a retry of the same registration) is [`StoreError::ConditionFailed`].
    pub async fn create(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.create_linked(user, &Key::email(&user.email)).await
    }

    /// The items [`Self::create`] writes for `user`: its profile (listed in the
    /// directory), its email link and its search entries. For loads that must look
    /// exactly like registrations (a backfill, a test's seed).
    pub fn created_items(
        user: &UserRecord,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let [profile, link] = Self::linked_items(user, &Key::email(&user.email))?;
        let mut items = vec![profile, link];
        items.extend(SEARCH.items(&user.id, &user.terms()));
        Ok(items)
    }

    /// `user`'s profile, listed in the directory, and a link item at `link` to it.
    fn linked_items(user: &UserRecord, link: &Key) -> Result<[Item; 2], StoreError> {
        let pointer = UserLink {
            user_id: user.id.clone(),
        };
        let mut profile = to_item(&Key::user(&user.id), user)?;
        profile.extend([
            ("gsi1pk".to_owned(), s(DIRECTORY)),
            (
                "gsi1sk".to_owned(),
                s(format!("{}#{}", user.created_at, user.id)),
            ),
        ]);
        Ok([profile, to_item(link, &pointer)?])
    }

    /// Writes `user` and a link item at `link` pointing to it, both only if new, the
    /// user's search entries and their count on the dashboard, in one transaction.
    async fn create_linked(&self, user: &UserRecord, link: &Key) -> Result<(), StoreError> {
        let mut writes = Vec::new();
        for item in Self::linked_items(user, link)? {
            let put = Put::builder()
                .table_name(self.table.name())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| StoreError::Other(e.to_string()))?;
            writes.push(TransactWriteItem::builder().put(put).build());
        }
        writes.extend(SEARCH.puts(&self.table, &user.id, &user.terms())?);
        writes.extend(self.stats.writes(&Tally::user(None, user))?);
        self.table.transact(writes).await
    }

    /// The user behind an external identity, created on first sight from `new_user`.
    /// Two first requests racing each other end with one user: the loser reads the
    /// winner's link.
    pub async fn find_or_create_external(
        &self,
        issuer: &str,
        subject: &str,
        new_user: &UserRecord,
    ) -> Result<UserRecord, StoreError> {
        let link_key = Key::external_identity(issuer, subject);
        if let Some(link) = self.table.get::<UserLink>(&link_key).await? {
            return self.get(&link.user_id).await?.ok_or_else(|| {
                StoreError::Other(format!("dangling identity link to {}", link.user_id))
            });
        }
        match self.create_linked(new_user, &link_key).await {
            Ok(()) => Ok(new_user.clone()),
            Err(StoreError::ConditionFailed) => {
                let link: UserLink = self
                    .table
                    .get(&link_key)
                    .await?
                    .ok_or(StoreError::ConditionFailed)?;
                self.get(&link.user_id)
                    .await?
                    .ok_or(StoreError::ConditionFailed)
            }
            Err(e) => Err(e),
        }
    }

    /// Links a billing provider's customer to its payer: the link item the webhooks read
    /// (`CUSTOMER#<provider>#<id>`) and `<provider>_customer_id` on the payer's record (a
    /// user's or an organization's), in one transaction, so neither exists without the
    /// other. The one writer of both. No such payer is [`StoreError::ConditionFailed`].
    pub async fn link_customer(
        &self,
        provider: &str,
        customer_id: &str,
        payer: &Payer,
    ) -> Result<(), StoreError> {
        // Two first checkouts of one payer race to write the same link: a transaction
        // cancelled by the other's is tried again, and succeeds once the other is done.
        for _ in 0..3 {
            match self.link_customer_once(provider, customer_id, payer).await {
                Err(StoreError::ConditionFailed) if self.payer_exists(payer).await? => {}
                other => return other,
            }
        }
        Err(StoreError::Unavailable(format!(
            "linking customer {customer_id} kept conflicting"
        )))
    }

    async fn payer_exists(&self, payer: &Payer) -> Result<bool, StoreError> {
        let item: Option<serde::de::IgnoredAny> = self.table.get(&payer.key()).await?;
        Ok(item.is_some())
    }

    async fn link_customer_once(
        &self,
        provider: &str,
        customer_id: &str,
        payer: &Payer,
    ) -> Result<(), StoreError> {
        let link = match payer {
            Payer::User(id) => CustomerLink {
                user_id: Some(id.clone()),
                tenant_id: None,
            },
            Payer::Organization(tenant) => CustomerLink {
                user_id: None,
                tenant_id: Some(tenant.as_str().to_owned()),
            },
        };
        let put = Put::builder()
            .table_name(self.table.name())
            .set_item(Some(to_item(
                &Key::billing_customer(provider, customer_id),
                &link,
            )?))
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let update = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(payer.key().attributes()))
            .update_expression("SET #customer = :customer")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#customer", format!("{provider}_customer_id"))
            .expression_attribute_values(":customer", s(customer_id))
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        self.table
            .client()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// The user a provider's customer pays for (not an organization's customer).
    pub async fn customer_user(
        &self,
        provider: &str,
        customer_id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(match self.customer_payer(provider, customer_id).await? {
            Some(Payer::User(user_id)) => Some(user_id),
            _ => None,
        })
    }

    /// Who a provider's customer pays for: a user, or an organization.
    pub async fn customer_payer(
        &self,
        provider: &str,
        customer_id: &str,
    ) -> Result<Option<Payer>, StoreError> {
        let link: Option<CustomerLink> = self
            .table
            .get(&Key::billing_customer(provider, customer_id))
            .await?;
        Ok(link.and_then(|link| match (link.user_id, link.tenant_id) {
            (_, Some(tenant)) => Some(Payer::Organization(crate::TenantId::new(tenant))),
            (Some(user), None) => Some(Payer::User(user)),
            (None, None) => None,
        }))
    }

    /// The user linked to an external identity, if any.
    pub async fn external_user(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<String>, StoreError> {
        self.linked_user(&Key::external_identity(issuer, subject))
            .await
    }

    /// The user id a link item (email guard, identity, customer) points at.
    async fn linked_user(&self, link: &Key) -> Result<Option<String>, StoreError> {
        let link: Option<UserLink> = self.table.get(link).await?;
        Ok(link.map(|l| l.user_id))
    }

    /// Applies a billing event created at `event_at` (unix seconds) unless a newer one was
    /// applied: providers deliver out of order, and state must not go backwards.
    pub async fn apply_billing(
        &self,
        user_id: &str,
        change: &BillingChange,
        event_at: i64,
        now: &str,
    ) -> Result<Applied, StoreError> {
        self.apply_event(user_id, "billing_event_at", change.sets(), event_at, now)
            .await
    }

    /// Applies an identity provider's profile event, ordered like [`Self::apply_billing`].
    pub async fn apply_lifecycle(
        &self,
        user_id: &str,
        change: &Lifecycle,
        event_at: i64,
        now: &str,
    ) -> Result<Applied, StoreError> {
        let mut sets = Vec::new();
        if let Some(name) = &change.profile.full_name {
            sets.push(("full_name", s(name)));
        }
        if let Some(avatar) = &change.profile.avatar_url {
            sets.push(("avatar_url", s(avatar)));
        }
        if let Some(active) = change.is_active {
            sets.push(("is_active", AttributeValue::Bool(active)));
        }
        if change.profile.full_name.is_some() {
            return self
                .apply_renaming_event(user_id, change, sets, event_at, now)
                .await;
        }
        self.apply_event(user_id, "lifecycle_event_at", sets, event_at, now)
            .await
    }

    /// Sets `sets` if `marker` (the creation time of the last applied event of this kind)
    /// is not newer than `event_at`. Events of the same second apply in arrival order. The
    /// user is read, and the change written with its count ([`Self::write_counted`]).
    async fn apply_event(
        &self,
        user_id: &str,
        marker: &str,
        mut sets: Vec<(&str, AttributeValue)>,
        event_at: i64,
        now: &str,
    ) -> Result<Applied, StoreError> {
        let sets_owner_fields = sets
            .iter()
            .any(|(field, _)| matches!(*field, "subscription_plan" | "is_active"));
        sets.push(("#marker", n(event_at)));
        for _ in 0..RENAME_ATTEMPTS {
            let Some(before) = self.get(user_id).await? else {
                return Ok(Applied::NoSuchPayer);
            };
            let after = with_sets(&before, &sets, now)?;
            let request = self
                .update(user_id, now, &sets)
                .condition_expression(IN_ORDER)
                .expression_attribute_names("#marker", marker);
            match self.write_counted(&before, &after, request).await {
                Ok(()) => {
                    self.changed(&after, sets_owner_fields).await?;
                    return Ok(Applied::Applied);
                }
                // The event is stale, or the user changed meanwhile: only the second is
                // worth another try.
                Err(StoreError::ConditionFailed) => match self.get(user_id).await? {
                    None => return Ok(Applied::NoSuchPayer),
                    Some(stored) if counted_alike(&stored, &before) => return Ok(Applied::Stale),
                    Some(_) => {}
                },
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(format!(
            "user {user_id} kept changing while an event was applied"
        )))
    }

    /// Writes `request`, a change of the user `before` that leaves them `after`, with its
    /// count on the dashboard, in one transaction (one `UpdateItem` when it moves no
    /// counter), on condition that the user is still counted as `before` ([`as_counted`]).
    async fn write_counted(
        &self,
        before: &UserRecord,
        after: &UserRecord,
        request: UpdateItemFluentBuilder,
    ) -> Result<(), StoreError> {
        let mut writes = vec![guarded(&as_counted(request, before), &[])?];
        writes.extend(self.stats.writes(&Tally::user(Some(before), after))?);
        self.table.write(writes).await
    }

    /// What follows a change of a user that set a role, plan or activity: the user's API
    /// keys copy them. Whenever it set one, not only when it differed: a retry of a
    /// change whose key copy failed finds the record already changed, and must still
    /// finish the copy. (The dashboard counted the change in its own transaction.)
    async fn changed(&self, after: &UserRecord, sets_owner_fields: bool) -> Result<(), StoreError> {
        if sets_owner_fields {
            self.api_keys.follow_owner(after.into()).await?;
        }
        Ok(())
    }

    pub async fn get(&self, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.table.get(&Key::user(user_id)).await
    }

    /// The users of `ids` that exist, in no particular order: one BatchGetItem per 100.
    pub async fn get_many(&self, ids: &[&str]) -> Result<Vec<UserRecord>, StoreError> {
        let keys: Vec<Key> = ids.iter().map(|id| Key::user(id)).collect();
        self.table.get_many(&keys).await
    }

    pub async fn find_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        match self
            .linked_user(&Key::email(&normalize_email(email)))
            .await?
        {
            Some(user_id) => self.get(&user_id).await,
            None => Ok(None),
        }
    }

    /// An update of the user that sets `updated_at` to `now` and each field of `sets`
    /// (to `:<field>`; a `#name` field's name is the caller's to map).
    fn update(
        &self,
        user_id: &str,
        now: &str,
        sets: &[(&str, AttributeValue)],
    ) -> UpdateItemFluentBuilder {
        self.table.update_fields(&Key::user(user_id), now, sets)
    }

    /// One page of the admin directory (`gsi1` `USERS` / `<created_at>#<id>`), newest
    /// first, of the users `keep` accepts. With `counter` (the dashboard total that
    /// counts exactly those users, e.g. `users_total`), the page is read in key order
    /// (`skip + limit + 1` users at most) and the counter is its `total`. Without, at
    /// most [`aloft_core::MAX_EXAMINED`] users are examined (from the cursor on) and `total` counts
    /// the matches among them (exact when they were all, from the start).
    pub async fn directory(
        &self,
        request: &PageRequest,
        keep: impl Fn(&UserRecord) -> bool,
        counter: Option<&str>,
    ) -> Result<Slice<UserRecord>, StoreError> {
        let range = Range::index("gsi1", DIRECTORY).descending(true);
        let keep = |item: &Item| from_item(item.clone()).is_ok_and(|user| keep(&user));
        if let Some(counter) = counter {
            let (cut, total) = tokio::join!(
                self.table.page(&range, request, keep),
                self.stats.total(counter)
            );
            let cut = cut?;
            return Ok(Slice {
                items: cut.items,
                next: cut.next,
                total: total?,
                total_exact: true,
                truncated: cut.truncated,
            });
        }
        self.table.searched_page(&range, request, keep).await
    }

    /// Applies an admin's `change` if the user is still as read (`before`), returning the
    /// updated user. A user changed meanwhile (or gone) is
    /// [`StoreError::ConditionFailed`]: the admin decided on stale data.
    pub async fn admin_update(
        &self,
        before: &UserRecord,
        change: &AdminChange,
        now: &str,
    ) -> Result<UserRecord, StoreError> {
        let sets: Vec<_> = [
            ("full_name", change.full_name.clone().map(s)),
            ("#role", change.role.clone().map(s)),
            ("subscription_plan", change.plan.clone().map(s)),
            ("is_active", change.is_active.map(AttributeValue::Bool)),
        ]
        .into_iter()
        .filter_map(|(field, value)| Some((field, value?)))
        .collect();
        let mut request = self
            .update(&before.id, now, &sets)
            .condition_expression("updated_at = :read_at")
            .expression_attribute_values(":read_at", s(&before.updated_at));
        if change.role.is_some() {
            request = request.expression_attribute_names("#role", "role");
        }
        // A transaction returns no item: the user is as read, with the change (the
        // condition holds them to the read).
        let after = UserRecord {
            full_name: change
                .full_name
                .clone()
                .or_else(|| before.full_name.clone()),
            role: change.role.clone().unwrap_or_else(|| before.role.clone()),
            subscription_plan: change
                .plan
                .clone()
                .unwrap_or_else(|| before.subscription_plan.clone()),
            is_active: change.is_active.unwrap_or(before.is_active),
            updated_at: now.to_owned(),
            ..before.clone()
        };
        if change.full_name.is_some() {
            self.rename(before, &after, &request).await?;
        } else {
            self.write_counted(before, &after, request).await?;
        }
        let sets_owner_fields =
            change.role.is_some() || change.plan.is_some() || change.is_active.is_some();
        self.changed(&after, sets_owner_fields).await?;
        Ok(after)
    }

    /// Marks `email` verified for the user (if it is still theirs) and grants `role` if
    /// given (a bootstrap role, granted only now). `None` if the user or the email is
    /// gone. Neither moves a dashboard counter.
    pub async fn mark_verified(
        &self,
        user_id: &str,
        email: &str,
        role: Option<&str>,
        now: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let read = self.get(user_id).await?;
        if read.is_none_or(|user| user.email != email) {
            return Ok(None);
        }
        let mut sets = vec![("email_verified", AttributeValue::Bool(true))];
        if let Some(role) = role {
            sets.push(("#role", s(role)));
        }
        let mut request = self
            .update(user_id, now, &sets)
            .condition_expression("email = :email")
            .expression_attribute_values(":email", s(email))
            .return_values(ReturnValue::AllNew);
        if role.is_some() {
            request = request.expression_attribute_names("#role", "role");
        }
        match request.send().await.map_err(StoreError::from_sdk) {
            Ok(output) => {
                let after: UserRecord = from_item(output.attributes.unwrap_or_default())?;
                self.changed(&after, role.is_some()).await?;
                Ok(Some(after))
            }
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the user's password hash; `false` if there is no such user.
    pub async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        let request = self
            .update(user_id, now, &[("password_hash", s(password_hash))])
            .condition_expression("attribute_exists(pk)");
        match request.send().await.map_err(StoreError::from_sdk) {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Applies `change` and returns the updated user; `None` if there is no such user.
    pub async fn update_profile(
        &self,
        user_id: &str,
        change: &ProfileChange,
        now: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let sets: Vec<_> = [
            ("full_name", &change.full_name),
            ("avatar_url", &change.avatar_url),
        ]
        .into_iter()
        .filter_map(|(field, value)| Some((field, s(value.as_ref()?))))
        .collect();
        let request = self
            .update(user_id, now, &sets)
            .condition_expression("attribute_exists(pk)");
        if change.full_name.is_some() {
            return self.rename_profile(user_id, change, &request, now).await;
        }
        match request.return_values(ReturnValue::AllNew).send().await {
            Ok(output) => output.attributes.map(from_item).transpose(),
            Err(e) => match StoreError::from_sdk(e) {
                StoreError::ConditionFailed => Ok(None),
                other => Err(other),
            },
        }
    }

    /// One page of the users whose email or name matches `search` (lower-cased), of
    /// those `keep` accepts. A search of two characters or more that begins an email or
    /// a word of a name (one of its first four) is answered from the search entries, in
    /// the order of the matched text: one Query and one BatchGetItem of the page's users,
    /// whatever the number of users. Any other search (one character, or text no email
    /// or name word begins with) looks for the text anywhere in the email or name, in
    /// the directory, newest first, examining at most [`aloft_core::MAX_EXAMINED`] users
    /// and saying so, as [`Self::directory`] without a counter.
    pub async fn search(
        &self,
        request: &PageRequest,
        search: &str,
        keep: impl Fn(&UserRecord) -> bool,
    ) -> Result<Slice<UserRecord>, StoreError> {
        let indexed: Option<Slice<UserRecord>> =
            SEARCH.page(&self.table, request, search, &keep).await?;
        if let Some(slice) = indexed {
            return Ok(slice);
        }
        let needle = search.to_lowercase();
        let matches = |user: &UserRecord| user.contains(&needle) && keep(user);
        self.directory(request, matches, None).await
    }
}
