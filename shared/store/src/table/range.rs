//! Lists read in key order: one partition (of the table or an index) read a bounded
//! number of items at a time, several partitions merged, and the page a request asks
//! for cut from what was read. A page never reads more than it needs (`skip + limit + 1`
//! items, the one extra telling whether another page follows) or, whatever the
//! partition's size, more than [`MAX_EXAMINED`] items.

use aloft_core::{MAX_EXAMINED, PageRequest, Position, Slice};

use crate::{
    StoreError, Table,
    table::{Item, from_item, s},
};

/// A partition of the table or of an index, in the order a list shows it.
#[derive(Debug, Clone)]
pub(crate) struct Range {
    index: Option<&'static str>,
    partition: String,
    descending: bool,
}

impl Range {
    /// The table's partition `pk`, in ascending sort-key order.
    pub(crate) fn table(partition: impl Into<String>) -> Self {
        Self {
            index: None,
            partition: partition.into(),
            descending: false,
        }
    }

    /// Partition `pk` of the global secondary index `index` (`gsi1`, `gsi2`).
    pub(crate) fn index(index: &'static str, partition: impl Into<String>) -> Self {
        Self {
            index: Some(index),
            ..Self::table(partition)
        }
    }

    /// Highest sort key first (newest first, for time-ordered keys).
    pub(crate) fn descending(self, descending: bool) -> Self {
        Self { descending, ..self }
    }

    fn key_names(&self) -> (String, String) {
        match self.index {
            Some(index) => (format!("{index}pk"), format!("{index}sk")),
            None => ("pk".to_owned(), "sk".to_owned()),
        }
    }

    /// `a` comes before `b` in this range's order.
    fn before(&self, a: &str, b: &str) -> bool {
        if self.descending { a > b } else { a < b }
    }
}

/// What one bounded read of a [`Range`] found.
#[derive(Debug, Default)]
pub(crate) struct Run {
    /// The items `keep` accepted, in order, with their sort keys.
    items: Vec<(String, Item)>,
    /// The sort key of the last item examined, kept or not.
    last: Option<String>,
    /// The read reached the range's end.
    complete: bool,
}

impl Table {
    /// Reads `range` from just after `after` (or its start), in its order, until `want`
    /// items pass `keep`, `budget` items have been examined, or the range ends. Each
    /// Query asks for no more than that (`Limit`), so the read costs what it examines.
    pub(crate) async fn read_range(
        &self,
        range: &Range,
        after: Option<&str>,
        want: usize,
        budget: usize,
        keep: impl Fn(&Item) -> bool,
    ) -> Result<Run, StoreError> {
        let (pk, sk) = range.key_names();
        let mut condition = String::from("#pk = :pk");
        if after.is_some() {
            condition.push_str(if range.descending {
                " AND #sk < :after"
            } else {
                " AND #sk > :after"
            });
        }
        let mut run = Run::default();
        let mut examined = 0;
        let mut start = None;
        loop {
            let limit = want.saturating_sub(run.items.len()).min(budget - examined);
            if limit == 0 {
                return Ok(run);
            }
            let mut query = self
                .client()
                .query()
                .table_name(self.name())
                .set_index_name(range.index.map(str::to_owned))
                .key_condition_expression(&condition)
                .expression_attribute_names("#pk", &pk)
                .expression_attribute_values(":pk", s(&range.partition))
                .scan_index_forward(!range.descending)
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            if let Some(after) = after {
                query = query
                    .expression_attribute_names("#sk", &sk)
                    .expression_attribute_values(":after", s(after));
            }
            let page = query.send().await.map_err(StoreError::from_sdk)?;
            for item in page.items.unwrap_or_default() {
                examined += 1;
                let key = sort_key(&item, &sk)?;
                run.last = Some(key.clone());
                if keep(&item) {
                    run.items.push((key, item));
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                run.complete = true;
                return Ok(run);
            }
        }
    }

    /// How many items `range` holds, counting at most `budget` (`Select=COUNT`: the
    /// items are read, and paid for, but not sent). `(count, exact)`.
    pub(crate) async fn count_range(
        &self,
        range: &Range,
        budget: usize,
    ) -> Result<(u64, bool), StoreError> {
        let (pk, _) = range.key_names();
        let mut counted = 0;
        let mut start = None;
        loop {
            // One more than the budget tells "exactly the budget" from "more".
            let limit = (budget + 1 - counted).max(1);
            let page = self
                .client()
                .query()
                .table_name(self.name())
                .set_index_name(range.index.map(str::to_owned))
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", &pk)
                .expression_attribute_values(":pk", s(&range.partition))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            counted += usize::try_from(page.count).unwrap_or(0);
            if counted > budget {
                return Ok((budget as u64, false));
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok((counted as u64, true));
            }
        }
    }

    /// The number at `attribute` of the item at `key` (a counter), 0 when there is none.
    pub(crate) async fn counter(
        &self,
        key: &crate::Key,
        attribute: &str,
    ) -> Result<u64, StoreError> {
        let output = self
            .client()
            .get_item()
            .table_name(self.name())
            .set_key(Some(key.attributes()))
            .projection_expression("#count")
            .expression_attribute_names("#count", attribute)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let count = output
            .item
            .and_then(|item| item.get(attribute)?.as_n().ok()?.parse::<i64>().ok());
        // A count below zero would be a bug elsewhere; a list cannot be shorter than empty.
        Ok(count.map_or(0, |c| u64::try_from(c).unwrap_or(0)))
    }
}

fn sort_key(item: &Item, name: &str) -> Result<String, StoreError> {
    item.get(name)
        .and_then(|value| value.as_s().ok())
        .cloned()
        .ok_or_else(|| StoreError::Other(format!("a listed item has no string {name}")))
}

/// Runs of one or more ranges in one order, merged: the items known to be in order, with
/// nothing missing between them.
#[derive(Debug)]
pub(crate) struct Merged {
    /// The items, in order, from the start (or the cursor) on.
    pub(crate) items: Vec<(String, Item)>,
    /// Where what is known ends, when a read stopped at its budget before the range's
    /// end: items past it were not examined.
    pub(crate) horizon: Option<String>,
}

impl Merged {
    /// Merges `runs`, each read of one range in `order` with the same `want`. The merged
    /// first `want` items are exact (each run holds its own first `want`); a run cut by
    /// its budget vouches only for what lies before its last examined key.
    pub(crate) fn of(runs: Vec<Run>, order: &Range, want: usize) -> Self {
        let mut horizon: Option<String> = None;
        for run in &runs {
            let cut_short = !run.complete && run.items.len() < want;
            if let Some(last) = run.last.as_ref().filter(|_| cut_short)
                && horizon.as_deref().is_none_or(|h| order.before(last, h))
            {
                horizon = Some(last.clone());
            }
        }
        let mut items: Vec<(String, Item)> = runs.into_iter().flat_map(|r| r.items).collect();
        items.sort_by(
            |(a, _), (b, _)| {
                if order.descending { b.cmp(a) } else { a.cmp(b) }
            },
        );
        items.truncate(want);
        if let Some(h) = &horizon {
            items.retain(|(key, _)| !order.before(h, key));
        }
        Self { items, horizon }
    }

