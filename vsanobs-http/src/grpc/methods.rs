//! The methods a service declares: the only ones that get series of their own.

use std::collections::BTreeMap;

use prost::Message as _;

/// The `grpc_type` label: how a method streams.
///
/// ```
/// use vsanobs_http::grpc::GrpcType;
/// assert_eq!(GrpcType::from_streaming(true, true).as_str(), "bidi_stream");
/// assert_eq!(GrpcType::from_streaming(false, false), GrpcType::Unary);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrpcType {
    /// One request, one response.
    Unary,
    /// A stream of requests, one response.
    ClientStream,
    /// One request, a stream of responses.
    ServerStream,
    /// Streams both ways.
    BidiStream,
}

impl GrpcType {
    /// The type of a method from its descriptor's `client_streaming` and `server_streaming`.
    pub fn from_streaming(client_streaming: bool, server_streaming: bool) -> GrpcType {
        match (client_streaming, server_streaming) {
            (false, false) => GrpcType::Unary,
            (true, false) => GrpcType::ClientStream,
            (false, true) => GrpcType::ServerStream,
            (true, true) => GrpcType::BidiStream,
        }
    }

    /// The label value, as go-grpc-middleware writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            GrpcType::Unary => "unary",
            GrpcType::ClientStream => "client_stream",
            GrpcType::ServerStream => "server_stream",
            GrpcType::BidiStream => "bidi_stream",
        }
    }
}

/// Why a method list could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrpcMethodsError {
    /// The bytes are not an encoded `google.protobuf.FileDescriptorSet`.
    #[error("not an encoded FileDescriptorSet: {0}")]
    Descriptor(#[from] prost::DecodeError),
    /// A service or method name is empty, contains `/`, or is longer than 512 bytes.
    #[error("invalid gRPC {what} name {name:?}: names are 1 to 512 bytes without '/'")]
    InvalidName {
        /// `service` or `method`.
        what: &'static str,
        /// The name as given.
        name: String,
    },
}

/// The known methods, keyed by `(service, method)`; the service is fully qualified
/// (`package.Service`), as in the call's path `/package.Service/Method`.
///
/// Build it from the encoded `FileDescriptorSet` that tonic-build / tonic-prost-build write
/// (the `FILE_DESCRIPTOR_SET` constant of `include_file_descriptor_set!`), which also gives each
/// method's [`GrpcType`], and/or by naming methods.
///
/// ```
/// use prost::Message;
/// use prost_types::{FileDescriptorProto, FileDescriptorSet, MethodDescriptorProto, ServiceDescriptorProto};
/// use vsanobs_http::grpc::{GrpcMethods, GrpcType};
///
/// let set = FileDescriptorSet { file: vec![FileDescriptorProto {
///     package: Some("demo.v1".into()),
///     service: vec![ServiceDescriptorProto {
///         name: Some("Echo".into()),
///         method: vec![MethodDescriptorProto {
///             name: Some("Chat".into()),
///             client_streaming: Some(true),
///             server_streaming: Some(true),
///             ..Default::default()
///         }],
///         ..Default::default()
///     }],
///     ..Default::default()
/// }] };
/// let methods = GrpcMethods::from_file_descriptor_set(&set.encode_to_vec())?
///     .method("grpc.health.v1.Health", "Check", GrpcType::Unary)?;
/// assert_eq!(methods.get("demo.v1.Echo", "Chat"), Some(GrpcType::BidiStream));
/// assert_eq!(methods.len(), 2);
/// # Ok::<(), vsanobs_http::grpc::GrpcMethodsError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct GrpcMethods {
    pub(crate) methods: BTreeMap<(String, String), GrpcType>,
}

const MAX_NAME: usize = 512;

fn check(what: &'static str, name: &str) -> Result<(), GrpcMethodsError> {
    if name.is_empty() || name.len() > MAX_NAME || name.contains('/') {
        return Err(GrpcMethodsError::InvalidName {
            what,
            name: name.chars().take(MAX_NAME).collect(),
        });
    }
    Ok(())
}

impl GrpcMethods {
    /// No methods: every call is recorded under the unknown method.
    pub fn new() -> Self {
        Self::default()
    }

    /// The methods of every service in an encoded `FileDescriptorSet`.
    ///
    /// # Errors
    /// [`GrpcMethodsError::Descriptor`] when the bytes do not decode,
    /// [`GrpcMethodsError::InvalidName`] when a name could not be a path segment.
    pub fn from_file_descriptor_set(bytes: &[u8]) -> Result<Self, GrpcMethodsError> {
        Self::new().file_descriptor_set(bytes)
    }

    /// Adds the methods of every service in an encoded `FileDescriptorSet`.
    ///
    /// # Errors
    /// As [`from_file_descriptor_set`](Self::from_file_descriptor_set).
    pub fn file_descriptor_set(mut self, bytes: &[u8]) -> Result<Self, GrpcMethodsError> {
        let set = prost_types::FileDescriptorSet::decode(bytes)?;
        for file in set.file {
            let package = file.package.unwrap_or_default();
            for svc in file.service {
                let name = svc.name.unwrap_or_default();
                let service = if package.is_empty() {
                    name
                } else {
                    format!("{package}.{name}")
                };
                for m in svc.method {
                    let kind = GrpcType::from_streaming(
                        m.client_streaming.unwrap_or(false),
                        m.server_streaming.unwrap_or(false),
                    );
                    self = self.method(&service, m.name.as_deref().unwrap_or(""), kind)?;
                }
            }
        }
        Ok(self)
    }

    /// Adds one method of `service` (fully qualified: `package.Service`).
    ///
    /// # Errors
    /// [`GrpcMethodsError::InvalidName`] when a name is empty, holds `/` or is over 512 bytes.
    pub fn method(
        mut self,
        service: &str,
        method: &str,
        kind: GrpcType,
    ) -> Result<Self, GrpcMethodsError> {
        check("service", service)?;
        check("method", method)?;
        self.methods
            .insert((service.to_owned(), method.to_owned()), kind);
        Ok(self)
    }

    /// The type of a known method.
    pub fn get(&self, service: &str, method: &str) -> Option<GrpcType> {
        self.methods
            .get(&(service.to_owned(), method.to_owned()))
            .copied()
    }

    /// How many methods are known.
    pub fn len(&self) -> usize {
        self.methods.len()
    }

    /// Whether no method is known.
    pub fn is_empty(&self) -> bool {
        self.methods.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_descriptors_are_a_typed_error() {
        for bad in [
            &b"\xff\xff\xff"[..],
            b"\x0a\x05abc",
            b"\x0a\xff\xff\xff\xff\x0f",
        ] {
            assert!(matches!(
                GrpcMethods::from_file_descriptor_set(bad),
                Err(GrpcMethodsError::Descriptor(_))
            ));
        }
        // Empty bytes are an empty set.
        assert!(
            GrpcMethods::from_file_descriptor_set(b"")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn bad_names_are_refused() {
        for (s, m) in [("", "M"), ("S", ""), ("a/b", "M"), ("S", "x/y")] {
            assert!(matches!(
                GrpcMethods::new().method(s, m, GrpcType::Unary),
                Err(GrpcMethodsError::InvalidName { .. })
            ));
        }
        let long = "x".repeat(MAX_NAME + 1);
        assert!(
            GrpcMethods::new()
                .method(&long, "M", GrpcType::Unary)
                .is_err()
        );
    }
}
