//! Streamed scrape answers (features `tower` or `actix`): [`MetricsEndpoint::handle_stream`]
//! and the [`ScrapeBody`] the adapters serve.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::Registry;
//! use vsanobs_http::{MetricsEndpoint, ScrapeRequest};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let registry = Registry::new();
//! registry.counter("jobs_total", "Jobs done.").unwrap().inc();
//! let endpoint = MetricsEndpoint::new(registry);
//!
//! let mut answer = endpoint.handle_stream(ScrapeRequest::default()).await;
//! assert_eq!(answer.status, 200);
//! let mut text = Vec::new();
//! while let Some(chunk) = answer.body.next_chunk().await {
//!     text.extend_from_slice(&chunk.unwrap());
//! }
//! assert!(String::from_utf8(text).unwrap().contains("jobs_total 1\n"));
//! # });
//! ```

use std::future::Future;
use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::endpoint::{Inner, MetricsEndpoint, Permit, ScrapeRequest, ScrapeResponse, too_many};

/// Chunks in flight between the encoder and the connection (each at most about 64 KiB).
const CHANNEL_CHUNKS: usize = 4;

/// What the encoding task sends.
enum Msg {
    /// A complete answer that is not an exposition (401).
    Whole(ScrapeResponse),
    /// The exposition starts: its headers.
    Start(Vec<(&'static str, String)>),
    /// A piece of the body.
    Data(Bytes),
    /// The body is complete.
    Done,
}

/// Hands what it is given to the connection as it comes; fails once the connection is gone.
struct ChannelWriter {
    tx: mpsc::Sender<Msg>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.tx
            .blocking_send(Msg::Data(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "scrape abandoned"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A streamed scrape answer: status and headers now, the body as it is encoded.
#[derive(Debug)]
pub struct ScrapeStream {
    /// HTTP status.
    pub status: u16,
    /// Response headers (lowercase names).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: ScrapeBody,
}

/// The body of a [`ScrapeStream`]: chunks as the encoder produces them.
///
/// It ends with `None` after the last chunk, or with an error when the encoder stopped
/// before the end (the scrape [timed out](MetricsEndpoint::timeout) while streaming, or the
/// encoding task failed): a client then sees a failed transfer rather than a cut exposition.
pub struct ScrapeBody {
    first: Option<Bytes>,
    rx: Option<mpsc::Receiver<Msg>>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl std::fmt::Debug for ScrapeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeBody")
            .field("streaming", &self.rx.is_some())
            .finish_non_exhaustive()
    }
}

impl ScrapeBody {
    /// A body of one buffer.
    pub fn full(data: Vec<u8>) -> Self {
        ScrapeBody {
            first: (!data.is_empty()).then(|| Bytes::from(data)),
            rx: None,
            deadline: None,
        }
    }

    /// The body's length when it is one buffer (not streaming).
    pub fn exact_len(&self) -> Option<u64> {
        self.rx
            .is_none()
            .then(|| self.first.as_ref().map_or(0, |b| b.len() as u64))
    }

    /// Whether no more chunks can come.
    pub fn is_end(&self) -> bool {
        self.first.is_none() && self.rx.is_none()
    }

    /// The next chunk, `None` at the end.
    ///
    /// # Errors
    /// The encoder stopped before the end (timeout while streaming, failed task).
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        if let Some(b) = self.first.take() {
            return Poll::Ready(Some(Ok(b)));
        }
        let Some(rx) = &mut self.rx else {
            return Poll::Ready(None);
        };
        match rx.poll_recv(cx) {
            Poll::Ready(Some(Msg::Data(b))) => return Poll::Ready(Some(Ok(b))),
            Poll::Ready(Some(Msg::Done)) => {
                self.rx = None;
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Msg::Whole(_) | Msg::Start(_)) | None) => {
                self.rx = None;
                tracing::error!("metrics endpoint: encoding stopped before the end");
                return Poll::Ready(Some(Err(io::Error::other(
                    "metrics encoding stopped before the end",
                ))));
            }
            Poll::Pending => {}
        }
        if let Some(d) = &mut self.deadline
            && d.as_mut().poll(cx).is_ready()
        {
            self.rx = None;
            tracing::warn!("metrics endpoint: scrape timed out while streaming; body aborted");
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "scrape timed out while streaming",
            ))));
        }
        Poll::Pending
    }

    /// The next chunk, `None` at the end.
    ///
    /// # Errors
    /// As [`poll_chunk`](Self::poll_chunk).
    pub async fn next_chunk(&mut self) -> Option<io::Result<Bytes>> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }
}

