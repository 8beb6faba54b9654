//! The TLS configuration of outbound calls. Servers are verified against the system's
//! root certificates: on Lambda the runtime image's bundle, which AWS keeps current with
//! the image, as curl and OpenSSL on it do. They are read on the first handshake, once
//! per process: reading and parsing them takes milliseconds that a cold start should not
//! spend on a call it may never make (and the local stack's servers speak plain HTTP).
//! `SSL_CERT_FILE` names one bundle; without it the certificate directory is read too.

use std::sync::{Arc, LazyLock, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, aws_lc_rs};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};

static SYSTEM_ROOTS: LazyLock<Arc<SystemRoots>> = LazyLock::new(Arc::default);

/// Built once per process, by whichever client comes first: a function can build several
/// at cold start (SSM for its secrets, the JWKS fetcher, KMS, OTLP, each when configured).
static CLIENT_CONFIG: LazyLock<ClientConfig> = LazyLock::new(|| {
    ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(SYSTEM_ROOTS.clone())
        .with_no_client_auth()
});

/// A client configuration verifying servers with [`SystemRoots`].
pub fn client_config() -> ClientConfig {
    CLIENT_CONFIG.clone()
}

/// rustls' WebPKI verifier over the system's roots, built on the first certificate to
/// verify. Handshake signatures need no roots and are checked straight away.
#[derive(Debug, Default)]
struct SystemRoots {
    verifier: OnceLock<Result<Arc<WebPkiServerVerifier>, String>>,
}

impl SystemRoots {
    fn verifier(&self) -> Result<&Arc<WebPkiServerVerifier>, Error> {
        self.verifier
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::new(aws_lc_rs::default_provider()),
                )
                .build()
                .map_err(|e| format!("no TLS root certificates: {e}"))
            })
            .as_ref()
            .map_err(|reason| Error::General(reason.clone()))
    }
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    aws_lc_rs::default_provider().signature_verification_algorithms
}

impl ServerCertVerifier for SystemRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        algorithms().supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_no_system_root_vouches_for_is_refused() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["example.com".to_owned()]).unwrap();
        let certificate = params.self_signed(&key).unwrap();
        let der = CertificateDer::from(certificate.der().to_vec());
        let name = ServerName::try_from("example.com").unwrap();
        let verdict =
            SystemRoots::default().verify_server_cert(&der, &[], &name, &[], UnixTime::now());
        assert!(verdict.is_err(), "{verdict:?}");
        assert!(!SystemRoots::default().supported_verify_schemes().is_empty());
    }
}
