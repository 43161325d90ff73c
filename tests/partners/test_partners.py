"""partners.yaml: the model, every kind of problem with its line, secrets, lookups and passwords."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.config import Settings
from hub.edifact.validator import Options
from hub.partners import (
    Partner,
    Partners,
    PartnersError,
    ReceiveRule,
    SftpChannel,
    UnbId,
    hash_password,
    load_partners,
    verify_password,
)
from hub.report import Severity
from tests.partners.helpers import REPO, ed25519_public_key, rsa_public_key, write

KEY = ed25519_public_key()


def load(tmp_path: Path, text: str, **kw: object) -> Partners:
    return load_partners(write(tmp_path / "partners.yaml", text), **kw)  # type: ignore[arg-type]


def problems(tmp_path: Path, text: str, **kw: object) -> list[str]:
    with pytest.raises(PartnersError) as err:
        load(tmp_path, text, **kw)
    return err.value.problems


# ---- the example file ---------------------------------------------------------------------------


def test_the_example_partners_yaml_loads() -> None:
    ps = load_partners(REPO / "partners.yaml")
    assert [p.id for p in ps] == ["AML", "CT1", "DOUANE", "KASBAH", "ONSSA"]
    assert ps.warnings == ()
    aml = ps.get("AML")
    assert aml is not None and aml.role == "line" and aml.sftp is not None
    assert aml.unb_ids == (UnbId("AMLTNG", "ZZZ"), UnbId("AMLCAS", "ZZZ"))
    assert aml.sftp.max_file_size == 50_000_000 and aml.sftp.username == "AML"
    assert aml.acks.contrl == "always" and aml.acks.expect_contrl and aml.acks.deadline_minutes == 30
    assert aml.may_send("BAPLIE", "D95B", "SMDG22") and not aml.may_send("BAPLIE", "D95B", "SMDG20")
    assert aml.may_send("CUSCAR", "D95B") and not aml.may_send("COARRI", "D95B")
    coarri = aml.receives[0]
    assert coarri.types == ("COARRI", "CODECO") and coarri.senders == ("CT1",) and coarri.via == "sftp"
    assert dict(coarri.when) == {"call.port": ("MACAS",)} and coarri.output == "original"
    ct1 = ps.get("CT1")
    assert ct1 is not None and ct1.amqp is not None and ct1.amqp.deliver_routing_key == "hub.to-ct1"
    assert ct1.validator_options() == Options(lowercase_under_unoa=Severity.WARNING)
    assert ps.get("DOUANE").validator_options() == Options()  # type: ignore[union-attr]
    kasbah = ps.get("KASBAH")
    assert kasbah is not None and kasbah.may_send("IFTMIN", "D96A") and not kasbah.may_send("IFTMIN", "D01B")
    assert dict(kasbah.receives[0].when) == {"consignment.forwarder": ("$self",)}
    onssa = ps.get("ONSSA")
    assert onssa is not None and onssa.folder is not None
    assert onssa.folder.in_dir == REPO / "var" / "folder" / "in" / "ONSSA"
    assert ps.queues() == ("ct1.to-hub", "customs.to-hub")
    assert len(ps.routes()) == 6


def test_defaults_of_a_minimal_partner(tmp_path: Path) -> None:
    ps = load(tmp_path, """
        partners:
          - id: MAEU
            unb_ids: [MAEU]
    """, settings=Settings.defaults(tmp_path).__class__(home=tmp_path, ack_deadline_minutes=45))
    p = ps.get("MAEU")
    assert p == Partner(id="MAEU", name="MAEU", unb_ids=(UnbId("MAEU"),), acks=p.acks)  # type: ignore[union-attr]
    assert p is not None and p.role == "other" and not p.suspended and p.sends == ()
    assert (p.acks.contrl, p.acks.aperak, p.acks.channel, p.acks.expect_contrl) == ("when_requested", True, "same",
                                                                                     False)
    assert p.acks.deadline_minutes == 45  # from hub.toml's [acks] deadline_minutes
    assert p.acks.wants_contrl(True) and not p.acks.wants_contrl(False)
    assert p.strictness.unoa_lowercase == "error" and p.may_send("ANYTHING")


# ---- problems, each with its line ----------------------------------------------------------------


def test_unknown_keys_with_did_you_mean_and_their_lines(tmp_path: Path) -> None:
    found = problems(tmp_path, """
        partners:
          - id: MAEU
            unb_ids: [MAEU:ZZZ]
            suspendd: true
            sftp:
              public_key: []
    """)
    assert found == [
        f"{tmp_path}/partners.yaml:4: partner MAEU: suspendd: unknown key (did you mean 'suspended'?); "
        "a partner takes id, name, role, unb_ids, xml_ids, party_ids, sftp, amqp, folder, sends, strictness, acks, "
        "receives, suspended",
        f"{tmp_path}/partners.yaml:6: partner MAEU: sftp.public_key: unknown key (did you mean 'public_keys'?); "
        "sftp takes username, public_keys, password_hash_env, password_hash_file, max_file_size, "
        "max_uploads_per_minute, push",
    ]


def test_a_bad_public_key_is_reported_at_its_line(tmp_path: Path) -> None:
    found = problems(tmp_path, f"""
        partners:
          - id: MAEU
            sftp:
              public_keys:
                - {KEY}
                - ssh-ed25519
                - {rsa_public_key(1024)}
                - ssh-foo AAAA
    """)
    assert found == [
        f"{tmp_path}/partners.yaml:6: partner MAEU: sftp.public_keys[1]: not an OpenSSH public key "
        "(expected 'ssh-ed25519 AAAA...', one line of a .pub file)",
        f"{tmp_path}/partners.yaml:7: partner MAEU: sftp.public_keys[2]: an RSA key of 1024 bits is too weak "
        "(at least 2048)",
        f"{tmp_path}/partners.yaml:8: partner MAEU: sftp.public_keys[3]: key type 'ssh-foo' is not supported "
        "(use ssh-ed25519, ecdsa-sha2-nistp256 or ssh-rsa of at least 2048 bits)",
    ]


def test_every_problem_of_the_file_at_once_in_line_order(tmp_path: Path) -> None:
    found = problems(tmp_path, """
        partners:
          - id: MAEU
            role: carrier
            unb_ids: ["MAEU:TOOLONG", 5790000000000]
            sends: ["BAPLIE SMDG22"]
            acks:
              contrl: sometimes
              deadline_minutes: 0
          - name: no id here
            unb_ids: [X]
          - id: CMA CGM
          - id: HLC
            unb_ids: [HLC]
            amqp:
              queues: [hlc.in]
              deliver_routing_key: hub to hlc
            receives:
              - types: [BAPLIE, "*"]
                from: [MAEU, NOBODY]
                when:
                  call.prot: MAPTM
                  message.function: $other
                as: pdf
                via: folder
    """)
    lines = [int(re.match(r".*?:(\d+):", p)[1]) for p in found]  # type: ignore[index]
    assert lines == sorted(lines)
    text = "\n".join(found)
    expected = [
        ":3: partner MAEU: role: 'carrier' is not one of port, terminal, line, agent, forwarder, customs, health, "
        "authority, other",
        ":4: partner MAEU: unb_ids[0]: 'MAEU:TOOLONG': the qualifier after ':' must be 1 to 4 letters or digits",
        ":4: partner MAEU: unb_ids[1]: expected an interchange id such as 'MAEU:ZZZ' (in quotes if it is all "
        "digits), got 5790000000000",
        ":5: partner MAEU: sends[0]: 'BAPLIE SMDG22' is not valid: expected a message type",
        ":7: partner MAEU: acks.contrl: 'sometimes' is not one of always, when_requested, never",
        ":8: partner MAEU: acks.deadline_minutes: expected a whole number of at least 1, got 0",
        ":9: partners[1]: id: missing (expected 1 to 32 letters",
        ":11: partners[2]: id: 'CMA CGM' is not valid",
        ":16: partner HLC: amqp.deliver_routing_key: 'hub to hlc' is not valid",
        ":18: partner HLC: receives[0].types: \"*\" means any type: give it alone or list the types",
        ":19: partner HLC: receives[0].from: no partner 'NOBODY' in this file",
        ":21: partner HLC: receives[0].when.call.prot: not a field a rule can test (did you mean 'call.port'?)",
        ":22: partner HLC: receives[0].when.message.function: '$other': the only variable is $self",
        ":23: partner HLC: receives[0].as: 'pdf' is not one of cusres, iftsta, json, original",
        ":24: partner HLC: receives[0].via: 'folder': the partner has no such channel (folder needs a folder: "
        "section); it has none",
    ]
    for piece in expected:
        assert piece in text, f"{piece!r} not in:\n{text}"
    assert len(found) == len(expected), text


def test_yaml_syntax_errors_and_duplicate_keys_have_a_line(tmp_path: Path) -> None:
    assert problems(tmp_path, "partners:\n  - id: A\n    name: [unclosed\n") [0].startswith(
        f"{tmp_path}/partners.yaml:4: not valid YAML")
    found = problems(tmp_path, "partners:\n  - id: A\n    name: x\n    name: y\n")
    assert len(found) == 1 and re.match(rf"{tmp_path}/partners.yaml:\d: not valid YAML: .*duplicate", found[0])


def test_wrong_shapes(tmp_path: Path) -> None:
    assert problems(tmp_path, "- id: A\n") == [f"{tmp_path}/partners.yaml:1: expected a mapping with a "
                                               "'partners:' list at the top"]
    found = problems(tmp_path, "partner:\n  - id: A\n")
    assert found == [f"{tmp_path}/partners.yaml:1: partner: unknown top-level key (did you mean 'partners'?); "
                     "the file holds one key, partners: (the list of partners)"]
    found = problems(tmp_path, "partners:\n  - id: A\n    sftp: [a]\n    unb_ids: {a: 1}\n")
    assert any(":3: partner A: sftp: expected a mapping" in p for p in found)
    assert any(":4: partner A: unb_ids: expected a list, got a mapping" in p for p in found)


def test_duplicate_identifiers_across_partners(tmp_path: Path) -> None:
    found = problems(tmp_path, f"""
        partners:
          - id: MAEU
            unb_ids: [MAEU:ZZZ, SAFM]
            sftp: {{public_keys: ["{KEY}"]}}
            amqp: {{queues: [shared.in], deliver_routing_key: a}}
          - id: maeu
            unb_ids: [MAEU:ZZZ]
          - id: SAF
            unb_ids: ["SAFM:ZZZ"]
            sftp: {{username: MAEU, public_keys: ["{ed25519_public_key()}"]}}
            amqp: {{queues: [shared.in], deliver_routing_key: b}}
    """)
    text = "\n".join(found)
    assert ":6: partner maeu: id 'maeu' is already partner MAEU's" in text
    assert ":6: partner maeu: UNB id 'MAEU:ZZZ' is already partner MAEU's" in text
    assert ":8: partner SAF: SFTP username 'MAEU' is already partner MAEU's" in text
    assert ":8: partner SAF: AMQP queue 'shared.in' is already partner MAEU's" in text
    assert ":8: partner SAF: UNB id 'SAFM:ZZZ' is also matched by partner MAEU's 'SAFM'" in text
    assert len(found) == 5, text


def test_a_partner_without_a_way_in_or_out(tmp_path: Path) -> None:
    found = problems(tmp_path, """
        partners:
          - id: A
            sftp: {}
            receives:
              - types: "*"
    """)
    assert found[0].endswith(":3: partner A: sftp: the partner cannot log in: give public_keys, password_hash_env "
                             "or password_hash_file (or push, to deliver to the partner's own server)")
    assert ":5: partner A: receives[0]: the partner has no channel to deliver on" in found[1]


# ---- secrets --------------------------------------------------------------------------------------


def test_password_hash_from_the_environment(tmp_path: Path) -> None:
    stored = hash_password("correct horse battery")
    ps = load(tmp_path, """
        partners:
          - id: A
            sftp:
              password_hash_env: HUB_TEST_HASH_A
    """, environ={"HUB_TEST_HASH_A": stored})
    sftp = ps.get("A").sftp  # type: ignore[union-attr]
    assert sftp is not None and sftp.password_hash == stored and sftp.public_keys == ()
    assert verify_password(sftp.password_hash, "correct horse battery")
    assert stored not in repr(sftp)  # never in logs by accident


def test_password_hash_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secrets" / "a.hash"
    secret.parent.mkdir()
    secret.write_text(hash_password("another long password") + "\n")
    secret.chmod(0o600)
    ps = load(tmp_path, """
        partners:
          - id: A
            sftp:
              password_hash_file: secrets/a.hash
    """)
    sftp = ps.get("A").sftp  # type: ignore[union-attr]
    assert sftp is not None and verify_password(sftp.password_hash or "", "another long password")
    assert secret in ps.sources and ps.warnings == ()
    secret.chmod(0o644)
    warned = load_partners(tmp_path / "partners.yaml")
    assert any("can be read by other users" in w for w in warned.warnings)


def test_inline_secrets_are_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, """
        partners:
          - id: A
            sftp:
              password: hunter2
              password_hash: scrypt$16384$8$1$aaaa$bbbb
              push:
                host: sftp.a.example
                known_hosts: kh
                password: hunter2
    """)
    text = "\n".join(found)
    assert ":4: partner A: sftp.password: never write a password or its hash in partners.yaml" in text
    assert ":5: partner A: sftp.password_hash: never write a password or its hash in partners.yaml" in text
    assert ":8: partner A: sftp.push.known_hosts:" in text and "no such file" in text
    assert ":9: partner A: sftp.push.password: never write a password in partners.yaml" in text
    assert "hunter2" not in text


def test_missing_or_bad_secrets(tmp_path: Path) -> None:
    found = problems(tmp_path, """
        partners:
          - id: A
            sftp:
              password_hash_env: HUB_TEST_UNSET
          - id: B
            sftp:
              password_hash_env: HUB_TEST_NOT_A_HASH
          - id: C
            sftp:
              password_hash_file: nowhere.hash
          - id: D
            sftp:
              password_hash_env: HUB_TEST_NOT_A_HASH
              password_hash_file: nowhere.hash
    """, environ={"HUB_TEST_NOT_A_HASH": "plain text password"})
    text = "\n".join(found)
    assert ":4: partner A: sftp.password_hash_env: the environment variable HUB_TEST_UNSET is not set" in text
    assert ":7: partner B: sftp.password_hash_env: does not hold a password hash made by `hub partner " in text
    assert ":10: partner C: sftp.password_hash_file: " in text and "nowhere.hash: no such file" in text
    assert ":14: partner D: sftp.password_hash_file: " in text
    assert "plain text password" not in text


def test_push_resolves_its_files_and_password(tmp_path: Path) -> None:
    (tmp_path / "kh").write_text("sftp.a.example ssh-ed25519 AAAA\n")
    ps = load(tmp_path, """
        partners:
          - id: A
            sftp:
              push:
                host: sftp.a.example
                known_hosts: kh
                password_env: HUB_TEST_PUSH
                remote_dir: /inbox
            receives:
              - types: [BAPLIE]
    """, environ={"HUB_TEST_PUSH": "s3cret"})
    a = ps.get("A")
    assert a is not None and a.sftp is not None and a.sftp.push is not None
    push = a.sftp.push
    assert (push.host, push.port, push.username, push.remote_dir) == ("sftp.a.example", 22, "A", "/inbox")
    assert push.known_hosts == tmp_path / "kh" and push.password == "s3cret" and "s3cret" not in repr(push)
    assert a.channels() == ("sftp-push",) and a.receives[0].via == "sftp-push"  # the first channel


# ---- lookups --------------------------------------------------------------------------------------


@pytest.fixture()
def partners(tmp_path: Path) -> Partners:
    return load(tmp_path, f"""
        partners:
          - id: MAEU
            unb_ids: [MAEU:ZZZ, "5790000000000:14"]
            xml_ids: [MAEU-XML]
            party_ids: [MAEU, Maersk  Line]
            sftp:
              username: maersk
              public_keys: ["{KEY}"]
            amqp:
              queues: [maeu.in, maeu.in2]
              deliver_routing_key: hub.to-maeu
          - id: CT1
            unb_ids: [CT1]
            amqp:
              queues: [ct1.in]
              deliver_routing_key: hub.to-ct1
            suspended: true
    """)


def test_lookups(partners: Partners) -> None:
    maeu, ct1 = partners.get("MAEU"), partners.get("CT1")
    assert maeu is not None and ct1 is not None and partners.get("maeu") is None
    assert partners.all() == (maeu, ct1) and len(partners) == 2
    assert partners.by_unb("MAEU", "ZZZ") is maeu
    assert partners.by_unb("MAEU") is None and partners.by_unb("MAEU", "1") is None  # declared with ZZZ only
    assert partners.by_unb("5790000000000", "14") is maeu
    assert partners.by_unb("CT1") is ct1 and partners.by_unb("CT1", "ZZZ") is ct1  # declared without: any
    assert partners.by_xml_id("MAEU-XML") is maeu and partners.by_xml_id("maeu-xml") is None
    assert partners.by_party_id("maersk line") is maeu and partners.by_party_id("MAERSK") is None
    assert partners.by_sftp_user("maersk") is maeu and partners.by_sftp_user("MAEU") is None
    assert partners.by_queue("maeu.in2") is maeu and partners.by_queue("ct1.in") is ct1  # suspended: still found
    assert partners.queues() == ("maeu.in", "maeu.in2")  # but its queue is not consumed
    assert partners.routes() == ()


def test_partners_built_in_code_refuse_duplicates() -> None:
    a = Partner(id="A", name="A", unb_ids=(UnbId("X"),))
    b = Partner(id="B", name="B", unb_ids=(UnbId("X"),), sftp=SftpChannel(username="A"))
    with pytest.raises(PartnersError, match="UNB id 'X' is already partner A's"):
        Partners([a, b])
    assert Partners([a]).by_unb("X", "ZZZ") is a


def test_rules_match_types_and_senders() -> None:
    rule = ReceiveRule(types=("BAPLIE",), senders=("MAEU",))
    assert rule.accepts_type("baplie") and not rule.accepts_type("COARRI")
    assert rule.accepts_sender("MAEU") and not rule.accepts_sender("CT1") and not rule.accepts_sender(None)
    anything = ReceiveRule()
    assert anything.accepts_type("wco-dec") and anything.accepts_sender(None)
    hash(anything)  # frozen records stay hashable


def test_unb_id_parse() -> None:
    assert UnbId.parse("MAEU:ZZZ") == UnbId("MAEU", "ZZZ") and str(UnbId("MAEU", "ZZZ")) == "MAEU:ZZZ"
    assert UnbId.parse("PORT NET") == UnbId("PORT NET")
    for bad in ("", ":ZZZ", "A:", "A:ZZZZZ", "A+B", "x" * 36):
        with pytest.raises(ValueError):
            UnbId.parse(bad)


# ---- passwords ------------------------------------------------------------------------------------


def test_password_hashes() -> None:
    stored = hash_password("a long enough password")
    assert stored.startswith("scrypt$16384$8$1$") and len(stored.split("$")) == 6
    assert stored != hash_password("a long enough password")  # salted
    assert verify_password(stored, "a long enough password")
    assert not verify_password(stored, "a long enough passwore")
    for broken in ("", "plain", "scrypt$16384$8$1$!!$!!", "scrypt$3$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==",
                   stored.replace("$16384$", "$1073741824$"), "bcrypt$x"):
        assert not verify_password(broken, "a long enough password")
