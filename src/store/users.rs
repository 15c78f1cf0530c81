//! Users, their device profile (device_id, client_type) and their API tokens.

use rusqlite::{Connection, OptionalExtension, Row, Transaction};
use serde::Serialize;

use super::sql::Where;
use super::{StoreError, StoreResult, Table, time};

/// A user as api/2 shows it (also nested in assets).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Login or generated name.
    pub username: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail.
    pub email: String,
    /// The device that registered this user, if any.
    pub device_id: Option<String>,
    /// The client type it registered with.
    pub client_type: Option<String>,
}

/// The owner of a token, for access checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenOwner {
    /// User id.
    pub id: i64,
    /// Staff flag.
    pub is_staff: bool,
    /// A kiosk's token: it may read event streams and api/2, nothing else.
    pub is_kiosk: bool,
}

impl Table for User {
    const WHAT: &'static str = "user";
    const TABLE: &'static str = "users";
    const SELECT: &'static str =
        "SELECT id, username, first_name, last_name, email, device_id, client_type FROM users";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            username: r.get(1)?,
            first_name: r.get(2)?,
            last_name: r.get(3)?,
            email: r.get(4)?,
            device_id: r.get(5)?,
            client_type: r.get(6)?,
        })
    }
}

/// Filters of `GET users/`.
#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    /// icontains
    pub username: Option<String>,
    /// icontains
    pub first_name: Option<String>,
    /// icontains
    pub last_name: Option<String>,
    /// icontains
    pub email: Option<String>,
    /// icontains over names, e-mail and username
    pub search_str: Option<String>,
    /// exact
    pub is_staff: Option<bool>,
    /// exact
    pub device_id: Option<String>,
}

fn filtered(f: &UserFilter) -> Where {
    let mut w = Where::new();
    w.contains_opt("username", f.username.as_deref())
        .contains_opt("first_name", f.first_name.as_deref())
        .contains_opt("last_name", f.last_name.as_deref())
        .contains_opt("email", f.email.as_deref())
        .eq_opt("is_staff", f.is_staff)
        .eq_opt("device_id", f.device_id.clone());
    if let Some(s) = &f.search_str {
        let pattern = format!("%{}%", super::sql::escape_like(s));
        w.raw(
            "(first_name LIKE ? ESCAPE '\\' OR last_name LIKE ? ESCAPE '\\' \
             OR email LIKE ? ESCAPE '\\' OR username LIKE ? ESCAPE '\\')",
            std::iter::repeat_n(rusqlite::types::Value::Text(pattern), 4),
        );
    }
    w
}

/// How many users match a filter.
///
/// # Errors
/// Only SQLite failures.
pub fn count(conn: &Connection, f: &UserFilter) -> StoreResult<i64> {
    User::count(conn, &filtered(f))
}

/// Users matching a filter, by id; `window` is `(limit, offset)`.
///
/// # Errors
/// Only SQLite failures.
pub fn list(
    conn: &Connection,
    f: &UserFilter,
    window: Option<(i64, i64)>,
) -> StoreResult<Vec<User>> {
    User::select_window(conn, &filtered(f), window)
}

/// Fields a PATCH may change.
#[derive(Debug, Default, Clone)]
pub struct UserPatch {
    /// New username (must stay unique).
    pub username: Option<String>,
    /// New first name.
    pub first_name: Option<String>,
    /// New last name.
    pub last_name: Option<String>,
    /// New e-mail.
    pub email: Option<String>,
}

/// Applies a PATCH and returns the user.
///
/// # Errors
/// Not found, or a username that is taken.
pub fn patch(tx: &Transaction<'_>, id: i64, p: &UserPatch) -> StoreResult<User> {
    User::get(tx, id)?;
    if let Some(name) = &p.username {
        let taken: Option<i64> = tx
            .prepare_cached("SELECT id FROM users WHERE username = ?1 AND id != ?2")?
            .query_row(rusqlite::params![name, id], |r| r.get(0))
            .optional()?;
        if taken.is_some() {
            return Err(StoreError::conflict(
                "username",
                "A user with that username already exists.",
            ));
        }
    }
    tx.execute(
        "UPDATE users SET username = coalesce(?2, username), first_name = coalesce(?3, first_name),
                last_name = coalesce(?4, last_name), email = coalesce(?5, email) WHERE id = ?1",
        rusqlite::params![id, p.username, p.first_name, p.last_name, p.email],
    )?;
    User::get(tx, id)
}

