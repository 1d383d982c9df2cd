//! MIG geometry of an H100: 7 compute slices, profiles of 1, 2, 3, 4 or 7 slices, each allowed
//! only at the start offsets NVIDIA's placement table gives, never overlapping.

/// The whole-GPU SKU whose GPUs host the `H100-MIG-…` instances.
pub const MIG_PARENT_SKU: &str = "H100-SXM5-80GB";

/// Prefix of every H100 MIG instance SKU, followed by `<n>g.<memory>`.
const MIG_SKU_PREFIX: &str = "H100-MIG-";

/// Compute slices of one H100 in MIG mode.
pub const SLICES_PER_GPU: u8 = 7;

/// Mask of all seven slices of a GPU.
pub(super) const ALL_SLICES: u8 = 0b0111_1111;

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
    pub const ALL: [MigProfile; 5] = [
        MigProfile::G1,
        MigProfile::G2,
        MigProfile::G3,
        MigProfile::G4,
        MigProfile::G7,
    ];

    /// Compute slices the profile takes (of 7).
    pub fn slices(self) -> u8 {
        match self {
            MigProfile::G1 => 1,
            MigProfile::G2 => 2,
            MigProfile::G3 => 3,
            MigProfile::G4 => 4,
            MigProfile::G7 => 7,
        }
    }

    /// Start slices the profile may be placed at: 1g at 0..=6, 2g at 0, 2, 4, 3g at 0 or 4,
    /// 4g and 7g at 0.
    pub fn allowed_starts(self) -> &'static [u8] {
        match self {
            MigProfile::G1 => &[0, 1, 2, 3, 4, 5, 6],
            MigProfile::G2 => &[0, 2, 4],
            MigProfile::G3 => &[0, 4],
            MigProfile::G4 | MigProfile::G7 => &[0],
        }
    }

    /// The profile of `<n>g` instances, if `n` is one.
    pub fn from_slices(slices: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.slices() == slices)
    }

    /// Whether `start` is an allowed start for the profile.
    pub fn allows_start(self, start: u8) -> bool {
        self.allowed_starts().contains(&start)
    }

    /// Bit mask of the slices an instance starting at `start` takes (bit `i` = slice `i`).
    /// Only meaningful for an allowed start, which always keeps the instance inside the GPU.
    pub fn mask_at(self, start: u8) -> u8 {
        let ones = (1u16 << self.slices()) - 1;
        // Truncation keeps the instance's bits that lie on the GPU; allowed starts lose none.
        ((ones << start) & u16::from(ALL_SLICES)) as u8
    }

    /// Instances of this profile one empty GPU takes. The allowed positions of one profile never
    /// overlap each other, so this is simply the number of allowed starts.
    pub fn per_gpu(self) -> u32 {
        self.allowed_starts().len() as u32
    }

    /// Instances of this profile that still fit on a GPU whose taken slices are `taken`.
    ///
    /// Because the allowed positions of one profile are pairwise disjoint, every free position
    /// can be used at once: this count is exact, whatever order instances are placed in.
    pub fn free_positions(self, taken: u8) -> u32 {
        self.allowed_starts()
            .iter()
            .filter(|&&start| self.mask_at(start) & taken == 0)
            .count() as u32
    }

    /// Lowest allowed start whose slices are all free on a GPU whose taken slices are `taken`.
    pub fn lowest_free_start(self, taken: u8) -> Option<u8> {
        self.allowed_starts()
            .iter()
            .copied()
            .find(|&start| self.mask_at(start) & taken == 0)
    }
}

impl SkuShape {
    /// `H100-MIG-3g.40gb` is a 3-slice instance of an `H100-SXM5-80GB`; any other SKU is a whole
    /// GPU of itself.
    ///
    /// A MIG SKU is `H100-MIG-<n>g.<memory>` with `n` one of 1, 2, 3, 4, 7 and a non-empty memory
    /// part; anything else (`H100-MIG-5g.50gb`, `H100-MIG-3g`) is taken as a whole-GPU SKU of its
    /// own name, which no node will have.
    pub fn of(sku: &str) -> Self {
        Self::parse_mig(sku).unwrap_or_else(|| SkuShape::WholeGpu {
            sku: sku.to_owned(),
        })
    }

    fn parse_mig(sku: &str) -> Option<Self> {
        let rest = sku.strip_prefix(MIG_SKU_PREFIX)?;
        let (slices, memory) = rest.split_once("g.")?;
        if memory.is_empty() || slices.len() != 1 {
            return None;
        }
        let profile = MigProfile::from_slices(slices.parse().ok()?)?;
        Some(SkuShape::Mig {
            parent_sku: MIG_PARENT_SKU.to_owned(),
            profile,
        })
    }

    /// The SKU of the nodes that host this shape: the SKU itself, or the MIG parent.
    pub fn node_sku(&self) -> &str {
        match self {
            SkuShape::WholeGpu { sku } => sku,
            SkuShape::Mig { parent_sku, .. } => parent_sku,
        }
    }

    /// Whether the shape needs nodes in MIG mode.
    pub fn is_mig(&self) -> bool {
        matches!(self, SkuShape::Mig { .. })
    }

    /// The MIG profile, for a MIG shape.
    pub fn profile(&self) -> Option<MigProfile> {
        match self {
            SkuShape::WholeGpu { .. } => None,
            SkuShape::Mig { profile, .. } => Some(*profile),
        }
    }
}

