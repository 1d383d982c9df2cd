//! MIG geometry of an H100: 7 compute slices, profiles of 1, 2, 3, 4 or 7 slices, each allowed
//! only at the start offsets NVIDIA's placement table gives, never overlapping.

/// An H100 MIG profile, named by its compute slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MigProfile {
    G1,
    G2,
    G3,
    G4,
    G7,
}

/// What one unit of a SKU takes: a whole GPU, or one MIG instance of a parent SKU's GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkuShape {
    WholeGpu {
        sku: String,
    },
    Mig {
        parent_sku: String,
        profile: MigProfile,
    },
}

impl MigProfile {
    /// Compute slices the profile takes (of 7).
    pub fn slices(self) -> u8 {
        todo!()
    }

    /// Start slices the profile may be placed at: 1g at 0..=6, 2g at 0, 2, 4, 3g at 0 or 4,
    /// 4g and 7g at 0.
    pub fn allowed_starts(self) -> &'static [u8] {
        todo!()
    }
}

impl SkuShape {
    /// `H100-MIG-3g.40gb` is a 3-slice instance of an `H100-SXM5-80GB`; any other SKU is a whole
    /// GPU of itself.
    pub fn of(sku: &str) -> Self {
        let _ = sku;
        todo!()
    }
}

/// Whether instances at `(start, profile)` form a valid geometry on one GPU: every start allowed
/// for its profile and no two instances sharing a slice.
pub fn valid_geometry(instances: &[(u8, MigProfile)]) -> bool {
    let _ = instances;
    todo!()
}
