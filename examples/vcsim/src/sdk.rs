//! The vim25 side of the simulator: `POST /sdk` (sessions, service content, container views,
//! the property collector, `Fetch`), `GET /sdk/vimServiceVersions.xml` and
//! `/sdk/vsanServiceVersions.xml`, and the `SOAPAction` version check every SOAP call goes
//! through (see [`versions`](crate::versions) for what is refused and why).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vsanobs_core::vsan::protocol::Fault as SoapFault;
use vsanobs_core::vsan::protocol::fetch::Fetch;
use vsanobs_core::vsan::protocol::inventory::{
    CancelRetrieveProperties, CreateContainerView, DestroyView, RetrievePage,
};
use vsanobs_core::vsan::protocol::property::MoRef;
use vsanobs_core::vsan::protocol::session::{CurrentTime, Logout, UserSession};
use vsanobs_core::vsan::protocol::versions::parse_soap_action;
use vsanobs_core::vsan::protocol::{
    IncomingRequest, Method, SDK_PATH, SESSION_COOKIE, VIM25_NAMESPACE, VSAN_HEALTH_PATH,
    VSAN_NAMESPACE,
};
use vsanobs_core::vsan::soap::FaultKind;

use crate::collector::{self, PagingFault, Retrievals};
use crate::objects::{Objects, View, service_content};
use crate::{
    Session, Simulator, fault, method_not_found, not_authenticated, ok, parse_request,
    session_cookie, xml_response,
};

/// How the server is reached: the session cookie is `Secure` only over HTTPS (a cookie jar
/// never sends a `Secure` cookie back over plain HTTP).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Transport {
    pub(crate) secure: bool,
}

/// The state of one session on `/sdk`.
#[derive(Debug, Default)]
pub(crate) struct SdkSession {
    /// Container views, by MoRef id.
    pub(crate) views: HashMap<String, View>,
    /// Paged retrievals waiting for `ContinueRetrievePropertiesEx`.
    pub(crate) retrievals: Retrievals,
    /// What `Login` answered (`SessionManager.currentSession`).
    pub(crate) login: UserSession,
}

fn soap_fault(ns: &str, f: &SoapFault) -> Response {
    xml_response(StatusCode::INTERNAL_SERVER_ERROR, f.encode(ns))
}

/// `GET /sdk/vimServiceVersions.xml`.
pub(crate) async fn vim_versions(State(sim): State<Simulator>) -> Response {
    versions_document(sim.config().vcenter_version.vim_service_versions().encode())
}

/// `GET /sdk/vsanServiceVersions.xml`.
pub(crate) async fn vsan_versions(State(sim): State<Simulator>) -> Response {
    versions_document(
        sim.config()
            .vcenter_version
            .vsan_service_versions()
            .encode(),
    )
}

fn versions_document(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    r
}

/// Refuses a SOAP call whose `SOAPAction` names a version the emulated vCenter does not
/// implement (a newer one, or another namespace than `urn:vim25` / `urn:vsan`). No header,
/// or a header without version, passes.
pub(crate) async fn check_soap_action(
    State(sim): State<Simulator>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() != axum::http::Method::POST {
        return next.run(req).await;
    }
    let action = req
        .headers()
        .get("soapaction")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_soap_action);
    if let Some((namespace, Some(version))) = action {
        let emulated = sim.config().vcenter_version;
        if !emulated.accepts(&namespace, &version) {
            let ns = if req.uri().path() == VSAN_HEALTH_PATH {
                VSAN_NAMESPACE
            } else {
                VIM25_NAMESPACE
            };
            let full = format!("{namespace}/{version}");
            return soap_fault(ns, &SoapFault::unsupported_version(&namespace, &full));
        }
    }
    next.run(req).await
}

