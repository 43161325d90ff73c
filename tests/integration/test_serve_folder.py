"""The watched folder end to end: files dropped into var/folder/in are journalled, removed, processed."""

from __future__ import annotations

from pathlib import Path

from .conftest import HubFactory, Partners, wait_for
from .helpers import SAMPLES, contrl, with_ref


def _drop(folder: Path, name: str, data: bytes) -> None:
    """Write under a hidden name, then rename: what a careful writer does."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f".{name}").write_bytes(data)
    (folder / f".{name}").rename(folder / name)


def test_folder_drop_is_journalled_removed_and_processed(hub_factory: HubFactory, tmp_path: Path) -> None:
    # `folder: {}` partners take their folders from hub.toml's [folder] (serve passes its settings on)
    hub = hub_factory(Partners.make(tmp_path), toml='[folder]\nout = "outbound"\n')
    kasbah_out = hub.home / "outbound" / "KASBAH"
    first = (SAMPLES / "iftmin-d96a.edi").read_bytes()
    second = with_ref("iftmin-d96a.edi", "KFL000871", "KFL000872")
    _drop(hub.folder_in("KASBAH"), "instruction.edi", first)  # <in>/<PARTNER>/: the partner is KASBAH
    _drop(hub.folder_in("KASBAH").parent, "unnamed.edi", second)  # <in>/: the partner is found from UNB

    wait_for("the folder to be emptied", lambda: not (hub.folder_in("KASBAH") / "instruction.edi").exists()
             and not (hub.folder_in("KASBAH").parent / "unnamed.edi").exists())
    messages = hub.wait_messages(2)
    assert sorted((m.filename, m.channel, m.partner, m.status) for m in messages) == [
        ("instruction.edi", "folder", "KASBAH", "routed"), ("unnamed.edi", "folder", None, "routed")]
    assert {m.sender for m in messages} == {"KASBAHFWD"}

    # acknowledged back the way they came: KASBAH's out folder
    acks = wait_for("two CONTRLs in KASBAH's out folder",
                    lambda: len(list(kasbah_out.glob("CONTRL_*"))) == 2 and sorted(kasbah_out.glob("CONTRL_*")))
    refs = sorted(contrl(p.read_bytes())["UCI"][0][0] for p in acks)
    assert refs == ["KFL000871", "KFL000872"]
    # and routed to the line's SFTP box
    wait_for("both routed to AML", lambda: sorted(p.name for p in (hub.box("AML") / "out").iterdir())
             == ["instruction.edi", "unnamed.edi"])
