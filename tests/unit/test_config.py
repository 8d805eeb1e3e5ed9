"""Configuration: defaults for a local run, environment overrides, bad values named."""

from __future__ import annotations

import os

import pytest

from libs import config
from libs.errors import InvalidArgument


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SHOP_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    cfg = config.service_config("inventory")
    assert cfg.name == "inventory"
    assert cfg.host == "127.0.0.1"
    assert cfg.port == 17051
    assert cfg.address == "127.0.0.1:17051"
    assert cfg.database_url == ""
    assert cfg.grace_seconds == 5.0
    assert cfg.max_message_bytes == 4 * 1024 * 1024
    assert config.service_target("inventory") == "127.0.0.1:17051"
    assert config.service_target("payroll") == "127.0.0.1:17055"
    assert config.gateway_port() == 8080
    assert config.jwt_secret() == config.DEV_JWT_SECRET
    assert config.call_timeout_seconds() == 5.0
    assert config.log_level() == "INFO"


def test_each_service_has_its_own_default_port() -> None:
    ports = {name: config.service_config(name).port for name in config.SERVICE_PORTS}
    assert ports == {
        "inventory": 17051,
        "orders": 17052,
        "logistics": 17053,
        "returns": 17054,
        "payroll": 17055,
    }


def test_port_override_moves_the_default_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_INVENTORY_PORT", "6001")
    monkeypatch.setenv("SHOP_INVENTORY_HOST", "0.0.0.0")
    cfg = config.service_config("inventory")
    assert cfg.port == 6001
    assert cfg.address == "0.0.0.0:6001"
    assert config.service_target("inventory") == "127.0.0.1:6001"
    # Other services keep theirs.
    assert config.service_config("orders").port == 17052


def test_target_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_INVENTORY_TARGET", "inventory.internal:443")
    assert config.service_target("inventory") == "inventory.internal:443"
    assert config.service_target("orders") == "127.0.0.1:17052"


def test_empty_values_mean_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_INVENTORY_PORT", "")
    monkeypatch.setenv("SHOP_INVENTORY_TARGET", "")
    assert config.service_config("inventory").port == 17051
    assert config.service_target("inventory") == "127.0.0.1:17051"


def test_suite_wide_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_GRACE_SECONDS", "1.5")
    monkeypatch.setenv("SHOP_MAX_MESSAGE_BYTES", "1024")
    monkeypatch.setenv("SHOP_INVENTORY_DATABASE_URL", "postgresql+psycopg://db/inventory")
    monkeypatch.setenv("SHOP_LOG_LEVEL", "debug")
    monkeypatch.setenv("SHOP_VAR_DIR", "/tmp/shop-var")
    cfg = config.service_config("inventory")
    assert cfg.grace_seconds == 1.5
    assert cfg.max_message_bytes == 1024
    assert cfg.database_url == "postgresql+psycopg://db/inventory"
    assert config.log_level() == "DEBUG"
    assert str(config.span_dir()) == "/tmp/shop-var/spans"


def test_non_integer_port_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_INVENTORY_PORT", "fifty")
    with pytest.raises(InvalidArgument) as info:
        config.service_config("inventory")
    err = info.value
    assert [v.field for v in err.violations] == ["SHOP_INVENTORY_PORT"]
    assert err.message.startswith("SHOP_INVENTORY_PORT:")
    assert "'fifty'" in err.message
    with pytest.raises(InvalidArgument):
        config.service_target("inventory")


def test_non_numeric_float_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_GRACE_SECONDS", "soon")
    with pytest.raises(InvalidArgument) as info:
        config.grace_seconds()
    assert [v.field for v in info.value.violations] == ["SHOP_GRACE_SECONDS"]


@pytest.mark.parametrize("name", ["billing", "", "Inventory"])
def test_unknown_service_is_refused(name: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        config.service_config(name)
    assert [v.field for v in info.value.violations] == ["service"]
    assert repr(name) in info.value.message
    with pytest.raises(InvalidArgument):
        config.service_target(name)


@pytest.mark.parametrize("value", ["-1", "65536"])
def test_port_out_of_range_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SHOP_GATEWAY_PORT", value)
    with pytest.raises(InvalidArgument) as exc:
        config.gateway_port()
    assert exc.value.violations[0].field == "SHOP_GATEWAY_PORT"
