//! The audit log: append-only entries of who did what to which resource.
//!
//! Each entry is an item in its month's partition (`AUDIT#<yyyy-mm>` / `<at>#<id>`),
//! listed in `gsi1` by actor and in `gsi2` by action, plus a copy under its resource
//! type (`AUDIT_TYPE#<type>` / `<at>#<id>`) and, for an action in an organization, one
//! under its tenant (`AUDIT_TENANT#<tenant>` / `<at>#<id>`), all written in one transaction that
//! refuses to overwrite: an entry, once written, is never changed, and writing the same
//! entry twice (a retry) keeps the first. Every filter but `resource_id` is served by a
//! key or an index; the newest come first, and a page ends with a cursor (the last
//! entry's sort key). One entry is found by its id alone ([`AuditLog::get`]): the id's
//! time locates it.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

use crate::{
    Key, StoreError, Table,
    table::{Item, from_item, s, to_item},
    usage::{month_key, previous_month},
};

/// One audited action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Time-ordered (UUID v7).
    pub id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// Who acted: the signed-in user (under impersonation, the impersonated user).
    pub actor_id: String,
    /// The admin acting as `actor_id`, when impersonating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonator_id: Option<String>,
    /// The organization the action was taken in, whose owner and admins read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// `user.update`, `flag.create`, `impersonate.start`, `request`, …
    pub action: String,
    /// `user`, `flag`, `route`, …
    pub resource_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// The resource before and after the action (JSON text), when it changed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl AuditEntry {
    fn sort_key(&self) -> String {
        format!("{}#{}", self.created_at, self.id)
    }
}

/// What to list. Times are RFC 3339 (UTC) bounds on `created_at`, both inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only the entries of this organization; every other filter narrows within it.
    pub tenant_id: Option<String>,
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    /// No index serves it: applied to what the other filters read.
    pub resource_id: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// The sort key the page starts after (the previous page's `next_after`).
    pub after: Option<String>,
    pub limit: i32,
}

/// A page of entries, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Where the next page starts; `None` on the last page.
    pub next_after: Option<String>,
}

/// An unfiltered listing walks month partitions back from `until` to `since`, at most
/// this many when `since` is not given.
pub const UNBOUNDED_MONTHS: usize = 12;

/// Sorts after every `<at>#<id>` that starts with the same time prefix.
const HIGHEST: &str = "\u{10ffff}";

#[derive(Debug, Clone)]
pub struct AuditLog {
    table: Table,
}

