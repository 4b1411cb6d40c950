"""A user's vector file handed to GDAL only as the format its suffix names.

GDAL chooses a file's driver by its content, not its name: an OGR VRT (XML) or a GDAL pipeline
(GDALG JSON) saved as ``slides.json`` makes GDAL read any local file it can parse, and its
``/vsicurl/`` sources make this host send requests. pyogrio cannot restrict the drivers it opens
a file with (geopandas/pyogrio#310), so :func:`gdal_path` checks the file first and returns the
name to hand pyogrio: a GeoJSON file behind GDAL's ``GeoJSON:`` prefix, which lets that driver
alone open it; a GeoPackage, shapefile or KML once its first bytes are that format; the
shapefile of a zip as the path of that member, checked the same way, so that GDAL never probes
another member. GDAL virtual paths (``/vsi...``) are refused, and so is a ``!`` in a path, which
pyogrio takes for an archive's member (it would open another file than the one checked).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from xml.etree.ElementTree import Element, ParseError, XMLPullParser

__all__ = ["VECTOR_SUFFIXES", "VectorFileError", "gdal_path"]

_HEAD = 65_536  # bytes read to tell what a file is
_SQLITE = b"SQLite format 3\x00"
_SHAPEFILE = b"\x00\x00\x27\x0a"  # the file code 9994, big-endian
_ZIP = b"PK\x03\x04"
_BLANK = b"\xef\xbb\xbf \t\r\n"  # a UTF-8 byte order mark and white space

# Formats that make GDAL read other files or send requests, found anywhere in a file's head.
_REDIRECTING = (
    (b"<ogrvrtdatasource", "an OGR VRT (XML that makes GDAL read other files and URLs)"),
    (b'"gdal_streamed_alg"', "a GDAL pipeline (GDALG JSON, which reads other files and URLs)"),
    (b"<ogrwfsdatasource", "a WFS connection file (XML that makes GDAL send requests)"),
)
# What a file is by its first bytes, for the message.
_STARTS = (
    (_SQLITE, "an SQLite database"),
    (_ZIP, "a zip archive"),
    (_SHAPEFILE, "a shapefile's .shp"),
    (b"{", "JSON"),
    (b"<", "XML"),
)


class VectorFileError(ValueError):
    """A vector file that is not the format its suffix names; the message names the file and
    what it is instead."""


def _redirecting(head: bytes) -> str | None:
    """The kind of a file whose head holds a format that redirects GDAL, else None."""
    lowered = head.lower()
    return next((kind for marker, kind in _REDIRECTING if marker in lowered), None)


def _what(head: bytes) -> str:
    """What ``head`` (a file's first bytes) shows the file to be."""
    start = head.lstrip(_BLANK)
    starts = (kind for magic, kind in _STARTS if start.startswith(magic))
    return _redirecting(head) or next(starts, "of no format known here" if start else "empty")


def _refuse(path: Path, expected: str, head: bytes) -> VectorFileError:
    return VectorFileError(
        f"{path}: not {expected} but {_what(head)}; give the features themselves in that format"
    )


def _local(path: Path) -> str:
    """``path`` as a local file name that pyogrio hands GDAL unchanged."""
    if "!" in str(path):
        raise VectorFileError(
            f"{path}: a '!' in the path, which GDAL's reader takes for a member of an archive; "
            "rename the file or its folder"
        )
    return str(path)


def _geojson(path: Path, head: bytes, layer: str | None) -> str:
    if not head.lstrip(_BLANK).startswith(b"{") or _redirecting(head):
        raise _refuse(path, "GeoJSON", head)
    return f"GeoJSON:{path}"  # the GeoJSON driver alone; pyogrio passes it on unchanged


def _geopackage(path: Path, head: bytes, layer: str | None) -> str:
    if not head.startswith(_SQLITE):
        raise _refuse(path, "a GeoPackage (an SQLite database)", head)
    return _local(path)


def _shapefile(path: Path, head: bytes, layer: str | None) -> str:
    if not head.startswith(_SHAPEFILE):
        raise _refuse(path, "a shapefile (.shp)", head)
    return _local(path)


def _kml_root(head: bytes) -> str | None:
    """The local name of the root element of the XML that ``head`` begins, None where it is
    not XML (expat fetches no external entity)."""
    parser: XMLPullParser[Element] = XMLPullParser(events=("start",))
    try:
        parser.feed(head)
        for event in parser.read_events():
            element = event[-1]  # ("start", the element)
            if isinstance(element, Element):
                return str(element.tag).rsplit("}", 1)[-1]
    except ParseError:
        return None
    return None


def _kml(path: Path, head: bytes, layer: str | None) -> str:
    if _redirecting(head) or _kml_root(head) != "kml":
        raise _refuse(path, "KML (XML whose root is <kml>)", head)
    return _local(path)


def _zipped_shapefile(path: Path, head: bytes, layer: str | None) -> str:
    if not head.startswith(_ZIP):
        raise _refuse(path, "a zip archive", head)
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            shapes = [m for m in members if m.filename.lower().endswith(".shp")]
            for member in shapes:
                with archive.open(member) as opened:
                    first = opened.read(len(_SHAPEFILE))
                if first != _SHAPEFILE:
                    raise VectorFileError(
                        f"{path}: its {member.filename} is not a shapefile's .shp but "
                        f"{_what(first)}"
                    )
    except (zipfile.BadZipFile, OSError) as err:
        raise VectorFileError(f"{path}: cannot read as a zip archive: {err}") from err
    if not shapes:
        held = ", ".join(m.filename for m in members[:8]) or "nothing"
        raise VectorFileError(f"{path}: a zip archive without a shapefile (.shp); it holds {held}")
    names = {PurePosixPath(m.filename).stem: m for m in shapes}
    if layer is None and len(shapes) > 1:
        raise VectorFileError(
            f"{path}: {len(shapes)} shapefiles ({', '.join(names)}); name the one to read as "
            "its layer"
        )
    chosen = shapes[0]
    if layer is not None:
        found = [m for name, m in names.items() if name.lower() == layer.lower()]
        if not found:
            raise VectorFileError(f"{path}: no layer {layer!r}; its shapefiles: {', '.join(names)}")
        chosen = found[0]
    return f"/vsizip/{path}/{chosen.filename}"  # this member alone; pyogrio passes /vsi on


_CHECKS: dict[str, Callable[[Path, bytes, str | None], str]] = {
    ".geojson": _geojson,
    ".json": _geojson,
    ".gpkg": _geopackage,
    ".shp": _shapefile,
    ".zip": _zipped_shapefile,
    ".kml": _kml,
}
VECTOR_SUFFIXES = tuple(_CHECKS)
_VIRTUAL = re.compile(r"^/vsi[a-z0-9_]*/", re.IGNORECASE)


def gdal_path(path: str | Path, layer: str | None = None) -> str:
    """The name under which pyogrio (``geopandas.read_file``, ``pyogrio.list_layers``) opens
    the user's vector file ``path`` with the driver its suffix names (:data:`VECTOR_SUFFIXES`),
    once its content is checked to be that format. ``layer`` chooses the shapefile of a zip
    that holds several (by its name without ``.shp``, in any case); other formats leave the
    layer to the reader. A :class:`VectorFileError` names the file and what it is instead."""
    given = str(path)
    if _VIRTUAL.match(given):
        raise VectorFileError(f"{given}: a GDAL virtual path; give a local file")
    path = Path(path).absolute()
    check = _CHECKS.get(path.suffix.lower())
    if check is None:
        raise VectorFileError(
            f"{path}: unknown vector format {path.suffix!r}; known: {', '.join(VECTOR_SUFFIXES)}"
        )
    try:
        with path.open("rb") as opened:
            head = opened.read(_HEAD)
    except OSError as err:
        raise VectorFileError(f"{path}: cannot read: {err.strerror or err}") from err
    return check(path, head, layer)
