//! Password hashing with argon2id.
//!
//! Parameters: 19 MiB, 2 passes, 1 lane — OWASP's argon2id baseline. It fits a 128 MB
//! Lambda with room to spare; `make bench`-style timing is in the README (the time per
//! hash grows on a 128 MB Lambda, which gets a fraction of a vCPU).

use aloft_core::ApiError;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

/// Memory cost in KiB, passes, lanes.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

/// Verified when the email is unknown, so a wrong email costs the same time as a wrong
/// password and cannot be told apart: a hash with the parameters above (a test keeps
/// them in step), fixed so a cold start does not spend a whole hash (40 ms, 19 MiB) on
/// it. Knowing its password gains nothing: a decoy match never signs anyone in.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$gP9GqBu3WeXGgbDFajCfLQ$2d3tZKjYOJ0sN1i/xNie2GopwuTbfTFfBKRDLO5uLro";

/// Hashes and verifies passwords; cheap to clone.
#[derive(Debug, Clone)]
pub struct Passwords {
    params: Params,
}

impl Passwords {
    pub fn new() -> Result<Self, PasswordError> {
        let params = Params::new(MEMORY_KIB, PASSES, LANES, None)
            .map_err(|e| PasswordError(e.to_string()))?;
        Ok(Self { params })
    }

    /// The password rule of docs/api.md: 8–128 characters; `field` names it in the 422.
    pub fn check_rule(field: &'static str, password: &str) -> Result<(), ApiError> {
        if (8..=128).contains(&password.chars().count()) {
            Ok(())
        } else {
            Err(ApiError::validation(
                field,
                "Password must be 8 to 128 characters",
            ))
        }
    }

    /// Hashes on a blocking thread: argon2id takes tens of milliseconds of CPU, which
    /// must not hold up the async workers.
    pub async fn hash_off_thread(&self, password: String) -> Result<String, ApiError> {
        let passwords = self.clone();
        tokio::task::spawn_blocking(move || passwords.hash(&password))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)
    }

    /// [`Self::verify`] on a blocking thread.
    pub async fn verify_off_thread(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, ApiError> {
        let passwords = self.clone();
        tokio::task::spawn_blocking(move || passwords.verify(&password, stored.as_deref()))
            .await
            .map_err(ApiError::internal)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC string with a fresh random salt (16 bytes from the OS).
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        self.argon2()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| PasswordError(e.to_string()))
    }

    /// Whether `password` matches `stored`; `None` (unknown user) checks the decoy and
    /// fails, taking the same time.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let target = stored.unwrap_or(DECOY_HASH);
        let Ok(parsed) = PasswordHash::new(target) else {
            return false;
        };
        let matches = self
            .argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        matches && stored.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoy_costs_what_a_stored_hash_costs() {
        let passwords = Passwords::new().unwrap();
        let stored = passwords.hash("any password").unwrap();
        let params = |phc: &str| {
            let hash = PasswordHash::new(phc).unwrap();
            (hash.algorithm.to_string(), Params::try_from(&hash).unwrap())
        };
        assert_eq!(params(DECOY_HASH), params(&stored));
        assert!(!passwords.verify("decoy password for unknown emails", None));
    }

    #[test]
    fn right_password_verifies_and_wrong_one_does_not() {
        let passwords = Passwords::new().unwrap();
        let hash = passwords.hash("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(passwords.verify("correct horse battery", Some(&hash)));
        assert!(!passwords.verify("wrong horse", Some(&hash)));
    }

    #[test]
    fn unknown_user_never_verifies() {
        let passwords = Passwords::new().unwrap();
        assert!(!passwords.verify("decoy password for unknown emails", None));
    }
}
