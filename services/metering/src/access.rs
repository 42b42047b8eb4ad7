//! Who may query usage: the operator (admin token, every tenant) or a virtual key
//! (its own tenant only, resolved by auth's `Authenticate`).

use switchyard_grpc::{AdminToken, GrpcChannel, bearer_token, outgoing};
use switchyard_proto::auth::v1::AuthenticateRequest;
use switchyard_proto::auth::v1::auth_client::AuthClient;
use switchyard_proto::metering::v1::UsageRecord;
use tonic::Code;
use tonic::metadata::MetadataMap;

use crate::MeteringError;

/// Virtual keys start with this; anything else that is not the admin token is refused
/// without a call to auth.
const VIRTUAL_KEY_PREFIX: &str = "sy_";

/// The authenticated caller of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// The operator: any tenant.
    Admin,
    /// A virtual key: only this tenant.
    Tenant(String),
}

impl Caller {
    /// The tenant filter a query runs with. The operator's filter is what they asked
    /// for (empty: all tenants); a key's is always its own tenant, and naming another
    /// is refused rather than silently narrowed.
    pub(crate) fn tenant_filter(&self, requested: &str) -> Result<String, MeteringError> {
        match self {
            Self::Admin => Ok(requested.to_string()),
            Self::Tenant(own) if requested.is_empty() || requested == own => Ok(own.clone()),
            Self::Tenant(_) => Err(MeteringError::PermissionDenied(
                "a virtual key may only query its own tenant's usage".into(),
            )),
        }
    }

    /// Whether the caller may see what `tenant` owns (a usage record, a stored
    /// response, a conversation). Callers answer "not found" otherwise, so a key
    /// cannot learn that another tenant's id exists.
    pub(crate) fn owns(&self, tenant: &str) -> bool {
        match self {
            Self::Admin => true,
            Self::Tenant(own) => own == tenant,
        }
    }

    /// Whether the caller may see this record.
    pub(crate) fn may_see(&self, record: &UsageRecord) -> bool {
        self.owns(&record.tenant)
    }
}

/// Resolves callers. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Access {
    admin: AdminToken,
    auth: Option<AuthClient<GrpcChannel>>,
}

impl Access {
    /// `auth` is `None` when only the operator may query (tests, tools).
    pub(crate) fn new(admin: AdminToken, auth: Option<GrpcChannel>) -> Self {
        Self {
            admin,
            auth: auth.map(AuthClient::new),
        }
    }

    /// Who is calling, from `authorization: Bearer …`.
    pub(crate) async fn caller(
        &self,
        metadata: &MetadataMap,
        request_id: &str,
    ) -> Result<Caller, MeteringError> {
        if self.admin.accepts(metadata) {
            return Ok(Caller::Admin);
        }
        let key = bearer_token(metadata)
            .filter(|k| k.starts_with(VIRTUAL_KEY_PREFIX))
            .ok_or(MeteringError::Unauthenticated)?;
        let mut auth = self.auth.clone().ok_or(MeteringError::Unauthenticated)?;
        let call = AuthenticateRequest {
            api_key: key.to_string(),
            model: String::new(),
        };
        match auth.authenticate(outgoing(call, request_id)).await {
            Ok(principal) => Ok(Caller::Tenant(principal.into_inner().tenant)),
            Err(status)
                if matches!(
                    status.code(),
                    Code::Unauthenticated | Code::PermissionDenied | Code::InvalidArgument
                ) =>
            {
                Err(MeteringError::Unauthenticated)
            }
            Err(status) => Err(MeteringError::AuthUnavailable(format!(
                "{:?}: {}",
                status.code(),
                status.message()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_pinned_to_their_tenant() {
        let admin = Caller::Admin;
        assert_eq!(admin.tenant_filter("").unwrap(), "");
        assert_eq!(admin.tenant_filter("b").unwrap(), "b");
        let key = Caller::Tenant("a".into());
        assert_eq!(key.tenant_filter("").unwrap(), "a");
        assert_eq!(key.tenant_filter("a").unwrap(), "a");
        assert!(matches!(
            key.tenant_filter("b"),
            Err(MeteringError::PermissionDenied(_))
        ));
        let other = UsageRecord {
            tenant: "b".into(),
            ..Default::default()
        };
        assert!(admin.may_see(&other));
        assert!(!key.may_see(&other));
    }
}
