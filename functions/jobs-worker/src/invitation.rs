//! The organization invitation mail: the link's token is minted here, stored only as its
//! hash on the invitation, and sent only in the mail. A revoked invitation gets nothing;
//! a retried job mints a new link and voids the earlier one.

use aloft_queue::{Email, InvitationMail, JobError};
use aloft_store::{StoreError, TenantId};

use crate::Jobs;

/// Runs a `Job::Invitation`.
pub(crate) async fn mail(jobs: &Jobs, mail: &InvitationMail) -> Result<(), JobError> {
    let tenant = TenantId::new(&mail.tenant_id);
    let (invitation, organization) = tokio::join!(
        jobs.organizations.invitation(&tenant, &mail.invitation_id),
        jobs.organizations.get(&tenant)
    );
    let (Some(invitation), Some(organization)) = (invitation?, organization?) else {
        return Ok(());
    };
    let token = aloft_auth::opaque::random_secret().map_err(|e| e.to_string())?;
    match jobs
        .organizations
        .issue_invitation(&invitation, &aloft_auth::opaque::secret_hash(&token))
        .await
    {
        Ok(()) => {}
        // Revoked meanwhile: nothing to send.
        Err(StoreError::ConditionFailed) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let url = format!("{}/accept-invitation?token={token}", jobs.account.app_url());
    let message = Email {
        to: invitation.email.clone(),
        subject: format!("You are invited to join {}", organization.name),
        text: format!(
            "You are invited to join {} as {}. Sign in with this address, then open this link:\n\n{url}\n\nThe link works once, for 7 days. If you did not expect it, ignore this email.\n",
            organization.name,
            invitation.role.as_str()
        ),
        reply_to: None,
    };
    // The inviting organization's doing, not the recipient's: in nobody's usage.
    jobs.send_email(&message, None).await
}
