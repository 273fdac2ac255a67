//! The exporter's state file: the last sample time per cluster and entity type, written
//! atomically (temporary file, fsync, rename) so a restart resumes exactly after it.
//!
//! # Example
//!
//! ```
//! use vsan_exporter::state::StateFile;
//! let dir = std::env::temp_dir().join(format!("vsan-state-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("state.json");
//! let mut s = StateFile::default();
//! s.set("vc1/52f1", "host-domclient", 1704103500);
//! s.save(&path).unwrap();
//! assert_eq!(StateFile::load(&path).unwrap().get("vc1/52f1", "host-domclient"), Some(1704103500));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

/// Last sample timestamps, keyed by `<vcenter>/<cluster uuid>` then entity type.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StateFile {
    /// Format version (1).
    #[serde(default)]
    pub version: u32,
    /// Cluster key -> entity type -> Unix seconds of the last sample accounted for.
    #[serde(default)]
    pub clusters: BTreeMap<String, BTreeMap<String, i64>>,
}

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// File system error.
    #[error("state file i/o")]
    Io(#[from] std::io::Error),
    /// The file is not valid state JSON.
    #[error("state file is corrupt")]
    Corrupt(#[from] serde_json::Error),
}

impl StateFile {
    /// Reads the file; a missing file is an empty state.
    ///
    /// # Errors
    /// I/O errors other than "not found", or invalid JSON.
    pub fn load(path: &Path) -> Result<StateFile, StateError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StateFile::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// The last sample time of a cluster's entity type.
    pub fn get(&self, cluster: &str, entity_type: &str) -> Option<i64> {
        self.clusters
            .get(cluster)
            .and_then(|m| m.get(entity_type))
            .copied()
    }

    /// Records a last sample time.
    pub fn set(&mut self, cluster: &str, entity_type: &str, t: i64) {
        self.clusters
            .entry(cluster.to_owned())
            .or_default()
            .insert(entity_type.to_owned(), t);
    }

    /// Writes the file atomically: a temporary file in the same directory, fsync, rename,
    /// fsync of the directory. Readers see the old or the new content, never a mix.
    ///
    /// # Errors
    /// I/O errors.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let mut s = self.clone();
        s.version = 1;
        let json = serde_json::to_vec_pretty(&s)?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
        let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}
