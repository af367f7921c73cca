"""Accounts and who may see what: users, API keys, the typed `Principal`, signed sessions, CSRF tokens, login limits.

No web framework here: service.auth turns requests into principals with these functions.

Roles: `admin` (everything), `hydrologist` (read everything, review), `akimat` (read, optionally limited to given
basins), and the anonymous reader (published levels only, and only where the `anonymous_read` setting allows it).

- Passwords: argon2id (argon2-cffi), never stored in clear.
- API keys: `tq_<8 hex>_<43 url-safe chars>`; the database keeps the visible prefix `tq_<8 hex>` and the sha256 of
  the whole key; a revoked key (revoked_at set) fails with 401. Sent as `Authorization: Bearer <key>` or
  `X-API-Key: <key>`.
- Sessions: the cookie carries a random token signed with the service secret (HMAC-SHA256: a forged cookie costs
  no query); the database keeps its sha256, the user, the expiry and a fingerprint of the password hash. Logout
  revokes it on the server (a copied cookie stops working), and a changed password or a removed or disabled user
  ends every session at once.
- CSRF: every form carries a token derived (HMAC) from a random per-browser cookie; posts without the matching token
  are refused (double-submit, signed). Cookies are HttpOnly and SameSite=Lax.
- Login attempts: failures are counted in the database per (user name, address), per address and globally in
  sliding windows (LoginLimiter); an unknown name costs the same password check and counts the same.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import math
import os
import secrets
import threading
import time
from collections import OrderedDict
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
    first use with 32 random bytes. The file is created mode 0600 from its first byte (a temporary file opened
    O_CREAT|O_EXCL with 0600, written, synced, then linked into place: never world-readable, never half-written,
    and when two processes start at once both use the one that was linked first). A failed write leaves nothing.
    An existing secret_key readable by group or others is narrowed to 0600."""
    value = configured or os.environ.get("TASQYN_SECRET_KEY")
    if value:
        return value.encode("utf-8")
    if home_root is None:
        return secrets.token_bytes(32)  # an ephemeral secret: sessions end when the process ends
    path = Path(home_root) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            try:
                os.write(fd, secrets.token_hex(32).encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            with contextlib.suppress(FileExistsError):  # another process linked its own first: that one is used
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    elif path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path.read_text().strip().encode("utf-8")


def _sign(secret: bytes, payload: str) -> str:
    mac = hmac.new(secret, payload.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:12]


def create_session(
    session: Session, secret: bytes, user: User, hours: float = SESSION_HOURS, now: float | None = None
) -> str:
    """Start a login session of `user`; returns the cookie value `<token>.<signature>` (the database keeps the
    token's sha256 only). Expired sessions are deleted on the way. Flushes; the caller commits."""
    from sqlalchemy import delete

    from records.db import UserSession

    now = time.time() if now is None else now
    session.execute(delete(UserSession).where(UserSession.expires_at < now))
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=hash_token(token),
            user_id=user.id,
            password_fp=_fingerprint(user.password_hash),
            expires_at=now + hours * 3600,
        )
    )
    session.flush()
    return f"{token}.{_sign(secret, 'session:' + token)}"


def _session_row(session: Session, secret: bytes, cookie: str) -> Any:
    from records.db import UserSession

    token, _, sig = cookie.rpartition(".")
    if not token or not sig or len(cookie) > 200 or not hmac.compare_digest(_sign(secret, "session:" + token), sig):
        return None  # forged or damaged: no database query
    return session.scalars(select(UserSession).where(UserSession.token_hash == hash_token(token))).first()


def user_for_session(session: Session, secret: bytes, cookie: str, now: float | None = None) -> User | None:
    """The user of a session cookie, or None if it is forged, expired, logged out (revoked on the server: a copy
    of the cookie stops working too), or the user changed password, was disabled or removed."""
    row = _session_row(session, secret, cookie)
    if row is None or row.revoked_at is not None or row.expires_at < (time.time() if now is None else now):
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled or not hmac.compare_digest(_fingerprint(user.password_hash), row.password_fp):
        return None
    return user


def revoke_session(session: Session, secret: bytes, cookie: str) -> bool:
    """End the session of a cookie on the server (logout); True if there was one. Flushes; the caller commits."""
    row = _session_row(session, secret, cookie)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    session.flush()
    return True


def revoke_user_sessions(session: Session, username: str) -> int:
    """End every session of a user (logout everywhere); returns how many were open."""
    from sqlalchemy import update

    from records.db import UserSession

    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise AuthError(f"no user {username!r}")
    n = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount
    session.flush()
    return int(n or 0)


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


@dataclass(frozen=True)
class LoginLimits:
    """How many failed logins are allowed: per (user name, address) and per address within `window_s` seconds,
    and over all addresses within `global_window_s` seconds."""

    per_user: int = 5
    per_address: int = 20
    global_: int = 100
    window_s: float = 900.0
    global_window_s: float = 60.0

    @property
    def keep_s(self) -> float:
        """How long a failure row matters (older rows are deleted)."""
        return max(self.window_s, self.global_window_s)


@dataclass(frozen=True)
class LoginBlock:
    """Why a login attempt is refused before its password is checked, and for how long (seconds)."""

    scope: str  # user | address | global
    retry_after: float


