//! `#[pg_test]`s for the SQL surface. They run inside a server (`cargo pgrx test`) with the committed
//! tiny models configured in `pg_test::postgresql_conf_options`; fixtures come from the share directory,
//! where scripts/setup.sh installs them so the `postgres` user can read them.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    const PHOTO: &str = "astronaut-baseline.jpg";
    const OTHER: &str = "chelsea-rgb.png";

    fn read(name: &str) -> String {
        let path = crate::api::share_dir().join("pg_clip/fixtures").join(name);
        format!("pg_read_binary_file('{}')", path.display())
    }

    fn one<T: pgrx::FromDatum + pgrx::IntoDatum>(sql: &str) -> T {
        Spi::get_one::<T>(sql).expect("query failed").expect("NULL result")
    }

    #[pg_test]
    fn image_embedding_is_a_unit_vector_of_512() {
        let q = format!("SELECT clip_embed_image({}) AS e", read(PHOTO));
        assert_eq!(one::<i32>(&format!("SELECT vector_dims(e) FROM ({q}) s")), 512);
        let norm = one::<f64>(&format!("SELECT vector_norm(e) FROM ({q}) s"));
        assert!((norm - 1.0).abs() < 1e-6, "norm {norm}");
        assert_eq!(one::<f64>(&format!("SELECT e <=> e FROM ({q}) s")), 0.0);
    }

    #[pg_test]
    fn result_casts_into_a_typed_column() {
        Spi::run("CREATE TEMP TABLE t (e vector(512))").unwrap();
        Spi::run(&format!("INSERT INTO t VALUES (clip_embed_image({}))", read(PHOTO))).unwrap();
        assert_eq!(one::<i64>("SELECT count(*) FROM t WHERE e IS NOT NULL"), 1);
    }

    #[pg_test]
    fn null_input_gives_null() {
        assert!(Spi::get_one::<bool>("SELECT clip_embed_image(NULL) IS NULL").unwrap().unwrap());
        assert!(Spi::get_one::<bool>("SELECT clip_embed_images(NULL) IS NULL").unwrap().unwrap());
    }

    #[pg_test]
    fn batch_preserves_order_and_matches_single_calls() {
        let (a, b) = (read(PHOTO), read(OTHER));
        let q = format!("SELECT clip_embed_images(ARRAY[{a}, {b}, NULL, {a}]) AS v");
        assert_eq!(one::<i32>(&format!("SELECT cardinality(v) FROM ({q}) s")), 4);
        assert!(one::<bool>(&format!("SELECT v[3] IS NULL FROM ({q}) s")));
        assert_eq!(one::<f64>(&format!("SELECT v[1] <=> v[4] FROM ({q}) s")), 0.0);
        assert!(one::<f64>(&format!("SELECT v[1] <=> v[2] FROM ({q}) s")) > 1e-4);
        // Batched inference equals one-at-a-time inference (to float rounding of a different batch shape).
        let d1 = one::<f64>(&format!("SELECT v[1] <=> clip_embed_image({a}) FROM ({q}) s"));
        let d2 = one::<f64>(&format!("SELECT v[2] <=> clip_embed_image({b}) FROM ({q}) s"));
        assert!(d1 < 1e-6 && d2 < 1e-6, "{d1} {d2}");
    }

    #[pg_test]
    fn batch_in_several_forward_passes_keeps_order() {
        Spi::run("SET clip.max_batch_size = 2").unwrap();
        let (a, b) = (read(PHOTO), read(OTHER));
        let q = format!("SELECT clip_embed_images(ARRAY[{a}, {b}, {a}, {b}, {a}]) AS v");
        assert_eq!(one::<f64>(&format!("SELECT v[1] <=> v[5] FROM ({q}) s")), 0.0);
        assert!(one::<f64>(&format!("SELECT (v[2] <=> v[4]) + (v[3] <=> v[1]) FROM ({q}) s")) < 1e-6);
        assert!(one::<f64>(&format!("SELECT v[4] <=> v[5] FROM ({q}) s")) > 1e-4);
    }

    #[pg_test]
    fn empty_array_gives_empty_array() {
        assert_eq!(one::<i32>("SELECT coalesce(cardinality(clip_embed_images('{}'::bytea[])), 0)"), 0);
    }

    #[pg_test]
    fn functions_declare_honest_properties() {
        // STABLE: the result depends on the configured model (a GUC), so IMMUTABLE would be a lie.
        let props = one::<String>(
            "SELECT string_agg(proname || ':' || provolatile::text || proparallel::text || proisstrict::int, ',' ORDER BY proname) \
             FROM pg_proc WHERE proname IN ('clip_embed_image', 'clip_embed_images', 'clip_embed_text', 'clip_embed_texts')",
        );
        assert_eq!(props, "clip_embed_image:ss1,clip_embed_images:ss1,clip_embed_text:ss1,clip_embed_texts:ss1");
    }

    #[pg_test(error = "image data is empty")]
    fn empty_bytea_is_an_error() {
        Spi::run("SELECT clip_embed_image(''::bytea)").unwrap();
    }

    #[pg_test]
    fn model_info_reports_the_loaded_model() {
        Spi::run(&format!("SELECT clip_embed_image({})", read(PHOTO))).unwrap();
        let info = one::<pgrx::JsonB>("SELECT clip_model_info()").0;
        assert_eq!(info["image"]["loaded"], serde_json::json!(true));
        assert_eq!(info["image"]["identity"]["sha256"].as_str().map(str::len), Some(64));
        assert_eq!(info["embedding_dim"], serde_json::json!(512));
    }

    #[pg_test]
    fn text_embedding_is_a_unit_vector_and_batches_agree() {
        let n = one::<f64>("SELECT vector_norm(clip_embed_text('a photo of a cat'))");
        assert!((n - 1.0).abs() < 1e-6);
        let d = one::<f64>(
            "SELECT v[2] <=> clip_embed_text('a photo of a cat') \
             FROM (SELECT clip_embed_texts(ARRAY['a dog', 'a photo of a cat', NULL]) v) s",
        );
        assert!(d < 1e-6, "{d}");
        assert!(one::<bool>("SELECT (clip_embed_texts(ARRAY['x', NULL]))[2] IS NULL"));
    }

    #[pg_test]
    fn tokenize_matches_open_clip() {
        // open_clip.tokenize("a photo of a cat")[0][:7]
        let ids = one::<Vec<i64>>("SELECT clip_tokenize('a photo of a cat')");
        assert_eq!(ids.len(), 77);
        assert_eq!(&ids[..7], &[49406, 320, 1125, 539, 320, 2368, 49407]);
        assert!(ids[7..].iter().all(|&i| i == 0));
    }

    #[pg_test]
    fn threads_setting_changes_speed_not_results() {
        let a = read(PHOTO);
        Spi::run("SET clip.threads = 2").unwrap();
        let d = one::<f64>(&format!(
            "SELECT e <=> clip_embed_image({a}) FROM (SELECT clip_embed_image({a}) e) s"
        ));
        let two = one::<String>(&format!("SELECT clip_embed_image({a})::text"));
        Spi::run("SET clip.threads = 1").unwrap();
        let d1 = one::<f64>(&format!("SELECT '{two}'::vector <=> clip_embed_image({a})"));
        assert!(d < 1e-9 && d1 < 1e-6, "{d} {d1}");
    }

    // ----- clip_as_table_owner: act on a table as its owner, inside a security-restricted operation --------

    /// SQLSTATE of a statement (or "ok"), without aborting the test's transaction.
    /// Needs `owner_fixture()`, which creates the helper.
    fn sqlstate_of(sql: &str) -> String {
        one::<String>(&format!("SELECT pg_temp.sqlstate_of({})", pgrx::spi::quote_literal(sql)))
    }

    /// An owner role with a table, and a probe function that is a member of the extension (as pg_clip's own
    /// internal functions are) reporting who it runs as.
    fn owner_fixture() {
        Spi::run(
            "CREATE ROLE clip_t_owner; CREATE ROLE clip_t_other;
             CREATE TABLE public.clip_t_tbl (id int); ALTER TABLE public.clip_t_tbl OWNER TO clip_t_owner;
             CREATE FUNCTION public.clip_t_whoami(tbl regclass, args jsonb) RETURNS jsonb LANGUAGE sql AS $$
                 SELECT jsonb_build_object('user', current_user::text, 'path', current_setting('search_path'),
                                           'tbl', tbl::text, 'args', args) $$;
             ALTER EXTENSION pg_clip ADD FUNCTION public.clip_t_whoami(regclass, jsonb);
             CREATE FUNCTION public.clip_t_set_role(tbl regclass, args jsonb) RETURNS jsonb LANGUAGE sql AS $$
                 SELECT to_jsonb(set_config('role', 'postgres', true)) $$;
             ALTER EXTENSION pg_clip ADD FUNCTION public.clip_t_set_role(regclass, jsonb);
             CREATE FUNCTION public.clip_t_set_path(tbl regclass, args jsonb) RETURNS jsonb LANGUAGE sql AS $$
                 SELECT to_jsonb(set_config('search_path', 'evil, public', false)) $$;
             ALTER EXTENSION pg_clip ADD FUNCTION public.clip_t_set_path(regclass, jsonb);
             CREATE FUNCTION public.clip_t_not_ours(tbl regclass, args jsonb) RETURNS jsonb LANGUAGE sql AS
                 $$ SELECT '{}'::jsonb $$;
             CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
                 BEGIN EXECUTE q; RETURN 'ok'; EXCEPTION WHEN others THEN RETURN SQLSTATE; END $$;",
        )
        .unwrap();
    }

    fn call(func: &str, tbl: &str) -> String {
        format!("SELECT clip_as_table_owner('{tbl}'::regclass, '{func}'::regprocedure, '{{\"k\": 1}}')")
    }

    #[pg_test]
    fn as_table_owner_runs_as_the_owner_with_a_safe_search_path_and_restores() {
        owner_fixture();
        Spi::run("SET search_path = public, pg_catalog").unwrap();
        let got = one::<pgrx::JsonB>(&call("public.clip_t_whoami(regclass, jsonb)", "public.clip_t_tbl")).0;
        assert_eq!(got["user"], "clip_t_owner");
        assert_eq!(got["path"], "pg_catalog, pg_temp");
        assert_eq!(got["args"]["k"], 1);
        // Back to the caller's identity and settings afterwards.
        assert_eq!(one::<String>("SELECT current_user::text"), "postgres");
        assert_eq!(one::<String>("SELECT current_setting('search_path')"), "public, pg_catalog");
        // Not even a session-level SET by the owner's code survives the operation.
        one::<pgrx::JsonB>(&call("public.clip_t_set_path(regclass, jsonb)", "public.clip_t_tbl"));
        assert_eq!(one::<String>("SELECT current_setting('search_path')"), "public, pg_catalog");
    }

    #[pg_test]
    fn as_table_owner_is_a_security_restricted_operation() {
        owner_fixture();
        // SET ROLE is refused inside, so the owner's code cannot take the caller's (superuser) identity back.
        assert_eq!(sqlstate_of(&call("public.clip_t_set_role(regclass, jsonb)", "public.clip_t_tbl")), "42501");
    }

    #[pg_test]
    fn as_table_owner_refuses_others_foreign_functions_and_temp_tables() {
        owner_fixture();
        Spi::run("CREATE TEMP TABLE clip_t_temp (id int)").unwrap();
        let whoami = "public.clip_t_whoami(regclass, jsonb)";
        // Not one of the extension's functions, or not of the (regclass, jsonb) -> jsonb shape.
        assert_eq!(sqlstate_of(&call("public.clip_t_not_ours(regclass, jsonb)", "public.clip_t_tbl")), "42501");
        assert_eq!(sqlstate_of(&call("clip_tokenize(text)", "public.clip_t_tbl")), "42501");
        assert_eq!(sqlstate_of(&call(whoami, "pg_temp.clip_t_temp")), "42809");
        assert_eq!(sqlstate_of(&call(whoami, "pg_catalog.pg_class")), "ok"); // a superuser may act for any owner
        // A role without the owner's privileges may not act as the owner.
        Spi::run("GRANT USAGE ON SCHEMA public TO clip_t_other; SET LOCAL ROLE clip_t_other").unwrap();
        assert_eq!(sqlstate_of(&call(whoami, "public.clip_t_tbl")), "42501");
        Spi::run("RESET ROLE; GRANT clip_t_owner TO clip_t_other; SET LOCAL ROLE clip_t_other").unwrap();
        assert_eq!(sqlstate_of(&call(whoami, "public.clip_t_tbl")), "ok");
        Spi::run("RESET ROLE").unwrap();
    }
}
