//! Quota holds: a call under a quota first holds the most it can cost on the month item
//! its usage is counted on, with one conditional write, and settles when it ends: the
//! hold is released and what the call cost is counted, in one write. Calls in flight
//! together therefore cannot pass the quota between them.
//!
//! A condition cannot add, so the item keeps the sum the check needs: `committed` is
//! `count` plus the tokens held by calls in flight, and a hold is
//! `ADD committed :tokens` on the condition `committed <= quota - tokens`.
//!
//! A Lambda killed between its hold and its settle never releases the hold, so holds
//! expire. Time is cut into windows of [`HOLD_WINDOW_SECS`]; `held_since` is the start
//! of the window of the newest hold, and `committed_next` is `count` plus the holds of
//! that window only: what `committed` becomes once the window is over. A hold in the
//! next window moves the item on (`committed = committed_next + tokens`), which keeps
//! the previous window's holds and drops older ones; a hold after that starts again
//! from `count`. So a hold counts until the window after its own has passed: at least
//! [`HOLD_WINDOW_SECS`] and at most twice that (12 minutes) after it was made, which
//! bounds how long a crashed call keeps tokens from others.
//!
//! Writes: a hold is one when the item's window is current; the first hold of a new
//! window takes two (the first is refused by its condition, and the item it returns
//! names the write to make instead). A settle is one, two when the window moved on
//! during the call.

use aws_sdk_dynamodb::{
    operation::update_item::{UpdateItemError, builders::UpdateItemFluentBuilder},
    types::{AttributeValue, ReturnValuesOnConditionCheckFailure},
};
use time::{Date, OffsetDateTime};

use super::{MEMBER_PREFIX, Metric, UsageMeter, UsageOwner, month_key, ranking_key};
use crate::{Key, StoreError, table::Item, table::n, table::s};

/// How long a window of holds lasts. A hold must outlast its call, or a call still
/// running could lose it: the longest is `ai-stream`'s (its Lambda Timeout in
/// template.yaml, 300 s), and a minute more covers clocks and the settle's own write.
pub const HOLD_WINDOW_SECS: u64 = 360;

/// Writes a hold or a settle may take: each refused one names the next, and the window
/// moves on at most twice during one call.
const ATTEMPTS: usize = 5;

const COMMITTED: &str = "committed";
const COMMITTED_NEXT: &str = "committed_next";
const HELD_SINCE: &str = "held_since";

/// Tokens held for a call in flight, to settle when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    owner: UsageOwner,
    metric: Metric,
    /// The day the call is counted on (the one it started on).
    day: Date,
    /// The start of the window the hold was made in.
    window: u64,
    tokens: i64,
}

/// What a hold did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// The tokens are held.
    Held(Reservation),
    /// They do not fit: what is used (`used`, the month's count) and held by calls in
    /// flight, plus them, is over the quota. The item is unchanged.
    Refused { used: i64 },
}

/// The conditional write that makes a hold, by where the item's window stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// The item's window is current (or, by another instance's clock, a later one):
    /// add to it.
    Join(u64),
    /// It is the window before: move on, keeping its holds.
    MoveOn,
    /// It is older, or there is none: start again from `count`.
    Restart,
}

/// What the item a hold's condition refused says to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Try(Hold),
    Refuse { used: i64 },
}

/// Where a hold is counted when its call settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In the item's window.
    Current,
    /// In the window before the item's.
    Previous,
    /// Nowhere any more: the item moved on twice.
    Dropped,
}

/// What a conditional write did.
#[derive(Debug)]
enum Outcome {
    Applied,
    /// Refused by its condition; the item as it was then (`None`: there was none).
    Refused(Option<Item>),
}

