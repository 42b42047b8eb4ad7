//! `switchyard-auth`: the auth service: virtual keys and admission, alone in its process — the same as
//! `switchyard serve --services auth`. It reaches the other services at the URLs
//! in the config; a socket passed with `LISTEN_FDS` is used as its listener.

fn main() -> std::process::ExitCode {
    switchyard_bootstrap::service_main(
        "switchyard-auth",
        |c| ("auth.listen", c.auth.listen.clone()),
        |listener, config, shutdown| async move {
            switchyard_auth::serve(listener, &config, shutdown).await
        },
    )
}
