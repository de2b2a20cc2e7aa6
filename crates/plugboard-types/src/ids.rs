//! Id newtypes for the things a chat server stores: users, conversations and messages.
//! They are opaque strings (the store makes UUIDv7s); the newtypes keep one kind of id
//! from being passed where another is meant. An empty id means "does not apply" in a
//! [`crate::CallContext`]. On the wire they are plain JSON strings.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        // By hand, for `clone_from`: a call context reused call after call keeps its
        // allocations (the derived one would allocate a new string each time).
        impl Clone for $name {
            fn clone(&self) -> $name {
                $name(self.0.clone())
            }

            fn clone_from(&mut self, source: &$name) {
                self.0.clone_from(&source.0);
            }
        }

        impl $name {
            /// The id `id`.
            pub fn new(id: impl Into<String>) -> $name {
                $name(id.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Whether it is empty ("does not apply").
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }

            /// Empties it, keeping its allocation (for contexts reused call after call).
            pub fn clear(&mut self) {
                self.0.clear();
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> $name {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> $name {
                $name(id.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> $name {
                $name(id.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

id_type!(
    /// A user's id.
    UserId
);
id_type!(
    /// A conversation's id.
    ConversationId
);
id_type!(
    /// A message's id.
    MessageId
);

#[cfg(test)]
mod tests {
    use super::{ConversationId, UserId};

    #[test]
    fn ids_are_plain_strings_on_the_wire() {
        let id = UserId::new("0190-abc");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"0190-abc\"");
        let back: ConversationId = serde_json::from_str("\"c-1\"").unwrap();
        assert_eq!(back, "c-1");
        assert_eq!(back.to_string(), "c-1");
    }
}
