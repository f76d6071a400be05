//! An IMAP client for tests: it changes mailboxes behind the gateway's back, the way
//! another mail client would.

use std::fmt::Debug;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use async_imap::imap_proto::rfc4315::UidSetMember;
use async_imap::imap_proto::{Response, ResponseCode, Status};
use async_imap::{Client, Session};
use futures::TryStreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

use super::{Dovecot, TestUser};

/// Any transport the client runs over (plain TCP or TLS), boxed so every variant has the
/// same `ImapTestClient` type.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Io for T {}

/// Every IMAP operation of the rig is bounded by this; a stuck server fails the test
/// instead of hanging it. Generous because the first SELECT after `fill_maildir` of
/// 100,000 messages makes Dovecot index them all (under a second idle, more when busy).
const IMAP_TIMEOUT: Duration = Duration::from_secs(60);

/// A logged-in IMAP session. Methods select the folder they work on themselves.
pub struct ImapTestClient {
    session: Session<Box<dyn Io>>,
    /// Dovecot drops the connection when the selected mailbox is deleted, so
    /// `delete_mailbox` needs to know.
    selected: Option<String>,
}

/// A rustls client config trusting only the rig's CA. Installs the aws-lc-rs crypto
/// provider as the process default first (needed once; later calls are no-ops).
pub fn tls_client_config(ca_cert: &std::path::Path) -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            // Err only means another provider is already installed, which is fine.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca_cert)
                .unwrap_or_else(|e| panic!("reading {}: {e}", ca_cert.display()))
            {
                roots
                    .add(cert.expect("CA PEM parses"))
                    .expect("CA certificate accepted");
            }
            Arc::new(
                rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        })
        .clone()
}

async fn tls_wrap<S: AsyncRead + AsyncWrite + Unpin>(
    dovecot: &Dovecot,
    stream: S,
) -> Result<tokio_rustls::client::TlsStream<S>> {
    let connector = TlsConnector::from(tls_client_config(&dovecot.ca_cert));
    let name = ServerName::try_from(dovecot.host.clone())?;
    Ok(timeout(IMAP_TIMEOUT, connector.connect(name, stream))
        .await
        .context("TLS handshake timed out")??)
}

impl ImapTestClient {
    /// Plaintext IMAP on `imap_port`.
    pub async fn connect(dovecot: &Dovecot, user: &TestUser) -> Result<Self> {
        let tcp = Self::tcp(dovecot, dovecot.imap_port).await?;
        Self::login(Box::new(tcp), user).await
    }

    /// Implicit TLS on `imaps_port`, trusting the rig's CA.
    pub async fn tls_connect(dovecot: &Dovecot, user: &TestUser) -> Result<Self> {
        let tcp = Self::tcp(dovecot, dovecot.imaps_port).await?;
        let tls = tls_wrap(dovecot, tcp).await?;
        Self::login(Box::new(tls), user).await
    }

    /// Plaintext connection on `imap_port` upgraded with STARTTLS before login.
    pub async fn starttls_connect(dovecot: &Dovecot, user: &TestUser) -> Result<Self> {
        let tcp = Self::tcp(dovecot, dovecot.imap_port).await?;
        let mut client = Client::new(tcp);
        Self::greeting(&mut client).await?;
        timeout(
            IMAP_TIMEOUT,
            client.run_command_and_check_ok("STARTTLS", None),
        )
        .await
        .context("STARTTLS timed out")??;
        let tls = tls_wrap(dovecot, client.into_inner()).await?;
        // No second greeting after STARTTLS: log in straight away.
        Self::login_no_greeting(Client::new(Box::new(tls)), user).await
    }

    async fn tcp(dovecot: &Dovecot, port: u16) -> Result<TcpStream> {
        let tcp = timeout(
            IMAP_TIMEOUT,
            TcpStream::connect((dovecot.host.as_str(), port)),
        )
        .await
        .context("IMAP connect timed out")??;
        tcp.set_nodelay(true)?;
        Ok(tcp)
    }

    /// async-imap leaves reading the server greeting to the caller.
    async fn greeting<T: Io>(client: &mut Client<T>) -> Result<()> {
        let greeting = timeout(IMAP_TIMEOUT, client.read_response())
            .await
            .context("no IMAP greeting")??
            .ok_or_else(|| anyhow!("connection closed before the greeting"))?;
        match greeting.parsed() {
            Response::Data {
                status: Status::Ok, ..
            } => Ok(()),
            other => bail!("unexpected greeting {other:?}"),
        }
    }

