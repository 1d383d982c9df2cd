//! What an allocation grants: the tenant, the devices (GPUs or MIG instances, on their nodes), the
//! SKU and price class, and the time its usage may be billed for. The aggregator rejects a usage
//! event its allocation does not grant, and reconciliation flags usage streams by the same
//! reasons. Pure.

use crate::PriceClass;
use chrono::{DateTime, Utc};

/// Why usage is not covered by an allocation: the `reason` of a dead letter or of a
/// reconciliation discrepancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unallocated {
    /// No allocation of that id: neither the scheduler nor the static allocations know it.
    UnknownAllocation,
    /// The allocation belongs to another tenant.
    TenantMismatch,
    /// The allocation does not hold that GPU (or MIG instance) on that node.
    GpuNotAllocated,
    /// The usage starts before the allocation started, or ends after it ended (or after its
    /// maximum duration, while it runs).
    OutsideAllocation,
    /// The usage is of another SKU than the allocation's.
    SkuMismatch,
    /// The usage is sold at another price class than the allocation's.
    ClassMismatch,
}

impl Unallocated {
    pub const fn code(self) -> &'static str {
        match self {
            Self::UnknownAllocation => "unknown_allocation",
            Self::TenantMismatch => "tenant_mismatch",
            Self::GpuNotAllocated => "gpu_not_allocated",
            Self::OutsideAllocation => "outside_allocation",
            Self::SkuMismatch => "sku_mismatch",
            Self::ClassMismatch => "class_mismatch",
        }
    }
}

/// An allocation as its usage is checked against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub allocation_id: String,
    pub tenant: String,
    /// The SKU sold: the node's GPU, or a MIG profile.
    pub sku: String,
    pub price_class: PriceClass,
    /// `(node, device)`: a GPU's UUID, or a MIG instance's device id.
    pub devices: Vec<(String, String)>,
    pub started_at: DateTime<Utc>,
    /// Set once the allocation has ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Where a running allocation ends at the latest (its maximum duration); `None` for an
    /// allocation without one (the static allocations of the configuration).
    pub max_end_at: Option<DateTime<Utc>>,
}

/// One metered interval of one device, as checked against its allocation's grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeteredUse<'a> {
    pub tenant: &'a str,
    pub node: &'a str,
    pub device: &'a str,
    pub sku: &'a str,
    pub price_class: PriceClass,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A refused use: the reason, and what the grant says instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotGranted {
    pub reason: Unallocated,
    pub detail: String,
}

impl Grant {
    /// The end of the time granted: the allocation's end, else its maximum end, else none.
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.ended_at.into_iter().chain(self.max_end_at).min()
    }

    /// Whether the allocation holds `device` on `node`.
    pub fn holds(&self, node: &str, device: &str) -> bool {
        self.devices.iter().any(|(n, d)| n == node && d == device)
    }

    /// Whether `usage` is granted: same tenant, a device the allocation holds on that node, its
    /// SKU and class, and an interval inside `[started_at, end]`. The first mismatch is reported,
    /// in that order.
    pub fn check(&self, usage: &MeteredUse<'_>) -> Result<(), NotGranted> {
        let refuse = |reason: Unallocated, detail: String| Err(NotGranted { reason, detail });
        let id = &self.allocation_id;
        if usage.tenant != self.tenant {
            return refuse(
                Unallocated::TenantMismatch,
                format!(
                    "allocation {id} belongs to tenant `{}`, not `{}`",
                    self.tenant, usage.tenant
                ),
            );
        }
        if !self.holds(usage.node, usage.device) {
            return refuse(
                Unallocated::GpuNotAllocated,
                format!(
                    "allocation {id} does not hold {} on node {}",
                    usage.device, usage.node
                ),
            );
        }
        if usage.sku != self.sku {
            return refuse(
                Unallocated::SkuMismatch,
                format!(
                    "allocation {id} is of SKU `{}`, not `{}`",
                    self.sku, usage.sku
                ),
            );
        }
        if usage.price_class != self.price_class {
            return refuse(
                Unallocated::ClassMismatch,
                format!(
                    "allocation {id} is sold {}, not {}",
                    self.price_class.code(),
                    usage.price_class.code()
                ),
            );
        }
        let end = self.end();
        if usage.start < self.started_at || end.is_some_and(|end| usage.end > end) {
            let granted = match end {
                Some(end) => format!("[{}, {end}]", self.started_at),
                None => format!("from {} on", self.started_at),
            };
            return refuse(
                Unallocated::OutsideAllocation,
                format!(
                    "usage [{}, {}) is outside allocation {id}, granted {granted}",
                    usage.start, usage.end
                ),
            );
        }
        Ok(())
    }
}

