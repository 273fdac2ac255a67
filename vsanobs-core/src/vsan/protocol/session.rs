//! Sessions on `/sdk`: `RetrieveServiceContent` (no session needed), `Login` (sets
//! [`SESSION_COOKIE`]), `CurrentTime` and `Logout`.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::vsan::protocol::IncomingRequest;
//! use vsanobs_core::vsan::protocol::session::{Login, UserSession};
//!
//! let login = Login::new("monitor@vsphere.local", "s3cret & <more>");
//! let req = IncomingRequest::decode(&login.encode())?;
//! assert_eq!(req.login()?, login);
//! // The password never shows in debug output.
//! assert!(!format!("{login:?}").contains("s3cret"));
//!
//! let answer = UserSession {
//!     key: "52b5...".into(),
//!     user_name: "monitor@vsphere.local".into(),
//!     full_name: "Monitor".into(),
//!     login_time: 1_704_103_200,
//! };
//! assert_eq!(UserSession::decode(&answer.encode())?, answer);
//! # Ok::<(), vsanobs_core::vsan::VsanError>(())
//! ```

use std::fmt::Write as _;

use super::super::VsanError;
use super::super::csv::{format_xsd_datetime, parse_xsd_datetime};
use super::super::xml::Element;
use super::{answer_body, child_text, envelope, moref_element, required_text, text_element};

/// The cookie a vCenter's `SessionManager.Login` sets on `/sdk`; the same cookie
/// authenticates calls to `/vsanHealth`.
pub const SESSION_COOKIE: &str = "vmware_soap_session";

/// `ServiceInstance.RetrieveServiceContent`: the managed objects a client starts from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetrieveServiceContent;

impl RetrieveServiceContent {
    /// The request envelope.
    pub fn encode(&self) -> String {
        envelope(
            "<RetrieveServiceContent xmlns=\"urn:vim25\"><_this type=\"ServiceInstance\">ServiceInstance</_this></RetrieveServiceContent>",
        )
    }
}

/// What the vCenter is (`ServiceContent.about`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct About {
    /// `VMware vCenter Server`.
    pub name: String,
    /// Name, version and build in one line.
    pub full_name: String,
    /// `VMware, Inc.`.
    pub vendor: String,
    /// Product version (`8.0.2`).
    pub version: String,
    /// Build number.
    pub build: String,
    /// `linux-x64`.
    pub os_type: String,
    /// `vpx`.
    pub product_line_id: String,
    /// `VirtualCenter`.
    pub api_type: String,
    /// vim25 API release (`8.0.2.0`).
    pub api_version: String,
    /// The vCenter's instance UUID.
    pub instance_uuid: String,
}

/// The answer to [`RetrieveServiceContent`]: the MoRefs of the singletons a client calls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceContent {
    /// The root folder (`group-d1`).
    pub root_folder: String,
    /// The property collector.
    pub property_collector: String,
    /// The view manager.
    pub view_manager: String,
    /// The session manager.
    pub session_manager: String,
    /// What the vCenter is.
    pub about: About,
}

impl ServiceContent {
    /// The answer envelope.
    pub fn encode(&self) -> String {
        let mut out =
            String::from("<RetrieveServiceContentResponse xmlns=\"urn:vim25\"><returnval>");
        moref_element(&mut out, "rootFolder", "Folder", &self.root_folder);
        moref_element(
            &mut out,
            "propertyCollector",
            "PropertyCollector",
            &self.property_collector,
        );
        moref_element(&mut out, "viewManager", "ViewManager", &self.view_manager);
        out.push_str("<about>");
        let a = &self.about;
        for (name, value) in [
            ("name", &a.name),
            ("fullName", &a.full_name),
            ("vendor", &a.vendor),
            ("version", &a.version),
            ("build", &a.build),
            ("osType", &a.os_type),
            ("productLineId", &a.product_line_id),
            ("apiType", &a.api_type),
            ("apiVersion", &a.api_version),
            ("instanceUuid", &a.instance_uuid),
        ] {
            text_element(&mut out, name, value);
        }
        out.push_str("</about>");
        moref_element(
            &mut out,
            "sessionManager",
            "SessionManager",
            &self.session_manager,
        );
        out.push_str("</returnval></RetrieveServiceContentResponse>");
        envelope(&out)
    }

