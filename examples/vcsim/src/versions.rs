//! The vCenter release the simulator emulates: what `ServiceContent.about` says, the
//! service-versions documents it serves, and which `SOAPAction` versions it accepts.
//!
//! A real vCenter implements the API versions its `vimServiceVersions.xml` lists (current
//! and prior) and refuses any other with a fault without typed detail whose string reads
//! `Request version 'urn:vim25/9.0.0.0' and namespace 'urn:vim25' are not supported`: the
//! same text, for `urn:pbm`, is what Terraform's and BOSH's vSphere clients reported against
//! older vCenters (terraform-provider-vsphere#1326, bosh-deployment#374), with
//! `ServerFaultCode` as fault code. A `SOAPAction` without a version (`urn:vsan/`, what
//! govmomi's vSAN client sends) names no version and is accepted.

use vsanobs_core::vsan::protocol::session::About;
use vsanobs_core::vsan::protocol::versions::{ServiceNamespace, ServiceVersions};

/// vim25 API versions, newest first: every release a vCenter 8.0U3 still accepts (pyVmomi's
/// version table, and the 2.5/4.0 ids of the programming guide's example document). `7.0`
/// is the id vSphere 7.0's API had before `7.0.0.0` (pyVmomi 7.0's table), and what govmomi
/// up to 0.2x sends (`urn:vim25/7.0`) to every vCenter it talks to.
const VIM25_HISTORY: &[&str] = &[
    "8.0.3.0",
    "8.0.2.0",
    "8.0.1.0",
    "8.0.0.2",
    "8.0.0.1",
    "8.0.0.0",
    "7.0.3.2",
    "7.0.3.1",
    "7.0.3.0",
    "7.0.2.1",
    "7.0.2.0",
    "7.0.1.1",
    "7.0.1.0",
    "7.0.0.2",
    "7.0.0.0",
    "7.0",
    "6.9.1",
    "6.8.7",
    "6.7.3",
    "6.7.2",
    "6.7.1",
    "6.7",
    "6.5",
    "6.0",
    "5.5",
    "5.1",
    "5.0",
    "4.1",
    "4.0",
    "2.5u2server",
    "2.5u2",
    "2.5",
];

/// vSAN management API versions, newest first, as pyVmomi's vSAN version table spells them
/// (`vsan.version.version23` down to `vsan.version.version3`).
const VSAN_HISTORY: &[&str] = &[
    "8.0.0.4",
    "8.0.0.3",
    "8.0.0.2",
    "8.0.0.1",
    "7.4",
    "vSAN 7.0U3",
    "7.3",
    "vSAN 7.0U2",
    "vSAN 7.0U1",
    "7.2",
    "7.1",
    "7.0",
    "vSAN 6.7U3",
    "6.8.7",
    "vSAN 6.7U1",
    "6.7",
    "6.7.0",
    "6.6.2",
    "6.6.1",
    "6.6",
];

/// An emulated vCenter release.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VcenterVersion {
    /// vCenter 7.0 Update 3 (vim25 7.0.3.0, vSAN `vSAN 7.0U3`).
    V7_0U3,
    /// vCenter 8.0 Update 2 (vim25 8.0.2.0, vSAN 8.0.0.3).
    V8_0U2,
    /// vCenter 8.0 Update 3 (vim25 8.0.3.0, vSAN 8.0.0.4): the default.
    #[default]
    V8_0U3,
}

/// A `--vcenter-version` that names no emulated release.
#[derive(Debug, thiserror::Error)]
#[error("unknown vCenter version {0:?} (expected 7.0U3, 8.0U2 or 8.0U3)")]
pub struct UnknownVcenterVersion(pub String);

impl std::str::FromStr for VcenterVersion {
    type Err = UnknownVcenterVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "7.0U3" | "7.0.3" => Ok(VcenterVersion::V7_0U3),
            "8.0U2" | "8.0.2" => Ok(VcenterVersion::V8_0U2),
            "8.0U3" | "8.0.3" => Ok(VcenterVersion::V8_0U3),
            _ => Err(UnknownVcenterVersion(s.to_owned())),
        }
    }
}

impl std::fmt::Display for VcenterVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl VcenterVersion {
    /// Every emulated release, oldest first.
    pub const ALL: [VcenterVersion; 3] = [
        VcenterVersion::V7_0U3,
        VcenterVersion::V8_0U2,
        VcenterVersion::V8_0U3,
    ];

    /// Whether the release has vSAN ESA (it came with vSphere 8.0).
    pub fn has_esa(self) -> bool {
        self != VcenterVersion::V7_0U3
    }

