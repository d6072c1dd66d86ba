-- Runs last in pg_clip's install script. Pins the search_path of every SQL-level pg_clip function (plpgsql and
-- SQL functions from the sql/ files; not procedures, where a SET clause would forbid their COMMITs) to pg_clip's and pgvector's schemas, then pg_temp, so the
-- `vector` type, its operators and pg_clip's own objects are found whatever the caller's search_path is, and
-- temporary objects cannot shadow them. The Rust (C-language) functions resolve nothing by name.
DO $pin$
DECLARE
    v_path text;
    v_fn   regprocedure;
BEGIN
    -- current_schema() is pg_clip's schema while CREATE EXTENSION runs this script.
    SELECT string_agg(quote_ident(s.nspname), ', ' ORDER BY s.ord) INTO v_path
      FROM (SELECT DISTINCT ON (nspname) nspname, ord
              FROM (SELECT current_schema() AS nspname, 1 AS ord
                    UNION ALL
                    SELECT n.nspname, 2 FROM pg_catalog.pg_extension e
                      JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                     WHERE e.extname = 'vector') x
             ORDER BY nspname, ord) s;
    FOR v_fn IN
        SELECT p.oid FROM pg_catalog.pg_proc p
          JOIN pg_catalog.pg_language l ON l.oid = p.prolang
         WHERE p.pronamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = current_schema())
           AND p.proname LIKE 'clip\_%'
           AND p.prokind = 'f'
           AND l.lanname IN ('plpgsql', 'sql')
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %s, pg_temp', v_fn, v_path);
    END LOOP;
END
$pin$;
