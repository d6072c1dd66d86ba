-- pg_clip 0.1.0 -> 0.2.0, hand-written tail: data migrations and checks that need the 0.2.0 code. None of them reads a
-- user's table; what runs a user type's code (canonical tenant ids) or changes a user's table (its tenant
-- policy) goes through clip_as_table_owner, as the table's owner. A table this cannot handle gets a WARNING
-- and is left as it was: the upgrade never fails, and never loses a mapping, because of one user table.
DO $migrate$
DECLARE
    r        record;
    v_stored text[];
    v_canon  text[];
    i        integer;
BEGIN
    -- Tenant ids in the tenant column type's canonical form ('042' of a bigint column becomes '42'), so that
    -- clip_unmap_tenant_role('role', '42') finds it. A value that is not valid any more is kept as it is.
    FOR r IN SELECT DISTINCT m.scene_table, c.tenant_column
               FROM clip_tenant_roles m JOIN clip_scene_tables c ON c.scene_table = m.scene_table
              WHERE c.adopted_at IS NOT NULL AND NOT clip_registry_orphan(m.scene_table) LOOP
        BEGIN
            SELECT array_agg(DISTINCT m.tenant_id) INTO v_stored FROM clip_tenant_roles m WHERE m.scene_table = r.scene_table;
            v_canon := clip_tenant_canonical(r.scene_table, r.tenant_column, v_stored, false);
            FOR i IN 1 .. cardinality(v_stored) LOOP
                CONTINUE WHEN v_canon[i] IS NULL OR v_canon[i] = v_stored[i];
                -- The same mapping may already be stored in canonical form; then the other spelling goes.
                DELETE FROM clip_tenant_roles m
                 WHERE m.scene_table = r.scene_table AND m.tenant_id = v_stored[i]
                   AND EXISTS (SELECT 1 FROM clip_tenant_roles k WHERE k.scene_table = m.scene_table
                                  AND k.role_name = m.role_name AND k.tenant_id = v_canon[i]);
                UPDATE clip_tenant_roles m SET tenant_id = v_canon[i]
                 WHERE m.scene_table = r.scene_table AND m.tenant_id = v_stored[i];
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pg_clip upgrade: tenant ids of % left as they were: %', r.scene_table, SQLERRM;
        END;
    END LOOP;

    -- The tenant policies created by 0.1.0 lack the exemption for pg_clip's own maintenance, which now runs as
    -- the table's owner: create them again (same tenant column, same FORCE setting), as the owner.
    FOR r IN SELECT c.scene_table, c.tenant_column, t.relforcerowsecurity AS forced
               FROM clip_scene_tables c
               JOIN pg_catalog.pg_class t ON t.oid = c.scene_table
               JOIN pg_catalog.pg_policy p ON p.polrelid = c.scene_table AND p.polname = 'clip_tenant_isolation'
              WHERE c.adopted_at IS NOT NULL AND t.relkind = 'r' AND t.relpersistence <> 't'
                AND pg_catalog.pg_get_expr(p.polqual, p.polrelid) LIKE '(' || quote_ident(c.tenant_column) || ' = ANY %' LOOP
        BEGIN
            PERFORM clip_check_table(r.scene_table, 'protected by row-level security');
            PERFORM clip_as_table_owner((r.scene_table)::oid,
                                        ('clip_enable_tenant_rls_as_owner(regclass,jsonb)'::regprocedure)::oid,
                                        jsonb_build_object('tenant_column', r.tenant_column, 'force', r.forced));
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pg_clip upgrade: the tenant policy of % was left as it was: %', r.scene_table, SQLERRM
                USING HINT = 'Run SELECT clip_enable_tenant_rls(...) on it as its owner.';
        END;
    END LOOP;

    -- 0.2.0 validates every registry row with the one check, clip_check_columns, which is stricter than
    -- 0.1.0's two: an adopted table's key must now be unique and NOT NULL, and an embedding column exactly
    -- vector(512) (0.1.0's backfill also took an unconstrained vector). Catalogs only, nothing of the table
    -- runs. A row that fails stays as it is (search keeps working); backfill and status report the problem.
    FOR r IN SELECT c.*, s.name AS source, s.source_column, s.source_kind
               FROM clip_scene_tables c
               LEFT JOIN clip_backfill_sources s ON s.tbl = c.scene_table AND s.embedding_column = c.embedding_column
              WHERE NOT clip_registry_orphan(c.scene_table)
              ORDER BY c.scene_table::text, c.embedding_column LOOP
        BEGIN
            PERFORM clip_check_columns(r.scene_table, 'used by pg_clip', r.key_column, r.embedding_column,
                                       r.metadata_column, r.tenant_column, r.video_column, r.start_column,
                                       r.end_column, r.thumbnail_url_column, r.thumbnail_column,
                                       r.source_column, r.source_kind);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pg_clip upgrade: % (column %) does not pass the checks of 0.2.0: %',
                          r.scene_table, r.embedding_column, SQLERRM
                USING DETAIL = CASE WHEN r.source IS NULL THEN 'The adopted table can still be searched.'
                                    ELSE format('Backfill source "%s" will report this problem until it is fixed.', r.source) END,
                      HINT = 'Adoption and backfill now need a unique NOT NULL key column and an embedding column of type vector(512).';
        END;
    END LOOP;
END
$migrate$;
