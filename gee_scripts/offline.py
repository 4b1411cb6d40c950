"""Earth Engine without a server: initialise from the wheel's own algorithm signatures.

``earthengine-api`` needs ``ee.Initialize`` before it builds any graph, and initialising
normally asks the server for the algorithm list. The wheel ships that list
(``ee/tests/algorithms.json``, read by ``ee.apitestcase.GetAlgorithms``), so graphs can be built
and serialised with no network and no account: for the unit tests, and for a dry run that
prints the requests a configuration would make. :func:`graph_tree` turns a serialised graph
into nested dictionaries that tests and stand-ins can walk.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ee
import numpy as np
from ee import apitestcase

__all__ = [
    "ArrayServer",
    "PixelRequest",
    "find_invocations",
    "graph_tree",
    "initialize_offline",
]


def initialize_offline(project: str = "offline") -> None:
    """Initialise ``ee`` from the algorithm signatures inside the installed wheel.

    Nothing is fetched: the Cloud API resource is not built, the data catalogue (used for
    deprecation warnings) is empty. Any call that would need the server (``getInfo``,
    ``computePixels``) fails unless replaced by a stand-in.
    """
    ee.Reset()
    ee.data._install_cloud_api_resource = lambda: None  # type: ignore[attr-defined]
    ee.data.getAlgorithms = apitestcase.GetAlgorithms
    ee.deprecation._FetchDataCatalogStac = lambda: {}  # type: ignore[attr-defined]
    ee.Initialize(None, "", project=project)


def graph_tree(obj: Any) -> Any:
    """The Cloud-API serialisation of ``obj`` with every value reference resolved.

    Function invocations become ``{"fn": name, "args": {...}}``, constants their Python value,
    function definitions ``{"params": [...], "body": tree}`` and argument references
    ``{"ref": name}``.
    """
    encoded = ee.serializer.encode(obj, for_cloud_api=True)
    values: dict[str, Any] = encoded["values"]
    memo: dict[str, Any] = {}

    def resolve_ref(key: str) -> Any:
        # Shared sub-graphs resolve to one shared Python object (the graph is a DAG).
        if key not in memo:
            memo[key] = resolve(values[key])
        return memo[key]

    def resolve(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        if "valueReference" in node:
            return resolve_ref(node["valueReference"])
        if "constantValue" in node:
            return node["constantValue"]
        if "functionInvocationValue" in node:
            inv = node["functionInvocationValue"]
            args = {k: resolve(v) for k, v in inv.get("arguments", {}).items()}
            name = inv.get("functionName") or {"function": resolve(inv["functionReference"])}
            return {"fn": name, "args": args}
        if "functionDefinitionValue" in node:
            fdef = node["functionDefinitionValue"]
            return {"params": fdef["argumentNames"], "body": resolve_ref(fdef["body"])}
        if "argumentReference" in node:
            return {"ref": node["argumentReference"]}
        if "arrayValue" in node:
            return [resolve(v) for v in node["arrayValue"]["values"]]
        if "dictionaryValue" in node:
            return {k: resolve(v) for k, v in node["dictionaryValue"]["values"].items()}
        if "bytesValue" in node:
            return node["bytesValue"]
        if "integerValue" in node:
            return int(node["integerValue"])
        return node

    return resolve_ref(encoded["result"])


def find_invocations(tree: Any, name: str | None = None) -> Iterator[dict[str, Any]]:
    """Each distinct function invocation in ``tree`` once (depth first, outermost first), or
    only those of the function ``name``."""
    seen: set[int] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            if "fn" in node and "args" in node:
                if name is None or node["fn"] == name:
                    yield node
                stack.extend(reversed(list(node["args"].values())))
            else:
                stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))


_XEE_DEFAULT_MASK = float(np.iinfo(np.int32).max)


def _is_xee_metadata(tree: Any) -> bool:
    """xee's one metadata request: [size, toDictionary, first, reduceColumns] of a collection."""
    return (
        isinstance(tree, list)
        and len(tree) == 4
        and isinstance(tree[2], dict)
        and tree[2].get("fn") == "Collection.first"
    )


@dataclass
class PixelRequest:
    """One ``computePixels`` call the stand-in answered: band, window offset and size."""

    band: str
    row: int
    col: int
    height: int
    width: int


