//! Operators working through their tickets over REST while a test breaks things, and the
//! tally of what they saw.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tickets_contract::v2;
use tickets_testing::eventually;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use uuid::Uuid;

use super::{
    lost_and_duplicated,
    partner::{Answer, Partner},
    report, stored_tickets,
};

/// At most one ticket per worker in this time: a steady load, not a flood.
const TICKET_PACE: Duration = Duration::from_millis(10);

/// After a 503, at most one retry of the same start in this time, as a careful client does.
const RETRY_PACE: Duration = Duration::from_millis(50);

/// What a load run saw.
#[derive(Debug, Default)]
struct Tally {
    /// Calls made.
    requests: usize,
    /// 503 `service-unavailable` problems (expected while something is down).
    unavailable: usize,
    /// Answers the contract does not allow here, and hangs.
    failures: usize,
    /// The slowest 503.
    slowest_unavailable: Duration,
    /// When the last call answered 503 was sent.
    last_unavailable: Option<Instant>,
    /// Every (ticket, operator) the gateway acknowledged with a 303.
    acknowledged: Vec<(Uuid, Uuid)>,
}

impl Tally {
    fn add(&mut self, other: Self) {
        self.requests += other.requests;
        self.unavailable += other.unavailable;
        self.failures += other.failures;
        self.slowest_unavailable = self.slowest_unavailable.max(other.slowest_unavailable);
        self.last_unavailable = self.last_unavailable.max(other.last_unavailable);
        self.acknowledged.extend(other.acknowledged);
    }

    /// Counts `answer`: `ok` is the success status of the call; a 503 problem is tolerated.
    /// Returns whether it succeeded.
    fn count(&mut self, answer: &Answer, ok: u16, progress: &Progress) -> bool {
        self.requests += 1;
        if answer.status == ok {
            true
        } else if answer.is_unavailable_problem() {
            self.unavailable += 1;
            self.slowest_unavailable = self.slowest_unavailable.max(answer.elapsed);
            self.last_unavailable = self.last_unavailable.max(Some(answer.at - answer.elapsed));
            progress.unavailable.fetch_add(1, Ordering::SeqCst);
            false
        } else {
            eprintln!("unexpected answer under faults: {answer:?}");
            self.failures += 1;
            false
        }
    }
}

/// What the workers have seen so far, for a test to wait on.
#[derive(Debug, Default)]
struct Progress {
    acknowledged: AtomicUsize,
    unavailable: AtomicUsize,
}

/// Ticks at most every `period`, the first tick one `period` from now.
fn pace(period: Duration) -> Interval {
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks
}

/// Operators working through their own pending tickets over REST while a test breaks things:
/// each starts its tickets one by one — retrying after a 503 until it gets its 303, as a
/// careful client does — and reads a page of the pending list after each.
#[derive(Debug)]
pub(crate) struct Load {
    progress: Arc<Progress>,
    workers: Vec<tokio::task::JoinHandle<Tally>>,
}

