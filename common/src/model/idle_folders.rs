//! The folders that get an IDLE connection of their own on a server without NOTIFY: the
//! entries of `imap.idleFolders` (per account) and `ingest.idleFolders` (global), and what
//! makes an entry one ingest can resolve. The api refuses a bad account entry and the
//! config a bad global one with the same rules, so a typo such as `\Sant` is a clear error
//! rather than a folder silently left to the periodic resync.

use super::mailbox::SPECIAL_USES;

/// Most entries in one list: each is an IMAP connection, and servers cap those per user
/// (Dovecot: 10 by default, Gmail: 15).
pub const MAX_IDLE_FOLDERS: usize = 32;
/// Longest entry, as for folder paths elsewhere in the API.
pub const MAX_ENTRY_CHARS: usize = 1024;

/// Why a list of idle folders was refused; `index` is the entry at fault, when one is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct IdleFolderError {
    pub index: Option<usize>,
    pub problem: &'static str,
}

/// Check a list of idle folders: at most [`MAX_IDLE_FOLDERS`] entries, each a special use
/// (`\Sent`, any case) or a folder path.
pub fn check(list: &[String]) -> Result<(), IdleFolderError> {
    if list.len() > MAX_IDLE_FOLDERS {
        return Err(IdleFolderError {
            index: None,
            problem: "must contain less than or equal to 32 items",
        });
    }
    for (i, entry) in list.iter().enumerate() {
        check_entry(entry).map_err(|problem| IdleFolderError {
            index: Some(i),
            problem,
        })?;
    }
    Ok(())
}

fn check_entry(entry: &str) -> Result<(), &'static str> {
    if entry.trim().is_empty() {
        return Err("is not allowed to be empty");
    }
    if entry.chars().count() > MAX_ENTRY_CHARS {
        return Err("length must be less than or equal to 1024 characters long");
    }
    if entry.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    let known = |u: &str| SPECIAL_USES.iter().any(|s| s.eq_ignore_ascii_case(u));
    if entry.starts_with('\\') && !entry.eq_ignore_ascii_case("\\Inbox") && !known(entry) {
        return Err(
            "must be a special use (\\Inbox, \\All, \\Archive, \\Drafts, \\Flagged, \\Junk, \\Sent, \\Trash) or a folder path",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn special_uses_and_paths_pass() {
        assert_eq!(check(&[]), Ok(()));
        assert_eq!(
            check(&list(&[
                "\\Sent",
                "\\archive",
                "Projects/Alpha",
                "INBOX",
                "\\Inbox"
            ])),
            Ok(())
        );
    }

    #[test]
    fn the_entry_at_fault_is_named() {
        let e = check(&list(&["\\Sent", "\\Sant"])).unwrap_err();
        assert_eq!(e.index, Some(1));
        assert!(e.problem.contains("special use"), "{e}");
        assert_eq!(check(&list(&["a", " "])).unwrap_err().index, Some(1));
        assert_eq!(check(&list(&["a\r\nb"])).unwrap_err().index, Some(0));
        let long = "x".repeat(MAX_ENTRY_CHARS + 1);
        assert_eq!(check(&[long]).unwrap_err().index, Some(0));
    }

    #[test]
    fn too_many_entries_are_refused() {
        let many: Vec<String> = (0..=MAX_IDLE_FOLDERS).map(|i| format!("F{i}")).collect();
        assert_eq!(check(&many).unwrap_err().index, None);
        assert_eq!(check(&many[..MAX_IDLE_FOLDERS]), Ok(()));
    }
}
