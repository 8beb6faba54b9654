//! Whether a flag is on for a user, and why: one pure function shared by the admin
//! `check` route and the caller's `GET /app/feature-flags`.

use aloft_auth::Plan;
use aloft_store::FlagRecord;
use serde::Serialize;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use utoipa::ToSchema;

use crate::{model::FlagType, murmur3};

/// Which rule decided (docs/api.md's set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The flag is switched off.
    Disabled,
    /// A `boolean` flag, switched on.
    Boolean,
    /// The user's bucket (1–100) against `percentage`.
    PercentageRollout,
    /// Membership in `user_ids`.
    UserList,
    /// The user's plan against `plans`.
    PlanBased,
    /// No flag has this key.
    NotFound,
    /// `expires_at` has passed.
    Expired,
}

/// The flag (`None`: no such flag) for `user_id` on `plan` (`None`: unknown) at `now`.
///
/// Order: a missing flag, then expiry (an expired flag is off even if still enabled, and
/// says so), then the switch, then the type's own rule.
pub fn evaluate(
    flag: Option<&FlagRecord>,
    user_id: &str,
    plan: Option<Plan>,
    now: OffsetDateTime,
) -> (bool, Reason) {
    let Some(flag) = flag else {
        return (false, Reason::NotFound);
    };
    if is_expired(flag.expires_at.as_deref(), now) {
        return (false, Reason::Expired);
    }
    if !flag.is_enabled {
        return (false, Reason::Disabled);
    }
    match FlagType::parse(&flag.flag_type) {
        Some(FlagType::Boolean) => (true, Reason::Boolean),
        Some(FlagType::Percentage) => {
            let percentage = u32::from(flag.percentage.unwrap_or(0));
            let on = !user_id.is_empty() && murmur3::bucket(&flag.key, user_id) <= percentage;
            (on, Reason::PercentageRollout)
        }
        Some(FlagType::UserList) => (
            flag.user_ids.iter().any(|id| id == user_id),
            Reason::UserList,
        ),
        Some(FlagType::PlanBased) => (
            plan.is_some_and(|plan| flag.plans.iter().any(|p| p == plan.as_str())),
            Reason::PlanBased,
        ),
        // Only validated types are stored; anything else stays off.
        None => (false, Reason::Disabled),
    }
}

/// Past `expires_at`. A stored value that does not parse (never written by this code)
/// counts as expired: an unreadable end date fails closed.
fn is_expired(expires_at: Option<&str>, now: OffsetDateTime) -> bool {
    expires_at.is_some_and(|raw| {
        OffsetDateTime::parse(raw, &Rfc3339).map_or(true, |expires_at| now >= expires_at)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00:00 UTC);

    fn flag(flag_type: &str) -> FlagRecord {
        FlagRecord {
            id: "00000000-0000-0000-0000-000000000001".into(),
            key: "new_dashboard".into(),
            name: "New dashboard".into(),
            description: None,
            flag_type: flag_type.into(),
            is_enabled: true,
            percentage: None,
            user_ids: vec![],
            plans: vec![],
            expires_at: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            version: 1,
        }
    }

    #[test]
    fn a_missing_flag_is_not_found() {
        assert_eq!(evaluate(None, "u", None, NOW), (false, Reason::NotFound));
    }

    #[test]
    fn a_switched_off_flag_is_disabled_whatever_its_type() {
        for flag_type in ["boolean", "percentage", "user_list", "plan_based"] {
            let mut f = flag(flag_type);
            f.is_enabled = false;
            f.percentage = Some(100);
            assert_eq!(
                evaluate(Some(&f), "u", Some(Plan::Pro), NOW),
                (false, Reason::Disabled)
            );
        }
    }

    #[test]
    fn an_expired_flag_is_off_from_its_expiry_on() {
        let mut f = flag("boolean");
        f.expires_at = Some("2026-06-01T12:00:00Z".into());
        assert_eq!(evaluate(Some(&f), "u", None, NOW), (false, Reason::Expired));
        f.expires_at = Some("2026-06-01T12:00:01Z".into());
        assert_eq!(evaluate(Some(&f), "u", None, NOW), (true, Reason::Boolean));
    }

    #[test]
    fn percentage_compares_the_users_bucket() {
        // new_dashboard:user_123 is in bucket 51 (tests/murmur3_reference.py).
        let mut f = flag("percentage");
        f.percentage = Some(51);
        assert_eq!(
            evaluate(Some(&f), "user_123", None, NOW),
            (true, Reason::PercentageRollout)
        );
        f.percentage = Some(50);
        assert_eq!(
            evaluate(Some(&f), "user_123", None, NOW),
            (false, Reason::PercentageRollout)
        );
        f.percentage = Some(0);
        assert!(!evaluate(Some(&f), "user_124", None, NOW).0);
    }

    #[test]
    fn user_list_and_plan_based_check_membership() {
        let mut list = flag("user_list");
        list.user_ids = vec!["ann".into()];
        assert_eq!(
            evaluate(Some(&list), "ann", None, NOW),
            (true, Reason::UserList)
        );
        assert_eq!(
            evaluate(Some(&list), "bob", None, NOW),
            (false, Reason::UserList)
        );
        let mut plans = flag("plan_based");
        plans.plans = vec!["pro".into(), "enterprise".into()];
        let on = |plan| evaluate(Some(&plans), "u", plan, NOW);
        assert_eq!(on(Some(Plan::Pro)), (true, Reason::PlanBased));
        assert_eq!(on(Some(Plan::Free)), (false, Reason::PlanBased));
        assert_eq!(on(None), (false, Reason::PlanBased));
    }
}
