"""The ``nginx`` traffic router: A/B weights in an include file of a local nginx.

:meth:`NginxRouter.set_weights` renders the include file (see
:mod:`shiplane_plugin_nginx.render`), replaces it atomically, has nginx test the whole
configuration (``nginx -T``, which also proves the main configuration includes the
file), then reloads nginx and waits until the new workers took over. If any of it
fails, the previous file is put back and :class:`~shiplane_sdk.PluginError` says why.
Changes are serialised per nginx, across threads and processes, with an advisory
``flock`` on its main configuration file (nginx itself takes no such lock): a change's
write, test, reload and restore never interleave with another's, even of another router
of the same nginx. :meth:`NginxRouter.get_weights` reads the weights the file records.

Plain ``def`` methods that block (on nginx, at most ``timeoutSeconds`` for each step):
the core runs them in its thread pool.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shiplane_sdk import ConfigError, PluginError, TrafficRouter

from shiplane_plugin_nginx import control
from shiplane_plugin_nginx.config import CONFIG_SCHEMA, Settings, extra_errors, friendlier
from shiplane_plugin_nginx.render import State, is_ours, new_epoch, read_state, render

__all__ = ["NginxRouter", "bootstrap", "check_weights"]

_SIDES = ("control", "candidate")
_LOCK_POLL_SECONDS = 0.05


def check_weights(weights: Any) -> tuple[int, int]:
    """``(control, candidate)`` of ``weights``; :class:`PluginError` unless they are two integer percentages
    summing to 100, keyed ``control`` and ``candidate``."""
    if not isinstance(weights, dict) or set(weights) != set(_SIDES):
        raise PluginError("weights must have exactly the keys control and candidate")
    values = [weights["control"], weights["candidate"]]
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 100 for v in values):
        raise PluginError("weights must be whole percentages from 0 to 100")
    if sum(values) != 100:
        raise PluginError(f"weights must sum to 100, not {sum(values)}")
    return values[0], values[1]


class NginxRouter(TrafficRouter):
    """Split traffic between two upstreams of a local nginx, with sticky cookies and header routing."""

    id = "nginx"
    display_name = "nginx"
    description = (
        "Splits an nginx location's traffic between the control and candidate servers by weight, keeps each "
        "client on its side with a cookie, and can send requests carrying a header to the candidate. Writes "
        "one include file, tests it with nginx -T and reloads nginx."
    )
    config_schema = CONFIG_SCHEMA

    def validate_config(self, config: Any) -> list[ConfigError]:
        errors = friendlier(super().validate_config(config))
        return errors + extra_errors(config)

    def settings(self, config: dict[str, Any]) -> Settings:
        """The settings of ``config``; :class:`PluginError` naming the first problems if it is invalid."""
        errors = self.validate_config(config)
        if errors:
            described = "; ".join(f"{error.field or 'config'}: {error.message}" for error in errors[:3])
            raise PluginError(f"the nginx router's configuration is invalid ({described})")
        return Settings.from_config(config)

    def get_weights(self, config: dict[str, Any]) -> dict[str, int]:
        """The weights the include file records (what nginx was last reloaded with)."""
        settings = self.settings(config)
        return _current_state(settings).weights

    def set_weights(self, config: dict[str, Any], weights: dict[str, int]) -> None:
        """Write, test and load the include file for ``weights``; return once nginx serves with them."""
        control_weight, candidate_weight = check_weights(weights)
        settings = self.settings(config)
        path = Path(settings.include_file)
        with _locked(settings):
            previous = _read(path)
            if previous is not None and not is_ours(previous.decode("utf-8", "replace")):
                raise PluginError(
                    f"{path} exists and was not written by the nginx router: move it away or choose another includeFile"
                )
            previous_state = read_state(previous.decode("utf-8", "replace")) if previous is not None else None
            # A cookie is valid for one split: keep the epoch while the split goes on, start a new one otherwise.
            if previous_state is not None and previous_state.splitting and previous_state.name == settings.name:
                epoch = previous_state.epoch
            else:
                epoch = new_epoch()
            state = State(name=settings.name, control=control_weight, candidate=candidate_weight, epoch=epoch)
            _write_atomically(path, render(settings, state).encode("utf-8"), previous_mode=_mode(path))
            try:
                _apply(settings, path)
            except BaseException as failure:
                try:
                    _restore(path, previous)
                except PluginError as restore_failure:
                    reason = failure.message if isinstance(failure, PluginError) else type(failure).__name__
                    raise PluginError(
                        f"{reason}; and the previous include file could not be put back: {restore_failure.message}"
                    ) from failure
                raise


def bootstrap(config: dict[str, Any]) -> bool:
    """Write the include file with all traffic on the control side if it does not exist yet, without
    testing or reloading nginx (which can't start before the file exists). True if it was written."""
    router = NginxRouter()
    settings = router.settings(config)
    path = Path(settings.include_file)
    with _locked(settings):
        if path.exists():
            return False
        state = State(name=settings.name, control=100, candidate=0, epoch=new_epoch())
        _write_atomically(path, render(settings, state).encode("utf-8"), previous_mode=None)
        return True


def _current_state(settings: Settings) -> State:
    path = Path(settings.include_file)
    content = _read(path)
    if content is None:
        raise PluginError(f"the include file {path} does not exist: set weights first")
    state = read_state(content.decode("utf-8", "replace"))
    if state is None:
        raise PluginError(f"{path} records no weights: it was not written by the nginx router")
    if state.name != settings.name:
        raise PluginError(f"{path} belongs to the router named {state.name}, not {settings.name}")
    return state


def _apply(settings: Settings, path: Path) -> None:
    """Have nginx test the configuration with the new file, then reload it (PluginError if either fails)."""
    result = control.test_config(settings.nginx_binary, settings.main_config, settings.prefix, settings.timeout)
    if not result.ok:
        raise PluginError(f"nginx refused the configuration: {result.reason}", details={"reason": result.reason})
    if os.path.realpath(path) not in result.files:
        raise PluginError(
            f"nginx's configuration {settings.main_config} does not include {path}: "
            f"add 'include {path};' to its http block"
        )
    control.reload(settings.pid_file, settings.timeout)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise PluginError(f"the include file {path} is a directory") from None
    except OSError as exc:
        raise PluginError(f"could not read {path}: {exc.strerror or exc}") from None


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def _write_atomically(path: Path, content: bytes, previous_mode: int | None) -> None:
    """Replace ``path`` by ``content``: a temporary file in the same directory, synced, then renamed."""
    directory = path.parent
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise PluginError(f"could not write in {directory}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, previous_mode if previous_mode is not None else 0o644)
        os.replace(temporary, path)
    except OSError as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise PluginError(f"could not write {path}: {exc.strerror or exc}") from None
    _sync_directory(directory)


def _sync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _restore(path: Path, previous: bytes | None) -> None:
    """Put the previous include file back (remove the new one if there was none)."""
    if previous is None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        _sync_directory(path.parent)
    else:
        _write_atomically(path, previous, previous_mode=_mode(path))


@contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """Hold the lock of the nginx: an flock on its main configuration, waiting at most twice ``timeoutSeconds``
    (a change takes at most that: ``nginx -T``, then the reload)."""
    main_config = settings.main_config
    try:
        descriptor = os.open(main_config, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise PluginError(f"could not open nginx's configuration {main_config}: {exc.strerror or exc}") from None
    try:
        patience = 2 * settings.timeout
        deadline = time.monotonic() + patience
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise PluginError(f"could not lock {main_config}: {exc.strerror or exc}") from None
                if time.monotonic() >= deadline:
                    raise PluginError(
                        f"another change of this nginx is still in progress after {patience:g} s"
                    ) from None
                time.sleep(_LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(descriptor)
