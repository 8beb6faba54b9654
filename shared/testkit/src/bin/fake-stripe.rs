//! The fake Stripe API (`aloft_testkit::fake_stripe`) as a process, for the end-to-end
//! stack. `fake-stripe [address]` (default `127.0.0.1:5301`) serves until stopped;
//! `fake-stripe --env [address]` prints the settings that point the billing function at
//! it (`export STRIPE_API_BASE=…`), for `eval` in a shell.

use aloft_testkit::fake_stripe::{FAKE_STRIPE_KEY, FakeStripe};

const DEFAULT_ADDRESS: &str = "127.0.0.1:5301";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let print_env = args.next_if(|a| a == "--env").is_some();
    let address = args.next().unwrap_or_else(|| DEFAULT_ADDRESS.into());
    if print_env {
        print_settings(&format!("http://{address}"));
        return Ok(());
    }
    let fake = FakeStripe::bind(&address).await?;
    eprintln!("fake-stripe: Stripe API at {}", fake.url);
    std::future::pending::<()>().await;
    Ok(())
}

#[expect(
    clippy::print_stdout,
    reason = "the settings are this command's output"
)]
fn print_settings(url: &str) {
    println!("export STRIPE_API_BASE={url} STRIPE_SECRET_KEY={FAKE_STRIPE_KEY}");
}
