//! `tickets.v2.TicketService`: thin handlers — parse, one store call, convert.

use tickets_contract::v2::{self, ticket_service_server::TicketService};
use tonic::{Request, Response, Status};

use super::{Service, convert, provider::provider_of};
use crate::{
    domain::{ListQuery, TicketId},
    store,
};

#[tonic::async_trait]
impl TicketService for Service {
    async fn list_pending_tickets(
        &self,
        request: Request<v2::ListPendingTicketsRequest>,
    ) -> Result<Response<v2::ListPendingTicketsResponse>, Status> {
        let provider = provider_of(&request)?;
        let query = ListQuery::try_from(request.into_inner())?;
        let page = store::list_pending_tickets(&self.db, provider, query).await?;
        Ok(Response::new(v2::ListPendingTicketsResponse {
            limit: query.limit.as_i32(),
            offset: query.offset.as_i64(),
            ticket_number: query.ticket_number,
            result: page.items.into_iter().map(Into::into).collect(),
            total: i64::try_from(page.total).unwrap_or(i64::MAX),
        }))
    }

    async fn get_pending_ticket(
        &self,
        request: Request<v2::GetPendingTicketRequest>,
    ) -> Result<Response<v2::PendingTicket>, Status> {
        let provider = provider_of(&request)?;
        let id = TicketId::try_from(request.into_inner())?;
        let ticket = store::get_pending_ticket(&self.db, provider, id).await?;
        Ok(Response::new(ticket.into()))
    }

    async fn start_service(
        &self,
        request: Request<v2::StartServiceRequest>,
    ) -> Result<Response<v2::InProgressTicket>, Status> {
        let provider = provider_of(&request)?;
        let call = convert::StartService::try_from(request.into_inner())?;
        let started = store::start_service(&self.db, provider, call.ticket, call.operator).await?;
        if matches!(started, store::Started::Now(_)) {
            self.metrics.service_started();
        }
        Ok(Response::new(started.into_ticket().into()))
    }

    async fn list_in_progress_tickets(
        &self,
        request: Request<v2::ListInProgressTicketsRequest>,
    ) -> Result<Response<v2::ListInProgressTicketsResponse>, Status> {
        let provider = provider_of(&request)?;
        let query = ListQuery::try_from(request.into_inner())?;
        let page = store::list_in_progress_tickets(&self.db, provider, query).await?;
        Ok(Response::new(v2::ListInProgressTicketsResponse {
            limit: query.limit.as_i32(),
            offset: query.offset.as_i64(),
            ticket_number: query.ticket_number,
            result: page.items.into_iter().map(Into::into).collect(),
            total: i64::try_from(page.total).unwrap_or(i64::MAX),
        }))
    }

    async fn get_in_progress_ticket(
        &self,
        request: Request<v2::GetInProgressTicketRequest>,
    ) -> Result<Response<v2::InProgressTicket>, Status> {
        let provider = provider_of(&request)?;
        let id = TicketId::try_from(request.into_inner())?;
        let ticket = store::get_in_progress_ticket(&self.db, provider, id).await?;
        Ok(Response::new(ticket.into()))
    }

    async fn create_pending_ticket(
        &self,
        request: Request<v2::CreatePendingTicketRequest>,
    ) -> Result<Response<v2::PendingTicket>, Status> {
        let provider = provider_of(&request)?;
        let new = convert::new_ticket(provider, request.into_inner())?;
        let ticket = store::create_pending_ticket(&self.db, new).await?;
        Ok(Response::new(ticket.into()))
    }
}