impl UsageMeter {
    /// Holds `tokens` of `metric` for `owner` at `now` (epoch seconds), if what the
    /// month has used and holds for calls in flight leaves room for them under `quota`.
    pub async fn reserve(
        &self,
        owner: &UsageOwner,
        metric: Metric,
        tokens: u64,
        quota: u64,
        now: u64,
    ) -> Result<Reserved, StoreError> {
        let tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
        let quota = i64::try_from(quota).unwrap_or(i64::MAX);
        let day = utc_day(now)?;
        let window = now - now % HOLD_WINDOW_SECS;
        let key = Key::usage(&owner.id, metric.key, &month_key(day));
        // Most holds find the item in the current window.
        let mut next = Next::Try(Hold::Join(window));
        for _ in 0..ATTEMPTS {
            let hold = match next {
                Next::Refuse { used } => return Ok(Reserved::Refused { used }),
                Next::Try(hold) => hold,
            };
            let (expression, condition) = hold_expression(hold, window, tokens, quota);
            let update = expression
                .apply(self.update_of(&key))
                .condition_expression(condition);
            match send(update).await? {
                Outcome::Applied => {
                    let window = match hold {
                        Hold::Join(joined) => joined,
                        Hold::MoveOn | Hold::Restart => window,
                    };
                    let reservation = Reservation {
                        owner: owner.clone(),
                        metric,
                        day,
                        window,
                        tokens,
                    };
                    return Ok(Reserved::Held(reservation));
                }
                Outcome::Refused(item) => next = next_step(item.as_ref(), window, tokens, quota),
            }
        }
        match next {
            Next::Refuse { used } => Ok(Reserved::Refused { used }),
            // Worth a retry (503), not a conflict of the client's.
            Next::Try(_) => Err(StoreError::Unavailable(
                "the quota's item kept changing under the hold".into(),
            )),
        }
    }

    /// Ends `reservation`'s call: releases its hold and counts the `tokens` it cost (0:
    /// it served nothing) on its day, under `dimension`, like [`Self::add`].
    pub async fn settle(
        &self,
        reservation: &Reservation,
        tokens: i64,
        dimension: Option<&str>,
    ) -> Result<(), StoreError> {
        let month = month_key(reservation.day);
        let key = Key::usage(&reservation.owner.id, reservation.metric.key, &month);
        let mut place = Place::Current;
        for _ in 0..ATTEMPTS {
            if place == Place::Dropped && tokens == 0 {
                return Ok(());
            }
            let (mut expression, condition) = release_expression(reservation, place, tokens);
            if tokens != 0 {
                expression.count(
                    &reservation.owner,
                    reservation.metric,
                    reservation.day,
                    tokens,
                    dimension,
                );
            }
            let update = expression
                .apply(self.update_of(&key))
                .condition_expression(condition);
            match send(update).await? {
                Outcome::Applied => return Ok(()),
                Outcome::Refused(item) => place = Place::of(item.as_ref(), reservation.window),
            }
        }
        Err(StoreError::ConditionFailed)
    }

    /// Counts `amount` of `metric` like [`Self::add`], for a call that held nothing (a
    /// plan without a quota), keeping `committed` in step with `count`: a quota the
    /// owner has later in the month (a plan change) sees it. One write.
    pub async fn charge(
        &self,
        owner: &UsageOwner,
        metric: Metric,
        day: Date,
        amount: i64,
        dimension: Option<&str>,
    ) -> Result<(), StoreError> {
        let key = Key::usage(&owner.id, metric.key, &month_key(day));
        let mut expression = Expression::default();
        expression.name("#committed", COMMITTED);
        expression.name("#next", COMMITTED_NEXT);
        expression
            .add
            .extend(["#committed :amount", "#next :amount"]);
        expression.count(owner, metric, day, amount, dimension);
        expression
            .apply(self.update_of(&key))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    fn update_of(&self, key: &Key) -> UpdateItemFluentBuilder {
        self.table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(key.attributes()))
    }
}

/// The write of `hold` (of `tokens` in `window`, under `quota`) and its condition.
fn hold_expression(hold: Hold, window: u64, tokens: i64, quota: i64) -> (Expression, &'static str) {
    let mut expression = Expression::default();
    expression.name("#since", HELD_SINCE);
    expression.name("#committed", COMMITTED);
    expression.name("#next", COMMITTED_NEXT);
    expression.value(":tokens", n(tokens));
    // Negative when the tokens alone are over the quota: no item passes then.
    expression.value(":room", n(quota.saturating_sub(tokens)));
    let condition = match hold {
        Hold::Join(joined) => {
            expression.value(":window", n(joined));
            expression
                .add
                .extend(["#committed :tokens", "#next :tokens"]);
            "#since = :window AND #committed <= :room"
        }
        Hold::MoveOn | Hold::Restart => {
            expression.name("#count", "count");
            expression.value(":window", n(window));
            expression.value(":previous", n(window.saturating_sub(HOLD_WINDOW_SECS)));
            expression.value(":zero", n(0));
            // Operands read the item as it was: `#next` is the old window's sum.
            let committed = if hold == Hold::MoveOn {
                "#committed = #next + :tokens"
            } else {
                "#committed = if_not_exists(#count, :zero) + :tokens"
            };
            expression.set.extend([
                committed,
                "#next = if_not_exists(#count, :zero) + :tokens",
                "#since = :window",
            ]);
            if hold == Hold::MoveOn {
                "#since = :previous AND #next <= :room"
            } else {
                "(attribute_not_exists(#since) OR #since < :previous) \
                 AND (attribute_not_exists(#count) OR #count <= :room)"
            }
        }
    };
    (expression, condition)
}

