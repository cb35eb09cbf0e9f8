//! Typed keyset positions: what each listing is ordered by, as its page tokens carry it. A
//! [`Cursor`] holds the key as its parts (strings, in order); these types say what the parts
//! are, so a listing builds and reads its keys by name rather than by position.

use crate::model::Role;
use crate::page::{Cursor, Direction};

/// A listing's order key: turned into a cursor's parts, and read back from them.
pub trait CursorKey: Sized {
    /// The key's parts, in the order the listing sorts by.
    fn to_parts(&self) -> Vec<String>;

    /// The key a cursor's parts hold, if they have this shape.
    fn from_parts(parts: &[String]) -> Option<Self>;

    /// A cursor from this key in `direction`.
    fn cursor(&self, direction: Direction) -> Cursor {
        Cursor {
            direction,
            key: self.to_parts(),
        }
    }
}

impl Cursor {
    /// The cursor's key read as `K`; `None` when its parts do not have `K`'s shape.
    pub fn key_as<K: CursorKey>(&self) -> Option<K> {
        K::from_parts(&self.key)
    }
}

/// Rows ordered by their SID (accounts, role assignments, OAuth apps, permission holders).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BySid(pub String);

impl CursorKey for BySid {
    fn to_parts(&self) -> Vec<String> {
        vec![self.0.clone()]
    }

    fn from_parts(parts: &[String]) -> Option<Self> {
        match parts {
            [sid] => Some(Self(sid.clone())),
            _ => None,
        }
    }
}

/// Audit events, by their position in the trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BySeq(pub i64);

impl CursorKey for BySeq {
    fn to_parts(&self) -> Vec<String> {
        vec![self.0.to_string()]
    }

    fn from_parts(parts: &[String]) -> Option<Self> {
        match parts {
            [seq] => seq.parse().ok().map(Self),
            _ => None,
        }
    }
}

/// Rows ordered by one text (catalog permissions, by their permission string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ByText(pub String);

impl CursorKey for ByText {
    fn to_parts(&self) -> Vec<String> {
        vec![self.0.clone()]
    }

    fn from_parts(parts: &[String]) -> Option<Self> {
        match parts {
            [text] => Some(Self(text.clone())),
            _ => None,
        }
    }
}

/// Roles: by lower-cased name ([`Role::name_key`]), ties by SID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ByName {
    pub name_key: String,
    pub sid: String,
}

impl ByName {
    /// A role's place in the role listing.
    pub fn of(role: &Role) -> Self {
        Self {
            name_key: Role::name_key(&role.friendly_name),
            sid: role.sid.to_string(),
        }
    }
}

impl CursorKey for ByName {
    fn to_parts(&self) -> Vec<String> {
        vec![self.name_key.clone(), self.sid.clone()]
    }

    fn from_parts(parts: &[String]) -> Option<Self> {
        match parts {
            [name_key, sid] => Some(Self {
                name_key: name_key.clone(),
                sid: sid.clone(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn round_trip<K: CursorKey + PartialEq + std::fmt::Debug>(k: K) {
        for d in [Direction::Next, Direction::Previous] {
            let c = k.cursor(d);
            assert_eq!(c.direction, d);
            assert_eq!(c.key_as::<K>().as_ref(), Some(&k));
        }
    }

    #[test]
    fn keys_round_trip_through_cursors() {
        round_trip(BySid("AC0123".into()));
        round_trip(BySeq(-5));
        round_trip(BySeq(i64::MAX));
        round_trip(ByText("/twilio/iam/roles/list".into()));
        round_trip(ByName {
            name_key: "émile".into(),
            sid: "IX01".into(),
        });
    }

    #[test]
    fn parts_of_another_shape_are_not_a_key() {
        let two = Cursor {
            direction: Direction::Next,
            key: vec!["a".into(), "b".into()],
        };
        assert_eq!(two.key_as::<BySid>(), None);
        assert_eq!(two.key_as::<BySeq>(), None);
        assert!(two.key_as::<ByName>().is_some());
        let word = BySid("x".into()).cursor(Direction::Next);
        assert_eq!(word.key_as::<BySeq>(), None, "not a number");
        assert_eq!(word.key_as::<ByName>(), None);
        assert_eq!(BySeq(42).to_parts(), ["42"]);
    }
}
