//! The changes of a user that set their name: each is written with the search entries
//! it moves and its count on the dashboard, in one transaction, on condition that the
//! email and name are still those read (then the entries it replaces are the stored
//! ones), and what the dashboard counts of the user too (then the count is the
//! change's). A change that meets another change reads the user again and is tried
//! again.

use aws_sdk_dynamodb::{
    operation::update_item::builders::UpdateItemFluentBuilder, types::AttributeValue,
};

use super::{
    Applied, IN_ORDER, Lifecycle, ProfileChange, RENAME_ATTEMPTS, SEARCH, UserRecord, UserRepo,
    as_counted, counted_alike,
    search::{Searchable, guarded},
};
use crate::{StoreError, Tally, table::n};

impl UserRepo {
    /// [`Self::apply_event`] of a lifecycle event that sets the name: the user is read,
    /// and the change written with the search entries it moves.
    pub(super) async fn apply_renaming_event(
        &self,
        user_id: &str,
        change: &Lifecycle,
        mut sets: Vec<(&str, AttributeValue)>,
        event_at: i64,
        now: &str,
    ) -> Result<Applied, StoreError> {
        sets.push(("#marker", n(event_at)));
        for _ in 0..RENAME_ATTEMPTS {
            let Some(before) = self.get(user_id).await? else {
                return Ok(Applied::NoSuchPayer);
            };
            let after = UserRecord {
                full_name: change.profile.full_name.clone(),
                avatar_url: change
                    .profile
                    .avatar_url
                    .clone()
                    .or_else(|| before.avatar_url.clone()),
                is_active: change.is_active.unwrap_or(before.is_active),
                updated_at: now.to_owned(),
                ..before.clone()
            };
            let request = self
                .update(user_id, now, &sets)
                .condition_expression(IN_ORDER)
                .expression_attribute_names("#marker", "lifecycle_event_at");
            match self.rename(&before, &after, &request).await {
                Ok(()) => {
                    self.changed(&after, change.is_active.is_some()).await?;
                    return Ok(Applied::Applied);
                }
                // The event is stale, or the user was renamed or recounted meanwhile: only
                // the second is worth another try.
                Err(StoreError::ConditionFailed) => match self.get(user_id).await? {
                    None => return Ok(Applied::NoSuchPayer),
                    Some(now_stored)
                        if same_terms(&now_stored, &before)
                            && counted_alike(&now_stored, &before) =>
                    {
                        return Ok(Applied::Stale);
                    }
                    Some(_) => {}
                },
                Err(e) => return Err(e),
            }
        }
        Err(renaming_kept_conflicting(user_id))
    }

    /// Writes `request` (a change of the user `before` that leaves them `after`) with
    /// the search entries it moves and its count on the dashboard, in one transaction.
    /// The change also requires the stored email and name to be `before`'s, so the
    /// entries it replaces are the stored ones, and what the dashboard counts of the user
    /// too ([`as_counted`]); anything else is [`StoreError::ConditionFailed`], as the
    /// request's own condition.
    pub(super) async fn rename(
        &self,
        before: &UserRecord,
        after: &UserRecord,
        request: &UpdateItemFluentBuilder,
    ) -> Result<(), StoreError> {
        let unchanged = [
            ("email", Some(before.email.as_str())),
            ("full_name", before.full_name.as_deref()),
        ];
        let request = as_counted(request.clone(), before);
        let mut writes = vec![guarded(&request, &unchanged)?];
        writes.extend(SEARCH.changes(&self.table, &before.id, &before.terms(), &after.terms())?);
        writes.extend(self.stats.writes(&Tally::user(Some(before), after))?);
        self.table.write(writes).await
    }

    /// [`Self::update_profile`] of a change that sets the name: the user is read, and
    /// `request` written with the search entries it moves.
    pub(super) async fn rename_profile(
        &self,
        user_id: &str,
        change: &ProfileChange,
        request: &UpdateItemFluentBuilder,
        now: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        for _ in 0..RENAME_ATTEMPTS {
            let Some(before) = self.get(user_id).await? else {
                return Ok(None);
            };
            let after = UserRecord {
                full_name: change.full_name.clone(),
                avatar_url: change
                    .avatar_url
                    .clone()
                    .or_else(|| before.avatar_url.clone()),
                updated_at: now.to_owned(),
                ..before.clone()
            };
            match self.rename(&before, &after, request).await {
                Ok(()) => return Ok(Some(after)),
                // Renamed or gone meanwhile: read again.
                Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Err(renaming_kept_conflicting(user_id))
    }
}

/// The email and name a rename conditioned on are still stored: its condition failed on
/// something else.
fn same_terms(stored: &UserRecord, read: &UserRecord) -> bool {
    stored.email == read.email && stored.full_name == read.full_name
}

fn renaming_kept_conflicting(user_id: &str) -> StoreError {
    StoreError::Unavailable(format!("renaming user {user_id} kept conflicting"))
}
