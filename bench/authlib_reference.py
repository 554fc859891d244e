"""The reference token endpoint: what a Python user would build instead, on Authlib.

Authlib's ``AuthorizationServer`` in its Flask integration, the ``ClientCredentialsGrant`` with
``client_secret_basic`` client authentication, RFC 9068 JWT access tokens signed ES256 by
``JWTBearerTokenGenerator``, every issued token persisted through Authlib's SQLAlchemy mixins
(Flask-SQLAlchemy over a SQLite file). Written from Authlib's documentation and docstrings.

Kept comparable with the AM on purpose, so that the ratio measures the software, not a setting:

* SQLite in WAL mode with ``synchronous=NORMAL``, as the AM configures its own SQLite;
* 900 s token lifetime and the audience set to the resource URL, as the AM issues;
* the signing key loaded once at start-up (Authlib's docstring example reloads a JWKS file in
  ``get_jwks`` on every token, which would only make the reference slower).

It differs where the protocols differ: the client authenticates with a shared secret in HTTP
Basic (one constant-time comparison), where the AM verifies an RFC 9421 HTTP message signature
and stores its nonce against replay; Authlib's default policy is the client's registered scope.

    python -m bench.authlib_reference setup DIR          # database, client, key; prints the client as JSON
    BENCH_AUTHLIB_DIR=DIR gunicorn -w 1 'bench.authlib_reference:create_app()'
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.sqla_oauth2 import (
    OAuth2ClientMixin,
    OAuth2TokenMixin,
    create_query_client_func,
    create_save_token_func,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import event

TOKEN_TTL = 900
SCOPE = "read write"
db = SQLAlchemy()


class Client(db.Model, OAuth2ClientMixin):  # type: ignore[name-defined,misc]
    __tablename__ = "oauth2_client"
    id = db.Column(db.Integer, primary_key=True)


class Token(db.Model, OAuth2TokenMixin):  # type: ignore[name-defined,misc]
    __tablename__ = "oauth2_token"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, nullable=True)


class ES256AccessTokens(JWTBearerTokenGenerator):
    """RFC 9068 access tokens signed by one ES256 key."""

    def __init__(self, issuer: str, keys: KeySet, audience: str) -> None:
        super().__init__(issuer, alg="ES256", expires_generator=lambda client, grant_type: TOKEN_TTL)
        self.keys = keys
        self.audience = audience

    def get_jwks(self) -> KeySet:
        return self.keys

    def get_audiences(self, client, user, scope):  # type: ignore[no-untyped-def]
        return self.audience


def _paths(directory: Path) -> tuple[Path, Path]:
    return directory / "authlib.db", directory / "authlib.jwks.json"


def _configure(directory: Path) -> Flask:
    database, _ = _paths(directory)
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{database}"
    db.init_app(app)
    with app.app_context():
        @event.listens_for(db.engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
    return app


def create_app(directory: str | None = None) -> Flask:
    """The WSGI application (for gunicorn: ``'bench.authlib_reference:create_app()'``)."""
    where = Path(directory or os.environ["BENCH_AUTHLIB_DIR"])
    app = _configure(where)
    _, jwks = _paths(where)
    settings = json.loads((where / "authlib.json").read_text())
    keys = KeySet.import_key_set(json.loads(jwks.read_text()))
    server = AuthorizationServer(app, query_client=create_query_client_func(db.session, Client),
                                 save_token=create_save_token_func(db.session, Token))
    server.register_grant(ClientCredentialsGrant)
    server.register_token_generator("default", ES256AccessTokens(settings["issuer"], keys, settings["audience"]))

    @app.post("/oauth/token")
    def issue_token():  # type: ignore[no-untyped-def]
        return server.create_token_response()

    @app.get("/alive")
    def alive() -> str:
        return "ok"

    return app


def setup(directory: Path, *, issuer: str, audience: str) -> dict[str, str]:
    """Create the database, one confidential client allowed the client-credentials grant, and
    the ES256 signing key; return the client's credentials."""
    directory.mkdir(parents=True, exist_ok=True)
    _, jwks = _paths(directory)
    key = ECKey.generate_key("P-256", parameters={"kid": secrets.token_urlsafe(8), "alg": "ES256", "use": "sig"},
                             private=True)
    jwks.write_text(json.dumps(KeySet([key]).as_dict(private=True)))
    (directory / "authlib.json").write_text(json.dumps({"issuer": issuer, "audience": audience}))
    app = _configure(directory)
    credentials = {"client_id": secrets.token_urlsafe(16), "client_secret": secrets.token_urlsafe(32)}
    with app.app_context():
        db.create_all()
        client = Client(client_id=credentials["client_id"], client_secret=credentials["client_secret"],
                        client_id_issued_at=int(time.time()))
        client.set_client_metadata({"client_name": "bench", "grant_types": ["client_credentials"],
                                    "scope": SCOPE, "token_endpoint_auth_method": "client_secret_basic"})
        db.session.add(client)
        db.session.commit()
    return credentials


def main() -> None:
    if len(sys.argv) != 5 or sys.argv[1] != "setup":
        raise SystemExit("usage: python -m bench.authlib_reference setup DIR ISSUER AUDIENCE")
    print(json.dumps(setup(Path(sys.argv[2]), issuer=sys.argv[3], audience=sys.argv[4])))


if __name__ == "__main__":
    main()
