//! App Store Server Notifications: ES256 JWS whose `x5c` chains to the configured root,
//! against a test PKI shaped like Apple's (root, intermediate with the WWDR marker, leaf
//! with the App Store marker).

use aloft_config::Env;
use aloft_inbound::{InboundConfig, Provider, Rejection, VerifiedEvent, Verifier};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use http::HeaderMap;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::{prelude::*, sample::Index};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType, IsCa, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use serde_json::{Value, json};

use crate::{any_body, any_json, flip, is_refused_before_freshness, runtime};

/// Inside the test leaf's validity (2023–2025).
const NOW: i64 = 1_700_000_000;
const BUNDLE_ID: &str = "com.example.aloft";

/// Signs JWS with the leaf key of a fresh test PKI, presenting its chain in `x5c`.
struct Signer {
    key: EncodingKey,
    x5c: Vec<String>,
    verifier: Verifier,
}

fn marker(oid: &[u64]) -> CustomExtension {
    CustomExtension::from_oid_content(oid, vec![0x05, 0x00])
}

fn params(name: &str, ca: bool) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    } else {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    }
    params.not_before = date_time_ymd(2023, 1, 1);
    params.not_after = date_time_ymd(2025, 1, 1);
    params
}

impl Signer {
    fn new() -> Self {
        let root =
            CertifiedIssuer::self_signed(params("Test Root", true), KeyPair::generate().unwrap())
                .unwrap();
        let mut intermediate = params("Test WWDR", true);
        intermediate
            .custom_extensions
            .push(marker(&[1, 2, 840, 113_635, 100, 6, 2, 1]));
        let intermediate =
            CertifiedIssuer::signed_by(intermediate, KeyPair::generate().unwrap(), &root).unwrap();
        let mut leaf = params("Test App Store signing", false);
        leaf.custom_extensions
            .push(marker(&[1, 2, 840, 113_635, 100, 6, 11, 1]));
        let key = KeyPair::generate().unwrap();
        let leaf = leaf.signed_by(&key, &intermediate).unwrap();
        let env = Env::from_pairs([
            ("APPLE_ROOT_CERT", root.pem().as_str()),
            ("APPLE_BUNDLE_ID", BUNDLE_ID),
        ]);
        Self {
            key: EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
            x5c: [leaf.der(), intermediate.der(), root.der()]
                .map(|der| STANDARD.encode(der))
                .to_vec(),
            verifier: Verifier::new(InboundConfig::from_env(&env).unwrap()).unwrap(),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.x5c = Some(self.x5c.clone());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }

    fn verify(
        &self,
        rt: &tokio::runtime::Runtime,
        body: &[u8],
    ) -> Result<VerifiedEvent, Rejection> {
        rt.block_on(
            self.verifier
                .verify(Provider::Apple, &HeaderMap::new(), body, NOW),
        )
    }
}

fn body(signed_payload: &str) -> Vec<u8> {
    json!({ "signedPayload": signed_payload })
        .to_string()
        .into_bytes()
}

/// Compact-JWS-like text: headers that name ES256 and carry certificates (real or not),
/// payloads and signatures of any bytes, and any number of parts.
fn jws_like(real_x5c: Vec<String>) -> impl Strategy<Value = String> {
    let x5c = prop_oneof![
        Just(real_x5c),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..4)
            .prop_map(|certs| certs.iter().map(|c| STANDARD.encode(c)).collect()),
        prop::collection::vec("[ -~]{0,20}", 0..4),
    ];
    let header = prop_oneof![
        ("ES256|RS256|HS256|none|[A-Z0-9]{0,6}", x5c)
            .prop_map(|(alg, x5c)| json!({"alg": alg, "x5c": x5c}).to_string().into_bytes()),
        any_json().prop_map(|v| v.to_string().into_bytes()),
        any_body(),
    ];
    let payload = prop_oneof![
        any_json().prop_map(|v| v.to_string().into_bytes()),
        any_body()
    ];
    let signature = prop::collection::vec(any::<u8>(), 0..72);
    let jws = (header, payload, signature)
        .prop_map(|(h, p, s)| [h, p, s].map(|part| URL_SAFE_NO_PAD.encode(part)).join("."));
    prop_oneof![3 => jws, 1 => "[ -~]{0,80}"]
}

#[test]
fn apple_refuses_any_body_it_did_not_sign() {
    let (signer, rt) = (Signer::new(), runtime());
    let bodies = prop_oneof![
        any_body(),
        any_json().prop_map(|v| json!({"signedPayload": v}).to_string().into_bytes()),
        jws_like(signer.x5c.clone()).prop_map(|jws| body(&jws)),
    ];
    proptest!(|(body in bodies)| {
        let result = signer.verify(&rt, &body);
        prop_assert!(is_refused_before_freshness(&result), "{result:?}");
    });
}

