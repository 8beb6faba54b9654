//! Invitations to an organization. Each is listed in its tenant's partition
//! (`T#<tenant>#INVITE` / `<id>`); the link's token is stored only as its SHA-256, in an
//! item of its own (`INVITE#<hash>` / `INVITE`) holding a copy of the invitation, so
//! accepting reads one item by the token. Accepting is one transaction: the membership
//! and both counts are written, both invitation items deleted and the join's event
//! stored, so a token joins at most once and a refused acceptance writes nothing.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::{MemberRole, MembershipLimits, MembershipRecord, OrganizationRepo};
use crate::{Key, StoreError, TenantId, table::to_item};

/// An invitation to join an organization with a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationRecord {
    pub id: String,
    pub tenant_id: String,
    /// Lower-cased.
    pub email: String,
    pub role: MemberRole,
    pub invited_by: String,
    pub created_at: String,
    /// Epoch seconds.
    pub expires_at: u64,
    /// The SHA-256 of the link's token, once the jobs worker has minted and mailed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_hash: Option<String>,
}

fn listed_key(tenant: &TenantId, id: &str) -> Key {
    Key::tenant_item(tenant, "INVITE", id)
}

fn token_key(token_hash: &str) -> Key {
    Key::invitation_token(token_hash)
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Other(e.to_string())
}

impl OrganizationRepo {
    /// Lists a new invitation (its token comes later, from [`Self::issue_invitation`]).
    pub async fn invite(&self, invitation: &InvitationRecord) -> Result<(), StoreError> {
        let tenant = TenantId::new(&invitation.tenant_id);
        self.table
            .put_new(&listed_key(&tenant, &invitation.id), invitation)
            .await
    }

    pub async fn invitation(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<InvitationRecord>, StoreError> {
        self.table.get(&listed_key(tenant, id)).await
    }

    /// The organization's open invitations (at most one per address and role asked).
    pub async fn invitations(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<InvitationRecord>, StoreError> {
        self.table.partition(&listed_key(tenant, "").pk).await
    }

    /// Makes `token_hash` the invitation's token, voiding any earlier one (a retried
    /// mail mints anew). `ConditionFailed` when the invitation was revoked meanwhile.
    pub async fn issue_invitation(
        &self,
        invitation: &InvitationRecord,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        let tenant = TenantId::new(&invitation.tenant_id);
        let issued = InvitationRecord {
            token_hash: Some(token_hash.to_owned()),
            ..invitation.clone()
        };
        let listed = Put::builder()
            .table_name(self.table.name())
            .set_item(Some(to_item(
                &listed_key(&tenant, &invitation.id),
                &issued,
            )?))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build_error)?;
        let token = Put::builder()
            .table_name(self.table.name())
            .set_item(Some(to_item(&token_key(token_hash), &issued)?))
            .build()
            .map_err(build_error)?;
        let mut writes = vec![
            TransactWriteItem::builder().put(listed).build(),
            TransactWriteItem::builder().put(token).build(),
        ];
        if let Some(earlier) = invitation
            .token_hash
            .as_deref()
            .filter(|h| *h != token_hash)
        {
            writes.push(self.delete_write(&token_key(earlier), false)?);
        }
        self.table.transact(writes).await
    }

    /// The invitation a link's token names, if it is still open.
    pub async fn invitation_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<InvitationRecord>, StoreError> {
        self.table.get(&token_key(token_hash)).await
    }

    /// Revokes an invitation: its link stops working. `false` when there was none.
    pub async fn revoke_invitation(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError> {
        let Some(invitation) = self.invitation(tenant, id).await? else {
            return Ok(false);
        };
        let mut keys = vec![listed_key(tenant, id)];
        keys.extend(invitation.token_hash.as_deref().map(token_key));
        self.table.delete_all(keys).await?;
        Ok(true)
    }

    /// Joins `member` to the invitation's organization and closes the invitation, with
    /// `also` (the event announcing the join), in one transaction with both caps.
    /// `ConditionFailed` when the token was used or revoked meanwhile, a cap is reached,
    /// or the user is already a member (nothing is written): the caller tells which by
    /// reading.
    pub async fn accept_invitation(
        &self,
        invitation: &InvitationRecord,
        member: &MembershipRecord,
        limits: MembershipLimits,
        also: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        let tenant = TenantId::new(&invitation.tenant_id);
        let token_hash = invitation.token_hash.as_deref().unwrap_or_default();
        let mut writes = vec![
            self.put_membership(member)?,
            self.count_member(&tenant, limits.members_per_organization)?,
            self.count_user(&member.user_id, limits.organizations_per_user)?,
            self.delete_write(&token_key(token_hash), true)?,
            self.delete_write(&listed_key(&tenant, &invitation.id), true)?,
        ];
        writes.extend(also);
        self.table.transact(writes).await
    }

    fn delete_write(&self, key: &Key, must_exist: bool) -> Result<TransactWriteItem, StoreError> {
        let mut delete = Delete::builder()
            .table_name(self.table.name())
            .set_key(Some(key.attributes()));
        if must_exist {
            delete = delete.condition_expression("attribute_exists(pk)");
        }
        Ok(TransactWriteItem::builder()
            .delete(delete.build().map_err(build_error)?)
            .build())
    }
}
