//! Prefix search of the admin lists: users by email and name, organizations by name,
//! without reading a whole list.
//!
//! An owner (a user, an organization) keeps one small entry item per term beside its own
//! item, in its own partition, each listed in `gsi2`:
//!
//! | item | pk | sk | gsi2 |
//! |---|---|---|---|
//! | a search entry | `USER#<id>` or `ORG#<tenant>` | `SEARCH#<slot>` | `<KIND>_SEARCH#<first 2 characters>` / `<term>#<id>` |
//!
//! A term is lower-cased with its words separated by one space: a user's email (slot 0),
//! and their name from each of its first [`NAME_WORDS`] words on (`ann marie smith`,
//! `marie smith`, `smith`); an organization's name the same way (slots from 0). Entries
//! are written in the transaction that creates their owner or changes its terms, slot by
//! slot, so they always match the owner's item.
//!
//! A search of two characters or more is then one Query of one `gsi2` partition
//! (`begins_with`, `Limit` = what the page needs) and one BatchGetItem of the owners it
//! names, whatever the number of owners. Each owner is shown once, by the first of its
//! entries that matches. Other searches are the caller's to answer by examining the list
//! (bounded, and said so): a one-character term, and a term no entry begins with.

use std::collections::{HashMap, HashSet};

use aloft_core::{MAX_EXAMINED, PageRequest, Position, Slice};
use aws_sdk_dynamodb::{
    operation::update_item::builders::UpdateItemFluentBuilder,
    types::{Put, TransactWriteItem, Update},
};
use serde::de::DeserializeOwned;

use crate::{
    Key, StoreError, Table,
    table::{Item, Merged, from_item, s},
};

/// Words of a name a search may start at: `Ann Marie Smith` is found by `ann`, `marie`
/// and `smith`; a fifth word only as part of the fourth.
pub(crate) const NAME_WORDS: usize = 4;

/// Characters of a term (and of a search) that are compared: an index key stays well
/// under DynamoDB's 1 KB for any name or email.
const TERM_CHARS: usize = 100;

/// Characters of a term that name its partition, and the shortest search the index
/// answers.
const PARTITION_CHARS: usize = 2;

/// Marks a cursor of a prefix search. The list a search falls back to has cursors that
/// are timestamps, so the two never mix.
const CURSOR_MARK: &str = "prefix:";

/// An owner of search entries.
pub(crate) trait Searchable: DeserializeOwned {
    /// Its id, as its entries' keys name it.
    fn id(&self) -> &str;
    /// Its terms slot by slot, normalized ([`normalize`]); `None` where a slot has no
    /// entry. Always as many slots for one kind of owner.
    fn terms(&self) -> Vec<Option<String>>;
}

/// Lower-cased, words separated by one space: how terms are stored and searched.
pub(crate) fn normalize(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A name's terms: the name from each of its first [`NAME_WORDS`] words on.
pub(crate) fn name_terms(name: Option<&str>) -> Vec<Option<String>> {
    let normalized = name.map(normalize).unwrap_or_default();
    let words: Vec<&str> = normalized.split(' ').filter(|w| !w.is_empty()).collect();
    (0..NAME_WORDS)
        .map(|start| words.get(start..).filter(|rest| !rest.is_empty()))
        .map(|rest| rest.map(|rest| rest.join(" ")))
        .collect()
}

/// `text` cut to [`TERM_CHARS`] characters.
fn cut(text: &str) -> &str {
    text.char_indices()
        .nth(TERM_CHARS)
        .map_or(text, |(end, _)| &text[..end])
}

/// The entries of one kind of owner.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SearchIndex {
    /// Names the index partitions: `USER`, `ORG`.
    kind: &'static str,
    /// The owner's partition key before its id: `USER#`, `ORG#`.
    owner_prefix: &'static str,
    /// The sort key of the owner's own item: `PROFILE`, `ORG`.
    owner_sort: &'static str,
}

impl SearchIndex {
    pub(crate) const fn new(
        kind: &'static str,
        owner_prefix: &'static str,
        owner_sort: &'static str,
    ) -> Self {
        Self {
            kind,
            owner_prefix,
            owner_sort,
        }
    }

