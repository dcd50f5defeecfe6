"""What a repository ``url`` may be, and what kind of repository it names.

Accepted: an absolute local path (``/srv/git/app.git``), ``file:///absolute/path``,
``https://host[:port]/path`` and ``ssh://[user@]host[:port]/path``, and the scp-like
``[user@]host:path``. Everything else is refused with a message that never quotes the
url (it could hold a password): relative paths, option-looking values (``-x``), plain
``http://``, ``git://``, transport helpers (``ext::...``) and urls carrying credentials.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

RepoKind = Literal["local", "file", "https", "ssh"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_TRANSPORT_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
# "user:password@" before the first "/": credentials, in any url form.
_USERINFO_WITH_PASSWORD = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://)?[^/@]*:[^/@]*@")
# git's scp-like syntax: [user@]host:path, with no "/" before the first ":".
_SCP = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:\[\]]+|\[[0-9A-Fa-f:.]+\]):(?P<path>.*)$")
_HOST = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")

CREDENTIALS_IN_URL = (
    "url must not contain credentials: put the user name in username and the password or token in password "
    "(https), or use privateKey (ssh)"
)
FORMS = "an absolute path, file:///absolute/path, https://host/path, ssh://[user@]host/path or [user@]host:path"


class UrlError(ValueError):
    """A url that is not accepted; the message never quotes the url."""


@dataclass(frozen=True)
class RepoUrl:
    """A checked repository url."""

    url: str
    kind: RepoKind
    #: For https: ``https://host[:port]``, the only place the credentials are given to.
    origin: str | None = None

    @property
    def is_local(self) -> bool:
        """A path on this host, read with ``git for-each-ref`` (not ``file://``)."""
        return self.kind == "local"

    @property
    def uses_ssh(self) -> bool:
        return self.kind == "ssh"


def parse_url(url: str) -> RepoUrl:
    """The :class:`RepoUrl` of ``url``, or :class:`UrlError` saying what is wrong."""
    if not url:
        raise UrlError("url is empty")
    if _CONTROL.search(url) or url != url.strip():
        raise UrlError("url must not contain control characters or leading or trailing whitespace")
    if url.startswith("-"):
        raise UrlError("url must not start with '-' (git would read it as an option)")
    if url.startswith("/"):
        return RepoUrl(url=url, kind="local")
    if _USERINFO_WITH_PASSWORD.match(url):
        raise UrlError(CREDENTIALS_IN_URL)
    scheme_match = _SCHEME.match(url)
    if scheme_match:
        return _parse_scheme_url(url, scheme_match.group(1).lower())
    if _TRANSPORT_HELPER.match(url):
        raise UrlError(f"git transport helpers (<transport>::<address>) are not supported; url must be {FORMS}")
    scp = _SCP.match(url)
    if scp:
        user, host, path = scp.group("user"), scp.group("host"), scp.group("path")
        if user is not None and not _USER.match(user):
            raise UrlError("the user name in an scp-like url ([user@]host:path) is not valid")
        if not _HOST.match(host):
            raise UrlError("the host in an scp-like url ([user@]host:path) is not a valid host name")
        if not path or path.startswith(("-", ":")):
            raise UrlError("an scp-like url ([user@]host:path) needs a path that does not start with '-' or ':'")
        return RepoUrl(url=url, kind="ssh")
    raise UrlError(f"url must be {FORMS} (a relative path is not allowed)")


def _parse_scheme_url(url: str, scheme: str) -> RepoUrl:
    if scheme == "file":
        if not url[len("file://") :].startswith("/"):
            raise UrlError("a file url must be file:///absolute/path (no host)")
        return RepoUrl(url=url, kind="file")
    if scheme == "http":
        raise UrlError("plain http:// is not supported (credentials and refs would travel unencrypted): use https://")
    if scheme not in ("https", "ssh"):
        raise UrlError(f"url scheme {scheme!r} is not supported; url must be {FORMS}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlError(f"url is not a valid {scheme}:// url (host or port)") from None
    netloc = parts.netloc
    userinfo, _, hostport = netloc.rpartition("@")
    if scheme == "https" and "@" in netloc:
        raise UrlError(CREDENTIALS_IN_URL)
    if userinfo and (":" in userinfo or not _USER.match(userinfo)):
        raise UrlError(CREDENTIALS_IN_URL if ":" in userinfo else "the user name in the ssh url is not valid")
    host = hostport.rsplit(":", 1)[0] if port is not None or hostport.endswith(":") else hostport
    if not host or not _HOST.match(host):
        raise UrlError(f"url is not a valid {scheme}:// url: the host name is missing or not valid")
    if parts.path in ("", "/"):
        raise UrlError(f"url is not a valid {scheme}:// url: the repository path is missing")
    if parts.fragment or "#" in url:
        raise UrlError("url must not have a fragment (#...)")
    origin = f"https://{hostport.lower()}" if scheme == "https" else None
    return RepoUrl(url=url, kind="https" if scheme == "https" else "ssh", origin=origin)


def repository_name(url: str) -> str:
    """A short name for the repository: the last path segment without ``.git``."""
    tail = re.split(r"[/:]", url.rstrip("/"))[-1]
    if tail.endswith(".git") and len(tail) > len(".git"):
        tail = tail[: -len(".git")]
    return tail or url
