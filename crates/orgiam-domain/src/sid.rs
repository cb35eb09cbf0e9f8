//! SIDs: a two-letter upper-case prefix and 32 lower-case hex digits.

use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;

/// Why a string is not a SID of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidError {
    pub prefix: &'static str,
}

impl fmt::Display for SidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "must be a SID: '{}' followed by 32 lower-case hex digits",
            self.prefix
        )
    }
}

/// Checks the shape of a SID with the given prefix.
pub fn is_sid(prefix: &str, s: &str) -> bool {
    s.len() == 34
        && s.starts_with(prefix)
        && s.as_bytes()[2..]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

fn hex(bytes: &[u8]) -> String {
    prefixed_hex("", bytes)
}

/// `prefix` followed by the lower-case hex digits of `bytes`, in one allocation.
fn prefixed_hex(prefix: &str, bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(prefix.len() + bytes.len() * 2);
    s.push_str(prefix);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// A random SID body: 128 bits from a CSPRNG (the thread-local ChaCha generator, seeded and
/// periodically reseeded from the OS; no system call per SID).
pub fn random_body() -> String {
    hex(&random_bytes())
}

fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

/// A SID body derived from a stable key, identical on every install.
pub fn derived_body(namespace: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("orgiam:{namespace}:{key}").as_bytes());
    hex(&digest[..16])
}

macro_rules! sid_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// Parses a well-formed SID of this kind.
            pub fn parse(s: &str) -> Result<Self, SidError> {
                if is_sid($prefix, s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(SidError { prefix: $prefix })
                }
            }

            /// A new random SID.
            pub fn random() -> Self {
                Self(prefixed_hex($prefix, &random_bytes()))
            }

            /// A SID derived deterministically from a stable key.
            pub fn derived(key: &str) -> Self {
                Self(format!("{}{}", $prefix, derived_body($prefix, key)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = SidError;
            fn from_str(s: &str) -> Result<Self, SidError> {
                Self::parse(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

sid_type!(/// An organization.
    OrgSid, "OR");
sid_type!(/// An account or subaccount.
    AccountSid, "AC");
sid_type!(/// A user.
    UserSid, "US");
sid_type!(/// A role.
    RoleSid, "IX");
sid_type!(/// A role assignment.
    AssignmentSid, "IY");
sid_type!(/// An OAuth app; also its `client_id`.
    AppSid, "OQ");
sid_type!(/// A permission catalog entry.
    PermissionSid, "IZ");
sid_type!(/// A request id, sent back as `Twilio-Request-Id`.
    RequestSid, "RQ");
sid_type!(/// A signing key id (`kid`).
    KeySid, "KY");
sid_type!(/// An audit event.
    AuditSid, "AE");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_well_formed_sids() {
        let sid = RoleSid::random();
        assert_eq!(RoleSid::parse(sid.as_str()), Ok(sid.clone()));
        assert!(RoleSid::parse(&sid.as_str().to_uppercase()).is_err());
        assert!(RoleSid::parse(&sid.as_str()[..33]).is_err());
        assert!(RoleSid::parse(&format!("IY{}", &sid.as_str()[2..])).is_err());
        assert!(RoleSid::parse("IXzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz").is_err());
        assert!(RoleSid::parse("IXé0000000000000000000000000000000").is_err());
    }

    #[test]
    fn hex_is_lower_case_and_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff, 0x10]), "000fa5ff10");
    }

    #[test]
    fn derived_sids_are_stable_and_distinct() {
        assert_eq!(RoleSid::derived("owner"), RoleSid::derived("owner"));
        assert_ne!(RoleSid::derived("owner"), RoleSid::derived("developer"));
        assert_ne!(RoleSid::random(), RoleSid::random());
        assert!(is_sid("IX", RoleSid::derived("owner").as_str()));
    }
}
