-- Staff sign-in: a password per roster member (argon2id), and the tokens handed out at sign-in
-- (only their SHA-256 is kept: a copy of this table signs nobody in).
CREATE TABLE workflow.staff_credentials (
    staff_id      text        PRIMARY KEY REFERENCES workflow.staff (staff_id),
    password_hash text        NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workflow.staff_tokens (
    token_hash  text        PRIMARY KEY,
    staff_id    text        NOT NULL REFERENCES workflow.staff (staff_id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX staff_tokens_by_staff ON workflow.staff_tokens (staff_id);
