//! Which services a process runs (`--services edge,router`).

use std::fmt;
use std::str::FromStr;

/// One of the five services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    /// HTTP/JSON front door.
    Edge,
    /// Public gRPC API and routing.
    Router,
    /// Keys and admission.
    Auth,
    /// Usage ledger.
    Metering,
    /// Provider wire formats.
    ProviderAdapter,
}

impl Service {
    /// Every service, in start order.
    pub const ALL: [Service; 5] = [
        Self::Auth,
        Self::Metering,
        Self::ProviderAdapter,
        Self::Router,
        Self::Edge,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Edge => "edge",
            Self::Router => "router",
            Self::Auth => "auth",
            Self::Metering => "metering",
            Self::ProviderAdapter => "provider-adapter",
        }
    }
}

/// A set of services to run in one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSet(Vec<Service>);

impl ServiceSet {
    /// Every service: the all-in-one shape.
    pub fn all() -> Self {
        Self(Service::ALL.to_vec())
    }

    /// Exactly these services.
    pub fn of(services: &[Service]) -> Self {
        let mut v = services.to_vec();
        v.sort();
        v.dedup();
        Self(v)
    }

    /// Whether every service is selected (the in-process, all-in-one shape).
    pub fn is_all(&self) -> bool {
        self.0.len() == Service::ALL.len()
    }

    /// Whether `s` is selected.
    pub fn contains(&self, s: Service) -> bool {
        self.0.contains(&s)
    }

    /// The selected services.
    pub fn iter(&self) -> impl Iterator<Item = Service> + '_ {
        self.0.iter().copied()
    }
}

impl FromStr for ServiceSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "all" {
            return Ok(Self::all());
        }
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let service = Service::ALL
                .into_iter()
                .find(|svc| svc.name() == part)
                .ok_or_else(|| {
                    format!(
                        "unknown service `{part}` (expected all or a list of edge, router, auth, metering, provider-adapter)"
                    )
                })?;
            out.push(service);
        }
        if out.is_empty() {
            return Err("no service named".into());
        }
        Ok(Self::of(&out))
    }
}

impl fmt::Display for ServiceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|s| s.name()).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        assert!("all".parse::<ServiceSet>().unwrap().is_all());
        let s: ServiceSet = "router, auth,router".parse().unwrap();
        assert_eq!(s.to_string(), "router,auth");
        assert!(!s.is_all());
        assert!(
            "edge,router,auth,metering,provider-adapter"
                .parse::<ServiceSet>()
                .unwrap()
                .is_all()
        );
        assert!("routr".parse::<ServiceSet>().is_err());
    }
}