impl AuditLog {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Appends `entry`. The same entry again (a retry) is not an error and changes nothing.
    pub async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let sort = entry.sort_key();
        let month = entry.created_at.get(..7).unwrap_or(&entry.created_at);
        let mut main = to_item(&Key::audit(month, &sort), entry)?;
        main.insert(
            "gsi1pk".into(),
            s(format!("AUDIT_ACTOR#{}", entry.actor_id)),
        );
        main.insert("gsi1sk".into(), s(&sort));
        main.insert("gsi2pk".into(), s(format!("AUDIT_ACTION#{}", entry.action)));
        main.insert("gsi2sk".into(), s(&sort));
        let by_type = to_item(&Key::audit_by_type(&entry.resource_type, &sort), entry)?;
        let by_tenant = match &entry.tenant_id {
            Some(tenant) => Some(to_item(&Key::audit_by_tenant(tenant, &sort), entry)?),
            None => None,
        };
        let mut request = self.table.client().transact_write_items();
        for item in [Some(main), Some(by_type), by_tenant].into_iter().flatten() {
            let put = Put::builder()
                .table_name(self.table.name())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| StoreError::Other(e.to_string()))?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        match request.send().await.map_err(StoreError::from_sdk) {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Entries matching `query`, newest first. The most selective filter picks the key or
    /// index (tenant, then actor, then action, then resource type, else the month
    /// partitions); any other filter (and always `resource_id`) is applied to what that
    /// read returns, so a page may hold fewer than `limit` entries and still have a next
    /// page.
    pub async fn list(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        // Key values cannot be empty; every timestamp sorts after "0".
        let since = query.since.clone().unwrap_or_else(|| "0".to_owned());
        // The page continues below the previous page's last sort key.
        let upper = match (&query.after, &query.until) {
            (Some(after), _) => after.clone(),
            (None, Some(until)) => format!("{until}{HIGHEST}"),
            (None, None) => HIGHEST.to_owned(),
        };
        // `until` before `since`, or a cursor below `since`: nothing can match, and
        // DynamoDB refuses a BETWEEN whose bounds are reversed.
        if upper < since {
            return Ok(AuditPage {
                items: Vec::new(),
                next_after: None,
            });
        }
        let mut filters = Vec::new();
        push_filter(&mut filters, "resource_id", query.resource_id.as_deref());
        let partitions: Vec<Partition> = if let Some(tenant) = &query.tenant_id {
            push_filter(&mut filters, "actor_id", query.actor_id.as_deref());
            push_filter(&mut filters, "action", query.action.as_deref());
            push_filter(
                &mut filters,
                "resource_type",
                query.resource_type.as_deref(),
            );
            vec![Partition::table(Key::audit_by_tenant(tenant, "").pk)]
        } else if let Some(actor) = &query.actor_id {
            push_filter(&mut filters, "action", query.action.as_deref());
            push_filter(
                &mut filters,
                "resource_type",
                query.resource_type.as_deref(),
            );
            vec![Partition::index("gsi1", format!("AUDIT_ACTOR#{actor}"))]
        } else if let Some(action) = &query.action {
            push_filter(
                &mut filters,
                "resource_type",
                query.resource_type.as_deref(),
            );
            vec![Partition::index("gsi2", format!("AUDIT_ACTION#{action}"))]
        } else if let Some(kind) = &query.resource_type {
            vec![Partition::table(Key::audit_by_type(kind, "").pk)]
        } else {
            months_back(&upper, &since)
                .into_iter()
                .map(|month| Partition::table(Key::audit(&month, "").pk))
                .collect()
        };
        let range = (since.as_str(), upper.as_str());
        let mut items = Vec::new();
        let mut next_after = None;
        for (i, partition) in partitions.iter().enumerate() {
            let wanted = query.limit - i32::try_from(items.len()).unwrap_or(i32::MAX);
            if wanted <= 0 {
                // Full with older months still to read: go on after the last entry.
                next_after = items.last().map(AuditEntry::sort_key);
                break;
            }
            let (page, resume) = self
                .query_partition(partition, range, &filters, wanted)
                .await?;
            items.extend(page);
            // A month read only in part (its page full, or a filter that matched fewer
            // than asked in what one query reads) is where the next page goes on, even
            // when nothing in it matched: an older month's entries come after all of it.
            if resume.is_some() {
                next_after = resume;
                break;
            }
            if i + 1 < partitions.len() && items.len() >= usize::try_from(query.limit).unwrap_or(0)
            {
                next_after = items.last().map(AuditEntry::sort_key);
                break;
            }
        }
        Ok(AuditPage { items, next_after })
    }

    /// The entry `id`; `None` if there is none, or `id` is not a UUID v7. The id is made
    /// just before the entry's `created_at` (whole seconds, by the same clock), so its
    /// time names the entry's second, hence its month partition and its whole sort key:
    /// read in that second, then the next (the second turned between the two), then the
    /// one before (a v7 id's time can run a little ahead of the clock).
    pub async fn get(&self, id: &str) -> Result<Option<AuditEntry>, StoreError> {
        let Some((id, second)) = v7_id_and_second(id) else {
            return Ok(None);
        };
        for offset in [0, 1, -1] {
            let Ok(at) = time::OffsetDateTime::from_unix_timestamp(second + offset) else {
                continue;
            };
            let created_at = aloft_core::timestamp::format(at);
            let month = created_at.get(..7).unwrap_or(&created_at);
            let key = Key::audit(month, &format!("{created_at}#{id}"));
            if let Some(entry) = self.table.get::<AuditEntry>(&key).await? {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }

    /// One partition's entries with sort keys in [`since`, `upper`), newest first, and
    /// the sort key to go on below if it holds more: the last entry kept, or, when a
    /// filter dropped what the query read last, the last key it read.
    async fn query_partition(
        &self,
        partition: &Partition,
        (since, upper): (&str, &str),
        filters: &[(&'static str, String)],
        limit: i32,
    ) -> Result<(Vec<AuditEntry>, Option<String>), StoreError> {
        let (pk, sk) = match partition.index {
            Some(index) => (format!("{index}pk"), format!("{index}sk")),
            None => ("pk".to_owned(), "sk".to_owned()),
        };
        let mut request = self
            .table
            .client()
            .query()
            .table_name(self.table.name())
            .set_index_name(partition.index.map(str::to_owned))
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :since AND :upper")
            .expression_attribute_names("#pk", pk)
            .expression_attribute_names("#sk", &sk)
            .expression_attribute_values(":pk", s(&partition.key))
            .expression_attribute_values(":since", s(since))
            .expression_attribute_values(":upper", s(upper))
            .scan_index_forward(false)
            // One more than asked: the upper bound is inclusive, and it may be the cursor.
            .limit(limit + 1);
        if !filters.is_empty() {
            let mut conditions = Vec::new();
            for (i, (name, value)) in filters.iter().enumerate() {
                request = request
                    .expression_attribute_names(format!("#f{i}"), *name)
                    .expression_attribute_values(format!(":f{i}"), s(value));
                conditions.push(format!("#f{i} = :f{i}"));
            }
            request = request.filter_expression(conditions.join(" AND "));
        }
        let output = request.send().await.map_err(StoreError::from_sdk)?;
        let last_read = output
            .last_evaluated_key
            .as_ref()
            .and_then(|key| key.get(&sk))
            .and_then(|value| value.as_s().ok())
            .cloned();
        let mut entries = Vec::new();
        for item in output.items.unwrap_or_default() {
            let entry: AuditEntry = from_item(strip_keys(item))?;
            if entry.sort_key() != upper {
                entries.push(entry);
            }
        }
        let over = entries.len() > usize::try_from(limit).unwrap_or(0);
        entries.truncate(usize::try_from(limit).unwrap_or(0));
        let resume = if over {
            entries.last().map(AuditEntry::sort_key)
        } else {
            last_read
        };
        Ok((entries, resume))
    }
}

/// Where a listing reads: a partition of the table or of an index.
struct Partition {
    index: Option<&'static str>,
    key: String,
}

impl Partition {
    fn table(key: String) -> Self {
        Self { index: None, key }
    }

    fn index(index: &'static str, key: String) -> Self {
        Self {
            index: Some(index),
            key,
        }
    }
}

/// `raw` as stored (a hyphenated, lowercase UUID) and the unix second of its time, if it
/// is a UUID v7.
fn v7_id_and_second(raw: &str) -> Option<(String, i64)> {
    let id = uuid::Uuid::parse_str(raw).ok()?;
    if id.get_version() != Some(uuid::Version::SortRand) {
        return None;
    }
    let (seconds, _) = id.get_timestamp()?.to_unix();
    Some((id.to_string(), i64::try_from(seconds).ok()?))
}

fn push_filter(filters: &mut Vec<(&'static str, String)>, name: &'static str, value: Option<&str>) {
    if let Some(value) = value {
        filters.push((name, value.to_owned()));
    }
}

/// The months from `upper`'s back to `since`'s (at most [`UNBOUNDED_MONTHS`] without
/// `since`), newest first.
fn months_back(upper: &str, since: &str) -> Vec<String> {
    let now = time::OffsetDateTime::now_utc().date();
    let parse = |text: &str| {
        let month = text.get(..7)?;
        let date = time::Date::parse(
            &format!("{month}-01"),
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .ok()?;
        Some(date)
    };
    let mut month = parse(upper).unwrap_or(now).min(now);
    let first = parse(since);
    let mut months = Vec::new();
    loop {
        months.push(month_key(month));
        match first {
            Some(first) if month <= first => break,
            None if months.len() >= UNBOUNDED_MONTHS => break,
            _ => {}
        }
        month = previous_month(month);
        if months.len() >= 10 * UNBOUNDED_MONTHS {
            break;
        }
    }
    months
}

/// The entry's own fields, without the table's keys.
fn strip_keys(mut item: Item) -> Item {
    for key in ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"] {
        item.remove(key);
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v7_id_names_its_second_and_other_ids_name_none() {
        let at = uuid::Timestamp::from_unix(uuid::NoContext, 1_767_225_600, 999_000_000);
        let id = uuid::Uuid::new_v7(at);
        let upper = id.to_string().to_uppercase();
        assert_eq!(
            v7_id_and_second(&upper),
            Some((id.to_string(), 1_767_225_600))
        );
        assert_eq!(v7_id_and_second(&uuid::Uuid::new_v4().to_string()), None);
        assert_eq!(v7_id_and_second("id-001"), None);
        assert_eq!(v7_id_and_second(""), None);
    }
}
