//! `GET /app/billing/invoices`: the latest Stripe invoices of the caller's tenant (in an
//! organization, for its owner and admins).

use aloft_auth::AuthUser;
use aloft_core::ApiError;
use aloft_http::{
    Query, Reply,
    openapi::{ErrorBody, InvalidQuery, SignedIn},
};
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    AppState,
    stripe::{
        Form,
        objects::{Invoice, List},
    },
    subscription::{Access, account},
};

/// `?limit=` of the invoice list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoicesQuery {
    /// 1–100, default 10.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// The caller's invoices, newest first (Stripe's order).
#[utoipa::path(
    get,
    path = "/app/billing/invoices",
    tag = "Billing",
    params(InvoicesQuery),
    responses(
        SignedIn, InvalidQuery,
        (status = 403, description = "In an organization: neither its owner nor an admin", body = ErrorBody),
        (status = 200, description = "Newest first; empty before the first checkout", body = Vec<Invoice>),
        (status = 400, description = "Stripe refused the request (its message)", body = ErrorBody),
        (status = 422, description = "`limit` is not 1–100", body = ErrorBody),
        (status = 503, description = "Stripe is not configured (`details.configure`) or unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn list_invoices(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Query(query): Query<InvoicesQuery>,
) -> Result<Reply<Vec<Invoice>>, ApiError> {
    state.stripe.require_key()?;
    let limit = query.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::validation("limit", "limit must be 1 to 100"));
    }
    let account = account(&state, &principal, Access::Manage).await?;
    let Some(customer) = account.customer_id else {
        return Ok(Reply::ok(Vec::new()));
    };
    let query = Form::new()
        .with("customer", customer)
        .with("limit", limit.to_string());
    let invoices: List<Invoice> = state.stripe.get("/v1/invoices", &query).await?;
    Ok(Reply::ok(invoices.data))
}
