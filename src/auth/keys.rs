//! Verification keys, parsed once when the config is loaded and each pinned to the algorithms
//! it may verify: an HMAC secret only HS*, an RSA key only RS*/PS*, an EC key only the ES* of
//! its curve, an Ed25519 key only EdDSA. A token's `alg` therefore never makes a key play
//! another role (no RSA public key used as an HMAC secret).

use std::fmt;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

/// A verification key with the algorithms it may verify.
pub struct VerifyKey {
    /// The JWKS `kid`, if the key came with one.
    pub kid: Option<String>,
    pub algorithms: Vec<Algorithm>,
    pub key: DecodingKey,
}

// Hand-written so key material never reaches a log line.
impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl VerifyKey {
    /// An HMAC secret: HS256, HS384 and HS512.
    pub fn hmac(secret: &[u8]) -> Option<VerifyKey> {
        Some(VerifyKey {
            kid: None,
            algorithms: AlgorithmFamily::Hmac.algorithms().to_vec(),
            key: DecodingKey::from_secret(secret).ok()?,
        })
    }

    /// A PEM public key: RSA (SPKI or PKCS#1), EC P-256/P-384, or Ed25519.
    pub fn from_pem(pem: &[u8]) -> Result<VerifyKey, String> {
        // jsonwebtoken would take an RSA *private* key here too; a gateway must never hold
        // one, and a key pair mix-up should fail at load, not as "Signature verification
        // failed" on every request.
        let text = String::from_utf8_lossy(pem);
        let label = text.lines().find_map(|l| {
            l.trim()
                .strip_prefix("-----BEGIN ")
                .and_then(|l| l.strip_suffix("-----"))
        });
        match label {
            Some("PUBLIC KEY" | "RSA PUBLIC KEY") => {}
            Some(other) if other.contains("PRIVATE") => {
                return Err(format!(
                    "this is a private key ({other}); give the public key (openssl pkey -pubout)"
                ))
            }
            Some(other) => return Err(format!("a PEM {other:?} block is not a public key")),
            None => return Err("not a PEM file".into()),
        }
        if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            check_rsa_size(key.try_get_as_bytes().ok().and_then(rsa_modulus_bits))?;
            return Ok(VerifyKey {
                kid: None,
                algorithms: AlgorithmFamily::Rsa.algorithms().to_vec(),
                key,
            });
        }
        if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            // The SPKI point is uncompressed: 1 + 2 * 32 bytes for P-256, 1 + 2 * 48 for P-384.
            let algorithm = match key.try_get_as_bytes().map(<[u8]>::len) {
                Ok(65) => Algorithm::ES256,
                Ok(97) => Algorithm::ES384,
                _ => return Err("an EC key on a curve other than P-256 or P-384".into()),
            };
            return Ok(VerifyKey {
                kid: None,
                algorithms: vec![algorithm],
                key,
            });
        }
        if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            return Ok(VerifyKey {
                kid: None,
                algorithms: vec![Algorithm::EdDSA],
                key,
            });
        }
        Err("not a PEM public key (RSA, EC P-256/P-384 or Ed25519 \"PUBLIC KEY\")".into())
    }

    /// One key of a JWKS. `Err` says why it cannot be used.
    pub fn from_jwk(jwk: &Jwk) -> Result<VerifyKey, String> {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            return Err("it is an encryption key (\"use\": \"enc\")".into());
        }
        let kid = jwk.common.key_id.clone();
        let mut algorithms: Vec<Algorithm> = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa.algorithms().to_vec(),
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => vec![Algorithm::ES256],
                EllipticCurve::P384 => vec![Algorithm::ES384],
                _ => return Err("an EC key on an unsupported curve".into()),
            },
            AlgorithmParameters::OctetKeyPair(p) => match p.curve {
                EllipticCurve::Ed25519 => vec![Algorithm::EdDSA],
                _ => return Err("an OKP key on an unsupported curve".into()),
            },
            AlgorithmParameters::OctetKey(_) => AlgorithmFamily::Hmac.algorithms().to_vec(),
            _ => return Err("an unsupported key type".into()),
        };
        // A key that names its algorithm verifies only that one.
        if let Some(named) = jwk.common.key_algorithm {
            let named = key_algorithm(named).ok_or("its \"alg\" is not a signature algorithm")?;
            if !algorithms.contains(&named) {
                return Err(format!("its \"alg\" {named:?} does not fit its key type"));
            }
            algorithms = vec![named];
        }
        if let AlgorithmParameters::RSA(rsa) = &jwk.algorithm {
            use base64::Engine as _;
            let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(rsa.n.trim_end_matches('='))
                .ok();
            check_rsa_size(n.as_deref().map(unsigned_bits))?;
        }
        let key =
            DecodingKey::from_jwk(jwk).map_err(|e| format!("its parameters are invalid ({e})"))?;
        Ok(VerifyKey {
            kid,
            algorithms,
            key,
        })
    }
}

fn key_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::HS384 => Algorithm::HS384,
        KeyAlgorithm::HS512 => Algorithm::HS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// Parses a JWKS document into its usable keys; keys that cannot be used are reported by
/// position so the config error can name them.
pub fn parse_jwks(text: &str) -> Result<(Vec<VerifyKey>, Vec<String>), String> {
    let set: JwkSet =
        serde_json::from_str(text).map_err(|e| format!("not a JSON Web Key Set: {e}"))?;
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        match VerifyKey::from_jwk(jwk) {
            Ok(key) => keys.push(key),
            Err(why) => skipped.push(format!(
                "keys[{i}] (kid {:?}): {why}",
                jwk.common.key_id.as_deref().unwrap_or("-")
            )),
        }
    }
    Ok((keys, skipped))
}

/// The smallest RSA modulus the crypto backend (aws-lc) verifies with. The library (PyJWT with
/// `cryptography`) accepts shorter keys; freshgate refuses them at load, with the size, rather
/// than failing every request with `Signature verification failed`.
const MIN_RSA_BITS: usize = 2048;

fn check_rsa_size(bits: Option<usize>) -> Result<(), String> {
    match bits {
        Some(bits) if bits < MIN_RSA_BITS => Err(format!(
            "an RSA key of {bits} bits: the crypto backend verifies only keys of {MIN_RSA_BITS} bits or more (the library accepts it, freshgate cannot); use a key of at least {MIN_RSA_BITS} bits"
        )),
        Some(_) => Ok(()),
        None => Err("an RSA key whose modulus cannot be read".into()),
    }
}

/// The bit length of a big-endian unsigned integer (leading zero bytes and bits ignored).
fn unsigned_bits(bytes: &[u8]) -> usize {
    let bytes = match bytes.iter().position(|&b| b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    bytes.len() * 8 - bytes[0].leading_zeros() as usize
}

/// The modulus size of a PKCS#1 `RSAPublicKey` (`SEQUENCE { INTEGER n, INTEGER e }`, DER).
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    /// One DER element: its tag and contents, and what follows it.
    fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (length, rest) = match first {
            0..=0x7f => (usize::from(first), rest),
            0x81..=0x84 => {
                let count = usize::from(first & 0x7f);
                let (bytes, rest) = rest.split_at_checked(count)?;
                (
                    bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b)),
                    rest,
                )
            }
            _ => return None,
        };
        let (contents, rest) = rest.split_at_checked(length)?;
        Some((tag, contents, rest))
    }
    let (0x30, sequence, _) = element(der)? else {
        return None;
    };
    let (0x02, modulus, _) = element(sequence)? else {
        return None;
    };
    Some(unsigned_bits(modulus))
}
