//! Request and response bodies of the flag routes, and the field rules a flag obeys.

use aloft_core::ApiError;
use aloft_store::{FlagRecord, MAX_USER_IDS};
use serde::{Deserialize, Deserializer, Serialize};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use utoipa::ToSchema;

const KEY_MAX: usize = 64;
const NAME_MAX: usize = 255;
const DESCRIPTION_MAX: usize = 2000;
/// Also bounds the `user_id` of `check`, so no id reaches a key past DynamoDB's limits.
pub(crate) const USER_ID_MAX: usize = 256;
const PLANS: [&str; 3] = ["free", "pro", "enterprise"];

/// How a flag decides for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlagType {
    /// On or off for everyone.
    Boolean,
    /// On for `percentage` % of users, by a stable hash of flag key and user id.
    Percentage,
    /// On for the users in `user_ids`.
    UserList,
    /// On for users on one of `plans`.
    PlanBased,
}

impl FlagType {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "boolean" => Some(FlagType::Boolean),
            "percentage" => Some(FlagType::Percentage),
            "user_list" => Some(FlagType::UserList),
            "plan_based" => Some(FlagType::PlanBased),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FlagType::Boolean => "boolean",
            FlagType::Percentage => "percentage",
            FlagType::UserList => "user_list",
            FlagType::PlanBased => "plan_based",
        }
    }
}

/// A flag as the API shows it (the reference's fields plus `expires_at`, `updated_at`
/// and `version`, the number `ETag`/`If-Match` carry).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Flag {
    pub id: String,
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    #[schema(value_type = FlagType)]
    pub flag_type: String,
    pub is_enabled: bool,
    pub percentage: Option<u8>,
    pub user_ids: Vec<String>,
    pub plans: Vec<String>,
    /// After this instant (RFC 3339) the flag evaluates to off, reason `expired`.
    pub expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

impl From<&FlagRecord> for Flag {
    fn from(record: &FlagRecord) -> Self {
        Self {
            id: record.id.clone(),
            key: record.key.clone(),
            name: record.name.clone(),
            description: record.description.clone(),
            flag_type: record.flag_type.clone(),
            is_enabled: record.is_enabled,
            percentage: record.percentage,
            user_ids: record.user_ids.clone(),
            plans: record.plans.clone(),
            expires_at: record.expires_at.clone(),
            created_at: record.created_at.clone(),
            updated_at: record.updated_at.clone(),
            version: record.version,
        }
    }
}

/// `POST /admin/feature-flags`. Missing fields are reported by name (422), so the
/// required ones default to empty here and are checked by [`Draft::check`].
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateFlagRequest {
    /// Unique, immutable: `^[a-z0-9_.-]{1,64}$`.
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9_.-]{1,64}$")]
    pub key: String,
    /// Required, at most 255 characters.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255, pattern = r"\S")]
    pub name: String,
    /// At most 2000 characters.
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(value_type = FlagType)]
    pub flag_type: String,
    /// Default `false`: a new flag starts off.
    #[serde(default)]
    pub is_enabled: bool,
    /// 0–100; required for `percentage` flags.
    #[schema(minimum = 0, maximum = 100)]
    pub percentage: Option<i64>,
    /// Required (1–100 ids) for `user_list` flags.
    #[serde(default)]
    pub user_ids: Vec<String>,
    /// Required for `plan_based` flags: some of `free`, `pro`, `enterprise`.
    #[serde(default)]
    pub plans: Vec<String>,
    /// RFC 3339, e.g. `2026-12-31T00:00:00Z`.
    pub expires_at: Option<String>,
}

/// `PATCH /admin/feature-flags/{flag_id}`: absent fields stay as they are; `null`
/// clears `description`, `percentage` or `expires_at`. The result must still obey every
/// rule of a new flag.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateFlagRequest {
    /// The key cannot change: clients and bucketing know a flag by it.
    #[serde(default)]
    #[schema(ignore)]
    pub key: Option<serde::de::IgnoredAny>,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[schema(value_type = Option<FlagType>)]
    pub flag_type: Option<String>,
    pub is_enabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 100)]
    pub percentage: Option<Option<i64>>,
    pub user_ids: Option<Vec<String>>,
    pub plans: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Option<String>>,
}