#[test]
fn apple_signed_notification_verifies_with_its_nested_claims_decoded() {
    let (signer, rt) = (Signer::new(), runtime());
    let bundle = prop_oneof![Just(BUNDLE_ID.to_owned()), any::<String>()];
    proptest!(|(
        uuid in any::<String>(),
        kind in any::<String>(),
        signed_date in any::<i64>(),
        transaction in any_json(),
        renewal in prop::option::of(any_json()),
        bundle in bundle,
    )| {
        let signed_transaction = signer.sign(&transaction);
        let mut data = json!({"bundleId": bundle, "signedTransactionInfo": signed_transaction});
        if let Some(renewal) = &renewal {
            data["signedRenewalInfo"] = signer.sign(renewal).into();
        }
        let claims = json!({
            "notificationUUID": uuid, "notificationType": kind, "signedDate": signed_date,
            "data": data,
        });

        let result = signer.verify(&rt, &body(&signer.sign(&claims)));

        if bundle != BUNDLE_ID {
            prop_assert!(matches!(result, Err(Rejection::Malformed(_))), "{result:?}");
            return Ok(());
        }
        let event = result.unwrap();
        prop_assert_eq!((event.provider, &event.id, &event.kind), (Provider::Apple, &uuid, &kind));
        prop_assert_eq!(event.created, signed_date.div_euclid(1000));
        let data = &event.payload["data"];
        prop_assert_eq!(&data["transactionInfo"], &transaction);
        prop_assert_eq!(data.get("renewalInfo"), renewal.as_ref());
        prop_assert!(data.get("signedTransactionInfo").is_none());
        prop_assert!(data.get("signedRenewalInfo").is_none());
    });
}

#[test]
fn apple_signed_payload_that_is_no_notification_is_malformed_not_a_bad_signature() {
    let (signer, rt) = (Signer::new(), runtime());
    proptest!(|(mut claims in any_json())| {
        // Nested JWS get checked on their own (above); these claims carry none.
        if let Some(object) = claims.as_object_mut() {
            object.remove("data");
        }

        let result = signer.verify(&rt, &body(&signer.sign(&claims)));

        // Signed, so what is left to refuse is a payload without a notification's fields
        // (or, for want of `data`, of the configured bundle).
        prop_assert!(matches!(result, Err(Rejection::Malformed(_))), "{result:?}");
    });
}

/// Which part of a compact JWS to change (after decoding, so the change is real).
#[derive(Debug, Clone, Copy)]
enum Part {
    Header = 0,
    Payload = 1,
    Signature = 2,
}

fn changed(jws: &str, part: Part, at: Index, mask: u8) -> String {
    let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
    let decoded = URL_SAFE_NO_PAD.decode(&parts[part as usize]).unwrap();
    parts[part as usize] = URL_SAFE_NO_PAD.encode(flip(&decoded, at, mask));
    parts.join(".")
}

#[test]
fn apple_notification_changed_after_signing_is_refused() {
    let (signer, rt) = (Signer::new(), runtime());
    let part = prop_oneof![
        Just(Part::Header),
        Just(Part::Payload),
        Just(Part::Signature)
    ];
    proptest!(|(part in part, nested in any::<bool>(), at in any::<Index>(), mask in 1_u8..)| {
        let transaction = signer.sign(&json!({"transactionId": "2000000123"}));
        let transaction = if nested { changed(&transaction, part, at, mask) } else { transaction };
        let claims = json!({
            "notificationUUID": "002e14d5", "notificationType": "SUBSCRIBED", "signedDate": 1,
            "data": {"bundleId": BUNDLE_ID, "signedTransactionInfo": transaction},
        });
        let outer = signer.sign(&claims);
        let outer = if nested { outer } else { changed(&outer, part, at, mask) };

        let result = signer.verify(&rt, &body(&outer));

        match part {
            // The header names the algorithm and the chain: once changed it may no longer
            // parse, or name a certificate whose validity dates changed.
            Part::Header => prop_assert!(
                matches!(
                    result,
                    Err(Rejection::BadSignature | Rejection::Malformed(_) | Rejection::Stale)
                ),
                "{result:?}"
            ),
            Part::Payload | Part::Signature => {
                prop_assert_eq!(result, Err(Rejection::BadSignature));
            }
        }
    });
}
