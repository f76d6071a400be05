//! Threading headers and subjects for replies and forwards, by the original's rules:
//! In-Reply-To is the referenced message's Message-ID; References is its References, then
//! its In-Reply-To, then its Message-ID, each id once; the subject gets `Re: ` or `Fwd: `
//! unless it already has that prefix.

use std::collections::HashSet;

use super::build::bracketed;
use super::draft::ReferenceAction;
use super::validate::{MAX_HEADER_WORD, MAX_SUBJECT, is_msg_id};

impl ReferenceAction {
    /// `Re: ` or `Fwd: `.
    pub fn subject_prefix(self) -> &'static str {
        match self {
            ReferenceAction::Reply => "Re: ",
            ReferenceAction::Forward => "Fwd: ",
        }
    }

    /// Prefixes that already mark a subject as a reply or a forward (compared ignoring
    /// case): `RE:` and `Fw:` are as common as our own spellings.
    fn known_prefixes(self) -> &'static [&'static str] {
        match self {
            ReferenceAction::Reply => &["re:"],
            ReferenceAction::Forward => &["fwd:", "fw:"],
        }
    }
}

/// `(In-Reply-To, References)` of a message answering one with these header values (raw
/// header text: `<a@b> <c@d>`, or bare ids). Anything that is not an id is left out, so
/// a malformed original cannot make the new message invalid.
pub fn reply_headers(
    original_message_id: Option<&str>,
    original_in_reply_to: Option<&str>,
    original_references: Option<&str>,
) -> (Option<String>, Vec<String>) {
    let in_reply_to = original_message_id.and_then(|v| ids(v).into_iter().next());
    let mut seen = HashSet::new();
    let references = [
        original_references,
        original_in_reply_to,
        original_message_id,
    ]
    .into_iter()
    .flatten()
    .flat_map(ids)
    .filter(|id| seen.insert(id.clone()))
    .collect();
    (in_reply_to, references)
}

/// Every id in a header value, bracketed.
fn ids(value: &str) -> Vec<String> {
    let tokens: Vec<&str> = if value.contains('<') {
        // Text outside the brackets (comments, stray words) is not an id.
        value
            .split('<')
            .skip(1)
            .filter_map(|s| s.split_once('>').map(|(id, _)| id))
            .collect()
    } else {
        value.split_whitespace().collect()
    };
    tokens
        .into_iter()
        .filter(|t| is_msg_id(t))
        .map(bracketed)
        .collect()
}

/// The subject of a reply or forward of a message with `subject`: the prefix added unless
/// one of its kind is there. Control characters become spaces and the result is cut to
/// the subject limits, since the original's subject is not ours to reject.
pub fn prefixed_subject(action: ReferenceAction, subject: &str) -> String {
    let clean: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    let has_prefix = action.known_prefixes().iter().any(|p| {
        clean
            .get(..p.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(p))
    });
    let full = if has_prefix {
        clean.to_string()
    } else {
        format!("{}{clean}", action.subject_prefix())
    };
    let full: String = full.trim_end().chars().take(MAX_SUBJECT).collect();
    // A word too long for a header line would make our own check refuse the reply.
    full.split(' ')
        .map(|w| {
            if w.is_ascii() && w.len() > MAX_HEADER_WORD {
                &w[..MAX_HEADER_WORD]
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
