//! A message's flags in the form the folder index keeps them: the common flags as bits,
//! anything else by name. A sync reads one flag list per message (100,000 for a big
//! INBOX); read straight into this form, a message with only common flags costs no
//! allocation, where a list of owned names cost one per flag, and the diff compares bits.

/// Flags held as bits, in bit order; these spellings are the ones handed back.
pub const BIT_FLAGS: [&str; 7] = [
    "\\Seen",
    "\\Answered",
    "\\Flagged",
    "\\Deleted",
    "\\Draft",
    "$Forwarded",
    "$Junk",
];

/// The names of the flags set in `bits`, in [`BIT_FLAGS`] order.
pub fn bit_names(bits: u8) -> impl Iterator<Item = &'static str> {
    BIT_FLAGS
        .iter()
        .enumerate()
        .filter(move |(i, _)| bits & (1 << i) != 0)
        .map(|(_, f)| *f)
}

/// The bit of a flag held as one (any case).
pub fn flag_bit(flag: &str) -> Option<u8> {
    flag_bit_of(flag.as_bytes())
}

fn flag_bit_of(flag: &[u8]) -> Option<u8> {
    BIT_FLAGS
        .iter()
        .position(|f| f.as_bytes().eq_ignore_ascii_case(flag))
        .map(|i| 1u8 << i)
}

/// `\Recent` belongs to the session that saw the message first, not to the message: it is
/// never kept.
pub fn is_recent(flag: &str) -> bool {
    flag.eq_ignore_ascii_case("\\Recent")
}

/// One message's flags, `\Recent` left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFlags {
    bits: u8,
    /// Keywords and rarer system flags, as the server spelled them, each once; empty (and
    /// unallocated) for most messages.
    others: Vec<String>,
}

impl MessageFlags {
    /// No flags.
    pub fn new() -> MessageFlags {
        MessageFlags::default()
    }

    /// From a list of names, as a parsed FETCH response or a stored event has them.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> MessageFlags {
        let mut flags = MessageFlags::new();
        for n in names {
            flags.add(n.as_ref());
        }
        flags
    }

    /// Add one flag as the server wrote it (atom characters only, as in a FETCH response).
    pub fn add(&mut self, flag: &str) {
        if let Some(bit) = flag_bit(flag) {
            self.bits |= bit;
        } else if !flag.is_empty() && !is_recent(flag) && !self.others.iter().any(|o| o == flag) {
            self.others.push(flag.to_string());
        }
    }

    /// Add one flag read from the wire: a bit flag is told from its bytes, so only a
    /// keyword is ever turned into a `String`. `None` when a keyword is not UTF-8.
    pub fn add_bytes(&mut self, flag: &[u8]) -> Option<()> {
        if let Some(bit) = flag_bit_of(flag) {
            self.bits |= bit;
        } else {
            self.add(std::str::from_utf8(flag).ok()?);
        }
        Some(())
    }

    /// The flags held as bits ([`BIT_FLAGS`] order).
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// The flags not held as bits, in the order first seen.
    pub fn others(&self) -> &[String] {
        &self.others
    }

    /// Every flag by name: the bit flags in [`BIT_FLAGS`] order, then the others.
    pub fn names(&self) -> Vec<String> {
        bit_names(self.bits)
            .map(str::to_string)
            .chain(self.others.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_flags_become_bits_and_nothing_is_allocated_for_them() {
        let f = MessageFlags::from_names(&["\\SEEN", "\\Recent", "$junk", "\\Answered"]);
        assert_eq!(f.bits(), 0b100_0011);
        assert!(f.others().is_empty());
        assert_eq!(f.others.capacity(), 0);
        assert_eq!(f.names(), vec!["\\Seen", "\\Answered", "$Junk"]);
    }

    #[test]
    fn keywords_are_kept_once_as_spelled() {
        let mut f = MessageFlags::new();
        for flag in ["$Work", "\\Custom", "$Work", "", "\\Flagged"] {
            f.add(flag);
        }
        assert!(f.add_bytes(b"$Later").is_some());
        assert!(f.add_bytes(b"\\draft").is_some());
        assert!(f.add_bytes(&[0xff]).is_none());
        assert_eq!(f.others(), ["$Work", "\\Custom", "$Later"]);
        assert_eq!(
            f.names(),
            vec!["\\Flagged", "\\Draft", "$Work", "\\Custom", "$Later"]
        );
    }
}
