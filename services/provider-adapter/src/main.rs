//! `switchyard-provider-adapter`: the provider-adapter service: provider wire formats and credentials, alone in its process — the same as
//! `switchyard serve --services provider-adapter`. It reaches the other services at the URLs
//! in the config; a socket passed with `LISTEN_FDS` is used as its listener.

fn main() -> std::process::ExitCode {
    switchyard_bootstrap::service_main(
        "switchyard-provider-adapter",
        |c| ("provider_adapter.listen", c.provider_adapter.listen.clone()),
        |listener, config, shutdown| async move {
            switchyard_provider_adapter::serve(listener, &config, shutdown).await
        },
    )
}
