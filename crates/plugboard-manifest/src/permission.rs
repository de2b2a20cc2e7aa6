//! Permissions: the host services a plugin may use.

use std::collections::BTreeSet;
use std::fmt;

/// A host service a plugin must be granted in its manifest's `permissions` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Its private key-value store (`kv`).
    Kv,
    /// Read messages (`messages.read`).
    MessagesRead,
    /// Post, edit and delete messages (`messages.write`).
    MessagesWrite,
    /// Read conversations (`channels.read`).
    ChannelsRead,
    /// Create and change conversations (`channels.write`).
    ChannelsWrite,
    /// Read users (`users.read`).
    UsersRead,
    /// Read file attachments (`files.read`).
    FilesRead,
    /// Write file attachments (`files.write`).
    FilesWrite,
    /// Outbound HTTP to `allowed_hosts` (`network`).
    Network,
    /// Completions from the configured model (`ai`).
    Ai,
}

impl Permission {
    /// Every permission, in manifest order.
    pub const ALL: [Permission; 10] = [
        Permission::Kv,
        Permission::MessagesRead,
        Permission::MessagesWrite,
        Permission::ChannelsRead,
        Permission::ChannelsWrite,
        Permission::UsersRead,
        Permission::FilesRead,
        Permission::FilesWrite,
        Permission::Network,
        Permission::Ai,
    ];

    /// The manifest spelling, such as `messages.read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Kv => "kv",
            Permission::MessagesRead => "messages.read",
            Permission::MessagesWrite => "messages.write",
            Permission::ChannelsRead => "channels.read",
            Permission::ChannelsWrite => "channels.write",
            Permission::UsersRead => "users.read",
            Permission::FilesRead => "files.read",
            Permission::FilesWrite => "files.write",
            Permission::Network => "network",
            Permission::Ai => "ai",
        }
    }

    /// What the permission allows, in words for the admin UI.
    pub fn description(self) -> &'static str {
        match self {
            Permission::Kv => "store its own data in a private key-value store",
            Permission::MessagesRead => "read messages of conversations",
            Permission::MessagesWrite => "post, edit and delete messages",
            Permission::ChannelsRead => "read conversations",
            Permission::ChannelsWrite => "create and change conversations",
            Permission::UsersRead => "read user profiles",
            Permission::FilesRead => "read file attachments",
            Permission::FilesWrite => "attach files to conversations",
            Permission::Network => "make HTTP requests to the hosts it lists",
            Permission::Ai => "ask the configured language model for completions",
        }
    }

    /// The host interface whose calls it allows, as named in the WIT
    /// (`plugboard:plugin/<name>`): `kv`, `chat` (every messages, channels, users and files
    /// permission), `http-client` or `ai`.
    pub fn host_interface(self) -> &'static str {
        match self {
            Permission::Kv => "kv",
            Permission::MessagesRead
            | Permission::MessagesWrite
            | Permission::ChannelsRead
            | Permission::ChannelsWrite
            | Permission::UsersRead
            | Permission::FilesRead
            | Permission::FilesWrite => "chat",
            Permission::Network => "http-client",
            Permission::Ai => "ai",
        }
    }

    /// Parses the manifest spelling.
    pub fn parse(value: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|permission| permission.as_str() == value)
    }
}

impl serde::Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of permissions a manifest grants.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Permissions(BTreeSet<Permission>);

impl Permissions {
    /// A set holding exactly `permissions`.
    pub fn new(permissions: impl IntoIterator<Item = Permission>) -> Permissions {
        Permissions(permissions.into_iter().collect())
    }

    /// Whether `permission` is granted.
    pub fn contains(&self, permission: Permission) -> bool {
        self.0.contains(&permission)
    }

    /// The granted permissions in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        self.0.iter().copied()
    }

    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
