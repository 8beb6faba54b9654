//! `Objects` presigns exactly as the S3 SDK's presigner does: for a fixed clock both
//! produce the same URL, so the same canonical request and signature. The files
//! function's tests upload and download through these URLs against the emulator.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aloft_store::{AwsClients, AwsSettings, Objects};
use aws_sdk_s3::presigning::PresigningConfig;

const BUCKET: &str = "aloft-test-files";
const KEYS: [&str; 3] = [
    "uploads/u1/0190/hello.txt",
    "uploads/u1/0190/my notes (1).txt",
    "uploads/u1/0190/ünïcødé+plus~tilde.pdf",
];

fn clock() -> (SystemTime, Duration, PresigningConfig) {
    let now = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
    let ttl = Duration::from_secs(900);
    let config = PresigningConfig::builder()
        .start_time(now)
        .expires_in(ttl)
        .build()
        .unwrap();
    (now, ttl, config)
}

async fn both(settings: AwsSettings) {
    let aws = AwsClients::connect(&settings).await;
    let objects = Objects::new(&aws, BUCKET);
    let sdk = aws.s3();
    for key in KEYS {
        let (now, ttl, config) = clock();
        let theirs = sdk
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .content_type("text/plain")
            .content_length(11)
            .presigned(config)
            .await
            .unwrap();
        let ours = objects
            .presign_put(key, "text/plain", 11, ttl, now)
            .await
            .unwrap();
        assert_eq!(ours, theirs.uri(), "PUT {key}");
        assert!(
            ours.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"),
            "{ours}"
        );

        let (now, ttl, config) = clock();
        let theirs = sdk
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .presigned(config)
            .await
            .unwrap();
        let ours = objects.presign_get(key, ttl, now).await.unwrap();
        assert_eq!(ours, theirs.uri(), "GET {key}");
    }
}

#[tokio::test]
async fn path_style_urls_on_the_emulator_match_the_sdks() {
    both(AwsSettings::local("http://127.0.0.1:5100")).await;
}

#[tokio::test]
async fn virtual_hosted_urls_in_aws_match_the_sdks() {
    both(AwsSettings {
        endpoint_url: None,
        region: "eu-west-1".into(),
        dummy_key_id: Some("local".into()),
    })
    .await;
}