/// `POST /admin/feature-flags/{flag_id}/add-user` and `.../remove-user`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FlagUserRequest {
    /// The user to add or remove: 1–256 characters, trimmed (need not exist).
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 256)]
    pub user_id: String,
}

impl FlagUserRequest {
    /// The user id as a flag's list stores it (trimmed); 422 naming `user_id` otherwise.
    pub(crate) fn parse(&self) -> Result<String, ApiError> {
        let id = self.user_id.trim();
        if id.is_empty() || id.chars().count() > USER_ID_MAX {
            return Err(ApiError::validation(
                "user_id",
                "user_id must be 1-256 characters",
            ));
        }
        Ok(id.to_owned())
    }
}

/// Tells a field set to `null` (`Some(None)`) from an absent one (`None`).
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The editable fields of a flag before their rules are checked.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub name: String,
    pub description: Option<String>,
    pub flag_type: String,
    pub is_enabled: bool,
    pub percentage: Option<i64>,
    pub user_ids: Vec<String>,
    pub plans: Vec<String>,
    pub expires_at: Option<String>,
}

/// The editable fields of a flag, every rule checked and values normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    pub name: String,
    pub description: Option<String>,
    pub flag_type: FlagType,
    pub is_enabled: bool,
    pub percentage: Option<u8>,
    pub user_ids: Vec<String>,
    pub plans: Vec<String>,
    pub expires_at: Option<String>,
}

/// `key` must match `^[a-z0-9_.-]{1,64}$`.
pub(crate) fn parse_key(raw: &str) -> Result<String, ApiError> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c);
    if raw.is_empty() || raw.len() > KEY_MAX || !raw.chars().all(allowed) {
        return Err(ApiError::validation(
            "key",
            "key must be 1-64 characters of a-z, 0-9, '_', '.' and '-'",
        ));
    }
    Ok(raw.to_owned())
}

impl CreateFlagRequest {
    /// The key and the checked fields of a new flag.
    pub(crate) fn parse(self) -> Result<(String, Checked), ApiError> {
        let key = parse_key(&self.key)?;
        let draft = Draft {
            name: self.name,
            description: self.description,
            flag_type: self.flag_type,
            is_enabled: self.is_enabled,
            percentage: self.percentage,
            user_ids: self.user_ids,
            plans: self.plans,
            expires_at: self.expires_at,
        };
        Ok((key, draft.check()?))
    }
}

impl UpdateFlagRequest {
    /// The stored flag with this change applied, every rule checked again.
    pub(crate) fn apply(&self, current: &FlagRecord) -> Result<Checked, ApiError> {
        if self.key.is_some() {
            return Err(ApiError::validation(
                "key",
                "key cannot be changed; create a new flag instead",
            ));
        }
        Draft {
            name: self.name.clone().unwrap_or_else(|| current.name.clone()),
            description: self
                .description
                .clone()
                .unwrap_or_else(|| current.description.clone()),
            flag_type: self
                .flag_type
                .clone()
                .unwrap_or_else(|| current.flag_type.clone()),
            is_enabled: self.is_enabled.unwrap_or(current.is_enabled),
            percentage: self
                .percentage
                .unwrap_or_else(|| current.percentage.map(i64::from)),
            user_ids: self
                .user_ids
                .clone()
                .unwrap_or_else(|| current.user_ids.clone()),
            plans: self.plans.clone().unwrap_or_else(|| current.plans.clone()),
            expires_at: self
                .expires_at
                .clone()
                .unwrap_or_else(|| current.expires_at.clone()),
        }
        .check()
    }
}

impl Draft {
    /// The stored flag's fields, for an edit that changes some and checks them again.
    pub(crate) fn of(record: &FlagRecord) -> Self {
        Self {
            name: record.name.clone(),
            description: record.description.clone(),
            flag_type: record.flag_type.clone(),
            is_enabled: record.is_enabled,
            percentage: record.percentage.map(i64::from),
            user_ids: record.user_ids.clone(),
            plans: record.plans.clone(),
            expires_at: record.expires_at.clone(),
        }
    }

