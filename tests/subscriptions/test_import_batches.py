"""An import of many batches, on SQLite and PostgreSQL (``db_url``).

On PostgreSQL two batches are written at once on two connections, each one's
look-ups and new rows beside the batch before it, the rest in file order. The
file here is cut into batches of four, so that what one batch does meets what
the next does: a subscriber updated in one and another in the next (each
update raises the statistics' shared stamp), variants of one mailbox in
neighbouring batches (only the first gets a mail), a failure half-way. The
result must be what one batch at a time writes.
"""

from __future__ import annotations

import csv
import gc
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.models import ConsentRecord, MailboxLimit, Subscriber, Subscription
from outreach.settings import Settings
from outreach.subscriptions import ConfirmationMail, RecordingMailer, csv_import, import_csv
from outreach.subscriptions.bulk import IMPORT_GC_THRESHOLD, fewer_collections
from outreach.suppression import SuppressionReason, add


def write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(["Sähköposti", "Yritys", "Kieli", "Aiheet"])
        writer.writerows(rows)
    return path


def rows(n: int, company: str = "Firma") -> list[list[str]]:
    return [[f"user{i}@firma{i}.fi", f"{company} {i} Oy", "suomi", "Ilmastotyö"] for i in range(n)]


def state(engine: Engine) -> dict[str, object]:
    with Session(engine) as s:
        people: dict[str, str | None] = {}
        for email, name in s.execute(select(Subscriber.email, Subscriber.company_name)):
            people[email] = name
        return {
            "people": people,
            "subscriptions": s.scalar(select(func.count()).select_from(Subscription)),
            "records": s.scalar(select(func.count()).select_from(ConsentRecord)),
            "mailboxes": s.scalar(select(func.count()).select_from(MailboxLimit)),
        }


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_import, "BATCH", 4)
    monkeypatch.setattr(csv_import, "SQLITE_BATCH", 4)


@pytest.mark.usefixtures("small_batches")
def test_batches_side_by_side_write_what_one_at_a_time_writes(
    db_engine: Engine, settings: Settings, config: Config, tmp_path: Path
) -> None:
    with Session(db_engine) as s:
        add(s, settings, "user5@firma5.fi", SuppressionReason.COMPLAINT, "test")
        s.commit()
    first = rows(30)
    # variants of one mailbox in three neighbouring batches: only the first is mailed
    variants = ["anna+a@gmail.com", "an.na@gmail.com", "anna@gmail.com"]
    first[9][0], first[13][0], first[17][0] = variants
    mailer = RecordingMailer()
    report = import_csv(db_engine, settings, config, write(tmp_path / "a.csv", first), "vantaa",
                        mailer=mailer)  # fmt: skip
    assert (report.imported, report.updated, report.unchanged) == (29, 0, 0)
    assert [note.line for note in report.skipped] == [7]  # the suppressed address
    mailed = [mail.to for mail in mailer.sent]
    assert len(mailed) == report.mailed == 27
    assert "anna+a@gmail.com" in mailed
    assert "an.na@gmail.com" not in mailed and "anna@gmail.com" not in mailed
    assert mailed == sorted(mailed, key=lambda to: [r[0] for r in first].index(to))  # file order
    after_first = state(db_engine)
    assert after_first["subscriptions"] == after_first["records"] == 29

    # again, with new names in every batch: each batch updates subscribers
    second = rows(30, company="Uusi")
    second[9][0], second[13][0], second[17][0] = first[9][0], first[13][0], first[17][0]
    report = import_csv(db_engine, settings, config, write(tmp_path / "b.csv", second), "vantaa",
                        mailer=mailer)  # fmt: skip
    assert (report.imported, report.updated, report.unchanged) == (0, 29, 0)
    after_second = state(db_engine)
    assert after_second["subscriptions"] == after_second["records"] == 29
    people = after_second["people"]
    assert isinstance(people, dict)
    assert people["user0@firma0.fi"] == "Uusi 0 Oy" and people["user29@firma29.fi"] == "Uusi 29 Oy"
    assert "user5@firma5.fi" not in people


@pytest.mark.usefixtures("small_batches")
def test_a_failed_batch_keeps_the_batches_before_it_and_none_after_it(
    db_engine: Engine, settings: Settings, config: Config, tmp_path: Path
) -> None:
    def mailer(mail: ConfirmationMail) -> None:
        if mail.to == "user13@firma13.fi":  # the fourth batch: rows 12-15
            raise RuntimeError("the mailer broke")

    path = write(tmp_path / "a.csv", rows(40))
    with pytest.raises(RuntimeError, match="the mailer broke"):
        import_csv(db_engine, settings, config, path, "vantaa", mailer=mailer)
    found = state(db_engine)
    assert found["people"] == {f"user{i}@firma{i}.fi": f"Firma {i} Oy" for i in range(12)}
    assert found["subscriptions"] == found["records"] == found["mailboxes"] == 12

    # the same file again goes on from there
    report = import_csv(db_engine, settings, config, path, "vantaa", mailer=RecordingMailer())
    assert (report.imported, report.unchanged) == (28, 12)
    assert state(db_engine)["subscriptions"] == 40


def test_the_collector_is_held_back_while_an_import_runs_and_put_back_after(
    db_engine: Engine, settings: Settings, config: Config, tmp_path: Path
) -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []

    def mailer(mail: ConfirmationMail) -> None:
        seen.append(gc.get_threshold())

    with fewer_collections():  # a concurrent import, still running when this one ends
        import_csv(db_engine, settings, config, write(tmp_path / "a.csv", rows(3)), "vantaa",
                   mailer=mailer)  # fmt: skip
        assert gc.get_threshold()[0] == IMPORT_GC_THRESHOLD
    assert seen == [(IMPORT_GC_THRESHOLD, *before[1:])] * 3
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
