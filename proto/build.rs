//! Compiles `lienthong/v1/*.proto` with protox (pure Rust, no system `protoc`) and
//! writes the file descriptor set that the gateway serves through reflection.

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "lienthong/v1/admin.proto",
    "lienthong/v1/audit.proto",
    "lienthong/v1/common.proto",
    "lienthong/v1/dossier.proto",
    "lienthong/v1/identity.proto",
    "lienthong/v1/report.proto",
    "lienthong/v1/residency.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    fs::write(
        out_dir.join("lienthong_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
