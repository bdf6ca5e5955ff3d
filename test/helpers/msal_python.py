#!/usr/bin/python3
"""The real MSAL Python, driven as a web app drives it, for the tap tests.

Reads ONE JSON request on stdin, writes ONE JSON answer on stdout and exits 0; on failure it
writes a message on stderr and exits non-zero. Run it with Debian's /usr/bin/python3 (python3-msal
1.21, python3-redis, python3-psycopg2); test/helpers/msal-python.ts does.

Commands (field "command"):
  signin        {clientId, authority, users: [{oid, homeTenant, tenant?, name, sid?, scopes?, username?}]}
                -> {cache, accounts: [{homeAccountId, environment, realm, username}], tokenRequests}
  accounts      {clientId, authority, caches: [blob, ...]}
                -> {accounts: [[homeAccountId, ...] | {error}, ...]}
  silent        {clientId, authority, cache, homeAccountId, scopes}
                -> {found, fromCache, tokenRequests}
  store-ping, store-drop-table   {store} -> {ok}
  store-create-table            {store} -> {ok, schema, table, columns: {name: {type, nullable}}}
  store-write   {store, cache, absoluteSeconds?, slidingSeconds?, ttlSeconds?}
  store-read    {store} -> {cache: string|null, ttl?, fields?, row?}

The only fake is Entra itself (FakeEntra below, handed to MSAL as its http_client): every token
in the cache is put there by MSAL Python's own code (initiate_auth_code_flow +
acquire_token_by_auth_code_flow, then SerializableTokenCache.serialize()).
"""

import base64
import datetime
import hashlib
import json
import re
import secrets
import sys
import time
import traceback
import uuid
import warnings
from urllib.parse import parse_qs, urlencode, urlsplit

warnings.simplefilter("ignore")  # keep stderr for real failures

import msal  # noqa: E402


# --------------------------------------------------------------------------------------------
# Fake Entra ID
#
# What MSAL Python 1.21 requests (read in /usr/lib/python3/dist-packages/msal/):
# * authority.py Authority(): for a host in WELL_KNOWN_AUTHORITY_HOSTS (login.microsoftonline.com
#   is one) no instance discovery, only tenant discovery at
#   https://<host>:443/<tenant>/v2.0/.well-known/openid-configuration  (note the explicit :443);
#   for any other host first GET https://login.microsoftonline.com/common/discovery/instance with
#   params authorization_endpoint=https://<host>/<tenant>/oauth2/v2.0/authorize, api-version=1.0,
#   then GET the tenant_discovery_endpoint it names.
# * application.py _get_instance_metadata(): GET https://login.microsoftonline.com/common/
#   discovery/instance?api-version=1.1&authorization_endpoint=https://login.microsoftonline.com/
#   common/oauth2/authorize (query inline in the URL), used by get_accounts() and
#   acquire_token_silent() only when nothing is cached under the authority's own host, to try
#   its aliases.
# * oauth2cli/oauth2.py _obtain_token(): POST <token_endpoint> with a dict body (client_id,
#   grant_type, client_secret, client_info=1, code, redirect_uri, code_verifier, scope, ...).
# * region.py: with azure_region=None (the default) no IMDS call.
# * The cache entry's environment is authority.instance, its realm is the tenant segment of the
#   *token_endpoint* from the OpenID configuration (token_cache.py __add), so with the common
#   authority MSAL Python writes realm "common", not the user's tid.
# --------------------------------------------------------------------------------------------

PUBLIC_CLOUD_ALIASES = ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"]

# Entra's instance metadata (the public cloud group is the one the brief asks for; the other
# groups are the sovereign clouds Entra lists in the same answer).
INSTANCE_METADATA = [
    {"preferred_network": "login.microsoftonline.com", "preferred_cache": "login.windows.net", "aliases": PUBLIC_CLOUD_ALIASES},
    {"preferred_network": "login.partner.microsoftonline.cn", "preferred_cache": "login.partner.microsoftonline.cn", "aliases": ["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"]},
    {"preferred_network": "login.microsoftonline.de", "preferred_cache": "login.microsoftonline.de", "aliases": ["login.microsoftonline.de"]},
    {"preferred_network": "login.microsoftonline.us", "preferred_cache": "login.microsoftonline.us", "aliases": ["login.microsoftonline.us", "login.usgovcloudapi.net"]},
    {"preferred_network": "login-us.microsoftonline.com", "preferred_cache": "login-us.microsoftonline.com", "aliases": ["login-us.microsoftonline.com"]},
]

