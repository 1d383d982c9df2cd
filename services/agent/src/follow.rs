//! Following the scheduler: the agent of one node asks the API for the allocations placed on its
//! node (`GET /v1/nodes/{node}/allocations?since=`) every `agent.scheduler_poll_ms`, and meters
//! what the answer lists. Each answer also vouches for time: an allocation listed as running by a
//! poll sent at `t` was not released before `t`, so the agent meters an interval only once a poll
//! sent after the interval's end has answered. A released allocation is therefore never metered
//! past its end, and while the scheduler cannot be reached metering waits (the intervals are
//! deterministic, so they are metered late, not lost).

use crate::simulation::{MeteredAllocation, Simulation};
use chrono::{DateTime, SecondsFormat, Utc};
use gpubill_domain::PriceClass;
use gpubill_platform::config::AgentSettings;
use gpubill_schema::api::Problem;
use gpubill_schema::api::allocation::{AllocatedGpu, Allocation, NodeAllocations};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How long one poll may take before it counts as failed.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);
/// How far before the previous poll the next one asks from (`since`). An allocation that ended
/// before `since` is not listed any more, so an end written late (its transaction committed a
/// while after `ended_at`) must still fall inside the overlap to be seen.
pub const SINCE_OVERLAP: chrono::Duration = chrono::Duration::minutes(10);

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("GET {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("GET {url}: HTTP {status} {code}: {message}")]
    Refused {
        url: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("GET {url}: unexpected answer: {detail}")]
    Unexpected { url: String, detail: String },
}

impl PollError {
    /// The API refused the agent's key (401) or its role or node (403, 404 for another node):
    /// waiting will not help, so the agent stops and says so.
    pub fn is_key_refused(&self) -> bool {
        matches!(
            self,
            PollError::Refused {
                status: 401 | 403,
                ..
            }
        ) || matches!(self, PollError::Refused { status: 404, code, .. } if code == "node_not_found")
    }
}

/// Asks the scheduler for `node`'s allocations running at or after `since`: blocking, so run it
/// on a blocking task.
pub fn fetch(
    client: &ureq::Agent,
    base_url: &str,
    api_key: &str,
    node: &str,
    since: DateTime<Utc>,
) -> Result<Vec<Allocation>, PollError> {
    let url = format!(
        "{}/v1/nodes/{node}/allocations",
        base_url.trim_end_matches('/')
    );
    let since = since.to_rfc3339_opts(SecondsFormat::Micros, true);
    let shown = || format!("{url}?since={since}");
    let mut response = client
        .get(&url)
        .query("since", &since)
        .header("Authorization", &format!("Bearer {api_key}"))
        .call()
        .map_err(|source| PollError::Http {
            url: shown(),
            source: Box::new(source),
        })?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|source| PollError::Http {
            url: shown(),
            source: Box::new(source),
        })?;
    if status != 200 {
        let (code, message) = match serde_json::from_str::<Problem>(&body) {
            Ok(problem) => (problem.code.as_str().to_owned(), problem.detail),
            Err(_) => ("-".to_owned(), body.chars().take(200).collect()),
        };
        return Err(PollError::Refused {
            url: shown(),
            status,
            code,
            message,
        });
    }
    let answer: NodeAllocations =
        serde_json::from_str(&body).map_err(|error| PollError::Unexpected {
            url: shown(),
            detail: error.to_string(),
        })?;
    if answer.node != node {
        return Err(PollError::Unexpected {
            url: shown(),
            detail: format!("the answer is for node `{}`", answer.node),
        });
    }
    Ok(answer.allocations)
}

/// The HTTP client of an agent that follows the scheduler. Non-2xx answers are read as the API's
/// error body rather than failing the call, so the error names the API's code.
pub fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(POLL_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into()
}

/// What `node`'s agent meters of the scheduler's allocations: their GPUs on the node, one stream
/// per GPU or MIG instance. An allocation with no GPU on the node, or of an unknown class, is
/// left out with the reason.
pub fn to_metered(
    node: &str,
    allocations: Vec<Allocation>,
) -> (Vec<MeteredAllocation>, Vec<(String, String)>) {
    let mut metered = Vec::with_capacity(allocations.len());
    let mut skipped = Vec::new();
    for allocation in allocations {
        let price_class: PriceClass = match allocation.class.parse() {
            Ok(class) => class,
            Err(error) => {
                skipped.push((allocation.id, format!("{error}")));
                continue;
            }
        };
        let mut devices: Vec<String> = allocation
            .placement
            .iter()
            .filter(|gpu| gpu.node == node)
            .map(AllocatedGpu::device)
            .collect();
        devices.sort();
        devices.dedup();
        if devices.is_empty() {
            skipped.push((allocation.id, format!("no GPU on node {node}")));
            continue;
        }
        metered.push(MeteredAllocation {
            tenant_id: allocation.tenant,
            allocation_id: allocation.id,
            node_id: node.to_owned(),
            sku: allocation.sku,
            price_class,
            devices,
            started_at: allocation.started_at,
            ended_at: allocation.ended_at,
            max_end_at: Some(allocation.max_end_at),
        });
    }
    (metered, skipped)
}

