-- pg_clip: scene search — by embedding, by text, and "more like this".
--
-- Included into the extension's install script after sql/scene_schema.sql (it uses clip_scene_tables,
-- clip_scene_table_config and clip_column_type) and after the Rust-generated clip_embed_text. Same rules as
-- that file: no reference to the application table at creation time; all functions SECURITY INVOKER, so the
-- caller's privileges and row-level security policies apply to every row a search reads, including the
-- source scene of "more like this".
--
-- The plan: `ORDER BY embedding <=> query LIMIT k` over the rows with an embedding, so PostgreSQL can use the
-- partial HNSW index; filters (tenant, video, RLS) are applied while the index is scanned, and pgvector 0.8's
-- iterative index scan (`hnsw.iterative_scan`) keeps scanning until `k` rows have passed them (bounded by
-- `hnsw.max_scan_tuples`, default 20,000). With `relaxed_order` (the default) rows come back only roughly
-- by distance, so k = 2 x match_count candidates are taken and re-sorted by their exact distance outside the
-- (materialized) CTE; measured on 100,000 clustered vectors with a 1% tenant, recall@20 is 0.90 with k = 20
-- and 0.98 with k = 40 (docs/search.md). The outer ORDER BY is on `1 - distance`, an expression the CTE's
-- output is not known to be sorted by, so no PostgreSQL version can skip that sort. When a filter is
-- selective the planner may prefer the tenant b-tree and an exact top-k sort, which is exact and faster for
-- small tenants. The similarity threshold is applied to the k nearest (a prefix of them, once sorted), not
-- inside the index scan, so a strict threshold never makes the scan walk the whole graph.

-- @@ schema
-- What the three search functions return, most similar first.
CREATE TYPE clip_scene_match AS (
    scene_id      text,
    video_id      text,
    similarity    double precision,
    start_time    double precision,
    end_time      double precision,
    thumbnail_url text,
    thumbnail     bytea
);

-- @@ code
-- The core: search by embedding. Returns at most match_count scenes, most similar first (ties by scene id).
CREATE FUNCTION clip_search_scenes(
    query_embedding      vector,
    tenant               text             DEFAULT NULL,   -- NULL: every tenant the caller may see
    match_count          integer          DEFAULT 20,     -- 1 .. 1000
    similarity_threshold double precision DEFAULT NULL,   -- keep scenes with 1 - cosine distance >= this
    filter_video_id      text             DEFAULT NULL,
    scene_table          regclass         DEFAULT NULL,   -- NULL: the only adopted table
    include_thumbnail    boolean          DEFAULT false,  -- return the bytea thumbnail (if the table has one)
    ef_search            integer          DEFAULT NULL,   -- NULL: greatest(100, match_count)
    iterative_scan       text             DEFAULT 'relaxed_order',  -- or 'strict_order', or 'off'
    exclude_scene_id     text             DEFAULT NULL
) RETURNS SETOF clip_scene_match
LANGUAGE plpgsql STABLE SECURITY INVOKER
-- Function-level SET clauses: the set_config(..., true) below is undone when the function returns.
SET hnsw.iterative_scan = 'relaxed_order'
SET hnsw.ef_search = 100
AS $fn$
#variable_conflict use_column
DECLARE
    v_cfg    clip_scene_tables;
    v_where  text := '';
    v_dims   integer;
    v_sql    text;
