"""SQLAlchemy 2 typed models. Times are integer Unix seconds from the injected clock."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import true as sa_true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Consumer(Base):
    """A consumer key (RFC 7591 client). ``secret_sealed`` is AES-GCM under the server key."""

    __tablename__ = "consumers"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_name: Mapped[str] = mapped_column(String(200))
    secret_sealed: Mapped[str] = mapped_column(Text)
    client_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: Grasshopper sub-keys: the master consumer key, and a hard expiry.
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("consumers.client_id", ondelete="CASCADE"), nullable=True, index=True)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Realm(Base):
    """A protection realm; ``sph`` is the service-provider handle, its secret stored as a digest."""

    __tablename__ = "realms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    sph: Mapped[str] = mapped_column(String(64), unique=True)
    sph_secret_hash: Mapped[str] = mapped_column(String(64))
    #: The resource URL as given: the ``aud`` of the realm's tokens.
    resource: Mapped[str] = mapped_column(Text)
    #: ``resource`` normalised (operations.resources.resource_key): one realm per resource.
    #: (The server default only lets migration 0006 add the column without rebuilding the table.)
    resource_key: Mapped[str] = mapped_column(Text, unique=True, index=True, server_default="")
    resource_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger)
    #: Whether grasshopper sub-keys may obtain tokens for this realm.
    allow_subkeys: Mapped[bool] = mapped_column(default=True)


class RealmScope(Base):
    __tablename__ = "realm_scopes"
    realm_id: Mapped[int] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    icon_uri: Mapped[str | None] = mapped_column(Text, nullable=True)


class Policy(Base):
    __tablename__ = "policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    effect: Mapped[str] = mapped_column(String(10))  # permit | deny | ask
    scopes: Mapped[list[str]] = mapped_column(JSON)
    #: ``*``, a consumer key, or ``subject:<URL>`` (a verified subject URL, at most 512 characters).
    consumer: Mapped[str] = mapped_column(String(520), default="*")
    max_ttl: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    #: Validity window: the policy applies while ``not_before <= now < not_after``.
    not_before: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    not_after: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Nonce(Base):
    """A used request nonce; the primary key makes replay detection one atomic insert."""

    __tablename__ = "nonces"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class AccessToken(Base):
    """An issued access token, kept by the SHA-256 of its value, never the value."""

    __tablename__ = "access_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: A consumer key, or for a ticket-grant token the subject URL (at most 512 characters).
    client_id: Mapped[str] = mapped_column(String(512), index=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: Tokens issued for a person (authorization code, refresh): the account and the refresh
    #: family, so that revoking a consent or a family revokes them. None for machine tokens.
    account_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    family_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    #: Tokens obtained with a ``private_key_jwt`` assertion: the :class:`ClientKey` that signed
    #: it, so that revoking that key revokes them (issue 13 §3). None otherwise.
    client_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class ClientKey(Base):
    """A consumer's public key (RFC 7523 ``private_key_jwt``), e.g. one per device. ``jwk`` holds
    public members only (:func:`authmanager.clients.keys.public_jwk`); ``kid`` is the JWK's own
    when it had one, else its RFC 7638 thumbprint. ``scope_ceiling`` (a list of scope names) caps
    every token obtained with an assertion signed by this key, whatever the policies permit
    (OAuth3 issuer step 4); None: the key follows its consumer."""

    __tablename__ = "client_keys"
    __table_args__ = (UniqueConstraint("client_id", "kid", name="uq_client_keys_client_kid"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("consumers.client_id", ondelete="CASCADE"), index=True)
    kid: Mapped[str] = mapped_column(String(128))
    jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    scope_ceiling: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class SigningKey(Base):
    """A token-signing key; the private half sealed under the server key."""

    __tablename__ = "signing_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(10))
    private_sealed: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    #: Signs from this time on (until a later key activates); published from creation.
    activates_at: Mapped[int] = mapped_column(BigInteger)
    #: Unpublished from this time on (set when a successor is staged: its activation plus the
    #: longest token lifetime, so every token this key signed has expired by then).
    retires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RevocationEvent(Base):
    """The revocation feed. ``id`` is the SSE cursor: ids are assigned under a lock, so they
    commit in order and a reader that has seen id N has seen every id below it."""

    __tablename__ = "revocation_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    realm_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)  # None: every realm
    kind: Mapped[str] = mapped_column(String(20))  # token_revoked | client_revoked | keys_changed
    jti: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    issued_before: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: After this time the event no longer matters (the tokens it names have expired).
    exp: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


Index("ix_access_tokens_expires", AccessToken.expires_at)
__all__ = ["Base", "Consumer", "Realm", "RealmScope", "Policy", "Nonce", "AccessToken", "SigningKey", "RevocationEvent"]


class SavedGrant(Base):
    """The owner's saved decision for one realm and one party: a subject URL the realm was shared
    with (IndieAuth Ticket Auth, ``authmanager share``), or a consumer key whose request the owner
    answered (UMA 2.0 Grant §3.3.6 ``request_submitted``). Exactly one of ``subject`` and
    ``client_id`` is set; one row per (realm, party), a later decision updates it.

    ``scopes`` were approved, ``refused_scopes`` refused (never asked again); a revoked grant
    (``revoked_at``) counts for nothing until a new decision revives it."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("realm_id", "subject", name="uq_grants_realm_subject"),
                      UniqueConstraint("realm_id", "client_id", name="uq_grants_realm_client"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str | None] = mapped_column(String(512), nullable=True)
    #: A master consumer key (a grasshopper sub-key's requests are decided for its master).
    client_id: Mapped[str | None] = mapped_column(
        ForeignKey("consumers.client_id", ondelete="CASCADE", name="fk_grants_client_id"), nullable=True, index=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    refused_scopes: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    max_ttl: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Ticket(Base):
    """A single-use ticket, kept by the SHA-256 of its value, with the outcome of its delivery.

    ``used_at`` is set by one atomic conditional UPDATE at redemption; ``token_jti`` names the
    token it bought, so that a second redemption can revoke it (RFC 6749 §4.1.2 by analogy)."""

    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_hash: Mapped[str] = mapped_column(String(64), unique=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(String(512))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    max_ttl: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    token_jti: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Delivery: the discovered ticket endpoint, ``pending`` | ``delivered`` | ``failed``, the
    #: endpoint's HTTP status and a short reason (never the ticket).
    endpoint: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivery: Mapped[str] = mapped_column(String(10), default="pending")
    delivery_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    delivery_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


__all__ += ["SavedGrant", "Ticket"]


class AccessRequest(Base):
    """A token request put to the realm owner (UMA 2.0 Grant §3.3.6 ``request_submitted``).

    Kept by the SHA-256 of its ticket, never the ticket; bound to the consumer key that asked
    (only it may poll), the realm and the scopes. ``status`` is ``pending`` until the owner
    answers (``approved`` with ``approved_scopes``, or ``denied``); ``used_at``/``token_jti`` are
    set once a poll has obtained the token, after which the ticket is spent. ``last_polled_at``
    enforces the polling interval (RFC 8628 §3.5 ``slow_down``)."""

    __tablename__ = "access_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_hash: Mapped[str] = mapped_column(String(64), unique=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("consumers.client_id", ondelete="CASCADE"), index=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    ask_scopes: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    approved_scopes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    last_polled_at: Mapped[int] = mapped_column(BigInteger)
    decided_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    token_jti: Mapped[str | None] = mapped_column(String(64), nullable=True)


__all__ += ["AccessRequest"]


class AuditEvent(Base):
    """The audit log: one row per decision (issue, deny, ask, approve, revoke, policy change,
    login, …), appended in the transaction that made it and never updated.

    ``actor`` is who acted (``consumer:<ck>``, ``subject:<url>``, ``sp:<realm>``, ``bearer:<client>``
    for whoever holds a token, ``admin:<name>``, ``cli``, ``system``); ``action`` a dotted verb
    (:data:`authmanager.audit.ACTIONS`); ``target`` what it acted on (a consumer key, a token's jti, a policy id, …). ``realm_id`` has no foreign key, so
    the history of a deleted realm stays readable. Never holds a secret or a token value."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(600))
    action: Mapped[str] = mapped_column(String(40))
    realm_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    target: Mapped[str | None] = mapped_column(String(600), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


__all__ += ["AuditEvent"]


class Admin(Base):
    """A realm admin of the web console and the admin API (``authmanager admin create``).

    ``password_hash`` is scrypt with its parameters and salt (``authmanager/admin/auth.py``),
    never the password. ``all_realms`` admins administer every realm; the others only the realms
    listed in ``admin_realms``."""

    __tablename__ = "admins"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    all_realms: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    #: False: an account that administers no realm (issue 12: people who sign in to approve
    #: applications for themselves); ``all_realms`` and ``admin_realms`` then mean nothing.
    administers: Mapped[bool] = mapped_column(default=True, server_default=sa_true())


class AdminRealm(Base):
    """The realms an admin without ``all_realms`` may administer."""

    __tablename__ = "admin_realms"
    admin_id: Mapped[int] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"), primary_key=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), primary_key=True)


class AdminToken(Base):
    """An admin API token (``Authorization: Bearer``), kept by its SHA-256, never the value."""

    __tablename__ = "admin_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AdminSession(Base):
    """A signed-in console session, kept by the SHA-256 of the session id that the (encrypted)
    cookie carries. Logging out deletes the row, so the old cookie is worthless at once."""

    __tablename__ = "admin_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


__all__ += ["Admin", "AdminRealm", "AdminToken", "AdminSession"]


# --- The person at the browser (issue 12): accounts, codes, refresh tokens, consents -------------
#: Every row of ``admins`` is an *account*, a person who can sign in. ``administers`` false: the
#: account administers no realm (it may only approve applications for itself, in the dialog).
Account = Admin


class AuthorizationCode(Base):
    """An authorization code (RFC 6749 §4.1.2, OAuth 2.1 §4.1.2), kept by the SHA-256 of its value.

    Single-use (``used_at``, set by one conditional UPDATE), lives at most 60 s, bound to the
    client, the exact ``redirect_uri``, the PKCE S256 challenge, the resource (hence the realm), the
    scopes and the account. ``token_jti``/``family_id`` name what its redemption issued, so that a
    second redemption revokes them (§4.1.2: "SHOULD revoke ... all tokens previously issued")."""

    __tablename__ = "authorization_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: A consumer key or a client ID metadata document URL (no foreign key).
    client_id: Mapped[str] = mapped_column(String(512), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"), index=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    resource: Mapped[str] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    #: RFC 9449 §10 ``dpop_jkt`` (a later issue); None: not bound.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    token_jti: Mapped[str | None] = mapped_column(String(64), nullable=True)
    family_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RefreshToken(Base):
    """A refresh token (OAuth 1.5's persistent token), kept by the SHA-256 of its value.

    Rotated on every use: the used one gets ``used_at`` and its successor the same ``family_id``.
    Presenting a used one revokes the whole family, refresh and access tokens (RFC 9700 §4.14.2).
    ``expires_at`` is the idle limit (moved on at each rotation), never past ``absolute_expires_at``
    (fixed when the family starts)."""

    __tablename__ = "refresh_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(String(512), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"), index=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), index=True)
    resource: Mapped[str] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    absolute_expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Consent(Base):
    """A person's saved decision for one application and one realm (OAuth3 issuer step 7): the
    scopes they approved and those they refused, whole or partial. One row per (client, account,
    realm); a later decision updates it. Revoking it (``revoked_at``) also revokes the tokens and
    refresh tokens the application holds for that person."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("client_id", "account_id", "realm_id", name="uq_consents_client_account_realm"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(512), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"), index=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), index=True)
    #: What the dialog showed, kept for the "applications I allowed" page (the client may be a URL).
    client_name: Mapped[str] = mapped_column(String(200), default="")
    scopes: Mapped[list[str]] = mapped_column(JSON)
    refused_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


__all__ += ["Account", "AuthorizationCode", "RefreshToken", "Consent"]
