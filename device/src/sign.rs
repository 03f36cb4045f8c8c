//! Signing a profile (PKCS #7 SignedData, the profile inside), so the
//! device shows it as verified. The certificate file holds the signer's
//! certificate first, then the chain; the key file its private key; both
//! PEM, readable by root only (apppassd and apppass sign).

use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::PKey;
use openssl::stack::Stack;
use openssl::x509::X509;
use std::path::Path;
use zeroize::Zeroizing;

/// The profile signed, in DER; the error is one sentence naming the file.
pub fn sign(profile: &[u8], cert: &Path, key: &Path) -> Result<Vec<u8>, String> {
    let read = |p: &Path| {
        std::fs::read(p)
            .map(Zeroizing::new)
            .map_err(|e| format!("cannot read {} ({e}); profile_sign_cert and profile_sign_key in apppass.conf name PEM files root can read", p.display()))
    };
    let certs = X509::stack_from_pem(&read(cert)?).map_err(|_| {
        format!(
            "{} holds no PEM certificate (profile_sign_cert)",
            cert.display()
        )
    })?;
    let Some((signer, chain)) = certs.split_first() else {
        return Err(format!(
            "{} holds no PEM certificate (profile_sign_cert)",
            cert.display()
        ));
    };
    let pkey = PKey::private_key_from_pem(&read(key)?).map_err(|_| {
        format!(
            "{} holds no PEM private key (profile_sign_key)",
            key.display()
        )
    })?;
    let mut stack = Stack::new().map_err(|e| e.to_string())?;
    for c in chain {
        stack.push(c.clone()).map_err(|e| e.to_string())?;
    }
    let signed = Pkcs7::sign(signer, &pkey, &stack, profile, Pkcs7Flags::BINARY).map_err(|_| {
        format!(
            "cannot sign the profile with {} and {}: does the key belong to the certificate?",
            cert.display(),
            key.display()
        )
    })?;
    signed
        .to_der()
        .map_err(|e| format!("cannot write the signed profile ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn a_signed_profile_verifies_and_holds_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=apppass test",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl is installed");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let body = b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict/></plist>";
        let der = sign(body, &cert, &key).unwrap();
        let signed = dir.path().join("p.der");
        std::fs::write(&signed, &der).unwrap();
        let out = Command::new("openssl")
            .args(["smime", "-verify", "-inform", "DER", "-noverify", "-in"])
            .arg(&signed)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, body);
        let err = sign(body, &key, &key).unwrap_err();
        assert!(err.contains("no PEM certificate"), "{err}");
        let other = dir.path().join("other.pem");
        assert!(Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out"])
            .arg(&other)
            .status()
            .unwrap()
            .success());
        let err = sign(body, &cert, &other).unwrap_err();
        assert!(err.contains("does the key belong"), "{err}");
    }
}