impl Load {
    /// Starts one worker per `(operator, tickets)`; a worker gives up on a ticket (a failure)
    /// once `give_up` has passed.
    pub(crate) fn start(
        partner: &Partner,
        work: Vec<(Uuid, Vec<String>)>,
        give_up: Duration,
    ) -> Self {
        let progress = Arc::new(Progress::default());
        let deadline = Instant::now() + give_up;
        let workers = work
            .into_iter()
            .map(|(operator, tickets)| {
                let (partner, progress) = (partner.clone(), progress.clone());
                tokio::spawn(async move {
                    let mut tally = Tally::default();
                    let mut next_ticket = pace(TICKET_PACE);
                    for id in tickets {
                        let mut next_try = pace(RETRY_PACE);
                        loop {
                            let answer = partner.start(&id, operator).await;
                            let location = format!("/v2/tickets/in-progress-tickets/{id}");
                            if tally.count(&answer, 303, &progress) {
                                if answer.location.as_deref() != Some(location.as_str()) {
                                    tally.failures += 1;
                                }
                                tally.acknowledged.push((id.parse().unwrap(), operator));
                                progress.acknowledged.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                            if Instant::now() >= deadline {
                                eprintln!("gave up on ticket {id}");
                                tally.failures += 1;
                                break;
                            }
                            next_try.tick().await;
                        }
                        let page = partner.get("/v2/tickets/pending-tickets?limit=5").await;
                        tally.count(&page, 200, &progress);
                        next_ticket.tick().await;
                    }
                    tally
                })
            })
            .collect();
        Self { progress, workers }
    }

    /// Waits until at least `count` starts were acknowledged (for at most 30 s).
    pub(crate) async fn wait_acknowledged(&self, count: usize) {
        let counter = &self.progress.acknowledged;
        let reached = eventually(Duration::from_secs(30), || async move {
            counter.load(Ordering::SeqCst) >= count
        });
        assert!(reached.await, "{count} starts acknowledged within 30 s");
    }

    /// How many 503 problems the workers have been answered so far.
    pub(crate) fn unavailable(&self) -> usize {
        self.progress.unavailable.load(Ordering::SeqCst)
    }

    /// Waits until the workers have been answered `more` 503 problems than now (for at most
    /// 30 s): the load has run against the fault for a while.
    pub(crate) async fn wait_unavailable(&self, more: usize) {
        let (counter, count) = (&self.progress.unavailable, self.unavailable() + more);
        let reached = eventually(Duration::from_secs(30), || async move {
            counter.load(Ordering::SeqCst) >= count
        });
        assert!(reached.await, "{more} more 503 problems within 30 s");
    }

    /// Waits for every worker and adds up what they saw.
    async fn finish(self) -> Tally {
        let mut total = Tally::default();
        for worker in self.workers {
            total.add(worker.await.unwrap());
        }
        total
    }

    /// Waits for every worker, reads what the database at `database_url` holds, prints the
    /// report line of `scenario`, and checks what a fault scenario promises: the faults were
    /// seen as 503 problems within `request_timeout`, none after the system was ready again
    /// (`recovered_at`), no other failure, and each of the `created` tickets started exactly
    /// once in the end, as acknowledged.
    pub(crate) async fn finish_checked(
        self,
        scenario: &str,
        database_url: &str,
        created: usize,
        recovered_at: Instant,
        request_timeout: Duration,
    ) {
        let tally = self.finish().await;
        let stored = stored_tickets(database_url).await;
        let (lost, duplicated) = lost_and_duplicated(&stored, &tally.acknowledged, created);
        report(scenario, tally.requests, tally.failures, lost + duplicated);
        assert!(
            tally.last_unavailable < Some(recovered_at),
            "no call sent once the service was ready again is answered 503"
        );
        assert!(tally.unavailable > 0, "the faults were seen as 503 problems");
        // A call that found no instance to take it is answered when its deadline runs out, so
        // a 503 may come right at the request timeout; measured here from the client's side,
        // on a machine loaded by the other tests, it gets the client's own second of slack.
        assert!(
            tally.slowest_unavailable < request_timeout + Duration::from_secs(1),
            "503s come within the request timeout: {:?}",
            tally.slowest_unavailable
        );
        assert_eq!(tally.failures, 0, "no 500, no hang, no other status");
        assert_eq!(tally.acknowledged.len(), created, "every start went through in the end");
        assert_eq!((lost, duplicated), (0, 0), "nothing acknowledged is lost, nothing duplicated");
    }
}

/// Splits `tickets` evenly between `operators`.
pub(crate) fn share(operators: &[Uuid], tickets: &[v2::PendingTicket]) -> Vec<(Uuid, Vec<String>)> {
    operators
        .iter()
        .enumerate()
        .map(|(i, operator)| {
            let mine = tickets.iter().skip(i).step_by(operators.len()).map(|t| t.id.clone());
            (*operator, mine.collect())
        })
        .collect()
}
