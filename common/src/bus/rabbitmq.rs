//! placeholder, replaced by its backend
