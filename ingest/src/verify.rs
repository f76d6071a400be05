//! `VerifyImap`: try IMAP settings without saving them — connect, secure, authenticate and
//! optionally list the folders — and say which step failed and why.

use imapapi_common::Services;
use imapapi_common::command::{ListMailboxes, VerifyImap, VerifyImapReply};
use imapapi_common::model::AccountConfig;
use imapapi_common::oauth2::{CredentialSource, Proto};

use crate::cmd::{CommandCx, Execute};
use crate::connection::{self, ConnectError};
use crate::imap::Imap;
use crate::message_cache::MessageCache;

fn failed(code: &str, error: String) -> VerifyImapReply {
    VerifyImapReply {
        success: false,
        error: Some(error),
        code: Some(code.to_string()),
        mailboxes: None,
    }
}

/// Run the check. `service.secret` opens the secrets the api sealed.
pub async fn verify(request: VerifyImap, services: &Services) -> VerifyImapReply {
    let secret = services.config.service.secret.clone();
    let local = &services.config.service.local_addresses;
    let store = &services.store;
    let gmail = &services.config.gmail;
    // Reuse the account opener, so sealed and plain secrets are handled as for accounts.
    let cfg = AccountConfig {
        account: String::new(),
        name: String::new(),
        copy: None,
        notify_from: None,
        path: None,
        imap: Some(request.imap),
        smtp: None,
        oauth2: None,
        webhooks: None,
    };
    let cfg = match imapapi_common::crypto::open_account_off_runtime(cfg, secret).await {
        Ok(cfg) => cfg,
        Err(e) => {
            return failed(
                "ConnectError",
                format!("Cannot decrypt the credentials: {e}"),
            );
        }
    };
    let Some(imap_cfg) = cfg.imap.clone() else {
        return failed("ConnectError", "No IMAP settings".into());
    };
    let settings = store.get_settings().await.unwrap_or_default();
    let settings = imapapi_common::crypto::open_settings_off_runtime(
        settings,
        services.config.service.secret.clone(),
    )
    .await;
    let source = CredentialSource::new(&cfg, Proto::Imap, &settings, gmail);
    let attempt = async {
        let creds = source.credentials().await?;
        let session = connection::connect(&imap_cfg, &creds, local).await?;
        Imap::new_plain(session)
            .await
            .map_err(|e| ConnectError::connect(e.to_string()))
    };
    let mut imap = match attempt.await {
        Ok(i) => i,
        // The server's own response code, when it gave one, says more than ours.
        Err(ConnectError::Auth(m)) => {
            let code = m
                .server_response_code
                .unwrap_or_else(|| "AuthenticationError".into());
            return failed(&code, m.response);
        }
        Err(ConnectError::Connect(m)) => {
            let code = m
                .server_response_code
                .unwrap_or_else(|| "ConnectError".into());
            return failed(&code, m.response);
        }
    };
    let mut reply = VerifyImapReply {
        success: true,
        ..Default::default()
    };
    if request.mailboxes {
        let mut cx = CommandCx {
            imap: &mut imap,
            store: &**store,
            folders: None,
            account: "",
            session: None,
            cache: &MessageCache::new(0),
        };
        match (ListMailboxes {}).execute(&mut cx).await {
            Ok(list) => reply.mailboxes = Some(list.mailboxes),
            Err(e) => reply = failed("IMAPError", e.to_string()),
        }
    }
    imap.logout().await;
    reply
}
