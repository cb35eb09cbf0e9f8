//! Listings rendered as they are read: the store hands each row's columns, borrowed from the
//! database's row, to a render function the caller gives (the API's view of the row), which
//! writes the row's JSON into one buffer (a role's stored JSON is copied there). No value is
//! decoded into an owned model on the way; per row, only an account's or assignment's SID (its
//! cursor key) is allocated, and a role's key stays in the buffer ([`NameKeyAt`]).

use std::ops::Range;

use crate::error::Result;
use crate::keyset::ByName;
use crate::role_json::ListedRole;
use crate::sid::RoleSid;

/// Writes one row's JSON at the end of the buffer.
pub type Render<T> = fn(&T, &mut Vec<u8>) -> Result<()>;

/// Renders a role assignment from its columns (whatever the row's lifetime).
pub type RenderAssignment = for<'a> fn(&AssignmentColumns<'a>, &mut Vec<u8>) -> Result<()>;

/// Renders an account from its columns (whatever the row's lifetime).
pub type RenderAccount = for<'a> fn(&AccountColumns<'a>, &mut Vec<u8>) -> Result<()>;

/// A listing's rows, rendered: their JSON in `json`, and each row's bytes and its place in the
/// listing's order (`K`: its SID, or for roles [`NameKeyAt`]), in the listing's order.
#[derive(Debug)]
pub struct RenderedRows<K = String> {
    pub json: Vec<u8>,
    pub rows: Vec<RenderedRow<K>>,
}

/// One rendered row: where its JSON is in [`RenderedRows::json`], and its key.
#[derive(Clone, Debug)]
pub struct RenderedRow<K = String> {
    pub at: Range<usize>,
    pub key: K,
}

impl<K> Default for RenderedRows<K> {
    fn default() -> Self {
        Self {
            json: Vec::new(),
            rows: Vec::new(),
        }
    }
}

impl<K> RenderedRows<K> {
    /// Renders one more row, keyed `key`, with `render`.
    pub fn push<T>(&mut self, key: K, row: &T, render: Render<T>) -> Result<()> {
        let start = self.json.len();
        render(row, &mut self.json)?;
        self.rows.push(RenderedRow {
            at: start..self.json.len(),
            key,
        });
        Ok(())
    }

    /// The JSON of `row`.
    pub fn json_of(&self, row: &RenderedRow<K>) -> &[u8] {
        &self.json[row.at.clone()]
    }
}

/// A role's place in the name order, kept as two ranges of [`RenderedRows::json`] (the
/// listing writes the row's `name_key` and SID there too, after its JSON): only a page's first
/// and last rows need their key as strings.
#[derive(Clone, Debug)]
pub struct NameKeyAt {
    pub name_key: Range<usize>,
    pub sid: Range<usize>,
}

impl RenderedRows<NameKeyAt> {
    /// The SID of `row`, as bytes.
    pub fn sid_of(&self, row: &RenderedRow<NameKeyAt>) -> &[u8] {
        &self.json[row.key.sid.clone()]
    }

    /// The SID of `row`, parsed (`None`: the stored bytes are not a role SID).
    pub fn role_sid(&self, row: &RenderedRow<NameKeyAt>) -> Option<RoleSid> {
        let sid = std::str::from_utf8(self.sid_of(row)).ok()?;
        RoleSid::parse(sid).ok()
    }

    /// The key of `row`.
    pub fn key_of(&self, row: &RenderedRow<NameKeyAt>) -> ByName {
        let text = |r: &Range<usize>| String::from_utf8_lossy(&self.json[r.clone()]).into_owned();
        ByName {
            name_key: text(&row.key.name_key),
            sid: text(&row.key.sid),
        }
    }

    /// The rows as [`ListedRole`]s (to compare with [`Role::listed`](crate::model::Role)).
    pub fn listed(&self) -> Vec<ListedRole> {
        self.rows
            .iter()
            .map(|r| ListedRole {
                key: self.key_of(r),
                json: String::from_utf8_lossy(self.json_of(r)).into_owned(),
            })
            .collect()
    }
}

/// A role assignment's columns, as read.
#[derive(Debug)]
pub struct AssignmentColumns<'a> {
    pub sid: &'a str,
    pub role: &'a str,
    pub scope: &'a str,
    pub identity: &'a str,
    pub resource_type: Option<&'a str>,
    pub resource_id: Option<&'a str>,
}

/// An account's columns, as read.
#[derive(Debug)]
pub struct AccountColumns<'a> {
    pub sid: &'a str,
    pub friendly_name: &'a str,
    pub status: &'a str,
    pub owner: Option<&'a str>,
    pub date_created: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(s: &&str, out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(format!("\"{s}\"").as_bytes());
        Ok(())
    }

    #[test]
    fn rows_are_found_where_they_were_written() {
        let mut rows = RenderedRows::default();
        rows.push("IXa".to_owned(), &"first", quoted)
            .expect("render");
        rows.push("IXb".to_owned(), &"", quoted).expect("render");
        rows.push("IXc".to_owned(), &"third", quoted)
            .expect("render");
        let got: Vec<(&[u8], &str)> = rows
            .rows
            .iter()
            .map(|r| (rows.json_of(r), r.key.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (&b"\"first\""[..], "IXa"),
                (&b"\"\""[..], "IXb"),
                (&b"\"third\""[..], "IXc")
            ]
        );
    }
}
