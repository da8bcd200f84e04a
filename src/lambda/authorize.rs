//! Who may refresh whose notebook through the Function URL: an end user only their own, an
//! operator anyone's. The caller is IAM's (`requestContext.authorizer.iam.userArn`, set by Lambda
//! for a Function URL with AuthType AWS_IAM once the SigV4 signature checked out).
//!
//! The whole rule is [`authorize`]; the caller-to-user mapping is `names::identity`'s.

use anyhow::{bail, Result};

/// Environment variable naming the operators: a comma-separated list of IAM ARNs (users, roles,
/// assumed-role sessions) or role names (matched in the function's own account).
pub const OPERATORS_ENV: &str = "NOTEBOOK_VEND_OPERATORS";

/// The configured operators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operators(Vec<String>);

impl Operators {
    /// Read and check the list; an entry that can never match is a configuration error.
    pub fn parse(list: &str) -> Result<Self> {
        let mut out = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let ok = if entry.starts_with("arn:") {
                principal(entry).is_some()
            } else {
                // IAM role names: [\w+=,.@-]{1,64} (IAM API reference, CreateRole.RoleName).
                entry.len() <= 64 && entry.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
            };
            if !ok {
                bail!(
                    "{OPERATORS_ENV}: {entry:?} is neither an IAM user, role or assumed-role ARN nor a role name \
                     (letters, digits and _+=,.@-, at most 64)"
                );
            }
            out.push(entry.to_owned());
        }
        Ok(Operators(out))
    }

    pub fn from_env() -> Result<Self> {
        match std::env::var(OPERATORS_ENV) {
            Ok(v) => Self::parse(&v),
            Err(std::env::VarError::NotPresent) => Ok(Operators::default()),
            Err(std::env::VarError::NotUnicode(_)) => bail!("{OPERATORS_ENV} is not UTF-8"),
        }
    }
}

/// An IAM caller, from its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Principal<'a> {
    /// `arn:aws:iam::111122223333:user/path/NAME`
    User { account: &'a str, name: &'a str },
    /// `arn:aws:iam::111122223333:role/path/NAME`
    Role { account: &'a str, name: &'a str },
    /// `arn:aws:sts::111122223333:assumed-role/ROLE/SESSION` (no path: STS drops it)
    Session { account: &'a str, role: &'a str, session: &'a str },
}

fn principal(arn: &str) -> Option<Principal<'_>> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some(service), Some(""), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match (service, resource.split_once('/')) {
        ("iam", Some(("user", rest))) => Some(Principal::User { account, name: nonempty(rest.rsplit('/').next()?)? }),
        ("iam", Some(("role", rest))) => Some(Principal::Role { account, name: nonempty(rest.rsplit('/').next()?)? }),
        ("sts", Some(("assumed-role", rest))) => {
            let (role, session) = rest.split_once('/')?;
            Some(Principal::Session { account, role: nonempty(role)?, session: nonempty(session)? })
        }
        _ => None,
    }
}

/// The user name a caller stands for, by the one mapping `policy end-user`, the CLI's default
/// `--user` and `serve` share ([`crate::names::identity::user_of_caller`]), for a well-formed IAM
/// user or assumed-role session ARN. None for anything else (a role ARN, root, a federated user):
/// such a caller is only ever an operator.
pub fn user_of_caller(arn: &str) -> Option<String> {
    principal(arn).filter(|p| !matches!(p, Principal::Role { .. }))?;
    crate::names::identity::user_of_caller(arn)
}

fn nonempty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn is_operator(caller: &str, account: &str, operators: &Operators) -> bool {
    let me = principal(caller);
    operators.0.iter().any(|entry| {
        if entry == caller {
            return true;
        }
        match (&me, principal(entry)) {
            // A role ARN (with or without a path) covers its sessions.
            (Some(Principal::Session { account: a, role, .. }), Some(Principal::Role { account: b, name })) => {
                *a == b && *role == name
            }
            (Some(Principal::Session { account: a, role, .. }), None) => *a == account && role == entry,
            _ => false,
        }
    })
}

/// What the caller may do with `user`'s notebook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// 403, with the reason (names the caller, never a credential).
    Deny(String),
}