/// What one poll brought back.
pub(crate) type PollOutcome = Result<Vec<Allocation>, PollError>;

/// The polling side of an agent that follows the scheduler: one poll in flight at a time, on a
/// blocking task, every `agent.scheduler_poll_ms`.
pub(crate) struct Follower {
    client: ureq::Agent,
    base_url: String,
    /// The node key, sent with every poll.
    api_key: String,
    node: String,
    every: Duration,
    /// `since` of the next poll.
    since: DateTime<Utc>,
    /// When the last answered poll was sent: every allocation that had ended by then is known
    /// with its end. Nothing is metered past it. `None` until the first answer.
    pub(crate) known_until: Option<DateTime<Utc>>,
    next_poll: Instant,
    in_flight: Option<(DateTime<Utc>, JoinHandle<PollOutcome>)>,
    /// Polls failed in a row.
    failures: u64,
    /// Allocations already warned about (left out, or gone while running), warned once each.
    warned: HashSet<String>,
}

impl Follower {
    pub(crate) fn new(settings: &AgentSettings, node: &str, from: DateTime<Utc>) -> Self {
        Self {
            client: client(),
            base_url: settings.scheduler_url.clone(),
            api_key: settings.api_key.expose().to_owned(),
            node: node.to_owned(),
            every: Duration::from_millis(settings.scheduler_poll_ms),
            since: from,
            known_until: None,
            next_poll: Instant::now(),
            in_flight: None,
            failures: 0,
            warned: HashSet::new(),
        }
    }

