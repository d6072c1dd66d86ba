-- pg_clip on a Citus cluster: the backfill of a distributed table runs on the workers, next to the shards.
--
-- Included into the extension's install script after sql/backfill.sql and before sql/finalize.sql. Nothing
-- here needs Citus to be installed: Citus's catalogs and functions are only reached at run time, when the
-- table is a Citus distributed table (clip_citus_distribution_column), so the same pg_clip serves a single
-- node and every node of a cluster. See docs/scale-out.md.
--
-- The design, and why:
--   * Citus pushes a function call in a distributed UPDATE down to the shards only if the function is
--     IMMUTABLE, and pg_clip's embedding functions are STABLE (they depend on the configured model). So the
--     coordinator does not UPDATE: it sends one call per shard with run_command_on_shards, which Citus runs
--     on every shard's node in parallel, each in its own connection and its own transaction. Each shard's
--     batch is the single-node batch (clip_backfill_source_batch_as_owner) run on the shard table, as its
--     owner, in a security-restricted operation: the same claiming (FOR NO KEY UPDATE SKIP LOCKED),
--     fingerprints, retries and metadata. Image bytes are read and embedded on the node that stores them.
--   * Each shard's batch commits on its node when it is done, independently of the coordinator's
--     transaction: a killed worker backend or a node that is down loses its uncommitted batch only, the
--     other shards' batches stand, and the next run claims what is still pending.
--   * The registry (clip_scene_tables, clip_backfill_sources, the run log) lives on the coordinator only; a
--     shard call carries the source's configuration as its argument, and the worker validates it against the
--     shard's catalogs (clip_check_columns) and its own model before anything is read. The caller needs the
--     shard owner's privileges on the worker, as on one node (Citus connects as the calling role).
--
-- Objects:
--   clip_citus_distribution_column(regclass)  distribution column of a hash-distributed table or of one of its shards
--   clip_citus_shard_call(regclass, text, jsonb)  on a worker: one shard's backfill batch or status counts
--   clip_backfill_dispatch(oid, oid, jsonb)   on the coordinator: clip_as_table_owner, or the per-shard calls

-- @@ code
-- ---------------------------------------------------------------------------------------------------------
-- The distribution column of a Citus hash-distributed table, or of a shard of one that this node holds;
-- NULL for any other table, and wherever Citus is not installed. A shard is recognised through Citus's
-- metadata (which every node has since Citus 11), not by its name alone.
CREATE FUNCTION clip_citus_distribution_column(tbl regclass) RETURNS name
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
DECLARE
    v_col name;
BEGIN
    IF tbl IS NULL OR pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN NULL;
    END IF;
    -- Dynamic: Citus's catalogs need not exist when pg_clip is installed.
    EXECUTE $q$
        SELECT pg_catalog.column_to_column_name(p.logicalrelid, p.partkey)::name
          FROM pg_catalog.pg_dist_partition p
         WHERE p.partmethod = 'h'
           AND (p.logicalrelid = $1
                OR p.logicalrelid = (
                   SELECT s.logicalrelid
                     FROM pg_catalog.pg_class c
                     JOIN pg_catalog.pg_dist_shard s
                       ON s.shardid = pg_catalog.substring(c.relname::text, '_([0-9]+)$')::bigint
                    WHERE c.oid = $1
                      AND pg_catalog.to_regclass(pg_catalog.shard_name(s.logicalrelid, s.shardid, false)) = $1))
    $q$ INTO v_col USING tbl;
    RETURN v_col;
END
$fn$;

-- Whether tbl is a Citus hash-distributed table itself (on the coordinator), not a shard of one.
CREATE FUNCTION clip_citus_is_distributed(tbl regclass) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
DECLARE
    v boolean;
BEGIN
    IF tbl IS NULL OR pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1 AND p.partmethod = ''h'')'
       INTO v USING tbl;
    RETURN v;
