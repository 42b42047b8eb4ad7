//! `switchyard-metering`: the metering service: the usage ledger, alone in its process — the same as
//! `switchyard serve --services metering`. It reaches the other services at the URLs
//! in the config; a socket passed with `LISTEN_FDS` is used as its listener.

fn main() -> std::process::ExitCode {
    switchyard_bootstrap::service_main(
        "switchyard-metering",
        |c| ("metering.listen", c.metering.listen.clone()),
        |listener, config, shutdown| async move {
            switchyard_metering::serve(listener, &config, shutdown).await
        },
    )
}