impl MetricsEndpoint {
    /// Serves one scrape as a stream: encoding runs on tokio's blocking pool and the body
    /// arrives in chunks, so the exposition is never held whole. 503 when the
    /// [concurrency limit](Self::max_concurrent_scrapes) is reached or the first chunk is not
    /// ready within the [timeout](Self::timeout); after that a timeout ends the body with an
    /// error. Must be called within a tokio runtime.
    pub async fn handle_stream(&self, req: ScrapeRequest) -> ScrapeStream {
        let answer = self.start_stream(req).await;
        self.count_status(answer.status);
        answer
    }

    pub(crate) async fn start_stream(&self, req: ScrapeRequest) -> ScrapeStream {
        let Some(permit) = self.try_acquire() else {
            return whole(too_many());
        };
        let timeout = self.effective_timeout(&req);
        let inner = self.inner.clone();
        let (tx, mut rx) = mpsc::channel::<Msg>(CHANNEL_CHUNKS);
        let task = tokio::task::spawn_blocking(move || {
            encode_into(&inner, &req, tx, permit);
        });
        let mut deadline = timeout.map(|d| Box::pin(tokio::time::sleep(d)));
        // Wait for the headers and the first chunk (or the end) within the deadline.
        let head = async {
            let headers = match rx.recv().await {
                Some(Msg::Whole(r)) => return Ok((whole(r), false)),
                Some(Msg::Start(h)) => h,
                _ => return Err(()),
            };
            match rx.recv().await {
                Some(Msg::Data(b)) => Ok((
                    ScrapeStream {
                        status: 200,
                        headers,
                        body: ScrapeBody {
                            first: Some(b),
                            rx: None,
                            deadline: None,
                        },
                    },
                    true,
                )),
                Some(Msg::Done) => Ok((
                    ScrapeStream {
                        status: 200,
                        headers,
                        body: ScrapeBody::full(Vec::new()),
                    },
                    false,
                )),
                _ => Err(()),
            }
        };
        let started = match &mut deadline {
            Some(d) => tokio::select! {
                r = head => Some(r),
                () = d.as_mut() => None,
            },
            None => Some(head.await),
        };
        match started {
            None => {
                tracing::warn!(?timeout, "metrics endpoint: scrape timed out");
                whole(ScrapeResponse::plain(
                    503,
                    "Exceeded configured timeout while gathering metrics.\n",
                ))
            }
            Some(Ok((mut s, streaming))) => {
                if streaming {
                    s.body.rx = Some(rx);
                    s.body.deadline = deadline;
                }
                s
            }
            Some(Err(())) => {
                let why = match task.await {
                    Err(e) => e.to_string(),
                    Ok(()) => "no answer".to_owned(),
                };
                tracing::error!(error = %why, "metrics endpoint: encoding task failed");
                whole(ScrapeResponse::plain(500, "Gathering metrics failed.\n"))
            }
        }
    }
}

fn whole(r: ScrapeResponse) -> ScrapeStream {
    ScrapeStream {
        status: r.status,
        headers: r.headers,
        body: ScrapeBody::full(r.body),
    }
}

/// The encoding task: headers, then the body through the channel, then `Done` (only when
/// the whole body was written). The scrape slot (`permit`) is given back before the last
/// message, so a client that has its whole answer can scrape again at once.
fn encode_into(inner: &Inner, req: &ScrapeRequest, tx: mpsc::Sender<Msg>, permit: Permit) {
    let p = match inner.prepare(req) {
        Ok(p) => p,
        Err(r) => {
            drop(permit);
            let _ = tx.blocking_send(Msg::Whole(r));
            return;
        }
    };
    if tx.blocking_send(Msg::Start(p.headers.clone())).is_err() {
        return;
    }
    let mut w = ChannelWriter { tx: tx.clone() };
    let written = if req.head {
        // Same work as GET, so HEAD answers the same way; nothing is sent.
        inner.write_body(&p, &mut io::sink())
    } else {
        inner.write_body(&p, &mut w)
    };
    drop(permit);
    match written {
        Ok(()) => {
            let _ = tx.blocking_send(Msg::Done);
        }
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            tracing::debug!("metrics endpoint: scrape abandoned by the client or the timeout");
        }
        Err(e) => tracing::error!(error = %e, "metrics endpoint: encoding failed"),
    }
}
