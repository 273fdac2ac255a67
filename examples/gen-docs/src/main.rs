//! Writes every generated file under docs/ (metric reference, Go mapping page, alert rules,
//! rule tests, recording rules, dashboards) from the crates' own metric tables and artifact
//! data. Run from anywhere: `cargo run -p gen-docs`.

fn main() -> std::io::Result<()> {
    let docs = gen_docs::docs_dir();
    for (rel, content) in gen_docs::files() {
        let path = docs.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
