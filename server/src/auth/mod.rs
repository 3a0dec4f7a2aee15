//! Who is making a request: staff sessions, API tokens and their roles.
//!
//! The HTTP layer puts a [`Principal`] into the request's extensions once a session
//! or token has been checked; domain code (audit log, admin actions) reads it from there.

/// What a staff member or machine client may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Front-desk staff: the queue, the desk screen.
    Desk,
    /// Administrators: everything a desk may do, plus accounts, settings, exports.
    Admin,
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Account name, or `token:<name>` for an API token; written into the audit log.
    pub username: String,
    pub role: Role,
}