/// The write that releases `reservation`'s hold from `place`, adding the `tokens` it
/// cost to the sums (the caller adds the count itself), and its condition.
fn release_expression(
    reservation: &Reservation,
    place: Place,
    tokens: i64,
) -> (Expression, &'static str) {
    let mut expression = Expression::default();
    expression.name("#since", HELD_SINCE);
    expression.name("#committed", COMMITTED);
    let next_window = reservation.window + HOLD_WINDOW_SECS;
    let change = tokens.saturating_sub(reservation.tokens);
    match place {
        Place::Current => {
            expression.name("#next", COMMITTED_NEXT);
            expression.value(":window", n(reservation.window));
            expression.value(":change", n(change));
            expression
                .add
                .extend(["#committed :change", "#next :change"]);
            (expression, "#since = :window")
        }
        Place::Previous => {
            expression.value(":next_window", n(next_window));
            expression.value(":change", n(change));
            expression.add.push("#committed :change");
            // `committed_next` never held it; it only gains the count.
            if tokens != 0 {
                expression.name("#next", COMMITTED_NEXT);
                expression.add.push("#next :amount");
            }
            (expression, "#since = :next_window")
        }
        Place::Dropped => {
            expression.name("#next", COMMITTED_NEXT);
            expression.value(":window", n(reservation.window));
            expression.value(":next_window", n(next_window));
            expression
                .add
                .extend(["#committed :amount", "#next :amount"]);
            (
                expression,
                "attribute_not_exists(#since) OR #since < :window OR #since > :next_window",
            )
        }
    }
}

/// What to try after a hold's condition refused it, from the `item` it saw.
fn next_step(item: Option<&Item>, window: u64, tokens: i64, quota: i64) -> Next {
    let get = |name: &str| item.and_then(|i| number(i.get(name)));
    let used = get("count").unwrap_or(0);
    let since = get(HELD_SINCE).and_then(|since| u64::try_from(since).ok());
    let (hold, committed) = match since {
        Some(since) if since >= window => (Hold::Join(since), get(COMMITTED).unwrap_or(used)),
        Some(since) if Some(since) == window.checked_sub(HOLD_WINDOW_SECS) => {
            (Hold::MoveOn, get(COMMITTED_NEXT).unwrap_or(used))
        }
        _ => (Hold::Restart, used),
    };
    if committed.saturating_add(tokens) > quota {
        Next::Refuse { used }
    } else {
        Next::Try(hold)
    }
}

impl Place {
    /// Where a hold made in `window` is counted in `item`.
    fn of(item: Option<&Item>, window: u64) -> Self {
        let since = item
            .and_then(|i| number(i.get(HELD_SINCE)))
            .and_then(|since| u64::try_from(since).ok());
        match since {
            Some(since) if since == window => Place::Current,
            Some(since) if since == window + HOLD_WINDOW_SECS => Place::Previous,
            _ => Place::Dropped,
        }
    }
}