CLIENT_SECRET = "secret"
REDIRECT_URI = "https://app.example.test/auth/callback"
DEFAULT_SCOPES = ["User.Read"]
MSA_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


def b64url(raw):
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_json(obj):
    return b64url(json.dumps(obj, separators=(",", ":")))


class UnexpectedRequest(Exception):
    pass


class FakeResponse(object):
    """msal.oauth2cli.http.Response, as MSAL reads it (status_code, text, headers, raise_for_status)."""

    def __init__(self, status_code, body, headers=None):
        self.status_code = status_code
        self.text = body if isinstance(body, str) else json.dumps(body)
        self.headers = dict({"Content-Type": "application/json; charset=utf-8"}, **(headers or {}))

    def raise_for_status(self):
        if self.status_code >= 400:
            raise RuntimeError("HTTP %d: %s" % (self.status_code, self.text))


class FakeEntra(object):
    """msal.oauth2cli.http.HttpClient answering as Entra ID's public cloud does."""

    def __init__(self, refuse_tokens=False):
        self.refuse_tokens = refuse_tokens  # the token endpoint answers invalid_grant to everything
        self.token_requests = 0
        self.requests = []  # (method, url) of every request, for error messages
        self.unexpected = []
        self._codes = {}

    # -- the user's browser at the authorization endpoint ---------------------------------
    def authorize(self, auth_uri, user):
        """What Entra does when the user signs in at auth_uri: remembers the request, issues a code."""
        u = urlsplit(auth_uri)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.hostname not in PUBLIC_CLOUD_ALIASES or not u.path.endswith("/oauth2/v2.0/authorize"):
            raise UnexpectedRequest("authorization request to %s" % auth_uri)
        for required in ("client_id", "response_type", "redirect_uri", "scope", "state", "nonce", "code_challenge"):
            if not q.get(required):
                raise UnexpectedRequest("authorization request without %s: %s" % (required, auth_uri))
        if q["response_type"] != "code" or q.get("code_challenge_method") != "S256":
            raise UnexpectedRequest("unexpected authorization request: %s" % auth_uri)
        code = "code-" + secrets.token_urlsafe(24)
        self._codes[code] = {"user": user, "query": q}
        return {"code": code, "state": q["state"], "session_state": str(uuid.uuid4())}

    # -- HttpClient ---------------------------------------------------------------------------
    def get(self, url, params=None, headers=None, **kwargs):
        self.requests.append(("GET", url))
        u = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(u.query).items()}
        query.update(params or {})
        host = u.hostname or ""
        path = u.path
        if host == "login.microsoftonline.com" and path == "/common/discovery/instance":
            return self._instance_discovery(query)
        m = re.match(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration$", path)
        if m and host in PUBLIC_CLOUD_ALIASES and (u.port in (None, 443)):
            return FakeResponse(200, self._openid_configuration(host, m.group(1)))
        return self._unexpected("GET", url)

    def post(self, url, params=None, data=None, headers=None, **kwargs):
        self.requests.append(("POST", url))
        u = urlsplit(url)
        if (u.hostname or "") in PUBLIC_CLOUD_ALIASES and re.match(r"^/[^/]+/oauth2/v2\.0/token$", u.path):
            self.token_requests += 1
            form = data if isinstance(data, dict) else {k: v[0] for k, v in parse_qs(data or "").items()}
            return self._token(u, form)
        return self._unexpected("POST", url)

    def close(self):
        pass

    # -- endpoints --------------------------------------------------------------------------
    def _unexpected(self, method, url):
        self.unexpected.append("%s %s" % (method, url))
        raise UnexpectedRequest("FakeEntra has no answer for %s %s" % (method, url))

    def _instance_discovery(self, query):
        body = {"api-version": query.get("api-version", "1.1"), "metadata": INSTANCE_METADATA}
        endpoint = query.get("authorization_endpoint")
        if endpoint:
            e = urlsplit(endpoint)
            tenant = e.path.strip("/").split("/")[0] if e.path.strip("/") else "common"
            if e.hostname not in [a for g in INSTANCE_METADATA for a in g["aliases"]]:
                return FakeResponse(400, {
                    "error": "invalid_instance",
                    "error_description": "AADSTS50049: Unknown or invalid instance.",
                    "error_codes": [50049],
                })
            body["tenant_discovery_endpoint"] = "https://%s/%s/v2.0/.well-known/openid-configuration" % (e.hostname, tenant)
        else:
            body["tenant_discovery_endpoint"] = "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
        return FakeResponse(200, body)

    @staticmethod
    def _openid_configuration(host, tenant):
        # The shape of Entra's v2.0 discovery document. For common/organizations the issuer is the
        # template with {tenantid}; the endpoints keep the tenant segment as requested.
        issuer_tenant = {"common": "{tenantid}", "organizations": "{tenantid}", "consumers": MSA_TENANT}.get(tenant.lower(), tenant)
        base = "https://%s/%s" % (host, tenant)
        return {
            "token_endpoint": base + "/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": base + "/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": "https://login.microsoftonline.com/%s/v2.0" % issuer_tenant,
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": base + "/oauth2/v2.0/authorize",
            "device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": base + "/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": base + "/kerberos",
            "tenant_region_scope": None,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windowsazure.com",
        }

    @staticmethod
    def _error(error, description, code):
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        return FakeResponse(400, {
            "error": error,
            "error_description": "AADSTS%d: %s" % (code, description),
            "error_codes": [code],
            "timestamp": now,
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        })

    def _token(self, url, form):
        if self.refuse_tokens:
            return self._error("invalid_grant", "The refresh token has been revoked (fake Entra refuses every token request).", 50173)
        if form.get("client_secret") != CLIENT_SECRET:
            return self._error("invalid_client", "Invalid client secret provided.", 7000215)
        if form.get("grant_type") != "authorization_code":
            return self._error("unsupported_grant_type", "This fake only redeems authorization codes.", 70003)
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None:
            return self._error("invalid_grant", "The provided authorization code is invalid or has been used.", 70000)
        q = grant["query"]
        if form.get("client_id") != q["client_id"] or form.get("redirect_uri") != q["redirect_uri"]:
            return self._error("invalid_grant", "client_id or redirect_uri differs from the authorization request.", 50148)
        if b64url(hashlib.sha256(form.get("code_verifier", "").encode("ascii")).digest()) != q["code_challenge"]:
            return self._error("invalid_grant", "The code_verifier does not match the code_challenge.", 501481)
        return FakeResponse(200, self._token_response(grant["user"], q["client_id"], form.get("scope", q["scope"]), q["nonce"]))

    @staticmethod
    def _token_response(user, client_id, scope, nonce):
        tid = user.get("tenant") or user["homeTenant"]
        now = int(time.time())
        name = user["name"]
        username = user.get("username") or "%s@example.test" % re.sub(r"[^a-z0-9]+", ".", name.lower()).strip(".")
        claims = {
            "aud": client_id,
            "iss": "https://login.microsoftonline.com/%s/v2.0" % tid,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": name,
            "nonce": nonce,
            "oid": user["oid"],
            "preferred_username": username,
            "rh": "0.fake.",
            "sub": "pairwise-" + b64url(hashlib.sha256((user["oid"] + client_id).encode()).digest())[:32],
            "tid": tid,
            "uti": secrets.token_urlsafe(16),
            "ver": "2.0",
        }
        if user.get("sid"):
            claims["sid"] = user["sid"]
        id_token = "%s.%s.%s" % (
            b64url_json({"typ": "JWT", "alg": "RS256", "kid": "fake-entra-key"}),
            b64url_json(claims),
            b64url(secrets.token_bytes(32)),  # not a signature: MSAL does not verify it, nor may anyone else
        )
        reserved = {"openid", "profile", "offline_access", "email"}
        granted = [s for s in scope.split() if s not in reserved] + ["profile", "openid", "email"]
        return {
            "token_type": "Bearer",
            "scope": " ".join(granted),
            "expires_in": 3600,
            "ext_expires_in": 3600,
            "access_token": "at-" + secrets.token_urlsafe(24),
            "refresh_token": "rt-" + secrets.token_urlsafe(24),
            "id_token": id_token,
            "client_info": b64url_json({"uid": user["oid"], "utid": user["homeTenant"]}),
        }


def make_app(req, cache, http):
    return msal.ConfidentialClientApplication(
        req["clientId"],
        client_credential=CLIENT_SECRET,
        authority=req["authority"],
        token_cache=cache,
        http_client=http,
    )


def account_json(a):
    return {
        "homeAccountId": a.get("home_account_id"),
        "environment": a.get("environment"),
        "realm": a.get("realm"),
        "username": a.get("username"),
    }


def fail_on_unexpected(http):
    if http.unexpected:
        raise UnexpectedRequest("MSAL Python made requests the fake does not answer: %s" % ", ".join(http.unexpected))


# --------------------------------------------------------------------------------------------
# MSAL commands
# --------------------------------------------------------------------------------------------

def cmd_signin(req):
    http = FakeEntra()
    cache = msal.SerializableTokenCache()
    app = make_app(req, cache, http)
    for user in req["users"]:
        scopes = user.get("scopes") or DEFAULT_SCOPES
        flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT_URI)
        auth_response = http.authorize(flow["auth_uri"], user)  # the browser's round trip to Entra
        result = app.acquire_token_by_auth_code_flow(flow, auth_response)
        if "error" in result:
            raise RuntimeError("sign-in of %s failed: %s" % (user["oid"], json.dumps(result)))
    fail_on_unexpected(http)
    return {
        "cache": cache.serialize(),
        "accounts": [account_json(a) for a in app.get_accounts()],
        "tokenRequests": http.token_requests,
    }


