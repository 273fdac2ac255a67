//! ed25519 signature files (feature `signature`).
#![cfg(feature = "signature")]

mod common;

use ed25519_dalek::{Signer, SigningKey};
use vsanobs_core::Registry;
use vsanobs_hotreload::{ConfigFormat, ReloadError, ReloadManager};

#[test]
fn only_signed_configs_are_applied() {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.json");
    let sig = dir.path().join("app.json.sig");
    let sign = |text: &str| {
        std::fs::write(&path, text).unwrap();
        std::fs::write(&sig, key.sign(text.as_bytes()).to_bytes()).unwrap();
    };
    sign(r#"{"v": 1}"#);
    let registry = Registry::new();
    let m = ReloadManager::<serde_json::Value>::builder(&path)
        .format(ConfigFormat::Json)
        .signature_key(key.verifying_key())
        .watch(false)
        .register(&registry)
        .build()
        .unwrap();

    // Signed: applied. The signature may also be given as hex.
    std::fs::write(&path, r#"{"v": 2}"#).unwrap();
    let hex: String = key
        .sign(br#"{"v": 2}"#)
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(&sig, format!("{hex}\n")).unwrap();
    m.reload().unwrap();
    assert_eq!(m.handle().load()["v"], 2);

    // Tampered after signing: rejected, old config serving.
    std::fs::write(&path, r#"{"v": 666}"#).unwrap();
    let err = m.reload().unwrap_err();
    assert!(matches!(err, ReloadError::Signature { .. }), "{err:?}");
    assert!(
        err.to_string().contains("signature does not match"),
        "{err}"
    );
    assert_eq!(m.handle().load()["v"], 2);

    // Missing signature file.
    std::fs::remove_file(&sig).unwrap();
    let err = m.reload().unwrap_err();
    assert!(
        err.to_string().contains("cannot read signature file"),
        "{err}"
    );

    // Signed by another key.
    let other = SigningKey::from_bytes(&[9u8; 32]);
    std::fs::write(&sig, other.sign(br#"{"v": 666}"#).to_bytes()).unwrap();
    assert!(m.reload().is_err());
    assert_eq!(common::result_count(&registry, "fail"), 3.0);
    sign(r#"{"v": 3}"#);
    m.reload().unwrap();
    assert_eq!(m.handle().load()["v"], 3);
}
