//! How many certificate chains a notification costs: one when its three JWS share Apple's
//! chain, one more for each JWS that presents another, which still gets a full check.

use base64::{Engine, engine::general_purpose::STANDARD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType, IsCa, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use serde_json::json;

use super::*;
use crate::{AppleRoot, x5c::chain_verifications};

/// 2023-11-14, inside the test certificates' validity.
const NOW: i64 = 1_700_000_000;

/// A root and an intermediate shaped like Apple's, issuing leaves on demand.
struct Pki {
    root: CertifiedIssuer<'static, KeyPair>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf key and the `x5c` it presents: `[leaf, intermediate, root]`.
struct Signer {
    key: EncodingKey,
    x5c: Vec<String>,
}

/// Apple's markers are extensions whose value is an ASN.1 NULL.
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

impl Pki {
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
        Self { root, intermediate }
    }

    fn config(&self) -> AppleConfig {
        AppleConfig {
            root: AppleRoot::parse(&self.root.pem()).unwrap(),
            bundle_id: None,
        }
    }

    /// A leaf under the intermediate, with or without the App Store marker.
    fn signer(&self, with_marker: bool) -> Signer {
        let mut leaf = params("Test App Store signing", false);
        if with_marker {
            leaf.custom_extensions
                .push(marker(&[1, 2, 840, 113_635, 100, 6, 11, 1]));
        }
        let key = KeyPair::generate().unwrap();
        let leaf = leaf.signed_by(&key, &self.intermediate).unwrap();
        Signer {
            key: EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
            x5c: [leaf.der(), self.intermediate.der(), self.root.der()]
                .map(|der| STANDARD.encode(der))
                .to_vec(),
        }
    }
}

impl Signer {
    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.x5c = Some(self.x5c.clone());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

/// A notification signed by `outer`, its transaction and renewal by the others.
fn body(outer: &Signer, transaction: &Signer, renewal: &Signer) -> Vec<u8> {
    let claims = json!({
        "notificationUUID": "002e14d5", "notificationType": "DID_RENEW", "signedDate": 1,
        "data": {
            "signedTransactionInfo": transaction.sign(&json!({"transactionId": "2000000123"})),
            "signedRenewalInfo": renewal.sign(&json!({"autoRenewStatus": 1})),
        },
    });
    json!({"signedPayload": outer.sign(&claims)})
        .to_string()
        .into_bytes()
}

/// What `verify` makes of `body`, and how many chains it checked to get there.
fn verify_counting(pki: &Pki, body: &[u8]) -> (Result<VerifiedEvent, Rejection>, usize) {
    let before = chain_verifications();
    let result = verify(&pki.config(), body, NOW);
    (result, chain_verifications() - before)
}

#[test]
fn notification_whose_three_jws_share_one_chain_checks_it_once() {
    let pki = Pki::new();
    let signer = pki.signer(true);

    let (result, chains) = verify_counting(&pki, &body(&signer, &signer, &signer));

    let event = result.unwrap();
    assert_eq!(
        event.payload["data"]["transactionInfo"]["transactionId"],
        "2000000123"
    );
    assert_eq!(event.payload["data"]["renewalInfo"]["autoRenewStatus"], 1);
    assert_eq!(chains, 1);
}

#[test]
fn replayed_notification_checks_its_chain_once_per_delivery() {
    let pki = Pki::new();
    let signer = pki.signer(true);
    let body = body(&signer, &signer, &signer);

    let (first, first_chains) = verify_counting(&pki, &body);
    let (replay, replay_chains) = verify_counting(&pki, &body);

    assert_eq!(first.unwrap(), replay.unwrap());
    assert_eq!((first_chains, replay_chains), (1, 1));
}

#[test]
fn nested_jws_under_another_chain_gets_a_full_check_of_its_own() {
    let pki = Pki::new();
    let (signer, other) = (pki.signer(true), pki.signer(true));

    let (result, chains) = verify_counting(&pki, &body(&signer, &signer, &other));

    assert_eq!(
        result.unwrap().payload["data"]["renewalInfo"]["autoRenewStatus"],
        1
    );
    assert_eq!(chains, 2);
}

#[test]
fn nested_jws_with_a_changed_but_well_formed_x5c_gets_a_full_check() {
    // Only the root entry differs (it is ignored): the chain is still checked again.
    let pki = Pki::new();
    let signer = pki.signer(true);
    let changed = Signer {
        key: signer.key.clone(),
        x5c: [0, 1, 1].map(|i| signer.x5c[i].clone()).to_vec(),
    };

    let (result, chains) = verify_counting(&pki, &body(&signer, &signer, &changed));

    assert!(result.is_ok(), "{result:?}");
    assert_eq!(chains, 2);
}

#[test]
fn nested_jws_under_a_leaf_without_the_marker_is_refused_by_its_own_check() {
    let pki = Pki::new();
    let (signer, unmarked) = (pki.signer(true), pki.signer(false));

    let (result, chains) = verify_counting(&pki, &body(&signer, &unmarked, &signer));

    assert_eq!(result, Err(Rejection::BadSignature));
    assert_eq!(chains, 2);
}