def cmd_accounts(req):
    answers = []
    http = FakeEntra(refuse_tokens=True)
    for blob in req["caches"]:
        try:
            cache = msal.SerializableTokenCache()
            cache.deserialize(blob)
            app = make_app(req, cache, http)
            answers.append([a.get("home_account_id") for a in app.get_accounts()])
        except Exception as e:  # what MSAL Python would raise in the app, reported per blob
            answers.append({"error": "%s: %s" % (type(e).__name__, e)})
    fail_on_unexpected(http)
    return {"accounts": answers}


def cmd_silent(req):
    http = FakeEntra(refuse_tokens=True)
    cache = msal.SerializableTokenCache()
    cache.deserialize(req["cache"])
    app = make_app(req, cache, http)
    account = next((a for a in app.get_accounts() if a.get("home_account_id") == req["homeAccountId"]), None)
    found = account is not None
    result = app.acquire_token_silent(req.get("scopes") or DEFAULT_SCOPES, account) if found else None
    fail_on_unexpected(http)
    return {
        "found": found,
        "fromCache": bool(result and result.get("access_token")) and http.token_requests == 0,
        "tokenRequests": http.token_requests,
    }


# --------------------------------------------------------------------------------------------
# Stores: the app keeps its serialized cache where the service will find it.
#
# redis-hash = Microsoft.Extensions.Caching.StackExchangeRedis RedisCache, checked in
#   dotnet/aspnetcore src/Caching/StackExchangeRedis/src/RedisCache.cs (index commit 8d116707):
#   * the entry is a HASH with fields "absexp", "sldexp", "data" (consts AbsoluteExpirationKey,
#     SlidingExpirationKey, DataKey); absexp = DateTimeOffset.Ticks of the absolute expiry (100 ns
#     since 0001-01-01; the creation time is DateTimeOffset.UtcNow, so UTC ticks), sldexp =
#     TimeSpan.Ticks of the sliding window, each written as a long (decimal string) and -1
#     (const NotPresent) when not set; data = the raw bytes.
#   * Set() sends HSET of the three fields and, when there is any expiry, KeyExpire with
#     TimeSpan.FromSeconds(ttl) pipelined in one batch (CreateBatch, not MULTI, no Lua any more);
#     ttl (GetExpirationInSeconds) = whole seconds of min(absolute - now, sliding), or absent when
#     neither is set (then no EXPIRE at all).
#   * Get() reads HMGET absexp sldexp data and, only if sldexp is set, re-EXPIREs the key to
#     min(absexp - now, sliding): a read with only an absolute expiry changes nothing.
#   (Another stored version of that file, commit 017c5114, names the fields "dv"/"swv"/"aev"
#   and omits unset ones; the version above, with the -1 convention, is the one this follows.)
#
# postgres/microsoft = Microsoft.Extensions.Caching.Postgres, checked in
#   Azure/Microsoft.Extensions.Caching.Postgres src/SqlQueries.cs and src/DatabaseOperations.cs:
#   CREATE SCHEMA IF NOT EXISTS; CREATE UNLOGGED (unless UseWAL) TABLE IF NOT EXISTS
#   <schema>.<table> with the identifiers NOT quoted (DelimitIdentifier returns them as they are,
#   so Postgres folds them to lower case): id VARCHAR(449) COLLATE "C" PRIMARY KEY, value BYTEA
#   NOT NULL, expiresattime TIMESTAMPTZ NOT NULL, slidingexpirationinseconds BIGINT NULL,
#   absoluteexpiration TIMESTAMPTZ NULL; index ix_expiresattime ON (expiresattime) WITH
#   (deduplicate_items=True). Set = INSERT ... ON CONFLICT (id) DO UPDATE with expiresattime =
#   absoluteexpiration when there is no sliding window, else utcNow + sliding seconds; Set
#   refuses an entry with neither expiry.
#   Here the index is named ix_<table>_expiresattime: the provider's fixed name lives in the
#   schema, so a second cache table in the same schema would share (skip) it.
#
# postgres/community = Community.Microsoft.Extensions.Caching.PostgreSql, checked in
#   leonibr/community-extensions-cache-postgres Extensions.Caching.PostgreSql/SqlCommands.cs,
#   PostgreSqlScripts/Create_Table_DistCache.sql and DatabaseOperations.cs:
#   CREATE SCHEMA IF NOT EXISTS "<schema>"; CREATE TABLE IF NOT EXISTS "<schema>"."<table>"
#   ("Id" text COLLATE pg_catalog."default" NOT NULL, "Value" bytea, "ExpiresAtTime" timestamp
#   with time zone, "SlidingExpirationInSeconds" double precision, "AbsoluteExpiration" timestamp
#   with time zone, CONSTRAINT "DistCache_pkey" PRIMARY KEY ("Id")). Set = INSERT ... ON
#   CONFLICT("Id") DO UPDATE; "ExpiresAtTime" = absolute expiry when no sliding window, else
#   utcNow + sliding; "SlidingExpirationInSeconds" = TimeSpan.TotalSeconds or NULL.
#   Here the primary key constraint is named "<table>_pkey": the provider's fixed
#   "DistCache_pkey" is an index name in the schema, so a second table would fail to create.
# --------------------------------------------------------------------------------------------

