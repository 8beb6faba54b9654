//! App Store Server Notifications v2 against a test PKI shaped like Apple's: a root (the
//! configured trust anchor), an intermediate with the WWDR marker, a leaf with the App
//! Store marker signing ES256 JWS, and an attacker's look-alike chain.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_config::Env;
use aloft_inbound::{InboundConfig, Provider, Rejection, VerifiedEvent, Verifier};
use base64::{Engine, engine::general_purpose::STANDARD};
use http::HeaderMap;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType, IsCa, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use serde_json::{Value, json};

/// 2023-11-14: inside the good leaf's validity, after the expired leaf's.
const NOW: i64 = 1_700_000_000;
const SIGNED_DATE_MS: i64 = 1_699_999_990_123;
const BUNDLE_ID: &str = "com.example.aloft";
const APP_STORE_SIGNING: &[u64] = &[1, 2, 840, 113_635, 100, 6, 11, 1];
const WWDR_INTERMEDIATE: &[u64] = &[1, 2, 840, 113_635, 100, 6, 2, 1];

/// A root and intermediate CA, issuing leaves on demand.
struct Pki {
    root: CertifiedIssuer<'static, KeyPair>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
}

/// Signs JWS with a leaf key, presenting `x5c`.
struct Signer {
    key: EncodingKey,
    x5c: Vec<String>,
}

fn marker(oid: &[u64]) -> CustomExtension {
    // Apple's markers are extensions whose value is an ASN.1 NULL.
    CustomExtension::from_oid_content(oid, vec![0x05, 0x00])
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2040, 1, 1);
    params
}

impl Pki {
    fn new(name: &str) -> Self {
        let root = CertifiedIssuer::self_signed(
            ca_params(&format!("{name} Root")),
            KeyPair::generate().unwrap(),
        )
        .unwrap();
        let mut params = ca_params(&format!("{name} WWDR"));
        params.custom_extensions.push(marker(WWDR_INTERMEDIATE));
        let intermediate =
            CertifiedIssuer::signed_by(params, KeyPair::generate().unwrap(), &root).unwrap();
        Self { root, intermediate }
    }

    fn root_pem(&self) -> String {
        self.root.pem()
    }

    /// A leaf valid from `from` to `until` (years), with or without the App Store marker.
    fn signer(&self, from: i32, until: i32, with_marker: bool) -> Signer {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(
            DnType::CommonName,
            "Prod ECC Mac App Store and iTunes Store Receipt Signing",
        );
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = date_time_ymd(from, 1, 1);
        params.not_after = date_time_ymd(until, 1, 1);
        if with_marker {
            params.custom_extensions.push(marker(APP_STORE_SIGNING));
        }
        let leaf = params.signed_by(&key, &self.intermediate).unwrap();
        let x5c = [leaf.der(), self.intermediate.der(), self.root.der()]
            .map(|der| STANDARD.encode(der))
            .to_vec();
        Signer {
            key: EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
            x5c,
        }
    }

    fn valid_signer(&self) -> Signer {
        self.signer(2023, 2025, true)
    }
}