/// May `caller` (an IAM ARN) refresh `user`'s notebook? `account` is the function's own account
/// (role names in the operator list are matched there).
pub fn authorize(caller: &str, account: &str, user: &str, operators: &Operators) -> Decision {
    if is_operator(caller, account, operators) {
        return Decision::Allow;
    }
    match user_of_caller(caller) {
        Some(own) if own == user => Decision::Allow,
        Some(own) => Decision::Deny(format!("{caller} (user {own}) may refresh only its own notebook, not {user}'s")),
        None => Decision::Deny(format!("{caller} is not an operator and stands for no user")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCT: &str = "111122223333";

    #[test]
    fn users_and_sessions_stand_for_their_names() {
        assert_eq!(user_of_caller("arn:aws:iam::111122223333:user/alice").as_deref(), Some("alice"));
        assert_eq!(user_of_caller("arn:aws:iam::111122223333:user/team/a/alice").as_deref(), Some("alice"));
        assert_eq!(user_of_caller("arn:aws:sts::111122223333:assumed-role/DataScientists/bob").as_deref(), Some("bob"));
        assert_eq!(user_of_caller("arn:aws:iam::111122223333:role/DataScientists").as_deref(), None);
        assert_eq!(user_of_caller("arn:aws:iam::111122223333:root").as_deref(), None);
        assert_eq!(user_of_caller("arn:aws:sts::111122223333:federated-user/carol").as_deref(), None);
        assert_eq!(user_of_caller("arn:aws:iam::1234:user/alice").as_deref(), None);
        assert_eq!(user_of_caller("not an arn").as_deref(), None);
    }

    #[test]
    fn an_end_user_refreshes_only_their_own() {
        let ops = Operators::default();
        let alice = "arn:aws:iam::111122223333:user/alice";
        assert_eq!(authorize(alice, ACCT, "alice", &ops), Decision::Allow);
        assert!(matches!(authorize(alice, ACCT, "bob", &ops), Decision::Deny(m) if m.contains("bob")));
        assert!(matches!(authorize(alice, ACCT, "Alice", &ops), Decision::Deny(_)));
        let role = "arn:aws:iam::111122223333:role/Admin";
        assert!(matches!(authorize(role, ACCT, "alice", &ops), Decision::Deny(_)));
    }

    #[test]
    fn operators_by_arn_role_arn_or_role_name() {
        let session = "arn:aws:sts::111122223333:assumed-role/Ops/jo";
        for list in [
            "arn:aws:sts::111122223333:assumed-role/Ops/jo",
            "arn:aws:iam::111122223333:role/Ops",
            "arn:aws:iam::111122223333:role/team/Ops",
            " x , Ops",
        ] {
            let ops = Operators::parse(list).unwrap();
            assert_eq!(authorize(session, ACCT, "anyone", &ops), Decision::Allow, "{list}");
        }
        // Another account's role of that name, another role, another session's exact ARN: no.
        for list in ["arn:aws:iam::999999999999:role/Ops", "Opsx", "arn:aws:sts::111122223333:assumed-role/Ops/kim"] {
            let ops = Operators::parse(list).unwrap();
            assert!(matches!(authorize(session, ACCT, "anyone", &ops), Decision::Deny(_)), "{list}");
        }
        let ops = Operators::parse("Ops").unwrap();
        assert!(matches!(authorize(session, "999999999999", "anyone", &ops), Decision::Deny(_)));
        let user_op = Operators::parse("arn:aws:iam::111122223333:user/admin").unwrap();
        assert_eq!(authorize("arn:aws:iam::111122223333:user/admin", ACCT, "bob", &user_op), Decision::Allow);
    }

    #[test]
    fn a_bad_operator_entry_is_refused() {
        for bad in ["arn:aws:s3:::bucket", "has space", &"r".repeat(65), "arn:aws:iam::1:user/x"] {
            assert!(Operators::parse(bad).unwrap_err().to_string().contains(OPERATORS_ENV), "{bad}");
        }
        assert_eq!(Operators::parse(" , ").unwrap(), Operators::default());
    }
}