    /// Every field rule, the first broken one reported by name (422).
    pub(crate) fn check(self) -> Result<Checked, ApiError> {
        let name = self.name.trim().to_owned();
        if name.is_empty() {
            return Err(ApiError::validation("name", "name is required"));
        }
        if name.chars().count() > NAME_MAX {
            return Err(ApiError::validation(
                "name",
                "name must be at most 255 characters",
            ));
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > DESCRIPTION_MAX)
        {
            return Err(ApiError::validation(
                "description",
                "description must be at most 2000 characters",
            ));
        }
        let flag_type = FlagType::parse(&self.flag_type).ok_or_else(|| {
            ApiError::validation(
                "flag_type",
                "flag_type must be one of boolean, percentage, user_list, plan_based",
            )
        })?;
        Ok(Checked {
            name,
            description: self.description,
            percentage: check_percentage(self.percentage, flag_type)?,
            user_ids: check_user_ids(self.user_ids, flag_type)?,
            plans: check_plans(self.plans, flag_type)?,
            expires_at: self.expires_at.as_deref().map(check_expiry).transpose()?,
            flag_type,
            is_enabled: self.is_enabled,
        })
    }
}

fn check_percentage(raw: Option<i64>, flag_type: FlagType) -> Result<Option<u8>, ApiError> {
    match raw {
        None if flag_type == FlagType::Percentage => Err(ApiError::validation(
            "percentage",
            "percentage is required for a percentage flag",
        )),
        None => Ok(None),
        Some(value) => u8::try_from(value)
            .ok()
            .filter(|p| *p <= 100)
            .map(Some)
            .ok_or_else(|| {
                ApiError::validation("percentage", "percentage must be between 0 and 100")
            }),
    }
}