class ArrayServer:
    """A stand-in for Earth Engine's ``computeValue``/``computePixels`` that serves arrays.

    It answers what :mod:`gee_scripts` asks of the server: the availability probe
    (:func:`gee_scripts.assembly.availability_query`, answered with ``availability``), xee's
    metadata request about a one-image collection (band names read from the image's outermost
    ``Image.rename``; each must be one of ``bands``), and pixel requests for one band on a grid
    window (``bands`` are 2-D arrays on the grid ``crs``/``transform``; NaN is served as the
    mask value the request's ``unmask`` names, as the server does for masked pixels). Anything
    else raises :class:`ee.EEException`, so an unexpected request fails the test that made it.
    """

    def __init__(
        self,
        bands: Mapping[str, np.ndarray],
        *,
        crs: str,
        transform: Sequence[float],
        availability: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.bands = {k: np.asarray(v, dtype=np.float32) for k, v in bands.items()}
        self.crs = crs
        self.transform = tuple(float(v) for v in transform[:6])
        self.availability = dict(availability or {})
        self.value_requests = 0
        self.pixel_requests: list[PixelRequest] = []
        self._lock = threading.Lock()

    # -- computeValue -------------------------------------------------------------------------
    def compute_value(self, obj: Any) -> Any:
        with self._lock:
            self.value_requests += 1
        tree = graph_tree(obj)
        if isinstance(tree, dict) and "s2_dates_pre" in tree:
            missing = [k for k in tree if k not in self.availability]
            if missing:
                raise ee.EEException(f"stand-in has no availability for {missing}")
            return {k: list(self.availability[k]) for k in tree}
        if _is_xee_metadata(tree):
            names = self._band_names(tree[2]["args"]["collection"])
            first = {
                "type": "Image",
                "bands": [
                    {
                        "id": name,
                        "data_type": {"type": "PixelType", "precision": "float"},
                        "crs": self.crs,
                        "crs_transform": list(self.transform),
                    }
                    for name in names
                ],
                "properties": {},
            }
            return [1, {}, first, [["stand-in/0"], [0]]]
        raise ee.EEException(f"stand-in cannot answer this computeValue: {str(tree)[:200]}")

    def _band_names(self, collection: Any) -> list[str]:
        images = collection.get("args", {}).get("images") if isinstance(collection, dict) else None
        if collection.get("fn") != "ImageCollection.fromImages" or not images or len(images) != 1:
            raise ee.EEException("stand-in serves a collection of one image made with fromImages")
        image = images[0]
        if image.get("fn") != "Image.rename":
            raise ee.EEException("stand-in: the image's outermost operation must name its bands")
        names = list(image["args"]["names"])
        unknown = [n for n in names if n not in self.bands]
        if unknown:
            raise ee.EEException(f"Image.select: no band named {unknown[0]!r}")
        return names

    # -- computePixels ------------------------------------------------------------------------
    def compute_pixels(self, params: Mapping[str, Any]) -> np.ndarray:
        if params.get("fileFormat") != "NUMPY_NDARRAY":
            raise ee.EEException(f"stand-in serves NUMPY_NDARRAY only: {params.get('fileFormat')}")
        tree = graph_tree(params["expression"])
        band = self._requested_band(tree, params)
        grid = params["grid"]
        if grid["crsCode"] != self.crs:
            raise ee.EEException(f"grid CRS {grid['crsCode']} is not the served {self.crs}")
        t = grid["affineTransform"]
        a, _, c, _, e, f = self.transform
        if not (np.isclose(t["scaleX"], a) and np.isclose(t["scaleY"], e)):
            raise ee.EEException(f"grid scale ({t['scaleX']}, {t['scaleY']}) is not ({a}, {e})")
        col = round((t["translateX"] - c) / a)
        row = round((t["translateY"] - f) / e)
        height, width = grid["dimensions"]["height"], grid["dimensions"]["width"]
        fill = _XEE_DEFAULT_MASK
        if tree.get("fn") == "Image.unmask":  # xee's outermost unmask(mask_value)
            value = tree["args"].get("value")
            if isinstance(value, dict):  # an Image.constant
                value = value["args"]["value"]
            fill = float(value)
        source = self.bands[band]
        window = np.full((height, width), fill, dtype=np.float32)
        r0, r1 = max(row, 0), min(row + height, source.shape[0])
        c0, c1 = max(col, 0), min(col + width, source.shape[1])
        if r1 > r0 and c1 > c0:
            window[r0 - row : r1 - row, c0 - col : c1 - col] = source[r0:r1, c0:c1]
        window = np.where(np.isnan(window), np.float32(fill), window)
        with self._lock:
            self.pixel_requests.append(PixelRequest(band, row, col, height, width))
        out = np.empty((height, width), dtype=[(band, "<f4")])
        out[band] = window
        return out

    def _requested_band(self, tree: Any, params: Mapping[str, Any]) -> str:
        band_ids = params.get("bandIds")
        if band_ids:
            names = list(band_ids)
        else:
            # xee stacks the requested band of each image with addBands(image, [band]).
            names = [
                n
                for inv in find_invocations(tree, "Image.addBands")
                for n in inv["args"].get("names") or []
            ]
        if len(names) != 1:
            raise ee.EEException(f"stand-in serves one band per request, got {names}")
        if names[0] not in self.bands:
            raise ee.EEException(f"Image.select: no band named {names[0]!r}")
        return names[0]

    @contextmanager
    def installed(self) -> Iterator[ArrayServer]:
        """Replace ``ee.data.computeValue``/``computePixels`` by this server while inside."""
        old_value, old_pixels = ee.data.computeValue, ee.data.computePixels
        ee.data.computeValue = self.compute_value
        ee.data.computePixels = self.compute_pixels
        try:
            yield self
        finally:
            ee.data.computeValue, ee.data.computePixels = old_value, old_pixels