/// Whether instances at `(start, profile)` form a valid geometry on one GPU: every start allowed
/// for its profile and no two instances sharing a slice.
pub fn valid_geometry(instances: &[(u8, MigProfile)]) -> bool {
    let mut taken = 0u8;
    for &(start, profile) in instances {
        if !profile.allows_start(start) {
            return false;
        }
        let mask = profile.mask_at(start);
        if taken & mask != 0 {
            return false;
        }
        taken |= mask;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use MigProfile::*;

    #[test]
    fn profiles_take_their_named_slices() {
        let slices: Vec<u8> = MigProfile::ALL.iter().map(|p| p.slices()).collect();
        assert_eq!(slices, [1, 2, 3, 4, 7]);
    }

    #[test]
    fn allowed_starts_follow_the_h100_placement_table() {
        assert_eq!(G1.allowed_starts(), &[0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(G2.allowed_starts(), &[0, 2, 4]);
        assert_eq!(G3.allowed_starts(), &[0, 4]);
        assert_eq!(G4.allowed_starts(), &[0]);
        assert_eq!(G7.allowed_starts(), &[0]);
    }

    #[test]
    fn every_allowed_position_lies_inside_the_gpu() {
        for profile in MigProfile::ALL {
            for &start in profile.allowed_starts() {
                assert!(start + profile.slices() <= SLICES_PER_GPU);
                assert_eq!(
                    profile.mask_at(start).count_ones(),
                    u32::from(profile.slices())
                );
            }
        }
    }

    #[test]
    fn mig_skus_are_instances_of_the_sxm5_parent() {
        for (sku, profile) in [
            ("H100-MIG-1g.10gb", G1),
            ("H100-MIG-2g.20gb", G2),
            ("H100-MIG-3g.40gb", G3),
            ("H100-MIG-4g.40gb", G4),
            ("H100-MIG-7g.80gb", G7),
        ] {
            assert_eq!(
                SkuShape::of(sku),
                SkuShape::Mig {
                    parent_sku: "H100-SXM5-80GB".into(),
                    profile
                },
                "{sku}"
            );
        }
    }

    #[test]
    fn mig_skus_are_parsed_by_slices_whatever_the_memory() {
        assert_eq!(SkuShape::of("H100-MIG-1g.20gb").profile(), Some(G1));
        assert_eq!(SkuShape::of("H100-MIG-3g.x").profile(), Some(G3));
    }

    #[test]
    fn other_skus_are_whole_gpus_of_themselves() {
        for sku in [
            "H100-SXM5-80GB",
            "H100-PCIe-80GB",
            "L40S-48GB",
            "H100-MIG-5g.50gb",
            "H100-MIG-3g",
            "H100-MIG-3g.",
            "H100-MIG-13g.40gb",
            "A100-MIG-3g.40gb",
        ] {
            assert_eq!(
                SkuShape::of(sku),
                SkuShape::WholeGpu { sku: sku.into() },
                "{sku}"
            );
        }
    }

    #[test]
    fn a_4g_and_a_3g_share_one_gpu() {
        assert!(valid_geometry(&[(0, G4), (4, G3)]));
    }

    #[test]
    fn two_3g_and_a_1g_share_one_gpu() {
        assert!(valid_geometry(&[(0, G3), (4, G3), (3, G1)]));
    }

    #[test]
    fn two_4g_never_share_a_gpu() {
        assert!(!valid_geometry(&[(0, G4), (0, G4)]));
        assert!(!valid_geometry(&[(0, G4), (4, G4)]));
    }

    #[test]
    fn a_start_outside_the_table_is_invalid() {
        assert!(!valid_geometry(&[(1, G2)]));
        assert!(!valid_geometry(&[(6, G2)]));
        assert!(!valid_geometry(&[(2, G3)]));
        assert!(!valid_geometry(&[(3, G4)]));
        assert!(!valid_geometry(&[(7, G1)]));
    }

    #[test]
    fn overlapping_instances_are_invalid() {
        assert!(!valid_geometry(&[(0, G2), (1, G1)]));
        assert!(!valid_geometry(&[(0, G7), (6, G1)]));
        assert!(!valid_geometry(&[(4, G3), (4, G2)]));
    }

    #[test]
    fn a_full_gpu_of_1g_instances_is_valid() {
        let all: Vec<(u8, MigProfile)> = (0..7).map(|s| (s, G1)).collect();
        assert!(valid_geometry(&all));
        assert!(valid_geometry(&[]));
    }

    #[test]
    fn free_positions_count_what_still_fits() {
        assert_eq!(G1.free_positions(0), 7);
        assert_eq!(G2.free_positions(0), 3);
        assert_eq!(G3.free_positions(0), 2);
        // A 1g at slice 3 blocks no 3g but one 2g.
        assert_eq!(G3.free_positions(G1.mask_at(3)), 2);
        assert_eq!(G2.free_positions(G1.mask_at(3)), 2);
        assert_eq!(G4.free_positions(G3.mask_at(4)), 1);
        assert_eq!(G4.free_positions(G3.mask_at(0)), 0);
        assert_eq!(G3.lowest_free_start(G4.mask_at(0)), Some(4));
        assert_eq!(G7.lowest_free_start(G1.mask_at(6)), None);
    }
}
