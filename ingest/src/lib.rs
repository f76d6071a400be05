//! ingest role
