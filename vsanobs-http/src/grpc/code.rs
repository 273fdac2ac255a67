//! gRPC status codes as closed label values, and how a call's status is read from what
//! arrives: the `grpc-status` trailer, a trailers-only response, an HTTP error in front of
//! gRPC, and the `grpc-timeout` deadline.

use std::time::Duration;

/// A gRPC status code (`0..=16`), spelled as Go's `codes.Code.String()` spells it in the
/// `grpc_code` label, and in upper snake case for OpenTelemetry's `rpc.response.status_code`.
///
/// ```
/// use vsanobs_http::grpc::Code;
/// assert_eq!(Code::from_i32(4), Code::DeadlineExceeded);
/// assert_eq!(Code::DeadlineExceeded.as_str(), "DeadlineExceeded");
/// assert_eq!(Code::DeadlineExceeded.as_otel_str(), "DEADLINE_EXCEEDED");
/// assert_eq!(Code::from_i32(17), Code::Unknown); // out of range
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Code {
    /// `0`
    Ok = 0,
    /// `1`: cancelled, typically by the caller.
    Canceled = 1,
    /// `2`
    Unknown = 2,
    /// `3`
    InvalidArgument = 3,
    /// `4`
    DeadlineExceeded = 4,
    /// `5`
    NotFound = 5,
    /// `6`
    AlreadyExists = 6,
    /// `7`
    PermissionDenied = 7,
    /// `8`
    ResourceExhausted = 8,
    /// `9`
    FailedPrecondition = 9,
    /// `10`
    Aborted = 10,
    /// `11`
    OutOfRange = 11,
    /// `12`
    Unimplemented = 12,
    /// `13`
    Internal = 13,
    /// `14`
    Unavailable = 14,
    /// `15`
    DataLoss = 15,
    /// `16`
    Unauthenticated = 16,
}

impl Code {
    /// All seventeen codes, in numeric order.
    pub const ALL: [Code; 17] = [
        Code::Ok,
        Code::Canceled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The code of a number; anything outside `0..=16` is [`Code::Unknown`] (the label stays
    /// one of seventeen values).
    pub fn from_i32(n: i32) -> Code {
        usize::try_from(n)
            .ok()
            .and_then(|i| Code::ALL.get(i).copied())
            .unwrap_or(Code::Unknown)
    }

    /// The code of a `grpc-status` value: ASCII decimal digits only. Empty, signed,
    /// padded, non-numeric or out-of-range values are [`Code::Unknown`].
    ///
    /// ```
    /// use vsanobs_http::grpc::Code;
    /// assert_eq!(Code::from_status_bytes(b"14"), Code::Unavailable);
    /// for bad in [&b""[..], b"abc", b"-1", b" 0", b"0x1", b"99999999999999999999"] {
    ///     assert_eq!(Code::from_status_bytes(bad), Code::Unknown);
    /// }
    /// ```
    pub fn from_status_bytes(v: &[u8]) -> Code {
        if v.is_empty() || v.len() > 3 || !v.iter().all(u8::is_ascii_digit) {
            return Code::Unknown;
        }
        let n = v.iter().fold(0i32, |n, d| n * 10 + i32::from(d - b'0'));
        Code::from_i32(n)
    }

    /// The code a client derives from an HTTP status when the response carries no
    /// `grpc-status` (a proxy or load balancer answered), per gRPC's HTTP-to-gRPC mapping:
    /// 400 `Internal`, 401 `Unauthenticated`, 403 `PermissionDenied`, 404 `Unimplemented`,
    /// 429/502/503/504 `Unavailable`, any other `Unknown`. (200 without a status is
    /// `Unknown` too: the call ended without saying how.)
    ///
    /// ```
    /// use vsanobs_http::grpc::Code;
    /// assert_eq!(Code::from_http_status(502), Code::Unavailable);
    /// assert_eq!(Code::from_http_status(400), Code::Internal);
    /// assert_eq!(Code::from_http_status(418), Code::Unknown);
    /// ```
    pub fn from_http_status(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }

    /// The `grpc_code` label value, as Go's `codes.Code.String()`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Canceled => "Canceled",
            Code::Unknown => "Unknown",
            Code::InvalidArgument => "InvalidArgument",
            Code::DeadlineExceeded => "DeadlineExceeded",
            Code::NotFound => "NotFound",
            Code::AlreadyExists => "AlreadyExists",
            Code::PermissionDenied => "PermissionDenied",
            Code::ResourceExhausted => "ResourceExhausted",
            Code::FailedPrecondition => "FailedPrecondition",
            Code::Aborted => "Aborted",
            Code::OutOfRange => "OutOfRange",
            Code::Unimplemented => "Unimplemented",
            Code::Internal => "Internal",
            Code::Unavailable => "Unavailable",
            Code::DataLoss => "DataLoss",
            Code::Unauthenticated => "Unauthenticated",
        }
    }

