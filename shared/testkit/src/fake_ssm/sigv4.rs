//! SigV4 as AWS checks it, written here from the scheme (canonical request, string to
//! sign, derived key), apart from the `aws-sigv4` signing code under test.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::{Answer, FAKE_SSM_ACCESS_KEY_ID, FAKE_SSM_SECRET_ACCESS_KEY};
use crate::receiver::Received;

/// Recomputes the SigV4 signature of `request` and compares it with `authorization`'s.
pub(super) fn verify(request: &Received, authorization: &str) -> Result<String, Answer> {
    let invalid = |message: &str| Answer::error(400, "InvalidSignatureException", message);
    let fields = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| invalid("Only AWS4-HMAC-SHA256 signatures are accepted."))?;
    let field = |key: &str| {
        fields
            .split(',')
            .find_map(|part| part.trim().strip_prefix(key)?.strip_prefix('='))
    };
    let (Some(credential), Some(signed_headers), Some(signature)) = (
        field("Credential"),
        field("SignedHeaders"),
        field("Signature"),
    ) else {
        return Err(invalid("The Authorization header is incomplete."));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(invalid("The credential scope is malformed."));
    };
    if service != "ssm" {
        return Err(invalid(&format!(
            "Credential should be scoped to correct service: 'ssm'. (got '{service}')"
        )));
    }
    if key_id != FAKE_SSM_ACCESS_KEY_ID {
        return Err(Answer::error(
            400,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    let signed: Vec<&str> = signed_headers.split(';').collect();
    let amz_date = request
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .filter(|d| {
            d.starts_with(date) && signed.contains(&"host") && signed.contains(&"x-amz-date")
        })
        .ok_or_else(|| invalid("host and X-Amz-Date must be signed, on the scope's date."))?;
    let expected = signature_of(request, &signed, amz_date, &scope[1..].join("/"));
    if expected == signature {
        Ok(region.to_owned())
    } else {
        Err(invalid(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ))
    }
}

/// The hex SigV4 signature of `request` over its `signed` headers, with the fake's
/// secret key, for `scope` (`date/region/service/aws4_request`).
fn signature_of(request: &Received, signed: &[&str], amz_date: &str, scope: &str) -> String {
    let canonical_headers: String = signed
        .iter()
        .map(|name| {
            let values: Vec<String> = request
                .headers
                .get_all(*name)
                .iter()
                .map(|v| {
                    String::from_utf8_lossy(v.as_bytes())
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            format!("{name}:{}\n", values.join(","))
        })
        .collect();
    let canonical_request = format!(
        "{}\n{}\n\n{canonical_headers}\n{}\n{}",
        request.method,
        request.path,
        signed.join(";"),
        hex::encode(Sha256::digest(request.body.as_bytes())),
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = format!("AWS4{FAKE_SSM_SECRET_ACCESS_KEY}").into_bytes();
    for part in scope.split('/') {
        key = hmac(&key, part.as_bytes());
    }
    hex::encode(hmac(&key, string_to_sign.as_bytes()))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Signs `request` over all its headers with the fake's key, as a client would: for the
/// fake's own tests of what comes after the signature check.
#[cfg(test)]
pub(super) fn sign(request: &mut Received, amz_date: &str, scope: &str) {
    let mut names: Vec<String> = request
        .headers
        .keys()
        .map(|n| n.as_str().to_owned())
        .collect();
    names.sort();
    let signed: Vec<&str> = names.iter().map(String::as_str).collect();
    let signature = signature_of(request, &signed, amz_date, scope);
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={FAKE_SSM_ACCESS_KEY_ID}/{scope}, SignedHeaders={}, Signature={signature}",
        signed.join(";")
    );
    request
        .headers
        .insert("authorization", authorization.parse().expect("header"));
}
