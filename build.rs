//! Compiles `proto/` with protox (no system `protoc`) and generates the tonic/prost code once for
//! the whole workspace. The encoded descriptor set is written to `OUT_DIR` for gRPC reflection.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("tickets_descriptor.bin");

    let file_descriptors = protox::compile(["tickets/v2/tickets.proto"], ["proto"])?;
    // `compile_fds` takes the descriptors as given and does not write them out: do it here.
    std::fs::write(&descriptor_path, prost::Message::encode_to_vec(&file_descriptors))?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(file_descriptors)?;
    Ok(())
}
