#!/usr/bin/env node
// pg_clip from an application, with node-postgres (`pg`): upload images as bytea and embed them on the way
// in, search by text for one tenant through that tenant's own role, and "more like this" (by an uploaded
// image and by a stored scene). The same steps as examples/python/pg_clip_example.py.
//
//   npm ci
//   PGHOST=... PGPORT=... PGDATABASE=... PGUSER=<a superuser> node pg_clip_example.js [IMAGE_DIR]
//
// Connection settings come from the PG* environment variables (node-postgres reads the same ones as libpq;
// a PGHOST starting with '/' is a Unix-socket directory). The admin part (extension, table, tenant roles and
// their mapping) needs a superuser; in production it is a migration, run once. The tenant part logs in as
// each tenant's role: isolation is row-level security keyed on the role (docs/search.md,
// docs/security.md), not on anything the application passes in a query. With password authentication, give
// each tenant's password in its client config.
//
// Prints one JSON object per step on stdout (tests/integration/test_examples.py reads them). The demo's rows
// are replaced on every run, so it can be re-run against the same database.
'use strict';

const fs = require('fs');
const path = require('path');
const { Client } = require('pg');

const imageDir = process.argv[2] || path.resolve(__dirname, '..', '..', 'tests', 'images');

// Two tenants of one table; each image is uploaded by the tenant that owns it.
const TENANTS = {
  1: { role: 'clip_example_tenant_1',
       files: ['rocket-portrait.jpg', 'rocket-lossy.webp', 'cat-exif-rot6.jpg', 'coffee-progressive.jpg',
               'astronaut-baseline.jpg'] },
  2: { role: 'clip_example_tenant_2', files: ['rocket-cmyk.jpg', 'cat.bmp', 'coffee-rgba.png'] },
};

const ADMIN_SETUP = `
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
`;

function emit(step, fields) {
  console.log(JSON.stringify({ step, ...fields }));
}

async function connect(user) {
  // An explicit user overrides PGUSER: same server and database, the tenant's role.
  const client = new Client(user ? { user } : {});
  await client.connect();
  return client;
}

async function adminSetup() {
  const admin = await connect();
  try {
    // No parameters: one simple-protocol query may hold several statements.
    await admin.query(ADMIN_SETUP);
    for (const [tenant, { role }] of Object.entries(TENANTS)) {
      // CREATE ROLE has no IF NOT EXISTS; the example may run again against the same cluster.
      const { rowCount } = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      const ident = admin.escapeIdentifier(role);
      if (rowCount === 0) await admin.query(`CREATE ROLE ${ident} LOGIN`);
      await admin.query(`GRANT SELECT, INSERT ON video_scenes TO ${ident}`);
      await admin.query('SELECT clip_map_tenant_role($1, $2)', [role, tenant]);
    }
    emit('setup', { tenants: Object.fromEntries(Object.entries(TENANTS).map(([t, { role }]) => [t, role])) });
  } finally {
    await admin.end();
  }
}

async function upload(client, tenant, videoId, file, n) {
  const data = fs.readFileSync(path.join(imageDir, file));   // a Buffer is sent as bytea
  // The image travels once, as a bytea parameter; the embedding is computed by the server in the same
  // statement. The policy's WITH CHECK refuses a row for another tenant.
  const { rows } = await client.query(
    `INSERT INTO video_scenes (video_id, user_id, name, thumbnail, start_time, end_time, embedding_visual_clip)
     SELECT v, u, n, t, s, s + 9.5, clip_embed_image(t)
       FROM (VALUES ($1::bigint, $2::bigint, $3, $4::bytea, $5::float8)) AS x(v, u, n, t, s)
     RETURNING id::text AS id, vector_dims(embedding_visual_clip) AS dims`,
    [videoId, Number(tenant), file, data, n * 10.0]);
  return rows[0];
}

function matches(rows) {
  return rows.map((r) => ({ scene_id: r.scene_id, name: r.name, similarity: Math.round(r.similarity * 1e6) / 1e6 }));
}

async function main() {
  await adminSetup();
  const ids = {};
  for (const [tenant, { role, files }] of Object.entries(TENANTS)) {
    const client = await connect(role);
    try {
      for (const [n, file] of files.entries()) {
        const { id, dims } = await upload(client, tenant, 100 + Number(tenant), file, n);
        ids[`${tenant}/${file}`] = id;
        emit('upload', { tenant, name: file, scene_id: id, dims });
      }
    } finally {
      await client.end();
    }
  }

  const t1 = await connect(TENANTS[1].role);
  try {
    let r = await t1.query(
      'SELECT count(*)::int AS rows, array_agg(DISTINCT user_id::text) AS tenants FROM video_scenes');
    emit('visible', { tenant: '1', rows: r.rows[0].rows, tenants: r.rows[0].tenants });

    // Text to scene for tenant 1 (the tenant argument only narrows: RLS already hides tenant 2's rows).
    const query = 'a photo of a rocket';
    r = await t1.query(
      `SELECT s.scene_id, v.name, s.similarity
         FROM clip_search_scenes_by_text($1, tenant => '1', match_count => 10) s
         JOIN video_scenes v ON v.id = s.scene_id::bigint`, [query]);
    emit('text_search', { tenant: '1', query, results: matches(r.rows) });

    // More like this, by an uploaded image (not stored): its own stored copy comes first.
    const probe = 'rocket-portrait.jpg';
    r = await t1.query(
      `SELECT s.scene_id, v.name, s.similarity
         FROM clip_search_scenes(clip_embed_image($1), tenant => '1', match_count => 5) s
         JOIN video_scenes v ON v.id = s.scene_id::bigint`, [fs.readFileSync(path.join(imageDir, probe))]);
    emit('similar_to_upload', { tenant: '1', name: probe, results: matches(r.rows) });

    // More like this, by a stored scene: the scene itself is excluded.
    const source = ids['1/rocket-portrait.jpg'];
    r = await t1.query(
      `SELECT s.scene_id, v.name, s.similarity
         FROM clip_search_similar_scenes($1, match_count => 5) s
         JOIN video_scenes v ON v.id = s.scene_id::bigint`, [source]);
    emit('similar_to_scene', { tenant: '1', scene_id: source, results: matches(r.rows) });

    // Tenant 2's scene as the source: exactly what a missing scene gives (no rows, no error).
    const other = ids['2/rocket-cmyk.jpg'];
    r = await t1.query('SELECT scene_id FROM clip_search_similar_scenes($1)', [other]);
    emit('similar_to_other_tenants_scene', { tenant: '1', scene_id: other, results: r.rows.map((x) => x.scene_id) });
  } finally {
    await t1.end();
  }
}

main().catch((err) => {
  console.error(err.stack || String(err));
  process.exit(1);
});