/// An update being put together: its clauses, and the names and values they use
/// (DynamoDB refuses a name or a value no clause uses).
#[derive(Debug, Default)]
struct Expression {
    set: Vec<&'static str>,
    add: Vec<&'static str>,
    names: Vec<(&'static str, String)>,
    values: Vec<(&'static str, AttributeValue)>,
}

impl Expression {
    fn name(&mut self, placeholder: &'static str, attribute: impl Into<String>) {
        self.names.push((placeholder, attribute.into()));
    }

    fn value(&mut self, placeholder: &'static str, value: AttributeValue) {
        self.values.push((placeholder, value));
    }

    /// Counts `amount` (as `:amount`) the way [`UsageMeter::add`] does: the month total,
    /// the day, the dimension, and a user's place in the ranking or a member's share
    /// of an organization's.
    fn count(
        &mut self,
        owner: &UsageOwner,
        metric: Metric,
        day: Date,
        amount: i64,
        dimension: Option<&str>,
    ) {
        self.name("#count", "count");
        self.name("#day", format!("d{:02}", day.day()));
        self.value(":amount", n(amount));
        self.add.extend(["#count :amount", "#day :amount"]);
        if let Some(dimension) = dimension {
            self.name("#by", format!("by#{dimension}"));
            self.add.push("#by :amount");
        }
        match &owner.member {
            // Users are ranked against each other; an organization is not a user.
            None => {
                self.value(":rank", s(ranking_key(metric, &month_key(day), &owner.id)));
                self.set.push("rank_pk = :rank");
            }
            Some(member) => {
                self.name("#member", format!("{MEMBER_PREFIX}{member}"));
                self.add.push("#member :amount");
            }
        }
    }

    fn apply(self, update: UpdateItemFluentBuilder) -> UpdateItemFluentBuilder {
        let mut clauses = Vec::new();
        if !self.set.is_empty() {
            clauses.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.add.is_empty() {
            clauses.push(format!("ADD {}", self.add.join(", ")));
        }
        let mut update = update.update_expression(clauses.join(" "));
        for (placeholder, attribute) in self.names {
            update = update.expression_attribute_names(placeholder, attribute);
        }
        for (placeholder, value) in self.values {
            update = update.expression_attribute_values(placeholder, value);
        }
        update
    }
}

/// Sends a conditional write; a refusal comes back with the item it saw.
async fn send(update: UpdateItemFluentBuilder) -> Result<Outcome, StoreError> {
    let update = update
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    match update.send().await {
        Ok(_) => Ok(Outcome::Applied),
        Err(e) => match e.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(refused)) => {
                Ok(Outcome::Refused(refused.item().cloned()))
            }
            _ => Err(StoreError::from_sdk(e)),
        },
    }
}

fn number(value: Option<&AttributeValue>) -> Option<i64> {
    value?.as_n().ok()?.parse().ok()
}

fn utc_day(epoch_secs: u64) -> Result<Date, StoreError> {
    i64::try_from(epoch_secs)
        .ok()
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        .map(OffsetDateTime::date)
        .ok_or_else(|| StoreError::Other(format!("{epoch_secs} is not a time")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, i64)]) -> Item {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), n(value)))
            .collect()
    }

    const W: u64 = HOLD_WINDOW_SECS;

    #[test]
    fn a_hold_joins_the_current_window_while_it_fits() {
        let current = item(&[("count", 50), (HELD_SINCE, 10 * W as i64), (COMMITTED, 80)]);
        assert_eq!(
            next_step(Some(&current), 10 * W, 20, 100),
            Next::Try(Hold::Join(10 * W))
        );
        assert_eq!(
            next_step(Some(&current), 10 * W, 21, 100),
            Next::Refuse { used: 50 }
        );
    }

    #[test]
    fn the_next_window_keeps_the_holds_of_the_one_before_and_drops_older_ones() {
        let previous = item(&[
            ("count", 50),
            (HELD_SINCE, 9 * W as i64),
            (COMMITTED, 95),
            (COMMITTED_NEXT, 70),
        ]);
        assert_eq!(
            next_step(Some(&previous), 10 * W, 30, 100),
            Next::Try(Hold::MoveOn)
        );
        assert_eq!(
            next_step(Some(&previous), 10 * W, 31, 100),
            Next::Refuse { used: 50 }
        );
        assert_eq!(
            next_step(Some(&previous), 11 * W, 50, 100),
            Next::Try(Hold::Restart),
            "two windows on, only the count is left"
        );
        assert_eq!(next_step(None, 11 * W, 100, 100), Next::Try(Hold::Restart));
        assert_eq!(next_step(None, 11 * W, 101, 100), Next::Refuse { used: 0 });
    }

    #[test]
    fn a_settle_finds_its_hold_by_how_far_the_window_moved() {
        let at = |since: u64| item(&[(HELD_SINCE, since as i64)]);
        assert_eq!(Place::of(Some(&at(4 * W)), 4 * W), Place::Current);
        assert_eq!(Place::of(Some(&at(5 * W)), 4 * W), Place::Previous);
        assert_eq!(Place::of(Some(&at(6 * W)), 4 * W), Place::Dropped);
        assert_eq!(Place::of(None, 4 * W), Place::Dropped);
    }
}
