//! Turning IMAP fetch results and raw messages into the REST shapes.