    /// Sends a poll if one is due and none is in flight; returns when the next one is due, if
    /// none is in flight.
    pub(crate) fn poll_if_due(&mut self, now: Instant) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        if now < self.next_poll {
            return Some(self.next_poll);
        }
        let (client, base_url, api_key, node, since) = (
            self.client.clone(),
            self.base_url.clone(),
            self.api_key.clone(),
            self.node.clone(),
            self.since,
        );
        // Taken before the request is sent: the answer reflects at least this instant.
        let asked_at = Utc::now();
        let task =
            tokio::task::spawn_blocking(move || fetch(&client, &base_url, &api_key, &node, since));
        self.in_flight = Some((asked_at, task));
        self.next_poll = now + self.every;
        None
    }

    /// The answer of the poll in flight; never resolves while none is.
    pub(crate) async fn answer(&mut self) -> (DateTime<Utc>, PollOutcome) {
        let Some((asked_at, task)) = self.in_flight.as_mut() else {
            return std::future::pending().await;
        };
        let asked_at = *asked_at;
        let outcome = match task.await {
            Ok(outcome) => outcome,
            Err(error) => Err(PollError::Unexpected {
                url: self.base_url.clone(),
                detail: format!("the poll task failed: {error}"),
            }),
        };
        self.in_flight = None;
        (asked_at, outcome)
    }

    /// Applies an answer to the simulation: new allocations are metered, ended ones stop at
    /// their end, and metering may go on up to when the poll was sent. A refusal of the agent's
    /// key is returned: the agent cannot go on without one.
    pub(crate) fn apply(
        &mut self,
        asked_at: DateTime<Utc>,
        outcome: PollOutcome,
        simulation: &mut Simulation,
    ) -> Result<(), PollError> {
        let allocations = match outcome {
            Ok(allocations) => allocations,
            Err(error) if error.is_key_refused() => return Err(error),
            Err(error) => {
                self.failures += 1;
                // The first failures, then one in 30: an outage is not a log flood.
                if self.failures <= 3 || self.failures.is_multiple_of(30) {
                    tracing::warn!(
                        %error,
                        node = %self.node,
                        failures = self.failures,
                        known_until = ?self.known_until,
                        "cannot read the node's allocations from the scheduler: metering waits until it answers"
                    );
                }
                return Ok(());
            }
        };
        if self.failures > 0 {
            tracing::info!(
                node = %self.node,
                failures = self.failures,
                "the scheduler answers again: metering resumes"
            );
            self.failures = 0;
        }
        let listed = allocations.len();
        let (metered, skipped) = to_metered(&self.node, allocations);
        for (allocation, reason) in skipped {
            if self.warned.insert(allocation.clone()) {
                tracing::warn!(%allocation, node = %self.node, %reason, "allocation not metered");
            }
        }
        let report = simulation.sync(metered);
        for allocation in &report.vanished {
            if self.warned.insert(allocation.clone()) {
                tracing::warn!(
                    %allocation,
                    node = %self.node,
                    "a running allocation is no longer listed by the scheduler: still metered, as no end was given"
                );
            }
        }
        for allocation in &report.overrun {
            tracing::error!(
                %allocation,
                node = %self.node,
                "allocation ended before intervals already metered (clock skew with the scheduler?): they stay billed"
            );
        }
        if report.added + report.ended + report.dropped > 0 {
            tracing::info!(
                node = %self.node,
                listed,
                added = report.added,
                ended = report.ended,
                dropped = report.dropped,
                streams = simulation.gpu_count(),
                "allocations followed"
            );
        }
        self.known_until = Some(
            self.known_until
                .map_or(asked_at, |known| known.max(asked_at)),
        );
        self.since = self.since.max(asked_at - SINCE_OVERLAP);
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::simulation::tests::at;
    use gpubill_schema::api::ErrorCode;
    use gpubill_schema::api::allocation::AllocationStatus;
    use rust_decimal::dec;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    fn gpu(index: u8, uuid: &str, mig: Option<(u8, u8)>) -> AllocatedGpu {
        AllocatedGpu {
            node: "node-121".into(),
            gpu_index: index,
            gpu_uuid: uuid.into(),
            mig_first_slice: mig.map(|(first, _)| first),
            mig_slices: mig.map(|(_, slices)| slices),
        }
    }

    fn allocation(id: &str, sku: &str, class: &str, placement: Vec<AllocatedGpu>) -> Allocation {
        Allocation {
            id: id.into(),
            tenant: "t2".into(),
            idempotency_key: None,
            sku: sku.into(),
            class: class.into(),
            priority: 0,
            gpus: placement.len() as u32,
            max_duration_seconds: 1800,
            started_at: at("2026-11-24T10:00:00Z"),
            max_end_at: at("2026-11-24T10:30:00Z"),
            status: AllocationStatus::Running,
            ended_at: None,
            hold_amount: dec!(1.25),
            captured_amount: None,
            preempted_by: None,
            credit_amount: None,
            notice: None,
            placement,
        }
    }

    /// An answer as the API serializes it: a released spot allocation of two whole GPUs, a
    /// running one of two MIG instances of one GPU, and one of a class the agent does not know.
    pub(crate) fn answer() -> String {
        let whole = Allocation {
            tenant: "t1".into(),
            priority: 3,
            max_duration_seconds: 3600,
            started_at: at("2026-11-24T10:00:03.250Z"),
            max_end_at: at("2026-11-24T11:00:03.250Z"),
            status: AllocationStatus::Released,
            ended_at: Some(at("2026-11-24T10:00:27Z")),
            captured_amount: Some(dec!(0.03)),
            ..allocation(
                "a-whole",
                "H100-SXM5-80GB",
                "spot",
                vec![gpu(0, "GPU-a", None), gpu(1, "GPU-b", None)],
            )
        };
        let mig = allocation(
            "a-mig",
            "H100-MIG-1g.10gb",
            "on_demand",
            vec![gpu(2, "GPU-c", Some((0, 1))), gpu(2, "GPU-c", Some((4, 1)))],
        );
        let odd = allocation(
            "a-odd",
            "H100-SXM5-80GB",
            "preemptible",
            vec![gpu(3, "GPU-d", None)],
        );
        serde_json::to_string(&NodeAllocations {
            node: "node-121".into(),
            allocations: vec![whole, mig, odd],
        })
        .unwrap()
    }

    #[test]
    fn the_apis_allocations_become_one_stream_per_gpu_or_mig_instance() {
        let answer: NodeAllocations = serde_json::from_str(&answer()).unwrap();
        let (metered, skipped) = to_metered("node-121", answer.allocations);
        assert_eq!(metered.len(), 2);
        let whole = &metered[0];
        assert_eq!(whole.allocation_id, "a-whole");
        assert_eq!(whole.price_class, PriceClass::Spot);
        assert_eq!(whole.devices, ["GPU-a", "GPU-b"]);
        assert_eq!(whole.started_at, at("2026-11-24T10:00:03.250Z"));
        assert_eq!(whole.ended_at, Some(at("2026-11-24T10:00:27Z")));
        let mig = &metered[1];
        assert_eq!(mig.sku, "H100-MIG-1g.10gb");
        assert_eq!(mig.devices, ["MIG-GPU-c/0", "MIG-GPU-c/4"]);
        assert_eq!(mig.ended_at, None);
        assert_eq!(mig.max_end_at, Some(at("2026-11-24T10:30:00Z")));
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].0, "a-odd");
        assert!(skipped[0].1.contains("preemptible"), "{:?}", skipped[0]);
    }

    fn problem(code: ErrorCode, status: u16, detail: &str) -> String {
        serde_json::to_string(&Problem::new(code, status, detail)).unwrap()
    }

    const KEY: &str = "gpb_node_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    /// Serves one HTTP answer on a free port and returns the base URL and the request head seen.
    fn serve_once(status: &str, body: String) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let status = status.to_owned();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                request_line.push_str(&line);
                line.clear();
            }
            let mut stream = stream;
            write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            request_line
        });
        (base, server)
    }

    #[test]
    fn a_poll_asks_for_the_node_since_an_instant_and_reads_the_answer() {
        let (base, server) = serve_once("200 OK", answer());
        let found = fetch(
            &client(),
            &format!("{base}/"),
            KEY,
            "node-121",
            at("2026-11-24T09:59:00Z"),
        )
        .unwrap();
        assert_eq!(found.len(), 3);
        let request = server.join().unwrap();
        assert!(
            request.starts_with(
                "GET /v1/nodes/node-121/allocations?since=2026-11-24T09%3A59%3A00.000000Z "
            ),
            "{request}"
        );
        assert!(
            request
                .to_ascii_lowercase()
                .contains(&format!("authorization: bearer {KEY}\r\n")),
            "{request}"
        );
    }

    #[test]
    fn a_refused_key_is_told_apart_from_an_outage() {
        let (base, server) = serve_once(
            "401 Unauthorized",
            problem(ErrorCode::Unauthenticated, 401, "the API key was revoked"),
        );
        let error = fetch(
            &client(),
            &base,
            KEY,
            "node-121",
            at("2026-11-24T09:59:00Z"),
        )
        .unwrap_err();
        server.join().unwrap();
        assert!(error.is_key_refused(), "{error}");
        assert!(error.to_string().contains("revoked"), "{error}");
        let (base, server) = serve_once("503 Service Unavailable", "{}".to_owned());
        let error = fetch(
            &client(),
            &base,
            KEY,
            "node-121",
            at("2026-11-24T09:59:00Z"),
        )
        .unwrap_err();
        server.join().unwrap();
        assert!(!error.is_key_refused(), "{error}");
    }

    #[test]
    fn a_refusal_names_the_apis_code_and_message() {
        let (base, server) = serve_once(
            "404 Not Found",
            problem(
                ErrorCode::NodeNotFound,
                404,
                "node `node-999` does not exist",
            ),
        );
        let error = fetch(
            &client(),
            &base,
            KEY,
            "node-999",
            at("2026-11-24T09:59:00Z"),
        )
        .unwrap_err();
        server.join().unwrap();
        let text = error.to_string();
        assert!(
            matches!(&error, PollError::Refused { status: 404, code, .. } if code == "node_not_found"),
            "{text}"
        );
        assert!(text.contains("node `node-999` does not exist"), "{text}");
    }

    #[test]
    fn an_answer_for_another_node_is_refused() {
        let (base, server) = serve_once("200 OK", answer());
        let error = fetch(
            &client(),
            &base,
            KEY,
            "node-001",
            at("2026-11-24T09:59:00Z"),
        )
        .unwrap_err();
        server.join().unwrap();
        assert!(error.to_string().contains("node `node-121`"), "{error}");
    }

    #[test]
    fn an_unreachable_scheduler_is_an_error_not_a_panic() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = fetch(
            &client(),
            &format!("http://127.0.0.1:{port}"),
            KEY,
            "node-001",
            at("2026-11-24T09:59:00Z"),
        )
        .unwrap_err();
        assert!(matches!(error, PollError::Http { .. }), "{error}");
    }
}
