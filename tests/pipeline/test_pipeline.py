"""The pipeline from a journalled message to the outbox, on both store backends (no network)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hub.catalog import Catalog
from hub.config import Settings
from hub.delivery import Deliverer, DeliveryFailed
from hub.partners import Partners
from hub.pipeline import Pipeline
from hub.store import Store
from hub.store.work import Delivery

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

PARTNERS = """\
partners:
  - id: AML
    name: Atlas Maghreb Lines
    role: line
    unb_ids: [AMLCAS:ZZZ, AMLTNG:ZZZ]
    folder: {in_dir: in/AML, out_dir: out/AML}
    sends: [CUSCAR, BAPLIE]
    acks: {contrl: always, expect_contrl: true, deadline_minutes: 30}
  - id: DOUANE
    name: Customs
    role: customs
    unb_ids: [DOUANEMA:ZZZ]
    folder: {in_dir: in/DOUANE, out_dir: out/DOUANE}
    sends: [CUSRES]
    acks: {contrl: never, aperak: false, expect_contrl: true, deadline_minutes: 30}
    receives:
      - types: [CUSCAR]
        via: folder
      - types: [CUSCAR]
        as: json
        via: folder
  - id: CT1
    name: Terminal
    role: terminal
    unb_ids: [CT1CAS:ZZZ]
    folder: {in_dir: in/CT1, out_dir: out/CT1}
    receives:
      - types: [BAPLIE]
        when: {call.port: MACAS}
        via: folder
      - types: [BAPLIE]
        when: {call.port: NLRTM}
        via: folder
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog()


def run(store: Store, catalog: Catalog, partners: Partners, settings: Settings, data: bytes, *,
        partner: str | None = "AML", channel: str = "folder", filename: str = "in.edi") -> str:
    entry = store.journal(data, channel=channel, partner=partner, filename=filename)
    pipeline = Pipeline(store, catalog, lambda: partners, settings, worker="w1")
    assert pipeline.run_once() == 1
    return entry.id


def deliveries(store: Store, message_id: str) -> dict[str, Delivery]:
    with store.transaction(write=False) as tx:
        return {d.purpose + "@" + d.partner: d for d in tx.deliveries(message_id=message_id)}


def test_an_accepted_manifest_is_acknowledged_filed_and_routed(store: Store, catalog: Catalog,
                                                                partners: Partners, settings: Settings) -> None:
    data = (SAMPLES / "cuscar-d95b.edi").read_bytes()
    message_id = run(store, catalog, partners, settings, data)
    stored = store.message(message_id, raw=False)
    assert stored is not None and stored.status == "routed"
    assert (stored.sender, stored.control_ref, stored.message_type) == ("AMLCAS", "CUS2511270001", "CUSCAR")
    out = deliveries(store, message_id)
    assert set(out) == {"contrl@AML", "route:1:original@DOUANE", "route:2:json@DOUANE"}
    contrl = out["contrl@AML"]
    assert contrl.channel == "folder" and contrl.target == {"dir": str(settings.home / "out/AML")}
    with store.transaction(write=False) as tx:
        full = {d.purpose: d for d in (tx.delivery(x.id) for x in out.values()) if d}
    assert full["contrl"].payload and b"UCI+CUS2511270001+AMLCAS:ZZZ+" in full["contrl"].payload
    assert b"+7'" in full["contrl"].payload.split(b"UCI+", 1)[1][:60]  # action 7: accepted
    assert full["route:1:original"].payload == data
    assert full["route:1:original"].control_ref == "CUS2511270001"
    assert b'"CUSCAR"' in (full["route:2:json"].payload or b"")
    assert store.dossiers_by(bl="AMLU2511CAS001") or store.counts()["dossiers"] > 0


