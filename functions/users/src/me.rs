//! `GET` and `PATCH /app/users/me`.

use aloft_auth::{AuthUser, UserProfile};
use aloft_core::ApiError;
use aloft_http::{
    ApiVersion, Json, Reply,
    openapi::{ErrorBody, JsonBody, SignedIn},
};
use aloft_store::{ProfileChange, UserRecord};
use axum::extract::State;
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::AppState;

/// The signed-in user's profile: one DynamoDB read.
#[utoipa::path(
    get,
    path = "/app/users/me",
    tag = "Users",
    responses(
        SignedIn,
        (status = 200, description = "The profile", body = UserProfile),
        (status = 403, description = "The account is inactive", body = ErrorBody),
        (status = 404, description = "The account no longer exists", body = ErrorBody),
    )
)]
pub(crate) async fn get_me(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    version: ApiVersion,
) -> Result<Reply<UserProfile>, ApiError> {
    let user = active_user(
        state.users.get(&principal.user_id).await?,
        &principal.user_id,
    )?;
    Ok(Reply::ok(UserProfile::of(
        &user,
        version,
        OffsetDateTime::now_utc(),
    )))
}

/// Fields a user may change; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateMeRequest {
    /// At most 255 characters.
    #[schema(max_length = 255)]
    pub full_name: Option<String>,
    /// An `http(s)` URL of at most 2048 characters.
    #[schema(max_length = 2048, pattern = r"^https?://\S+$")]
    pub avatar_url: Option<String>,
}

impl UpdateMeRequest {
    fn parse(self) -> Result<ProfileChange, ApiError> {
        let full_name = self.full_name.map(|n| n.trim().to_owned());
        if full_name.as_ref().is_some_and(|n| n.chars().count() > 255) {
            return Err(ApiError::validation(
                "full_name",
                "Full name must be at most 255 characters",
            ));
        }
        let avatar_url = self.avatar_url.map(|u| u.trim().to_owned());
        if let Some(url) = &avatar_url {
            let is_http = url.starts_with("https://") || url.starts_with("http://");
            if url.len() > 2048 || !is_http || url.contains(char::is_whitespace) {
                return Err(ApiError::validation(
                    "avatar_url",
                    "Avatar URL must be an http(s) URL of at most 2048 characters",
                ));
            }
        }
        Ok(ProfileChange {
            full_name,
            avatar_url,
        })
    }
}

/// Update the signed-in user's name or avatar.
#[utoipa::path(
    patch,
    path = "/app/users/me",
    tag = "Users",
    request_body = UpdateMeRequest,
    responses(
        SignedIn, JsonBody,
        (status = 200, description = "The updated profile", body = UserProfile),
        (status = 403, description = "The account is inactive", body = ErrorBody),
        (status = 404, description = "The account no longer exists", body = ErrorBody),
        (status = 422, description = "A field breaks a rule; `details.field` names it", body = ErrorBody),
    )
)]
pub(crate) async fn update_me(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    version: ApiVersion,
    Json(body): Json<UpdateMeRequest>,
) -> Result<Reply<UserProfile>, ApiError> {
    let change = body.parse()?;
    let current = state.users.get(&principal.user_id).await?;
    active_user(current, &principal.user_id)?;
    let now = OffsetDateTime::now_utc();
    let updated = state
        .users
        .update_profile(
            &principal.user_id,
            &change,
            &aloft_core::timestamp::format(now),
        )
        .await?;
    let user = active_user(updated, &principal.user_id)?;
    Ok(Reply::ok(UserProfile::of(&user, version, now)))
}

fn active_user(user: Option<UserRecord>, user_id: &str) -> Result<UserRecord, ApiError> {
    let user = user.ok_or_else(|| ApiError::not_found("User", user_id))?;
    if !user.is_active {
        return Err(ApiError::Authorization("This account is inactive".into()));
    }
    Ok(user)
}
