//! The fake AI provider (`aloft_testkit::fake_ai`) as a process, for the end-to-end
//! stack: `fake-ai [address]` (default `127.0.0.1:5300`) serves both wire formats until
//! stopped.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5300".into());
    let fake = aloft_testkit::fake_ai::FakeAi::bind(&address).await?;
    eprintln!(
        "fake-ai: OpenAI wire at {}/v1, Anthropic wire at {}",
        fake.url, fake.url
    );
    std::future::pending::<()>().await;
    Ok(())
}