def test_the_same_interchange_twice_is_answered_as_a_duplicate_and_not_processed(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    data = (SAMPLES / "cuscar-d95b.edi").read_bytes()
    run(store, catalog, partners, settings, data)
    dossiers = store.counts()["dossiers"]
    # The same reference with other bytes (a resend with a new date) is a duplicate too.
    resent = data.replace(b"251127:0815", b"251127:0915")
    for again in (data, resent):
        message_id = run(store, catalog, partners, settings, again)
        stored = store.message(message_id, raw=False)
        assert stored is not None and stored.status == "duplicate"
        out = deliveries(store, message_id)
        assert set(out) == {"contrl@AML"}  # the answer, and no routing
        with store.transaction(write=False) as tx:
            payload = tx.delivery(out["contrl@AML"].id).payload  # type: ignore[union-attr]
        assert b"+DOUANEMA:ZZZ+4+26+" in payload  # rejected, 0085 code 26: duplicate
    assert store.counts()["dossiers"] == dossiers


def test_the_same_interchange_twice_in_one_batch_is_filed_once(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    # One transaction holds the batch's writes until it ends: the second copy must still see the first.
    data = (SAMPLES / "cuscar-d95b.edi").read_bytes()
    resent = data.replace(b"251127:0815", b"251127:0915")
    other = data.replace(b"CUS2511270001", b"CUS2511270009")
    ids = [store.journal(d, channel="folder", partner="AML", filename=f"{n}.edi").id
           for n, d in enumerate((data, resent, other))]
    pipeline = Pipeline(store, catalog, lambda: partners, settings, worker="w1")
    assert pipeline.run_once() == 3
    statuses = [store.message(i, raw=False).status for i in ids]  # type: ignore[union-attr]
    assert statuses == ["routed", "duplicate", "routed"]
    assert set(deliveries(store, ids[1])) == {"contrl@AML"}
    assert set(deliveries(store, ids[2])) == {"contrl@AML", "route:1:original@DOUANE", "route:2:json@DOUANE"}
    # Later, in another batch: a duplicate of the first, found in the store.
    again = run(store, catalog, partners, settings, data)
    assert store.message(again, raw=False).status == "duplicate"  # type: ignore[union-attr]


def test_a_rejected_interchange_gets_its_errors_back_and_is_not_routed(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    message_id = run(store, catalog, partners, settings, (SAMPLES / "invalid/cuscar-too-long.edi").read_bytes())
    stored = store.message(message_id, raw=False)
    assert stored is not None and stored.status == "failed" and "at most 10" in (stored.error or "")
    out = deliveries(store, message_id)
    assert set(out) == {"contrl@AML"}
    assert store.counts()["dossiers"] == 0


def test_an_unknown_sender_and_a_sender_posing_as_another_are_refused(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    data = (SAMPLES / "cuscar-d95b.edi").read_bytes()
    unknown = run(store, catalog, partners, settings, data.replace(b"AMLCAS:ZZZ", b"NOBODY:ZZZ"), partner=None)
    report = store.report(unknown)
    assert report is not None and not report[1]
    assert "unknown-sender" in str(report[0])
    posing = run(store, catalog, partners, settings, data.replace(b"CUS2511270001", b"CUS2511270002"),
                 partner="CT1")
    report = store.report(posing)
    assert report is not None and "sender-not-partner" in str(report[0])
    assert store.counts()["dossiers"] == 0


def test_a_message_type_the_partner_may_not_send_is_refused(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    data = (SAMPLES / "coarri-d95b.edi").read_bytes().replace(b"CT1CAS:ZZZ", b"AMLCAS:ZZZ")
    message_id = run(store, catalog, partners, settings, data)
    report = store.report(message_id)
    assert report is not None and "message-not-allowed" in str(report[0])


def test_routing_follows_the_dossier_fields(store: Store, catalog: Catalog, partners: Partners,
                                            settings: Settings) -> None:
    message_id = run(store, catalog, partners, settings, (SAMPLES / "baplie-smdg22.edi").read_bytes())
    out = deliveries(store, message_id)
    assert "route:1:original@CT1" in out  # the call is at Casablanca
    assert "route:2:original@CT1" not in out


def test_processing_a_message_again_changes_nothing(store: Store, catalog: Catalog, partners: Partners,
                                                    settings: Settings) -> None:
    message_id = run(store, catalog, partners, settings, (SAMPLES / "cuscar-d95b.edi").read_bytes())
    before = (store.counts(), {k: d.id for k, d in deliveries(store, message_id).items()})
    with store.engine.begin() as conn:  # as if a crash had lost the final status (and the restart had
        # released the dead worker's leases and calls: release_leases_of)
        conn.exec_driver_sql("UPDATE messages SET status = 'received', claimed_by = NULL, claimed_until = NULL")
        conn.exec_driver_sql("DELETE FROM call_owners")
    assert Pipeline(store, catalog, lambda: partners, settings, worker="w2").run_once() == 1
    assert (store.counts(), {k: d.id for k, d in deliveries(store, message_id).items()}) == before


def test_a_worker_that_lost_its_lease_writes_nothing(store: Store, catalog: Catalog, partners: Partners,
                                                     settings: Settings) -> None:
    entry = store.journal((SAMPLES / "cuscar-d95b.edi").read_bytes(), channel="folder", partner="AML")
    slow = Pipeline(store, catalog, lambda: partners, settings, worker="slow")
    with store.transaction() as tx:
        assert tx.claim_messages("slow") == [entry.id]
    with store.engine.begin() as conn:  # the lease expired and another worker took the message
        conn.exec_driver_sql("UPDATE messages SET claimed_by = 'other'")
    assert slow.process(entry.id) is None
    stored = store.message(entry.id, raw=False)
    assert stored is not None and stored.status == "received"
    assert store.counts()["dossiers"] == 0


def test_delivery_retries_then_dead_letters_then_replays(store: Store, catalog: Catalog, partners: Partners,
                                                         settings: Settings) -> None:
    message_id = run(store, catalog, partners, settings, (SAMPLES / "cuscar-d95b.edi").read_bytes())
    down = True

    def flaky(d: Delivery, partner: object) -> None:
        if down:
            raise DeliveryFailed("connection refused by the customs gateway")

    quick = replace(settings, delivery_initial_backoff_s=0, delivery_max_backoff_s=0, delivery_max_age_s=3600)
    deliverer = Deliverer(store, lambda: partners, quick, worker="d1", senders={"folder": flaky})
    assert deliverer.run_once() == 3
    with store.transaction(write=False) as tx:
        assert tx.outbox_counts() == {"pending": 3, "delivered": 0, "dead": 0}
        assert {d.last_error for d in tx.deliveries()} == {"connection refused by the customs gateway"}
    expired = replace(quick, delivery_max_age_s=0)
    Deliverer(store, lambda: partners, expired, worker="d1", senders={"folder": flaky}).run_once()
    with store.transaction() as tx:
        dead = tx.deliveries(status="dead")
        assert len(dead) == 3 and all("dead after 2 attempts" in (d.last_error or "") for d in dead)
        for d in dead:
            tx.requeue_delivery(d.id, from_statuses=["dead"], note="replay")
    down = False
    real = Deliverer(store, lambda: partners, quick, worker="d1")
    assert real.run_once() == 3
    with store.transaction(write=False) as tx:
        assert tx.outbox_counts() == {"pending": 0, "delivered": 3, "dead": 0}
        # Customs acknowledges what it receives: the original interchange (not the JSON copy, nor
        # the CONTRL to the line) is now awaited.
        assert [(a["partner"], a["control_ref"]) for a in tx.expected_acks()] == [("DOUANE", "CUS2511270001")]
    acks = list((settings.home / "out/AML").iterdir())
    assert len(acks) == 1 and b"UNB+UNOA:2+PORTNETHUB+AMLCAS:ZZZ" in acks[0].read_bytes()
    routed = sorted(p.name for p in (settings.home / "out/DOUANE").iterdir())
    assert len(routed) == 2 and message_id


def test_a_contrl_from_the_receiver_is_matched_to_what_the_hub_sent(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    from hub.delivery import check_overdue

    run(store, catalog, partners, settings, (SAMPLES / "cuscar-d95b.edi").read_bytes())
    assert Deliverer(store, lambda: partners, settings, worker="d").run_once() == 3
    with store.transaction(write=False) as tx:
        [waiting] = tx.expected_acks()
    # Customs acknowledges the routed interchange (its UNB reference is the line's): CONTRL is not in
    # customs' `sends`, but acknowledgements are always allowed.
    assert (waiting["partner"], waiting["control_ref"], waiting["status"]) == ("DOUANE", "CUS2511270001", "waiting")
    contrl = (b"UNB+UNOA:2+DOUANEMA:ZZZ+PORTNETHUB+251127:0900+DOU0001'UNH+1+CONTRL:D:3:UN'"
              b"UCI+CUS2511270001+AMLCAS:ZZZ+DOUANEMA:ZZZ+7'UNT+3+1'UNZ+1+DOU0001'")
    ack_id = run(store, catalog, partners, settings, contrl, partner="DOUANE")
    stored = store.message(ack_id, raw=False)
    assert stored is not None and stored.status == "routed", store.report(ack_id)
    assert check_overdue(store) == []
    with store.transaction(write=False) as tx:
        [matched] = tx.expected_acks()
    assert matched["status"] == "accepted" and matched["ack_message_id"] == ack_id


APERAK_REJECTS = (b"UNB+UNOA:2+DOUANEMA:ZZZ+PORTNETHUB+251127:0905+DOU0002'UNH+1+APERAK:D:96A:UN'"
                  b"BGM+:::APPLICATION ERROR+APK0001+27+RE'DTM+137:202511270905:203'RFF+ACW:1'"
                  b"RFF+ZZZ:CUS2511270001'NAD+MS+DOUANEMA'NAD+MR+PORTNETHUB'ERC+B12'"
                  b"FTX+AAO+++UNKNOWN CONSIGNEE CODE:SEE ANNEX 4'UNT+10+1'UNZ+1+DOU0002'")


def test_an_aperak_from_the_receiver_is_matched_and_a_later_contrl_does_not_overturn_it(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    run(store, catalog, partners, settings, (SAMPLES / "cuscar-d95b.edi").read_bytes())
    assert Deliverer(store, lambda: partners, settings, worker="d").run_once() == 3
    aperak_id = run(store, catalog, partners, settings, APERAK_REJECTS, partner="DOUANE")
    stored = store.message(aperak_id, raw=False)
    assert stored is not None and stored.status == "routed", store.report(aperak_id)
    assert deliveries(store, aperak_id) == {}  # an APERAK is never answered with another
    with store.transaction(write=False) as tx:
        [matched] = tx.expected_acks()
    assert (matched["control_ref"], matched["status"], matched["ack_message_id"]) == (
        "CUS2511270001", "rejected", aperak_id)
    assert matched["detail"]["application"] == "rejected"
    assert matched["detail"]["errors"] == [["B12", "UNKNOWN CONSIGNEE CODE SEE ANNEX 4"]]
    # The CONTRL that follows says the syntax was fine: the application's rejection stands.
    contrl = (b"UNB+UNOA:2+DOUANEMA:ZZZ+PORTNETHUB+251127:0910+DOU0003'UNH+1+CONTRL:D:3:UN'"
              b"UCI+CUS2511270001+AMLCAS:ZZZ+DOUANEMA:ZZZ+7'UNT+3+1'UNZ+1+DOU0003'")
    contrl_id = run(store, catalog, partners, settings, contrl, partner="DOUANE")
    with store.transaction(write=False) as tx:
        [after] = tx.expected_acks()
    assert (after["status"], after["ack_message_id"]) == ("rejected", aperak_id)
    assert after["detail"]["contrl"] == {"accepted": True, "message_id": contrl_id, "action": "7"}


def test_an_aperak_quoting_nothing_the_hub_sent_changes_nothing(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    run(store, catalog, partners, settings, (SAMPLES / "cuscar-d95b.edi").read_bytes())
    Deliverer(store, lambda: partners, settings, worker="d").run_once()
    stranger = APERAK_REJECTS.replace(b"RFF+ZZZ:CUS2511270001'", b"RFF+ZZZ:SOMETHINGELSE'")
    run(store, catalog, partners, settings, stranger, partner="DOUANE")
    with store.transaction(write=False) as tx:
        [waiting] = tx.expected_acks()
    assert waiting["status"] == "waiting" and waiting["ack_message_id"] is None


def test_an_unanswered_interchange_becomes_overdue(store: Store, catalog: Catalog, partners: Partners,
                                                   settings: Settings) -> None:
    from hub.delivery import check_overdue

    run(store, catalog, partners, settings, (SAMPLES / "cuscar-d95b.edi").read_bytes())
    Deliverer(store, lambda: partners, settings, worker="d").run_once()
    with store.engine.begin() as conn:  # half an hour later
        conn.exec_driver_sql("UPDATE expected_acks SET deadline = created_at")
    [overdue] = check_overdue(store)
    assert overdue["control_ref"] == "CUS2511270001"
    assert check_overdue(store) == []  # flagged once


def test_a_stopping_worker_hands_back_the_messages_it_has_not_begun(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    import threading

    for sample in ("cuscar-d95b.edi", "baplie-smdg22.edi"):
        store.journal((SAMPLES / sample).read_bytes(), channel="folder", partner="AML")
    stop = threading.Event()
    stop.set()
    assert Pipeline(store, catalog, lambda: partners, settings, worker="leaving").run_once(stop=stop) == 0
    # No lease is left behind: another worker takes both at once.
    assert Pipeline(store, catalog, lambda: partners, settings, worker="next").run_once() == 2


def test_one_failing_message_does_not_hold_back_the_rest_of_its_batch(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings,
        caplog: pytest.LogCaptureFixture) -> None:
    """Leased messages are written together in one transaction; when one of them fails there, the
    transaction is dropped and each message is processed alone: the others are routed, the failing
    one stays leased (to be retried when its lease expires) and is logged."""
    from hub.routing.rules import route

    manifest = (SAMPLES / "cuscar-d95b.edi").read_bytes()
    good = [store.journal(manifest.replace(b"CUS2511270001", f"CUS25112700{n:02d}".encode()), channel="folder",
                          partner="AML", filename=f"m{n}.edi").id for n in range(2, 6)]
    bad = store.journal((SAMPLES / "baplie-smdg22.edi").read_bytes(), channel="folder", partner="AML").id

    def router(tx: Any, work: Any, outcomes: Any) -> Any:
        if work.msg.id == bad:
            raise RuntimeError("a routing bug")
        return route(tx, work, outcomes)

    pipeline = Pipeline(store, catalog, lambda: partners, settings, worker="w1", router=router)
    with caplog.at_level(logging.WARNING, logger="hub.pipeline"):
        assert pipeline.run_once(limit=10) == 4
    assert any("one at a time" in r.message for r in caplog.records)
    assert any(r.levelno == logging.ERROR and getattr(r, "message_id", None) == bad for r in caplog.records)
    for message_id in good:
        stored = store.message(message_id, raw=False)
        assert stored is not None and stored.status == "routed"
        assert "route:1:original@DOUANE" in deliveries(store, message_id)
    stored = store.message(bad, raw=False)
    assert stored is not None and stored.status == "received"
    assert deliveries(store, bad) == {}


def test_a_batch_that_meets_a_deadlock_is_written_again_whole(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Two hub processes on PostgreSQL can deadlock on the dossier rows they share: the batch is written
    again, whole (not a message at a time), and the duplicate it holds is reported as such once."""
    import sqlalchemy as sa

    from hub.store.store import Transaction

    class DeadlockDetected(Exception):
        sqlstate = "40P01"

    manifest = (SAMPLES / "cuscar-d95b.edi").read_bytes()
    ids = [store.journal(manifest, channel="folder", partner="AML", filename=f"m{n}.edi").id for n in range(2)]
    ids.append(store.journal((SAMPLES / "baplie-smdg22.edi").read_bytes(), channel="folder", partner="AML").id)
    release = Transaction.release_messages
    failures = [sa.exc.OperationalError("COMMIT", {}, DeadlockDetected("deadlock detected"))]

    def release_or_deadlock(tx: Transaction, message_ids: Any) -> None:
        if failures:
            raise failures.pop()
        release(tx, message_ids)

    monkeypatch.setattr(Transaction, "release_messages", release_or_deadlock)
    pipeline = Pipeline(store, catalog, lambda: partners, settings, worker="w1")
    monkeypatch.setattr(pipeline, "process", lambda _id: pytest.fail("processed one at a time"))
    with caplog.at_level(logging.INFO, logger="hub.pipeline"):
        assert pipeline.run_once(limit=10) == 3
    assert any("writing it again" in r.message for r in caplog.records)
    statuses = [store.message(i, raw=False).status for i in ids]  # type: ignore[union-attr]
    assert sorted(statuses) == ["duplicate", "routed", "routed"]
    duplicate = ids[statuses.index("duplicate")]
    found = store.report(duplicate)
    assert found is not None
    codes = [i["code"] for ic in found[0]["interchanges"] for i in ic["issues"]]
    assert codes.count("duplicate-interchange") == 1, codes


def test_a_message_that_cannot_be_filed_gets_an_aperak_and_the_rest_of_its_batch_is_filed(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Correlation failing for one message of a batch: the others are filed and routed, the sender of
    the failing one gets an APERAK naming the reason, and its message is kept (routed, with the reason)."""
    import hub.pipeline

    manifest = (SAMPLES / "cuscar-d95b.edi").read_bytes()
    ids = [store.journal(manifest.replace(b"CUS2511270001", f"CUS25112700{n:02d}".encode()), channel="folder",
                         partner="AML", filename=f"m{n}.edi").id for n in range(2, 5)]
    unfileable = ids[1]
    real = hub.pipeline.correlate_mapped

    def correlate(tx: Any, entry: Any, *args: Any, **kwargs: Any) -> Any:
        if entry.id == unfileable:
            raise ValueError("the call named by this manifest is closed")
        return real(tx, entry, *args, **kwargs)

    monkeypatch.setattr(hub.pipeline, "correlate_mapped", correlate)
    assert Pipeline(store, catalog, lambda: partners, settings, worker="w1").run_once(limit=10) == 3
    for message_id in ids:
        stored = store.message(message_id, raw=False)
        assert stored is not None and stored.status == "routed"
        out = deliveries(store, message_id)
        assert "route:1:original@DOUANE" in out
        assert any(p.startswith("aperak") for p in out) == (message_id == unfileable), out.keys()
    stored = store.message(unfileable, raw=False)
    assert stored is not None and "the call named by this manifest is closed" in (stored.error or "")
    with store.transaction(write=False) as tx:
        aperak = next(tx.delivery(d.id) for k, d in deliveries(store, unfileable).items() if k.startswith("aperak"))
    assert aperak is not None and aperak.payload and b"APERAK" in aperak.payload
    assert store.counts()["dossiers"] >= 2  # the other two manifests were filed
