//! The `TenantAdmin` gRPC service: tenants own keys, model allowlists, limits and
//! budgets. A disabled tenant's keys are refused until it is enabled again.

use std::time::SystemTime;

use serde_json::json;
use switchyard_proto::auth::v1::tenant_admin_server::TenantAdmin;
use switchyard_proto::auth::v1::{
    CreateTenantRequest, DisableTenantRequest, EnableTenantRequest, GetTenantRequest,
    ListTenantsRequest, ListTenantsResponse, Tenant, UpdateTenantRequest,
};
use tonic::{Request, Response, Status};

use crate::audit::{AdminCall, tenant_field_json, tenant_json, tenant_target, update_json};
use crate::store::Write;
use crate::{AuthError, AuthService, validate};

const TENANT_PATHS: &str = "allowed_models, limits, budget, labels";

/// Checks the fields a tenant may be created or updated with.
fn check_tenant(t: &Tenant) -> Result<(), AuthError> {
    validate::name("tenant.name", &t.name)?;
    validate::models("tenant.allowed_models", &t.allowed_models)?;
    validate::limits("tenant.limits", t.limits.as_ref())?;
    validate::budget("tenant.budget", t.budget.as_ref())
}

impl AuthService {
    /// The tenant named `name`.
    pub(crate) fn tenant(&self, name: &str) -> Result<Tenant, AuthError> {
        self.store
            .tenant(name)?
            .ok_or_else(|| AuthError::TenantNotFound(name.to_string()))
    }

    pub(crate) fn create_tenant(
        &self,
        call: &AdminCall,
        req: CreateTenantRequest,
    ) -> Result<Tenant, AuthError> {
        let mut tenant = req
            .tenant
            .ok_or_else(|| AuthError::invalid("tenant", "is required"))?;
        check_tenant(&tenant)?;
        tenant.created_at = Some(prost_types::Timestamp::from(SystemTime::now()));
        tenant.disabled_at = None;
        let record = call.record(
            "TenantAdmin.CreateTenant",
            tenant_target(&tenant.name),
            tenant_json(&tenant),
        );
        self.store
            .commit(&[Write::NewTenant(tenant.clone())], &record)?;
        // Keys of a tenant with no record had no tenant restrictions until now.
        self.changes.tenant(&tenant.name);
        tracing::info!(tenant = %tenant.name, "tenant created");
        Ok(tenant)
    }

    pub(crate) fn update_tenant(
        &self,
        call: &AdminCall,
        req: UpdateTenantRequest,
    ) -> Result<Tenant, AuthError> {
        let src = req
            .tenant
            .ok_or_else(|| AuthError::invalid("tenant", "is required"))?;
        let paths = validate::mask_paths(req.update_mask.as_ref())?;
        let mut tenant = self.tenant(&src.name)?;
        for path in paths {
            let (head, sub) = match path.split_once('.') {
                Some((h, s)) => (h, Some(s)),
                None => (path.as_str(), None),
            };
            let known = match (head, sub) {
                ("allowed_models", None) => {
                    tenant.allowed_models.clone_from(&src.allowed_models);
                    true
                }
                ("labels", None) => {
                    tenant.labels.clone_from(&src.labels);
                    true
                }
                ("limits", sub) => {
                    validate::apply_limits(&mut tenant.limits, src.limits.as_ref(), sub)
                }
                ("budget", sub) => {
                    validate::apply_budget(&mut tenant.budget, src.budget.as_ref(), sub)
                }
                _ => false,
            };
            if !known {
                return Err(validate::unknown_path(path, TENANT_PATHS));
            }
        }
        check_tenant(&tenant)?;
        let record = call.record(
            "TenantAdmin.UpdateTenant",
            tenant_target(&tenant.name),
            update_json(paths, |p| tenant_field_json(&tenant, p)),
        );
        self.store
            .commit(&[Write::Tenant(tenant.clone())], &record)?;
        self.changes.tenant(&tenant.name);
        tracing::info!(tenant = %tenant.name, "tenant updated");
        Ok(tenant)
    }

    /// Disables (`disable`) or enables a tenant; a no-op change writes no record.
    pub(crate) fn set_tenant_disabled(
        &self,
        call: &AdminCall,
        name: &str,
        disable: bool,
    ) -> Result<Tenant, AuthError> {
        let mut tenant = self.tenant(name)?;
        if tenant.disabled_at.is_some() == disable {
            return Ok(tenant);
        }
        tenant.disabled_at = disable.then(|| prost_types::Timestamp::from(SystemTime::now()));
        let action = if disable {
            "TenantAdmin.DisableTenant"
        } else {
            "TenantAdmin.EnableTenant"
        };
        let record = call.record(action, tenant_target(name), json!({ "name": name }));
        self.store
            .commit(&[Write::Tenant(tenant.clone())], &record)?;
        self.changes.tenant(name);
        tracing::info!(tenant = %name, disabled = disable, "tenant state changed");
        Ok(tenant)
    }
}

#[tonic::async_trait]
impl TenantAdmin for AuthService {
    async fn create_tenant(
        &self,
        request: Request<CreateTenantRequest>,
    ) -> Result<Response<Tenant>, Status> {
        let call = self.admit(&request)?;
        Ok(Response::new(AuthService::create_tenant(
            self,
            &call,
            request.into_inner(),
        )?))
    }

    async fn get_tenant(
        &self,
        request: Request<GetTenantRequest>,
    ) -> Result<Response<Tenant>, Status> {
        self.check_admin(request.metadata())?;
        Ok(Response::new(self.tenant(&request.into_inner().name)?))
    }

    async fn list_tenants(
        &self,
        request: Request<ListTenantsRequest>,
    ) -> Result<Response<ListTenantsResponse>, Status> {
        self.check_admin(request.metadata())?;
        Ok(Response::new(ListTenantsResponse {
            tenants: self.store.tenants()?,
        }))
    }

    async fn update_tenant(
        &self,
        request: Request<UpdateTenantRequest>,
    ) -> Result<Response<Tenant>, Status> {
        let call = self.admit(&request)?;
        Ok(Response::new(AuthService::update_tenant(
            self,
            &call,
            request.into_inner(),
        )?))
    }

    async fn disable_tenant(
        &self,
        request: Request<DisableTenantRequest>,
    ) -> Result<Response<Tenant>, Status> {
        let call = self.admit(&request)?;
        let name = request.into_inner().name;
        Ok(Response::new(self.set_tenant_disabled(&call, &name, true)?))
    }

    async fn enable_tenant(
        &self,
        request: Request<EnableTenantRequest>,
    ) -> Result<Response<Tenant>, Status> {
        let call = self.admit(&request)?;
        let name = request.into_inner().name;
        Ok(Response::new(
            self.set_tenant_disabled(&call, &name, false)?,
        ))
    }
}
