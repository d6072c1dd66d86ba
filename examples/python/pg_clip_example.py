#!/usr/bin/env python3
"""pg_clip from an application, with psycopg 3: upload images as bytea and embed them on the way in, search
by text for one tenant through that tenant's own role, and "more like this" (by an uploaded image and by a
stored scene).

    pip install 'psycopg[binary]'
    PGHOST=... PGPORT=... PGDATABASE=... PGUSER=<a superuser> python3 pg_clip_example.py [IMAGE_DIR]

Connection settings are libpq's (PG* environment variables, or PG_CLIP_DSN). The admin part (extension,
table, tenant roles and their mapping) needs a superuser; in production it is a migration, run once. The
tenant part logs in as each tenant's role: isolation is row-level security keyed on the role
(docs/search.md, docs/security.md), not on anything the application passes in a query. With password
authentication, add the tenants' passwords to the DSN or ~/.pgpass.

Prints one JSON object per step on stdout (tests/integration/test_examples.py reads them). The demo's rows
are replaced on every run, so it can be re-run against the same database.
"""

import json
import os
import sys
from pathlib import Path

import psycopg
from psycopg import sql

DSN = os.environ.get("PG_CLIP_DSN", "")
IMAGE_DIR = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "tests" / "images")

# Two tenants of one table; each image is uploaded by the tenant that owns it.
TENANTS = {
    "1": ("clip_example_tenant_1", ["rocket-portrait.jpg", "rocket-lossy.webp", "cat-exif-rot6.jpg",
                                       "coffee-progressive.jpg", "astronaut-baseline.jpg"]),
    "2": ("clip_example_tenant_2", ["rocket-cmyk.jpg", "cat.bmp", "coffee-rgba.png"]),
}

ADMIN_SETUP = """
CREATE EXTENSION IF NOT EXISTS pg_clip CASCADE;
CREATE TABLE IF NOT EXISTS video_scenes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    video_id   bigint NOT NULL,
    user_id    bigint NOT NULL,
    name       text NOT NULL,
    thumbnail  bytea,
    start_time double precision,
    end_time   double precision
);
-- Adds embedding_visual_clip vector(512) + metadata, the HNSW/GIN/tenant indexes; idempotent.
SELECT clip_adopt_scene_table();
-- The tenant policy, FORCEd so that even the owner's queries are filtered.
SELECT clip_enable_tenant_rls();
TRUNCATE video_scenes;
"""


def emit(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


def admin_setup():
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(ADMIN_SETUP)
        for tenant, (role, _) in TENANTS.items():
            # CREATE ROLE has no IF NOT EXISTS; the example may run again against the same cluster.
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            conn.execute(sql.SQL("GRANT SELECT, INSERT ON video_scenes TO {}")
                         .format(sql.Identifier(role)))
            conn.execute("SELECT clip_map_tenant_role(%s, %s)", [role, tenant])
        emit("setup", tenants={t: r for t, (r, _) in TENANTS.items()})


def tenant_conn(tenant):
    # Keyword arguments override the DSN and PG* variables: same server and database, the tenant's role.
    return psycopg.connect(DSN, user=TENANTS[tenant][0], autocommit=True)


def upload(conn, tenant, video_id, path, n):
    data = path.read_bytes()
    # The image travels once, as a bytea parameter; the embedding is computed by the server in the same
    # statement. The policy's WITH CHECK refuses a row for another tenant.
    row = conn.execute(
        """INSERT INTO video_scenes (video_id, user_id, name, thumbnail, start_time, end_time, embedding_visual_clip)
           SELECT v, u, n, t, s, s + 9.5, clip_embed_image(t)
             FROM (VALUES (%s::bigint, %s::bigint, %s, %s::bytea, %s::float8)) AS x(v, u, n, t, s)
           RETURNING id, vector_dims(embedding_visual_clip)""",
        [video_id, int(tenant), path.name, data, n * 10.0],
    ).fetchone()
    return str(row[0]), row[1]


def matches(cur_rows):
    return [{"scene_id": r[0], "name": r[1], "similarity": round(r[2], 6)} for r in cur_rows]


def main():
    admin_setup()
    ids = {}
    for tenant, (_, files) in TENANTS.items():
        with tenant_conn(tenant) as conn:
            for n, name in enumerate(files):
                scene_id, dims = upload(conn, tenant, 100 + int(tenant), IMAGE_DIR / name, n)
                ids[(tenant, name)] = scene_id
                emit("upload", tenant=tenant, name=name, scene_id=scene_id, dims=dims)

    with tenant_conn("1") as conn:
        visible = conn.execute("SELECT count(*), array_agg(DISTINCT user_id::text) FROM video_scenes").fetchone()
        emit("visible", tenant="1", rows=visible[0], tenants=visible[1])

        # Text to scene for tenant 1 (the tenant argument only narrows: RLS already hides tenant 2's rows).
        rows = conn.execute(
            """SELECT s.scene_id, v.name, s.similarity
                 FROM clip_search_scenes_by_text(%s, tenant => '1', match_count => 10) s
                 JOIN video_scenes v ON v.id = s.scene_id::bigint""",
            ["a photo of a rocket"],
        ).fetchall()
        emit("text_search", tenant="1", query="a photo of a rocket", results=matches(rows))

        # More like this, by an uploaded image (not stored): its own stored copy comes first.
        probe = IMAGE_DIR / "rocket-portrait.jpg"
        rows = conn.execute(
            """SELECT s.scene_id, v.name, s.similarity
                 FROM clip_search_scenes(clip_embed_image(%s), tenant => '1', match_count => 5) s
                 JOIN video_scenes v ON v.id = s.scene_id::bigint""",
            [probe.read_bytes()],
        ).fetchall()
        emit("similar_to_upload", tenant="1", name=probe.name, results=matches(rows))

        # More like this, by a stored scene: the scene itself is excluded.
        source = ids[("1", "rocket-portrait.jpg")]
        rows = conn.execute(
            """SELECT s.scene_id, v.name, s.similarity
                 FROM clip_search_similar_scenes(%s, match_count => 5) s
                 JOIN video_scenes v ON v.id = s.scene_id::bigint""",
            [source],
        ).fetchall()
        emit("similar_to_scene", tenant="1", scene_id=source, results=matches(rows))

        # Tenant 2's scene as the source: exactly what a missing scene gives (no rows, no error).
        other = ids[("2", "rocket-cmyk.jpg")]
        rows = conn.execute("SELECT scene_id FROM clip_search_similar_scenes(%s)", [other]).fetchall()
        emit("similar_to_other_tenants_scene", tenant="1", scene_id=other, results=[r[0] for r in rows])


if __name__ == "__main__":
    main()