    /// The page `request` asks for: `(items, next, truncated)`.
    pub(crate) fn page<T: serde::de::DeserializeOwned>(
        self,
        request: &PageRequest,
    ) -> Result<Cut<T>, StoreError> {
        let skip = request.skip as usize;
        let limit = request.limit as usize;
        let found = self.items.len();
        let more_known = found > skip + limit;
        let reachable = skip <= found;
        let cut_short = self.horizon.is_some();
        let page: Vec<(String, Item)> = self.items.into_iter().skip(skip).take(limit).collect();
        let next = if more_known {
            page.last().map(|(key, _)| Position::After(key.clone()))
        } else if reachable {
            self.horizon.map(Position::After)
        } else {
            None
        };
        let truncated = cut_short && page.len() < limit;
        let items = page
            .into_iter()
            .map(|(_, item)| from_item(item))
            .collect::<Result<_, _>>()?;
        Ok(Cut {
            items,
            next,
            truncated,
            found,
        })
    }
}

/// A page cut from a [`Merged`] read.
#[derive(Debug)]
pub(crate) struct Cut<T> {
    pub(crate) items: Vec<T>,
    pub(crate) next: Option<Position>,
    pub(crate) truncated: bool,
    /// Items known (from the start or the cursor) when the read stopped.
    pub(crate) found: usize,
}

impl Table {
    /// One page of `range` as `request` asks for it, reading at most `skip + limit + 1`
    /// items that pass `keep` and at most [`MAX_EXAMINED`] in all.
    pub(crate) async fn page<T: serde::de::DeserializeOwned>(
        &self,
        range: &Range,
        request: &PageRequest,
        keep: impl Fn(&Item) -> bool,
    ) -> Result<Cut<T>, StoreError> {
        let want = request.wanted();
        let run = self
            .read_range(range, request.after.as_deref(), want, MAX_EXAMINED, keep)
            .await?;
        Merged::of(vec![run], range, want).page(request)
    }

    /// [`Self::page`], with the total from the counter `attribute` of the item at
    /// `count` (read at the same time): exact, without counting items.
    pub(crate) async fn counted_page<T: serde::de::DeserializeOwned>(
        &self,
        range: &Range,
        request: &PageRequest,
        keep: impl Fn(&Item) -> bool,
        count: &crate::Key,
        attribute: &str,
    ) -> Result<Slice<T>, StoreError> {
        let (cut, total) = tokio::join!(
            self.page(range, request, keep),
            self.counter(count, attribute)
        );
        let cut: Cut<T> = cut?;
        Ok(Slice {
            items: cut.items,
            next: cut.next,
            total: total?,
            total_exact: true,
            truncated: cut.truncated,
        })
    }

