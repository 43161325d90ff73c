"""The specs in mappings/ compile against their directories, and a broken spec is refused with a
message naming the rule, without ever replacing a working version of itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.catalog import Catalog, default_catalog
from hub.edifact.directory import Directory
from hub.mapping import targets
from hub.mapping.registry import MappingRegistry
from hub.mapping.spec import MappingError, compile_spec
from tests.corpus import ROOT

MAPPINGS = ROOT / "mappings"
SPEC_FILES = sorted(p.name for p in MAPPINGS.glob("*.yaml"))

# What each message type must be mapped to, at the least: which specs exist for which directories
# and guides. A spec that disappears or loses a directory fails here, not silently at run time.
EXPECTED_SPECS = {
    "baplie-smdg2.yaml": ("BAPLIE", ["D95B"], ["SMDG20", "SMDG21", "SMDG22"]),
    "baplie-smdg3.yaml": ("BAPLIE", ["D13B"], ["SMDG30", "SMDG31"]),
    "cuscar-d95b.yaml": ("CUSCAR", ["D95B"], []),
    "cuscar-d03b.yaml": ("CUSCAR", ["D03B"], []),
    "iftmin-d96a.yaml": ("IFTMIN", ["D96A"], []),
    "iftmin-d99b.yaml": ("IFTMIN", ["D99B", "D00B", "D01B", "D03B"], []),
    "coarri-d95b.yaml": ("COARRI", ["D95B", "D96A"], []),
    "coarri-d00b.yaml": ("COARRI", ["D00B", "D01B", "D03B"], []),
    "codeco-d95b.yaml": ("CODECO", ["D95B", "D96A"], []),
    "codeco-d00b.yaml": ("CODECO", ["D00B", "D01B", "D03B"], []),
    "coparn-d95b.yaml": ("COPARN", ["D95B", "D96A"], []),
    "coparn-d00b.yaml": ("COPARN", ["D00B", "D01B", "D03B"], []),
    "iftsta-d95b.yaml": ("IFTSTA", ["D95B", "D96A"], []),
    "iftsta-d00b.yaml": ("IFTSTA", ["D99B", "D00B"], []),
    "cusres-d95b.yaml": ("CUSRES", ["D95B", "D96A"], []),
}


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((MAPPINGS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{name} is not a YAML mapping"
    return data


def _dirs(data: dict[str, Any]) -> dict[str, Directory]:
    cat = default_catalog()
    return {d: found for d in data.get("directories") or () if (found := cat.directory(str(d)))}


def _compile(data: dict[str, Any]) -> Any:
    return compile_spec(data, _dirs(data))


# --- the specs in service ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry() -> MappingRegistry:
    raw = {name: _load(name) for name in SPEC_FILES}
    return MappingRegistry().update(raw, lambda d: default_catalog().directory(d))



@pytest.mark.parametrize("name", SPEC_FILES)
def test_every_spec_compiles(name: str) -> None:
    data = _load(name)
    try:
        spec = _compile(data)
    except MappingError as e:  # pragma: no cover - the failure message is the point
        pytest.fail(f"{name} is refused:\n  " + "\n  ".join(e.problems))
    assert spec.name == name.removesuffix(".yaml"), "the spec's name should be its file name"
    assert spec.rules


def test_catalog_loads_every_spec_without_problems() -> None:
    loaded = Catalog(mappings_root=MAPPINGS).mappings()
    assert loaded.problems == {}
    assert sorted(loaded.specs) == SPEC_FILES


def test_expected_specs_are_there() -> None:
    assert set(EXPECTED_SPECS) <= set(SPEC_FILES)
    for name, (message, directories, guides) in EXPECTED_SPECS.items():
        spec = _compile(_load(name))
        assert spec.message == message, name
        assert list(spec.directories) == directories, name
        assert list(spec.guides) == guides, name


def test_every_mapped_message_says_its_kind() -> None:
    """Correlation reads message.kind; every spec sets it (from BGM, usually as a constant)."""
    for name in SPEC_FILES:
        text = (MAPPINGS / name).read_text(encoding="utf-8")
        assert "message.kind" in text, f"{name} does not set message.kind"


@pytest.mark.parametrize(("message", "directory", "guide", "expected"), [
    ("BAPLIE", "D95B", "SMDG22", "baplie-smdg2"),
    ("BAPLIE", "D95B", "SMDG20", "baplie-smdg2"),
    ("BAPLIE", "D13B", "SMDG31", "baplie-smdg3"),
    ("BAPLIE", "D13B", "SMDG30", "baplie-smdg3"),
    ("BAPLIE", "D95B", None, None),  # a bayplan without its SMDG association code is not guessed at
    ("CUSCAR", "D95B", None, "cuscar-d95b"),
    ("CUSCAR", "D03B", None, "cuscar-d03b"),
    ("IFTMIN", "D96A", "EAN004", "iftmin-d96a"),
    ("IFTMIN", "D01B", None, "iftmin-d99b"),
    ("COARRI", "D95B", "ITG13", "coarri-d95b"),
    ("COARRI", "D00B", "SMDG20", "coarri-d00b"),
    ("CODECO", "D00B", "SMDG21", "codeco-d00b"),
    ("COPARN", "D00B", "SMDG20", "coparn-d00b"),
    ("IFTSTA", "D00B", None, "iftsta-d00b"),
    ("CUSRES", "D96A", None, "cusres-d95b"),
    ("COARRI", "D23A", None, None),
])
def test_selection(registry: MappingRegistry, message: str, directory: str, guide: str | None,
                   expected: str | None) -> None:
    spec = registry.select("edifact", message, directory, guide)
    assert (spec.name if spec else None) == expected


# --- broken specs are refused, with the rule named ------------------------------------------------------

GOOD = {
    "mapping": "test-baplie",
    "message": "BAPLIE",
    "directories": ["D95B"],
    "guides": ["SMDG22"],
    "rules": [
        {"at": "BGM", "set": {"message.kind": {"const": "bayplan"}, "message.number": 2}},
        {"each": "SG1", "rules": [
            {"at": "TDT", "where": {"1": "20"}, "set": {"call.voyage_in": {"from": 2, "as": "voyage"}}},
            {"at": "LOC", "where": {"1": "61"}, "set": {"call.port": {"from": "2.1", "as": "locode"}}},
        ]},
        {"each": "SG2", "into": "stowage[]", "rules": [
            {"at": "LOC", "where": {"1": "147"}, "set": {"cell": "2.1"}},
            {"each": "SG3", "rules": [{"at": "EQD", "set": {"equipment": {"from": "2.1", "as": "container"}}}]},
        ]},
    ],
}


def _broken(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """GOOD with the item at `path` (keys and list indexes) replaced by `value`."""
    import copy

    data = copy.deepcopy(GOOD)
    node: Any = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return data


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(MappingError) as err:
        _compile(data)
    assert err.value.name == data["mapping"]
    return err.value.problems


def test_good_spec_compiles() -> None:
    spec = _compile(GOOD)
    assert spec.matches("edifact", "BAPLIE", "D95B", "SMDG22")
    assert not spec.matches("edifact", "BAPLIE", "D95B", "SMDG31")


def test_segment_in_the_wrong_group_is_refused() -> None:
    # TDT belongs to SG1 of BAPLIE D95B, not to SG2.
    problems = _problems(_broken(("rules", 2, "rules", 0), {"at": "TDT", "set": {"cell": "2.1"}}))
    assert problems == ["rules[2].rules[0]: 'TDT': segment TDT is not in segment group 2 of D95B"]


def test_group_that_is_not_there_is_refused() -> None:
    problems = _problems(_broken(("rules", 2, "rules", 1, "each"), "SG7"))
    assert problems[0] == "rules[2].rules[1]: 'SG7': segment group SG7 is not inside segment group 2 in D95B"
    # The rules inside are still checked (against the group around): everything wrong is listed at once.
    assert problems[1:] == ["rules[2].rules[1].rules[0]: 'EQD': segment EQD is not in segment group 2 of D95B"]


def test_unknown_target_is_refused() -> None:
    problems = _problems(_broken(("rules", 1, "rules", 0, "set"), {"call.vessel_colour": "8.4"}))
    assert len(problems) == 1
    assert problems[0].startswith("rules[1].rules[0]: 'call.vessel_colour' is not a field of the mapped message")


def test_target_of_another_record_is_refused() -> None:
    # Inside `each ... into: stowage[]` the targets are the stowage record's fields, not call.*.
    problems = _problems(_broken(("rules", 2, "rules", 0, "set"), {"call.port": "2.1"}))
    assert problems[0].startswith("rules[2].rules[0]: 'call.port' is not a field")


def test_bad_positions_are_refused() -> None:
    too_far = _problems(_broken(("rules", 1, "rules", 0, "set"), {"call.vessel_name": "8.9"}))
    assert too_far == ["rules[1].rules[0]: TDT element 8 (C222) has 5 component(s) in D95B, not 9"]
    no_element = _problems(_broken(("rules", 1, "rules", 1, "where"), {"12": "61"}))
    assert no_element == ["rules[1].rules[1]: LOC has 5 elements in D95B, not 12"]
    malformed = _problems(_broken(("rules", 0, "set"), {"message.number": "2-1"}))
    assert malformed == ["rules[0]: position '2-1' must look like '2' or '2.1'"]


def test_every_problem_is_listed_not_only_the_first() -> None:
    data = _broken(("rules", 1, "rules", 0, "set"), {"call.vessel_colour": "8.4", "call.port": "8.9"})
    data["rules"].append({"at": "XYZ", "set": {"message.number": 2}})
    problems = _problems(data)
    assert len(problems) == 3
    assert {p.split(":")[0] for p in problems} == {"rules[1].rules[0]", "rules[3]"}


def test_unknown_conversion_and_missing_source_are_refused() -> None:
    problems = _problems(_broken(("rules", 0, "set"), {"message.number": {"from": 2, "as": "roman"},
                                                      "message.kind": {"codes": {"1": "x"}}}))
    assert any("conversion 'roman' is not one of" in p for p in problems)
    assert any("a value needs 'from', 'join' or 'const'" in p for p in problems)


def test_directory_without_the_message_is_refused() -> None:
    data = dict(GOOD, message="BERMAN", directories=["D95B"])
    assert _problems(data) == ["message BERMAN is not in directory D95B"]


def test_a_spec_listing_several_directories_is_checked_in_each() -> None:
    # IFTSTA's status group is numbered differently in D01B: the D00B paths are refused there.
    data = _load("iftsta-d00b.yaml")
    data["directories"] = ["D99B", "D00B", "D01B"]
    problems = _problems(data)
    assert problems and all("of D01B" in p for p in problems)
    assert "rules[6].rules[5]: 'SG5/SG6/SG7/LOC': segment LOC is not in segment group 7 of D01B" in problems


def test_every_target_path_in_targets_py_is_typed() -> None:
    """The vocabulary the specs write into: a record list is a dict, a field a type name."""
    assert targets.lookup("consignments[].equipment[].gross_weight") == targets.NUMBER
    assert isinstance(targets.lookup("consignments[].equipment[]"), dict)
    assert targets.lookup("call.vessel_colour") is None


# --- a broken edit never replaces a working spec ----------------------------------------------------


def _dir(name: str) -> Directory | None:
    return default_catalog().directory(name)


def test_registry_keeps_the_working_version_of_a_broken_spec() -> None:
    first = MappingRegistry().update({"bp.yaml": GOOD}, _dir)
    assert first.problems == {}
    working = first.specs["bp.yaml"]

    broken = _broken(("rules", 2, "rules", 0), {"at": "TDT", "set": {"cell": "2.1"}})
    second = first.update({"bp.yaml": broken}, _dir)
    assert second.specs["bp.yaml"] is working  # still in service, unchanged
    assert second.problems == {"bp.yaml": ["rules[2].rules[0]: 'TDT': segment TDT is not in segment group 2 "
                                           "of D95B"]}
    assert second.select("edifact", "BAPLIE", "D95B", "SMDG22") is working

    fixed = dict(GOOD, description="fixed")
    third = second.update({"bp.yaml": fixed}, _dir)
    assert third.problems == {}
    assert third.specs["bp.yaml"] is not working and third.specs["bp.yaml"].description == "fixed"


def test_a_new_broken_spec_is_not_in_service() -> None:
    reg = MappingRegistry().update({"new.yaml": _broken(("directories",), ["D99Z"])}, _dir)
    assert reg.specs == {}
    assert reg.problems == {"new.yaml": ["directory D99Z is not available"]}


def test_a_removed_spec_leaves_service() -> None:
    reg = MappingRegistry().update({"bp.yaml": GOOD}, _dir).update({}, _dir)
    assert reg.specs == {} and reg.problems == {}


def test_catalog_reload_keeps_the_old_spec_when_the_file_breaks(tmp_path: Path) -> None:
    """The administrator's path: edit the file, reload; a refused edit leaves the old spec serving."""
    spec_file = tmp_path / "test-baplie.yaml"
    spec_file.write_text(yaml.safe_dump(GOOD, sort_keys=False), encoding="utf-8")
    catalog = Catalog(mappings_root=tmp_path)
    working = catalog.mappings().specs["test-baplie.yaml"]

    bad = _broken(("rules", 1, "rules", 0, "set"), {"call.vessel_colour": "8.4"})
    spec_file.write_text(yaml.safe_dump(bad, sort_keys=False), encoding="utf-8")
    reg = catalog.mappings(reload=True)
    assert reg.specs["test-baplie.yaml"] is working
    assert "call.vessel_colour" in reg.problems["test-baplie.yaml"][0]

    spec_file.write_text("mapping: test-baplie\nrules: [unclosed\n", encoding="utf-8")  # not even YAML
    reg = catalog.mappings(reload=True)
    assert reg.specs["test-baplie.yaml"] is working
    assert reg.problems["test-baplie.yaml"]

    spec_file.write_text(yaml.safe_dump(GOOD, sort_keys=False), encoding="utf-8")
    reg = catalog.mappings(reload=True)
    assert reg.problems == {} and reg.specs["test-baplie.yaml"] is not working
