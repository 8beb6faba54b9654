//! Typed access to the single table: items are serde structs, keys are [`Key`]s.

use std::{collections::HashMap, sync::Arc};

use aws_sdk_dynamodb::{
    Client,
    operation::query::builders::QueryFluentBuilder,
    types::{AttributeValue, KeysAndAttributes},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{Key, StoreError};

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
        let mut item = to_item(key, record)?;
        if let Some((pk, sk)) = gsi1 {
            item.insert("gsi1pk".into(), s(pk));
            item.insert("gsi1sk".into(), s(sk));
        }
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
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let page = build(self.client.query().table_name(self.name()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            for item in page.items.unwrap_or_default() {
                records.push(from_item(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(records);
            }
        }
    }
}

impl Table {
    /// The items at `keys` that exist, in no particular order: batch reads of up to 100
    /// keys, asking again for any the table left unprocessed under load.
    pub(crate) async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut pending: Vec<_> = chunk.iter().map(Key::attributes).collect();
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
pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute value.
pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}
