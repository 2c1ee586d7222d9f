//! SeaORM entities: the rows exactly as stored. Only `store` sees them; the rest of the service
//! works with the domain types they convert to.

pub(crate) mod employee;
pub(crate) mod ticket;
pub(crate) mod ticket_event;
