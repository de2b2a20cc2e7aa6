-- What every server sharing a database must see alike, beyond the plugin records: the
-- installed packages, kept whole so that a server that starts later (or another server)
-- installs the same files, and the public keys whose signatures installs accept.
-- A removal leaves a row (`removed` = 1, no bytes) so that a server that still has the
-- files removes them too, while files nobody ever recorded here are left alone.

CREATE TABLE plugin_packages (
    plugin        TEXT    NOT NULL PRIMARY KEY,
    version       TEXT    NOT NULL,
    -- SHA-256 of the package file, lowercase hex.
    sha256        TEXT    NOT NULL,
    -- The package file; NULL once removed.
    bytes         BLOB,
    -- The signature as the installing server found it.
    signer_fingerprint TEXT,
    signer        TEXT,
    trusted       INTEGER NOT NULL CHECK (trusted IN (0, 1)),
    removed       INTEGER NOT NULL CHECK (removed IN (0, 1)),
    updated_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE trusted_keys (
    fingerprint   TEXT    NOT NULL PRIMARY KEY,
    -- The public key file's text (`plugboard-ed25519 <base64> <name>`).
    key_text      TEXT    NOT NULL,
    removed       INTEGER NOT NULL CHECK (removed IN (0, 1)),
    updated_at_ms INTEGER NOT NULL
) STRICT;