    /// The OpenTelemetry `rpc.response.status_code` value (the gRPC spec's names).
    pub fn as_otel_str(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Canceled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The status of a response head: its `grpc-status` if it carries one (a trailers-only
/// response), else the HTTP mapping when the HTTP status is not 200, else `None` (the status
/// will come in the trailers).
pub(crate) fn from_head(status: u16, headers: &http::HeaderMap) -> Option<Code> {
    if let Some(v) = headers.get(&GRPC_STATUS) {
        return Some(Code::from_status_bytes(v.as_bytes()));
    }
    if status != 200 {
        return Some(Code::from_http_status(status));
    }
    None
}

/// The status of a trailers frame: `grpc-status`, `Unknown` when missing or malformed.
pub(crate) fn from_trailers(trailers: &http::HeaderMap) -> Code {
    trailers
        .get(&GRPC_STATUS)
        .map_or(Code::Unknown, |v| Code::from_status_bytes(v.as_bytes()))
}

// Header names as `HeaderName`s: a `&str` key would be parsed on every lookup.
pub(crate) static GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
pub(crate) static GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");

/// The deadline a `grpc-timeout` header asks for: 1 to 8 ASCII digits and a unit (`H`, `M`,
/// `S`, `m`, `u`, `n`), as the gRPC HTTP/2 protocol defines it. Anything else: no deadline.
///
/// ```
/// use std::time::Duration;
/// use vsanobs_http::grpc::parse_grpc_timeout;
/// assert_eq!(parse_grpc_timeout(b"250m"), Some(Duration::from_millis(250)));
/// assert_eq!(parse_grpc_timeout(b"1H"), Some(Duration::from_secs(3600)));
/// assert_eq!(parse_grpc_timeout(b"123456789S"), None); // nine digits
/// assert_eq!(parse_grpc_timeout(b"5x"), None);
/// ```
pub fn parse_grpc_timeout(v: &[u8]) -> Option<Duration> {
    let (unit, digits) = v.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_number_maps_to_its_code_and_back() {
        for (i, c) in Code::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(Code::from_i32(i as i32), *c);
            assert_eq!(Code::from_status_bytes(i.to_string().as_bytes()), *c);
        }
        assert_eq!(Code::from_status_bytes(b"016"), Code::Unauthenticated);
        for bad in [-1, 17, 100, i32::MAX, i32::MIN] {
            assert_eq!(Code::from_i32(bad), Code::Unknown);
        }
    }

    #[test]
    fn malformed_status_values_are_unknown() {
        for bad in [
            &b""[..],
            b"OK",
            b"1.0",
            b"+1",
            b"-0",
            b"1 ",
            b"\xff",
            b"17",
            b"999",
            b"0000",
        ] {
            assert_eq!(Code::from_status_bytes(bad), Code::Unknown, "{bad:?}");
        }
    }

    #[test]
    fn head_and_trailer_statuses() {
        let mut h = http::HeaderMap::new();
        assert_eq!(from_head(200, &h), None);
        assert_eq!(from_head(502, &h), Some(Code::Unavailable));
        assert_eq!(from_head(401, &h), Some(Code::Unauthenticated));
        assert_eq!(from_head(403, &h), Some(Code::PermissionDenied));
        assert_eq!(from_head(404, &h), Some(Code::Unimplemented));
        assert_eq!(from_head(429, &h), Some(Code::Unavailable));
        assert_eq!(from_head(500, &h), Some(Code::Unknown));
        assert_eq!(from_trailers(&h), Code::Unknown);
        h.insert(GRPC_STATUS.clone(), http::HeaderValue::from_static("5"));
        assert_eq!(from_head(200, &h), Some(Code::NotFound));
        // A grpc-status in the head wins over the HTTP status.
        assert_eq!(from_head(503, &h), Some(Code::NotFound));
        assert_eq!(from_trailers(&h), Code::NotFound);
        h.insert(GRPC_STATUS.clone(), http::HeaderValue::from_static("five"));
        assert_eq!(from_trailers(&h), Code::Unknown);
    }

    #[test]
    fn timeouts() {
        assert_eq!(
            parse_grpc_timeout(b"99999999M"),
            Some(Duration::from_secs(99_999_999 * 60))
        );
        assert_eq!(parse_grpc_timeout(b"7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_grpc_timeout(b"7n"), Some(Duration::from_nanos(7)));
        for bad in [&b""[..], b"S", b"-1S", b"1", b"1s", b"1.5S", b"123456789m"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
