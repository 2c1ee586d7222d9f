//! `tickets.v2.EmployeeService`: the employee directory's push endpoint.

use tickets_contract::v2::{self, employee_service_server::EmployeeService};
use tonic::{Request, Response, Status};

use super::{Service, callers::provider_of, convert};
use crate::store;

#[tonic::async_trait]
impl EmployeeService for Service {
    async fn upsert_employee(
        &self,
        request: Request<v2::UpsertEmployeeRequest>,
    ) -> Result<Response<v2::Employee>, Status> {
        let provider = provider_of(&request)?;
        let employee = convert::employee(provider, request.into_inner())?;
        let stored = store::upsert_employee(&self.db, employee).await?;
        Ok(Response::new(stored.into()))
    }
}
