//! Which vendor bills a provider instance: the first half of a price-table key.

use std::net::IpAddr;

use switchyard_config::ProviderKind;

/// The vendor of deployments that cost nothing: your own servers and the mock.
pub const SELF_HOSTED: &str = "self-hosted";

/// The vendor when neither config nor the base URL says who bills.
pub const UNKNOWN: &str = "unknown";

/// Public API hosts and the vendor each belongs to; subdomains match too.
const KNOWN_HOSTS: &[(&str, &str)] = &[
    ("api.openai.com", "openai"),
    ("api.anthropic.com", "anthropic"),
    ("generativelanguage.googleapis.com", "google"),
    ("api.mistral.ai", "mistral"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.cohere.com", "cohere"),
    ("api.cohere.ai", "cohere"),
    ("api.together.xyz", "together"),
    ("openrouter.ai", "openrouter"),
    ("api.x.ai", "xai"),
    ("api.fireworks.ai", "fireworks"),
];

/// Name suffixes that only resolve inside a private network (cluster DNS, mDNS,
/// Docker), so a server behind them is the operator's own.
const PRIVATE_SUFFIXES: &[&str] = &[
    ".localhost",
    ".local",
    ".internal",
    ".lan",
    ".home.arpa",
    ".svc",
    ".cluster.local",
];

/// The vendor whose prices apply to a provider instance.
///
/// An explicit `[[providers]] vendor` wins (lowercased). Otherwise kind `mock` is
/// [`SELF_HOSTED`], and the host of `base_url` decides: a known public API host (or
/// a subdomain of one) names its vendor; a loopback, private or link-local address,
/// `localhost`, a single-label name (`vllm`, a Compose service) or a private-only
/// suffix (`.local`, `.internal`, `.svc`, ...) is [`SELF_HOSTED`]; anything else is
/// [`UNKNOWN`], which the shipped table does not price.
pub fn vendor_for(kind: ProviderKind, explicit: Option<&str>, base_url: Option<&str>) -> String {
    if let Some(vendor) = explicit.map(str::trim).filter(|v| !v.is_empty()) {
        return vendor.to_ascii_lowercase();
    }
    match kind {
        ProviderKind::Mock => return SELF_HOSTED.into(),
        // Hosted-only APIs bill as their vendor wherever the URL points (a proxy,
        // a test server). Azure OpenAI's global list prices follow OpenAI's.
        ProviderKind::Anthropic => return "anthropic".into(),
        ProviderKind::Gemini => return "google".into(),
        ProviderKind::Cohere => return "cohere".into(),
        ProviderKind::AzureOpenai => return "openai".into(),
        // Bedrock prices differ by region and model vendor: unknown to the shipped
        // table, so paid Bedrock models need a configured price.
        ProviderKind::Bedrock => return UNKNOWN.into(),
        ProviderKind::Openai | ProviderKind::OpenaiCompatible => {}
    }
    let Some(host) = base_url.and_then(host_of) else {
        return UNKNOWN.into();
    };
    if let Some((_, vendor)) = KNOWN_HOSTS
        .iter()
        .find(|(known, _)| host == *known || host.ends_with(&format!(".{known}")))
    {
        return (*vendor).into();
    }
    if is_private_host(&host) {
        return SELF_HOSTED.into();
    }
    UNKNOWN.into()
}

/// The lowercased host of a URL, without scheme, credentials, port or path;
/// IPv6 literals lose their brackets.
fn host_of(url: &str) -> Option<String> {
    let rest = url.trim();
    let rest = rest.split_once("://").map_or(rest, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split_once(']')?.0
    } else {
        authority.split(':').next()?
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let plausible = host.parse::<IpAddr>().is_ok()
        || host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    (!host.is_empty() && plausible).then_some(host)
}

fn is_private_host(host: &str) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return is_private_ip(ip);
    }
    host == "localhost" || !host.contains('.') || PRIVATE_SUFFIXES.iter().any(|s| host.ends_with(s))
}

fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private_ip(IpAddr::V4(v4)),
            None => {
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_unique_local()
                    || v6.is_unicast_link_local()
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compat(url: &str) -> String {
        vendor_for(ProviderKind::OpenaiCompatible, None, Some(url))
    }

    #[test]
    fn explicit_vendor_wins() {
        assert_eq!(
            vendor_for(
                ProviderKind::OpenaiCompatible,
                Some(" OpenAI "),
                Some("http://127.0.0.1:8000/v1")
            ),
            "openai"
        );
        assert_eq!(
            vendor_for(ProviderKind::Mock, Some("acme"), None),
            "acme",
            "an operator may price even the mock"
        );
        // An empty explicit vendor is ignored, not a vendor called "".
        assert_eq!(
            vendor_for(
                ProviderKind::OpenaiCompatible,
                Some(""),
                Some("https://api.groq.com/openai/v1")
            ),
            "groq"
        );
    }

    #[test]
    fn known_hosts_map_to_vendors() {
        for (url, vendor) in [
            ("https://api.openai.com/v1", "openai"),
            ("https://API.OpenAI.com:443/v1/", "openai"),
            ("https://api.anthropic.com/v1", "anthropic"),
            (
                "https://generativelanguage.googleapis.com/v1beta/openai",
                "google",
            ),
            ("https://api.mistral.ai/v1", "mistral"),
            ("https://api.groq.com/openai/v1", "groq"),
            ("https://api.deepseek.com", "deepseek"),
            ("https://api.cohere.com/compatibility/v1", "cohere"),
            ("https://api.cohere.ai/v1", "cohere"),
            ("https://api.together.xyz/v1", "together"),
            ("https://openrouter.ai/api/v1", "openrouter"),
            ("https://api.x.ai/v1", "xai"),
            ("https://api.fireworks.ai/inference/v1", "fireworks"),
            ("https://eu.api.openai.com/v1", "openai"),
            ("https://user:pw@api.mistral.ai/v1", "mistral"),
        ] {
            assert_eq!(compat(url), vendor, "{url}");
        }
    }

    #[test]
    fn private_hosts_are_self_hosted() {
        for url in [
            "http://127.0.0.1:8000/v1",
            "http://localhost:11434/v1",
            "http://[::1]:8080/v1",
            "http://10.1.2.3/v1",
            "http://172.20.0.5:8000/v1",
            "http://192.168.1.10:8000",
            "http://169.254.1.1/v1",
            "http://[fd00::1]:8000/v1",
            "http://[::ffff:10.0.0.1]/v1",
            "http://vllm:8000/v1",
            "http://llama.default.svc.cluster.local:8080/v1",
            "http://gpu-box.local/v1",
            "http://host.docker.internal:11434/v1",
        ] {
            assert_eq!(compat(url), SELF_HOSTED, "{url}");
        }
        assert_eq!(vendor_for(ProviderKind::Mock, None, None), SELF_HOSTED);
    }

    #[test]
    fn everything_else_is_unknown() {
        for url in [
            "https://llm.example.com/v1",
            "https://8.8.8.8/v1",
            "https://api.openai.com.evil.example/v1",
            "https://notapi.openai.com.example/v1",
            "not a url",
            "https:///v1",
        ] {
            assert_eq!(compat(url), UNKNOWN, "{url}");
        }
        assert_eq!(
            vendor_for(ProviderKind::OpenaiCompatible, None, None),
            UNKNOWN
        );
    }
}
