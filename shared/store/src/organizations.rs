//! Organizations: tenants with members (docs/api.md, "Organizations").
//!
//! | item | pk | sk | gsi1 |
//! |---|---|---|---|
//! | the organization | `ORG#<tenant>` | `ORG` | |
//! | a membership | `T#<tenant>#MEMBER` | `<user id>` | `USER#<user id>#ORGS` / `<joined_at>#<tenant>` |
//! | a user's organization count | `USER#<user id>` | `ORGS` | |
//! | an invitation | `T#<tenant>#INVITE` | `<id>` | |
//! | an invitation's link | `INVITE#<token hash>` | `INVITE` | |
//! | a search entry of its name | `ORG#<tenant>` | `SEARCH#<slot>` | (gsi2) `ORG_SEARCH#<first 2 characters>` / `<term>#<tenant>` |
//!
//! A tenant's members are one Query of its partition; a user's organizations one Query of
//! `gsi1` and one BatchGetItem of the organizations. The organization keeps its member
//! count and the user their organization count, each written in the same transaction as
//! the membership it counts, so both limits hold under concurrent joins. A change of a
//! membership takes the writes of the events announcing it (`also`) into that same
//! transaction: an event exists exactly when its change does.

mod invitations;

pub use invitations::InvitationRecord;

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use crate::{
    ApiKeyRepo, Applied, BillingChange, Key, StoreError, Table, TenantId,
    table::{ITEM_COUNT, Item, Range, from_item, n, s},
    users::{
        IN_ORDER, is_active_subscription,
        search::{NAME_WORDS, SearchIndex, Searchable, guarded, name_terms},
    },
};
use aloft_core::{PageRequest, Slice};

/// A member's role in an organization, most powerful first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    /// Exactly one per organization; transfers by giving another member `owner`.
    Owner,
    /// Manages members, invitations, API keys, webhook subscriptions and billing.
    Admin,
    /// Reads and writes the tenant's data.
    Member,
    /// Reads only.
    Viewer,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Owner => "owner",
            MemberRole::Admin => "admin",
            MemberRole::Member => "member",
            MemberRole::Viewer => "viewer",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            MemberRole::Owner,
            MemberRole::Admin,
            MemberRole::Member,
            MemberRole::Viewer,
        ]
        .into_iter()
        .find(|role| role.as_str() == raw)
    }

    /// Owner or admin: may manage the organization's members and settings.
    pub fn manages(self) -> bool {
        matches!(self, MemberRole::Owner | MemberRole::Admin)
    }
}

/// An organization: a tenant with members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationRecord {
    /// Its tenant id.
    pub id: String,
    pub name: String,
    pub owner_id: String,
    pub created_at: String,
    pub updated_at: String,
    /// The organization's subscription, which every member's credentials there carry;
    /// the same attributes as a user's (`UserRepo::apply_billing`).
    #[serde(default = "free")]
    pub subscription_plan: String,
    #[serde(default)]
    pub subscription_status: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub subscription_period_end: Option<i64>,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    #[serde(default)]
    pub subscription_id: Option<String>,
    #[serde(default)]
    pub stripe_customer_id: Option<String>,
    /// AI calls made in the organization use only its own provider keys: without one,
    /// 424 rather than the deployment's keys.
    #[serde(default)]
    pub require_own_credentials: bool,
    /// Its members: the count written with every join and leave (never written from
    /// here).
    #[serde(default, rename = "item_count", skip_serializing)]
    pub member_count: i64,
}

/// An organization as first written: its record and its member count.
#[derive(Serialize)]
struct NewOrganization<'a> {
    #[serde(flatten)]
    organization: &'a OrganizationRecord,
    item_count: i64,
}

fn free() -> String {
    "free".to_owned()
}

impl OrganizationRecord {
    /// A new organization on the free plan.
    pub fn new(id: String, name: String, owner_id: String, now: &str) -> Self {
        Self {
            id,
            name,
            owner_id,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            subscription_plan: free(),
            subscription_status: None,
            subscription_period_end: None,
            cancel_at_period_end: false,
            subscription_id: None,
            stripe_customer_id: None,
            require_own_credentials: false,
            member_count: 0,
        }
    }

