"""Accounts, passwords and API tokens live in :mod:`authmanager.accounts.auth` (shared with the
sign-in and the dialog); this name is kept for the console, the API and the CLI."""

from ..accounts.auth import (  # noqa: F401
    LOG2_N,
    MAX_PASSWORD,
    MIN_PASSWORD,
    P,
    R,
    Principal,
    authenticate_password,
    authenticate_token,
    check_name,
    check_password,
    create_admin,
    create_token,
    hash_password,
    list_admins,
    list_tokens,
    principal,
    revoke_token,
    verify_password,
)
