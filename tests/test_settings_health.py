"""Configuration precedence (flags > environment > TOML file > defaults) and health endpoints."""

import aiohttp
import pytest
from click.testing import CliRunner

from authmanager.cli import main
from authmanager.settings import ConfigError, Settings
from authmanager.storage.db import make_engine


def test_precedence_flag_over_env_over_file_over_default(tmp_path):
    config = tmp_path / "am.toml"
    config.write_text('[authmanager]\ntoken_ttl = 120\nsignature_window = 60\nissuer = "https://am.example"\n')
    env = {"AUTHMANAGER_SIGNATURE_WINDOW": "90", "AUTHMANAGER_FEED_KEEPALIVE": "2.5"}
    s = Settings.load(config_file=config, environ=env, flags={"token_ttl": 30, "issuer": None})
    assert s.token_ttl == 30                     # flag beats file
    assert s.signature_window == 90              # environment beats file
    assert s.issuer == "https://am.example"      # file beats default
    assert s.feed_keepalive == 2.5 and s.max_body == 64 * 1024  # environment; default
    via_env = Settings.load(environ={"AUTHMANAGER_CONFIG": str(config)})
    assert via_env.token_ttl == 120


@pytest.mark.parametrize("text, message", [
    ("token_ttl = 'soon'\n", "token_ttl = 'soon' is not a valid int"),
    ("tokens_ttl = 1\n", "unknown setting(s) tokens_ttl"),
    ("token_ttl = \n", "not valid TOML"),
    ("token_ttl = true\n", "is not a valid int"),
])
def test_bad_config_is_an_error_naming_the_key(tmp_path, text, message):
    config = tmp_path / "am.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.load(config_file=config, environ={})
    result = CliRunner().invoke(main, ["--config", str(config), "realm", "list"])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_bad_environment_value_is_an_error():
    with pytest.raises(ConfigError, match="AUTHMANAGER_TOKEN_TTL"):
        Settings.load(environ={"AUTHMANAGER_TOKEN_TTL": "ten"})


async def test_liveness_never_touches_the_database_and_readiness_does(sqlite_am):
    am = sqlite_am
    async with aiohttp.ClientSession() as http:
        async with http.get(am.url("/health/ready")) as r:
            assert r.status == 200 and (await r.json())["status"] == "ready"
        live = am.ctx.engine
        am.ctx.engine = make_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
        try:
            async with http.get(am.url("/health/alive")) as r:
                assert r.status == 200
            async with http.get(am.url("/health/ready")) as r:
                assert r.status == 503 and r.headers["Retry-After"]
                assert (await r.json())["error"] == "temporarily_unavailable"
        finally:
            await am.ctx.engine.dispose()
            am.ctx.engine = live
