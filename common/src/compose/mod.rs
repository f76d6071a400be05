//! The MIME composer: a typed [`MessageDraft`] (the JSON body of uploads and, later,
//! submissions) checked field by field and built into an RFC 5322 message.
//!
//! Built with lettre's message builder rather than `mail-builder`: it covers everything
//! needed here (custom headers through `HeaderValue`, In-Reply-To/References, inline parts
//! with a Content-ID, an exact Message-ID, keeping or dropping Bcc), encodes UTF-8 names
//! and subjects as RFC 2047 words and filenames per RFC 2231, and the submit role will
//! send over lettre's SMTP transport anyway, so one crate serves both. What lettre does
//! not check it would panic on (a line break in a display name), which is one more reason
//! why [`MessageDraft::build`] validates first.

mod build;
mod draft;
mod reply;
mod validate;

#[cfg(test)]
mod tests;

pub use build::BuiltMessage;
pub use draft::{
    AttachmentDraft, ContentEncoding, Disposition, MessageDraft, MessageReference, ReferenceAction,
};
pub use reply::{prefixed_subject, reply_headers};
pub use validate::{
    MAX_ADDRESS, MAX_BODY, MAX_CID, MAX_CONTENT, MAX_CONTENT_TYPE, MAX_FILENAME, MAX_HEADER_NAME,
    MAX_HEADER_VALUE, MAX_HEADER_WORD, MAX_MESSAGE_ID, MAX_NAME, MAX_SUBJECT,
};
