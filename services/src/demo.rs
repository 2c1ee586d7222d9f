//! Demo data for the one-command local run: one provider, a few employees, 50 pending tickets.
//! Idempotent: employees are upserted by fixed ids, and tickets are only added up to 50.

use uuid::{Uuid, uuid};

use crate::{
    domain::{
        CustomerId, Employee, EmployeeId, EmployeeRole, Error, InProgressTicket, Limit, ListQuery,
        NewTicket, Offset, PendingTicket, ProviderId, Vin,
    },
    store::{self, DatabaseConnection},
};

/// The demo provider; the gateway's demo client (`demo`) acts for it.
pub const PROVIDER_ID: Uuid = uuid!("6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b");

/// The demo operator to use in examples (enabled, `is_operator`).
pub const OPERATOR_ID: Uuid = uuid!("0a6e1c52-7b8d-4f10-9c2e-3d4f5a6b7c01");

/// The demo customer every demo ticket belongs to.
const CUSTOMER_ID: Uuid = uuid!("160c0c4b-9966-4dc1-a916-8407eb10d74e");

/// How many tickets the demo provider gets.
const TICKETS: u64 = 50;

/// The demo employees: two enabled operators, one disabled operator, one non-operator.
fn employees() -> Result<Vec<Employee>, Error> {
    let people = [
        (OPERATOR_ID, "Ada", "Lovelace", "ada@demo.example", EmployeeRole::Operator, true, true),
        (
            uuid!("0a6e1c52-7b8d-4f10-9c2e-3d4f5a6b7c02"),
            "Grace",
            "Hopper",
            "grace@demo.example",
            EmployeeRole::SeniorOperator,
            true,
            true,
        ),
        (
            uuid!("0a6e1c52-7b8d-4f10-9c2e-3d4f5a6b7c03"),
            "Alan",
            "Turing",
            "alan@demo.example",
            EmployeeRole::Operator,
            true,
            false,
        ),
        (
            uuid!("0a6e1c52-7b8d-4f10-9c2e-3d4f5a6b7c04"),
            "Edsger",
            "Dijkstra",
            "edsger@demo.example",
            EmployeeRole::Employee,
            false,
            true,
        ),
    ];
    let invalid = |_| Error::Internal("demo employee data is invalid".into());
    people
        .into_iter()
        .map(|(id, given, family, username, role, is_operator, enabled)| {
            Ok(Employee {
                id: EmployeeId::new(id),
                provider_id: ProviderId::new(PROVIDER_ID),
                given_name: given.to_owned().try_into().map_err(invalid)?,
                family_name: family.to_owned().try_into().map_err(invalid)?,
                username: username.to_owned().try_into().map_err(invalid)?,
                role,
                is_operator,
                enabled,
            })
        })
        .collect()
}

/// What seeding did.
#[derive(Debug)]
pub struct Summary {
    /// Tickets created by this run (0 when the demo data was already there).
    pub tickets_created: u64,
}

/// Creates (or refreshes) the demo data.
///
/// # Errors
/// When the store cannot be reached.
pub async fn seed(db: &DatabaseConnection) -> Result<Summary, Error> {
    for employee in employees()? {
        store::upsert_employee(db, employee).await?;
    }
    let provider = ProviderId::new(PROVIDER_ID);
    let count_only = ListQuery {
        limit: Limit::try_from(0).map_err(|e| Error::Internal(e.into()))?,
        offset: Offset::default(),
        ticket_number: None,
        after: None,
    };
    let store = store::Parked::new(db.clone());
    let existing = store::list::<PendingTicket>(&store, provider, count_only).await?.total
        + store::list::<InProgressTicket>(&store, provider, count_only).await?.total;
    let mut created = 0;
    for n in existing..TICKETS {
        let vin = Vin::try_from(format!("1HGCM82633A{n:06}").as_str())
            .map_err(|e| Error::Internal(e.into()))?;
        store::create_pending_ticket(
            &store,
            NewTicket {
                provider_id: provider,
                customer_id: CustomerId::new(CUSTOMER_ID),
                vehicle_model_id: i64::try_from(n % 7).unwrap_or(0),
                vin,
                connection_id: (n % 2 == 0).then(Uuid::new_v4),
            },
        )
        .await?;
        created += 1;
    }
    Ok(Summary { tickets_created: created })
}
