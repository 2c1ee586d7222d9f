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
use uuid::Uuid;

use super::partner::{Answer, Partner};

/// What a load run saw.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Calls made.
    pub(crate) requests: usize,
    /// 503 `service-unavailable` problems (expected while something is down).
    pub(crate) unavailable: usize,
    /// Answers the contract does not allow here, and hangs.
    pub(crate) failures: usize,
    /// The slowest 503.
    pub(crate) slowest_unavailable: Duration,
    /// When the last call answered 503 was sent.
    pub(crate) last_unavailable: Option<tokio::time::Instant>,
    /// Every (ticket, operator) the gateway acknowledged with a 303.
    pub(crate) acknowledged: Vec<(Uuid, Uuid)>,
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
    fn count(&mut self, answer: &Answer, ok: u16) -> bool {
        self.requests += 1;
        if answer.status == ok {
            true
        } else if answer.is_unavailable_problem() {
            self.unavailable += 1;
            self.slowest_unavailable = self.slowest_unavailable.max(answer.elapsed);
            self.last_unavailable = self.last_unavailable.max(Some(answer.at - answer.elapsed));
            false
        } else {
            eprintln!("unexpected answer under faults: {answer:?}");
            self.failures += 1;
            false
        }
    }
}

/// Operators working through their own pending tickets over REST while a test breaks things:
/// each starts its tickets one by one — retrying after a 503 until it gets its 303, as a
/// careful client does — and reads a page of the pending list after each.
#[derive(Debug)]
pub(crate) struct Load {
    acknowledged: Arc<AtomicUsize>,
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
        let acknowledged = Arc::new(AtomicUsize::new(0));
        let deadline = tokio::time::Instant::now() + give_up;
        let workers = work
            .into_iter()
            .map(|(operator, tickets)| {
                let (partner, acknowledged) = (partner.clone(), acknowledged.clone());
                tokio::spawn(async move {
                    let mut tally = Tally::default();
                    for id in tickets {
                        loop {
                            let answer = partner.start(&id, operator).await;
                            let location = format!("/v2/tickets/in-progress-tickets/{id}");
                            if tally.count(&answer, 303) {
                                if answer.location.as_deref() != Some(location.as_str()) {
                                    tally.failures += 1;
                                }
                                tally.acknowledged.push((id.parse().unwrap(), operator));
                                acknowledged.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                            if tokio::time::Instant::now() >= deadline {
                                eprintln!("gave up on ticket {id}");
                                tally.failures += 1;
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        let page = partner.get("/v2/tickets/pending-tickets?limit=5").await;
                        tally.count(&page, 200);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    tally
                })
            })
            .collect();
        Self { acknowledged, workers }
    }

    /// Waits until at least `count` starts were acknowledged (for at most 30 s).
    pub(crate) async fn wait_acknowledged(&self, count: usize) {
        let waited = tokio::time::timeout(Duration::from_secs(30), async {
            while self.acknowledged.load(Ordering::SeqCst) < count {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        assert!(waited.await.is_ok(), "{count} starts acknowledged within 30 s");
    }

    /// Waits for every worker and adds up what they saw.
    pub(crate) async fn finish(self) -> Tally {
        let mut total = Tally::default();
        for worker in self.workers {
            total.add(worker.await.unwrap());
        }
        total
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
