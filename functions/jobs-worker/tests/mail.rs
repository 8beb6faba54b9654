//! The email port's SES adapter against the emulator's SES v2: the real SDK call, refused
//! for a sender that is not a verified identity, accepted once it is, and then in the
//! emulator's sent messages (what the local mailbox shows).

use aloft_local::mailbox::Mailbox;
use aloft_queue::Email;
use aloft_testkit::TestEnv;
use fn_jobs_worker::Mailer;

/// Unique enough for addresses of one test's own.
fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[tokio::test]
async fn ses_sends_only_from_a_verified_identity() {
    let env = TestEnv::new().await;
    let from = format!("noreply-{}@example.com", nanos());
    let vars = env.env(&[("MAIL_FROM", from.as_str())]);
    let mailer = Mailer::from_env(&vars, &env.clients.sdk);
    assert!(matches!(mailer, Mailer::Ses { .. }));
    let to = format!("ann-{}@example.com", nanos());
    let email = Email {
        to: to.clone(),
        subject: "Hello".into(),
        text: "Body\nsecond line".into(),
        reply_to: Some("support@example.com".into()),
    };

    let refused = mailer.send(&email).await.unwrap_err();
    assert!(refused.contains("SES"), "{refused}");

    aws_sdk_sesv2::Client::new(&env.clients.sdk)
        .create_email_identity()
        .email_identity(&from)
        .send()
        .await
        .unwrap();
    mailer.send(&email).await.unwrap();

    let endpoint = env.settings.endpoint_url.as_deref().unwrap();
    let sent = Mailbox::new(endpoint)
        .messages(Some(to.to_uppercase().as_str()))
        .await
        .unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].to, [to]);
    assert_eq!(sent[0].subject, "Hello");
    assert_eq!(sent[0].text, "Body\nsecond line");
    assert!(sent[0].sent_at.as_deref().is_some_and(|t| t.ends_with('Z')));
}

#[tokio::test]
async fn the_local_sender_is_verified_in_every_test_environment() {
    let env = TestEnv::new().await;
    let mailer = Mailer::from_env(&env.env(&[]), &env.clients.sdk);
    let email = Email {
        to: format!("bob-{}@example.com", nanos()),
        subject: "Hi".into(),
        text: "Text".into(),
        reply_to: None,
    };
    mailer.send(&email).await.unwrap();
}

#[test]
fn a_stage_without_mail_from_fails_each_email_not_the_cold_start() {
    let sdk = aws_config::SdkConfig::builder().build();
    for stage in ["prod", "local"] {
        let vars = aloft_config::Env::from_pairs([("ALOFT_STAGE", stage)]);
        let mailer = Mailer::from_env(&vars, &sdk);
        assert!(matches!(mailer, Mailer::Unconfigured), "{stage}");
    }
}
