//! Typed access to the single table: items are serde structs, keys are [`Key`]s.

mod range;

use std::{collections::HashMap, sync::Arc, time::Duration};

use aws_sdk_dynamodb::{
    Client,
    error::SdkError,
    operation::{
        query::builders::QueryFluentBuilder, transact_write_items::TransactWriteItemsError,
    },
    types::{
        AttributeValue, Delete, DeleteRequest, KeysAndAttributes, Put, TransactWriteItem, Update,
        WriteRequest,
    },
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{Key, StoreError};

pub(crate) use range::{Merged, Range};

/// The application table and the client that reaches it.
#[derive(Debug, Clone)]
pub struct Table {
    client: Client,
    name: Arc<str>,
}

pub(crate) type Item = HashMap<String, AttributeValue>;

impl Table {
    pub fn new(client: Client, name: impl Into<Arc<str>>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one item with strong consistency.
    pub async fn get<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        if !key.storable() {
            // An id from a path too long for any key: DynamoDB would refuse the read
            // (a 500); no item has it.
            return Ok(None);
        }
        let output = self
            .client
            .get_item()
            .table_name(self.name())
            .set_key(Some(key.attributes()))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        output.item.map(from_item).transpose()
    }

    /// Writes an item, replacing whatever was at its key.
    pub async fn put<T: Serialize>(&self, key: &Key, record: &T) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(self.name())
            .set_item(Some(to_item(key, record)?))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Writes an item that must not exist yet: a retry of the same write is a conflict,
    /// never a silent overwrite.
    pub async fn put_new<T: Serialize>(&self, key: &Key, record: &T) -> Result<(), StoreError> {
        self.put_new_indexed(key, record, None).await
    }

    /// [`Table::put_new`], also listing the item in `gsi1` under `(gsi1pk, gsi1sk)`.
    pub(crate) async fn put_new_indexed<T: Serialize>(
        &self,
        key: &Key,
        record: &T,
        gsi1: Option<(String, String)>,
    ) -> Result<(), StoreError> {
        let item = indexed_item(key, record, gsi1)?;
        self.client
            .put_item()
            .table_name(self.name())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }
}

impl Table {
    /// Every item a query returns, following its pages. `build` adds the key condition
    /// (and any index or filter) to a query of this table.
    pub(crate) async fn query_all<T: DeserializeOwned>(
        &self,
        build: impl Fn(QueryFluentBuilder) -> QueryFluentBuilder,
    ) -> Result<Vec<T>, StoreError> {
        self.query_items(build)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// Every item of partition `pk`, in sort-key order.
    pub(crate) async fn partition<T: DeserializeOwned>(
        &self,
        pk: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.query_all(|query| {
            query
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk))
        })
        .await
    }

    /// [`Self::query_all`], as raw items.
    pub(crate) async fn query_items(
        &self,
        build: impl Fn(QueryFluentBuilder) -> QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = build(self.client.query().table_name(self.name()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

impl Table {
    /// The items at `keys` that exist, in no particular order: batch reads of up to 100
    /// keys, asking again for any the table left unprocessed under load.
    pub(crate) async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        // DynamoDB refuses a batch that names one key twice: each is read once.
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<&Key> = keys.iter().filter(|key| seen.insert(*key)).collect();
        let mut items = Vec::with_capacity(unique.len());
        for chunk in unique.chunks(100) {
            let mut pending: Vec<_> = chunk.iter().map(|key| key.attributes()).collect();
            for _ in 0..5 {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .build()
                    .map_err(|e| StoreError::Other(e.to_string()))?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(self.name(), request)
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
                items.extend(
                    output
                        .responses
                        .and_then(|mut r| r.remove(self.name()))
                        .unwrap_or_default(),
                );
                pending = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(self.name()))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
            }
            if !pending.is_empty() {
                return Err(StoreError::Other(
                    "a batch read left keys unprocessed".into(),
                ));
            }
        }
        Ok(items)
    }

    /// The records at `keys` that exist, in no particular order (see [`Self::batch_get`]).
    pub async fn get_many<T: DeserializeOwned>(&self, keys: &[Key]) -> Result<Vec<T>, StoreError> {
        self.batch_get(keys)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }
}

impl Table {
    /// Deletes every item at `keys` (missing ones are no error): batch writes of up to
    /// 25, sending again any the table left unprocessed under load.
    pub(crate) async fn delete_all(&self, keys: Vec<Key>) -> Result<(), StoreError> {
        let requests = keys
            .iter()
            .map(|key| {
                DeleteRequest::builder()
                    .set_key(Some(key.attributes()))
                    .build()
            })
            .map(|delete| delete.map(|d| WriteRequest::builder().delete_request(d).build()));
        self.batch_write(requests).await
    }

    async fn batch_write(
        &self,
        requests: impl Iterator<Item = Result<WriteRequest, aws_sdk_dynamodb::error::BuildError>>,
    ) -> Result<(), StoreError> {
        let requests = requests
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            for _ in 0..5 {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(self.name(), std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
                pending = output
                    .unprocessed_items
                    .and_then(|mut u| u.remove(self.name()))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
            }
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(
                    "a batch write left items unprocessed".into(),
                ));
            }
        }
        Ok(())
    }
}

/// The attribute of a count item ([`Key::tenant_count`]) that holds the count.
pub(crate) const ITEM_COUNT: &str = "item_count";

