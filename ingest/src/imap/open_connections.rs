//! The gauge `imapapi_imap_connections`: IMAP connections this process holds open (the
//! watchers and the command connections). A guard that each [`super::Imap`] owns, so the
//! count follows every way a connection ends, an error or a drop mid-command included.

/// Counts one open connection from creation to drop.
#[derive(Debug)]
pub struct OpenConnection(());

impl OpenConnection {
    pub fn new() -> Self {
        metrics::gauge!("imapapi_imap_connections").increment(1.0);
        OpenConnection(())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("imapapi_imap_connections").decrement(1.0);
    }
}
