//! An organization's own AI provider keys, encrypted at rest with a KMS key.
//!
//! One item per provider (`T#<tenant>#CREDENTIAL` / `<provider>`) holds the key's KMS
//! ciphertext, its last four characters and when it was set. The ciphertext is bound to
//! its tenant and provider by the encryption context: copied onto another tenant's item,
//! it does not decrypt. The plaintext is never stored and never returned by a route.

use aws_sdk_kms::primitives::Blob;
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};

use crate::{Key, StoreError, Table, TenantId};

const KIND: &str = "CREDENTIAL";

/// A stored key, as routes show it: never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRecord {
    pub provider: String,
    pub last4: String,
    pub updated_at: String,
    /// Base64 of the KMS ciphertext.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub ciphertext: String,
}

#[derive(Debug, Clone)]
pub struct TenantCredentials {
    table: Table,
    kms: aws_sdk_kms::Client,
    /// `TENANT_CREDENTIALS_KEY_ID`: the KMS key (id, ARN or alias).
    key_id: String,
}

fn key(tenant: &TenantId, provider: &str) -> Key {
    Key::tenant_item(tenant, KIND, provider)
}

impl TenantCredentials {
    pub fn new(table: Table, kms: aws_sdk_kms::Client, key_id: String) -> Self {
        Self { table, kms, key_id }
    }

    /// `None` when `TENANT_CREDENTIALS_KEY_ID` is unset: organizations cannot store
    /// keys, and AI calls use the deployment's.
    pub fn from_env(
        env: &aloft_config::Env,
        aws: &crate::AwsClients,
        table: &Table,
    ) -> Option<Self> {
        let key_id = env.optional("TENANT_CREDENTIALS_KEY_ID")?;
        Some(Self::new(table.clone(), aws.kms(), key_id))
    }

    /// Encrypts `api_key` for `tenant` and `provider` and stores it, replacing any.
    pub async fn put(
        &self,
        tenant: &TenantId,
        provider: &str,
        api_key: &str,
        now: &str,
    ) -> Result<CredentialRecord, StoreError> {
        let encrypted = self
            .kms
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(api_key.as_bytes()))
            .encryption_context("tenant", tenant.as_str())
            .encryption_context("provider", provider)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(format!("KMS encrypt: {e}")))?;
        let ciphertext = encrypted
            .ciphertext_blob
            .ok_or_else(|| StoreError::Other("KMS returned no ciphertext".into()))?;
        let last4: String = {
            let chars: Vec<char> = api_key.chars().collect();
            chars[chars.len().saturating_sub(4)..].iter().collect()
        };
        let record = CredentialRecord {
            provider: provider.to_owned(),
            last4,
            updated_at: now.to_owned(),
            ciphertext: STANDARD.encode(ciphertext.as_ref()),
        };
        self.table.put(&key(tenant, provider), &record).await?;
        Ok(CredentialRecord {
            ciphertext: String::new(),
            ..record
        })
    }

    /// The tenant's stored keys, without their ciphertext: one Query.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<CredentialRecord>, StoreError> {
        let records: Vec<CredentialRecord> = self.table.partition(&key(tenant, "").pk).await?;
        Ok(records
            .into_iter()
            .map(|record| CredentialRecord {
                ciphertext: String::new(),
                ..record
            })
            .collect())
    }

    /// Deletes the tenant's key for `provider`; `false` when there was none.
    pub async fn delete(&self, tenant: &TenantId, provider: &str) -> Result<bool, StoreError> {
        self.table.delete_existing(&key(tenant, provider)).await
    }

    /// The tenant's keys in plaintext, by provider: one Query, one KMS Decrypt each.
    pub async fn decrypted(&self, tenant: &TenantId) -> Result<Vec<(String, String)>, StoreError> {
        let records: Vec<CredentialRecord> = self.table.partition(&key(tenant, "").pk).await?;
        let mut keys = Vec::with_capacity(records.len());
        for record in records {
            let ciphertext = STANDARD
                .decode(&record.ciphertext)
                .map_err(|e| StoreError::Other(format!("stored ciphertext: {e}")))?;
            let decrypted = self
                .kms
                .decrypt()
                .key_id(&self.key_id)
                .ciphertext_blob(Blob::new(ciphertext))
                .encryption_context("tenant", tenant.as_str())
                .encryption_context("provider", &record.provider)
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(format!("KMS decrypt: {e}")))?;
            let plaintext = decrypted
                .plaintext
                .ok_or_else(|| StoreError::Other("KMS returned no plaintext".into()))?;
            let api_key = String::from_utf8(plaintext.into_inner())
                .map_err(|e| StoreError::Other(format!("decrypted key: {e}")))?;
            keys.push((record.provider, api_key));
        }
        Ok(keys)
    }
}
