"""Accounts and who may see what: users, API keys, the typed `Principal`, signed sessions, CSRF tokens, login limits.

No web framework here: service.auth turns requests into principals with these functions.

Roles: `admin` (everything), `hydrologist` (read everything, review), `akimat` (read, optionally limited to given
basins), and the anonymous reader (published levels only, and only where the `anonymous_read` setting allows it).

- Passwords: argon2id (argon2-cffi), never stored in clear.
- API keys: `tq_<8 hex>_<43 url-safe chars>`; the database keeps the visible prefix `tq_<8 hex>` and the sha256 of
  the whole key; a revoked key (revoked_at set) fails with 401. Sent as `Authorization: Bearer <key>` or
  `X-API-Key: <key>`.
- Sessions: a signed cookie (HMAC-SHA256 with the service secret) naming the user, its expiry and a fingerprint of
  the password hash, so a changed password or a removed or disabled user ends every session at once.
- CSRF: every form carries a token derived (HMAC) from a random per-browser cookie; posts without the matching token
  are refused (double-submit, signed). Cookies are HttpOnly and SameSite=Lax.
- Login attempts: at most `max_failures` failures per (user name, client address) in a sliding window.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from records.db import ROLES, ApiKey, User, utcnow

KEY_PREFIX = "tq_"
SESSION_HOURS = 12
REVIEW_ROLES = ("admin", "hydrologist")
REGION_PREFIX = "region:"

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


class AuthError(ValueError):
    """A user or key operation that cannot be done (unknown user, duplicate name, bad role...)."""


# --- passwords -------------------------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (PHC string with salt and parameters)."""
    if not password:
        raise AuthError("the password must not be empty")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True if `password` matches `password_hash` (never raises for a wrong or malformed hash)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# --- principals ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user (session), an API key, or the anonymous reader."""

    name: str
    role: str  # admin | hydrologist | akimat | anonymous
    basins: frozenset[str] | None = None  # None: every basin; entries "region:<name>" allow a region's basins
    via: str = "anonymous"  # session | key | anonymous
    regions_of: Callable[[str], frozenset[str]] | None = field(default=None, compare=False, repr=False)

    @property
    def authenticated(self) -> bool:
        return self.via != "anonymous"

    @property
    def can_review(self) -> bool:
        return self.role in REVIEW_ROLES

    @property
    def sees_drafts(self) -> bool:
        """Reviewers see draft runs; everybody else only published ones."""
        return self.can_review

    def can_read_basin(self, basin_id: str | None) -> bool:
        """True if unrestricted, if the basin is listed, or if one of its regions is listed as "region:<name>"."""
        if self.basins is None:
            return True
        if basin_id is None:
            return False
        if basin_id in self.basins:
            return True
        wanted = {b[len(REGION_PREFIX) :] for b in self.basins if b.startswith(REGION_PREFIX)}
        return bool(wanted and self.regions_of is not None and wanted & self.regions_of(basin_id))


ANONYMOUS = Principal("anonymous", "anonymous")


def _basins(value: Any) -> frozenset[str] | None:
    if not value:
        return None
    return frozenset(str(b) for b in value)


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


# --- users -----------------------------------------------------------------------------------------------------


def add_user(session: Session, username: str, password: str, role: str, basins: Iterable[str] | None = None) -> User:
    """Create a user with an argon2 password hash. Raises AuthError for a taken name or an unknown role."""
    username = username.strip()
    if not username:
        raise AuthError("the user name must not be empty")
    _check_role(role)
    if session.scalars(select(User).where(User.username == username)).first() is not None:
        raise AuthError(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role, basins=list(basins or []) or None)
    session.add(user)
    session.flush()
    return user


