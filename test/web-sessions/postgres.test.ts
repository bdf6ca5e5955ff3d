import { randomUUID } from 'node:crypto';
import t from 'tap';
import { freePort } from '../helpers/redis.js';
import { postgresForTest } from '../helpers/postgres.js';
import { openWebSession } from '../helpers/web-sessions.js';

const context = await postgresForTest(t);
if (context) {
  const { pool, url } = context;
  // A schema of this file's own: the tables below stand for Django's, Spring Session JDBC's and Duende BFF's, and go with it.
  const schema = `lr_ws_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await pool.query(`CREATE SCHEMA ${schema}`);
  t.teardown(() => pool.query(`DROP SCHEMA ${schema} CASCADE`));
  // Django's django_session as `migrate` creates it.
  await pool.query(`CREATE TABLE ${schema}.django_session (session_key varchar(40) PRIMARY KEY, session_data text NOT NULL, expire_date timestamptz NOT NULL)`);
  const django = (key: string) => pool.query(`INSERT INTO ${schema}.django_session VALUES ($1, 'e30:', now() + interval '1 day')`, [key]);
  const exists = async (key: string) => (await pool.query(`SELECT 1 FROM ${schema}.django_session WHERE session_key = $1`, [key])).rowCount === 1;
  const session = (sessionKey?: string) => ({ clientId: 'c1', iss: 'https://op.example', sid: 'sid-1', sub: 'user-1', ...(sessionKey ? { sessionKey } : {}) });
  const djangoSettings = { url, schema, table: 'django_session', column: 'session_key' };

  t.test("postgres: the session's row is deleted (removed) and a bystander's row stays", async (t) => {
    const { store } = await openWebSession(t, 'postgres', djangoSettings);
    await django('alicekey');
    await django('bobkey');
    t.same(await store.end(session('alicekey')), { outcome: 'removed' });
    t.notOk(await exists('alicekey'));
    t.ok(await exists('bobkey'), "bob's row stays");
  });

  t.test('postgres: a row already gone is not_present', async (t) => {
    const { store } = await openWebSession(t, 'postgres', djangoSettings);
    t.same(await store.end(session('nokey')), { outcome: 'not_present' });
  });

  t.test('postgres: Spring Session JDBC: deleting SPRING_SESSION cascades to its attributes (the documented schema, created unquoted)', async (t) => {
    // spring-session-jdbc's schema-postgresql.sql: the names are folded to lower case, as the kind's settings give them.
    await pool.query(
      `CREATE TABLE ${schema}.SPRING_SESSION (PRIMARY_ID CHAR(36) NOT NULL, SESSION_ID CHAR(36) NOT NULL, CREATION_TIME BIGINT NOT NULL, LAST_ACCESS_TIME BIGINT NOT NULL, MAX_INACTIVE_INTERVAL INT NOT NULL, EXPIRY_TIME BIGINT NOT NULL, PRINCIPAL_NAME VARCHAR(100), CONSTRAINT SPRING_SESSION_PK PRIMARY KEY (PRIMARY_ID))`,
    );
    await pool.query(
      `CREATE TABLE ${schema}.SPRING_SESSION_ATTRIBUTES (SESSION_PRIMARY_ID CHAR(36) NOT NULL, ATTRIBUTE_NAME VARCHAR(200) NOT NULL, ATTRIBUTE_BYTES BYTEA NOT NULL, CONSTRAINT SPRING_SESSION_ATTRIBUTES_PK PRIMARY KEY (SESSION_PRIMARY_ID, ATTRIBUTE_NAME), CONSTRAINT SPRING_SESSION_ATTRIBUTES_FK FOREIGN KEY (SESSION_PRIMARY_ID) REFERENCES ${schema}.SPRING_SESSION(PRIMARY_ID) ON DELETE CASCADE)`,
    );
    const id = randomUUID();
    await pool.query(`INSERT INTO ${schema}.SPRING_SESSION VALUES ($1, $2, 0, 0, 1800, 0, 'alice')`, [randomUUID(), id]);
    await pool.query(`INSERT INTO ${schema}.SPRING_SESSION_ATTRIBUTES SELECT PRIMARY_ID, 'SPRING_SECURITY_CONTEXT', '\\x00' FROM ${schema}.SPRING_SESSION`);
    const { store } = await openWebSession(t, 'postgres', { url, schema, table: 'spring_session', column: 'session_id' });
    t.same(await store.end(session(id)), { outcome: 'removed' });
    t.equal((await pool.query(`SELECT 1 FROM ${schema}.spring_session_attributes`)).rowCount, 0, 'attributes cascaded');
  });

  t.test('postgres: Duende BFF server-side sessions keyed by the provider sid, a quoted mixed-case table, no registered key', async (t) => {
    // Duende.BFF.EntityFramework's UserSessions on Npgsql: EF Core quotes its names.
    await pool.query(`CREATE TABLE ${schema}."UserSessions" ("Id" bigserial PRIMARY KEY, "ApplicationName" text, "SubjectId" text NOT NULL, "SessionId" text, "Key" text NOT NULL, "Ticket" text NOT NULL)`);
    await pool.query(`INSERT INTO ${schema}."UserSessions" ("SubjectId", "SessionId", "Key", "Ticket") VALUES ('user-1', 'sid-1', 'k1', 't'), ('user-2', 'sid-2', 'k2', 't')`);
    const { store } = await openWebSession(t, 'postgres', { url, schema, table: 'UserSessions', column: 'SessionId', key: '{sid}' });
    t.same(await store.end(session()), { outcome: 'removed' });
    t.same((await pool.query(`SELECT "SessionId" FROM ${schema}."UserSessions"`)).rows, [{ SessionId: 'sid-2' }]);
  });

  t.test('postgres: a missing table gives failed (retried), naming the relation, never throwing', async (t) => {
    const { store } = await openWebSession(t, 'postgres', { ...djangoSettings, table: 'no_such_table' });
    const ending = await store.end(session('alicekey'));
    t.equal(ending.outcome, 'failed');
    t.match(ending.detail, /no_such_table/);
    await t.rejects(store.ping());
  });

  t.test('postgres: a server that is down gives failed; the URL credentials never reach the detail', async (t) => {
    const { store } = await openWebSession(t, 'postgres', { ...djangoSettings, url: `postgresql://app:secret@127.0.0.1:${await freePort()}/test` });
    const ending = await store.end(session('alicekey'));
    t.equal(ending.outcome, 'failed');
    t.notMatch(ending.detail, /secret/);
    t.ok(ending.detail!.length <= 200);
  });

  t.test('postgres: attacker-shaped keys are a bound parameter: nothing but the named row can go', async (t) => {
    const { store } = await openWebSession(t, 'postgres', djangoSettings);
    await django('victimkey');
    for (const shaped of ["' OR '1'='1", "x'; DELETE FROM django_session; --", '%', '_%']) t.equal((await store.end(session(shaped))).outcome, 'not_present', shaped);
    t.ok(await exists('victimkey'));
  });

  t.test('postgres: bad settings are refused naming the setting', async (t) => {
    await t.rejects(openWebSession(t, 'postgres', { ...djangoSettings, table: 'django_session; DROP TABLE x' }), /^table:/);
    await t.rejects(openWebSession(t, 'postgres', { ...djangoSettings, column: 'a"b' }), /^column:/);
    await t.rejects(openWebSession(t, 'postgres', { url, table: 'django_session' }), /column/);
    await t.rejects(openWebSession(t, 'postgres', { ...djangoSettings, url: 'mysql://x' }), /^url:/);
    await t.rejects(openWebSession(t, 'postgres', { ...djangoSettings, key: 'x{nope}' }), /^key: unknown placeholder \{nope\}/);
  });
}
