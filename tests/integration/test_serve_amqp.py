"""AMQP intake and delivery end to end: a terminal publishes with pika to a running `hub serve`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from .conftest import AmqpHelper, HubFactory, Partners, wait_for
from .helpers import SAMPLES, contrl


def test_amqp_message_is_acknowledged_on_reply_to_routed_and_filed(amqp: AmqpHelper, hub_factory: HubFactory,
                                                                  tmp_path: Path) -> None:
    partners = Partners.make(tmp_path, amqp=True)
    q = partners.queues
    amqp.forget_after(q["ct1_in"], q["ct1_in"] + ".dead")
    aml_out = amqp.declare(q["aml_out"])
    reply_to = amqp.declare(f"it-{partners.tag}.ct1.replies")
    hub = hub_factory(partners, amqp=True)
    wait_for("the hub to declare CT1's queues", lambda: amqp.exists(q["ct1_in"] + ".dead") and amqp.exists(q["ct1_in"]))
    wait_for("the hub's AMQP consumer", lambda: hub.health()["amqp"] == "connected")

    data = (SAMPLES / "coarri-d95b.edi").read_bytes()
    amqp.publish(q["ct1_in"], data, reply_to=reply_to, correlation_id="coarri-458", message_id="CT1-458",
                 content_type="application/edifact")

    # the CONTRL comes back on reply_to (acks.contrl: always)
    props, body = amqp.get(reply_to)
    answer = contrl(body)
    assert answer["UCI"][0][0] == "CT10000458" and answer["UCI"][0][3] == "7"
    assert props.headers["x-hub-kind"] == "contrl"

    # the original is routed to the line's deliver queue (published with confirms, persistent)
    props, body = amqp.get(aml_out)
    assert body == data
    assert props.delivery_mode == 2 and props.headers["x-hub-kind"] == "original"

    # without reply_to, the CONTRL goes to the partner's ack routing key
    ack_queue = amqp.declare(q["ct1_ack"])
    amqp.publish(q["ct1_in"], (SAMPLES / "codeco-d95b.edi").read_bytes(), message_id="CT1-1207")
    _, body = amqp.get(ack_queue)
    assert contrl(body)["UCI"][0][0] == "CT10001207"

    messages = hub.wait_messages(2)
    assert [(m.partner, m.channel, m.status) for m in messages] == [("CT1", "amqp", "routed")] * 2
    assert messages[0].meta["reply_to"] == reply_to and messages[0].meta["amqp_message_id"] == "CT1-458"
    with hub.store() as store:
        found = store.dossiers_by(container="AMLU4571202", kind="consignment")
    assert len(found) == 1 and "AMLTNG0004512" in json.dumps(found[0])


def test_amqp_poison_message_is_dead_lettered_with_a_reason(amqp: AmqpHelper, hub_factory: HubFactory,
                                                          tmp_path: Path) -> None:
    partners = Partners.make(tmp_path, amqp=True)
    q = partners.queues
    amqp.forget_after(q["ct1_in"], q["ct1_in"] + ".dead")
    hub = hub_factory(partners, amqp=True)
    wait_for("the hub to declare CT1's queues", lambda: amqp.exists(q["ct1_in"] + ".dead") and amqp.exists(q["ct1_in"]))
    wait_for("the hub's AMQP consumer", lambda: hub.health()["amqp"] == "connected")
    amqp.publish(q["ct1_in"], b"", message_id="empty-1")

    props, body = amqp.get(q["ct1_in"] + ".dead")
    assert body == b""
    assert props.headers["x-hub-reason"] == "empty message body"
    assert props.headers["x-hub-original-queue"] == q["ct1_in"]
    assert props.message_id == "empty-1"
    assert hub.messages() == []  # nothing journalled
    assert amqp.count(q["ct1_in"]) == 0


def test_unroutable_delivery_goes_dead_then_replays(amqp: AmqpHelper, hub_factory: HubFactory,
                                                    tmp_path: Path) -> None:
    late_queue = f"it-{uuid.uuid4().hex[:8]}.hub.to-late"
    partners = Partners.make(tmp_path, amqp=True, extra=f"""\
  - id: LATE
    name: A partner whose queue does not exist yet
    amqp:
      deliver_routing_key: {late_queue}
    receives:
      - types: [IFTMIN]
        via: amqp
""")
    amqp.forget_after(partners.queues["ct1_in"], partners.queues["ct1_in"] + ".dead", late_queue)
    hub = hub_factory(partners, amqp=True, toml="max_age_s = 1\n")  # under [delivery]
    drop = hub.folder_in("KASBAH")
    drop.mkdir(parents=True, exist_ok=True)
    (drop / ".iftmin.edi").write_bytes((SAMPLES / "iftmin-d96a.edi").read_bytes())
    (drop / ".iftmin.edi").rename(drop / "iftmin.edi")

    def dead() -> list[dict[str, object]]:
        out = hub.cli("outbox", "dead", "--format", "json").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def dead_in_store() -> bool:
        with hub.store() as store, store.transaction(write=False) as tx:
            return bool(tx.deliveries(status="dead", limit=10))

    wait_for("the delivery to LATE to be dead-lettered", dead_in_store, timeout=20, interval=0.2)
    rows = dead()
    assert [r["partner"] for r in rows] == ["LATE"]
    assert "unroutable" in str(rows[0]["last_error"]) and late_queue in str(rows[0]["last_error"])
    assert int(str(rows[0]["attempts"])) >= 1
    text = hub.cli("outbox", "dead").stdout
    assert "LATE" in text and "unroutable" in text

    amqp.declare(late_queue)
    replay = hub.cli("outbox", "replay", "--all-dead")
    assert f"{rows[0]['id']}: queued for delivery now" in replay.stdout
    props, body = amqp.get(late_queue)
    assert body == (SAMPLES / "iftmin-d96a.edi").read_bytes()
    assert props.message_id == rows[0]["id"]
    wait_for("the delivery to be marked delivered", lambda: not dead_in_store(), interval=0.2)
