//! Paged message listings: a whole folder, or the messages matching a search. Both page
//! newest first, by `page` (from 0) or by a `cursor` (the UIDs below the previous page).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::command::cursor::ListCursor;
use crate::error::ApiError;

/// `GET /v1/account/:id/messages?path=&page=&pageSize=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMessages {
    pub path: String,
    pub page: u32,
    pub page_size: u32,
    /// Page by UID instead of `page` (which is then 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<ListCursor>,
}

/// `POST /v1/account/:id/search?path=&page=&pageSize=` with `{"search": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Search {
    pub path: String,
    pub page: u32,
    pub page_size: u32,
    /// Page by UID instead of `page` (which is then 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<ListCursor>,
    pub query: SearchQuery,
}

/// A day, as `YYYY-MM-DD` or any RFC 3339 date-time (its date part is used, as IMAP
/// compares dates only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SearchDate(pub NaiveDate);

impl<'de> Deserialize<'de> for SearchDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let s = s.trim();
        if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(SearchDate(day));
        }
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| SearchDate(t.date_naive()))
            .map_err(|_| {
                serde::de::Error::custom("must be a date (YYYY-MM-DD) or an ISO date-time")
            })
    }
}

/// In the OpenAPI document: a string, since both forms are strings.
impl PartialSchema for SearchDate {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "A day as `YYYY-MM-DD`, or an RFC 3339 date-time whose date is used",
            ))
            .examples(["2024-01-31"])
            .into()
    }
}

impl ToSchema for SearchDate {}

/// A header criterion's value: a substring to look for, or `true` for "has this header".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HeaderMatch {
    Contains(String),
    Present(bool),
}

/// In the OpenAPI document: a string, or `true` (`false` is refused).
impl PartialSchema for HeaderMatch {
    fn schema() -> RefOr<Schema> {
        let present = ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .enum_values(Some([true]))
            .description(Some("`true`: the message has this header"));
        let contains = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(STRING_LIMIT))
            .description(Some("Text the header value contains"));
        OneOfBuilder::new().item(contains).item(present).into()
    }
}

impl ToSchema for HeaderMatch {}

/// Every search criterion of the contract; all given criteria must match.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchQuery {
    /// Sequence set, e.g. `1:10,20`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unseen: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flagged: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bcc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub larger: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smaller: Option<u64>,
    /// UID set, e.g. `100:200`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modseq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<SearchDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<SearchDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_before: Option<SearchDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_since: Option<SearchDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<BTreeMap<String, HeaderMatch>>,
}

/// Largest `larger`/`smaller` accepted (1 GiB, as the original).
const SIZE_LIMIT: u64 = 1 << 30;
const STRING_LIMIT: usize = 256;

/// True for an IMAP sequence set of numbers and `*` (`1:5,7,10:*`).
pub fn is_sequence_set(s: &str) -> bool {
    let num = |n: &str| {
        n == "*"
            || (!n.is_empty()
                && n.len() <= 10
                && n.bytes().all(|b| b.is_ascii_digit())
                && n.parse::<u32>().is_ok_and(|v| v > 0))
    };
    !s.is_empty()
        && s.split(',').all(|r| match r.split_once(':') {
            Some((a, b)) => num(a) && num(b),
            None => num(r),
        })
}

impl SearchQuery {
    /// Check lengths and formats; errors name the field as `search.<name>`.
    pub fn validate(&self) -> Result<(), ApiError> {
        let strings = [
            ("from", &self.from),
            ("to", &self.to),
            ("cc", &self.cc),
            ("bcc", &self.bcc),
            ("body", &self.body),
            ("subject", &self.subject),
            ("emailId", &self.email_id),
            ("threadId", &self.thread_id),
        ];
        for (name, v) in strings {
            if let Some(v) = v {
                check_string(&format!("search.{name}"), v)?;
            }
        }
        for (name, v) in [("seq", &self.seq), ("uid", &self.uid)] {
            if let Some(v) = v
                && (v.len() > STRING_LIMIT || !is_sequence_set(v))
            {
                return Err(ApiError::invalid(
                    &format!("search.{name}"),
                    "must be a sequence set such as 1:10,20",
                ));
            }
        }
        for (name, v) in [("larger", self.larger), ("smaller", self.smaller)] {
            if v.is_some_and(|v| v > SIZE_LIMIT) {
                return Err(ApiError::invalid(
                    &format!("search.{name}"),
                    format!("must be less than or equal to {SIZE_LIMIT}"),
                ));
            }
        }
        if let Some(h) = &self.header {
            for (k, v) in h {
                let field = format!("search.header.{k}");
                if k.is_empty()
                    || k.len() > STRING_LIMIT
                    || !k.bytes().all(|b| b.is_ascii_graphic() && b != b':')
                {
                    return Err(ApiError::invalid(&field, "is not a valid header name"));
                }
                match v {
                    HeaderMatch::Contains(s) => check_string(&field, s)?,
                    HeaderMatch::Present(true) => {}
                    HeaderMatch::Present(false) => {
                        return Err(ApiError::invalid(&field, "must be a string or true"));
                    }
                }
            }
        }
        Ok(())
    }
}

fn check_string(field: &str, v: &str) -> Result<(), ApiError> {
    if v.chars().count() > STRING_LIMIT {
        return Err(ApiError::invalid(
            field,
            format!("length must be less than or equal to {STRING_LIMIT} characters long"),
        ));
    }
    if v.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return Err(ApiError::invalid(field, "must not contain line breaks"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_sets() {
        assert!(is_sequence_set("1:5,7,10:*"));
        assert!(is_sequence_set("*"));
        assert!(!is_sequence_set("1 OR 2"));
        assert!(!is_sequence_set("0"));
        assert!(!is_sequence_set(""));
        assert!(!is_sequence_set("1:"));
    }

    #[test]
    fn dates_take_both_forms() {
        let q: SearchQuery =
            serde_json::from_str(r#"{"since":"2024-01-02","before":"2024-03-04T10:00:00Z"}"#)
                .unwrap();
        assert_eq!(q.since.unwrap().0.to_string(), "2024-01-02");
        assert_eq!(q.before.unwrap().0.to_string(), "2024-03-04");
        assert!(serde_json::from_str::<SearchQuery>(r#"{"since":"soon"}"#).is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let q = SearchQuery {
            seq: Some("1) UID (1".into()),
            ..Default::default()
        };
        assert_eq!(q.validate().unwrap_err().fields[0].key, "search.seq");
        let q = SearchQuery {
            subject: Some("a\r\nb".into()),
            ..Default::default()
        };
        assert_eq!(q.validate().unwrap_err().fields[0].key, "search.subject");
        let mut header = BTreeMap::new();
        header.insert("X Bad".to_string(), HeaderMatch::Present(true));
        let q = SearchQuery {
            header: Some(header),
            ..Default::default()
        };
        assert!(q.validate().is_err());
    }
}