    /// Reads the answer. Singletons a server leaves out get vCenter's well-known MoRefs.
    ///
    /// # Errors
    /// XML errors, [`VsanError::Fault`], or [`VsanError::Unexpected`] when it is another
    /// answer or has no `returnval`.
    pub fn decode(xml: &str) -> Result<ServiceContent, VsanError> {
        let body = answer_body(
            xml,
            "RetrieveServiceContentResponse",
            "not a RetrieveServiceContentResponse",
        )?;
        let rv = body.child("returnval").ok_or(VsanError::Unexpected {
            reason: "service content without returnval",
        })?;
        let or = |name: &str, default: &str| child_text(rv, name).unwrap_or_else(|| default.into());
        let about = rv.child("about");
        let a = |name: &str| about.and_then(|a| child_text(a, name)).unwrap_or_default();
        Ok(ServiceContent {
            root_folder: or("rootFolder", "group-d1"),
            property_collector: or("propertyCollector", "propertyCollector"),
            view_manager: or("viewManager", "ViewManager"),
            session_manager: or("sessionManager", "SessionManager"),
            about: About {
                name: a("name"),
                full_name: a("fullName"),
                vendor: a("vendor"),
                version: a("version"),
                build: a("build"),
                os_type: a("osType"),
                product_line_id: a("productLineId"),
                api_type: a("apiType"),
                api_version: a("apiVersion"),
                instance_uuid: a("instanceUuid"),
            },
        })
    }
}

/// `SessionManager.Login`: user and password. Debug output hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// The user (`monitor@vsphere.local`).
    pub user_name: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("user_name", &self.user_name)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Login {
    /// A login of `user_name` with `password`.
    pub fn new(user_name: impl Into<String>, password: impl Into<String>) -> Login {
        Login {
            user_name: user_name.into(),
            password: password.into(),
        }
    }

    /// The request envelope (it holds the password: never log it).
    pub fn encode(&self) -> String {
        let mut out = String::from(
            "<Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">SessionManager</_this>",
        );
        text_element(&mut out, "userName", &self.user_name);
        text_element(&mut out, "password", &self.password);
        out.push_str("</Login>");
        envelope(&out)
    }

    pub(super) fn from_request(req: &Element) -> Result<Login, VsanError> {
        Ok(Login {
            user_name: required_text(req, "userName", "Login without userName")?,
            // Passwords are compared as sent: no trimming.
            password: req.child_text("password").unwrap_or_default().to_owned(),
        })
    }
}

/// The answer to [`Login`] (`UserSession`); the session itself is the [`SESSION_COOKIE`]
/// set with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserSession {
    /// The session key (not the cookie).
    pub key: String,
    /// The user logged in.
    pub user_name: String,
    /// The user's full name.
    pub full_name: String,
    /// Login time, Unix seconds.
    pub login_time: i64,
}

impl UserSession {
    /// The answer envelope.
    pub fn encode(&self) -> String {
        let now = format_xsd_datetime(self.login_time);
        let mut out = String::from("<LoginResponse xmlns=\"urn:vim25\"><returnval>");
        text_element(&mut out, "key", &self.key);
        text_element(&mut out, "userName", &self.user_name);
        text_element(&mut out, "fullName", &self.full_name);
        let _ = write!(
            out,
            "<loginTime>{now}</loginTime><lastActiveTime>{now}</lastActiveTime><locale>en</locale><messageLocale>en</messageLocale><extensionSession>false</extensionSession><ipAddress>127.0.0.1</ipAddress><userAgent>vsanobs</userAgent><callCount>0</callCount>"
        );
        out.push_str("</returnval></LoginResponse>");
        envelope(&out)
    }