END
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- On a worker: one shard's backfill batch (op 'batch') or status counts (op 'status'), as the shard's owner,
-- through clip_as_table_owner and the single-node functions. args: {"table": the distributed table's name as
-- the coordinator writes it, "source": the coordinator's source row, "model_sha256": the coordinator's image
-- model, and the batch's or status's own arguments}. The source's table is replaced by the shard. Errors of
-- the batch are returned as {"error": {"sqlstate", "message"}} so that the coordinator can tell them from a
-- lost connection; the batch is then rolled back (its subtransaction) and nothing of it is kept.
CREATE FUNCTION clip_citus_shard_call(shard regclass, op text, args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    v_logical regclass;
    v_ident   jsonb;
    v_source  jsonb;
    v_code    text;
    v_msg     text;
BEGIN
    IF op IS NULL OR op NOT IN ('batch', 'status') THEN
        RAISE EXCEPTION 'invalid shard operation "%"', op USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF clip_citus_distribution_column(shard) IS NULL OR clip_citus_is_distributed(shard) THEN
        RAISE EXCEPTION '% is not a shard of a Citus distributed table on this node', shard
            USING ERRCODE = 'wrong_object_type';
    END IF;
    EXECUTE 'SELECT s.logicalrelid FROM pg_catalog.pg_dist_shard s
              WHERE pg_catalog.to_regclass(pg_catalog.shard_name(s.logicalrelid, s.shardid, false)) = $1'
       INTO v_logical USING shard;
    IF v_logical IS DISTINCT FROM pg_catalog.to_regclass(args->>'table') THEN
        RAISE EXCEPTION 'pg_clip internal error: shard % does not belong to table %', shard, args->>'table'
            USING ERRCODE = 'internal_error';
    END IF;
    BEGIN
        PERFORM clip_assert_may_act_as_owner(shard, CASE op WHEN 'batch' THEN 'backfill it' ELSE 'read its backfill status' END);
        v_source := jsonb_set(args->'source', '{tbl}', to_jsonb(shard::text));
        IF op = 'status' THEN
            RETURN clip_as_table_owner((shard)::oid, ('clip_backfill_status_as_owner(regclass,jsonb)'::regprocedure)::oid,
                                       jsonb_build_object('source', v_source, 'model', args->'model'));
        END IF;
        -- The worker embeds with its own model (its clip.image_model): it must be the coordinator's, or
        -- one table would mix vectors of two models.
        v_ident := clip_image_model_identity();
        IF v_ident->>'sha256' IS DISTINCT FROM args->>'model_sha256' THEN
            RAISE EXCEPTION 'the image model of this node (sha256 %) is not the coordinator''s (sha256 %)',
                            left(v_ident->>'sha256', 12), left(args->>'model_sha256', 12)
                USING ERRCODE = 'config_file_error',
                      HINT = 'Set the same clip.image_model in every node''s postgresql.conf.';
        END IF;
        RETURN clip_as_table_owner((shard)::oid, ('clip_backfill_source_batch_as_owner(regclass,jsonb)'::regprocedure)::oid,
                                   (args - 'table' - 'model_sha256')
                                   || jsonb_build_object('source', v_source, 'ident', v_ident, 'record_suppressed', false));
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
        RETURN jsonb_build_object('error', jsonb_build_object('sqlstate', v_code, 'message', v_msg));
    END;
END
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- On the coordinator: what clip_backfill and clip_backfill_status run for a source. A table that is not a
-- Citus distributed table goes to clip_as_table_owner as on one node. For a distributed table, the batch or
-- the status runs on every shard, on the node that holds it, all shards in parallel (run_command_on_shards),
-- and the per-shard results are added up. A batch is per shard (batch rows of every shard). A shard that
-- fails (an error on its node, a killed backend, a node that is down) is reported in a WARNING and left for
-- the next run; the call fails only when every shard failed. A status fails when any shard cannot be
-- counted (clip_backfill_status reports it as the problem): partial counts would look like progress.
CREATE FUNCTION clip_backfill_dispatch(tbl oid, func oid, args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    v_op      text;
    v_args    jsonb;
    v_nsp     text := (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                        WHERE e.extname = 'pg_clip');
    v_cmd     text;
    r         record;
    v_res     jsonb;
    v_sum     jsonb := '{}';
    v_fail    jsonb := '{}';
    v_k       text;
    v_v       jsonb;
    v_shards  integer := 0;
    v_failed  integer := 0;
    v_code    text;
    v_msg     text;
    v_avg_w   numeric := 0;
    v_avg_n   numeric := 0;
    v_last    timestamptz;
BEGIN
    IF NOT clip_citus_is_distributed(tbl::regclass) THEN
        RETURN clip_as_table_owner(tbl, func, args);
    END IF;
    IF func = ('clip_backfill_source_batch_as_owner(regclass,jsonb)'::regprocedure)::oid THEN
        v_op := 'batch';
        v_args := (args - 'ident') || jsonb_build_object('model_sha256', args->'ident'->'sha256');
    ELSIF func = ('clip_backfill_status_as_owner(regclass,jsonb)'::regprocedure)::oid THEN
        v_op := 'status';
        v_args := args;
    ELSE
        RAISE EXCEPTION 'pg_clip internal error: no distributed form of function %', func::regprocedure
            USING ERRCODE = 'internal_error';
    END IF;
    v_args := v_args || jsonb_build_object('table', (tbl::regclass)::text);
    -- run_command_on_shards format()s the command with the shard's name for %s: every other % is doubled.
    v_cmd := pg_catalog.replace(format('SELECT %I.clip_citus_shard_call(', v_nsp), '%', '%%')
          || '$clip_shard$%s$clip_shard$::pg_catalog.regclass'
          || pg_catalog.replace(format(', %L, %L::pg_catalog.jsonb)', v_op, v_args::text), '%', '%%');
    FOR r IN SELECT x.shardid, x.success, x.result FROM pg_catalog.run_command_on_shards(tbl::regclass, v_cmd) x LOOP
        v_shards := v_shards + 1;
        v_res := NULL;
        IF r.success THEN
            v_res := r.result::jsonb;
        END IF;
        IF v_res IS NULL OR v_res ? 'error' THEN
            v_failed := v_failed + 1;
            IF v_code IS NULL THEN
                -- A connection that broke (a killed backend, a node that is down) has no SQLSTATE of its own.
                v_code := coalesce(v_res->'error'->>'sqlstate', '08006');
                v_msg := format('shard %s: %s', r.shardid, coalesce(v_res->'error'->>'message', r.result));
            END IF;
            IF v_op = 'batch' THEN
                RAISE WARNING 'backfill of shard % of % failed: %', r.shardid, tbl::regclass,
                              coalesce(v_res->'error'->>'message', r.result);
            END IF;
            CONTINUE;
        END IF;
        FOR v_k, v_v IN SELECT * FROM jsonb_each(v_res) LOOP
            IF jsonb_typeof(v_v) = 'number' AND v_k <> 'avg_inference_ms' THEN
                v_sum := v_sum || jsonb_build_object(v_k, coalesce((v_sum->>v_k)::numeric, 0) + (v_v#>>'{}')::numeric);
            END IF;
        END LOOP;
        IF v_op = 'status' THEN
            -- Failures by SQLSTATE: rows add up, the example is any shard's.
            FOR v_k, v_v IN SELECT * FROM jsonb_each(coalesce(v_res->'failures', '{}')) LOOP
                v_fail := v_fail || jsonb_build_object(v_k, jsonb_build_object(
                    'rows', coalesce((v_fail->v_k->>'rows')::bigint, 0) + (v_v->>'rows')::bigint,
                    'example', coalesce(v_fail->v_k->'example', v_v->'example')));
            END LOOP;
            -- The shards' mean inference times, weighted by their embedded rows (the rows behind each mean are
            -- the embedded rows with status ok, nearly all of them).
            IF v_res->>'avg_inference_ms' IS NOT NULL THEN
                v_avg_w := v_avg_w + (v_res->>'avg_inference_ms')::numeric * (v_res->>'embedded')::numeric;
                v_avg_n := v_avg_n + (v_res->>'embedded')::numeric;
            END IF;
            v_last := greatest(v_last, (v_res->>'last_generated_at')::timestamptz);
        END IF;
    END LOOP;
    IF v_shards = 0 THEN
        RAISE EXCEPTION 'distributed table % has no shard with an active placement', tbl::regclass
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF v_failed = v_shards OR (v_op = 'status' AND v_failed > 0) THEN
        RAISE EXCEPTION '% of % shards of % failed; first: %', v_failed, v_shards, tbl::regclass, v_msg
            USING ERRCODE = v_code;
    END IF;
    IF v_op = 'status' THEN
        v_sum := v_sum || jsonb_build_object('failures', v_fail,
                                             'avg_inference_ms', CASE WHEN v_avg_n > 0 THEN round(v_avg_w / v_avg_n, 3) END,
                                             'last_generated_at', v_last);
    END IF;
    RETURN v_sum || jsonb_build_object('shards', v_shards, 'shards_failed', v_failed);
END
$fn$;

-- Whether relation `shard` is a shard, on this node, of the distributed table tbl (for
-- clip_tenant_rls_exempt_distributed: the maintenance setting names the shard a batch runs on).
CREATE FUNCTION clip_citus_is_shard_of(shard oid, tbl regclass) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
DECLARE
    v boolean;
BEGIN
    IF shard IS NULL OR tbl IS NULL OR pg_catalog.to_regclass('pg_catalog.pg_dist_shard') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_dist_shard s
                              ON s.shardid = pg_catalog.substring(c.relname::text, ''_([0-9]+)$'')::bigint
                           WHERE c.oid = $1 AND s.logicalrelid = $2
                             AND pg_catalog.to_regclass(pg_catalog.shard_name(s.logicalrelid, s.shardid, false)) = $1)'
       INTO v USING shard, tbl;
    RETURN v;
END
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- Tenant mappings on the workers. The tenant policy of a distributed table is evaluated on the node that
-- holds the shard, against that node's clip_tenant_roles, so every worker needs the coordinator's mappings
-- of the table. The trigger below calls this when a transaction that changed them commits; run it by hand
-- after a worker was down during a change, or after adding a node. It replaces each worker's mappings of
-- the table with the coordinator's current ones (the workers apply them in their own transactions, at once). Returns the number of workers brought in step; a worker that cannot be
-- reached gets a WARNING and keeps what it had.
CREATE FUNCTION clip_citus_sync_tenant_roles(scene_table regclass) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    v_nsp  text := (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                     WHERE e.extname = 'pg_clip');
    v_rows jsonb;
    v_ok   integer := 0;
    r      record;
BEGIN
    IF NOT clip_citus_is_distributed(scene_table) THEN
        RAISE EXCEPTION '% is not a Citus distributed table', scene_table USING ERRCODE = 'wrong_object_type';
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object('role_name', t.role_name, 'tenant_id', t.tenant_id)), '[]')
      INTO v_rows FROM clip_tenant_roles t WHERE t.scene_table = clip_citus_sync_tenant_roles.scene_table;
    FOR r IN SELECT * FROM pg_catalog.run_command_on_workers(
                 format('SELECT %I.clip_citus_apply_tenant_roles(%L, %L::pg_catalog.jsonb)', v_nsp, scene_table::text, v_rows::text)) LOOP
        IF r.success THEN
            v_ok := v_ok + 1;
        ELSE
            RAISE WARNING 'tenant mappings of % not copied to worker %:%: %', scene_table, r.nodename, r.nodeport, r.result;
        END IF;
    END LOOP;
    RETURN v_ok;
