//! An authenticated request is rate-limited and metered by one conditional update of the
//! user's `api_requests` month item, instead of one write to a rate-limit window and
//! another to the meter.
//!
//! The item keeps, per limit class, the current window's start (`win#<class>`) and its
//! count (`hits#<class>`). A request in the current window `ADD`s to that count, to its
//! day and to its route group, on the condition that the count is under the limit and the
//! user is not blocked: one write that neither grows the item nor touches the ranking
//! index. The first request of a new window moves the finished window's count into the
//! month total (`count`, the ranking's sort key) and starts the window: one more write,
//! once per user, class and minute. So `count` lags by the current windows, and a
//! month's total is `count` plus the `hits#*` still pending ([`super::MonthUsage`]).
//!
//! Deactivation sets `blocked_until` on the month items its span touches; the same
//! condition refuses every request until then, without a read. Likewise a membership
//! change sets `member#<tenant>` (the new role, or `removed`) on the member's items for
//! the life of a token: a credential acting in that organization with another role is
//! refused by the same write ([`RequestLimit::membership`]).
//!
//! The plan's daily allowance ([`RequestLimit::daily`]) needs no counter of its own: the
//! day's count (`d<DD>`, every class together) is already in the item, so the same
//! condition refuses a request once it reaches the allowance, and the next day's
//! attribute starts at nothing.

use aws_sdk_dynamodb::{
    operation::update_item::UpdateItemError,
    types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure},
};
use time::OffsetDateTime;

use super::{API_REQUESTS, UsageMeter, month_key, ranking_key};
use crate::{Key, StoreError, Window, table::Item, table::n, table::s};

/// Not blocked, or blocked until a moment that has passed.
macro_rules! not_blocked {
    () => {
        "(attribute_not_exists(blocked_until) OR blocked_until <= :now)"
    };
}

/// How a request is counted: its limit class, the limit and the window length, the
/// plan's daily allowance, and the organization membership its credential claims, if it
/// acts in one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimit<'a> {
    pub class: &'a str,
    pub limit: u32,
    pub window_secs: u64,
    /// Requests a UTC day, every class together; `None`: unlimited.
    pub daily: Option<u32>,
    pub membership: Option<ClaimedMembership<'a>>,
}

/// The organization a credential acts in and the role it carries for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimedMembership<'a> {
    pub tenant: &'a str,
    pub role: &'a str,
}

/// The marker value of a member who is no longer one.
pub const MEMBERSHIP_REMOVED: &str = "removed";

/// What a conditional update did.
enum Attempt {
    /// Counted; the window's and the day's counts after this request.
    Counted { hits: u32, day: u32 },
    /// Refused by the condition; the item as it was.
    Refused(Option<Item>),
}

impl UsageMeter {
    /// Counts one request of `user_id` at `now` (epoch seconds) under `limit`, in
    /// `route_group`: refused when the window is full, the day's allowance is used up or
    /// the user is blocked, and then not metered either. The window answered is the one
    /// closer to its limit: the class's, or the day's.
    pub async fn count_request(
        &self,
        user_id: &str,
        limit: RequestLimit<'_>,
        route_group: &str,
        now: u64,
    ) -> Result<Window, StoreError> {
        let start = now - now % limit.window_secs;
        let window = |allowed, hits: u32| Window {
            allowed,
            blocked: false,
            membership_changed: false,
            limit: limit.limit,
            remaining: limit.limit.saturating_sub(hits),
            reset_at: start + limit.window_secs,
            period_secs: limit.window_secs,
        };
        let day = |allowed, daily: u32, count: u32| Window {
            allowed,
            blocked: false,
            membership_changed: false,
            limit: daily,
            remaining: daily.saturating_sub(count),
            reset_at: now - now % DAY_SECS + DAY_SECS,
            period_secs: DAY_SECS,
        };
        let counted = |hits, count| {
            let minute = window(true, hits);
            match limit.daily {
                Some(daily) => closer_to_its_limit(minute, day(true, daily, count)),
                None => minute,
            }
        };
        if limit.limit == 0 {
            return Ok(window(false, 0));
        }
        if let Some(daily @ 0) = limit.daily {
            return Ok(day(false, daily, 0));
        }
        // Refused whatever the count: a blocked user, a changed membership.
        let refusal = |state: &State| {
            state
                .refusal(now)
                .map(|refused| refused(window(false, limit.limit)))
        };
        let request = Request::new(user_id, limit, route_group, now)?;
        // A race with another instance starting the same window is resolved by counting
        // in it; a third round would take a clock that moved back past a window start.
        for _ in 0..3 {
            let refused = match self.update(&request, &request.in_window()).await? {
                Attempt::Counted { hits, day } => return Ok(counted(hits, day)),
                Attempt::Refused(item) => item,
            };
            let state = State::of(refused.as_ref(), limit.class, &request);
            if let Some(refusal) = refusal(&state) {
                return Ok(refusal);
            }
            if let Some(daily) = limit.daily.filter(|&daily| state.day >= daily) {
                return Ok(day(false, daily, state.day));
            }
            if state.window_start >= start {
                return Ok(window(false, limit.limit));
            }
            match self.update(&request, &request.new_window()).await? {
                Attempt::Counted { day, .. } => return Ok(counted(1, day)),
                Attempt::Refused(item) => {
                    let state = State::of(item.as_ref(), limit.class, &request);
                    if let Some(refusal) = refusal(&state) {
                        return Ok(refusal);
                    }
                }
            }
        }
        Err(StoreError::ConditionFailed)
    }