impl Signer {
    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.x5c = Some(self.x5c.clone());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

fn verifier(pki: &Pki, bundle_id: Option<&str>) -> Verifier {
    let root = pki.root_pem();
    let mut pairs = vec![("APPLE_ROOT_CERT", root.as_str())];
    pairs.extend(bundle_id.map(|id| ("APPLE_BUNDLE_ID", id)));
    Verifier::new(InboundConfig::from_env(&Env::from_pairs(pairs)).unwrap()).unwrap()
}

fn notification(signer: &Signer) -> Value {
    let transaction =
        json!({"transactionId": "2000000123", "productId": "pro.monthly", "bundleId": BUNDLE_ID});
    let renewal = json!({"autoRenewStatus": 1, "productId": "pro.monthly"});
    json!({
        "notificationType": "SUBSCRIBED",
        "subtype": "INITIAL_BUY",
        "notificationUUID": "002e14d5-51f5-4503-b5a8-c3a1af68eb20",
        "version": "2.0",
        "signedDate": SIGNED_DATE_MS,
        "data": {
            "bundleId": BUNDLE_ID,
            "environment": "Sandbox",
            "signedTransactionInfo": signer.sign(&transaction),
            "signedRenewalInfo": signer.sign(&renewal),
        }
    })
}

fn body(signed_payload: &str) -> Vec<u8> {
    json!({ "signedPayload": signed_payload })
        .to_string()
        .into_bytes()
}

async fn verify(verifier: &Verifier, body: &[u8]) -> Result<VerifiedEvent, Rejection> {
    verifier
        .verify(Provider::Apple, &HeaderMap::new(), body, NOW)
        .await
}

#[tokio::test]
async fn notification_signed_under_the_configured_root_is_accepted_and_decoded() {
    let pki = Pki::new("Apple");
    let signer = pki.valid_signer();
    let signed = signer.sign(&notification(&signer));

    let event = verify(&verifier(&pki, Some(BUNDLE_ID)), &body(&signed))
        .await
        .unwrap();

    assert_eq!(event.provider, Provider::Apple);
    assert_eq!(event.id, "002e14d5-51f5-4503-b5a8-c3a1af68eb20");
    assert_eq!(event.kind, "SUBSCRIBED");
    assert_eq!(event.created, 1_699_999_990);
    assert_eq!(event.payload["subtype"], "INITIAL_BUY");
    let data = &event.payload["data"];
    assert_eq!(data["transactionInfo"]["transactionId"], "2000000123");
    assert_eq!(data["renewalInfo"]["autoRenewStatus"], 1);
    assert!(data.get("signedTransactionInfo").is_none());
    assert!(data.get("signedRenewalInfo").is_none());
}

#[tokio::test]
async fn notification_for_another_bundle_is_refused() {
    let pki = Pki::new("Apple");
    let signer = pki.valid_signer();
    let signed = signer.sign(&notification(&signer));

    let result = verify(&verifier(&pki, Some("com.example.other")), &body(&signed)).await;

    assert!(matches!(result, Err(Rejection::Malformed(_))), "{result:?}");
}

#[tokio::test]
async fn signature_by_a_key_other_than_the_leaf_is_a_bad_signature() {
    let pki = Pki::new("Apple");
    let leaf = pki.valid_signer();
    let impostor = Signer {
        key: pki.valid_signer().key,
        x5c: leaf.x5c.clone(),
    };
    let signed = impostor.sign(&notification(&leaf));

    let result = verify(&verifier(&pki, None), &body(&signed)).await;

    assert_eq!(result, Err(Rejection::BadSignature));
}

#[tokio::test]
async fn tampered_payload_is_a_bad_signature() {
    let pki = Pki::new("Apple");
    let signer = pki.valid_signer();
    let signed = signer.sign(&notification(&signer));
    let forged = signer.sign(&json!({"notificationType": "REFUND"}));
    let [header, _, signature]: [&str; 3] =
        signed.split('.').collect::<Vec<_>>().try_into().unwrap();
    let forged_payload = forged.split('.').nth(1).unwrap();

    let spliced = format!("{header}.{forged_payload}.{signature}");
    let result = verify(&verifier(&pki, None), &body(&spliced)).await;

    assert_eq!(result, Err(Rejection::BadSignature));
}

#[tokio::test]
async fn tampered_nested_transaction_rejects_the_whole_notification() {
    let pki = Pki::new("Apple");
    let signer = pki.valid_signer();
    let mut claims = notification(&signer);
    let other = Pki::new("Apple").valid_signer();
    claims["data"]["signedTransactionInfo"] = other.sign(&json!({"transactionId": "1"})).into();

    let result = verify(&verifier(&pki, None), &body(&signer.sign(&claims))).await;

    assert_eq!(result, Err(Rejection::BadSignature));
}

#[tokio::test]
async fn expired_leaf_certificate_is_stale() {
    let pki = Pki::new("Apple");
    let expired = pki.signer(2021, 2022, true);
    let signed = expired.sign(&notification(&expired));

    let result = verify(&verifier(&pki, None), &body(&signed)).await;

    assert_eq!(result, Err(Rejection::Stale));
}

#[tokio::test]
async fn attackers_own_chain_with_its_own_root_in_x5c_is_a_bad_signature() {
    let apple = Pki::new("Apple");
    let attacker = Pki::new("Apple").valid_signer();
    let signed = attacker.sign(&notification(&attacker));

    let result = verify(&verifier(&apple, None), &body(&signed)).await;

    assert_eq!(result, Err(Rejection::BadSignature));
}

#[tokio::test]
async fn leaf_without_the_app_store_marker_is_a_bad_signature() {
    // Another certificate under the same root (say, a merchant certificate) must not sign.
    let pki = Pki::new("Apple");
    let unmarked = pki.signer(2023, 2025, false);
    let signed = unmarked.sign(&notification(&unmarked));

    let result = verify(&verifier(&pki, None), &body(&signed)).await;

    assert_eq!(result, Err(Rejection::BadSignature));
}

#[tokio::test]
async fn algorithm_other_than_es256_is_a_bad_signature() {
    let pki = Pki::new("Apple");
    let signer = pki.valid_signer();
    let mut header = Header::new(Algorithm::HS256);
    header.x5c = Some(signer.x5c.clone());
    let key = EncodingKey::from_secret(b"anyone can make this");
    let signed = jsonwebtoken::encode(&header, &notification(&signer), &key).unwrap();

    let result = verify(&verifier(&pki, None), &body(&signed)).await;

    assert_eq!(result, Err(Rejection::BadSignature));
}

#[tokio::test]
async fn signed_payload_that_is_not_a_jws_is_malformed() {
    let pki = Pki::new("Apple");
    let verifier = verifier(&pki, None);
    for garbage in ["not-a-jws", "a.b.c", ""] {
        let result = verify(&verifier, &body(garbage)).await;
        assert!(
            matches!(result, Err(Rejection::Malformed(_))),
            "{garbage}: {result:?}"
        );
    }
    let result = verify(&verifier, b"not json").await;
    assert!(matches!(result, Err(Rejection::Malformed(_))), "{result:?}");
}

#[tokio::test]
async fn body_without_signed_payload_is_missing_its_signature() {
    let pki = Pki::new("Apple");

    let result = verify(&verifier(&pki, None), br#"{"notificationType":"TEST"}"#).await;

    assert_eq!(result, Err(Rejection::MissingSignature("signedPayload")));
}
