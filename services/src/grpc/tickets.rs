//! `tickets.v2.TicketService`: thin handlers — parse, one store call, convert.

use tickets_contract::v2::{self, ticket_service_server::TicketService};
use tonic::{Request, Response, Status};

use super::{
    Service,
    callers::provider_of,
    convert::{self, Listed},
    watch::Watch,
};
use crate::{
    domain::{Error, InProgressTicket, PendingTicket, TicketId},
    store::{self, FromRow},
};

impl Service {
    /// A page of the caller's tickets of type `T`: the list RPCs of both states.
    async fn list<T, Out>(
        &self,
        request: Request<v2::ListTicketsRequest>,
    ) -> Result<Response<Out>, Status>
    where
        T: FromRow,
        Out: From<Listed<T>>,
    {
        let provider = provider_of(&request)?;
        let query = convert::list_query(request.into_inner(), T::STATE)?;
        let page = store::list::<T>(&self.parked, provider, query).await?;
        Ok(Response::new(Listed { query, page }.into()))
    }

    /// One of the caller's tickets of type `T`: the get RPCs of both states.
    async fn get<T, In, Out>(&self, request: Request<In>) -> Result<Response<Out>, Status>
    where
        T: FromRow,
        TicketId: TryFrom<In, Error = Error>,
        Out: From<T>,
    {
        let provider = provider_of(&request)?;
        let id = TicketId::try_from(request.into_inner())?;
        Ok(Response::new(store::get::<T>(&self.parked, provider, id).await?.into()))
    }
}

#[tonic::async_trait]
impl TicketService for Service {
    async fn list_pending_tickets(
        &self,
        request: Request<v2::ListTicketsRequest>,
    ) -> Result<Response<v2::ListPendingTicketsResponse>, Status> {
        self.list::<PendingTicket, _>(request).await
    }

    async fn get_pending_ticket(
        &self,
        request: Request<v2::GetTicketRequest>,
    ) -> Result<Response<v2::PendingTicket>, Status> {
        self.get::<PendingTicket, _, _>(request).await
    }

    async fn start_service(
        &self,
        request: Request<v2::StartServiceRequest>,
    ) -> Result<Response<v2::InProgressTicket>, Status> {
        let provider = provider_of(&request)?;
        let call = convert::StartService::try_from(request.into_inner())?;
        let started =
            store::start_service(&self.parked, provider, call.ticket, call.operator).await?;
        if matches!(started, store::Started::Now(_)) {
            self.metrics.service_started();
            self.hub.poke();
        }
        Ok(Response::new(started.into_ticket().into()))
    }

    async fn list_in_progress_tickets(
        &self,
        request: Request<v2::ListTicketsRequest>,
    ) -> Result<Response<v2::ListInProgressTicketsResponse>, Status> {
        self.list::<InProgressTicket, _>(request).await
    }

    async fn get_in_progress_ticket(
        &self,
        request: Request<v2::GetTicketRequest>,
    ) -> Result<Response<v2::InProgressTicket>, Status> {
        self.get::<InProgressTicket, _, _>(request).await
    }

    async fn create_pending_ticket(
        &self,
        request: Request<v2::CreatePendingTicketRequest>,
    ) -> Result<Response<v2::PendingTicket>, Status> {
        let provider = provider_of(&request)?;
        let new = convert::new_ticket(provider, request.into_inner())?;
        let ticket = store::create_pending_ticket(&self.parked, new).await?;
        self.hub.poke();
        Ok(Response::new(ticket.into()))
    }

    async fn list_ticket_events(
        &self,
        request: Request<v2::ListTicketEventsRequest>,
    ) -> Result<Response<v2::ListTicketEventsResponse>, Status> {
        self.list_events(request).await
    }

    type WatchTicketEventsStream = Watch;

    async fn watch_ticket_events(
        &self,
        request: Request<v2::WatchTicketEventsRequest>,
    ) -> Result<Response<Watch>, Status> {
        self.watch_events(request).await
    }
}