impl Table {
    /// Runs the writes as one transaction. DynamoDB cancels a transaction that meets
    /// another on the same item (a count item every create touches); only then it is
    /// sent again, up to three times. Every send carries the same `ClientRequestToken`:
    /// the conflict may have met the SDK's retry of an attempt that timed out or lost its
    /// answer and committed after all, and then DynamoDB answers the resend with that
    /// commit instead of running it again (whose conditions would fail on its own writes).
    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        let token = uuid::Uuid::new_v4().to_string();
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(&token)
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(e) if attempt < 2 && only_conflicts(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(25 * attempt)).await;
                }
                Err(e) => return Err(StoreError::from_sdk(e)),
            }
        }
    }

    /// Sends `writes`: one alone, as its own `PutItem`, `UpdateItem` or `DeleteItem` (a
    /// transaction costs twice as much), more as one transaction ([`Self::transact`]). For
    /// a change whose counter writes (the dashboard's) may be none.
    pub(crate) async fn write(&self, mut writes: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        if writes.len() != 1 {
            return self.transact(writes).await;
        }
        match writes.pop() {
            Some(TransactWriteItem {
                update: Some(update),
                ..
            }) => self.update_alone(update).await,
            Some(TransactWriteItem { put: Some(put), .. }) => self.put_alone(put).await,
            Some(TransactWriteItem {
                delete: Some(delete),
                ..
            }) => self.delete_alone(delete).await,
            other => self.transact(other.into_iter().collect()).await,
        }
    }

    /// Sends `put`, built for a transaction, as one `PutItem` of its own.
    async fn put_alone(&self, put: Put) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_names(put.expression_attribute_names)
            .set_expression_attribute_values(put.expression_attribute_values)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Sends `delete`, built for a transaction, as one `DeleteItem` of its own.
    async fn delete_alone(&self, delete: Delete) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(delete.table_name)
            .set_key(Some(delete.key))
            .set_condition_expression(delete.condition_expression)
            .set_expression_attribute_names(delete.expression_attribute_names)
            .set_expression_attribute_values(delete.expression_attribute_values)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Sends `update`, built for a transaction, as one `UpdateItem` of its own: a write
    /// that is sometimes alone and sometimes part of a change's transaction is built
    /// once (a transaction costs twice as much, so it is used only when needed).
    pub(crate) async fn update_alone(&self, update: Update) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(update.table_name)
            .set_key(Some(update.key))
            .update_expression(update.update_expression)
            .set_condition_expression(update.condition_expression)
            .set_expression_attribute_names(update.expression_attribute_names)
            .set_expression_attribute_values(update.expression_attribute_values)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// [`Table::put_new_indexed`] as one write of a transaction.
    pub(crate) fn put_new_write<T: Serialize>(
        &self,
        key: &Key,
        record: &T,
        gsi1: Option<(String, String)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(self.name())
            .set_item(Some(indexed_item(key, record, gsi1)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Deletes the item at `key`; `false` when there was none.
    pub(crate) async fn delete_existing(&self, key: &Key) -> Result<bool, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(self.name())
            .set_key(Some(key.attributes()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(output.attributes.is_some())
    }

    /// An update of `key` that sets `updated_at` to `now` and each of `sets` (a field
    /// named `#x` takes its name from the request's `#x`, and its value from `:x`).
    pub(crate) fn update_fields(
        &self,
        key: &Key,
        now: &str,
        sets: &[(&str, AttributeValue)],
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let mut expression = String::from("SET updated_at = :now");
        let mut request = self
            .client()
            .update_item()
            .table_name(self.name())
            .set_key(Some(key.attributes()))
            .expression_attribute_values(":now", s(now));
        for (field, value) in sets {
            let placeholder = field.trim_start_matches('#');
            expression.push_str(&format!(", {field} = :{placeholder}"));
            request = request.expression_attribute_values(format!(":{placeholder}"), value.clone());
        }
        request.update_expression(expression)
    }

    /// The write that adds `by` to the count item at `key`.
    pub(crate) fn add_to_count(&self, key: &Key, by: i64) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.name())
            .set_key(Some(key.attributes()))
            .update_expression("ADD #count :by")
            .expression_attribute_names("#count", ITEM_COUNT)
            .expression_attribute_values(":by", n(by))
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// Whether a conditional write happened: `false` when its condition refused it.
pub(crate) fn applied<T>(written: Result<T, StoreError>) -> Result<bool, StoreError> {
    match written {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A cancelled transaction whose only reasons are conflicts with other transactions.
fn only_conflicts<R>(err: &SdkError<TransactWriteItemsError, R>) -> bool {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        return false;
    };
    let codes: Vec<&str> = cancelled
        .cancellation_reasons()
        .iter()
        .filter_map(|reason| reason.code())
        .collect();
    codes.contains(&"TransactionConflict")
        && codes
            .iter()
            .all(|code| matches!(*code, "TransactionConflict" | "None"))
}

/// `record` as an item under `key`.
pub(crate) fn to_item<T: Serialize>(key: &Key, record: &T) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(record).map_err(|e| StoreError::Other(e.to_string()))?;
    item.extend(key.attributes());
    Ok(item)
}

pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Other(e.to_string()))
}

/// A string attribute value.
/// `record` at `key`, listed in `gsi1` under `(gsi1pk, gsi1sk)` when given.
fn indexed_item<T: Serialize>(
    key: &Key,
    record: &T,
    gsi1: Option<(String, String)>,
) -> Result<Item, StoreError> {
    let mut item = to_item(key, record)?;
    if let Some((pk, sk)) = gsi1 {
        item.insert("gsi1pk".into(), s(pk));
        item.insert("gsi1sk".into(), s(sk));
    }
    Ok(item)
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute value.
pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}
