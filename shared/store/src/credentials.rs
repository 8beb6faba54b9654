//! An organization's own AI provider keys, encrypted at rest with a KMS key.
//!
//! One item per provider (`T#<tenant>#CREDENTIAL` / `<provider>`) holds the key's KMS
//! ciphertext, its last four characters and when it was set. The ciphertext is bound to
//! its tenant and provider by the encryption context: copied onto another tenant's item,
//! it does not decrypt. The plaintext is never stored and never returned by a route.
//! KMS is called as SSM is, without an SDK client ([`crate::aws_json`]).

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{Key, StoreError, Table, TenantId, aws_json::AwsJson};

/// KMS answers are small: a ciphertext or a key of at most a few KB, base64.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

const KIND: &str = "CREDENTIAL";

/// A stored key, as routes show it: never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRecord {
    pub provider: String,
    pub last4: String,
    pub updated_at: String,
    /// The KMS ciphertext, base64 (as KMS's JSON carries it).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub ciphertext: String,
}

#[derive(Debug, Clone)]
pub struct TenantCredentials {
    table: Table,
    kms: AwsJson,
    credentials: Option<SharedCredentialsProvider>,
    /// `TENANT_CREDENTIALS_KEY_ID`: the KMS key (id, ARN or alias).
    key_id: String,
}

fn key(tenant: &TenantId, provider: &str) -> Key {
    Key::tenant_item(tenant, KIND, provider)
}

#[derive(Deserialize)]
struct Encrypted {
    #[serde(rename = "CiphertextBlob")]
    ciphertext: String,
}

#[derive(Deserialize)]
struct Decrypted {
    #[serde(rename = "Plaintext")]
    plaintext: String,
}

impl TenantCredentials {
    /// `None` when `TENANT_CREDENTIALS_KEY_ID` is unset: organizations cannot store
    /// keys, and AI calls use the deployment's.
    pub fn from_env(
        env: &aloft_config::Env,
        aws: &crate::AwsClients,
        table: &Table,
    ) -> Option<Self> {
        let key_id = env.optional("TENANT_CREDENTIALS_KEY_ID")?;
        let region = aws
            .sdk
            .region()
            .map_or_else(|| "us-east-1".to_owned(), ToString::to_string);
        Some(Self {
            table: table.clone(),
            kms: AwsJson::new(aws.sdk.endpoint_url(), &region, "kms"),
            credentials: aws.sdk.credentials_provider(),
            key_id,
        })
    }

    /// One KMS operation (`Encrypt`, `Decrypt`) and its answer.
    async fn kms<T: serde::de::DeserializeOwned>(
        &self,
        operation: &str,
        body: &serde_json::Value,
    ) -> Result<T, StoreError> {
        let answer = self
            .kms
            .call(
                &self.identity().await?,
                &format!("TrentService.{operation}"),
                body.to_string().as_bytes(),
                MAX_ANSWER_BYTES,
            )
            .await
            .map_err(|e| StoreError::Unavailable(format!("KMS: {e}")))?;
        serde_json::from_slice(&answer)
            .map_err(|e| StoreError::Other(format!("KMS {operation} answer: {e}")))
    }

    async fn identity(&self) -> Result<Identity, StoreError> {
        crate::signing::identity(self.credentials.as_ref()).await
    }

    /// Encrypts `api_key` for `tenant` and `provider` and stores it, replacing any.
    pub async fn put(
        &self,
        tenant: &TenantId,
        provider: &str,
        api_key: &str,
        now: &str,
    ) -> Result<CredentialRecord, StoreError> {
        let context = json!({"tenant": tenant.as_str(), "provider": provider});
        let encrypted: Encrypted = self
            .kms(
                "Encrypt",
                &json!({
                    "KeyId": self.key_id,
                    "Plaintext": STANDARD.encode(api_key.as_bytes()),
                    "EncryptionContext": context,
                }),
            )
            .await?;
        let last4: String = {
            let chars: Vec<char> = api_key.chars().collect();
            chars[chars.len().saturating_sub(4)..].iter().collect()
        };
        let record = CredentialRecord {
            provider: provider.to_owned(),
            last4,
            updated_at: now.to_owned(),
            ciphertext: encrypted.ciphertext,
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
            let context = json!({"tenant": tenant.as_str(), "provider": record.provider});
            let decrypted: Decrypted = self
                .kms(
                    "Decrypt",
                    &json!({
                        "KeyId": self.key_id,
                        "CiphertextBlob": record.ciphertext,
                        "EncryptionContext": context,
                    }),
                )
                .await?;
            let plaintext = STANDARD
                .decode(decrypted.plaintext)
                .map_err(|e| StoreError::Other(format!("KMS plaintext: {e}")))?;
            let api_key = String::from_utf8(plaintext)
                .map_err(|e| StoreError::Other(format!("decrypted key: {e}")))?;
            keys.push((record.provider, api_key));
        }
        Ok(keys)
    }
}
