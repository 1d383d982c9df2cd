//! `gpubill bench-placement`: placement decisions per second in the scheduler's pure core on a
//! synthetic inventory (default 10,000 nodes × 8 H100 in pods of 16, every tenth node in MIG
//! mode). The cluster is first filled to the target occupancy; then each step releases a random
//! allocation while above it, or places a request from a fixed mix (1–32 GPUs, MIG instances,
//! one in five spot) with preemption for on demand, and commits it. No I/O: this is the ceiling
//! the single writer can decide at, before Postgres.

use anyhow::{Result, bail};
use gpubill_domain::PriceClass;
use gpubill_domain::scheduler::{
    ClusterState, LiveAllocation, PlacementRequest, synthetic_inventory,
};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct BenchPlacementArgs {
    /// Nodes of 8 GPUs in the inventory.
    #[arg(long, default_value_t = 10_000)]
    nodes: usize,
    /// Placement decisions to time.
    #[arg(long, default_value_t = 100_000)]
    decisions: usize,
    /// Share of GPUs kept allocated while timing, in percent.
    #[arg(long, default_value_t = 75)]
    occupancy: usize,
}

/// A deterministic generator, so runs compare (xorshift64*).
struct Draw(u64);

impl Draw {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % below.max(1)
    }
}

/// The request mix: mostly small jobs, some whole nodes and multi-node gangs, some MIG.
fn next_request(draw: &mut Draw, serial: usize) -> PlacementRequest {
    let (sku, count) = match draw.next(100) {
        0..40 => ("H100-SXM5-80GB", 1),
        40..60 => ("H100-SXM5-80GB", 2),
        60..75 => ("H100-SXM5-80GB", 4),
        75..85 => ("H100-SXM5-80GB", 8),
        85..90 => ("H100-SXM5-80GB", 16),
        90..93 => ("H100-SXM5-80GB", 32),
        93..97 => ("H100-MIG-1g.10gb", 1 + draw.next(3) as u32),
        _ => ("H100-MIG-3g.40gb", 1 + draw.next(2) as u32),
    };
    PlacementRequest {
        tenant: format!("tenant-{}", serial % 50),
        sku: sku.to_owned(),
        count,
        class: if draw.next(5) == 0 {
            PriceClass::Spot
        } else {
            PriceClass::OnDemand
        },
    }
}

pub fn run(args: BenchPlacementArgs) -> Result<()> {
    if args.nodes == 0 || args.decisions == 0 || !(1..=95).contains(&args.occupancy) {
        bail!("--nodes and --decisions must be positive, --occupancy within 1..=95");
    }
    let mut state = ClusterState::new(synthetic_inventory(args.nodes, 16, 10), Vec::new())?;
    let total_gpus = args.nodes * 8;
    let target_free = total_gpus * (100 - args.occupancy) / 100;
    let mut draw = Draw(0x9E37_79B9_7F4A_7C15);
    let mut live: Vec<String> = Vec::new();
    let mut serial = 0usize;
    let started_at = chrono::Utc::now();

    let mut decide = |state: &mut ClusterState, live: &mut Vec<String>, draw: &mut Draw| {
        serial += 1;
        let request = next_request(draw, serial);
        let placed = state.place_or_preempt(&request);
        if let Ok(placement) = &placed {
            for victim in &placement.preempt {
                state.release(victim);
                if let Some(at) = live.iter().position(|id| id == victim) {
                    live.swap_remove(at);
                }
            }
            let id = format!("a{serial}");
            let committed = state.commit(LiveAllocation {
                id: id.clone(),
                tenant: request.tenant.clone(),
                sku: request.sku.clone(),
                class: request.class,
                priority: 0,
                started_at: started_at + chrono::Duration::seconds(serial as i64),
                slots: placement.slots.clone(),
            });
            if committed.is_ok() {
                live.push(id);
            }
        }
        placed.is_ok()
    };

    let fill_started = Instant::now();
    while state.free_gpus() > target_free {
        if !decide(&mut state, &mut live, &mut draw) && state.free_gpus() <= target_free + 64 {
            break;
        }
    }
    println!(
        "inventory: {} nodes, {} GPUs; filled to {} free GPUs with {} allocations in {:.2?}",
        args.nodes,
        total_gpus,
        state.free_gpus(),
        live.len(),
        fill_started.elapsed()
    );

    let mut latencies: Vec<Duration> = Vec::with_capacity(args.decisions);
    let (mut placed, mut refused, mut releases) = (0usize, 0usize, 0usize);
    let timed = Instant::now();
    while latencies.len() < args.decisions {
        if state.free_gpus() < target_free && !live.is_empty() {
            let at = draw.next(live.len() as u64) as usize;
            let id = live.swap_remove(at);
            state.release(&id);
            releases += 1;
            continue;
        }
        let decision = Instant::now();
        let ok = decide(&mut state, &mut live, &mut draw);
        latencies.push(decision.elapsed());
        if ok { placed += 1 } else { refused += 1 }
    }
    let elapsed = timed.elapsed();
    if let Err(broken) = state.check_invariants() {
        bail!("invariant broken after the run: {broken}");
    }
    latencies.sort_unstable();
    let percentile = |p: usize| latencies[(latencies.len() - 1) * p / 100];
    println!(
        "{} placement decisions ({placed} placed, {refused} refused) and {releases} releases in {:.2?}",
        args.decisions, elapsed
    );
    println!(
        "decisions per second: {:.0}   latency p50 {:.2?}  p99 {:.2?}  max {:.2?}",
        args.decisions as f64 / elapsed.as_secs_f64(),
        percentile(50),
        percentile(99),
        latencies[latencies.len() - 1]
    );
    Ok(())
}
