//! Access policy shared by auth (which enforces it) and the router (which lists
//! only what a key may use): model allowlists of exact names and `*` globs, and the
//! UTC calendar that budget periods and usage aggregates align to.

pub mod calendar;

/// Whether `model` matches any pattern; an empty allowlist allows every model.
/// `*` matches any run of characters (`gpt-4o*`, `*-mini`, `openai/*`).
pub fn model_allowed(patterns: &[String], model: &str) -> bool {
    patterns.is_empty()
        || patterns
            .iter()
            .any(|p| glob_match(p.as_bytes(), model.as_bytes()))
}

fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matcher with single-star backtracking: linear in practice, no recursion.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(patterns: &[&str], model: &str) -> bool {
        let patterns: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        model_allowed(&patterns, model)
    }

    #[test]
    fn globs() {
        assert!(allowed(&[], "anything"));
        assert!(allowed(&["*"], "anything"));
        assert!(allowed(&["gpt-4o"], "gpt-4o"));
        assert!(!allowed(&["gpt-4o"], "gpt-4o-mini"));
        assert!(allowed(&["gpt-4o*"], "gpt-4o-mini"));
        assert!(allowed(&["*-mini"], "gpt-4o-mini"));
        assert!(allowed(&["openai/*"], "openai/gpt-4o"));
        assert!(!allowed(&["openai/*"], "anthropic/claude"));
        assert!(allowed(&["a*b*c"], "aXXbYYc"));
        assert!(!allowed(&["a*b*c"], "aXXbYY"));
    }
}