END
$fn$;

-- The sync happens at COMMIT of the transaction that changed a distributed table's mappings (a deferred
-- constraint trigger), once per table: the workers apply it in their own transactions, which cannot be
-- rolled back with the coordinator's, so doing it earlier would leave a mapping the coordinator rolled back
-- (an explicit ROLLBACK, or a later error in the same statement) granting a tenant on every worker.
-- What remains is the gap between this trigger and the commit record itself (a failure of COMMIT after the
-- deferred triggers ran): then the next change, or a manual clip_citus_sync_tenant_roles, repairs it.
-- Not on a worker applying a sync (that would echo it back), and without Citus never more than one check.
CREATE FUNCTION clip_tenant_roles_citus_sync() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    v_tbl  regclass := coalesce(NEW.scene_table, OLD.scene_table);
    v_done text := coalesce(pg_catalog.current_setting('pg_clip.tenant_roles_synced', true), '');
BEGIN
    IF coalesce(pg_catalog.current_setting('pg_clip.applying_tenant_roles', true), '') = 'on'
       OR v_tbl IS NULL OR (',' || v_done || ',') LIKE ('%,' || (v_tbl::oid)::text || ',%')
       OR NOT clip_citus_is_distributed(v_tbl) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.set_config('pg_clip.tenant_roles_synced', v_done || ',' || (v_tbl::oid)::text, true);
    PERFORM clip_citus_sync_tenant_roles(v_tbl);
    RETURN NULL;
