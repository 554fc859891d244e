"""Credential stores: FileStore permissions, round-trip, expiry, and no secrets in reprs."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from consumer_sdk.errors import StoreError
from consumer_sdk.store import ClientCredentials, FileStore, MemoryStore, PendingTicket, Token, default_path

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")

CREDS = ClientCredentials("ck-1", "cks-very-secret", "http://am.example")
TOKEN = Token("eyJ.secret.token", "Bearer", 1_000.0, frozenset({"read", "write"}), "photos",
              "http://sp.example/", "http://am.example")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@posix_only
def test_file_is_created_0600_in_a_0700_directory_whatever_the_umask(tmp_path):
    path = tmp_path / "conf" / "protectserve" / "credentials.json"
    old = os.umask(0)
    try:
        FileStore(path).put_client(CREDS)
    finally:
        os.umask(old)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert os.listdir(path.parent) == ["credentials.json"]  # no temporary file left behind


@posix_only
def test_file_is_opened_with_mode_0600_from_creation(tmp_path, monkeypatch):
    opened = []
    real_open = os.open

    def recording_open(file, flags, mode=0o777, *args, **kwargs):
        opened.append((os.fspath(file), flags, mode))
        return real_open(file, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    path = tmp_path / "credentials.json"
    FileStore(path).put_token(TOKEN)
    [(name, flags, created_mode)] = [entry for entry in opened if entry[1] & os.O_CREAT]
    assert created_mode == 0o600 and flags & os.O_EXCL
    assert os.path.dirname(name) == str(tmp_path) and name != str(path)  # written aside, then os.replace'd


@posix_only
def test_rewrite_tightens_a_loose_existing_file(tmp_path):
    path = tmp_path / "credentials.json"
    path.write_text('{"version": 1, "clients": {}, "tokens": {}}')
    os.chmod(path, 0o644)
    FileStore(path).put_client(CREDS)
    assert mode(path) == 0o600


def test_round_trip_across_instances(tmp_path):
    path = tmp_path / "credentials.json"
    FileStore(path).put_client(CREDS)
    FileStore(path).put_token(TOKEN)
    again = FileStore(path)
    assert again.get_client("http://am.example") == CREDS
    assert again.get_client("http://other.example") is None
    assert again.get_token("http://sp.example/") == TOKEN
    assert again.tokens() == [TOKEN]
    again.delete_token("http://sp.example/")
    assert FileStore(path).get_token("http://sp.example/") is None
    assert FileStore(path).get_client("http://am.example") == CREDS


def test_missing_file_reads_as_empty(tmp_path):
    store = FileStore(tmp_path / "absent.json")
    assert store.get_client("x") is None and store.tokens() == []
    store.delete_token("x")
    assert not (tmp_path / "absent.json").exists()


def test_corrupt_file_is_a_store_error_without_its_contents(tmp_path):
    path = tmp_path / "credentials.json"
    path.write_text("not json cks-very-secret")
    with pytest.raises(StoreError) as info:
        FileStore(path).get_client("x")
    assert "cks-very-secret" not in str(info.value)


def test_default_path_is_in_the_user_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    if sys.platform.startswith("linux"):
        assert default_path() == tmp_path / "protectserve" / "credentials.json"
    assert FileStore().path == default_path()
    assert default_path().name == "credentials.json" and default_path().parent.name == "protectserve"


@pytest.mark.parametrize("store_factory", [MemoryStore, lambda: FileStore(None)])
def test_memory_and_file_stores_behave_alike(store_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    store = store_factory()
    replacement = ClientCredentials("ck-2", "cks-2", "http://am.example")
    store.put_client(CREDS)
    store.put_client(replacement)
    assert store.get_client("http://am.example") == replacement
    store.put_token(TOKEN)
    assert store.get_token(TOKEN.resource) == TOKEN


@pytest.mark.parametrize(
    ("now", "usable"),
    [(0.0, True), (969.9, True), (970.0, False), (999.0, False), (1_000.0, False), (2_000.0, False)],
)
def test_token_usable_only_until_30_seconds_before_expiry(now, usable):
    assert TOKEN.is_usable(now) is usable


def test_reprs_do_not_reveal_secrets(tmp_path):
    text = repr(CREDS) + repr(TOKEN) + repr(FileStore(tmp_path / "c.json"))
    assert "cks-very-secret" not in text and "eyJ.secret.token" not in text
    assert "ck-1" in text and "http://sp.example/" in text


PENDING = PendingTicket(ticket="ticket-very-secret", resource="http://sp.example/", realm="photos",
                        issuer="http://am.example", client_id="ck-1", scopes=frozenset({"read", "write"}), interval=5)


@pytest.mark.parametrize("store_factory", [MemoryStore, lambda: FileStore(None)])
def test_pending_tickets_are_kept_per_resource(store_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    store = store_factory()
    assert store.get_pending(PENDING.resource) is None
    store.put_pending(PENDING)
    store.put_token(TOKEN)
    assert store.get_pending(PENDING.resource) == PENDING and store.get_token(TOKEN.resource) == TOKEN
    store.delete_pending(PENDING.resource)
    store.delete_pending(PENDING.resource)
    assert store.get_pending(PENDING.resource) is None and store.get_token(TOKEN.resource) == TOKEN
    assert "ticket-very-secret" not in repr(PENDING)


def test_a_malformed_pending_ticket_is_a_store_error(tmp_path):
    path = tmp_path / "c.json"
    FileStore(path).put_pending(PENDING)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    path.write_text('{"version": 1, "clients": {}, "tokens": {}, "pending": {"http://sp.example/": {"ticket": 1}}}')
    with pytest.raises(StoreError, match="malformed pending ticket"):
        FileStore(path).get_pending("http://sp.example/")
    path.write_text('{"version": 1, "clients": {}, "tokens": {}, "pending": []}')
    with pytest.raises(StoreError, match="is not valid"):
        FileStore(path).get_pending("http://sp.example/")
