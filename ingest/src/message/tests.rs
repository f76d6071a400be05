//! Decoding tests with literal MIME samples.
