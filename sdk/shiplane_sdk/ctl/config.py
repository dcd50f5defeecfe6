"""Where shiplanectl finds its server and token: flags, then the environment, then a profile.

Profile file (``--config``, ``SHIPLANE_CONFIG``, else ``$XDG_CONFIG_HOME/shiplane/config.yaml``,
default ``~/.config/shiplane/config.yaml``)::

    current: prod                 # the profile used without --profile / SHIPLANE_PROFILE
    profiles:
      prod:
        server: https://shiplane.example.com
        token: eyJ...             # or
        tokenFile: ~/.config/shiplane/prod.token
      dev:
        server: http://127.0.0.1:8080
        tokenEnv: DEV_SHIPLANE_TOKEN   # read the token from this variable
      ci:
        server: https://shiplane.example.com
        clientId: 0b6f...              # a service account (OAuth 2.0 client credentials)
        clientSecretFile: /run/secrets/shiplane   # or clientSecret / clientSecretEnv

Each setting is taken from the first place that has it: a flag (``--server``,
``--token``, ``--token-file``), then ``SHIPLANE_SERVER`` / ``SHIPLANE_TOKEN``, then the
profile. Without a token, a service account's credentials are used the same way
(``--client-id`` / ``--client-secret-file``, ``SHIPLANE_CLIENT_ID`` /
``SHIPLANE_CLIENT_SECRET``, the profile's ``clientId`` and secret): shiplanectl exchanges
them at ``/oauth/token`` for a short-lived token.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    """The configuration is missing or does not parse (exit code 2)."""


@dataclass
class Settings:
    server: str
    token: str | None
    profile: str | None
    timeout: float
    client_id: str | None = None
    client_secret: str | None = None


def config_path(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("SHIPLANE_CONFIG"):
        return Path(os.environ["SHIPLANE_CONFIG"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "shiplane" / "config.yaml"


def load_profile(path: Path, name: str | None) -> tuple[str | None, dict[str, Any]]:
    """(the profile's name, its settings); an empty profile when there is no file and none was asked for."""
    if not path.exists():
        if name:
            raise ConfigError(f"profile {name!r} asked for, but {path} does not exist")
        return None, {}
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: not a mapping")
    profiles = document.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: 'profiles' is not a mapping")
    chosen = name or document.get("current")
    if not chosen:
        return None, {}
    profile = profiles.get(chosen)
    if not isinstance(profile, dict):
        known = ", ".join(sorted(str(p) for p in profiles)) or "none"
        raise ConfigError(f"{path}: no profile {chosen!r} (profiles: {known})")
    return str(chosen), profile


def _token_from_profile(profile: dict[str, Any]) -> str | None:
    if profile.get("token"):
        return str(profile["token"])
    if profile.get("tokenFile"):
        return _read_token_file(str(profile["tokenFile"]))
    if profile.get("tokenEnv"):
        return os.environ.get(str(profile["tokenEnv"])) or None
    return None


def _read_token_file(path: str) -> str:
    try:
        return Path(path).expanduser().read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the token file {path}: {exc}") from None


def resolve(
    *,
    server: str | None,
    token: str | None,
    token_file: str | None,
    profile: str | None,
    config: str | None,
    timeout: float | None,
    client_id: str | None = None,
    client_secret_file: str | None = None,
) -> Settings:
    name, values = load_profile(config_path(config), profile or os.environ.get("SHIPLANE_PROFILE") or None)
    chosen_server = server or os.environ.get("SHIPLANE_SERVER") or values.get("server")
    if not chosen_server:
        raise ConfigError("no server: give --server, set SHIPLANE_SERVER, or add a profile (see shiplanectl --help)")
    chosen_token = token
    if chosen_token is None and token_file:
        chosen_token = _read_token_file(token_file)
    if chosen_token is None:
        chosen_token = os.environ.get("SHIPLANE_TOKEN") or _token_from_profile(values)
    chosen_timeout = timeout if timeout is not None else float(values.get("timeout", 60))
    settings = Settings(str(chosen_server), chosen_token, name, chosen_timeout)
    if chosen_token:
        return settings
    if client_id:
        settings.client_id = client_id
        settings.client_secret = _read_token_file(client_secret_file) if client_secret_file else None
    elif os.environ.get("SHIPLANE_CLIENT_ID"):
        settings.client_id = os.environ["SHIPLANE_CLIENT_ID"]
        settings.client_secret = os.environ.get("SHIPLANE_CLIENT_SECRET")
    elif values.get("clientId"):
        settings.client_id = str(values["clientId"])
        if values.get("clientSecret"):
            settings.client_secret = str(values["clientSecret"])
        elif values.get("clientSecretFile"):
            settings.client_secret = _read_token_file(str(values["clientSecretFile"]))
        elif values.get("clientSecretEnv"):
            settings.client_secret = os.environ.get(str(values["clientSecretEnv"]))
    if settings.client_id and not settings.client_secret:
        raise ConfigError(f"client id {settings.client_id} given without its secret")
    return settings