    /// A page of the items of `range` that `keep` accepts, looked for in at most
    /// [`MAX_EXAMINED`] items from the cursor on; the total is the matches found, exact
    /// only when that read started at the beginning and reached the end.
    pub(crate) async fn searched_page<T: serde::de::DeserializeOwned>(
        &self,
        range: &Range,
        request: &PageRequest,
        keep: impl Fn(&Item) -> bool,
    ) -> Result<Slice<T>, StoreError> {
        let after = request.after.as_deref();
        let run = self
            .read_range(range, after, usize::MAX, MAX_EXAMINED, keep)
            .await?;
        let merged = Merged::of(vec![run], range, usize::MAX);
        let total_exact = merged.horizon.is_none() && after.is_none();
        let cut = merged.page(request)?;
        Ok(Slice {
            items: cut.items,
            next: cut.next,
            total: cut.found as u64,
            total_exact,
            truncated: cut.truncated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str) -> Item {
        Item::from([("sk".to_owned(), s(key)), ("id".to_owned(), s(key))])
    }

    /// A run that kept `keys` and stopped after examining `last`.
    fn run(keys: &[&str], last: Option<&str>, complete: bool) -> Run {
        Run {
            items: keys.iter().map(|k| ((*k).to_owned(), item(k))).collect(),
            last: last.map(str::to_owned),
            complete,
        }
    }

    fn request(skip: u32, limit: u32) -> PageRequest {
        aloft_core::PageParams {
            skip,
            limit,
            cursor: None,
        }
        .parse("test")
        .unwrap()
    }

    #[derive(Debug, serde::Deserialize)]
    struct Row {
        id: String,
    }

    fn ids(cut: &Cut<Row>) -> Vec<&str> {
        cut.items.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn a_full_page_continues_after_its_last_item() {
        let newest = Range::table("p").descending(true);
        let read = run(&["9", "8", "7"], Some("7"), false);
        let cut: Cut<Row> = Merged::of(vec![read], &newest, 3)
            .page(&request(0, 2))
            .unwrap();
        assert_eq!(ids(&cut), ["9", "8"]);
        assert_eq!(cut.next, Some(Position::After("8".into())));
        assert!(!cut.truncated);
    }

    #[test]
    fn the_last_page_has_no_next() {
        let newest = Range::table("p").descending(true);
        let read = run(&["2", "1"], Some("1"), true);
        let cut: Cut<Row> = Merged::of(vec![read], &newest, 3)
            .page(&request(0, 2))
            .unwrap();
        assert_eq!(ids(&cut), ["2", "1"]);
        assert_eq!(cut.next, None);
    }

    #[test]
    fn a_read_cut_by_its_budget_is_truncated_and_continues_where_it_stopped() {
        let newest = Range::table("p").descending(true);
        // Examined 9..5, kept only 9 (a filter), then ran out of budget.
        let read = run(&["9"], Some("5"), false);
        let cut: Cut<Row> = Merged::of(vec![read], &newest, 3)
            .page(&request(0, 2))
            .unwrap();
        assert_eq!(ids(&cut), ["9"]);
        assert_eq!(cut.next, Some(Position::After("5".into())));
        assert!(cut.truncated);
    }

    #[test]
    fn a_skip_past_what_was_examined_is_truncated_with_no_next() {
        let newest = Range::table("p").descending(true);
        let read = run(&["9", "8"], Some("8"), false);
        let cut: Cut<Row> = Merged::of(vec![read], &newest, 1_000)
            .page(&request(5, 2))
            .unwrap();
        assert!(cut.items.is_empty());
        assert_eq!(cut.next, None);
        assert!(cut.truncated);
    }

    #[test]
    fn merged_runs_interleave_and_stop_at_the_shortest_horizon() {
        let newest = Range::table("p").descending(true);
        let complete = run(&["8", "4", "2"], Some("2"), true);
        // Stopped by its budget at 6: nothing below 6 is known from it.
        let cut_short = run(&["9", "7"], Some("6"), false);
        let merged = Merged::of(vec![complete, cut_short], &newest, 10);
        assert_eq!(merged.horizon.as_deref(), Some("6"));
        let cut: Cut<Row> = merged.page(&request(0, 10)).unwrap();
        assert_eq!(ids(&cut), ["9", "8", "7"]);
        assert_eq!(cut.next, Some(Position::After("6".into())));
        assert!(cut.truncated);
    }

    #[test]
    fn merged_runs_that_filled_the_page_are_exact() {
        let oldest = Range::table("p");
        let a = run(&["1", "4", "5"], Some("5"), false);
        let b = run(&["2", "3", "6"], Some("6"), false);
        let cut: Cut<Row> = Merged::of(vec![a, b], &oldest, 3)
            .page(&request(0, 2))
            .unwrap();
        assert_eq!(ids(&cut), ["1", "2"]);
        assert_eq!(cut.next, Some(Position::After("2".into())));
        assert!(!cut.truncated);
    }
}
