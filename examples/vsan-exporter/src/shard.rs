//! Sharding: several replicas share the configured vCenters, each collecting a disjoint part
//! of their clusters (`--shard i --total-shards n`, like kube-state-metrics).
//!
//! A cluster belongs to shard `cluster_hash(vcenter, moref) % total_shards`, where
//! [`cluster_hash`] is 64-bit FNV-1a (offset basis `0xcbf29ce484222325`, prime
//! `0x100000001b3`) over the bytes of the vCenter's name (the `vcenter` label), one `0x00`
//! byte, and the cluster's managed object id (`domain-c7`). The hash is fixed arithmetic on
//! bytes, so every process, version and platform agrees on it (std's `DefaultHasher` is
//! seeded per process and may change between releases).
//!
//! Why these two: the vCenter name is what every replica's config calls the vCenter (its URL
//! may differ between replicas, behind different proxies or DNS names), and the MoRef stays
//! the same when a cluster is renamed or vSAN is turned off and on again (its name changes
//! with the first, its vSAN UUID with the second, and a cluster without vSAN has none), so
//! a cluster does not move between replicas for either. Every replica still reads every
//! vCenter's inventory (to know the clusters); only the vSAN performance queries are split.
//!
//! # Example
//!
//! ```
//! use vsan_exporter::shard::{Sharding, ShardError, cluster_hash};
//! assert_eq!(cluster_hash("vc1", "domain-c7"), 0x6de5_4243_47c1_dfdc);
//! assert_eq!(0x6de5_4243_47c1_dfdc_u64 % 3, 2);
//! assert!(Sharding::new(2, 3).unwrap().owns("vc1", "domain-c7"));
//! assert!(!Sharding::new(1, 3).unwrap().owns("vc1", "domain-c7"));
//! assert!(Sharding::default().owns("vc1", "domain-c7"));
//! assert!(matches!(Sharding::new(3, 3), Err(ShardError::OutOfRange { shard: 3, total_shards: 3 })));
//! assert!(matches!(Sharding::new(0, 0), Err(ShardError::NoShards)));
//! ```

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The stable hash that places a cluster: 64-bit FNV-1a over `vcenter`, a `0x00` byte and
/// `moref` (see the module docs). The separator keeps `("ab", "c")` and `("a", "bc")` apart.
pub fn cluster_hash(vcenter: &str, moref: &str) -> u64 {
    let mut h = FNV_OFFSET;
    for b in vcenter.bytes().chain([0u8]).chain(moref.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Which part of the clusters this replica collects: shard `shard` of `total_shards`.
/// The default (0 of 1) collects every cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sharding {
    shard: u32,
    total_shards: u32,
}

impl Default for Sharding {
    fn default() -> Self {
        Sharding {
            shard: 0,
            total_shards: 1,
        }
    }
}

/// Why a shard setting is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// `total_shards` is 0.
    #[error("total shards must be at least 1, got 0")]
    NoShards,
    /// `shard` is not below `total_shards`.
    #[error(
        "shard {shard} is out of range for {total_shards} total shards: shards are numbered 0 to {}",
        total_shards - 1
    )]
    OutOfRange {
        /// The shard asked for.
        shard: u32,
        /// The number of shards.
        total_shards: u32,
    },
}

impl Sharding {
    /// Shard `shard` (from 0) of `total_shards`.
    ///
    /// # Errors
    /// [`ShardError::NoShards`] when `total_shards` is 0, [`ShardError::OutOfRange`] when
    /// `shard >= total_shards`.
    pub fn new(shard: u32, total_shards: u32) -> Result<Sharding, ShardError> {
        if total_shards == 0 {
            return Err(ShardError::NoShards);
        }
        if shard >= total_shards {
            return Err(ShardError::OutOfRange {
                shard,
                total_shards,
            });
        }
        Ok(Sharding {
            shard,
            total_shards,
        })
    }

    /// This replica's shard (from 0).
    pub fn shard(self) -> u32 {
        self.shard
    }

    /// The number of shards.
    pub fn total_shards(self) -> u32 {
        self.total_shards
    }

    /// Whether the cluster `moref` of the vCenter named `vcenter` is this shard's.
    pub fn owns(self, vcenter: &str, moref: &str) -> bool {
        self.total_shards <= 1
            || cluster_hash(vcenter, moref) % u64::from(self.total_shards) == u64::from(self.shard)
    }
}