    pub fn has_active_subscription(&self) -> bool {
        is_active_subscription(&self.subscription_plan, self.subscription_status.as_deref())
    }
}

/// An organization is searched by its name from each of its first words on.
impl Searchable for OrganizationRecord {
    fn id(&self) -> &str {
        &self.id
    }

    fn terms(&self) -> Vec<Option<String>> {
        name_terms(Some(&self.name))
    }
}

/// What an owner or admin may change of an organization; `None` leaves it as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizationChange {
    pub name: Option<String>,
    pub require_own_credentials: Option<bool>,
}

/// One user's membership of one organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipRecord {
    pub tenant_id: String,
    pub user_id: String,
    pub role: MemberRole,
    pub joined_at: String,
}

/// The caps of [`OrganizationRepo::create`] and [`OrganizationRepo::add_member`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipLimits {
    pub members_per_organization: u32,
    pub organizations_per_user: u32,
}

/// What a join (creating an organization, or becoming a member) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    Joined,
    /// Already a member: nothing written.
    AlreadyMember,
    /// The organization is at its member cap.
    OrganizationFull,
    /// The user is at their organization cap.
    UserFull,
    /// No such organization (deleted meanwhile).
    NoOrganization,
}

#[derive(Debug, Clone)]
pub struct OrganizationRepo {
    table: Table,
}

fn organization_key(tenant: &TenantId) -> Key {
    Key::organization(tenant)
}

pub(crate) fn member_key(tenant: &TenantId, user_id: &str) -> Key {
    Key::tenant_item(tenant, "MEMBER", user_id)
}

/// Every organization, newest first, for the admin console (`gsi1`).
const DIRECTORY: &str = "ORGS";

/// Organizations' search entries: `ORG#<tenant>` / `SEARCH#<slot>`, in `gsi2` under
/// `ORG_SEARCH#<first 2 characters>`.
const SEARCH: SearchIndex = SearchIndex::new("ORG", "ORG#", "ORG");

/// A rename that met another change of the organization is read and tried again this
/// often.
const RENAME_ATTEMPTS: usize = 3;

fn user_index(user_id: &str) -> String {
    format!("USER#{user_id}#ORGS")
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Other(e.to_string())
}

impl OrganizationRepo {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Creates `organization` with `owner` as its one member, counted against the
    /// owner's cap, in one transaction.
    pub async fn create(
        &self,
        organization: &OrganizationRecord,
        owner: &MembershipRecord,
        limits: MembershipLimits,
    ) -> Result<Joined, StoreError> {
        let tenant = TenantId::new(&organization.id);
        let listed = (
            DIRECTORY.to_owned(),
            format!("{}#{}", organization.created_at, organization.id),
        );
        // The owner is its first member: the count starts at one.
        let counted = NewOrganization {
            organization,
            item_count: 1,
        };
        let mut writes = vec![
            self.table
                .put_new_write(&organization_key(&tenant), &counted, Some(listed))?,
            self.put_membership(owner)?,
            self.count_user(&owner.user_id, limits.organizations_per_user)?,
        ];
        writes.extend(SEARCH.puts(&self.table, &organization.id, &organization.terms())?);
        match self.table.transact(writes).await {
            Ok(()) => Ok(Joined::Joined),
            Err(StoreError::ConditionFailed) => Ok(Joined::UserFull),
            Err(e) => Err(e),
        }
    }

    /// Adds `member` to its organization, counted against both caps.
    pub async fn add_member(
        &self,
        member: &MembershipRecord,
        limits: MembershipLimits,
    ) -> Result<Joined, StoreError> {
        let tenant = TenantId::new(&member.tenant_id);
        let writes = vec![
            self.put_membership(member)?,
            self.count_member(&tenant, limits.members_per_organization)?,
            self.count_user(&member.user_id, limits.organizations_per_user)?,
        ];
        match self.table.transact(writes).await {
            Ok(()) => Ok(Joined::Joined),
            // Which condition: read what the transaction would have changed.
            Err(StoreError::ConditionFailed) => {
                if self.membership(&tenant, &member.user_id).await?.is_some() {
                    return Ok(Joined::AlreadyMember);
                }
                let Some(size) = self.member_count(&tenant).await? else {
                    return Ok(Joined::NoOrganization);
                };
                Ok(if size >= i64::from(limits.members_per_organization) {
                    Joined::OrganizationFull
                } else {
                    Joined::UserFull
                })
            }
            Err(e) => Err(e),
        }
    }

