"""XML extracts (such as the ISTV minimum data set), streamed with lxml.

Each ``record`` element (matched by local name, in any namespace) is one
row. Its columns are the text of the leaf elements below it, named by their
path of local names below the record (``ArrivalDateTime``,
``Assault/Method``), and its attributes and theirs (``@id``,
``Assault/@code``). An element that repeats within a record gives its values
joined by ``;`` (so ``split: ";"`` reads them as a list). ``context`` adds
values from outside the records, by path from the root
(``Header/SiteCode``), to every row that follows them: a submission's
header of reporting period and site.

Memory stays flat: every record is cleared once read, with the siblings
before it. The row number in every message is the line the record starts
on. The parser never loads a DTD, expands an entity or reaches the network,
so a hostile file can neither read local files nor blow up in memory. Each
file is first read through once, streaming, to check it is well-formed and,
with ``xsd``, valid against the schema: a file that fails is refused with
the parser's or the schema's first complaint and its line, before any row is
published. An element a record leaves out is a blank cell (XML leaves out
empty items); a column the config reads that no record of the file has is
reported once, after the file's rows, as a reject of the file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

from lxml import etree

from edge.config import XmlSource
from edge.sources import Notice, Problem, SourceError, SourceRow, row_hash
from edge.sources.files import FileReader


class XmlReader(FileReader[XmlSource]):
    """Reads every XML file the config's path or glob names."""

    def __init__(self, spec: XmlSource) -> None:
        super().__init__(spec)
        self._schema: etree.XMLSchema | None = None

    def schema(self) -> etree.XMLSchema | None:
        """The XSD, loaded once (SourceError if it is unusable)."""
        if self.spec.xsd is None or self._schema is not None:
            return self._schema
        try:
            document = etree.parse(str(self.spec.xsd), _parser())
            self._schema = etree.XMLSchema(document)
        except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
            raise SourceError(f"{self.spec.xsd}: not a usable XML schema: {exc}") from exc
        return self._schema

    def rows(
        self, path: Path, required: set[str], progress: Callable[[int], None] | None = None
    ) -> Iterator[SourceRow | Problem | Notice]:
        """Rows of one file. An element a record leaves out is a blank cell (XML
        omits empty items). Raises SourceError for a file that fails the XSD
        (before any row), that is not well-formed (at that point), or, after
        its rows, whose records never hold a column the config reads (a name
        that does not fit the file)."""
        source = str(path)
        self._check(path, self.schema())
        context: dict[str, str] = {}
        wanted = {tuple(p.split("/")): column for column, p in self.spec.context.items()}
        stack: list[str] = []
        seen_columns: set[str] = set()
        records = 0
        with path.open("rb") as handle:
            events = etree.iterparse(
                handle,
                events=("start", "end"),
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                huge_tree=False,
            )
            try:
                for event, element in events:
                    name = etree.QName(element).localname
                    if event == "start":
                        stack.append(name)
                        continue
                    if name == self.spec.record:
                        records += 1
                        values = _columns(element)
                        values.update(context)
                        seen_columns |= set(values)
                        if progress is not None:
                            progress(handle.tell())
                        yield _row(source, element.sourceline or 0, values)
                        _forget(element)
                    elif not stack[:-1] or self.spec.record not in stack:
                        key = tuple(stack[1:])
                        for attribute, value in element.attrib.items():
                            column = wanted.get((*key, "@" + etree.QName(attribute).localname))
                            if column is not None:
                                context[column] = value.strip()
                        if key in wanted:
                            context[wanted[key]] = (element.text or "").strip()
                    stack.pop()
            except etree.XMLSyntaxError as exc:
                raise SourceError(f"{source}: not well-formed XML: {exc}") from exc
        if records == 0:
            raise SourceError(f"{source}: no <{self.spec.record}> element (no rows)")
        if never := sorted(required - seen_columns):
            yield Notice(
                source,
                f"no <{self.spec.record}> has {', '.join(never)}, so they were blank in every "
                "row: an optional item no attendance had, or a column name that does not fit "
                f"the file? (its records have {', '.join(sorted(seen_columns))})",
            )

    def _check(self, path: Path, schema: etree.XMLSchema | None) -> None:
        """One streaming pass over the whole file: well-formed, and valid against
        the XSD if there is one; else SourceError, before any row. A
        well-formedness error names its line; lxml's validating parser gives
        none, so a schema error names the element and value instead."""
        try:
            for _event, element in etree.iterparse(
                str(path),
                events=("end",),
                schema=schema,
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                huge_tree=False,
            ):
                _forget(element)
        except etree.XMLSyntaxError as exc:
            what = "is not well-formed XML"
            if schema is not None and not exc.lineno:
                what = f"does not match the schema {self.spec.xsd}"
            where = f"line {exc.lineno}: " if exc.lineno else ""
            raise SourceError(
                f"{path}: {where}{what}: {exc.msg} (nothing from this file was read)"
            ) from exc


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _columns(record: etree._Element) -> dict[str, str | None]:
    """A record's leaf texts and attributes by path below it (repeats joined by ';')."""
    found: dict[str, list[str]] = defaultdict(list)
    for attribute, value in record.attrib.items():
        found["@" + etree.QName(attribute).localname].append(value.strip())
    for element in record.iterdescendants():
        if not isinstance(element.tag, str):
            continue  # a comment or processing instruction
        names = [etree.QName(element).localname]
        parent = element.getparent()
        while parent is not None and parent is not record:
            names.append(etree.QName(parent).localname)
            parent = parent.getparent()
        path = "/".join(reversed(names))
        for attribute, value in element.attrib.items():
            found[f"{path}/@{etree.QName(attribute).localname}"].append(value.strip())
        if len(element) == 0:
            found[path].append((element.text or "").strip())
    return {column: ";".join(v for v in values if v) for column, values in found.items()}


def _row(source: str, line: int, values: dict[str, str | None]) -> SourceRow:
    ordered = sorted(values.items())
    return SourceRow(source, line, values, row_hash([f"{k}={v}" for k, v in ordered]))


def _forget(element: etree._Element) -> None:
    """Free a record already read, and the siblings before it."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    while parent is not None and element.getprevious() is not None:
        del parent[0]
