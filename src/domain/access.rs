//! Who may do what in an organization. The server asks these questions before
//! every change; templates ask the same ones only to hide what would be refused.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Admin,
}

impl Role {
    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
        }
    }
}

/// The **API Credentials** permission of an administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsPermission {
    Edit,
    View,
}

impl CredentialsPermission {
    pub fn parse(raw: &str) -> Option<CredentialsPermission> {
        match raw {
            "edit" => Some(CredentialsPermission::Edit),
            "view" => Some(CredentialsPermission::View),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CredentialsPermission::Edit => "edit",
            CredentialsPermission::View => "view",
        }
    }
}

/// What the signed-in person may do in the organization they are looking at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Owner,
    Admin(CredentialsPermission),
    /// Platform support staff: read-only, every visit audited.
    Support,
}

impl Access {
    /// From a membership's two columns; `None` for a combination the schema forbids.
    pub fn from_columns(role: Role, permission: Option<CredentialsPermission>) -> Option<Access> {
        match (role, permission) {
            (Role::Owner, None) => Some(Access::Owner),
            (Role::Admin, Some(p)) => Some(Access::Admin(p)),
            _ => None,
        }
    }

    /// Splits into the two membership columns.
    pub fn membership_columns(self) -> Option<(Role, Option<CredentialsPermission>)> {
        match self {
            Access::Owner => Some((Role::Owner, None)),
            Access::Admin(p) => Some((Role::Admin, Some(p))),
            Access::Support => None,
        }
    }

    /// Parses the member form's single "role" choice: `owner`, `admin-edit` or `admin-view`.
    pub fn parse_choice(raw: &str) -> Option<Access> {
        match raw {
            "owner" => Some(Access::Owner),
            "admin-edit" => Some(Access::Admin(CredentialsPermission::Edit)),
            "admin-view" => Some(Access::Admin(CredentialsPermission::View)),
            _ => None,
        }
    }

    pub fn choice(self) -> &'static str {
        match self {
            Access::Owner => "owner",
            Access::Admin(CredentialsPermission::Edit) => "admin-edit",
            Access::Admin(CredentialsPermission::View) => "admin-view",
            Access::Support => "support",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Access::Owner => "Owner",
            Access::Admin(CredentialsPermission::Edit) => "Admin · API Credentials: Can Edit",
            Access::Admin(CredentialsPermission::View) => "Admin · API Credentials: Can View",
            Access::Support => "Support (read-only)",
        }
    }

    pub fn can_edit_credentials(self) -> bool {
        matches!(
            self,
            Access::Owner | Access::Admin(CredentialsPermission::Edit)
        )
    }

    pub fn is_owner(self) -> bool {
        self == Access::Owner
    }

    pub fn is_support(self) -> bool {
        self == Access::Support
    }
}