    fn put_membership(&self, member: &MembershipRecord) -> Result<TransactWriteItem, StoreError> {
        let tenant = TenantId::new(&member.tenant_id);
        let listed = (
            user_index(&member.user_id),
            format!("{}#{}", member.joined_at, member.tenant_id),
        );
        self.table
            .put_new_write(&member_key(&tenant, &member.user_id), member, Some(listed))
    }

    /// One more member of the existing organization `tenant`, refused at `max`.
    fn count_member(&self, tenant: &TenantId, max: u32) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(organization_key(tenant).attributes()))
            .update_expression("ADD #count :one")
            .condition_expression("attribute_exists(pk) AND #count < :max")
            .expression_attribute_names("#count", ITEM_COUNT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// One more organization for `user_id`, refused at `max`.
    fn count_user(&self, user_id: &str, max: u32) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(Key::organization_count(user_id).attributes()))
            .update_expression("ADD #count :one")
            .condition_expression("attribute_not_exists(#count) OR #count < :max")
            .expression_attribute_names("#count", ITEM_COUNT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub async fn get(&self, tenant: &TenantId) -> Result<Option<OrganizationRecord>, StoreError> {
        self.table.get(&organization_key(tenant)).await
    }

    async fn member_count(&self, tenant: &TenantId) -> Result<Option<i64>, StoreError> {
        #[derive(Deserialize)]
        struct Counted {
            item_count: i64,
        }
        let counted: Option<Counted> = self.table.get(&organization_key(tenant)).await?;
        Ok(counted.map(|c| c.item_count))
    }

    pub async fn membership(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> Result<Option<MembershipRecord>, StoreError> {
        self.table.get(&member_key(tenant, user_id)).await
    }

    /// The organization's members, in user-id order (at most the member cap).
    pub async fn members(&self, tenant: &TenantId) -> Result<Vec<MembershipRecord>, StoreError> {
        self.table.partition(&member_key(tenant, "").pk).await
    }

    /// The user's memberships, oldest first, each with its organization.
    pub async fn for_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<(MembershipRecord, OrganizationRecord)>, StoreError> {
        let index = user_index(user_id);
        let memberships: Vec<MembershipRecord> = self
            .table
            .query_all(|query| {
                query
                    .index_name("gsi1")
                    .key_condition_expression("gsi1pk = :user")
                    .expression_attribute_values(":user", s(&index))
            })
            .await?;
        let keys: Vec<Key> = memberships
            .iter()
            .map(|m| organization_key(&TenantId::new(&m.tenant_id)))
            .collect();
        let organizations: Vec<OrganizationRecord> = self.table.get_many(&keys).await?;
        Ok(memberships
            .into_iter()
            .filter_map(|m| {
                let organization = organizations.iter().find(|o| o.id == m.tenant_id)?;
                Some((m, organization.clone()))
            })
            .collect())
    }

    /// Applies a billing event created at `event_at` (unix seconds) to the organization's
    /// subscription unless a newer one was applied (as `UserRepo::apply_billing`). A new
    /// plan is then copied onto every member's keys there.
    pub async fn apply_billing(
        &self,
        tenant: &TenantId,
        change: &BillingChange,
        event_at: i64,
        now: &str,
    ) -> Result<Applied, StoreError> {
        let mut sets = change.sets();
        sets.push(("#marker", n(event_at)));
        let applied = self
            .table
            .update_fields(&organization_key(tenant), now, &sets)
            .condition_expression(IN_ORDER)
            .expression_attribute_names("#marker", "billing_event_at")
            .send()
            .await;
        match applied.map_err(StoreError::from_sdk) {
            Ok(_) => {}
            Err(StoreError::ConditionFailed) => {
                return Ok(match self.get(tenant).await? {
                    Some(_) => Applied::Stale,
                    None => Applied::NoSuchPayer,
                });
            }
            Err(e) => return Err(e),
        }
        if let Some(plan) = &change.plan {
            let keys = ApiKeyRepo::new(self.table.clone());
            for member in self.members(tenant).await? {
                keys.follow_tenant_plan(&member.user_id, tenant, plan)
                    .await?;
            }
        }
        Ok(Applied::Applied)
    }

    /// One page of every organization, newest first, of those `keep` accepts: at most
    /// [`aloft_core::MAX_EXAMINED`] examined per request, as the admin's user search.
    pub async fn directory(
        &self,
        request: &PageRequest,
        keep: impl Fn(&OrganizationRecord) -> bool,
    ) -> Result<Slice<OrganizationRecord>, StoreError> {
        let range = Range::index("gsi1", DIRECTORY).descending(true);
        let keep = |item: &Item| from_item(item.clone()).is_ok_and(|o| keep(&o));
        self.table.searched_page(&range, request, keep).await
    }

    /// One page of the organizations whose name matches `search` (lower-cased), as
    /// `UserRepo::search` does for users: a search of two characters or more that
    /// begins a word of a name (one of its first four) is answered from the search
    /// entries, in name order, at a cost that does not grow with the number of
    /// organizations; any other looks for the text anywhere in the name, newest first,
    /// examining at most [`aloft_core::MAX_EXAMINED`] organizations and saying so.
    pub async fn search(
        &self,
        request: &PageRequest,
        search: &str,
    ) -> Result<Slice<OrganizationRecord>, StoreError> {
        let everyone = |_: &OrganizationRecord| true;
        let indexed: Option<Slice<OrganizationRecord>> =
            SEARCH.page(&self.table, request, search, everyone).await?;
        if let Some(slice) = indexed {
            return Ok(slice);
        }
        let needle = search.to_lowercase();
        let matches =
            |organization: &OrganizationRecord| organization.name.to_lowercase().contains(&needle);
        self.directory(request, matches).await
    }

    /// Applies an owner's or admin's `change` (its name, whether it requires its own
    /// provider keys); `None` when the organization is gone. A new name is written with
    /// the search entries it moves, in one transaction.
    pub async fn update(
        &self,
        tenant: &TenantId,
        change: &OrganizationChange,
        now: &str,
    ) -> Result<Option<OrganizationRecord>, StoreError> {
        let mut sets = Vec::new();
        if let Some(name) = &change.name {
            sets.push(("#name", s(name)));
        }
        if let Some(required) = change.require_own_credentials {
            sets.push((
                "require_own_credentials",
                aws_sdk_dynamodb::types::AttributeValue::Bool(required),
            ));
        }
        let mut request = self
            .table
            .update_fields(&organization_key(tenant), now, &sets)
            .condition_expression("attribute_exists(pk)");
        if let Some(name) = &change.name {
            request = request.expression_attribute_names("#name", "name");
            return self.rename(tenant, name, change, &request, now).await;
        }
        let request = request.return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        match request.send().await.map_err(StoreError::from_sdk) {
            Ok(output) => from_item(output.attributes.unwrap_or_default()).map(Some),
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`Self::update`] of a change that sets the name `name`: the organization is read,
    /// and `request` written with the search entries it moves, on condition that the
    /// stored name is still the one read (else read again).
    async fn rename(
        &self,
        tenant: &TenantId,
        name: &str,
        change: &OrganizationChange,
        request: &aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
        now: &str,
    ) -> Result<Option<OrganizationRecord>, StoreError> {
        for _ in 0..RENAME_ATTEMPTS {
            let Some(before) = self.get(tenant).await? else {
                return Ok(None);
            };
            let after = OrganizationRecord {
                name: name.to_owned(),
                require_own_credentials: change
                    .require_own_credentials
                    .unwrap_or(before.require_own_credentials),
                updated_at: now.to_owned(),
                ..before.clone()
            };
            let mut writes = vec![guarded(request, &[("name", Some(before.name.as_str()))])?];
            writes.extend(SEARCH.changes(
                &self.table,
                &before.id,
                &before.terms(),
                &after.terms(),
            )?);
            match self.table.transact(writes).await {
                Ok(()) => return Ok(Some(after)),
                // Renamed or deleted meanwhile: read again.
                Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(format!(
            "renaming organization {} kept conflicting",
            tenant.as_str()
        )))
    }

    /// Gives `user_id` `role`, with `also` (the events announcing it), in one
    /// transaction. Giving `owner` transfers ownership: the old owner becomes `admin`, in
    /// the same transaction. `ConditionFailed` when the member is gone or ownership
    /// changed meanwhile, and nothing is written; taking `owner` from its holder is the
    /// caller's to refuse.
    pub async fn set_role(
        &self,
        organization: &OrganizationRecord,
        user_id: &str,
        role: MemberRole,
        also: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        let tenant = TenantId::new(&organization.id);
        let mut writes = vec![self.role_update(&tenant, user_id, role)?];
        if role == MemberRole::Owner {
            writes.push(self.role_update(&tenant, &organization.owner_id, MemberRole::Admin)?);
            let owner = Update::builder()
                .table_name(self.table.name())
                .set_key(Some(organization_key(&tenant).attributes()))
                .update_expression("SET owner_id = :new")
                .condition_expression("owner_id = :old")
                .expression_attribute_values(":new", s(user_id))
                .expression_attribute_values(":old", s(&organization.owner_id))
                .build()
                .map_err(build_error)?;
            writes.push(TransactWriteItem::builder().update(owner).build());
        }
        writes.extend(also);
        self.table.transact(writes).await
    }

    fn role_update(
        &self,
        tenant: &TenantId,
        user_id: &str,
        role: MemberRole,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(member_key(tenant, user_id).attributes()))
            .update_expression("SET #role = :role")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#role", "role")
            .expression_attribute_values(":role", s(role.as_str()))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Removes a member who is not the owner, uncounting them on both sides, with `also`
    /// (the event announcing it), in one transaction. `ConditionFailed` when they are not
    /// a member, or are the owner: nothing is written, `also` included.
    pub async fn remove_member(
        &self,
        tenant: &TenantId,
        user_id: &str,
        also: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        let delete = Delete::builder()
            .table_name(self.table.name())
            .set_key(Some(member_key(tenant, user_id).attributes()))
            .condition_expression("attribute_exists(pk) AND #role <> :owner")
            .expression_attribute_names("#role", "role")
            .expression_attribute_values(":owner", s(MemberRole::Owner.as_str()))
            .build()
            .map_err(build_error)?;
        // Only an organization that still exists is uncounted: an `ADD` would otherwise
        // recreate a deleted one as a bare count.
        let uncount = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(organization_key(tenant).attributes()))
            .update_expression("ADD #count :minus")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#count", ITEM_COUNT)
            .expression_attribute_values(":minus", n(-1))
            .build()
            .map_err(build_error)?;
        let mut writes = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(uncount).build(),
            self.table
                .add_to_count(&Key::organization_count(user_id), -1)?,
        ];
        writes.extend(also);
        self.table.transact(writes).await
    }

    /// Deletes the organization and its search entries, then each membership
    /// (uncounting its user). A retry after a failure finishes the memberships: they are
    /// listed by the tenant, not the organization item.
    pub async fn delete(&self, tenant: &TenantId) -> Result<(), StoreError> {
        let mut items = vec![organization_key(tenant)];
        items.extend(SEARCH.keys(tenant.as_str(), NAME_WORDS));
        self.table.delete_all(items).await?;
        for member in self.members(tenant).await? {
            let delete = Delete::builder()
                .table_name(self.table.name())
                .set_key(Some(member_key(tenant, &member.user_id).attributes()))
                .condition_expression("attribute_exists(pk)")
                .build()
                .map_err(build_error)?;
            let writes = vec![
                TransactWriteItem::builder().delete(delete).build(),
                self.table
                    .add_to_count(&Key::organization_count(&member.user_id), -1)?,
            ];
            match self.table.transact(writes).await {
                Ok(()) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