    fn owner_key(&self, id: &str) -> Key {
        Key {
            pk: format!("{}{id}", self.owner_prefix),
            sk: self.owner_sort.to_owned(),
        }
    }

    fn entry_key(&self, id: &str, slot: usize) -> Key {
        Key {
            pk: format!("{}{id}", self.owner_prefix),
            sk: format!("SEARCH#{slot}"),
        }
    }

    /// The partition of the terms that begin with `prefix` (cut, two characters or more).
    fn partition(&self, prefix: &str) -> String {
        let start: String = prefix.chars().take(PARTITION_CHARS).collect();
        format!("{}_SEARCH#{start}", self.kind)
    }

    /// `(gsi2pk, gsi2sk)` of owner `id`'s entry for `term`.
    fn index_keys(&self, id: &str, term: &str) -> (String, String) {
        let term = cut(term);
        (self.partition(term), format!("{term}#{id}"))
    }

    /// Every entry key an owner of `slots` slots can have: to delete with it.
    pub(crate) fn keys(&self, id: &str, slots: usize) -> Vec<Key> {
        (0..slots).map(|slot| self.entry_key(id, slot)).collect()
    }

    /// The entry items of a new owner `id` with `terms`.
    pub(crate) fn items(&self, id: &str, terms: &[Option<String>]) -> Vec<Item> {
        let entries = terms.iter().enumerate();
        entries
            .filter_map(|(slot, term)| Some((slot, term.as_deref()?)))
            .map(|(slot, term)| {
                let (pk, sk) = self.index_keys(id, term);
                let mut item = self.entry_key(id, slot).attributes();
                item.extend([("gsi2pk".to_owned(), s(pk)), ("gsi2sk".to_owned(), s(sk))]);
                item
            })
            .collect()
    }

    /// [`Self::items`] as writes of the transaction that creates the owner.
    pub(crate) fn puts(
        &self,
        table: &Table,
        id: &str,
        terms: &[Option<String>],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        self.items(id, terms)
            .into_iter()
            .map(|item| {
                let put = Put::builder()
                    .table_name(table.name())
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| StoreError::Other(e.to_string()))?;
                Ok(TransactWriteItem::builder().put(put).build())
            })
            .collect()
    }

    /// The writes that move owner `id`'s entries from the terms `before` to `after`: one
    /// per slot that changes. An emptied slot keeps its (bare) item and leaves the index:
    /// the functions that rename hold `UpdateItem` on their owners' partitions, not
    /// `DeleteItem`.
    pub(crate) fn changes(
        &self,
        table: &Table,
        id: &str,
        before: &[Option<String>],
        after: &[Option<String>],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let slots = before.len().max(after.len());
        let term = |terms: &[Option<String>], slot: usize| {
            let term = terms.get(slot).cloned().flatten()?;
            Some(self.index_keys(id, &term))
        };
        let mut writes = Vec::new();
        for slot in 0..slots {
            let (old, new) = (term(before, slot), term(after, slot));
            if old == new {
                continue;
            }
            let update = Update::builder()
                .table_name(table.name())
                .set_key(Some(self.entry_key(id, slot).attributes()));
            let update = match new {
                Some((pk, sk)) => update
                    .update_expression("SET gsi2pk = :pk, gsi2sk = :sk")
                    .expression_attribute_values(":pk", s(pk))
                    .expression_attribute_values(":sk", s(sk)),
                None => update.update_expression("REMOVE gsi2pk, gsi2sk"),
            };
            let update = update
                .build()
                .map_err(|e| StoreError::Other(e.to_string()))?;
            writes.push(TransactWriteItem::builder().update(update).build());
        }
        Ok(writes)
    }
}

