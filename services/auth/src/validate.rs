//! Admin-request validation and field-mask updates, shared by keys and tenants.
//!
//! Every error names the request field at fault (`tenant.limits.requests_per_minute`),
//! so an operator can fix the call without reading the server's code.

use std::time::{Duration, SystemTime};

use switchyard_proto::auth::v1::{Budget, BudgetPeriod, Limits};

use crate::AuthError;

/// The longest a rotated key may keep working.
pub(crate) const MAX_OVERLAP: Duration = Duration::from_secs(30 * 86_400);
/// How long a rotated key keeps working when the request does not say.
pub(crate) const DEFAULT_OVERLAP: Duration = Duration::from_secs(86_400);

/// A tenant name: 1-64 letters, digits, '-', '_' or '.'.
pub(crate) fn name(param: &str, value: &str) -> Result<(), AuthError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::invalid(
            param,
            "must be 1-64 characters of letters, digits, '-', '_' or '.'",
        ))
    }
}

/// A key's human label: at most 128 characters.
pub(crate) fn key_name(param: &str, value: &str) -> Result<(), AuthError> {
    if value.len() > 128 {
        return Err(AuthError::invalid(param, "at most 128 characters"));
    }
    Ok(())
}

/// Model names or globs: each 1-256 characters.
pub(crate) fn models(param: &str, models: &[String]) -> Result<(), AuthError> {
    if models.iter().any(|m| m.is_empty() || m.len() > 256) {
        return Err(AuthError::invalid(
            param,
            "entries must be 1-256 characters",
        ));
    }
    Ok(())
}

/// An expiry, when set, must be in the future.
pub(crate) fn expiry(param: &str, at: Option<&prost_types::Timestamp>) -> Result<(), AuthError> {
    if let Some(at) = at
        && SystemTime::try_from(*at).map_or(true, |e| e <= SystemTime::now())
    {
        return Err(AuthError::invalid(param, "must be in the future"));
    }
    Ok(())
}

/// Every limit that is set is above zero (zero would refuse everything; leave it
/// unset for unlimited, or disable the key or tenant instead).
pub(crate) fn limits(param: &str, limits: Option<&Limits>) -> Result<(), AuthError> {
    let Some(l) = limits else { return Ok(()) };
    if l.requests_per_minute == Some(0) {
        return Err(AuthError::invalid(
            &format!("{param}.requests_per_minute"),
            "must be greater than 0 (unset for unlimited)",
        ));
    }
    if l.tokens_per_minute == Some(0) {
        return Err(AuthError::invalid(
            &format!("{param}.tokens_per_minute"),
            "must be greater than 0 (unset for unlimited)",
        ));
    }
    if l.max_concurrent == Some(0) {
        return Err(AuthError::invalid(
            &format!("{param}.max_concurrent"),
            "must be greater than 0 (unset for unlimited)",
        ));
    }
    Ok(())
}

/// A budget: a non-negative limit, a known period, an alert between 1 and 100 %.
pub(crate) fn budget(param: &str, budget: Option<&Budget>) -> Result<(), AuthError> {
    let Some(b) = budget else { return Ok(()) };
    if b.limit_micros < 0 {
        return Err(AuthError::invalid(
            &format!("{param}.limit_micros"),
            "must be 0 or more",
        ));
    }
    match BudgetPeriod::try_from(b.period) {
        Ok(BudgetPeriod::Unspecified) | Err(_) => {
            return Err(AuthError::invalid(
                &format!("{param}.period"),
                "must be daily, weekly, monthly or lifetime",
            ));
        }
        Ok(_) => {}
    }
    if let Some(p) = b.alert_percent
        && !(1..=100).contains(&p)
    {
        return Err(AuthError::invalid(
            &format!("{param}.alert_percent"),
            "must be between 1 and 100",
        ));
    }
    Ok(())
}

/// How long a rotated key keeps working.
pub(crate) fn overlap(seconds: Option<u32>) -> Result<Duration, AuthError> {
    let overlap = seconds.map_or(DEFAULT_OVERLAP, |s| Duration::from_secs(u64::from(s)));
    if overlap > MAX_OVERLAP {
        return Err(AuthError::invalid(
            "overlap_seconds",
            "must be at most 2592000 (30 days)",
        ));
    }
    Ok(overlap)
}