    async fn login(stream: Box<dyn Io>, user: &TestUser) -> Result<Self> {
        let mut client = Client::new(stream);
        Self::greeting(&mut client).await?;
        Self::login_no_greeting(client, user).await
    }

    async fn login_no_greeting(client: Client<Box<dyn Io>>, user: &TestUser) -> Result<Self> {
        let session = timeout(IMAP_TIMEOUT, client.login(&user.user, &user.pass))
            .await
            .context("LOGIN timed out")?
            .map_err(|(e, _)| anyhow!("LOGIN {} failed: {e}", user.user))?;
        Ok(Self {
            session,
            selected: None,
        })
    }

    /// The underlying async-imap session, for anything the helpers do not cover. Drain
    /// `unsolicited_responses` yourself if you issue many commands (it drops when full).
    pub fn session(&mut self) -> &mut Session<Box<dyn Io>> {
        &mut self.session
    }

    /// Unsolicited responses (EXISTS, EXPUNGE, …) are not used here; dropping them keeps
    /// the bounded channel from filling up.
    fn drain(&mut self) {
        while self.session.unsolicited_responses.try_recv().is_ok() {}
    }

    /// SELECTs `folder`; returns the mailbox status (exists, uid_validity, uid_next, …).
    pub async fn select(&mut self, folder: &str) -> Result<async_imap::types::Mailbox> {
        let mailbox = timeout(IMAP_TIMEOUT, self.session.select(folder))
            .await
            .context("SELECT timed out");
        self.drain();
        // A failed SELECT leaves no mailbox selected.
        self.selected = None;
        let mailbox = mailbox??;
        self.selected = Some(folder.to_string());
        Ok(mailbox)
    }

    /// APPENDs `raw` to `folder` and returns the UID the server assigned (APPENDUID).
    pub async fn append(&mut self, folder: &str, raw: &[u8]) -> Result<u32> {
        self.append_with_flags(folder, raw, &[]).await
    }

    /// APPEND with initial flags, e.g. `&["\\Seen"]`; returns the new UID.
    pub async fn append_with_flags(
        &mut self,
        folder: &str,
        raw: &[u8],
        flags: &[&str],
    ) -> Result<u32> {
        timeout(IMAP_TIMEOUT, self.append_inner(folder, raw, flags))
            .await
            .context("APPEND timed out")?
    }

