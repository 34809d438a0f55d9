-- 0001: the seed's schema with every column (users, chat_sessions,
-- chat_messages), what authentication needs, the indexes, and the
-- content_embedding column in one of two forms (see the DO block at the end).
-- Applied inside the migration transaction (src/store/migrate.c).

CREATE TABLE users (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    username      TEXT NOT NULL UNIQUE,
    email         TEXT UNIQUE,
    password_hash TEXT,                       -- argon2id, libsodium's format
    created_at    TIMESTAMP WITH TIME ZONE DEFAULT NOW() NOT NULL,
    last_active   TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    preferences   JSONB DEFAULT '{}'::jsonb,
    is_admin      BOOLEAN NOT NULL DEFAULT false
);

-- Bearer tokens: only the SHA-256 of a token is kept, so a copy of the
-- database does not let anyone log in.
CREATE TABLE api_tokens (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW() NOT NULL,
    last_used  TIMESTAMP WITH TIME ZONE
);
CREATE INDEX idx_api_tokens_user_id ON api_tokens(user_id);

CREATE TABLE chat_sessions (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       UUID REFERENCES users(id) ON DELETE CASCADE NOT NULL,
    title         TEXT NOT NULL,
    model         TEXT DEFAULT 'gemma3-legal:latest' NOT NULL,
    system_prompt TEXT,
    created_at    TIMESTAMP WITH TIME ZONE DEFAULT NOW() NOT NULL,
    updated_at    TIMESTAMP WITH TIME ZONE DEFAULT NOW() NOT NULL,
    is_active     BOOLEAN DEFAULT true,
    metadata      JSONB DEFAULT '{}'::jsonb
);
-- A user's sessions, newest first: the list route reads exactly this order.
CREATE INDEX idx_chat_sessions_user_id
    ON chat_sessions(user_id, updated_at DESC);

CREATE TABLE chat_messages (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id         UUID REFERENCES chat_sessions(id) ON DELETE CASCADE
                       NOT NULL,
    role               TEXT CHECK (role IN ('user', 'assistant', 'system'))
                       NOT NULL,
    content            TEXT NOT NULL,
    -- content_embedding is added by the DO block below
    model              TEXT,
    tokens             INTEGER,
    processing_time_ms INTEGER,
    confidence         INTEGER CHECK (confidence BETWEEN 0 AND 100),
    cuda_accelerated   BOOLEAN DEFAULT false,
    gpu_memory_used_mb INTEGER,
    tokens_per_second  INTEGER,
    created_at         TIMESTAMP WITH TIME ZONE DEFAULT NOW() NOT NULL,
    edited_at          TIMESTAMP WITH TIME ZONE,
    is_deleted         BOOLEAN DEFAULT false,
    metadata           JSONB DEFAULT '{}'::jsonb,
    -- NOW() is the transaction's start time, so two messages can share a
    -- created_at; seq orders them as they were written.
    seq                BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX idx_chat_messages_session_id
    ON chat_messages(session_id, created_at, seq);
-- Full-text search of messages; queries must use the same expression.
CREATE INDEX idx_chat_messages_content_fts
    ON chat_messages USING gin (to_tsvector('simple', content));

-- Facts about this database that the program reads at start-up.
CREATE TABLE llamachat_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- content_embedding: pgvector's vector(768) with the seed's HNSW index when
-- the extension can be installed, otherwise real[] of the same length,
-- ranked exactly in SQL after filtering by owner. Setting
-- llamachat.vector_backend = 'array' in the migration transaction forces
-- the fallback (tests use it to cover both paths).
DO $$
DECLARE
    backend TEXT := 'array';
BEGIN
    IF coalesce(current_setting('llamachat.vector_backend', true), '')
           <> 'array'
       AND EXISTS (SELECT 1 FROM pg_available_extensions
                   WHERE name = 'vector') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS vector;
            ALTER TABLE chat_messages ADD COLUMN content_embedding vector(768);
            CREATE INDEX idx_chat_messages_embedding ON chat_messages
                USING hnsw (content_embedding vector_cosine_ops);
            backend := 'pgvector';
        EXCEPTION
            -- no right to create extensions, or a pgvector without HNSW
            -- (before 0.5.0): everything in this block is undone
            WHEN insufficient_privilege OR undefined_object
                 OR feature_not_supported OR undefined_file THEN
                RAISE NOTICE 'pgvector unusable (%), using real[]', SQLERRM;
        END;
    END IF;
    IF backend = 'array' THEN
        ALTER TABLE chat_messages ADD COLUMN content_embedding real[]
            CHECK (content_embedding IS NULL
                   OR (array_ndims(content_embedding) = 1
                       AND array_length(content_embedding, 1) = 768));
    END IF;
    INSERT INTO llamachat_settings (key, value)
        VALUES ('vector_backend', backend);
END
$$;
