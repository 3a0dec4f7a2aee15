//! Password hashing: Argon2id with the OWASP minimum (19 MiB, 2 passes, 1 lane),
//! stored as a PHC string so the parameters can be raised later without a migration.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

use super::AuthError;

/// Shortest accepted password; long passphrases beat composition rules.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest accepted password, so hashing a huge body costs nothing extra.
pub const MAX_PASSWORD_CHARS: usize = 1024;

fn argon2() -> Argon2<'static> {
    // m = 19456 KiB, t = 2, p = 1: fixed values that Params::new accepts.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Rejects passwords that are too short (or absurdly long) before anything is stored.
pub fn check_policy(password: &str) -> Result<(), AuthError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword);
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(AuthError::PasswordTooLong);
    }
    Ok(())
}

/// Argon2id PHC string of `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// A hash nobody's password matches; unknown users are verified against it so that
/// the answer takes as long as for a real account.
static DUMMY: LazyLock<String> =
    LazyLock::new(|| hash("lotse-dummy-password-never-valid").unwrap_or_default());

/// Checks `password` against a stored PHC string (or the dummy hash for `None`).
/// Always false for `None`.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (DUMMY.as_str(), false),
    };
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_with_the_required_cost() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_ne!(h, hash("correct horse battery").unwrap(), "salted");
        assert!(verify("correct horse battery", Some(&h)));
        assert!(!verify("correct horse batterx", Some(&h)));
        assert!(!verify("lotse-dummy-password-never-valid", None));
        assert!(!verify("x", Some("not a phc string")));
    }

    #[test]
    fn the_policy_wants_twelve_characters() {
        assert!(matches!(
            check_policy("elevenchars"),
            Err(AuthError::WeakPassword)
        ));
        assert!(check_policy("twelve chars").is_ok());
        assert!(check_policy("äöüäöüäöüäöü").is_ok());
        assert!(matches!(
            check_policy(&"x".repeat(2000)),
            Err(AuthError::PasswordTooLong)
        ));
    }
}