/// Checks `usage` of allocation `allocation_id` against its grant, if it has one.
pub fn check_grant(
    grant: Option<&Grant>,
    allocation_id: &str,
    usage: &MeteredUse<'_>,
) -> Result<(), NotGranted> {
    match grant {
        Some(grant) => grant.check(usage),
        None => Err(NotGranted {
            reason: Unallocated::UnknownAllocation,
            detail: format!("no allocation `{allocation_id}` is known"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use proptest::prelude::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn grant() -> Grant {
        Grant {
            allocation_id: "a1".into(),
            tenant: "t1".into(),
            sku: "H100-MIG-1g.10gb".into(),
            price_class: PriceClass::Spot,
            devices: vec![
                ("node-121".into(), "MIG-GPU-1/0".into()),
                ("node-121".into(), "MIG-GPU-1/1".into()),
            ],
            started_at: at("2026-11-24T10:00:00Z"),
            ended_at: None,
            max_end_at: Some(at("2026-11-24T12:00:00Z")),
        }
    }

    fn good() -> MeteredUse<'static> {
        MeteredUse {
            tenant: "t1",
            node: "node-121",
            device: "MIG-GPU-1/1",
            sku: "H100-MIG-1g.10gb",
            price_class: PriceClass::Spot,
            start: at("2026-11-24T10:00:00Z"),
            end: at("2026-11-24T10:00:10Z"),
        }
    }

    fn reason(grant: &Grant, usage: MeteredUse<'_>) -> Option<&'static str> {
        grant
            .check(&usage)
            .err()
            .map(|refused| refused.reason.code())
    }

    #[test]
    fn usage_inside_the_grant_is_accepted() {
        assert_eq!(reason(&grant(), good()), None);
        let last = MeteredUse {
            start: at("2026-11-24T11:59:50Z"),
            end: at("2026-11-24T12:00:00Z"),
            ..good()
        };
        assert_eq!(reason(&grant(), last), None);
    }

    #[test]
    fn each_mismatch_has_its_reason() {
        let g = grant();
        let cases = [
            (
                MeteredUse {
                    tenant: "t2",
                    ..good()
                },
                "tenant_mismatch",
            ),
            (
                MeteredUse {
                    device: "MIG-GPU-1/2",
                    ..good()
                },
                "gpu_not_allocated",
            ),
            (
                MeteredUse {
                    node: "node-122",
                    ..good()
                },
                "gpu_not_allocated",
            ),
            (
                MeteredUse {
                    sku: "H100-MIG-2g.20gb",
                    ..good()
                },
                "sku_mismatch",
            ),
            (
                MeteredUse {
                    price_class: PriceClass::OnDemand,
                    ..good()
                },
                "class_mismatch",
            ),
            (
                MeteredUse {
                    start: at("2026-11-24T09:59:59Z"),
                    ..good()
                },
                "outside_allocation",
            ),
            (
                MeteredUse {
                    start: at("2026-11-24T11:59:55Z"),
                    end: at("2026-11-24T12:00:05Z"),
                    ..good()
                },
                "outside_allocation",
            ),
        ];
        for (usage, expected) in cases {
            assert_eq!(reason(&g, usage), Some(expected), "{usage:?}");
        }
        assert_eq!(
            check_grant(None, "a9", &good()).unwrap_err().reason,
            Unallocated::UnknownAllocation
        );
    }

    #[test]
    fn an_ended_allocation_grants_up_to_its_end_and_a_static_one_has_no_end() {
        let ended = Grant {
            ended_at: Some(at("2026-11-24T10:00:05Z")),
            ..grant()
        };
        assert_eq!(reason(&ended, good()), Some("outside_allocation"));
        let cut = MeteredUse {
            end: at("2026-11-24T10:00:05Z"),
            ..good()
        };
        assert_eq!(reason(&ended, cut), None);
        let unbounded = Grant {
            max_end_at: None,
            ..grant()
        };
        let years_later = MeteredUse {
            start: at("2030-01-01T00:00:00Z"),
            end: at("2030-01-01T00:00:10Z"),
            ..good()
        };
        assert_eq!(reason(&unbounded, years_later), None);
    }

    proptest! {
        /// An interval is granted exactly when it lies inside `[started_at, end]`.
        #[test]
        fn time_is_granted_exactly_inside_the_allocation(
            start_offset in -7_200i64..14_400,
            length in 1i64..3_600,
            ended_after in proptest::option::of(1i64..7_200),
        ) {
            let g = Grant {
                ended_at: ended_after.map(|s| grant().started_at + Duration::seconds(s)),
                ..grant()
            };
            let start = g.started_at + Duration::seconds(start_offset);
            let end = start + Duration::seconds(length);
            let usage = MeteredUse { start, end, ..good() };
            let inside = start >= g.started_at && g.end().is_none_or(|e| end <= e);
            prop_assert_eq!(g.check(&usage).is_ok(), inside);
            if !inside {
                prop_assert_eq!(reason(&g, usage), Some("outside_allocation"));
            }
        }
    }
}
