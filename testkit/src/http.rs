//! A minimal blocking HTTP/1.1 client over [`std::net::TcpStream`], for talking to the
//! components on loopback.
//!
//! It speaks plain `http://host:port/path?query` only (no TLS, no redirects, no keep-alive):
//! that is all a test needs to reach Prometheus, Pushgateway, VictoriaMetrics or a server
//! under test on 127.0.0.1, and it keeps the harness free of an HTTP client dependency tree.
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpListener;
//!
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let url = format!("http://{}/hello?x=1", listener.local_addr().unwrap());
//! let server = std::thread::spawn(move || {
//!     let (mut conn, _) = listener.accept().unwrap();
//!     let mut buf = [0u8; 1024];
//!     let n = conn.read(&mut buf).unwrap();
//!     assert!(buf[..n].starts_with(b"GET /hello?x=1 HTTP/1.1\r\n"));
//!     conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi").unwrap();
//! });
//! let response = vsanobs_testkit::http::get(&url).unwrap();
//! assert_eq!(response.status, 200);
//! assert_eq!(response.text(), "hi");
//! server.join().unwrap();
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::Error;

/// Connect timeout and per-read/per-write timeout of every request.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A complete HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, e.g. `200`.
    pub status: u16,
    /// Header fields in the order received; names as sent by the server.
    pub headers: Vec<(String, String)>,
    /// The body, with chunked transfer encoding already removed.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text (invalid sequences replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `true` for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// `GET url`.
///
/// # Errors
/// [`Error::Http`] when the URL is not `http://host:port/...`, the connection fails or the
/// response is malformed. Any status code is a successful call: check [`Response::status`].
pub fn get(url: &str) -> Result<Response, Error> {
    request("GET", url, &[], &[])
}

/// Sends one request with the given extra headers and body and reads the whole response.
///
/// `Host`, `Content-Length` (when `body` is not empty or the method is not GET) and
/// `Connection: close` are added automatically.
///
/// # Errors
/// [`Error::Http`] when the URL is not `http://host:port/...`, the connection fails or the
/// response is malformed.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, Error> {
    let fail = |reason: String| Error::Http {
        method: method.to_owned(),
        url: url.to_owned(),
        reason,
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| fail("only http:// URLs are supported".to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| fail(format!("bad address {authority:?}: {e}")))?
        .next()
        .ok_or_else(|| fail(format!("address {authority:?} resolves to nothing")))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| fail(format!("connect: {e}")))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| fail(format!("socket options: {e}")))?;

    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    if !body.is_empty() || method != "GET" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .and_then(|()| stream.flush())
        .map_err(|e| fail(format!("write: {e}")))?;

    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| fail(format!("read status line: {e}")))?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| fail(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader
            .read_line(&mut line)
            .map_err(|e| fail(format!("read header: {e}")))?;
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed
            .split_once(':')
            .ok_or_else(|| fail(format!("bad header line {trimmed:?}")))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        response.body = read_chunked(&mut reader).map_err(fail)?;
    } else if let Some(len) = response.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| fail(format!("bad content-length {len:?}")))?;
        response.body.resize(len, 0);
        reader
            .read_exact(&mut response.body)
            .map_err(|e| fail(format!("read body: {e}")))?;
    } else if method != "HEAD" && status != 204 && status != 304 {
        reader
            .read_to_end(&mut response.body)
            .map_err(|e| fail(format!("read body: {e}")))?;
    }
    Ok(response)
}

fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader
            .read_line(&mut line)
            .map_err(|e| format!("read chunk size: {e}"))?;
        let size_text = line.trim().split(';').next().unwrap_or("");
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| format!("bad chunk size {line:?}"))?;
        if size == 0 {
            // Trailer fields, then the final empty line.
            loop {
                line.clear();
                let n = reader
                    .read_line(&mut line)
                    .map_err(|e| format!("read trailer: {e}"))?;
                if n == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(|e| format!("read chunk: {e}"))?;
        let mut crlf = [0u8; 2];
        reader
            .read_exact(&mut crlf)
            .map_err(|e| format!("read chunk end: {e}"))?;
    }
}

/// Percent-encodes `value` for use in a URL query string (RFC 3986 unreserved bytes kept).
///
/// ```
/// assert_eq!(vsanobs_testkit::http::encode_query("up{job=\"a b\"}"), "up%7Bjob%3D%22a%20b%22%7D");
/// ```
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        let raw = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let mut reader = BufReader::new(&raw[..]);
        assert_eq!(read_chunked(&mut reader).unwrap(), b"Wikipedia");
    }

    #[test]
    fn bad_chunk_size_is_an_error() {
        let mut reader = BufReader::new(&b"zz\r\n"[..]);
        assert!(
            read_chunked(&mut reader)
                .unwrap_err()
                .contains("bad chunk size")
        );
    }

    #[test]
    fn non_http_urls_are_refused() {
        let err = get("https://127.0.0.1:1/").unwrap_err();
        assert!(err.to_string().contains("only http://"), "{err}");
    }

    #[test]
    fn query_encoding_keeps_utf8_bytes() {
        assert_eq!(encode_query("中"), "%E4%B8%AD");
        assert_eq!(encode_query("a-b_c.d~"), "a-b_c.d~");
    }
}