    /// Whether a credential of `user_id` claiming `limit.membership` is still good at
    /// `now` (not deactivated, its membership unchanged), read without counting: what
    /// the guard falls back on when [`Self::count_request`] cannot answer. A strongly
    /// consistent read of the same item, so a deactivation written before it is seen.
    pub async fn standing(
        &self,
        user_id: &str,
        limit: RequestLimit<'_>,
        now: u64,
    ) -> Result<Option<Window>, StoreError> {
        let request = Request::new(user_id, limit, API_REQUESTS.key, now)?;
        let output = self
            .table
            .client()
            .get_item()
            .table_name(self.table.name())
            .set_key(Some(request.key.attributes()))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let state = State::of(output.item(), limit.class, &request);
        let start = now - now % limit.window_secs;
        let refused = Window {
            allowed: false,
            blocked: false,
            membership_changed: false,
            limit: limit.limit,
            remaining: 0,
            reset_at: start + limit.window_secs,
            period_secs: limit.window_secs,
        };
        Ok(state.refusal(now).map(|refusal| refusal(refused)))
    }

    /// Refuses every request of `user_id` from now until `until` (epoch seconds).
    /// Idempotent.
    pub async fn block_requests(
        &self,
        user_id: &str,
        now: u64,
        until: u64,
    ) -> Result<(), StoreError> {
        for key in month_keys(user_id, now, until)? {
            self.table
                .client()
                .update_item()
                .table_name(self.table.name())
                .set_key(Some(key.attributes()))
                .update_expression("SET blocked_until = :until")
                .expression_attribute_values(":until", n(until))
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
        }
        Ok(())
    }

