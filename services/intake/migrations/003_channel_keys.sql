-- API keys of the channel adapters: only a hash is stored; each key is scoped to one channel
-- ('*' for a trusted integration that submits for several).
CREATE TABLE intake.channel_keys (
    key_id     text        PRIMARY KEY,
    channel    text        NOT NULL,
    key_hash   text        NOT NULL UNIQUE,
    label      text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
