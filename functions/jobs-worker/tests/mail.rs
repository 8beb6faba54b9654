//! The email port's SES adapter against the emulator's SES v2: the real SDK call, refused
//! for a sender that is not a verified identity, accepted once it is.

use aloft_queue::Email;
use aloft_testkit::TestEnv;
use jobs_worker::Mailer;

#[tokio::test]
async fn ses_sends_only_from_a_verified_identity() {
    let env = TestEnv::new().await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let from = format!("noreply-{nanos}@example.com");
    let vars = env.env(&[("MAIL_TRANSPORT", "ses"), ("MAIL_FROM", &from)]);
    let mailer = Mailer::from_env(&vars, &env.clients.sdk).unwrap();
    assert!(matches!(mailer, Mailer::Ses { .. }));
    let email = Email {
        to: "ann@example.com".into(),
        subject: "Hello".into(),
        text: "Body".into(),
        reply_to: Some("support@example.com".into()),
    };

    let refused = mailer.send("job-1", &email).await.unwrap_err();
    assert!(refused.contains("SES"), "{refused}");

    aws_sdk_sesv2::Client::new(&env.clients.sdk)
        .create_email_identity()
        .email_identity(&from)
        .send()
        .await
        .unwrap();
    mailer.send("job-1", &email).await.unwrap();
}

#[test]
fn a_deployed_stage_without_mail_from_fails_each_email_not_the_cold_start() {
    let vars = aloft_config::Env::from_pairs([("ALOFT_STAGE", "prod")]);
    let sdk = aws_config::SdkConfig::builder().build();
    let mailer = Mailer::from_env(&vars, &sdk).unwrap();
    assert!(matches!(mailer, Mailer::Unconfigured));
}
