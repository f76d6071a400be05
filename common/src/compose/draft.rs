//! The typed description of a message to build, in the JSON shape of the contract's
//! `MessageUpload` / `SubmitMessage` bodies (`from`, `to`, `subject`, `attachments`, …).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::model::Address;

/// A message to build: addresses, subject, text and/or html, attachments, extra headers.
///
/// Check it with [`MessageDraft::validate`] and turn it into RFC 5322 bytes with
/// [`MessageDraft::build`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessageDraft {
    pub from: Address,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bcc: Vec<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentDraft>,
    /// `<id@domain>` (the brackets may be left out); one of ours is generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Extra header fields, name → value. Names we set ourselves are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Set by callers for replies and forwards ([`super::reply_headers`]); it replaces an
    /// `In-Reply-To` given in `headers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// Set with `in_reply_to`; it replaces a `References` given in `headers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
}

impl MessageDraft {
    /// A draft from `from` with nothing else set.
    pub fn new(from: Address) -> Self {
        MessageDraft {
            from,
            to: Vec::new(),
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to: None,
            subject: None,
            text: None,
            html: None,
            attachments: Vec::new(),
            message_id: None,
            headers: BTreeMap::new(),
            in_reply_to: None,
            references: Vec::new(),
        }
    }
}

/// One attachment: base64 content plus how to present it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachmentDraft {
    /// Named `attachment-N.<ext>` when absent, as the original did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// The bytes, base64 encoded (line breaks and missing padding are tolerated).
    pub content: String,
    /// Guessed from the filename's extension when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `inline` when a `cid` is given, else `attachment`, when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<Disposition>,
    /// Content-ID the html refers to as `cid:…` (the brackets may be left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    #[serde(default)]
    pub encoding: ContentEncoding,
}

/// `contentDisposition`: accepted in any case, as the original lower-cased it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Disposition {
    Inline,
    Attachment,
}

impl<'de> Deserialize<'de> for Disposition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        match s.to_ascii_lowercase().as_str() {
            "inline" => Ok(Disposition::Inline),
            "attachment" => Ok(Disposition::Attachment),
            _ => Err(serde::de::Error::unknown_variant(
                &s,
                &["inline", "attachment"],
            )),
        }
    }
}

/// How `content` is encoded in the request; base64 is the only one the contract has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContentEncoding {
    #[default]
    Base64,
}

/// `reference`: the message a new one replies to or forwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageReference {
    /// The API's message id of the referenced message.
    pub message: String,
    #[serde(default)]
    pub action: ReferenceAction,
    /// For a forward sent with submit: quote the original's text below the new text instead
    /// of attaching the original whole.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inline: bool,
}

/// `reference.action`: accepted in any case, as the original lower-cased it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReferenceAction {
    #[default]
    Reply,
    Forward,
}

impl<'de> Deserialize<'de> for ReferenceAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        match s.to_ascii_lowercase().as_str() {
            "reply" => Ok(ReferenceAction::Reply),
            "forward" => Ok(ReferenceAction::Forward),
            _ => Err(serde::de::Error::unknown_variant(&s, &["forward", "reply"])),
        }
    }
}