    /// Reads the answer.
    ///
    /// # Errors
    /// XML errors, [`VsanError::Fault`] (`InvalidLogin` for a wrong user or password),
    /// [`VsanError::Unexpected`] for another answer, [`VsanError::Timestamp`] for a bad
    /// `loginTime`.
    pub fn decode(xml: &str) -> Result<UserSession, VsanError> {
        let body = answer_body(xml, "LoginResponse", "not a LoginResponse")?;
        let rv = body.child("returnval").ok_or(VsanError::Unexpected {
            reason: "login response without returnval",
        })?;
        let login_time = match rv.child_text("loginTime") {
            Some(t) => parse_xsd_datetime(t)?,
            None => 0,
        };
        Ok(UserSession {
            key: child_text(rv, "key").unwrap_or_default(),
            user_name: child_text(rv, "userName").unwrap_or_default(),
            full_name: child_text(rv, "fullName").unwrap_or_default(),
            login_time,
        })
    }
}

/// `SessionManager.Logout`: ends the session of the cookie sent with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Logout;

impl Logout {
    /// The request envelope.
    pub fn encode(&self) -> String {
        envelope(
            "<Logout xmlns=\"urn:vim25\"><_this type=\"SessionManager\">SessionManager</_this></Logout>",
        )
    }

    /// The (empty) answer envelope.
    pub fn encode_response(&self) -> String {
        envelope("<LogoutResponse xmlns=\"urn:vim25\"></LogoutResponse>")
    }
}

/// `ServiceInstance.CurrentTime`: the server's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CurrentTime;

impl CurrentTime {
    /// The request envelope.
    pub fn encode(&self) -> String {
        envelope(
            "<CurrentTime xmlns=\"urn:vim25\"><_this type=\"ServiceInstance\">ServiceInstance</_this></CurrentTime>",
        )
    }

    /// The answer envelope for server time `unix` (seconds).
    pub fn encode_response(&self, unix: i64) -> String {
        envelope(&format!(
            "<CurrentTimeResponse xmlns=\"urn:vim25\"><returnval>{}</returnval></CurrentTimeResponse>",
            format_xsd_datetime(unix)
        ))
    }

    /// Reads the answer: the server's time in Unix seconds.
    ///
    /// # Errors
    /// XML errors, [`VsanError::Fault`], [`VsanError::Unexpected`] for another answer or no
    /// `returnval`, [`VsanError::Timestamp`] for a time that is not an `xsd:dateTime`.
    pub fn decode_response(xml: &str) -> Result<i64, VsanError> {
        let body = answer_body(xml, "CurrentTimeResponse", "not a CurrentTimeResponse")?;
        let t = body.child_text("returnval").ok_or(VsanError::Unexpected {
            reason: "CurrentTime without returnval",
        })?;
        parse_xsd_datetime(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsan::protocol::{IncomingRequest, Method};

    #[test]
    fn service_content_and_time_round_trip() {
        let sc = ServiceContent {
            root_folder: "group-d1".into(),
            property_collector: "propertyCollector".into(),
            view_manager: "ViewManager".into(),
            session_manager: "SessionManager".into(),
            about: About {
                full_name: "VMware vCenter Server 8.0.2".into(),
                api_version: "8.0.2.0".into(),
                ..About::default()
            },
        };
        assert_eq!(ServiceContent::decode(&sc.encode()).expect("decode"), sc);
        let req = IncomingRequest::decode(&RetrieveServiceContent.encode()).expect("request");
        assert_eq!(req.method(), Method::RetrieveServiceContent);

        let t = 1_704_103_200;
        assert_eq!(
            CurrentTime::decode_response(&CurrentTime.encode_response(t)).expect("time"),
            t
        );
        assert!(matches!(
            CurrentTime::decode_response(&Logout.encode_response()),
            Err(VsanError::Unexpected { .. })
        ));
    }
}
