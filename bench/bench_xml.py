"""Benchmark: the hub's XML validation against lxml's bare XSD validation, same bytes, same process.

    .venv/bin/python bench/bench_xml.py                  # the sample declaration and a 999-item one
    .venv/bin/python bench/bench_xml.py --items 200 --repeat 9 --xmlschema

The input is a WCO DMS 2 import declaration: `samples/xml/wco-declaration-import.xml` as it is (two
goods items, 5.6 kB), then the same declaration with its goods items repeated up to `--items` (999
is the most the schema allows). The baseline is what any careful caller would do with lxml: parse the
bytes with a safe parser and validate the tree against the compiled schema (compiled once, outside the
timing), nothing else. The hub lines are `hub.xml.validate(data)`: limits, DOCTYPE refusal, safe parse,
depth check, catalog selection with discriminators, validation, document summary and the report; and
what the pipeline does before correlation, validation and mapping (`parse_and_validate`, then
`map_xml` with the shipped mapping specs); and, for the record, the same with the reference mapping
evaluator (`hub/mapping/evaluate.py`, an XPath call per value) that `map_xml` used before.

Target (issue 3): the hub's validation and mapping take at most 2x the baseline (median against
median). Exit status 0 when met on every input, 1 when not. See docs/xml.md for how to read the numbers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub.catalog import Catalog  # noqa: E402
from hub.mapping.compiled_xml import NATIVE  # noqa: E402
from hub.mapping.evaluate import XmlSource, evaluate  # noqa: E402
from hub.mapping.run import MessageMapping, map_xml, xml_spec  # noqa: E402
from hub.xml import default_catalog, parse_and_validate, validate  # noqa: E402

SAMPLE = ROOT / "samples" / "xml" / "wco-declaration-import.xml"
TARGET = 2.0


def scaled_declaration(items: int) -> bytes:
    """The sample with its goods items repeated to `items`, renumbered, GoodsItemQuantity adjusted."""
    tree = etree.parse(str(SAMPLE), etree.XMLParser(resolve_entities=False, no_network=True))
    ns = {"d": "urn:wco:datamodel:WCO:DEC-DMS:2"}
    shipment = tree.find(".//d:GoodsShipment", ns)
    assert shipment is not None
    originals = shipment.findall("d:GovernmentAgencyGoodsItem", ns)
    last = originals[-1]
    for n in range(len(originals), items):
        copy = etree.fromstring(etree.tostring(originals[n % len(originals)]))
        last.addnext(copy)
        last = copy
    for n, item in enumerate(shipment.findall("d:GovernmentAgencyGoodsItem", ns), 1):
        seq = item.find("d:SequenceNumeric", ns)
        assert seq is not None
        seq.text = str(n)
    quantity = tree.find(".//d:Declaration/d:GoodsItemQuantity", ns)
    assert quantity is not None
    quantity.text = str(items)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def bare_parse_and_validate(schema: etree.XMLSchema, parser: etree.XMLParser, data: bytes) -> bool:
    """The baseline: what a careful caller does with lxml alone."""
    return schema.validate(etree.fromstring(data, parser))


def validate_and_map(mappings: object, data: bytes) -> MessageMapping | None:
    """What the pipeline does with an XML message before correlation (`hub.ingest._map_bytes`)."""
    report, root = parse_and_validate(data)
    return map_xml(root, mappings) if root is not None else None  # type: ignore[arg-type]


def validate_and_map_reference(mappings: object, data: bytes) -> object:
    """The same with the reference evaluator (an XPath call per value), which `map_xml` used before
    `hub/mapping/compiled_xml.py`: for the record, so that the compiled evaluator's gain shows in the
    same run."""
    report, root = parse_and_validate(data)
    spec = xml_spec(root, mappings) if root is not None else None  # type: ignore[arg-type]
    return evaluate(spec, XmlSource(spec.namespaces), root) if spec is not None else None


def per_call(fns: list[Callable[[], object]], repeat: int) -> list[list[float]]:
    """Seconds per call of each function, `repeat` batches each, the functions' batches interleaved
    so that a slow moment of the machine hits them all alike. A batch lasts about 0.1 s."""
    batches = []
    for fn in fns:
        t0 = time.perf_counter()
        fn()
        batches.append(max(1, int(0.1 / max(time.perf_counter() - t0, 1e-6))))
    out: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, batch, times in zip(fns, batches, out, strict=True):
            t0 = time.perf_counter()
            for _ in range(batch):
                fn()
            times.append((time.perf_counter() - t0) / batch)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=999, help="goods items in the large declaration (max 999)")
    ap.add_argument("--repeat", type=int, default=7, help="timed batches per measurement")
    ap.add_argument("--xmlschema", action="store_true", help="also time the xmlschema package (slow)")
    args = ap.parse_args(argv)

    catalog = default_catalog()
    mappings = Catalog().mappings()
    doc_type = next(t for t in catalog.types if t.id == "wco-dec")
    xsd = catalog.folder / doc_type.xsd
    t0 = time.perf_counter()
    bare_schema = etree.XMLSchema(etree.parse(str(xsd)))
    compile_s = time.perf_counter() - t0
    bare_parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

    inputs = [("sample, 2 items", SAMPLE.read_bytes()),
              (f"scaled, {args.items} items", scaled_declaration(args.items))]
    print(f"WCO DMS 2 declaration against {doc_type.xsd} (lxml {etree.__version__}, "
          f"libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))}); schema compiled in {compile_s * 1e3:.1f} ms; "
          + ("mapping walks in C (hub/mapping/_xmlwalk.c)" if NATIVE else
             "mapping walks in Python (hub/mapping/_xmlwalk.c is not built)"))
    print(f"{'input':22} {'bytes':>9}  {'measurement':44} {'median':>10} {'best':>10}")
    print("-" * 102)
    worst = 0.0
    for label, data in inputs:
        report = validate(data)  # warm-up: compiles the hub's copy of the schema for this thread
        if not report.accepted:
            print(f"{label}: the hub rejects the benchmark input:\n{report.render()}")
            return 1

        mapped = validate_and_map(mappings, data)
        if mapped is None or mapped.document is None:
            print(f"{label}: the hub maps nothing from the benchmark input")
            return 1
        tree = etree.fromstring(data, bare_parser)
        names = ["lxml parse + XSD validate (baseline)", "lxml XSD validate of a parsed tree",
                 "hub.xml.validate(data)", "hub validate and map (parse_and_validate, map_xml)",
                 "the same, reference evaluator (for the record)"]
        timed = per_call([partial(bare_parse_and_validate, bare_schema, bare_parser, data),
                          partial(bare_schema.validate, tree), partial(validate, data),
                          partial(validate_and_map, mappings, data),
                          partial(validate_and_map_reference, mappings, data)], args.repeat)
        rows = list(zip(names, timed, strict=True))
        if args.xmlschema:
            import xmlschema

            t0 = time.perf_counter()
            xs = xmlschema.XMLSchema10(str(xsd))
            print(f"  (xmlschema compiled the same schema in {time.perf_counter() - t0:.2f} s)")
            rows += [("xmlschema is_valid (for the record)",
                      per_call([partial(xs.is_valid, data.decode("utf-8"))], max(3, args.repeat // 2))[0])]
        for name, times in rows:
            print(f"{label:22} {len(data):9,}  {name:44} {statistics.median(times) * 1e3:8.3f} ms "
                  f"{min(times) * 1e3:8.3f} ms")
        baseline = statistics.median(rows[0][1])
        print(f"{label:22} {'':9}  ratio hub validate / baseline (medians): "
              f"{statistics.median(rows[2][1]) / baseline:.2f}x")
        ratio = statistics.median(rows[3][1]) / baseline
        worst = max(worst, ratio)
        print(f"{label:22} {'':9}  ratio hub validate and map / baseline (medians): {ratio:.2f}x "
              f"({'meets' if ratio <= TARGET else 'MISSES'} the target of <= {TARGET:.0f}x)")
        print(f"{label:22} {'':9}  (with the reference evaluator: "
              f"{statistics.median(rows[4][1]) / baseline:.2f}x)")
        print()
    print("SUMMARY: " + ("target met" if worst <= TARGET else f"target missed (worst ratio {worst:.2f}x)"))
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