def remove_user(session: Session, username: str) -> None:
    """Delete a user (its sessions end at once). Raises AuthError if there is no such user."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise AuthError(f"no user {username!r}")
    session.delete(user)
    session.flush()


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def authenticate_user(session: Session, username: str, password: str) -> User | None:
    """The user if the name and password match and the user is not disabled, else None.

    A hash is verified even for an unknown name so that the answer time does not reveal which names exist."""
    user = session.scalars(select(User).where(User.username == username.strip())).first()
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return None
    if user.disabled or not verify_password(user.password_hash, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


_DUMMY_HASH = _hasher.hash("not a password " + secrets.token_hex(8))


# --- API keys --------------------------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    """sha256 hex of a key or token (keys are random and long, so a fast hash is enough)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A fresh key and its visible prefix: ("tq_1a2b3c4d_<secret>", "tq_1a2b3c4d")."""
    prefix = KEY_PREFIX + secrets.token_hex(4)
    return f"{prefix}_{secrets.token_urlsafe(32)}", prefix


def create_api_key(session: Session, name: str, role: str, basins: Iterable[str] | None = None) -> tuple[str, ApiKey]:
    """Create a key; returns (the key in clear, shown once; its database row holding only prefix and hash)."""
    _check_role(role)
    token, prefix = new_api_key()
    row = ApiKey(name=name, key_prefix=prefix, key_hash=hash_token(token), role=role, basins=list(basins or []) or None)
    session.add(row)
    session.flush()
    return token, row


def revoke_api_key(session: Session, prefix_or_name: str) -> list[ApiKey]:
    """Revoke the keys whose prefix (or name) is given; returns them. Raises AuthError if none matched."""
    ref = prefix_or_name.strip()
    if ref.startswith(KEY_PREFIX) and ref.count("_") >= 2:
        ref = "_".join(ref.split("_")[:2])  # a whole key was given: use its prefix
    rows = list(
        session.scalars(
            select(ApiKey).where((ApiKey.key_prefix == ref) | (ApiKey.name == ref), ApiKey.revoked_at.is_(None))
        )
    )
    if not rows:
        raise AuthError(f"no active key with prefix or name {prefix_or_name!r}")
    for row in rows:
        row.revoked_at = utcnow()
    session.flush()
    return rows


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def principal_for_key(session: Session, token: str) -> Principal | None:
    """The principal of an API key, or None for an unknown, malformed or revoked key."""
    token = token.strip()
    if not token.startswith(KEY_PREFIX) or token.count("_") < 2:
        return None
    prefix = "_".join(token.split("_")[:2])
    digest = hash_token(token)
    for row in session.scalars(select(ApiKey).where(ApiKey.key_prefix == prefix)):
        if hmac.compare_digest(row.key_hash, digest):
            if row.revoked_at is not None:
                return None
            return Principal(f"key:{row.name}", row.role, _basins(row.basins), "key")
    return None


# --- the service secret and signed values ------------------------------------------------------------------


def load_secret(home_root: Path | None = None, configured: str | None = None) -> bytes:
    """The signing secret: `configured` (setting / $TASQYN_SECRET_KEY), else `<home>/secret_key`, created at
    first use with 32 random bytes and mode 0600."""
    value = configured or os.environ.get("TASQYN_SECRET_KEY")
    if value:
        return value.encode("utf-8")
    if home_root is None:
        return secrets.token_bytes(32)  # an ephemeral secret: sessions end when the process ends
    path = Path(home_root) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(secrets.token_hex(32))
        tmp.chmod(0o600)
        os.replace(tmp, path)
    return path.read_text().strip().encode("utf-8")


def _sign(secret: bytes, payload: str) -> str:
    mac = hmac.new(secret, payload.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:12]


def make_session_cookie(secret: bytes, user: User, hours: float = SESSION_HOURS, now: float | None = None) -> str:
    """A signed session value: `<user id>.<expiry unix s>.<password fingerprint>.<nonce>.<signature>`."""
    expiry = int((now if now is not None else time.time()) + hours * 3600)
    payload = f"{user.id}.{expiry}.{_fingerprint(user.password_hash)}.{secrets.token_hex(6)}"
    return f"{payload}.{_sign(secret, payload)}"


def user_for_session(session: Session, secret: bytes, cookie: str, now: float | None = None) -> User | None:
    """The user a session cookie names, or None if it is forged, expired, or the user changed or went away."""
    parts = cookie.split(".")
    if len(parts) != 5:
        return None
    payload, sig = ".".join(parts[:4]), parts[4]
    if not hmac.compare_digest(_sign(secret, payload), sig):
        return None
    uid, expiry, fp, _ = parts[:4]
    if not uid.isdigit() or not expiry.isdigit() or int(expiry) < (now if now is not None else time.time()):
        return None
    user = session.get(User, int(uid))
    if user is None or user.disabled or not hmac.compare_digest(_fingerprint(user.password_hash), fp):
        return None
    return user


def new_csrf_seed() -> str:
    return secrets.token_urlsafe(18)


def csrf_token(secret: bytes, seed: str) -> str:
    """The form token for a browser's CSRF seed cookie."""
    return _sign(secret, "csrf:" + seed)


def check_csrf(secret: bytes, seed: str | None, token: str | None) -> bool:
    """True if the posted `token` belongs to the browser's seed cookie."""
    if not seed or not token:
        return False
    return hmac.compare_digest(csrf_token(secret, seed), token)


# --- login rate limiting -------------------------------------------------------------------------------------


@dataclass
class LoginLimiter:
    """At most `max_failures` failed logins per (user name, client address) within `window_s` seconds (in memory,
    per process). A success clears the record."""

    max_failures: int = 5
    window_s: float = 900.0
    _fails: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _key(self, username: str, ip: str) -> tuple[str, str]:
        return (username.strip().lower(), ip or "?")

    def retry_after(self, username: str, ip: str, now: float | None = None) -> float:
        """Seconds until another attempt is allowed (0: allowed now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._fails.get(self._key(username, ip))
            if not q:
                return 0.0
            while q and q[0] <= now - self.window_s:
                q.popleft()
            if len(q) < self.max_failures:
                return 0.0
            return max(0.0, q[0] + self.window_s - now)

    def failed(self, username: str, ip: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._fails) > 100_000:  # bound memory under a flood of distinct names
                self._fails.clear()
            self._fails.setdefault(self._key(username, ip), deque()).append(now)

    def succeeded(self, username: str, ip: str) -> None:
        with self._lock:
            self._fails.pop(self._key(username, ip), None)