/// `POST /sdk`.
pub(crate) async fn sdk(
    State(sim): State<Simulator>,
    Extension(transport): Extension<Transport>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    debug_assert_eq!(SDK_PATH, "/sdk");
    let req = match parse_request(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let ns = VIM25_NAMESPACE;
    match req.method() {
        Method::RetrieveServiceContent => ok(service_content(&sim).encode()),
        Method::Login => login(&sim, &req, transport),
        Method::Logout => {
            if let Some(token) = session_cookie(&headers)
                && sim.inner.sessions.lock().remove(&token).is_some()
            {
                sim.inner.stats.logouts.fetch_add(1, Ordering::Relaxed);
                return ok(Logout.encode_response());
            }
            not_authenticated(&sim, ns)
        }
        _ if !sim.session_ok(&headers) => not_authenticated(&sim, ns),
        Method::CurrentTime => ok(CurrentTime.encode_response(sim.now())),
        _ => {
            let Some(token) = session_cookie(&headers) else {
                return not_authenticated(&sim, ns);
            };
            match in_session(&sim, &token, &req) {
                Ok(r) => r,
                Err(f) => soap_fault(ns, &f),
            }
        }
    }
}

fn login(sim: &Simulator, req: &IncomingRequest, transport: Transport) -> Response {
    let cfg = &sim.inner.cfg;
    let login = match req.login() {
        Ok(l) if l.user_name == cfg.user && l.password == cfg.password => l,
        _ => {
            return fault(
                VIM25_NAMESPACE,
                FaultKind::InvalidLogin,
                "Cannot complete login due to an incorrect user name or password.",
            );
        }
    };
    let token = sim.new_token();
    let session = UserSession {
        key: sim.new_token(),
        user_name: login.user_name,
        full_name: "Administrator vsphere.local".into(),
        login_time: sim.now(),
    };
    sim.inner.sessions.lock().insert(
        token.clone(),
        Session {
            sdk: SdkSession {
                login: session.clone(),
                ..SdkSession::default()
            },
            ..Session::default()
        },
    );
    sim.inner.stats.logins.fetch_add(1, Ordering::Relaxed);
    let mut r = ok(session.encode());
    let secure = if transport.secure { " Secure;" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=\"{token}\"; Path=/; HttpOnly;{secure}"
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// A copy of the session's views and login (None when the session ended meanwhile).
fn views_of(sim: &Simulator, token: &str) -> Option<(HashMap<String, View>, UserSession)> {
    sim.inner
        .sessions
        .lock()
        .get(token)
        .map(|s| (s.sdk.views.clone(), s.sdk.login.clone()))
}

/// Runs `f` on the session's state (None when the session ended meanwhile).
fn with_session<T>(
    sim: &Simulator,
    token: &str,
    f: impl FnOnce(&mut SdkSession) -> T,
) -> Option<T> {
    sim.inner
        .sessions
        .lock()
        .get_mut(token)
        .map(|s| f(&mut s.sdk))
}

/// The calls that read or change the session's state.
fn in_session(sim: &Simulator, token: &str, req: &IncomingRequest) -> Result<Response, SoapFault> {
    let gone = || {
        SoapFault::new(
            FaultKind::NotAuthenticated,
            "The session is not authenticated.",
        )
    };
    let bad =
        |e: vsanobs_core::vsan::VsanError| SoapFault::new(FaultKind::InvalidRequest, e.to_string());
    match req.method() {
        Method::CreateContainerView => {
            let v = req.create_container_view().map_err(bad)?;
            let (views, _) = views_of(sim, token).ok_or_else(gone)?;
            let objects = Objects::new(sim, &views);
            if objects.get("", &v.container).is_none() {
                return Err(collector::not_found(&MoRef::new("Folder", &v.container)));
            }
            let id = format!(
                "session[{}]{}",
                &token[..token.len().min(8)],
                sim.new_token()
            );
            let view = View {
                container: v.container,
                types: v.types,
                recursive: v.recursive,
            };
            with_session(sim, token, |s| s.views.insert(id.clone(), view)).ok_or_else(gone)?;
            Ok(ok(CreateContainerView::encode_response(&id)))
        }
        Method::DestroyView => {
            let v = req.destroy_view().map_err(bad)?;
            match with_session(sim, token, |s| s.views.remove(&v.view)).ok_or_else(gone)? {
                Some(_) => Ok(ok(DestroyView::encode_response())),
                None => Err(collector::not_found(&MoRef::new("ContainerView", &v.view))),
            }
        }
        Method::RetrieveProperties => {
            let q = req.retrieve_properties().map_err(bad)?;
            let (views, login) = views_of(sim, token).ok_or_else(gone)?;
            let objects = Objects::new(sim, &views).with_login(login);
            let found = collector::retrieve(&objects, &q)?;
            if !q.extended {
                return Ok(ok(RetrievePage {
                    objects: found,
                    token: None,
                }
                .encode(false)));
            }
            let fault = *sim.inner.paging_fault.lock();
            let (objects, next) = with_session(sim, token, |s| {
                s.retrievals.first_page(found, q.max_objects, fault)
            })
            .ok_or_else(gone)?;
            Ok(ok(RetrievePage {
                objects,
                token: next,
            }
            .encode(true)))
        }
        Method::ContinueRetrieveProperties => {
            let c = req.continue_retrieve_properties().map_err(bad)?;
            if *sim.inner.paging_fault.lock() == Some(PagingFault::ForgetTokens) {
                return Err(collector::invalid_token(&c.token));
            }
            let (objects, next) =
                with_session(sim, token, |s| s.retrievals.continue_with(&c.token))
                    .ok_or_else(gone)??;
            Ok(ok(RetrievePage {
                objects,
                token: next,
            }
            .encode_continue()))
        }
        Method::CancelRetrieveProperties => {
            let c = req.cancel_retrieve_properties().map_err(bad)?;
            with_session(sim, token, |s| s.retrievals.cancel(&c.token)).ok_or_else(gone)??;
            Ok(ok(CancelRetrieveProperties::encode_response()))
        }
        Method::Fetch => {
            let f = req.fetch().map_err(bad)?;
            let (views, login) = views_of(sim, token).ok_or_else(gone)?;
            let objects = Objects::new(sim, &views).with_login(login);
            let value = collector::fetch(&objects, &f.obj, &f.prop)?;
            Ok(ok(Fetch::encode_response(value.as_ref())))
        }
        _ => Ok(method_not_found(VIM25_NAMESPACE, req)),
    }
}