END
$fn$;

CREATE CONSTRAINT TRIGGER clip_tenant_roles_citus_sync
    AFTER INSERT OR UPDATE OR DELETE ON clip_tenant_roles
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION clip_tenant_roles_citus_sync();

-- On a worker: replaces this node's tenant mappings of the distributed table (named as on the coordinator,
-- which is its name here too) with the given ones. Needs DML on clip_tenant_roles, as on the coordinator.
CREATE FUNCTION clip_citus_apply_tenant_roles(scene_table text, mappings jsonb) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    v_tbl regclass := pg_catalog.to_regclass(scene_table);
    v_n   integer;
BEGIN
    IF v_tbl IS NULL OR NOT clip_citus_is_distributed(v_tbl) THEN
        RAISE EXCEPTION '% is not a Citus distributed table on this node', scene_table USING ERRCODE = 'wrong_object_type';
    END IF;
    -- This node's own commit must not sync again (the trigger above): this is the sync.
    PERFORM pg_catalog.set_config('pg_clip.applying_tenant_roles', 'on', true);
    DELETE FROM clip_tenant_roles t WHERE t.scene_table = v_tbl;
    INSERT INTO clip_tenant_roles (scene_table, role_name, tenant_id)
    SELECT v_tbl, m->>'role_name', m->>'tenant_id' FROM jsonb_array_elements(mappings) m;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$fn$;

