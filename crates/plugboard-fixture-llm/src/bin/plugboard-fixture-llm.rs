//! Runs the fixture model server until interrupted, printing its base URL: for the load
//! benchmark script and for trying Plugboard without a model.

#![allow(clippy::print_stdout, reason = "prints the address for the caller")]

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_owned()).parse()?;
    let fixture = plugboard_fixture_llm::FixtureLlm::start_on(addr).await?;
    println!("{}", fixture.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
