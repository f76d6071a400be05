//! dispatch role