BEGIN
    IF query_embedding IS NULL THEN
        RETURN;
    END IF;
    IF match_count IS NULL OR match_count < 1 OR match_count > 1000 THEN
        RAISE EXCEPTION 'match_count must be between 1 and 1000, not %', coalesce(match_count::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ef_search IS NOT NULL AND (ef_search < 1 OR ef_search > 1000) THEN
        RAISE EXCEPTION 'ef_search must be between 1 and 1000, not %', ef_search USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF iterative_scan IS NULL OR iterative_scan NOT IN ('relaxed_order', 'strict_order', 'off') THEN
        RAISE EXCEPTION 'iterative_scan must be relaxed_order, strict_order or off, not %', coalesce(iterative_scan, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_cfg := clip_scene_table_config(clip_search_scenes.scene_table);
    v_dims := vector_dims(query_embedding);
    IF v_dims <> 512 THEN
        RAISE EXCEPTION 'query embedding has % dimensions, expected 512', v_dims USING ERRCODE = 'data_exception';
    END IF;
    IF vector_norm(query_embedding) = 0 THEN
        RAISE EXCEPTION 'query embedding is the zero vector, which has no cosine similarity' USING ERRCODE = 'data_exception';
    END IF;

    PERFORM pg_catalog.set_config('hnsw.iterative_scan', iterative_scan, true);
    PERFORM pg_catalog.set_config('hnsw.ef_search', coalesce(ef_search, greatest(100, match_count))::text, true);

    -- Filters compare the column with the parameter cast to the column's own type, so b-tree indexes apply.
    IF tenant IS NOT NULL THEN
        v_where := v_where || format(' AND t.%I = $2::%s', v_cfg.tenant_column, clip_column_type(v_cfg.scene_table, v_cfg.tenant_column));
    END IF;
    IF filter_video_id IS NOT NULL THEN
        IF v_cfg.video_column IS NULL THEN
            RAISE EXCEPTION 'table % has no video column', v_cfg.scene_table USING ERRCODE = 'undefined_column';
        END IF;
        v_where := v_where || format(' AND t.%I = $3::%s', v_cfg.video_column, clip_column_type(v_cfg.scene_table, v_cfg.video_column));
    END IF;
    IF exclude_scene_id IS NOT NULL THEN
        v_where := v_where || format(' AND t.%I <> $6::%s', v_cfg.key_column, clip_column_type(v_cfg.scene_table, v_cfg.key_column));
    END IF;

    v_sql := format($q$
        WITH candidates AS MATERIALIZED (
            SELECT t.%1$I::text AS scene_id, %2$s AS video_id, t.%3$I <=> $1 AS distance,
                   %4$s AS start_time, %5$s AS end_time, %6$s AS thumbnail_url, %7$s AS thumbnail
              FROM %8$s AS t
             WHERE t.%3$I IS NOT NULL%9$s
             ORDER BY distance
             LIMIT $7
        )
        SELECT c.scene_id, c.video_id, 1 - c.distance, c.start_time, c.end_time, c.thumbnail_url, c.thumbnail
          FROM candidates c
         WHERE $5::double precision IS NULL OR 1 - c.distance >= $5::double precision
         ORDER BY 1 - c.distance DESC, c.scene_id
         LIMIT $4$q$,
        v_cfg.key_column,
        CASE WHEN v_cfg.video_column IS NULL THEN 'NULL::text' ELSE format('t.%I::text', v_cfg.video_column) END,
        v_cfg.embedding_column,
        CASE WHEN v_cfg.start_column IS NULL THEN 'NULL::double precision' ELSE format('t.%I::double precision', v_cfg.start_column) END,
        CASE WHEN v_cfg.end_column IS NULL THEN 'NULL::double precision' ELSE format('t.%I::double precision', v_cfg.end_column) END,
        CASE WHEN v_cfg.thumbnail_url_column IS NULL THEN 'NULL::text' ELSE format('t.%I::text', v_cfg.thumbnail_url_column) END,
        CASE WHEN include_thumbnail AND v_cfg.thumbnail_column IS NOT NULL THEN format('t.%I', v_cfg.thumbnail_column) ELSE 'NULL::bytea' END,
        v_cfg.scene_table,
        v_where);
    RETURN QUERY EXECUTE v_sql
        USING query_embedding, tenant, filter_video_id, match_count, similarity_threshold, exclude_scene_id,
              CASE WHEN iterative_scan = 'relaxed_order' THEN 2 * match_count ELSE match_count END;
END
$fn$;

-- Text to scene: embeds the text with the CLIP text encoder (clip_embed_text), then searches.
-- CLIP text-image similarities are low in absolute terms (about 0.2 - 0.35 for a good match with the real
-- ViT-B/32 weights), so choose similarity_threshold for this function separately from image-to-image search.
CREATE FUNCTION clip_search_scenes_by_text(
    query_text           text,
    tenant               text             DEFAULT NULL,
    match_count          integer          DEFAULT 20,
    similarity_threshold double precision DEFAULT NULL,
    filter_video_id      text             DEFAULT NULL,
    scene_table          regclass         DEFAULT NULL,
    include_thumbnail    boolean          DEFAULT false,
    ef_search            integer          DEFAULT NULL,
    iterative_scan       text             DEFAULT 'relaxed_order'
) RETURNS SETOF clip_scene_match
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
BEGIN
    IF query_text IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT * FROM clip_search_scenes(
            clip_embed_text(query_text), tenant, match_count, similarity_threshold, filter_video_id,
            scene_table, include_thumbnail, ef_search, iterative_scan, NULL);
END
$fn$;

-- "More like this": the scenes most similar to a scene, excluding that scene. The source scene is read
-- with the caller's privileges and RLS, so a scene the caller cannot see (another tenant's) behaves exactly
-- like one that does not exist, or one without an embedding: no rows, no error, nothing of its embedding.
CREATE FUNCTION clip_search_similar_scenes(
    source_scene_id      text,
    tenant               text             DEFAULT NULL,
    match_count          integer          DEFAULT 20,
    similarity_threshold double precision DEFAULT NULL,
    filter_video_id      text             DEFAULT NULL,
    scene_table          regclass         DEFAULT NULL,
    include_thumbnail    boolean          DEFAULT false,
    ef_search            integer          DEFAULT NULL,
    iterative_scan       text             DEFAULT 'relaxed_order'
) RETURNS SETOF clip_scene_match
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
DECLARE
    v_cfg clip_scene_tables;
    v_emb vector;
BEGIN
    IF source_scene_id IS NULL THEN
        RETURN;
    END IF;
    v_cfg := clip_scene_table_config(clip_search_similar_scenes.scene_table);
    -- On a Citus distributed table the key is unique only per tenant (with the distribution column): the
    -- tenant, when given, names the scene, and routes this read to the tenant's shard.
    EXECUTE format('SELECT t.%I FROM %s AS t WHERE t.%I = $1::%s%s',
                   v_cfg.embedding_column, v_cfg.scene_table, v_cfg.key_column,
                   clip_column_type(v_cfg.scene_table, v_cfg.key_column),
                   CASE WHEN tenant IS NOT NULL AND clip_citus_distribution_column(v_cfg.scene_table) = v_cfg.tenant_column
                        THEN format(' AND t.%I = $2::%s', v_cfg.tenant_column, clip_column_type(v_cfg.scene_table, v_cfg.tenant_column))
                        ELSE '' END)
       INTO v_emb USING source_scene_id, tenant;
    IF v_emb IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT * FROM clip_search_scenes(
            v_emb, tenant, match_count, similarity_threshold, filter_video_id,
            v_cfg.scene_table, include_thumbnail, ef_search, iterative_scan, source_scene_id);
END
$fn$;

COMMENT ON FUNCTION clip_search_scenes(vector, text, integer, double precision, text, regclass, boolean, integer, text, text) IS
    'Scenes most similar to a query embedding (cosine, HNSW with iterative scan), most similar first; SECURITY INVOKER: the caller''s privileges and tenant policy apply.';
COMMENT ON FUNCTION clip_search_scenes_by_text(text, text, integer, double precision, text, regclass, boolean, integer, text) IS
    'Text-to-scene search: embeds the text with the CLIP text tower, then clip_search_scenes.';
COMMENT ON FUNCTION clip_search_similar_scenes(text, text, integer, double precision, text, regclass, boolean, integer, text) IS
    '"More like this": scenes most similar to a scene the caller can see (another tenant''s scene gives no rows, like a missing one).';
COMMENT ON TYPE clip_scene_match IS 'pg_clip: a row of the search functions: scene id, video id, cosine similarity, times, thumbnail URL and (include_thumbnail) bytes.';