def normalise_username(username: str) -> str:
    """The user name as the limiter counts it: stripped, lower case, at most 128 characters."""
    return username.strip().lower()[:128]


def address_bucket(address: str | None) -> str:
    """The client address as the limiter counts it: IPv4 as is, IPv6 by its /64 network (one host holds a whole
    /64), anything else (a test client, a Unix socket) as given, at most 64 characters."""
    import ipaddress

    a = (address or "?").strip()
    try:
        ip = ipaddress.ip_address(a)
    except ValueError:
        return a[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class LoginLimiter:
    """Failed logins counted in the database (table `login_failures`): shared by every worker process, kept across
    restarts. An attempt is refused (before any password is checked) when the (user, address) pair, the address, or
    all addresses together reached their limit (LoginLimits); an unknown user name counts like a known one.

    Rows older than the longest window are deleted (at most once a minute per process): the table holds at most
    what the limits let through in that time, and an attacker cannot empty it. The process also remembers blocked
    addresses and a global block until they end, so refused attempts of a flood cost no database query.
    Times are unix seconds (`clock`, default time.time)."""

    EXPIRE_EVERY_S = 60.0
    REMEMBER = 10_000  # blocked addresses remembered in memory (least recently blocked forgotten first)

    def __init__(
        self,
        session_factory: Callable[[], Session],
        limits: LoginLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session_factory = session_factory
        self.limits = limits or LoginLimits()
        self.clock = clock
        self._lock = threading.Lock()
        self._blocked: OrderedDict[str, float] = OrderedDict()  # address or "*" (global) -> blocked until
        self._expired_at = -math.inf

    # -- in memory: refusals without a database query ------------------------------------------------------------

    def remembered_block(self, address: str, now: float | None = None) -> LoginBlock | None:
        """A block of this address or a global one that this process already found in the database."""
        now = self.clock() if now is None else now
        addr = address_bucket(address)
        with self._lock:
            for key, scope in (("*", "global"), (addr, "address")):
                until = self._blocked.get(key)
                if until is None:
                    continue
                if until > now:
                    return LoginBlock(scope, until - now)
                del self._blocked[key]
        return None

    def _remember(self, key: str, until: float) -> None:
        with self._lock:
            self._blocked[key] = until
            self._blocked.move_to_end(key)
            while len(self._blocked) > self.REMEMBER:
                self._blocked.popitem(last=False)

    # -- the database ----------------------------------------------------------------------------------------------

    def check(self, username: str, address: str, now: float | None = None) -> LoginBlock | None:
        """The block that refuses this attempt now, or None if its password may be checked."""
        from sqlalchemy import func

        from records.db import LoginFailure

        now = self.clock() if now is None else now
        lim = self.limits
        remembered = self.remembered_block(address, now)
        if remembered is not None:
            return remembered
        user, addr = normalise_username(username), address_bucket(address)
        scopes = (
            ("global", lim.global_, lim.global_window_s, ()),
            ("address", lim.per_address, lim.window_s, (LoginFailure.address == addr,)),
            ("user", lim.per_user, lim.window_s, (LoginFailure.address == addr, LoginFailure.username == user)),
        )
        with self.session_factory() as s:
            for scope, limit, window, where in scopes:
                since = now - window
                n = s.scalar(select(func.count()).select_from(LoginFailure).where(LoginFailure.at > since, *where))
                if not n or n < limit:
                    continue
                # free again when the failure that keeps the count at the limit leaves the window
                oldest = s.scalar(
                    select(LoginFailure.at)
                    .where(LoginFailure.at > since, *where)
                    .order_by(LoginFailure.at)
                    .offset(n - limit)
                    .limit(1)
                )
                wait = max(1.0, (oldest if oldest is not None else now) + window - now)
                if scope != "user":
                    self._remember("*" if scope == "global" else addr, now + wait)
                return LoginBlock(scope, wait)
        return None

    def failed(self, username: str, address: str, now: float | None = None) -> None:
        """Count a failed attempt (committed at once)."""
        from records.db import LoginFailure

        now = self.clock() if now is None else now
        with self.session_factory() as s:
            s.add(LoginFailure(at=now, username=normalise_username(username), address=address_bucket(address)))
            s.commit()
        if now - self._expired_at >= self.EXPIRE_EVERY_S:
            self.expire(now)

    def succeeded(self, username: str, address: str) -> None:
        """Forget the failures of this (user, address) pair (those of the address with other names stay)."""
        from sqlalchemy import delete

        from records.db import LoginFailure

        user, addr = normalise_username(username), address_bucket(address)
        with self.session_factory() as s:
            s.execute(delete(LoginFailure).where(LoginFailure.username == user, LoginFailure.address == addr))
            s.commit()

    def expire(self, now: float | None = None) -> int:
        """Delete the failures older than the longest window; returns how many."""
        from sqlalchemy import delete

        from records.db import LoginFailure

        now = self.clock() if now is None else now
        self._expired_at = now
        with self.session_factory() as s:
            n = s.execute(delete(LoginFailure).where(LoginFailure.at <= now - self.limits.keep_s)).rowcount
            s.commit()
        return int(n or 0)
