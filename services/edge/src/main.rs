//! `switchyard-edge`: the edge: OpenAI-compatible HTTP, alone in its process — the same as
//! `switchyard serve --services edge`. It reaches the other services at the URLs
//! in the config; a socket passed with `LISTEN_FDS` is used as its listener.

fn main() -> std::process::ExitCode {
    switchyard_bootstrap::service_main(
        "switchyard-edge",
        |c| ("edge.listen", c.edge.listen.clone()),
        |listener, config, shutdown| async move {
            switchyard_edge::serve(listener, &config, shutdown).await
        },
    )
}
