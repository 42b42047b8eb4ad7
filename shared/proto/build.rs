//! Compiles proto/ with protox (pure Rust: no protoc needed) and writes the file
//! descriptor set that server reflection serves.

use std::path::PathBuf;

use prost::Message;

const PROTOS: &[&str] = &[
    "switchyard/types/v1/chat.proto",
    "switchyard/gateway/v1/gateway.proto",
    "switchyard/auth/v1/auth.proto",
    "switchyard/auth/v1/quota.proto",
    "switchyard/metering/v1/metering.proto",
    "switchyard/provider/v1/provider.proto",
];

fn main() -> anyhow::Result<()> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto").canonicalize()?;
    println!("cargo:rerun-if-changed={}", proto_root.display());
    for proto in PROTOS {
        println!(
            "cargo:rerun-if-changed={}",
            proto_root.join(proto).display()
        );
    }

    let fds = protox::compile(PROTOS, [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("switchyard_descriptor.bin"),
        fds.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Smaller per-call buffers than tonic's 8 KiB: see src/codec.rs.
        .codec_path("crate::codec::SmallBufferCodec")
        .compile_fds(fds)?;
    Ok(())
}
