//! What the audit log records. Every action is one variant here, so the log's
//! filter lists exactly what can be written, and a stored action that is not
//! one of them is an error rather than a silent string.

/// Declares the enum with its stored key, and the list of all of them.
macro_rules! actions {
    ($($variant:ident => $key:literal, $label:literal,)*) => {
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

            /// What people read in the Audit log's filter.
            pub fn label(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $label,)*
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
    CredentialCreated => "credential.created", "Credential created",
    CredentialUpdated => "credential.updated", "Credential edited",
    CredentialRotated => "credential.rotated", "Credential rotated",
    CredentialMadePrimary => "credential.made_primary", "Credential made primary",
    CredentialDisabled => "credential.disabled", "Credential disabled",
    CredentialEnabled => "credential.enabled", "Credential enabled",
    CredentialDeleted => "credential.deleted", "Credential deleted",
    PreviousSecretExpired => "credential.previous_secret_expired", "Previous secret expired",
    CredentialRequested => "credential.requested", "Credential requested",
    RequestApproved => "credential.request_approved", "Request approved",
    RequestRejected => "credential.request_rejected", "Request rejected",
    RequestCancelled => "credential.request_cancelled", "Request cancelled",
    ChangeRequested => "credential.change_requested", "Change requested",
    MemberInvited => "member.invited", "Member invited",
    InvitationResent => "member.invitation_resent", "Invitation sent again",
    InvitationRevoked => "member.invitation_revoked", "Invitation revoked",
    InvitationCodeSent => "member.invitation_code_sent", "Invitation code emailed",
    MemberJoined => "member.joined", "Member joined",
    MemberAdded => "member.added", "Member added",
    MemberChanged => "member.changed", "Member's role changed",
    MemberRemoved => "member.removed", "Member removed",
    OrganizationCreated => "organization.created", "Organization created",
    OrganizationUpdated => "organization.updated", "Organization settings changed",
    PasswordChanged => "password.changed", "Password changed",
    PasswordCheckFailed => "password.check_failed", "Wrong current password",
    SignIn => "sign_in", "Signed in",
    SignInFailed => "sign_in.failed", "Failed sign-in",
    SignInPaused => "sign_in.paused", "Sign-in from unknown devices paused",
    DeviceSignInPaused => "sign_in.device_paused", "Sign-in from one device paused",
    SignedOutAfterWrongPasswords => "password.guesses_signed_out", "Signed out after wrong passwords",
    SupportViewed => "support.viewed", "Viewed by support",
    TokenAuthFailed => "token.auth_failed", "Token request refused",
    TokenThrottled => "token.throttled", "Token requests throttled",
    SecretLeaked => "credential.secret_leaked", "Secret leaked",
    ApiTokenCreated => "api_token.created", "Personal access token created",
    ApiTokenRevoked => "api_token.revoked", "Personal access token revoked",
    TokenAddressRefused => "token.address_refused", "Token request from an address not allowed",
    CredentialExpiring => "credential.expiring", "Credential expiry reminder",
    CredentialExpired => "credential.expired", "Credential expired",
    WebhookCreated => "webhook.created", "Webhook added",
    WebhookUpdated => "webhook.updated", "Webhook changed",
    WebhookSecretRotated => "webhook.secret_rotated", "Webhook signing secret rotated",
    WebhookDeleted => "webhook.deleted", "Webhook deleted",
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
