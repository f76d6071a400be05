//! Encryption of account secrets at rest (`service.secret`).