    /// Lifts any block from the month items of `now` to `until`: every item a request
    /// from now on can meet.
    pub async fn unblock_requests(
        &self,
        user_id: &str,
        now: u64,
        until: u64,
    ) -> Result<(), StoreError> {
        for key in month_keys(user_id, now, until)? {
            let removed = self
                .table
                .client()
                .update_item()
                .table_name(self.table.name())
                .set_key(Some(key.attributes()))
                .update_expression("REMOVE blocked_until")
                // Creates no item for a month without usage.
                .condition_expression("attribute_exists(pk)")
                .send()
                .await
                .map_err(StoreError::from_sdk);
            match removed {
                Ok(_) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Records that `user_id`'s membership of organization `tenant` is now `state` (a
    /// role, or [`MEMBERSHIP_REMOVED`]) on the month items of `now` to `until`: a credential
    /// claiming anything else for that tenant is refused until then. Idempotent.
    pub async fn mark_membership(
        &self,
        user_id: &str,
        tenant: &str,
        state: &str,
        now: u64,
        until: u64,
    ) -> Result<(), StoreError> {
        for key in month_keys(user_id, now, until)? {
            self.table
                .client()
                .update_item()
                .table_name(self.table.name())
                .set_key(Some(key.attributes()))
                .update_expression("SET #member = :state")
                .expression_attribute_names("#member", member_attribute(tenant))
                .expression_attribute_values(":state", s(state))
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
        }
        Ok(())
    }

    async fn update(&self, request: &Request, update: &Update) -> Result<Attempt, StoreError> {
        let mut call = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(request.key.attributes()))
            .update_expression(update.expression)
            .condition_expression(format!(
                "{}{}{}",
                update.condition,
                request.daily_condition(),
                request.member_condition()
            ))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let names = request
            .names
            .iter()
            .map(|(name, value)| (*name, value.as_str()));
        for (name, value) in names.chain(update.names.iter().copied()) {
            call = call.expression_attribute_names(name, value);
        }
        for (name, value) in &request.member_names {
            call = call.expression_attribute_names(*name, value.as_str());
        }
        for (name, value) in request.values.iter().chain(&update.values) {
            call = call.expression_attribute_values(*name, value.clone());
        }
        match call.send().await {
            Ok(output) => {
                let count = |attribute: &str| {
                    let value = output
                        .attributes
                        .as_ref()
                        .and_then(|a| number(a.get(attribute)));
                    u32::try_from(value.unwrap_or(1)).unwrap_or(u32::MAX)
                };
                Ok(Attempt::Counted {
                    hits: count(&request.hits_attribute),
                    day: count(&request.day_attribute),
                })
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(refused)) => {
                    Ok(Attempt::Refused(refused.item().cloned()))
                }
                _ => Err(StoreError::from_sdk(e)),
            },
        }
    }
}

/// The item a request is counted in, and the names and values both its updates use.
struct Request {
    key: Key,
    names: [(&'static str, String); 4],
    values: Vec<(&'static str, AttributeValue)>,
    hits_attribute: String,
    day_attribute: String,
    limit: u32,
    daily: Option<u32>,
    rank: String,
    /// `member#<tenant>` and the role claimed, for a credential acting in an
    /// organization.
    member: Option<(String, String)>,
    member_names: Vec<(&'static str, String)>,
}

/// One of a request's two updates, with the names and values only it uses.
struct Update {
    expression: &'static str,
    condition: &'static str,
    names: &'static [(&'static str, &'static str)],
    values: Vec<(&'static str, AttributeValue)>,
}

impl Request {
    fn new(
        user_id: &str,
        limit: RequestLimit<'_>,
        route_group: &str,
        now: u64,
    ) -> Result<Self, StoreError> {
        let day = utc_day(now)?;
        let month = month_key(day);
        let hits_attribute = format!("hits#{}", limit.class);
        let mut values = vec![
            (":one", n(1)),
            (":start", n(now - now % limit.window_secs)),
            (":now", n(now)),
        ];
        if let Some(claimed) = limit.membership {
            values.push((":claimed", s(claimed.role)));
        }
        if let Some(daily) = limit.daily {
            values.push((":daily", n(daily)));
        }
        let day_attribute = format!("d{:02}", day.day());
        Ok(Self {
            key: Key::usage(user_id, API_REQUESTS.key, &month),
            names: [
                ("#win", format!("win#{}", limit.class)),
                ("#hits", hits_attribute.clone()),
                ("#day", day_attribute.clone()),
                ("#by", format!("by#{route_group}")),
            ],
            values,
            hits_attribute,
            day_attribute,
            limit: limit.limit,
            daily: limit.daily,
            rank: ranking_key(API_REQUESTS, &month, user_id),
            member: limit
                .membership
                .map(|m| (member_attribute(m.tenant), m.role.to_owned())),
            member_names: limit
                .membership
                .map(|m| vec![("#member", member_attribute(m.tenant))])
                .unwrap_or_default(),
        })
    }

    /// The clause that refuses a credential whose membership changed: the item holds no
    /// marker for its tenant, or the role it claims.
    fn member_condition(&self) -> &'static str {
        if self.member.is_some() {
            " AND (attribute_not_exists(#member) OR #member = :claimed)"
        } else {
            ""
        }
    }

    /// The clause that refuses a request past the day's allowance.
    fn daily_condition(&self) -> &'static str {
        if self.daily.is_some() {
            " AND (attribute_not_exists(#day) OR #day < :daily)"
        } else {
            ""
        }
    }

    /// Counts in the window the item already holds.
    fn in_window(&self) -> Update {
        Update {
            expression: "ADD #hits :one, #day :one, #by :one",
            condition: concat!("#win = :start AND #hits < :limit AND ", not_blocked!()),
            names: &[],
            values: vec![(":limit", n(self.limit))],
        }
    }

    /// Moves the finished window's count into the month total, and starts the window at
    /// this request. (Operands read the item as it was, so `#hits` is the old count.)
    fn new_window(&self) -> Update {
        Update {
            expression: "SET #count = if_not_exists(#count, :zero) + if_not_exists(#hits, :zero), \
                         #win = :start, #hits = :one, rank_pk = :rank ADD #day :one, #by :one",
            condition: concat!(
                "(attribute_not_exists(#win) OR #win < :start) AND ",
                not_blocked!()
            ),
            names: &[("#count", "count")],
            values: vec![(":rank", s(&self.rank)), (":zero", n(0))],
        }
    }
}

/// What a refused update saw.
struct State {
    window_start: u64,
    /// Today's requests, every class together.
    day: u32,
    blocked_until: u64,
    /// The item's membership marker for the claimed tenant is another role or
    /// `removed`.
    membership_changed: bool,
}

impl State {
    /// How a credential is refused whatever its count at `now` (blocked, or its
    /// membership changed): marks the refusal on a window.
    fn refusal(&self, now: u64) -> Option<fn(Window) -> Window> {
        if self.blocked_until > now {
            Some(|w| Window { blocked: true, ..w })
        } else if self.membership_changed {
            Some(|w| Window {
                membership_changed: true,
                ..w
            })
        } else {
            None
        }
    }

    fn of(item: Option<&Item>, class: &str, request: &Request) -> Self {
        let get = |name: &str| {
            item.and_then(|i| number(i.get(name)))
                .and_then(|v| u64::try_from(v).ok())
                .unwrap_or(0)
        };
        let membership_changed = request.member.as_ref().is_some_and(|(attribute, claimed)| {
            item.and_then(|i| i.get(attribute))
                .and_then(|v| v.as_s().ok())
                .is_some_and(|marker| marker != claimed)
        });
        Self {
            window_start: get(&format!("win#{class}")),
            day: u32::try_from(get(&request.day_attribute)).unwrap_or(u32::MAX),
            blocked_until: get("blocked_until"),
            membership_changed,
        }
    }
}

const DAY_SECS: u64 = 86_400;

/// Of a request's two windows, the one with the smaller share of its limit left (the
/// class's on a tie): the one its `X-RateLimit-*` headers describe.
fn closer_to_its_limit(window: Window, day: Window) -> Window {
    // remaining/limit compared without division.
    let left = |w: &Window, other: &Window| u64::from(w.remaining) * u64::from(other.limit);
    if left(&day, &window) < left(&window, &day) {
        day
    } else {
        window
    }
}

/// The attribute that holds a user's membership marker for organization `tenant`.
fn member_attribute(tenant: &str) -> String {
    format!("member#{tenant}")
}

fn number(value: Option<&AttributeValue>) -> Option<i64> {
    value?.as_n().ok()?.parse().ok()
}

fn utc_day(epoch_secs: u64) -> Result<time::Date, StoreError> {
    i64::try_from(epoch_secs)
        .ok()
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        .map(OffsetDateTime::date)
        .ok_or_else(|| StoreError::Other(format!("{epoch_secs} is not a time")))
}

/// The `api_requests` month items of `user_id` from `from` to `until` (one or two: a
/// block is shorter than a month).
fn month_keys(user_id: &str, from: u64, until: u64) -> Result<Vec<Key>, StoreError> {
    let mut months = vec![month_key(utc_day(from)?)];
    let last = month_key(utc_day(until)?);
    if last != months[0] {
        months.push(last);
    }
    Ok(months
        .iter()
        .map(|month| Key::usage(user_id, API_REQUESTS.key, month))
        .collect())
}