/// The device id of the box's own listening session (the local listener); reserved, so no
/// visitor can register it and take that session over.
pub const LOCAL_DEVICE: &str = "roundwared-local";

/// The user and token for a device: the existing ones if the device registered before (the
/// same device_id always maps to the same user and token), else new ones. The username is the reference's (registration time and the device id's
/// last four characters), so only staff and the user see it (asset lists leave it out).
///
/// # Errors
/// A field conflict for the reserved [`LOCAL_DEVICE`]; SQLite failures.
pub fn register_device(
    tx: &Transaction<'_>,
    device_id: &str,
    client_type: &str,
    names: &UserPatch,
) -> StoreResult<(User, String)> {
    let device_id: String = device_id.chars().take(254).collect();
    if device_id.trim() == LOCAL_DEVICE {
        return Err(StoreError::conflict(
            "device_id",
            format!(
                "\"{LOCAL_DEVICE}\" is reserved for the box's own listener; use another device id."
            ),
        ));
    }
    let existing: Option<i64> = tx
        .prepare_cached("SELECT id FROM users WHERE device_id = ?1 ORDER BY id LIMIT 1")?
        .query_row([&device_id], |r| r.get(0))
        .optional()?;
    let id = match existing {
        Some(id) => id,
        None => {
            let tail: String = {
                let chars: Vec<char> = device_id.chars().collect();
                chars[chars.len().saturating_sub(4)..].iter().collect()
            };
            let base = format!("{}{tail}", chrono::Utc::now().timestamp());
            let mut username = base.clone();
            let mut n = 1;
            while tx
                .prepare_cached("SELECT 1 FROM users WHERE username = ?1")?
                .exists([&username])?
            {
                username = format!("{base}_{n}");
                n += 1;
            }
            tx.execute(
                "INSERT INTO users (username, first_name, last_name, email, date_joined, device_id, client_type, id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![
                    username,
                    names.first_name.as_deref().unwrap_or(""),
                    names.last_name.as_deref().unwrap_or(""),
                    names.email.as_deref().unwrap_or(""),
                    time::now(),
                    device_id,
                    client_type.chars().take(254).collect::<String>(),
                    super::fleet::next_id(tx, "users")?,
                ],
            )?;
            tx.last_insert_rowid()
        }
    };
    let token = token_for(tx, id)?;
    Ok((User::get(tx, id)?, token))
}

/// The user's token, created if missing.
///
/// # Errors
/// Only SQLite failures.
pub fn token_for(tx: &Transaction<'_>, user_id: i64) -> StoreResult<String> {
    let key: Option<String> = tx
        .prepare_cached("SELECT key FROM tokens WHERE user_id = ?1")?
        .query_row([user_id], |r| r.get(0))
        .optional()?;
    if let Some(key) = key {
        return Ok(key);
    }
    let key: String = rand::random::<[u8; 20]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    tx.execute(
        "INSERT INTO tokens (key, user_id, created) VALUES (?1, ?2, ?3)",
        rusqlite::params![key, user_id, time::now()],
    )?;
    Ok(key)
}

/// The active user owning a token.
///
/// # Errors
/// Only SQLite failures.
pub fn by_token(conn: &Connection, key: &str) -> StoreResult<Option<TokenOwner>> {
    Ok(conn
        .prepare_cached(
            "SELECT u.id, u.is_staff, u.is_kiosk FROM tokens t JOIN users u ON u.id = t.user_id
              WHERE t.key = ?1 AND u.is_active",
        )?
        .query_row([key], |r| {
            Ok(TokenOwner {
                id: r.get(0)?,
                is_staff: r.get(1)?,
                is_kiosk: r.get(2)?,
            })
        })
        .optional()?)
}