DOTNET_EPOCH_TICKS = 621355968000000000  # DateTime(1970, 1, 1).Ticks
NOT_PRESENT = -1


def dotnet_ticks_from_unix_ns(ns):
    return ns // 100 + DOTNET_EPOCH_TICKS


def redis_client(store):
    import redis
    return redis.Redis.from_url(store["url"], socket_timeout=5, socket_connect_timeout=5)


def pg_connect(store):
    import psycopg2
    conn = psycopg2.connect(store["url"], connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
    return conn


IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,50}$")


class PgTable(object):
    """The table of one of the two .NET providers: identifiers and column names."""

    def __init__(self, store):
        from psycopg2 import sql
        provider = store.get("provider")
        schema, table = store.get("schema", "public"), store["table"]
        for ident in (schema, table):
            if not IDENT.match(ident):
                raise ValueError("not a plain identifier: %r" % ident)
        if provider == "microsoft":
            # unquoted in the provider's SQL: Postgres folds to lower case
            schema, table = schema.lower(), table.lower()
            self.cols = ["id", "value", "expiresattime", "slidingexpirationinseconds", "absoluteexpiration"]
        elif provider == "community":
            self.cols = ["Id", "Value", "ExpiresAtTime", "SlidingExpirationInSeconds", "AbsoluteExpiration"]
        else:
            raise ValueError("store.provider must be microsoft or community, not %r" % provider)
        self.provider, self.schema_name, self.table_name = provider, schema, table
        self.sql = sql
        self.schema = sql.Identifier(schema)
        self.name = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        self.c = [sql.Identifier(c) for c in self.cols]

    def create(self, cur):
        sql = self.sql
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self.schema))
        if self.provider == "microsoft":
            cur.execute(sql.SQL(
                'CREATE UNLOGGED TABLE IF NOT EXISTS {t} ({0} VARCHAR(449) COLLATE "C" PRIMARY KEY, '
                "{1} BYTEA NOT NULL, {2} TIMESTAMPTZ NOT NULL, {3} BIGINT NULL, {4} TIMESTAMPTZ NULL)"
            ).format(*self.c, t=self.name))
            cur.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} ({2}) WITH (deduplicate_items=True)").format(
                *self.c, t=self.name, i=sql.Identifier("ix_%s_expiresattime" % self.table_name)))
        else:
            cur.execute(sql.SQL(
                'CREATE TABLE IF NOT EXISTS {t} ({0} text COLLATE pg_catalog."default" NOT NULL, {1} bytea, '
                "{2} timestamp with time zone, {3} double precision, {4} timestamp with time zone, "
                "CONSTRAINT {pk} PRIMARY KEY ({0}))"
            ).format(*self.c, t=self.name, pk=sql.Identifier("%s_pkey" % self.table_name)))

    def columns(self, cur):
        cur.execute(
            "SELECT column_name, data_type, character_maximum_length, is_nullable FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (self.schema_name, self.table_name))
        return {name: {"type": t if n is None else "%s(%d)" % (t, n), "nullable": nullable == "YES"} for name, t, n, nullable in cur.fetchall()}

    def drop(self, cur):
        cur.execute(self.sql.SQL("DROP TABLE IF EXISTS {}").format(self.name))

    def write(self, cur, key, value, absolute, sliding_seconds):
        import psycopg2
        if absolute is None and sliding_seconds is None:
            raise ValueError("Either absolute or sliding expiration needs to be provided.")  # as both providers
        now = datetime.datetime.now(datetime.timezone.utc)
        expires = absolute if sliding_seconds is None else now + datetime.timedelta(seconds=sliding_seconds)
        sliding = None if sliding_seconds is None else (
            int(sliding_seconds) if self.provider == "microsoft" else float(sliding_seconds))
        c = self.c
        cur.execute(self.sql.SQL(
            "INSERT INTO {t} ({0}, {1}, {2}, {3}, {4}) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT ({0}) DO UPDATE SET {1} = EXCLUDED.{1}, {2} = EXCLUDED.{2}, {3} = EXCLUDED.{3}, {4} = EXCLUDED.{4}"
        ).format(*c, t=self.name), (key, psycopg2.Binary(value), expires, sliding, absolute))

    def read(self, cur, key):
        cur.execute(self.sql.SQL("SELECT {1}, {2}, {3}, {4} FROM {t} WHERE {0} = %s").format(*self.c, t=self.name), (key,))
        return cur.fetchone()


def pg_value(v):
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat()
    return v


def expiry_request(req):
    absolute_seconds = req.get("absoluteSeconds", 3600)
    sliding_seconds = req.get("slidingSeconds")
    return absolute_seconds, sliding_seconds


def cmd_store_ping(req):
    store = req["store"]
    if store["kind"] in ("redis", "redis-hash"):
        redis_client(store).ping()
    elif store["kind"] == "postgres":
        pg_connect(store).close()
    else:
        raise ValueError("unknown store kind %r" % store["kind"])
    return {"ok": True}


def cmd_store_create_table(req):
    table = PgTable(req["store"])
    conn = pg_connect(req["store"])
    try:
        with conn.cursor() as cur:
            table.create(cur)
            columns = table.columns(cur)
    finally:
        conn.close()
    return {"ok": True, "schema": table.schema_name, "table": table.table_name, "columns": columns}


def cmd_store_drop_table(req):
    table = PgTable(req["store"])  # drops exactly this one table, nothing else
    conn = pg_connect(req["store"])
    try:
        with conn.cursor() as cur:
            table.drop(cur)
    finally:
        conn.close()
    return {"ok": True}


def cmd_store_write(req):
    store = req["store"]
    kind = store["kind"]
    blob = req["cache"].encode("utf-8")
    if kind == "redis":
        r = redis_client(store)
        ttl = req.get("ttlSeconds")
        r.set(store["key"], blob, ex=int(ttl) if ttl else None)
    elif kind == "redis-hash":
        r = redis_client(store)
        absolute_seconds, sliding_seconds = expiry_request(req)
        now_ns = time.time_ns()
        absexp = NOT_PRESENT if absolute_seconds is None else dotnet_ticks_from_unix_ns(now_ns + int(absolute_seconds * 1e9))
        sldexp = NOT_PRESENT if sliding_seconds is None else int(sliding_seconds * 10_000_000)
        candidates = [s for s in (absolute_seconds, sliding_seconds) if s is not None]
        ttl = int(min(candidates)) if candidates else None
        pipe = r.pipeline(transaction=False)  # RedisCache pipelines HSET + EXPIRE as a batch
        pipe.hset(store["key"], mapping={"absexp": str(absexp), "sldexp": str(sldexp), "data": blob})
        if ttl is not None:
            pipe.expire(store["key"], ttl)
        pipe.execute()
    elif kind == "postgres":
        table = PgTable(store)
        absolute_seconds, sliding_seconds = expiry_request(req)
        absolute = None if absolute_seconds is None else (
            datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=absolute_seconds))
        conn = pg_connect(store)
        try:
            with conn.cursor() as cur:
                table.write(cur, store["key"], blob, absolute, sliding_seconds)
        finally:
            conn.close()
    else:
        raise ValueError("unknown store kind %r" % kind)
    return {"ok": True}


