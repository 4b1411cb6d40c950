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
    ee.data._install_cloud_api_resource = lambda: None
    ee.data.getAlgorithms = apitestcase.GetAlgorithms
    ee.deprecation._FetchDataCatalogStac = lambda: {}
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
    """One ``computePixels`` call the stand-in answered: bands, window offset and size."""

    bands: tuple[str, ...]
    row: int
    col: int
    height: int
    width: int


class ArrayServer:
    """A stand-in for Earth Engine's ``computeValue``/``computePixels`` that serves arrays.

    It answers what :mod:`gee_scripts` asks of the server, and nothing else:

    - the availability probe (:func:`gee_scripts.assembly.availability_query`), with
      ``availability``;
    - xee's metadata request about the collection :func:`gee_scripts.fetch.open_flat` makes (one
      single-band image per band, the band named in its ``band`` property; each must be one of
      ``bands`` and of the feature image's outermost ``rename``);
    - pixel requests for a slice of that collection on a window of the grid: ``bands`` are 2-D
      arrays on the grid ``crs``/``transform``; NaN is served as the mask value of the
      request's ``unmask``, as the server serves masked pixels.

    Anything else raises :class:`ee.EEException`, so an unexpected request fails the test that
    made it. ``value_requests`` and ``pixel_requests`` record what was asked.
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
                        "id": "value",
                        "data_type": {"type": "PixelType", "precision": "float"},
                        "crs": self.crs,
                        "crs_transform": list(self.transform),
                    }
                ],
                "properties": {"band": names[0]},
            }
            return [len(names), {}, first, [[None] * len(names), names]]
        raise ee.EEException(f"stand-in cannot answer this computeValue: {str(tree)[:200]}")

    def _band_names(self, collection: Any) -> list[str]:
        """Band names of the one-band images of ``collection`` (``fromImages``), checked."""
        images = collection.get("args", {}).get("images") if isinstance(collection, dict) else None
        if collection.get("fn") != "ImageCollection.fromImages" or not isinstance(images, list):
            raise ee.EEException("stand-in serves a collection made with fromImages")
        names = []
        for node in images:
            if node.get("fn") != "Element.set" or node["args"].get("key") != "band":
                raise ee.EEException("stand-in: each image must carry its band in 'band'")
            name = node["args"]["value"]
            select = node["args"]["object"]
            feature = select["args"]["input"]
            if select.get("fn") != "Image.select" or select["args"]["bandSelectors"] != [name]:
                raise ee.EEException(f"stand-in: image for {name!r} does not select that band")
            if feature.get("fn") != "Image.rename" or name not in feature["args"]["names"]:
                raise ee.EEException(f"Image.select: no band named {name!r} in the image")
            if name not in self.bands:
                raise ee.EEException(f"stand-in has no array for band {name!r}")
            names.append(name)
        return names

    # -- computePixels ------------------------------------------------------------------------
    def compute_pixels(self, params: Mapping[str, Any]) -> np.ndarray:
        if params.get("fileFormat") != "NUMPY_NDARRAY":
            raise ee.EEException(f"stand-in serves NUMPY_NDARRAY only: {params.get('fileFormat')}")
        tree = graph_tree(params["expression"])
        names = self._requested_bands(tree)
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
        out = np.empty((height, width), dtype=[(f"b{i}", "<f4") for i in range(len(names))])
        for i, name in enumerate(names):
            source = self.bands[name]
            window = np.full((height, width), fill, dtype=np.float32)
            r0, r1 = max(row, 0), min(row + height, source.shape[0])
            c0, c1 = max(col, 0), min(col + width, source.shape[1])
            if r1 > r0 and c1 > c0:
                window[r0 - row : r1 - row, c0 - col : c1 - col] = source[r0:r1, c0:c1]
            out[f"b{i}"] = np.where(np.isnan(window), np.float32(fill), window)
        with self._lock:
            self.pixel_requests.append(PixelRequest(tuple(names), row, col, height, width))
        return out

    def _requested_bands(self, tree: Any) -> list[str]:
        """The bands of the collection slice xee stacks (``toList(count, offset)``)."""
        slices = list(find_invocations(tree, "Collection.toList"))
        if len(slices) != 1:
            raise ee.EEException("stand-in serves slices of one collection (xee's toList)")
        args = slices[0]["args"]
        names = self._band_names(args["collection"])
        offset = int(args.get("offset") or 0)
        return names[offset : offset + int(args["count"])]

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
