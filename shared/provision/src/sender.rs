//! The local stack's email sender. SES sends only from a verified identity: deployed, the
//! operator verifies `MAIL_FROM` once (DNS records or the confirmation email); on the
//! emulator creating the identity verifies it at once, so the bootstrap and every test
//! environment create it, and the jobs worker sends as it would in AWS.

use aloft_store::AwsClients;

use crate::{ProvisionError, create::failed};

/// `MAIL_FROM` on the local stack: the watch env in the workspace `Cargo.toml` sets it
/// (a test in infra/local checks that the two agree), the bootstrap verifies it.
pub const LOCAL_MAIL_FROM: &str = "no-reply@aloft.local";

/// Makes `address` a verified SES v2 email identity (CreateEmailIdentity). Safe to
/// repeat: an identity that already exists is left as it is.
pub async fn verify_sender(clients: &AwsClients, address: &str) -> Result<(), ProvisionError> {
    let created = aws_sdk_sesv2::Client::new(&clients.sdk)
        .create_email_identity()
        .email_identity(address)
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        // AWS answers a second creation so; moto replaces the identity instead.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(failed(address)(&e)),
    }
}
