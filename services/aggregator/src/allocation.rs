//! Usage is billed only as its allocation grants it. The grants are the scheduler's allocations
//! (read from the ledger database with each batch) and the static allocations of `cluster.toml`;
//! `aggregator.unknown_allocations` says what becomes of usage for an allocation neither knows.
//! Pure: the caller passes the scheduler's grants in.

use crate::interval::MeteredInterval;
use crate::validate::Rejection;
use gpubill_domain::{Grant, MeteredUse, check_grant};
use gpubill_platform::config::UnknownAllocations;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct AllocationCheck {
    /// The static allocations, by id.
    statics: HashMap<String, Grant>,
    unknown: UnknownAllocations,
}

impl AllocationCheck {
    pub fn new(statics: Vec<Grant>, unknown: UnknownAllocations) -> Self {
        Self {
            statics: statics
                .into_iter()
                .map(|grant| (grant.allocation_id.clone(), grant))
                .collect(),
            unknown,
        }
    }

    /// Checks `usage` against its allocation: a scheduled one (from `scheduled`, which wins: the
    /// scheduler's ids are UUIDs and never a static id), else a static one, else none.
    pub fn check(
        &self,
        scheduled: &HashMap<String, Grant>,
        usage: &MeteredInterval,
    ) -> Result<(), Rejection> {
        let id = usage.allocation_id.as_str();
        let grant = scheduled.get(id).or_else(|| self.statics.get(id));
        if grant.is_none() && self.unknown == UnknownAllocations::Bill {
            return Ok(());
        }
        let metered = MeteredUse {
            tenant: &usage.tenant_id,
            node: &usage.node_id,
            device: &usage.gpu_uuid,
            sku: &usage.sku,
            price_class: usage.price_class,
            start: usage.interval_start,
            end: usage.interval_end,
        };
        check_grant(grant, id, &metered).map_err(|refused| Rejection {
            reason: refused.reason.code(),
            detail: refused.detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::tests::at;
    use gpubill_domain::{PriceClass, Tz};
    use rust_decimal::Decimal;
    use uuid::Uuid;

    fn usage(allocation_id: &str, tenant: &str) -> MeteredInterval {
        MeteredInterval {
            event_id: Uuid::nil(),
            tenant_id: tenant.into(),
            allocation_id: allocation_id.into(),
            node_id: "n1".into(),
            gpu_uuid: "GPU-1".into(),
            sku: "H100-SXM5-80GB".into(),
            price_class: PriceClass::OnDemand,
            time_zone: Tz::UTC,
            seq: 1,
            interval_start: at("2026-11-23T10:00:00Z"),
            interval_end: at("2026-11-23T10:00:10Z"),
            gpu_seconds: Decimal::TEN,
            source_partition: 0,
            source_offset: 0,
            digest: [0; 16],
        }
    }

    fn grant(id: &str, tenant: &str) -> Grant {
        Grant {
            allocation_id: id.into(),
            tenant: tenant.into(),
            sku: "H100-SXM5-80GB".into(),
            price_class: PriceClass::OnDemand,
            devices: vec![("n1".into(), "GPU-1".into())],
            started_at: at("2026-11-23T00:00:00Z"),
            ended_at: None,
            max_end_at: None,
        }
    }

    fn reason(
        check: &AllocationCheck,
        scheduled: &[Grant],
        usage: &MeteredInterval,
    ) -> Option<&'static str> {
        let scheduled: HashMap<String, Grant> = scheduled
            .iter()
            .map(|g| (g.allocation_id.clone(), g.clone()))
            .collect();
        check.check(&scheduled, usage).err().map(|r| r.reason)
    }

    #[test]
    fn scheduled_then_static_grants_decide_and_unknown_ones_follow_the_setting() {
        let reject =
            AllocationCheck::new(vec![grant("static-1", "t1")], UnknownAllocations::Reject);
        let bill = AllocationCheck::new(vec![grant("static-1", "t1")], UnknownAllocations::Bill);
        for check in [&reject, &bill] {
            assert_eq!(reason(check, &[], &usage("static-1", "t1")), None);
            assert_eq!(
                reason(check, &[], &usage("static-1", "t2")),
                Some("tenant_mismatch")
            );
            // A scheduled allocation is checked against the scheduler's grant.
            let scheduled = [grant("s-1", "t2")];
            assert_eq!(reason(check, &scheduled, &usage("s-1", "t2")), None);
            assert_eq!(
                reason(check, &scheduled, &usage("s-1", "t1")),
                Some("tenant_mismatch")
            );
        }
        assert_eq!(
            reason(&reject, &[], &usage("nobody", "t1")),
            Some("unknown_allocation")
        );
        assert_eq!(reason(&bill, &[], &usage("nobody", "t1")), None);
    }
}