/// The id and password hash of an active user, by username.
///
/// # Errors
/// Only SQLite failures.
pub fn login_lookup(conn: &Connection, username: &str) -> StoreResult<Option<(i64, String)>> {
    Ok(conn
        .prepare_cached("SELECT id, password_hash FROM users WHERE username = ?1 AND is_active")?
        .query_row([username], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Creates a login user or updates its password hash and staff flag; true if created.
///
/// # Errors
/// Only SQLite failures.
pub fn upsert_login(
    tx: &Transaction<'_>,
    username: &str,
    password_hash: &str,
    staff: bool,
) -> StoreResult<bool> {
    let device: Option<Option<String>> = tx
        .prepare_cached("SELECT device_id FROM users WHERE username = ?1")?
        .query_row([username], |r| r.get(0))
        .optional()?;
    if let Some(Some(_)) = device {
        // A name a phone registered (or renamed itself to) is never turned into a login, so
        // nobody can claim a staff name before the operator creates it.
        return Err(StoreError::conflict(
            "username",
            format!(
                "`{username}` belongs to a registered device, not a login user; choose another name"
            ),
        ));
    }
    let updated = tx.execute(
        "UPDATE users SET password_hash = ?2, is_staff = ?3, is_active = 1 WHERE username = ?1",
        rusqlite::params![username, password_hash, staff],
    )?;
    if updated > 0 {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO users (username, password_hash, is_staff, date_joined, id) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![
            username,
            password_hash,
            staff,
            time::now(),
            super::fleet::next_id(tx, "users")?
        ],
    )?;
    Ok(true)
}

/// A kiosk as the console lists it.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub(crate) struct Kiosk {
    /// User id.
    pub id: i64,
    /// `kiosk-<name>`.
    pub username: String,
    /// Its read-only token.
    pub token: String,
    /// When it was made.
    pub created: String,
}

/// Makes a kiosk: a user that cannot log in, with a token that may only read. Its username
/// is `kiosk-<name>`.
///
/// # Errors
/// [`StoreError::Conflict`] when the name is taken.
pub(crate) fn create_kiosk(tx: &Transaction<'_>, name: &str) -> StoreResult<Kiosk> {
    let username = format!("kiosk-{name}");
    let taken: Option<i64> = tx
        .prepare_cached("SELECT id FROM users WHERE username = ?1")?
        .query_row([&username], |r| r.get(0))
        .optional()?;
    if taken.is_some() {
        return Err(StoreError::conflict(
            "name",
            format!("a kiosk or user called {username} already exists"),
        ));
    }
    tx.execute(
        "INSERT INTO users (username, is_kiosk, date_joined, id) VALUES (?1, 1, ?2, ?3)",
        rusqlite::params![username, time::now(), super::fleet::next_id(tx, "users")?],
    )?;
    let id = tx.last_insert_rowid();
    token_for(tx, id)?;
    kiosk(tx, id)
}

const KIOSK: &str = "SELECT u.id, u.username, t.key, t.created FROM users u
                      JOIN tokens t ON t.user_id = u.id WHERE u.is_kiosk";

fn kiosk_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Kiosk> {
    Ok(Kiosk {
        id: r.get(0)?,
        username: r.get(1)?,
        token: r.get(2)?,
        created: r.get(3)?,
    })
}

/// One kiosk.
///
/// # Errors
/// [`StoreError::NotFound`].
pub(crate) fn kiosk(conn: &Connection, id: i64) -> StoreResult<Kiosk> {
    conn.prepare_cached(&format!("{KIOSK} AND u.id = ?1"))?
        .query_row([id], kiosk_from_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("kiosk", id))
}

/// Every kiosk, by id.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn kiosks(conn: &Connection) -> StoreResult<Vec<Kiosk>> {
    let mut stmt = conn.prepare_cached(&format!("{KIOSK} ORDER BY u.id"))?;
    let rows = stmt.query_map([], kiosk_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes a kiosk (its token stops working, its event streams go).
///
/// # Errors
/// [`StoreError::NotFound`].
pub(crate) fn delete_kiosk(tx: &Transaction<'_>, id: i64) -> StoreResult<()> {
    let n = tx.execute("DELETE FROM users WHERE id = ?1 AND is_kiosk", [id])?;
    if n == 0 {
        return Err(StoreError::not_found("kiosk", id));
    }
    Ok(())
}

/// The user whose device registered `device_id` (the session → user link).
///
/// # Errors
/// Only SQLite failures.
pub fn by_device(conn: &Connection, device_id: &str) -> StoreResult<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT id FROM users WHERE device_id = ?1 ORDER BY id LIMIT 1")?
        .query_row([device_id], |r| r.get(0))
        .optional()?)
}
