//! mail-parser addresses to the REST `Address` shape.
//!
//! Groups are flattened: clients of the original saw plain lists.

use imapapi_common::model::message::Address;
use mail_parser::{Addr, Address as MpAddress};

fn one(a: &Addr<'_>) -> Option<Address> {
    let name = a.name.as_deref().unwrap_or("").trim().to_string();
    let address = a.address.as_deref().unwrap_or("").trim().to_string();
    (!name.is_empty() || !address.is_empty()).then_some(Address { name, address })
}

pub(crate) fn list(a: Option<&MpAddress<'_>>) -> Vec<Address> {
    a.map(|a| a.iter().filter_map(one).collect())
        .unwrap_or_default()
}

pub(crate) fn first(a: Option<&MpAddress<'_>>) -> Option<Address> {
    a.and_then(|a| a.iter().find_map(one))
}