/// `request` (an update of an owner) as one write of a transaction, its condition also
/// requiring each `(attribute, value)` of `unchanged` to hold that value still (`None`:
/// absent): the terms a rename replaces are then the ones its entries hold.
pub(crate) fn guarded(
    request: &UpdateItemFluentBuilder,
    unchanged: &[(&str, Option<&str>)],
) -> Result<TransactWriteItem, StoreError> {
    let input = request.as_input();
    let mut clauses: Vec<String> = input
        .get_condition_expression()
        .iter()
        .map(|condition| format!("({condition})"))
        .collect();
    let mut update = Update::builder()
        .set_table_name(input.get_table_name().clone())
        .set_key(input.get_key().clone())
        .set_update_expression(input.get_update_expression().clone())
        .set_expression_attribute_names(input.get_expression_attribute_names().clone())
        .set_expression_attribute_values(input.get_expression_attribute_values().clone());
    for (i, (attribute, value)) in unchanged.iter().enumerate() {
        let name = format!("#unchanged{i}");
        update = update.expression_attribute_names(&name, *attribute);
        match value {
            Some(value) => {
                let placeholder = format!(":unchanged{i}");
                clauses.push(format!("{name} = {placeholder}"));
                update = update.expression_attribute_values(placeholder, s(*value));
            }
            None => clauses.push(format!("attribute_not_exists({name})")),
        }
    }
    let update = update
        .condition_expression(clauses.join(" AND "))
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// What one search read found.
#[derive(Debug, Default)]
struct Found {
    /// The owners shown, in entry order, with their entries' sort keys.
    items: Vec<(String, Item)>,
    /// The sort key of the last entry examined.
    last: Option<String>,
    /// Entries examined (that begin with the search).
    examined: usize,
    /// The read reached the last entry that begins with the search.
    complete: bool,
}

impl SearchIndex {
    /// One page of the owners with a term that begins with `search`, of those `keep`
    /// accepts, in term order. `None` when the index does not answer it: a search of
    /// fewer than two characters, a cursor of the fallback list, or a first page that
    /// found no entry at all (no term begins with it). `total` counts the matches read
    /// (at most `skip + limit + 1`) and is exact when the read reached the last one from
    /// the start. With `keep` refusing owners, at most [`MAX_EXAMINED`] entries are
    /// examined, as the other bounded lists (`truncated`).
    pub(crate) async fn page<T: Searchable>(
        &self,
        table: &Table,
        request: &PageRequest,
        search: &str,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Option<Slice<T>>, StoreError> {
        let normalized = normalize(search);
        let prefix = cut(&normalized);
        if prefix.chars().count() < PARTITION_CHARS {
            return Ok(None);
        }
        let after = match request.after.as_deref() {
            None => None,
            Some(position) => match position.strip_prefix(CURSOR_MARK) {
                Some(after) => Some(after),
                None => return Ok(None),
            },
        };
        let found = self
            .read(table, prefix, after, request.wanted(), keep)
            .await?;
        if after.is_none() && found.examined == 0 {
            return Ok(None);
        }
        let want = request.wanted();
        let cut_short = !found.complete && found.items.len() < want;
        let total_exact = found.complete && after.is_none();
        let merged = Merged {
            items: found.items,
            horizon: found.last.filter(|_| cut_short),
        };
        let chosen = merged.page::<T>(request)?;
        Ok(Some(Slice {
            items: chosen.items,
            next: chosen.next.map(|next| match next {
                Position::After(key) => Position::After(format!("{CURSOR_MARK}{key}")),
                offset @ Position::Offset(_) => offset,
            }),
            total: chosen.found as u64,
            total_exact,
            truncated: chosen.truncated,
        }))
    }

    /// Reads the entries that begin with `prefix` from just after `after` (or the first)
    /// until `want` owners are kept, [`MAX_EXAMINED`] entries are examined, or none is
    /// left; each Query asks for no more than that.
    async fn read<T: Searchable>(
        &self,
        table: &Table,
        prefix: &str,
        after: Option<&str>,
        want: usize,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Found, StoreError> {
        // Past a cursor the Query cannot also say `begins_with`: it reads on, and the
        // first entry that does not begin with the search ends the read.
        let condition = if after.is_some() {
            "gsi2pk = :pk AND gsi2sk > :from"
        } else {
            "gsi2pk = :pk AND begins_with(gsi2sk, :from)"
        };
        let mut found = Found::default();
        let mut shown = HashSet::new();
        let mut start = None;
        loop {
            let limit = want
                .saturating_sub(found.items.len())
                .min(MAX_EXAMINED - found.examined);
            if limit == 0 {
                return Ok(found);
            }
            let page = table
                .client()
                .query()
                .table_name(table.name())
                .index_name("gsi2")
                .key_condition_expression(condition)
                .expression_attribute_values(":pk", s(self.partition(prefix)))
                .expression_attribute_values(":from", s(after.unwrap_or(prefix)))
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            let mut entries = Vec::new();
            for item in page.items.unwrap_or_default() {
                let Some(sort) = text(&item, "gsi2sk") else {
                    continue;
                };
                if !sort.starts_with(prefix) {
                    found.complete = true;
                    break;
                }
                found.examined += 1;
                found.last = Some(sort.to_owned());
                if let Some(id) =
                    text(&item, "pk").and_then(|pk| pk.strip_prefix(self.owner_prefix))
                {
                    entries.push((sort.to_owned(), id.to_owned()));
                }
            }
            let owners = self.owners(table, &entries).await?;
            for (sort, id) in entries {
                let Some(item) = owners.get(&id) else {
                    continue;
                };
                let Ok(owner) = from_item::<T>(item.clone()) else {
                    continue;
                };
                let shown_by = self.first_match(&owner, prefix);
                if shown_by.as_deref() == Some(sort.as_str())
                    && keep(&owner)
                    && shown.insert(sort.clone())
                {
                    found.items.push((sort, item.clone()));
                }
            }
            start = page.last_evaluated_key;
            if found.complete || start.is_none() {
                found.complete = true;
                return Ok(found);
            }
        }
    }

    /// The owners the entries name, by id: one BatchGetItem per 100.
    async fn owners(
        &self,
        table: &Table,
        entries: &[(String, String)],
    ) -> Result<HashMap<String, Item>, StoreError> {
        let keys: Vec<Key> = entries.iter().map(|(_, id)| self.owner_key(id)).collect();
        let items = table.batch_get(&keys).await?;
        Ok(items
            .into_iter()
            .filter_map(|item| {
                let id = text(&item, "pk")?
                    .strip_prefix(self.owner_prefix)?
                    .to_owned();
                Some((id, item))
            })
            .collect())
    }

    /// The sort key of the owner's first entry that begins with `prefix`, as its terms
    /// are now: the one entry it is shown by. An entry the owner's terms no longer give
    /// (none, while its transaction holds) is never it.
    fn first_match<T: Searchable>(&self, owner: &T, prefix: &str) -> Option<String> {
        owner
            .terms()
            .iter()
            .flatten()
            .map(|term| self.index_keys(owner.id(), term).1)
            .filter(|sort| sort.starts_with(prefix))
            .min()
    }
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_found_from_each_of_its_first_words() {
        assert_eq!(
            name_terms(Some("  Ann  Marie SMITH ")),
            [
                Some("ann marie smith".to_owned()),
                Some("marie smith".to_owned()),
                Some("smith".to_owned()),
                None,
            ]
        );
        let nothing: Vec<Option<String>> = vec![None; NAME_WORDS];
        assert_eq!(name_terms(None), nothing);
        assert_eq!(name_terms(Some("   ")), nothing);
        let long = name_terms(Some("a b c d e"));
        assert_eq!(long[3].as_deref(), Some("d e"));
    }

    #[test]
    fn long_terms_are_cut_at_a_character_boundary() {
        let name = "é".repeat(150);
        assert_eq!(cut(&name).chars().count(), TERM_CHARS);
        assert_eq!(cut("short"), "short");
    }

    #[test]
    fn entries_are_partitioned_by_their_first_two_characters() {
        let users = SearchIndex::new("USER", "USER#", "PROFILE");
        let (pk, sk) = users.index_keys("u1", "ann@example.com");
        assert_eq!(pk, "USER_SEARCH#an");
        assert_eq!(sk, "ann@example.com#u1");
        let items = users.items(
            "u1",
            &[Some("ann@example.com".into()), None, Some("x".into())],
        );
        assert_eq!(items.len(), 2);
        assert_eq!(items[1]["sk"].as_s().unwrap(), "SEARCH#2");
        assert_eq!(items[1]["gsi2pk"].as_s().unwrap(), "USER_SEARCH#x");
    }
}
