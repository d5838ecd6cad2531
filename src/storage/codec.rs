//! How domain types are stored: ids as integers or text, enums and parsed
//! values as their text form. Decoding parses, so a row that holds a value
//! the domain cannot represent is an error naming the column and the value
//! (sqlx adds the column), never a silent default.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use crate::domain::api_token::TokenAccess;
use crate::domain::audit::AuditAction;
use crate::domain::ids::{DeliveryId, WebhookId};
use crate::domain::ip::IpAllowlist;
use crate::domain::permission::{Permissions, SetType};
use crate::domain::webhook::{DeliveryError, DeliveryStatus, EventTypes};
use crate::domain::{
    ClientId, CredentialId, CredentialStatus, CredentialsPermission, EventId, OrgId, Plan,
    RequestId, RequestRowId, RequestStatus, Role, SecretId, UserId,
};

/// Integer row ids, stored as `BIGINT` / `INTEGER`.
macro_rules! integer_ids {
    ($($id:ty),*) => {$(
        impl<DB: Database> Type<DB> for $id where i64: Type<DB> {
            fn type_info() -> DB::TypeInfo {
                <i64 as Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <i64 as Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for $id where i64: Decode<'r, DB> {
            fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                <i64 as Decode<DB>>::decode(value).map(Self)
            }
        }

        impl<'q, DB: Database> Encode<'q, DB> for $id where i64: Encode<'q, DB> {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as Database>::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                <i64 as Encode<DB>>::encode_by_ref(&self.0, buf)
            }
        }
    )*};
}

integer_ids!(
    OrgId,
    UserId,
    CredentialId,
    RequestRowId,
    SecretId,
    EventId,
    WebhookId,
    DeliveryId
);

/// Values stored as text: `$parse` reads the column (`None` refuses it),
/// `$show` writes it.
macro_rules! text_values {
    ($($ty:ty: $what:literal, $parse:expr, $show:expr;)*) => {$(
        impl<DB: Database> Type<DB> for $ty where String: Type<DB> {
            fn type_info() -> DB::TypeInfo {
                <String as Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for $ty where String: Decode<'r, DB> {
            fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let raw = <String as Decode<DB>>::decode(value)?;
                let parse: fn(String) -> Option<$ty> = $parse;
                parse(raw.clone()).ok_or_else(|| format!("{raw:?} is not a valid {}", $what).into())
            }
        }

        impl<'q, DB: Database> Encode<'q, DB> for $ty where String: Encode<'q, DB> {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as Database>::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                let show: fn(&$ty) -> String = $show;
                <String as Encode<DB>>::encode(show(self), buf)
            }
        }
    )*};
}

text_values! {
    ClientId: "client ID", |s| Some(ClientId::from_stored(s)), |v| v.as_str().to_owned();
    RequestId: "request ID", |s| Some(RequestId::from_stored(s)), |v| v.as_str().to_owned();
    Plan: "plan", |s| Plan::parse(&s), |v| v.as_str().to_owned();
    Role: "role", |s| Role::parse(&s), |v| v.as_str().to_owned();
    CredentialsPermission: "API Credentials permission", |s| CredentialsPermission::parse(&s), |v| v.as_str().to_owned();
    CredentialStatus: "credential status", |s| CredentialStatus::parse(&s), |v| v.as_str().to_owned();
    RequestStatus: "request status", |s| RequestStatus::parse(&s), |v| v.as_str().to_owned();
    SetType: "permission set type", |s| SetType::parse(&s), |v| v.key().to_owned();
    Permissions: "permission list", |s| Permissions::parse(&s).ok(), |v| v.to_scope_string();
    IpAllowlist: "IP allowlist", |s| IpAllowlist::parse_stored(&s), |v| v.to_stored();
    AuditAction: "audit action", |s| AuditAction::parse(&s), |v| v.key().to_owned();
    TokenAccess: "token access", |s| TokenAccess::parse(&s), |v| v.as_str().to_owned();
    EventTypes: "webhook event types", |s| EventTypes::parse_stored(&s).ok(), |v| v.to_stored();
    DeliveryStatus: "delivery status", |s| DeliveryStatus::parse(&s), |v| v.key().to_owned();
    DeliveryError: "delivery error", |s| DeliveryError::parse(&s), |v| v.key().to_owned();
}
