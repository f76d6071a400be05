//! api role