    /// `7.0U3`, `8.0U2`, `8.0U3`.
    pub fn label(self) -> &'static str {
        match self {
            VcenterVersion::V7_0U3 => "7.0U3",
            VcenterVersion::V8_0U2 => "8.0U2",
            VcenterVersion::V8_0U3 => "8.0U3",
        }
    }

    /// The vim25 API version (`ServiceContent.about.apiVersion`).
    pub fn api_version(self) -> &'static str {
        match self {
            VcenterVersion::V7_0U3 => "7.0.3.0",
            VcenterVersion::V8_0U2 => "8.0.2.0",
            VcenterVersion::V8_0U3 => "8.0.3.0",
        }
    }

    /// The vSAN management API version `vsanServiceVersions.xml` lists as current.
    pub fn vsan_version(self) -> &'static str {
        match self {
            VcenterVersion::V7_0U3 => "vSAN 7.0U3",
            VcenterVersion::V8_0U2 => "8.0.0.3",
            VcenterVersion::V8_0U3 => "8.0.0.4",
        }
    }

    /// Product version and build of the release's GA (`about.version`, `about.build`).
    pub fn product(self) -> (&'static str, &'static str) {
        match self {
            VcenterVersion::V7_0U3 => ("7.0.3", "18700403"),
            VcenterVersion::V8_0U2 => ("8.0.2", "22385739"),
            VcenterVersion::V8_0U3 => ("8.0.3", "24022515"),
        }
    }

    /// `ServiceContent.about`.
    pub fn about(self) -> About {
        let (version, build) = self.product();
        About {
            name: "VMware vCenter Server".into(),
            full_name: format!("VMware vCenter Server {version} build-{build}"),
            vendor: "VMware, Inc.".into(),
            version: version.into(),
            build: build.into(),
            os_type: "linux-x64".into(),
            product_line_id: "vpx".into(),
            api_type: "VirtualCenter".into(),
            api_version: self.api_version().into(),
            instance_uuid: "6f1d4d4a-0000-4000-8000-00000000c0de".into(),
        }
    }

    /// `/sdk/vimServiceVersions.xml`: `urn:vim25` at the release's API version, every older
    /// one as prior.
    pub fn vim_service_versions(self) -> ServiceVersions {
        from_history("urn:vim25", VIM25_HISTORY, self.api_version())
    }

    /// `/sdk/vsanServiceVersions.xml`: `urn:vsan` at the release's vSAN version, every older
    /// one as prior.
    pub fn vsan_service_versions(self) -> ServiceVersions {
        from_history("urn:vsan", VSAN_HISTORY, self.vsan_version())
    }

    /// Whether a call in `namespace` (`urn:vim25`, `urn:vsan`) naming `version` is served.
    pub fn accepts(self, namespace: &str, version: &str) -> bool {
        let doc = match namespace {
            "urn:vim25" => self.vim_service_versions(),
            "urn:vsan" => self.vsan_service_versions(),
            _ => return false,
        };
        doc.namespace(namespace)
            .is_some_and(|ns| ns.accepts(version))
    }
}

fn from_history(name: &str, history: &[&str], current: &str) -> ServiceVersions {
    let at = history.iter().position(|v| *v == current).unwrap_or(0);
    ServiceVersions {
        namespaces: vec![ServiceNamespace {
            name: name.into(),
            version: current.into(),
            prior_versions: history[at + 1..].iter().map(|v| (*v).to_owned()).collect(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vsanobs_core::vsan::protocol::versions::{
        KNOWN_VIM25_VERSIONS, KNOWN_VSAN_VERSIONS, negotiate,
    };

    #[test]
    fn each_release_negotiates_its_own_version_and_refuses_newer_ones() {
        for v in VcenterVersion::ALL {
            let vim = v.vim_service_versions();
            assert_eq!(
                negotiate(&vim, "urn:vim25", KNOWN_VIM25_VERSIONS).expect("vim"),
                v.api_version()
            );
            let vsan = v.vsan_service_versions();
            assert_eq!(
                negotiate(&vsan, "urn:vsan", KNOWN_VSAN_VERSIONS).expect("vsan"),
                v.vsan_version()
            );
            assert!(v.accepts("urn:vim25", "6.7.3"));
            // govmomi's default action (0.2x releases).
            assert!(v.accepts("urn:vim25", "7.0"));
            assert_eq!(v.label().parse::<VcenterVersion>().expect("label"), v);
        }
        let old = VcenterVersion::V7_0U3;
        assert!(!old.accepts("urn:vim25", "8.0.2.0"));
        assert!(!old.accepts("urn:vsan", "8.0.0.3"));
        assert!(VcenterVersion::V8_0U3.accepts("urn:vim25", "8.0.2.0"));
        assert!(!VcenterVersion::V8_0U2.accepts("urn:vim25", "8.0.3.0"));
        assert!(!VcenterVersion::V8_0U3.accepts("urn:vim25", "9.0.0.0"));
        assert!(!VcenterVersion::V8_0U3.accepts("urn:pbm", "8.0.3.0"));
        assert!("9.0".parse::<VcenterVersion>().is_err());
    }
}
