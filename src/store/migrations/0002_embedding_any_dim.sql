-- The real[] fallback stores vectors of any length: an embedding model's
-- size is its own (bert-base and nomic-embed-text are 768, small test
-- encoders 256, bge-large 1024), and search compares only vectors of the
-- query's size. 0001 required exactly 768; this keeps only "one dimension".
-- pgvector's vector(768) column is unchanged (a model of another size is
-- refused at start-up there).
DO $$
BEGIN
    IF (SELECT value FROM llamachat_settings WHERE key = 'vector_backend')
           = 'array' THEN
        ALTER TABLE chat_messages
            DROP CONSTRAINT IF EXISTS chat_messages_content_embedding_check;
        ALTER TABLE chat_messages
            ADD CONSTRAINT chat_messages_content_embedding_check
            CHECK (content_embedding IS NULL
                   OR array_ndims(content_embedding) = 1);
    END IF;
END
$$;

-- The backfill looks for messages without an embedding in seq order; this
-- index holds only those rows, so it stays small once they are filled.
CREATE INDEX idx_chat_messages_unembedded
    ON chat_messages(seq) WHERE content_embedding IS NULL;