def cmd_store_read(req):
    store = req["store"]
    kind = store["kind"]
    if kind == "redis":
        r = redis_client(store)
        value = r.get(store["key"])
        if value is None:
            return {"cache": None}
        return {"cache": value.decode("utf-8"), "ttl": r.ttl(store["key"])}
    if kind == "redis-hash":
        # A raw look (HGETALL + TTL), not RedisCache.Get(): it refreshes nothing.
        r = redis_client(store)
        entry = r.hgetall(store["key"])
        if not entry:
            return {"cache": None}
        fields = {k.decode("utf-8"): v for k, v in entry.items()}
        data = fields.pop("data", None)
        return {
            "cache": None if data is None else data.decode("utf-8"),
            "ttl": r.ttl(store["key"]),
            "fields": {k: v.decode("utf-8", "replace") for k, v in fields.items()},
        }
    if kind == "postgres":
        table = PgTable(store)
        conn = pg_connect(store)
        try:
            with conn.cursor() as cur:
                row = table.read(cur, store["key"])
        finally:
            conn.close()
        if row is None:
            return {"cache": None}
        return {
            "cache": bytes(row[0]).decode("utf-8") if row[0] is not None else None,
            "row": {name: pg_value(v) for name, v in zip(table.cols[2:], row[1:])},
        }
    raise ValueError("unknown store kind %r" % kind)


COMMANDS = {
    "signin": cmd_signin,
    "accounts": cmd_accounts,
    "silent": cmd_silent,
    "store-ping": cmd_store_ping,
    "store-create-table": cmd_store_create_table,
    "store-drop-table": cmd_store_drop_table,
    "store-write": cmd_store_write,
    "store-read": cmd_store_read,
}


def main():
    req = {}
    try:
        req = json.loads(sys.stdin.read())
        command = COMMANDS.get(req.get("command"))
        if command is None:
            raise ValueError("unknown command %r (one of %s)" % (req.get("command"), ", ".join(COMMANDS)))
        answer = command(req)
    except Exception as e:
        command_name = req.get("command") if isinstance(req, dict) else None
        sys.stderr.write("msal_python.py %s failed: %s: %s\n%s" % (
            command_name, type(e).__name__, e, traceback.format_exc()))
        return 1
    sys.stdout.write(json.dumps(answer))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
