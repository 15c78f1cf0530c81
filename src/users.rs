//! Login users: password hashing (Argon2id, PHC strings as Django's argon2 hasher stores them)
//! and the `roundwared user add` command, which works on the database file directly so it
//! can run beside a running daemon (WAL allows it).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::config::Config;
use crate::store::{Store, StoreError};

/// Hashes a password for storage.
///
/// # Errors
/// Only if the hasher rejects its parameters (it does not with the defaults).
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| StoreError::conflict("password", e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::conflict("password", e.to_string()))
}

/// True if `password` matches the stored hash; a malformed or empty hash never matches.
pub(crate) fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The user id whose stored hash `password` matches; `None` for a wrong password, an unknown
/// username (`found` is `None`) or a user without a password (a device user, empty hash).
///
/// Every path runs one full Argon2 verification (the last two against `dummy_hash`), so
/// how long a failed login takes does not tell whether the username exists.
pub(crate) fn authenticate(found: Option<(i64, String)>, password: &str) -> Option<i64> {
    authenticate_with(found, password, verify_password)
}

fn authenticate_with(
    found: Option<(i64, String)>,
    password: &str,
    verify: impl Fn(&str, &str) -> bool,
) -> Option<i64> {
    match found {
        Some((id, hash)) if !hash.is_empty() => verify(password, &hash).then_some(id),
        _ => {
            // Spend the same work as a real check; the result cannot be true.
            let _ = verify(password, dummy_hash());
            None
        }
    }
}

/// A hash of a random 32-byte password, made once with the same parameters as stored hashes.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let secret: String = rand::random::<[u8; 32]>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        hash_password(&secret).unwrap_or_default()
    });
    &DUMMY
}

/// Creates a user with a password, or resets the password and staff flag of an existing one.
/// Returns a line for the operator.
///
/// # Errors
/// Bad username/password, or a database that cannot be opened.
pub fn add_user_blocking(
    config: &Config,
    username: &str,
    password: &str,
    staff: bool,
) -> Result<String, StoreError> {
    let username = username.trim().to_string();
    if username.is_empty() || username.len() > 150 {
        return Err(StoreError::conflict(
            "username",
            "must be 1 to 150 characters",
        ));
    }
    if password.len() < 8 {
        return Err(StoreError::conflict(
            "password",
            "must be at least 8 characters",
        ));
    }
    let hash = hash_password(password)?;
    std::fs::create_dir_all(&config.storage.data_dir).map_err(|e| StoreError::Open {
        path: config.storage.data_dir.clone(),
        message: e.to_string(),
    })?;
    let store = Store::open(&config.storage.database_path())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| StoreError::Open {
            path: config.storage.database_path(),
            message: e.to_string(),
        })?;
    let name = username.clone();
    let created = runtime.block_on(
        store.write(move |tx| crate::store::users::upsert_login(tx, &name, &hash, staff)),
    )?;
    let kind = if staff { "staff user" } else { "user" };
    Ok(if created {
        format!("created {kind} `{username}`")
    } else {
        format!("updated password of {kind} `{username}`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_only_its_own_password() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", ""));
    }

    #[test]
    fn an_unknown_user_and_a_user_without_password_each_cost_one_verification_against_the_dummy() {
        let calls = std::cell::RefCell::new(Vec::new());
        let spy = |pw: &str, hash: &str| {
            calls.borrow_mut().push(hash.to_string());
            verify_password(pw, hash)
        };
        assert_eq!(authenticate_with(None, "guess", spy), None);
        assert_eq!(authenticate_with(Some((4, String::new())), "", spy), None);
        assert_eq!(*calls.borrow(), [dummy_hash(), dummy_hash()]);
        let real = hash_password("s3cret-pw").unwrap();
        assert_eq!(
            authenticate_with(Some((7, real.clone())), "s3cret-pw", spy),
            Some(7)
        );
        assert_eq!(calls.borrow().len(), 3);
        let params = |h: &str| PasswordHash::new(h).unwrap().params.to_string();
        assert_eq!(
            params(dummy_hash()),
            params(&real),
            "the dummy costs as much"
        );
    }
}
