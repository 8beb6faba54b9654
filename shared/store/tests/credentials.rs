//! Organizations' provider keys against the emulator's KMS: stored encrypted, listed
//! without the key, decrypted only for the tenant and provider they were stored for.
use aloft_store::{Key, Table, TenantCredentials, TenantId};
use aloft_testkit::TestEnv;

#[tokio::test]
async fn a_key_is_stored_encrypted_and_decrypts_only_where_it_was_stored() {
    let env = TestEnv::new().await;
    let table = Table::new(env.clients.dynamodb.clone(), env.table());
    let store = TenantCredentials::from_env(&env.env(&[]), &env.clients, &table).unwrap();
    let (acme, other) = (TenantId::new("acme"), TenantId::new("other"));
    let now = "2026-12-05T10:00:00Z";
    let shown = store
        .put(&acme, "openai", "sk-acme-secret-9876", now)
        .await
        .unwrap();
    assert_eq!(shown.last4, "9876");
    assert!(shown.ciphertext.is_empty(), "never handed back");

    let listed = store.list(&acme).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].ciphertext.is_empty());
    let raw: serde_json::Value = table
        .get(&Key::tenant_item(&acme, "CREDENTIAL", "openai"))
        .await
        .unwrap()
        .unwrap();
    let stored = raw.to_string();
    assert!(!stored.contains("sk-acme-secret"), "{stored}");

    assert_eq!(
        store.decrypted(&acme).await.unwrap(),
        [("openai".to_owned(), "sk-acme-secret-9876".to_owned())]
    );
    // The same ciphertext under another tenant does not decrypt (encryption context).
    table
        .put(&Key::tenant_item(&other, "CREDENTIAL", "openai"), &raw)
        .await
        .unwrap();
    assert_eq!(store.list(&other).await.unwrap().len(), 1, "copied there");
    assert!(store.decrypted(&other).await.is_err());
    assert_eq!(
        store.list(&acme).await.unwrap().len(),
        1,
        "the original stays"
    );

    assert!(store.delete(&acme, "openai").await.unwrap());
    assert!(!store.delete(&acme, "openai").await.unwrap());
    assert!(store.decrypted(&acme).await.unwrap().is_empty());
}
