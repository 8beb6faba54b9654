//! The fake AI provider (`aloft_testkit::fake_ai`) as a process, for the end-to-end
//! stack. `fake-ai [address]` (default `127.0.0.1:5300`) serves both wire formats until
//! stopped; `fake-ai --env [address]` prints the provider settings that point at it
//! (`export OPENAI_BASE_URL=…`), for `eval` in a shell.

use aloft_testkit::fake_ai::{FAKE_ANTHROPIC_KEY, FAKE_OPENAI_KEY, FakeAi};

const DEFAULT_ADDRESS: &str = "127.0.0.1:5300";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let print_env = args.next_if(|a| a == "--env").is_some();
    let address = args.next().unwrap_or_else(|| DEFAULT_ADDRESS.into());
    if print_env {
        print_settings(&format!("http://{address}"));
        return Ok(());
    }
    let fake = FakeAi::bind(&address).await?;
    eprintln!(
        "fake-ai: OpenAI wire at {}/v1, Anthropic wire at {}",
        fake.url, fake.url
    );
    std::future::pending::<()>().await;
    Ok(())
}

#[expect(
    clippy::print_stdout,
    reason = "the settings are this command's output"
)]
fn print_settings(url: &str) {
    println!("export OPENAI_BASE_URL={url}/v1 OPENAI_API_KEY={FAKE_OPENAI_KEY}");
    println!("export ANTHROPIC_BASE_URL={url} ANTHROPIC_API_KEY={FAKE_ANTHROPIC_KEY}");
}
