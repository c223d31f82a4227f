-- The chatbot's own records. Ids are UUIDs made by the engine, so replicas
-- sharing one database never collide. Times are RFC 3339 UTC text; JSON is
-- stored as text. Every row carries its tenant.

CREATE TABLE chatbot_queries (
    query_id         TEXT PRIMARY KEY,
    tenant_id        BIGINT NOT NULL,
    user_id          TEXT   NOT NULL,
    conversation_id  TEXT,
    text             TEXT   NOT NULL,
    response_text    TEXT   NOT NULL,
    structured_data  TEXT   NOT NULL,
    intent           TEXT   NOT NULL,
    confidence       DOUBLE PRECISION NOT NULL,
    processing_time  DOUBLE PRECISION NOT NULL,
    status           TEXT   NOT NULL,
    interpreter      TEXT   NOT NULL,
    created_at       TEXT   NOT NULL
);
CREATE INDEX chatbot_queries_user ON chatbot_queries (tenant_id, user_id, created_at);
CREATE INDEX chatbot_queries_conversation ON chatbot_queries (tenant_id, conversation_id, created_at);

CREATE TABLE chatbot_feedback (
    feedback_id  TEXT PRIMARY KEY,
    query_id     TEXT   NOT NULL UNIQUE REFERENCES chatbot_queries (query_id),
    tenant_id    BIGINT NOT NULL,
    user_id      TEXT   NOT NULL,
    rating       BIGINT NOT NULL,
    comments     TEXT,
    created_at   TEXT   NOT NULL
);

CREATE TABLE chatbot_actions (
    action_id   TEXT PRIMARY KEY,
    query_id    TEXT   NOT NULL REFERENCES chatbot_queries (query_id),
    tenant_id   BIGINT NOT NULL,
    user_id     TEXT   NOT NULL,
    intent      TEXT   NOT NULL,
    plugin      TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    parameters  TEXT   NOT NULL,
    summary     TEXT   NOT NULL,
    permission  TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    result      TEXT,
    created_at  TEXT   NOT NULL,
    updated_at  TEXT   NOT NULL,
    expires_at  TEXT   NOT NULL
);
CREATE INDEX chatbot_actions_tenant ON chatbot_actions (tenant_id, status);

CREATE TABLE ai_service_configs (
    config_id          TEXT PRIMARY KEY,
    tenant_id          BIGINT NOT NULL,
    name               TEXT   NOT NULL,
    service_url        TEXT   NOT NULL,
    parameters         TEXT   NOT NULL,
    api_key_encrypted  TEXT,
    api_key_last4      TEXT,
    is_default         BOOLEAN NOT NULL,
    created_at         TEXT   NOT NULL,
    updated_at         TEXT   NOT NULL,
    UNIQUE (tenant_id, name)
);
-- At most one default per tenant, even under concurrent writes.
CREATE UNIQUE INDEX ai_service_configs_one_default ON ai_service_configs (tenant_id) WHERE is_default;

CREATE TABLE api_keys (
    key_id       TEXT PRIMARY KEY,
    tenant_id    BIGINT NOT NULL,
    config_id    TEXT REFERENCES ai_service_configs (config_id) ON DELETE CASCADE,
    encrypted    TEXT   NOT NULL,
    last4        TEXT   NOT NULL,
    valid_until  TEXT,
    created_at   TEXT   NOT NULL
);
