//! Who a caller is, as far as notebooks go: the one mapping from an AWS identity to a notebook user
//! that the end-user policy (`policy end-user`), the CLI's default `--user` and `serve`'s per-request
//! check share. Pure functions, no AWS call: the serverless helper can reuse them as they are.
//!
//! The mapping (and the policy variables the end-user policy matches it with):
//! - an IAM user `arn:aws:iam::<account>:user[/path]/NAME` is the notebook user `NAME`
//!   (`${aws:username}`: "the friendly name of the current IAM user", IAM user guide, "Policy
//!   variables" / "AWS global condition context keys", aws:username);
//! - an assumed-role session `arn:aws:sts::<account>:assumed-role/ROLE/SESSION` (IAM Identity
//!   Center permission sets, SAML or OIDC federation) is the notebook user whose name is the session
//!   tag [`OWNER_TAG`] (`${aws:PrincipalTag/notebook-vend:user}`); aws:username is not in the request
//!   context of a role session. No API lets a session read its own tags, so the CLI takes the
//!   session name as the user (Identity Center names the session after the user's `userName`,
//!   which is what an administrator maps to the tag, see README "Identity Center"); when the two
//!   differ, AWS denies and the tool says so.
//! - anything else (root, a federated-user `federated-user/...`) maps to no notebook user.

/// The tag on a notebook instance and its URL parameter naming the notebook's user, and the
/// principal/session tag a role session carries for the same purpose. One key for all three, so
/// the policy's conditions read `aws:ResourceTag/<key>` = `${aws:PrincipalTag/<key>}`.
pub const OWNER_TAG: &str = "notebook-vend:user";

/// The notebook user of a caller ARN (from sts:GetCallerIdentity), or None when the identity maps
/// to none. The name is not validated here (see [`crate::names::user::validate_user`]).
pub fn user_of_caller(arn: &str) -> Option<String> {
    if let Some((_, rest)) = arn.split_once(":assumed-role/") {
        // ROLE/SESSION: the session name never contains '/' ([\w+=,.@-]*, botocore sts
        // AssumeRoleRequest.RoleSessionName); role paths are not part of a session ARN.
        let (_, session) = rest.split_once('/')?;
        return Some(session.to_owned()).filter(|s| !s.is_empty());
    }
    // An IAM user's path is part of its ARN (`user/ops/bob`); the name is the last segment.
    let (_, rest) = arn.split_once(":user/")?;
    rest.rsplit('/').next().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The notebook user of a caller, checked against the user-name rules; an error line says which
/// identity maps to which name and what to do.
pub fn checked_user_of_caller(arn: &str) -> Result<String, String> {
    let Some(user) = user_of_caller(arn) else {
        return Err(format!(
            "the caller {arn} is neither an IAM user nor a role session, so it has no notebook of its own: pass --user"
        ));
    };
    crate::names::user::validate_user(&user).map_err(|e| {
        format!(
            "the caller {arn} maps to notebook user {user:?}, which is not a valid notebook user ({e}): pass --user \
             with your {OWNER_TAG} name"
        )
    })?;
    Ok(user)
}

/// Whether a caller may act on `target`'s notebook, as `serve` decides it (the CLI leaves the
/// decision to AWS): an operator may act for anyone; anyone else only for the user their
/// identity maps to. `operators` are IAM ARNs (users or roles, matched exactly), role names
/// (matching any session of that role) or `*`.
pub fn authorize(caller_arn: &str, target: &str, operators: &[String]) -> Authorization {
    if is_operator(caller_arn, operators) {
        return Authorization::Operator;
    }
    match user_of_caller(caller_arn) {
        Some(user) if user == target => Authorization::Own,
        Some(user) => Authorization::Denied { caller_user: Some(user) },
        None => Authorization::Denied { caller_user: None },
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// The caller's own notebook.
    Own,
    /// An operator, for anyone.
    Operator,
    /// Someone else's notebook; the caller's own notebook user when it has one.
    Denied { caller_user: Option<String> },
}

/// Is the caller one of `operators`: an exact ARN (the caller's, or for a session its role's
/// `arn:...:role/NAME` without path), a role name matching any session of that role, or `*`.
pub fn is_operator(caller_arn: &str, operators: &[String]) -> bool {
    let role = crate::names::user::role_of_session(caller_arn);
    let principal = crate::names::user::principal_from_caller(caller_arn);
    operators.iter().any(|o| {
        o == "*"
            || o == caller_arn
            || *o == principal
            || role.is_some_and(|r| {
                o == r || o.rsplit_once(":role/").is_some_and(|(_, path)| path.rsplit('/').next() == Some(r))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_users_map_to_their_name_and_sessions_to_their_session_name() {
        assert_eq!(user_of_caller("arn:aws:iam::123456789012:user/alice").as_deref(), Some("alice"));
        assert_eq!(user_of_caller("arn:aws:iam::123456789012:user/ops/team/bob").as_deref(), Some("bob"));
        assert_eq!(
            user_of_caller("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_DataScientist_0123/carol").as_deref(),
            Some("carol")
        );
        assert_eq!(user_of_caller("arn:aws:sts::123456789012:assumed-role/R/").as_deref(), None);
        assert_eq!(user_of_caller("arn:aws:iam::123456789012:root"), None);
        assert_eq!(user_of_caller("arn:aws:sts::123456789012:federated-user/x"), None);
    }

    #[test]
    fn a_mapped_name_that_is_not_a_valid_user_is_one_clear_line() {
        let e = checked_user_of_caller("arn:aws:sts::1:assumed-role/R/carol@example.com").unwrap_err();
        assert!(e.contains("carol@example.com") && e.contains("--user") && !e.contains('\n'), "{e}");
        assert_eq!(checked_user_of_caller("arn:aws:iam::1:user/dave").unwrap(), "dave");
        assert!(checked_user_of_caller("arn:aws:iam::1:root").unwrap_err().contains("--user"));
    }

    #[test]
    fn end_users_reach_only_their_own_and_operators_anyone() {
        let ops = vec!["arn:aws:iam::1:user/otto".to_owned(), "NotebookOperators".to_owned()];
        assert_eq!(authorize("arn:aws:iam::1:user/alice", "alice", &ops), Authorization::Own);
        assert_eq!(
            authorize("arn:aws:iam::1:user/alice", "bob", &ops),
            Authorization::Denied { caller_user: Some("alice".into()) }
        );
        assert_eq!(authorize("arn:aws:iam::1:user/otto", "bob", &ops), Authorization::Operator);
        assert_eq!(authorize("arn:aws:sts::1:assumed-role/NotebookOperators/x", "bob", &ops), Authorization::Operator);
        // A role named by its full ARN (with a path) matches its sessions too.
        let by_arn = vec!["arn:aws:iam::1:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Ops_1".to_owned()];
        assert!(is_operator("arn:aws:sts::1:assumed-role/AWSReservedSSO_Ops_1/eve", &by_arn));
        assert!(!is_operator("arn:aws:sts::1:assumed-role/AWSReservedSSO_Ops_2/eve", &by_arn));
        // A user named like an operator role is not one.
        assert!(!is_operator("arn:aws:iam::1:user/NotebookOperators", &ops));
    }
}
