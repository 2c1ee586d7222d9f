//! The ticket desk's vocabulary: values that are valid by construction, and the one error type the
//! core speaks. Everything from outside is parsed into these types at the edge (see `grpc::convert`),
//! so the store and the handlers never see an unchecked value.

mod employee;
mod error;
mod event;
mod ids;
mod paging;
mod ticket;
mod vin;

pub use employee::{EmailAddress, Employee, EmployeeRole, PersonName};
pub use error::Error;
pub use event::{Change, EventLimit, EventPosition, EventQuery, TicketEvent};
pub use ids::{CustomerId, EmployeeId, ProviderId, TicketId, parse_uuid};
pub use paging::{Limit, ListQuery, Offset, Page, Position};
pub use ticket::{InProgressTicket, NewTicket, PendingTicket, TicketState};
pub use vin::Vin;
