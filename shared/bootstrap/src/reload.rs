//! Reloading the config file without a restart: on SIGHUP, and when the file's
//! content changes (`[reload] watch_file`, read every `poll_interval_ms`).
//!
//! Only `[[providers]]`, `[[models]]` and `[[prices]]` apply while running; a
//! change anywhere else is logged as waiting for a restart. A new file is parsed
//! and validated exactly as at start-up, then checked by every service of the
//! process (`checks`: the router resolves its prices, the adapter builds its
//! backends) before anything is published, so the services of one process never
//! disagree. A file any check rejects is not applied: the running config stays
//! and the error, naming the key, is logged.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use switchyard_config::Config;
use switchyard_telemetry::{metrics, names};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The running config as it is reloaded: each service that applies reloads
/// follows one of these.
pub type ConfigUpdates = watch::Receiver<Arc<Config>>;

/// A service's check of a new config, before it is applied: the error names the
/// key at fault.
pub type Check = Box<dyn Fn(&Config) -> Result<(), String> + Send + Sync>;

/// Watches the config file at `path` (`initial` is what the process started
/// with) until `shutdown`, publishing each new config every check accepts.
pub fn watch_config(
    path: impl Into<PathBuf>,
    initial: Config,
    checks: Vec<Check>,
    shutdown: CancellationToken,
) -> ConfigUpdates {
    let path = path.into();
    let poll = initial
        .reload
        .watch_file
        .then(|| Duration::from_millis(initial.reload.poll_interval_ms));
    let (tx, rx) = watch::channel(Arc::new(initial));
    tokio::spawn(async move {
        let mut hangups = hangups();
        let mut seen = std::fs::read_to_string(&path).ok();
        let mut tick = tokio::time::interval(poll.unwrap_or(Duration::from_secs(3600)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let forced = tokio::select! {
                () = shutdown.cancelled() => break,
                Some(()) = recv(&mut hangups) => true,
                _ = tick.tick(), if poll.is_some() => false,
            };
            let text = match tokio::fs::read_to_string(&path).await {
                Ok(text) => text,
                Err(e) => {
                    if forced {
                        tracing::error!(path = %path.display(), error = %e, "config reload: cannot read the file; keeping the running config");
                    }
                    continue;
                }
            };
            if !forced && seen.as_deref() == Some(text.as_str()) {
                continue;
            }
            seen = Some(text.clone());
            let running = tx.borrow().clone();
            match next_config(&text, std::env::vars(), &running, &checks) {
                Ok(Some(next)) => {
                    tracing::info!(
                        path = %path.display(),
                        providers = next.providers.len(),
                        models = next.models.len(),
                        "config reloaded"
                    );
                    metrics::counter!(names::CONFIG_RELOADS, "result" => "applied").increment(1);
                    tx.send_replace(Arc::new(next));
                }
                Ok(None) => {
                    tracing::info!(path = %path.display(), "config reload: providers, models and prices unchanged");
                    metrics::counter!(names::CONFIG_RELOADS, "result" => "unchanged").increment(1);
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "config reload rejected; keeping the running config");
                    metrics::counter!(names::CONFIG_RELOADS, "result" => "rejected").increment(1);
                }
            }
        }
    });
    rx
}

/// Applies each config published on `updates` with `apply` until `shutdown`:
/// the loop every reloadable service runs. A config `apply` refuses is logged,
/// naming `what` (`routing`, `provider`), and the running one kept.
pub fn follow<E: std::fmt::Display>(
    mut updates: ConfigUpdates,
    shutdown: CancellationToken,
    what: &'static str,
    apply: impl Fn(&Config) -> Result<(), E> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                changed = updates.changed() => if changed.is_err() { break },
            }
            let config = updates.borrow_and_update().clone();
            match apply(&config) {
                Ok(()) => tracing::info!(config = what, "config applied"),
                Err(e) => {
                    tracing::error!(config = what, error = %e, "config not applied; keeping the running one")
                }
            }
        }
    })
}

/// The config to publish for `text`: the running one with the reloadable
/// sections replaced, `None` when those did not change, or why it is rejected.
pub fn next_config(
    text: &str,
    vars: impl IntoIterator<Item = (String, String)>,
    running: &Config,
    checks: &[Check],
) -> Result<Option<Config>, String> {
    let new = switchyard_config::load_str_with_env(text, vars).map_err(|e| e.to_string())?;
    for check in checks {
        check(&new)?;
    }
    let pending: Vec<&str> = [
        ("edge", new.edge != running.edge),
        ("router", new.router != running.router),
        ("auth", new.auth != running.auth),
        ("metering", new.metering != running.metering),
        (
            "provider_adapter",
            new.provider_adapter != running.provider_adapter,
        ),
        ("telemetry", new.telemetry != running.telemetry),
        ("admin", new.admin != running.admin),
        ("reload", new.reload != running.reload),
    ]
    .into_iter()
    .filter_map(|(section, changed)| changed.then_some(section))
    .collect();
    if !pending.is_empty() {
        tracing::warn!(
            sections = %pending.join(", "),
            "config reload: these sections changed and apply at the next restart"
        );
    }
    if new.providers == running.providers
        && new.models == running.models
        && new.prices == running.prices
    {
        return Ok(None);
    }
    let mut next = running.clone();
    next.providers = new.providers;
    next.models = new.models;
    next.prices = new.prices;
    Ok(Some(next))
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

#[cfg(unix)]
fn hangups() -> Hangups {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; config reloads only on file change");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangups() -> Hangups {
    None
}

/// The next SIGHUP; never, when there is no signal stream.
async fn recv(hangups: &mut Hangups) -> Option<()> {
    #[cfg(unix)]
    if let Some(s) = hangups {
        return s.recv().await;
    }
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
version = 1
[[providers]]
name = "mock"
kind = "mock"
[[models]]
name = "a"
deployments = [{ provider = "mock", model = "m" }]
"#;

    fn running() -> Config {
        switchyard_config::load_str(BASE).unwrap()
    }

    fn next(text: &str, checks: &[Check]) -> Result<Option<Config>, String> {
        next_config(text, std::iter::empty(), &running(), checks)
    }

    #[test]
    fn applies_models_and_keeps_restart_only_sections() {
        let text = format!(
            "{BASE}[router]\nmax_attempts = 7\n[[models]]\nname = \"b\"\ndeployments = [{{ provider = \"mock\", model = \"n\" }}]\n"
        );
        let applied = next(&text, &[]).unwrap().unwrap();
        assert_eq!(applied.models.len(), 2);
        // `[router]` waits for a restart.
        assert_eq!(applied.router.max_attempts, running().router.max_attempts);
        assert!(next(BASE, &[]).unwrap().is_none());
    }

    #[test]
    fn rejects_invalid_files_and_failed_checks_naming_the_key() {
        let bad = BASE.replace("provider = \"mock\"", "provider = \"nope\"");
        let err = next(&bad, &[]).unwrap_err();
        assert!(err.contains("models[0].deployments[0].provider"), "{err}");
        assert!(next("version = 1\n[[models]\n", &[]).is_err());
        let text = BASE.replace("name = \"a\"", "name = \"renamed\"");
        let refuse: Check = Box::new(|_| Err("providers[0].api_key_env: not set".into()));
        assert_eq!(
            next(&text, &[refuse]).unwrap_err(),
            "providers[0].api_key_env: not set"
        );
    }
}