    // Hand-rolled because async-imap's append() throws away the APPENDUID response code.
    async fn append_inner(&mut self, folder: &str, raw: &[u8], flags: &[&str]) -> Result<u32> {
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" ({})", flags.join(" "))
        };
        let tag = self
            .session
            .run_command(format!("APPEND {}{flags} {{{}}}", quote(folder), raw.len()))
            .await?;
        loop {
            let resp = self
                .session
                .read_response()
                .await?
                .ok_or_else(|| anyhow!("connection closed during APPEND"))?;
            match resp.parsed() {
                Response::Continue(_) => break,
                Response::Done {
                    status, outcome, ..
                } => {
                    bail!("APPEND to {folder} refused: {status:?} {outcome:?}")
                }
                _ => {}
            }
        }
        // Safe to write around async-imap: it writes and flushes each command directly,
        // so nothing of ours is buffered inside it.
        let stream = self.session.get_mut();
        stream.write_all(raw).await?;
        stream.write_all(b"\r\n").await?;
        stream.flush().await?;
        loop {
            let resp = self
                .session
                .read_response()
                .await?
                .ok_or_else(|| anyhow!("connection closed during APPEND"))?;
            if let Response::Done {
                tag: t,
                status,
                outcome,
            } = resp.parsed()
            {
                if *t != tag {
                    continue;
                }
                if *status != Status::Ok {
                    bail!("APPEND to {folder} failed: {status:?} {outcome:?}");
                }
                return match &outcome.code {
                    Some(ResponseCode::AppendUid(_, uids)) => match uids.first() {
                        Some(UidSetMember::Uid(uid)) => Ok(*uid),
                        Some(UidSetMember::UidRange(r)) => Ok(*r.start()),
                        None => bail!("empty APPENDUID"),
                    },
                    other => bail!("APPEND OK without APPENDUID: {other:?}"),
                };
            }
        }
    }

    async fn store(&mut self, folder: &str, uid: u32, op: &str, flags: &str) -> Result<()> {
        self.select(folder).await?;
        timeout(IMAP_TIMEOUT, async {
            let stream = self
                .session
                .uid_store(uid.to_string(), format!("{op} ({flags})"))
                .await?;
            stream.try_collect::<Vec<_>>().await?;
            anyhow::Ok(())
        })
        .await
        .context("UID STORE timed out")??;
        self.drain();
        Ok(())
    }

    /// `UID STORE uid +FLAGS (flags)`; `flags` is space-separated, e.g. `"\\Seen \\Flagged"`.
    pub async fn add_flags(&mut self, folder: &str, uid: u32, flags: &str) -> Result<()> {
        self.store(folder, uid, "+FLAGS", flags).await
    }

    /// `UID STORE uid -FLAGS (flags)`.
    pub async fn remove_flags(&mut self, folder: &str, uid: u32, flags: &str) -> Result<()> {
        self.store(folder, uid, "-FLAGS", flags).await
    }

    /// Flags `uid` `\Deleted` and removes it with `UID EXPUNGE` (other messages untouched).
    pub async fn expunge_uid(&mut self, folder: &str, uid: u32) -> Result<()> {
        self.add_flags(folder, uid, "\\Deleted").await?;
        timeout(IMAP_TIMEOUT, async {
            let stream = self.session.uid_expunge(uid.to_string()).await?;
            stream.try_collect::<Vec<_>>().await?;
            anyhow::Ok(())
        })
        .await
        .context("UID EXPUNGE timed out")??;
        self.drain();
        Ok(())
    }

    pub async fn create_mailbox(&mut self, folder: &str) -> Result<()> {
        timeout(IMAP_TIMEOUT, self.session.create(folder))
            .await
            .context("CREATE timed out")??;
        self.drain();
        Ok(())
    }

    pub async fn rename_mailbox(&mut self, from: &str, to: &str) -> Result<()> {
        if self.selected.as_deref() == Some(from) {
            self.select("INBOX").await?;
        }
        timeout(IMAP_TIMEOUT, self.session.rename(from, to))
            .await
            .context("RENAME timed out")??;
        self.drain();
        Ok(())
    }

    pub async fn delete_mailbox(&mut self, folder: &str) -> Result<()> {
        if self.selected.as_deref() == Some(folder) {
            self.select("INBOX").await?;
        }
        timeout(IMAP_TIMEOUT, self.session.delete(folder))
            .await
            .context("DELETE timed out")??;
        self.drain();
        Ok(())
    }

    /// All UIDs in `folder`, ascending.
    pub async fn uids(&mut self, folder: &str) -> Result<Vec<u32>> {
        self.select(folder).await?;
        let set = timeout(IMAP_TIMEOUT, self.session.uid_search("ALL"))
            .await
            .context("UID SEARCH timed out")??;
        self.drain();
        let mut uids: Vec<u32> = set.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// The flags of `uid` in `folder`, as strings like `"\\Seen"`.
    pub async fn flags(&mut self, folder: &str, uid: u32) -> Result<Vec<String>> {
        self.select(folder).await?;
        let fetches = timeout(IMAP_TIMEOUT, async {
            let stream = self.session.uid_fetch(uid.to_string(), "FLAGS").await?;
            anyhow::Ok(stream.try_collect::<Vec<_>>().await?)
        })
        .await
        .context("UID FETCH timed out")??;
        self.drain();
        let fetch = fetches
            .iter()
            .find(|f| f.uid == Some(uid))
            .ok_or_else(|| anyhow!("uid {uid} not in {folder}"))?;
        Ok(fetch.flags().map(|f| flag_string(&f)).collect())
    }

    pub async fn logout(mut self) -> Result<()> {
        timeout(IMAP_TIMEOUT, self.session.logout())
            .await
            .context("LOGOUT timed out")??;
        Ok(())
    }
}

fn flag_string(flag: &async_imap::types::Flag<'_>) -> String {
    use async_imap::types::Flag;
    match flag {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent => "\\Recent".into(),
        Flag::MayCreate => "\\*".into(),
        Flag::Custom(c) => c.to_string(),
    }
}

/// An IMAP quoted string (folder names may contain spaces); async-imap quotes names itself
/// in select/create/delete, only the hand-rolled APPEND needs this.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
