//! `switchyard-router`: the router: the public gRPC Gateway API, alone in its process — the same as
//! `switchyard serve --services router`. It reaches the other services at the URLs
//! in the config; a socket passed with `LISTEN_FDS` is used as its listener.

fn main() -> std::process::ExitCode {
    switchyard_bootstrap::service_main(
        "switchyard-router",
        |c| ("router.listen", c.router.listen.clone()),
        |listener, config, shutdown| async move {
            switchyard_router::serve(listener, &config, shutdown).await
        },
    )
}
