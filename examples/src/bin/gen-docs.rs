//! Writes the generated documentation (docs/metrics.md, alert rules, dashboards) from the
//! crates' own metric definitions. Run from anywhere: `cargo run -p vsanobs-examples --bin gen-docs`.

#[path = "../docs.rs"]
mod docs;

use std::path::{Path, PathBuf};

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

fn write(rel: &str, content: &str) -> std::io::Result<()> {
    let path = docs_dir().join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, content)?;
    println!("wrote {}", path.display());
    Ok(())
}

fn main() -> std::io::Result<()> {
    write("metrics.md", &docs::metrics_markdown(&docs::sections()))?;
    Ok(())
}