/// Trimmed and without repeats, in the order given.
fn check_user_ids(raw: Vec<String>, flag_type: FlagType) -> Result<Vec<String>, ApiError> {
    // Counted before the repeats go, so a huge body costs no quadratic work.
    if raw.len() > MAX_USER_IDS {
        return Err(ApiError::validation(
            "user_ids",
            format!("a flag names at most {MAX_USER_IDS} user ids"),
        ));
    }
    let mut ids: Vec<String> = Vec::with_capacity(raw.len());
    for id in raw {
        let id = id.trim();
        if id.is_empty() || id.chars().count() > USER_ID_MAX {
            return Err(ApiError::validation(
                "user_ids",
                "every user id must be 1-256 characters",
            ));
        }
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    if ids.is_empty() && flag_type == FlagType::UserList {
        return Err(ApiError::validation(
            "user_ids",
            "user_ids is required for a user_list flag",
        ));
    }
    Ok(ids)
}

/// Known plans only, each once, in the order free, pro, enterprise.
fn check_plans(raw: Vec<String>, flag_type: FlagType) -> Result<Vec<String>, ApiError> {
    if let Some(unknown) = raw.iter().find(|p| !PLANS.contains(&p.as_str())) {
        return Err(ApiError::validation(
            "plans",
            format!("unknown plan '{unknown}': plans are free, pro and enterprise"),
        ));
    }
    let plans: Vec<String> = PLANS
        .iter()
        .filter(|plan| raw.iter().any(|p| p == *plan))
        .map(|plan| (*plan).to_owned())
        .collect();
    if plans.is_empty() && flag_type == FlagType::PlanBased {
        return Err(ApiError::validation(
            "plans",
            "plans is required for a plan_based flag",
        ));
    }
    Ok(plans)
}

/// An RFC 3339 instant, stored in UTC whole seconds.
fn check_expiry(raw: &str) -> Result<String, ApiError> {
    OffsetDateTime::parse(raw, &Rfc3339)
        .map(aloft_core::timestamp::format)
        .map_err(|_| {
            ApiError::validation(
                "expires_at",
                "expires_at must be an RFC 3339 date-time, e.g. 2026-12-31T00:00:00Z",
            )
        })
}

/// A flag id is a UUID; anything else names no flag (404, as an unknown one).
pub(crate) fn parse_flag_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| ApiError::not_found("FeatureFlag", raw.chars().take(64).collect::<String>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(flag_type: &str) -> Draft {
        Draft {
            name: "Beta".into(),
            description: None,
            flag_type: flag_type.into(),
            is_enabled: true,
            percentage: None,
            user_ids: vec![],
            plans: vec![],
            expires_at: None,
        }
    }

    fn field(err: ApiError) -> String {
        match err {
            ApiError::Validation { field, .. } => field.into_owned(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn keys_are_lowercase_words_dots_and_dashes() {
        for good in [
            "beta_feature",
            "checkout.v2",
            "dark-mode",
            "a",
            "x".repeat(64).as_str(),
        ] {
            assert!(parse_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Beta",
            "has space",
            "ümlaut",
            "a/b",
            "x".repeat(65).as_str(),
        ] {
            assert_eq!(field(parse_key(bad).unwrap_err()), "key", "{bad}");
        }
    }

    #[test]
    fn each_type_requires_its_own_field() {
        assert_eq!(
            field(draft("percentage").check().unwrap_err()),
            "percentage"
        );
        assert_eq!(field(draft("user_list").check().unwrap_err()), "user_ids");
        assert_eq!(field(draft("plan_based").check().unwrap_err()), "plans");
        assert_eq!(field(draft("sometimes").check().unwrap_err()), "flag_type");
        assert!(draft("boolean").check().is_ok());
    }

    #[test]
    fn percentages_are_0_to_100() {
        for (value, ok) in [(0, true), (100, true), (-1, false), (101, false)] {
            let mut d = draft("percentage");
            d.percentage = Some(value);
            assert_eq!(d.check().is_ok(), ok, "{value}");
        }
    }

    #[test]
    fn plans_are_known_and_normalised() {
        let mut d = draft("plan_based");
        d.plans = vec!["enterprise".into(), "pro".into(), "pro".into()];
        assert_eq!(d.clone().check().unwrap().plans, ["pro", "enterprise"]);
        d.plans = vec!["gold".into()];
        assert_eq!(field(d.check().unwrap_err()), "plans");
    }

    #[test]
    fn expiry_is_rfc3339_and_stored_in_utc() {
        let mut d = draft("boolean");
        d.expires_at = Some("2026-12-31T01:00:00+01:00".into());
        assert_eq!(
            d.clone().check().unwrap().expires_at.as_deref(),
            Some("2026-12-31T00:00:00Z")
        );
        d.expires_at = Some("tomorrow".into());
        assert_eq!(field(d.check().unwrap_err()), "expires_at");
    }

    #[test]
    fn a_stored_flag_checks_again_to_the_same_fields() {
        let mut d = draft("percentage");
        d.percentage = Some(40);
        d.expires_at = Some("2026-12-31T01:00:00+01:00".into());
        let checked = d.check().unwrap();
        let record = FlagRecord {
            id: "id".into(),
            key: "beta".into(),
            name: checked.name.clone(),
            description: checked.description.clone(),
            flag_type: checked.flag_type.as_str().into(),
            is_enabled: checked.is_enabled,
            percentage: checked.percentage,
            user_ids: checked.user_ids.clone(),
            plans: checked.plans.clone(),
            expires_at: checked.expires_at.clone(),
            created_at: String::new(),
            updated_at: String::new(),
            version: 1,
        };
        assert_eq!(Draft::of(&record).check().unwrap(), checked);
    }

    fn user(raw: &str) -> Result<String, ApiError> {
        let request = FlagUserRequest {
            user_id: raw.to_owned(),
        };
        request.parse()
    }

    #[test]
    fn a_user_to_add_or_remove_is_trimmed_and_1_to_256_characters() {
        assert_eq!(user(" ann ").unwrap(), "ann");
        assert!(user(&"x".repeat(256)).is_ok());
        for bad in ["", "   ", "x".repeat(257).as_str()] {
            assert_eq!(field(user(bad).unwrap_err()), "user_id", "{bad}");
        }
    }

    #[test]
    fn a_blank_name_is_missing() {
        let mut d = draft("boolean");
        d.name = "  ".into();
        assert_eq!(field(d.check().unwrap_err()), "name");
    }
}