/// The mask's paths, refusing an empty mask (an update that changes nothing is
/// almost always a client bug).
pub(crate) fn mask_paths(mask: Option<&prost_types::FieldMask>) -> Result<&[String], AuthError> {
    match mask {
        Some(m) if !m.paths.is_empty() => Ok(&m.paths),
        _ => Err(AuthError::invalid(
            "update_mask",
            "must name at least one field to change",
        )),
    }
}

/// An unknown mask path.
pub(crate) fn unknown_path(path: &str, allowed: &str) -> AuthError {
    AuthError::invalid(
        "update_mask",
        format!("unknown field `{path}`; allowed: {allowed}"),
    )
}

/// Applies `limits` or `limits.<field>` from `src` to `dst`; `false` for an unknown
/// sub-field. Sub-paths let a client change one limit without resending the others.
pub(crate) fn apply_limits(
    dst: &mut Option<Limits>,
    src: Option<&Limits>,
    sub: Option<&str>,
) -> bool {
    let Some(sub) = sub else {
        *dst = src.cloned();
        return true;
    };
    let l = dst.get_or_insert_default();
    match sub {
        "requests_per_minute" => l.requests_per_minute = src.and_then(|s| s.requests_per_minute),
        "tokens_per_minute" => l.tokens_per_minute = src.and_then(|s| s.tokens_per_minute),
        "max_concurrent" => l.max_concurrent = src.and_then(|s| s.max_concurrent),
        _ => return false,
    }
    if *l == Limits::default() {
        *dst = None;
    }
    true
}

/// Applies `budget` or `budget.<field>` from `src` to `dst`; `false` for an unknown
/// sub-field.
pub(crate) fn apply_budget(
    dst: &mut Option<Budget>,
    src: Option<&Budget>,
    sub: Option<&str>,
) -> bool {
    let Some(sub) = sub else {
        *dst = src.cloned();
        return true;
    };
    let b = dst.get_or_insert_default();
    match sub {
        "limit_micros" => b.limit_micros = src.map_or(0, |s| s.limit_micros),
        "period" => b.period = src.map_or(0, |s| s.period),
        "alert_percent" => b.alert_percent = src.and_then(|s| s.alert_percent),
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let param = |e: AuthError| match e {
            AuthError::InvalidArgument { param, .. } => param,
            other => panic!("{other}"),
        };
        let l = Limits {
            tokens_per_minute: Some(0),
            ..Default::default()
        };
        assert_eq!(
            param(limits("tenant.limits", Some(&l)).unwrap_err()),
            "tenant.limits.tokens_per_minute"
        );
        let b = Budget {
            limit_micros: 1,
            period: BudgetPeriod::Daily as i32,
            alert_percent: Some(101),
        };
        assert_eq!(
            param(budget("budget", Some(&b)).unwrap_err()),
            "budget.alert_percent"
        );
        let b = Budget {
            limit_micros: 1,
            ..Default::default()
        };
        assert_eq!(
            param(budget("budget", Some(&b)).unwrap_err()),
            "budget.period"
        );
        let b = Budget {
            limit_micros: -1,
            period: BudgetPeriod::Lifetime as i32,
            alert_percent: None,
        };
        assert_eq!(
            param(budget("budget", Some(&b)).unwrap_err()),
            "budget.limit_micros"
        );
        assert_eq!(
            param(overlap(Some(30 * 86_400 + 1)).unwrap_err()),
            "overlap_seconds"
        );
        assert_eq!(overlap(None).unwrap(), DEFAULT_OVERLAP);
        assert_eq!(overlap(Some(0)).unwrap(), Duration::ZERO);
        assert_eq!(param(mask_paths(None).unwrap_err()), "update_mask");
    }

    #[test]
    fn limit_sub_paths_change_one_field() {
        let mut dst = Some(Limits {
            requests_per_minute: Some(10),
            tokens_per_minute: Some(20),
            max_concurrent: None,
        });
        let src = Limits {
            requests_per_minute: Some(99),
            ..Default::default()
        };
        assert!(apply_limits(
            &mut dst,
            Some(&src),
            Some("requests_per_minute")
        ));
        assert_eq!(dst.unwrap().tokens_per_minute, Some(20));
        assert_eq!(dst.unwrap().requests_per_minute, Some(99));
        assert!(!apply_limits(&mut dst, Some(&src), Some("nope")));
        assert!(apply_limits(&mut dst, None, None));
        assert_eq!(dst, None);
    }
}
