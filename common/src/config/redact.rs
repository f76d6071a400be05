//! Showing connection URLs without their passwords: in start-up errors and logs, a
//! `redis://:token@host` or `amqp://user:pass@host` says which server, never the secret.

/// `url` with the password of its userinfo replaced by `****` (`scheme://user:****@host/…`);
/// unchanged when it has none. Text that is not a URL is returned as it is, unless it looks
/// like one with credentials, whose userinfo is then masked whole.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let user = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:****"),
        // A lone userinfo is a user name for most schemes, but Redis reads it as a
        // password when no user is given: mask it whole there.
        None if scheme.starts_with("redis") => "****".to_string(),
        None => userinfo.to_string(),
    };
    format!("{scheme}://{user}@{host}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_and_the_rest_kept() {
        assert_eq!(
            redact_url("amqp://guest:s3cret@rabbit:5672/%2f"),
            "amqp://guest:****@rabbit:5672/%2f"
        );
        assert_eq!(
            redact_url("rediss://:t0ken@cache.example:6379/0"),
            "rediss://:****@cache.example:6379/0"
        );
        assert_eq!(redact_url("redis://t0ken@cache/1"), "redis://****@cache/1");
        assert_eq!(redact_url("amqp://guest@rabbit/"), "amqp://guest@rabbit/");
        assert_eq!(
            redact_url("redis://127.0.0.1:6379/8"),
            "redis://127.0.0.1:6379/8"
        );
        // An '@' in the password does not leak its first part.
        assert_eq!(redact_url("amqp://u:p@ss@h/"), "amqp://u:****@h/");
        assert_eq!(redact_url("sqs://prod"), "sqs://prod");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
