//! [`TlsListener`]: an `axum::serve` listener that completes TLS handshakes, with a fixed
//! certificate or with the current one of a [`LiveWebConfig`].

use std::net::SocketAddr;
use std::time::Duration;

use super::LiveWebConfig;

/// How long one TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes run at once; past it, accepting waits.
const MAX_HANDSHAKES: usize = 64;

type TlsConn = (
    tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    SocketAddr,
);

/// An [`axum::serve::Listener`] yielding connections whose TLS handshake completed. A
/// task accepts TCP connections and runs each handshake in its own task (at most 64 at
/// once, each within 10 s), so a slow or failing client never holds up the others; the
/// task stops, closing the socket, when the listener is dropped.
///
/// [`TlsListener::new`] serves one fixed TLS configuration; [`TlsListener::live`] takes the
/// configuration of a [`LiveWebConfig`] for every new connection, so a reloaded certificate
/// (or client CA) applies from the next handshake on while open connections keep theirs.
///
/// ```no_run
/// # async fn run(config: vsanobs_http::WebConfig, app: axum::Router) -> std::io::Result<()> {
/// let tcp = tokio::net::TcpListener::bind("127.0.0.1:9101").await?;
/// match config.tls_acceptor() {
///     Some(acceptor) => axum::serve(vsanobs_http::web_config::TlsListener::new(tcp, acceptor)?, app).await,
///     None => axum::serve(tcp, app).await,
/// }
/// # }
/// ```
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<TlsConn>,
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsListener {
    /// Starts accepting on `tcp` with `acceptor`. Must be called within a tokio runtime.
    ///
    /// # Errors
    /// When the socket's local address cannot be read.
    pub fn new(
        tcp: tokio::net::TcpListener,
        acceptor: tokio_rustls::TlsAcceptor,
    ) -> std::io::Result<TlsListener> {
        Self::start(tcp, Acceptor::Fixed(acceptor))
    }

    /// Starts accepting on `tcp` with the TLS configuration `config` holds when each
    /// connection arrives. Must be called within a tokio runtime.
    ///
    /// # Errors
    /// When the socket's local address cannot be read, or `config` has no
    /// `tls_server_config` (kind `InvalidInput`; serve plain HTTP then).
    ///
    /// ```no_run
    /// # async fn run(app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
    /// use vsanobs_http::web_config::{LiveWebConfig, TlsListener};
    /// let web = LiveWebConfig::load("web.yml")?;
    /// let _watch = web.watch(LiveWebConfig::DEFAULT_WATCH_PERIOD);
    /// let tcp = tokio::net::TcpListener::bind("127.0.0.1:9101").await?;
    /// if web.serves_tls() {
    ///     axum::serve(TlsListener::live(tcp, web.clone())?, app).await?;
    /// } else {
    ///     axum::serve(tcp, app).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn live(
        tcp: tokio::net::TcpListener,
        config: LiveWebConfig,
    ) -> std::io::Result<TlsListener> {
        if !config.serves_tls() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the web config has no tls_server_config",
            ));
        }
        Self::start(tcp, Acceptor::Live(config))
    }

    fn start(tcp: tokio::net::TcpListener, acceptor: Acceptor) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, rx) = tokio::sync::mpsc::channel::<TlsConn>(64);
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        let task = tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                let accepted = tokio::select! {
                    _ = tx.closed() => break,
                    a = tcp.accept() => a,
                };
                let (stream, peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        // EMFILE and the like: back off instead of spinning.
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(acceptor) = acceptor.current() else {
                    // A live config keeps TLS on across reloads (see LiveWebConfig::reload).
                    tracing::debug!(%peer, "no TLS configuration; connection closed");
                    continue;
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
                    drop(slot);
                    match handshake {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local, task })
    }
}

/// Where the listener takes each connection's TLS configuration.
enum Acceptor {
    Fixed(tokio_rustls::TlsAcceptor),
    Live(LiveWebConfig),
}

impl Acceptor {
    fn current(&self) -> Option<tokio_rustls::TlsAcceptor> {
        match self {
            Acceptor::Fixed(a) => Some(a.clone()),
            Acceptor::Live(c) => c.current().tls_acceptor(),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept task only ends once this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
