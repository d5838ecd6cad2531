//! What the audit log records. Every action is one variant here, so the log's
//! filter lists exactly what can be written, and a stored action that is not
//! one of them is an error rather than a silent string.

/// Declares the enum with its stored key, and the list of all of them.
macro_rules! actions {
    ($($variant:ident => $key:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditAction {
            $($variant,)*
        }

        impl AuditAction {
            /// Every action, in the order the Audit log's filter lists them.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            /// The stored key, e.g. `credential.rotated`.
            pub fn key(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $key,)*
                }
            }

            pub fn parse(raw: &str) -> Option<AuditAction> {
                match raw {
                    $($key => Some(AuditAction::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

actions! {
    CredentialCreated => "credential.created",
    CredentialUpdated => "credential.updated",
    CredentialRotated => "credential.rotated",
    CredentialMadePrimary => "credential.made_primary",
    CredentialDisabled => "credential.disabled",
    CredentialEnabled => "credential.enabled",
    CredentialDeleted => "credential.deleted",
    PreviousSecretExpired => "credential.previous_secret_expired",
    CredentialRequested => "credential.requested",
    RequestApproved => "credential.request_approved",
    RequestRejected => "credential.request_rejected",
    RequestCancelled => "credential.request_cancelled",
    ChangeRequested => "credential.change_requested",
    MemberInvited => "member.invited",
    InvitationResent => "member.invitation_resent",
    InvitationRevoked => "member.invitation_revoked",
    MemberJoined => "member.joined",
    MemberAdded => "member.added",
    MemberChanged => "member.changed",
    MemberRemoved => "member.removed",
    OrganizationCreated => "organization.created",
    OrganizationUpdated => "organization.updated",
    PasswordChanged => "password.changed",
    PasswordCheckFailed => "password.check_failed",
    SignIn => "sign_in",
    SignInFailed => "sign_in.failed",
    SupportViewed => "support.viewed",
    TokenAuthFailed => "token.auth_failed",
    TokenThrottled => "token.throttled",
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_parses_back_from_its_key() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.key()), Some(*action));
        }
        assert_eq!(AuditAction::parse("credential.exploded"), None);
    }
}
