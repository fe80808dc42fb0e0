"""Reviewers' decisions on review proposals, kept apart from the pipeline's warehouse.

A reviewer approves, rejects or splits a review proposal (see `decide_clusters`). Decisions
live in their own database, so reviewing and pipeline runs never wait for each other on the
DuckDB warehouse: an embedded SQLite file by default, or any database SQLAlchemy can reach
("postgresql+psycopg://user@host/db"). Lists are stored as JSON text, which every database
can hold.

Each decision records who made it and when. A decision is tied to its proposal by
`ReviewDecision.cluster_key`, a hash of the proposal's sorted record ids: a decided proposal
is not asked again unless its records change. Decisions are never overwritten; a reviewer who
changes their mind records a new decision, and `DecisionStore.decisions` returns the most
recent one per proposal.

Reviewers are known users: `DecisionStore.add_user` stores a username with an Argon2id hash
of the password (``argon2-cffi``), never the password itself, and `DecisionStore.record`
refuses decisions by unknown reviewers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import polars as pl
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import IntegrityError

__all__ = [
    "DECISION_SCHEMA",
    "MIN_PASSWORD_LENGTH",
    "DecisionStore",
    "ReviewAction",
    "ReviewDecision",
    "check_password",
    "make_cluster_key",
]

#: What a reviewer may do with a review proposal.
ReviewAction = Literal["approve", "reject", "split"]

#: One row per recorded decision (`DecisionStore.decisions`).
DECISION_SCHEMA: dict[str, pl.DataType] = {
    "decision_id": pl.Int64(),
    "cluster_key": pl.String(),
    "action": pl.String(),
    "record_ids": pl.List(pl.String()),
    "groups": pl.List(pl.List(pl.String())),
    "survivor_record_id": pl.String(),
    "reviewer": pl.String(),
    "decided_at": pl.Datetime("us", "UTC"),
    "review_cluster_id": pl.String(),
    "note": pl.String(),
    "record_versions": pl.List(
        pl.Struct({"record_id": pl.String(), "record_version": pl.String()})
    ),
}

#: Seconds a SQLite connection waits for another writer before "database is locked".
SQLITE_BUSY_TIMEOUT_SECONDS = 30


def make_cluster_key(record_ids: Iterable[str]) -> str:
    """A stable key for a set of records: the first 16 hex digits of a SHA-256.

    The key depends only on which records are in the set, not on their order, so a review
    proposal gets the same key in every run until its records change.

    Parameters
    ----------
    record_ids
        Record ids of the proposal (``"<source>:<id>"``).

    Returns
    -------
    str
        16 lower-case hex digits.
    """
    payload = json.dumps(sorted(set(record_ids)), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _non_blank(value: str, info: ValidationInfo) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{info.field_name} must not be empty")
    return value


class ReviewDecision(BaseModel):
    """A reviewer's decision on one review proposal.

    Attributes
    ----------
    action
        ``approve`` (merge all records), ``reject`` (merge nothing beyond the automatic
        clusters) or ``split`` (merge within each of ``groups``).
    record_ids
        The records of the proposal the reviewer saw: at least two, no repeats.
    groups
        For ``split`` only: the records grouped into clients; at least two non-empty groups
        that together hold every record of ``record_ids`` exactly once.
    survivor_record_id
        Optional for ``approve`` and ``split``: the record chosen to survive, one of
        ``record_ids``. Not allowed for ``reject``.
    reviewer
        Username of the reviewer.
    decided_at
        When the decision was made; timezone-aware, stored in UTC (default: now).
    review_cluster_id
        The proposal's ``review_cluster_id`` in the run the reviewer saw, for reference.
    note
        Free text from the reviewer.
    record_versions
        The version of each record the reviewer saw (`record_versions`): a later run that
        finds a record changed sets the decision aside and asks again. Without it, the
        decision holds whatever the records say later.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: ReviewAction
    record_ids: list[str]
    groups: list[list[str]] | None = Field(default=None, validate_default=True)
    survivor_record_id: str | None = None
    reviewer: str
    decided_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    review_cluster_id: str | None = None
    note: str | None = None
    record_versions: dict[str, str] | None = None

    _reviewer_not_blank = field_validator("reviewer")(_non_blank)

    @field_validator("record_ids")
    @classmethod
    def _check_record_ids(cls, value: list[str]) -> list[str]:
        if any(not record_id.strip() for record_id in value):
            raise ValueError("record ids must not be empty")
        repeated = sorted({record_id for record_id in value if value.count(record_id) > 1})
        if repeated:
            raise ValueError(f"record ids must be unique; repeated: {', '.join(repeated)}")
        if len(value) < 2:
            raise ValueError(f"a decision needs at least 2 records, got {len(value)}")
        return value

    @field_validator("groups")
    @classmethod
    def _check_groups(
        cls, value: list[list[str]] | None, info: ValidationInfo
    ) -> list[list[str]] | None:
        action = info.data.get("action")
        if action != "split":
            if value is not None and action is not None:
                raise ValueError(f"groups are only allowed for action 'split', not {action!r}")
            return value
        if value is None:
            raise ValueError("action 'split' requires groups (at least two groups of records)")
        if len(value) < 2:
            raise ValueError(f"a split needs at least 2 groups, got {len(value)}")
        if any(not group for group in value):
            raise ValueError("groups must not be empty")
        record_ids = info.data.get("record_ids")
        if record_ids is None:  # record_ids failed validation; that error is reported
            return value
        members = [record_id for group in value for record_id in group]
        repeated = sorted({record_id for record_id in members if members.count(record_id) > 1})
        unknown = sorted(set(members) - set(record_ids))
        missing = sorted(set(record_ids) - set(members))
        problems = []
        if repeated:
            problems.append(f"in more than one group: {', '.join(repeated)}")
        if unknown:
            problems.append(f"not in record_ids: {', '.join(unknown)}")
        if missing:
            problems.append(f"in no group: {', '.join(missing)}")
        if problems:
            raise ValueError(
                "groups must hold every record of record_ids exactly once; " + "; ".join(problems)
            )
        return value

    @field_validator("survivor_record_id")
    @classmethod
    def _check_survivor(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        action = info.data.get("action")
        if action == "reject":
            raise ValueError("a rejected proposal has no survivor; leave survivor_record_id out")
        record_ids = info.data.get("record_ids")
        if record_ids is not None and value not in record_ids:
            raise ValueError(f"survivor {value!r} is not one of record_ids")
        return value

    @field_validator("record_versions")
    @classmethod
    def _check_versions(
        cls, value: dict[str, str] | None, info: ValidationInfo
    ) -> dict[str, str] | None:
        record_ids = info.data.get("record_ids")
        if value is None or record_ids is None:
            return value
        unknown = sorted(set(value) - set(record_ids))
        if unknown:
            raise ValueError(f"versions of records not in record_ids: {', '.join(unknown)}")
        return value

    @field_validator("decided_at")
    @classmethod
    def _check_decided_at(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("decided_at must be timezone-aware (e.g. 2025-01-31T12:00:00Z)")
        return value.astimezone(UTC)

    @property
    def cluster_key(self) -> str:
        """`make_cluster_key` of ``record_ids``: identifies the proposal across runs."""
        return make_cluster_key(self.record_ids)


#: Shortest password a reviewer may have (OWASP's and NIST's minimum).
MIN_PASSWORD_LENGTH = 8

_COMMON_PASSWORDS = frozenset(
    {
        "password", "password1", "12345678", "123456789", "1234567890", "qwertyui",
        "qwerty123", "11111111", "iloveyou", "admin123", "letmein1", "welcome1",
        "passw0rd", "abc12345", "00000000", "87654321", "йцукенгш",
    }
)  # fmt: skip


def check_password(username: str, password: str) -> None:
    """Refuse a password that is too short, common, or the username itself.

    Raises
    ------
    ValueError
        Naming what is wrong with it (never the password).
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if password.casefold() in _COMMON_PASSWORDS or len(set(password)) < 3:
        raise ValueError("password is too common or too simple")
    if password.strip().casefold() == username.strip().casefold():
        raise ValueError("password must not be the username")


_metadata = sa.MetaData()

# BIGINT primary keys are not auto-incremented by SQLite; INTEGER is (it is 64-bit there).
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_users = sa.Table(
    "review_users",
    _metadata,
    sa.Column("user_id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(255), nullable=False, unique=True),
    sa.Column("display_name", sa.String(255), nullable=True),
    sa.Column("password_hash", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

_decisions = sa.Table(
    "review_decisions",
    _metadata,
    sa.Column("decision_id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("cluster_key", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("record_ids", sa.Text(), nullable=False),
    sa.Column("groups", sa.Text(), nullable=True),
    sa.Column("survivor_record_id", sa.Text(), nullable=True),
    sa.Column("reviewer", sa.String(255), sa.ForeignKey("review_users.username"), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("review_cluster_id", sa.Text(), nullable=True),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("record_versions", sa.Text(), nullable=True),
    sa.Index("ix_review_decisions_cluster_key", "cluster_key", "decided_at"),
)


def _as_utc(value: datetime) -> datetime:
    # SQLite keeps no offset: values are written in UTC and come back naive.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None (another backend, memory, URI)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers never block the writer and the writer never blocks readers; the busy
        # timeout makes a second writer wait instead of failing with "database is locked".
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


class DecisionStore:
    """Reviewers and their decisions in a SQL database (SQLAlchemy Core).

    Tables ``review_users`` and ``review_decisions`` are created when missing. For SQLite,
    the parent directory of the file is created, and connections use WAL mode with a busy
    timeout, so a web app and a pipeline run can read and write the same file at once.

    Parameters
    ----------
    url
        A SQLAlchemy database URL, e.g. ``"sqlite:///output/review/decisions.sqlite"``
        (relative to the working directory; four slashes for an absolute path) or
        ``"postgresql+psycopg://reviewer@db.internal/review"`` (its driver must be installed).

    Examples
    --------
    >>> with DecisionStore("sqlite:///:memory:") as store:
    ...     store.add_user("anna", "correct horse battery staple")
    ...     decision_id = store.record(
    ...         ReviewDecision(action="approve", record_ids=["crm:1", "web:7"], reviewer="anna")
    ...     )
    ...     store.decisions().height
    1
    """

    def __init__(self, url: str | URL) -> None:
        parsed = make_url(url)
        sqlite_file = _sqlite_file(parsed)
        if sqlite_file is not None:
            sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        connect_args: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite" and parsed.get_driver_name() == "pysqlite":
            connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_SECONDS
        self._engine = sa.create_engine(parsed, connect_args=connect_args)
        if self._engine.dialect.name == "sqlite":
            sa.event.listen(self._engine, "connect", _on_sqlite_connect)
        self._hasher = PasswordHasher()
        self._dummy_hash: str | None = None
        _metadata.create_all(self._engine)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        # Stores made before a column existed get it (nullable), so old decisions stay.
        present = {c["name"] for c in sa.inspect(self._engine).get_columns("review_decisions")}
        missing = [c for c in _decisions.columns if c.name not in present]
        with self._engine.begin() as connection:
            for column in missing:
                kind = column.type.compile(dialect=self._engine.dialect)
                connection.execute(
                    sa.text(f'ALTER TABLE review_decisions ADD COLUMN "{column.name}" {kind}')
                )

    @classmethod
    def from_path(cls, path: str | Path) -> Self:
        """A store in the SQLite file ``path`` (created with its directory when missing).

        Parameters
        ----------
        path
            The SQLite database file, e.g. ``output/review/decisions.sqlite``.
        """
        return cls(URL.create("sqlite", database=str(Path(path).expanduser().resolve())))

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (e.g. to share its connection pool with a web app)."""
        return self._engine

    @property
    def url(self) -> str:
        """The database URL, with any password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"DecisionStore({self.url!r})"

    # -- decisions ------------------------------------------------------------------------

    def record(self, decision: ReviewDecision) -> int:
        """Store a decision; earlier decisions on the same proposal are kept.

        Parameters
        ----------
        decision
            The reviewer's decision. Its ``reviewer`` must be a known user (`add_user`).

        Returns
        -------
        int
            The new ``decision_id``.

        Raises
        ------
        ValueError
            If the reviewer is not a known user.
        """
        with self._engine.connect() as connection:
            known = connection.execute(
                sa.select(_users.c.user_id).where(_users.c.username == decision.reviewer)
            ).first()
        if known is None:
            raise ValueError(
                f"unknown reviewer {decision.reviewer!r}: add the user to the decision store first"
            )
        values = {
            "cluster_key": decision.cluster_key,
            "action": decision.action,
            "record_ids": json.dumps(decision.record_ids, ensure_ascii=False),
            "groups": (
                None if decision.groups is None else json.dumps(decision.groups, ensure_ascii=False)
            ),
            "survivor_record_id": decision.survivor_record_id,
            "reviewer": decision.reviewer,
            "decided_at": decision.decided_at,
            "review_cluster_id": decision.review_cluster_id,
            "note": decision.note,
            "record_versions": (
                None
                if decision.record_versions is None
                else json.dumps(decision.record_versions, ensure_ascii=False, sort_keys=True)
            ),
        }
        with self._engine.begin() as connection:
            result = connection.execute(_decisions.insert().values(**values))
            primary_key = result.inserted_primary_key
        if primary_key is None or primary_key[0] is None:  # pragma: no cover - every backend
            raise RuntimeError("the database did not return the new decision's id")
        return int(primary_key[0])

    def decisions(self, *, latest_only: bool = True) -> pl.DataFrame:
        """Recorded decisions as a table (`DECISION_SCHEMA`), oldest first.

        Parameters
        ----------
        latest_only
            Keep only the most recent decision per ``cluster_key`` (latest ``decided_at``;
            on a tie, the one recorded last). With False, the full history.

        Returns
        -------
        polars.DataFrame
            One row per decision, ordered by ``decided_at`` and ``decision_id``.
        """
        query = sa.select(*(_decisions.c[name] for name in DECISION_SCHEMA))
        with self._engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        frame = pl.DataFrame(
            [
                {
                    **row,
                    "record_ids": json.loads(row["record_ids"]),
                    "groups": None if row["groups"] is None else json.loads(row["groups"]),
                    "decided_at": _as_utc(row["decided_at"]),
                    "record_versions": (
                        None
                        if row["record_versions"] is None
                        else [
                            {"record_id": record_id, "record_version": version}
                            for record_id, version in json.loads(row["record_versions"]).items()
                        ]
                    ),
                }
                for row in rows
            ],
            schema=DECISION_SCHEMA,
            orient="row",
        )
        # Ordered here, not by the database: SQLite compares timestamps as text.
        frame = frame.sort("decided_at", "decision_id")
        if latest_only:
            frame = frame.unique(subset="cluster_key", keep="last", maintain_order=True)
        return frame

    # -- users ----------------------------------------------------------------------------

    def add_user(self, username: str, password: str, *, display_name: str | None = None) -> None:
        """Add a reviewer; only an Argon2id hash of the password is stored.

        Parameters
        ----------
        username
            Login name, unique in the store (surrounding spaces are removed).
        password
            The password; must not be empty.
        display_name
            Name shown in the review app.

        Raises
        ------
        ValueError
            If the username or password is empty, or the username is taken.
        """
        username = username.strip()
        if not username:
            raise ValueError("username must not be empty")
        check_password(username, password)
        values = {
            "username": username,
            "display_name": display_name,
            "password_hash": self._hasher.hash(password),
            "created_at": datetime.now(UTC),
        }
        try:
            with self._engine.begin() as connection:
                connection.execute(_users.insert().values(**values))
        except IntegrityError as error:
            raise ValueError(f"user {username!r} already exists") from error

    def set_password(self, username: str, password: str) -> None:
        """Replace a reviewer's password (the policy of `check_password` applies).

        Raises
        ------
        ValueError
            If the user does not exist or the password is refused.
        """
        username = username.strip()
        check_password(username, password)
        with self._engine.begin() as connection:
            changed = connection.execute(
                _users.update()
                .where(_users.c.username == username)
                .values(password_hash=self._hasher.hash(password))
            ).rowcount
        if not changed:
            raise ValueError(f"no reviewer {username!r}")

    def verify_user(self, username: str, password: str) -> bool:
        """Whether ``password`` is the password of ``username``.

        Takes about the same time whether or not the user exists, and compares hashes in
        constant time. A hash made with weaker parameters than the current ones is
        upgraded on a successful check.

        Parameters
        ----------
        username
            Login name.
        password
            The password to check.

        Returns
        -------
        bool
            True only for a known user with that password.
        """
        with self._engine.connect() as connection:
            stored = connection.execute(
                sa.select(_users.c.password_hash).where(_users.c.username == username.strip())
            ).scalar_one_or_none()
        if stored is None:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash("not a user")
            self._verify(self._dummy_hash, password)
            return False
        if not self._verify(stored, password):
            return False
        if self._hasher.check_needs_rehash(stored):
            with self._engine.begin() as connection:
                connection.execute(
                    _users.update()
                    .where(_users.c.username == username.strip())
                    .values(password_hash=self._hasher.hash(password))
                )
        return True

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def users(self) -> list[str]:
        """Usernames of all reviewers, sorted."""
        with self._engine.connect() as connection:
            return list(
                connection.execute(sa.select(_users.c.username).order_by(_users.c.username))
                .scalars()
                .all()
            )

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close all connections of the store."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
