//! Generated Rust code for Switchyard's protobuf contracts (proto/), and the encoded
//! file descriptor set that every server hands to gRPC reflection so grpcurl and
//! generated clients can discover the API.
//!
//! Generated with protox + tonic-prost-build at build time: no protoc install.
#![allow(missing_docs, clippy::all)]

pub mod codec;

/// Conventions the proto comments define for string fields, named once for
/// every crate that reads or writes them.
pub mod conventions {
    /// The mark on a Gemini thought signature in `types.v1.Reasoning.signature`
    /// (and `ReasoningDelta.signature`): the provider's name and a colon, which
    /// no Claude signature (base64) can start with.
    pub const GEMINI_SIGNATURE: &str = "gemini:";
}

/// Message types shared by several services.
pub mod types {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("switchyard.types.v1");

        impl Message {
            /// A user message of one text part: the commonest message there
            /// is, which callers and tests would otherwise spell out field by
            /// field.
            pub fn user_text(text: impl Into<String>) -> Self {
                Self {
                    role: Role::User as i32,
                    content: vec![ContentPart {
                        part: Some(content_part::Part::Text(text.into())),
                    }],
                    ..Default::default()
                }
            }
        }
    }
}

/// The public Gateway API.
pub mod gateway {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("switchyard.gateway.v1");
    }
}

/// Virtual keys and admission.
pub mod auth {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("switchyard.auth.v1");
    }
}

/// The usage ledger.
pub mod metering {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("switchyard.metering.v1");
    }
}

/// Provider wire translation.
pub mod provider {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("switchyard.provider.v1");
    }
}

/// Encoded `FileDescriptorSet` of every Switchyard proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/switchyard_descriptor.bin"));