COMMENT ON FUNCTION clip_citus_distribution_column(regclass) IS
    'Internal: the distribution column of a Citus hash-distributed table or of a shard of one on this node; NULL otherwise (and without Citus).';
COMMENT ON FUNCTION clip_citus_is_distributed(regclass) IS
    'Internal: true for a Citus hash-distributed table itself (the coordinator''s table, not a shard).';
COMMENT ON FUNCTION clip_citus_shard_call(regclass, text, jsonb) IS
    'Internal, run on a Citus worker by the coordinator: one shard''s backfill batch or status counts, as the shard''s owner (see docs/scale-out.md).';
COMMENT ON FUNCTION clip_backfill_dispatch(oid, oid, jsonb) IS
    'Internal: runs a backfill batch or status as the table''s owner, on every shard''s node in parallel for a Citus distributed table, and adds up the results.';
COMMENT ON FUNCTION clip_citus_is_shard_of(oid, regclass) IS
    'Internal: true when the relation is a shard, on this node, of the given Citus distributed table.';
COMMENT ON FUNCTION clip_citus_sync_tenant_roles(regclass) IS
    'Copies the coordinator''s tenant mappings of a Citus distributed table to every worker (whose nodes evaluate its tenant policy); returns the workers updated.';
COMMENT ON FUNCTION clip_tenant_roles_citus_sync() IS
    'Trigger (deferred to COMMIT): copies a Citus distributed table''s changed tenant mappings to the workers once the change is about to commit, so a rolled-back change never reaches them.';
COMMENT ON TRIGGER clip_tenant_roles_citus_sync ON clip_tenant_roles IS
    'pg_clip: at COMMIT, sends the changed tenant mappings of Citus distributed tables to the workers.';
COMMENT ON FUNCTION clip_citus_apply_tenant_roles(text, jsonb) IS
    'Internal, run on a Citus worker by clip_citus_sync_tenant_roles: replaces this node''s tenant mappings of the table.';
