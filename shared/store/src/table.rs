//! Typed access to the single table: items are serde structs, keys are [`Key`]s.

use std::{collections::HashMap, sync::Arc};

use aws_sdk_dynamodb::{
    Client,
    operation::query::builders::QueryFluentBuilder,
    types::{AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest},
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
        self.query_items(build)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
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

impl Table {
    /// Writes (overwrites) every item: batch writes of up to 25, sending again any the
    /// table left unprocessed under load.
    pub(crate) async fn put_all(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let requests = items
            .into_iter()
            .map(|item| PutRequest::builder().set_item(Some(item)).build())
            .map(|put| put.map(|p| WriteRequest::builder().put_request(p).build()));
        self.batch_write(requests).await
    }

    /// Deletes every item at `keys` (missing ones are no error), batched like
    /// [`Self::put_all`].
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
