"""A small numpy interpreter for serialised Earth Engine image graphs (tests only).

It evaluates the subset of ``Image.*`` algorithms that the terrain-flattening and compositing
arithmetic uses, on named input images (``ee.Image(asset_id)`` loads), so that a graph built
by ``gee_scripts`` can be compared number for number with the archive's numpy implementation.
Masked pixels are NaN and propagate like Earth Engine masks. ``ee.Terrain`` slope/aspect are
computed with the archive's ``slope_aspect`` (central differences, as ``ee.Terrain``);
reprojection and resampling are identities (inputs already share one grid).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from monitor.sources.terrain_flattening import slope_aspect

Bands = dict[str, np.ndarray]


class PropertiedImage(dict[str, np.ndarray]):
    """Bands that carry Earth Engine properties with them: a plain dict has none, as the result
    of band math, a reducer or a rename has none in Earth Engine. (Properties once lived in a
    table keyed by ``id()``, and a freed image's address, reused, lent its properties to an
    image that should have had none.)"""

    props: dict[str, Any]

    def __init__(self, bands: Mapping[str, np.ndarray], props: Mapping[str, Any]) -> None:
        super().__init__(bands)
        self.props = dict(props)


def props_of(image: object) -> dict[str, Any]:
    """The Earth Engine properties an evaluated image carries (empty for none)."""
    return getattr(image, "props", {})


_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Image.add": np.add,
    "Image.subtract": np.subtract,
    "Image.multiply": np.multiply,
    "Image.divide": np.divide,
    "Image.pow": np.power,
    "Image.max": np.fmax,
    "Image.min": np.fmin,
    "Image.gt": lambda a, b: (a > b).astype(float),
    "Image.gte": lambda a, b: (a >= b).astype(float),
    "Image.lt": lambda a, b: (a < b).astype(float),
    "Image.lte": lambda a, b: (a <= b).astype(float),
    "Image.eq": lambda a, b: (a == b).astype(float),
    "Image.neq": lambda a, b: (a != b).astype(float),
    "Image.and": lambda a, b: ((a != 0) & (b != 0)).astype(float),
    "Image.or": lambda a, b: ((a != 0) | (b != 0)).astype(float),
}
_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Image.tan": np.tan,
    "Image.atan": np.arctan,
    "Image.cos": np.cos,
    "Image.sin": np.sin,
    "Image.acos": np.arccos,
    "Image.log10": np.log10,
    "Image.exp": np.exp,
    "Image.abs": np.abs,
    "Image.sqrt": np.sqrt,
    "Image.signum": np.sign,
    "Image.not": lambda a: (a == 0).astype(float),
    "Image.toFloat": lambda a: a,
}
_IDENTITY = ("Image.resample", "Image.reproject", "Image.clip", "Image.setDefaultProjection")


def _stacked(images: list[Bands], name: str) -> np.ndarray:
    """Band ``name`` of every image, stacked; a constant image (one value) takes the others'
    shape, as Earth Engine's constant images cover every pixel."""
    return np.stack(np.broadcast_arrays(*[np.asarray(im[name], float) for im in images]))


class GraphEvaluator:
    """Evaluate ``gee_scripts.offline.graph_tree`` output; ``inputs`` maps asset IDs to bands,
    ``properties`` asset IDs to image properties, ``collections`` collection IDs to the asset
    IDs of their images. Properties follow an image through the operations that keep them in
    Earth Engine (updateMask, select, addBands onto it, set, copyProperties):
    :func:`props_of`."""

    def __init__(
        self,
        inputs: Mapping[str, Bands],
        res: float = 10.0,
        properties: Mapping[str, Mapping[str, Any]] | None = None,
        collections: Mapping[str, list[str]] | None = None,
    ) -> None:
        self.inputs = inputs
        self.res = res
        self.properties = properties or {}
        self.collections = collections or {}
        self.calls: list[str] = []  # every invocation evaluated, in order (memo hits not)
        self.env: dict[str, Any] = {}  # arguments of the function being mapped
        # ``graph_tree`` resolves a shared sub-graph to one shared Python object, so a node's
        # value is memoised by its ``id`` and the values of the arguments it refers to (its
        # free references). The memo holds those values and the node, so no id is reused
        # while it lives. Without it, a graph that reuses a collection in several branches
        # (last_valid_per_track over acquisitions, say) was evaluated once per path: minutes.
        self._memo: dict[tuple[Any, ...], tuple[Any, Any, tuple[Any, ...]]] = {}
        self._free: dict[int, tuple[frozenset[str], Any]] = {}  # (free references, node)

    @staticmethod
    def _keep(out: Bands, source: Bands) -> Bands:
        if isinstance(source, PropertiedImage):
            return PropertiedImage(out, source.props)
        return out

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "ref" in node and len(node) == 1:
            return self.env[node["ref"]]
        if "fn" not in node:
            return {k: self(v) for k, v in node.items()}
        free = sorted(self._free_refs(node))
        key = (id(node), *(id(self.env[name]) for name in free))
        hit = self._memo.get(key)
        if hit is not None:
            return hit[0]
        value = self._invoke(node)
        self._memo[key] = (value, node, tuple(self.env[name] for name in free))
        return value

    def _free_refs(self, node: Any) -> frozenset[str]:
        """The argument names ``node`` refers to that no function inside it binds."""
        if not isinstance(node, (dict, list)):
            return frozenset()
        cached = self._free.get(id(node))
        if cached is not None:
            return cached[0]
        if isinstance(node, list):
            free = frozenset().union(*(self._free_refs(v) for v in node))
        elif "ref" in node and len(node) == 1:
            free = frozenset([node["ref"]])
        elif set(node) == {"params", "body"}:  # a function definition
            free = self._free_refs(node["body"]) - frozenset(node["params"])
        else:
            free = frozenset().union(*(self._free_refs(v) for v in node.values()))
        self._free[id(node)] = (free, node)
        return free

    def _invoke(self, node: dict[str, Any]) -> Any:
        fn, args = node["fn"], node["args"]
        self.calls.append(fn)
        if fn in _BINARY:
            return self._binary(
                _BINARY[fn], self._image(args["image1"]), self._image(args["image2"])
            )
        if fn in _UNARY:
            return {
                k: _UNARY[fn](v)
                for k, v in self._image(args["value"] if "value" in args else args["input"]).items()
            }
        if fn in _IDENTITY:
            return self._image(args.get("image", args.get("input")))
        handler = getattr(self, "_" + fn.replace(".", "_"), None)
        if handler is None:
            raise NotImplementedError(f"numpy evaluator lacks {fn}")
        return handler(args)

    # -- helpers ------------------------------------------------------------------------------
    def _image(self, node: Any) -> Bands:
        value = self(node)
        if isinstance(value, dict):
            return value
        return {"constant": np.asarray(value, dtype=float)}

    @staticmethod
    def _binary(op: Callable[[np.ndarray, np.ndarray], np.ndarray], a: Bands, b: Bands) -> Bands:
        names_a, names_b = list(a), list(b)
        if len(names_b) == 1:
            names_b = names_b * len(names_a)
        if len(names_a) == 1 and len(names_b) > 1:
            names_a = names_a * len(names_b)
            out_names = list(b)
        else:
            out_names = list(a)
        out: Bands = {}
        with np.errstate(all="ignore"):
            for name, ka, kb in zip(out_names, names_a, names_b, strict=True):
                x, y = np.asarray(a[ka], float), np.asarray(b[kb], float)
                result = np.asarray(op(x, y), dtype=float)
                out[name] = np.where(np.isnan(x) | np.isnan(y), np.nan, result)
        return out

    # -- algorithms ---------------------------------------------------------------------------
    def _Image_load(self, args: dict[str, Any]) -> Bands:
        bands = {k: np.asarray(v, dtype=float) for k, v in self.inputs[args["id"]].items()}
        return PropertiedImage(bands, self.properties.get(args["id"], {}))

    def _ImageCollection_load(self, args: dict[str, Any]) -> list[Bands]:
        return [self._Image_load({"id": asset}) for asset in self.collections[args["id"]]]

    def _Element_get(self, args: dict[str, Any]) -> Any:
        return props_of(self(args["object"]))[args["property"]]

    def _Number_divide(self, args: dict[str, Any]) -> float:
        return float(self(args["left"])) / float(self(args["right"]))

    def _Date(self, args: dict[str, Any]) -> float:  # milliseconds since 1970-01-01 UTC
        return float(self(args["value"]))

    def _Date_format(self, args: dict[str, Any]) -> str:
        if args.get("timeZone") is not None or self(args["format"]) != "YYYY-MM-dd":
            raise NotImplementedError("numpy evaluator formats UTC dates as YYYY-MM-dd only")
        moment = datetime.fromtimestamp(self(args["date"]) / 1000, tz=UTC)
        return moment.date().isoformat()

    def _Number_floor(self, args: dict[str, Any]) -> float:
        return float(np.floor(float(self(args["input"]))))

    def _Image_mask(self, args: dict[str, Any]) -> Bands:
        return {k: np.isfinite(v).astype(float) for k, v in self._image(args["image"]).items()}

    def _Image_normalizedDifference(self, args: dict[str, Any]) -> Bands:
        image = self._image(args["input"])
        a, b = (image[name] for name in args["bandNames"])
        with np.errstate(all="ignore"):
            return {"nd": (a - b) / (a + b)}

    def _Image_linkCollection(self, args: dict[str, Any]) -> Bands:
        image = self._image(args["input"])
        key = props_of(image)["system:index"]
        match = [c for c in self(args["imageCollection"]) if props_of(c)["system:index"] == key]
        out = dict(image)
        for name in args["linkedBands"]:
            out[name] = (
                match[0][name] if match else np.full_like(next(iter(image.values())), np.nan)
            )
        return self._keep(out, image)

    def _ImageCollection_qualityMosaic(self, args: dict[str, Any]) -> Bands:
        images = self(args["collection"])
        quality = np.stack([im[args["qualityBand"]] for im in images])
        best = np.argmax(np.where(np.isfinite(quality), quality, -np.inf), axis=0)
        none = ~np.isfinite(quality).any(axis=0)
        out = {}
        for name in images[0]:
            values = np.stack([im[name] for im in images])
            picked = np.take_along_axis(values, best[None], axis=0)[0]
            out[name] = np.where(none, np.nan, picked)
        return out

    def _Reducer_countDistinct(self, args: dict[str, Any]) -> str:
        return "countDistinct"

    def _ImageCollection_reduce(self, args: dict[str, Any]) -> Bands:
        images, reducer = self(args["collection"]), self(args["reducer"])
        if reducer != "countDistinct":
            raise NotImplementedError(f"numpy evaluator lacks ImageCollection.reduce {reducer}")
        out = {}
        for name in images[0]:  # a single-input reducer: '<band>_count' for each band
            values = _stacked(images, name)
            pixels = values.reshape(len(values), -1).T
            distinct = [len(set(v[np.isfinite(v)].tolist())) for v in pixels]
            out[f"{name}_count"] = np.asarray(distinct, float).reshape(values.shape[1:])
        return out

    def _reduce_count(self, args: dict[str, Any]) -> Bands:
        images = self(args["collection"])
        return {
            name: np.isfinite(_stacked(images, name)).sum(axis=0).astype(float)
            for name in images[0]
        }

    def _Image_constant(self, args: dict[str, Any]) -> Bands:
        value = self(args["value"])
        if isinstance(value, list):
            return {f"constant_{i}": np.asarray(v, float) for i, v in enumerate(value)}
        return {"constant": np.asarray(value, dtype=float)}

    def _Image_select(self, args: dict[str, Any]) -> Bands:
        image = self._image(args["input"])
        names = list(image)
        picked = [names[s] if isinstance(s, int) else s for s in args["bandSelectors"]]
        new = args.get("newNames") or picked
        return self._keep({n: image[p] for n, p in zip(new, picked, strict=True)}, image)

    def _Image_rename(self, args: dict[str, Any]) -> Bands:
        image = self._image(args["input"])
        return dict(zip(args["names"], image.values(), strict=True))

    def _Image_addBands(self, args: dict[str, Any]) -> Bands:
        dst = self._image(args["dstImg"])
        out = self._keep(dict(dst), dst)
        src = self._image(args["srcImg"])
        for name, value in src.items():
            if name in out and not args.get("overwrite"):
                raise ValueError(f"addBands: duplicate band {name}")
            out[name] = value
        return out

    def _Image_updateMask(self, args: dict[str, Any]) -> Bands:
        image = self._image(args["image"])
        mask = list(self._image(args["mask"]).values())
        out = {}
        for i, (name, value) in enumerate(image.items()):
            m = mask[i] if len(mask) > 1 else mask[0]
            out[name] = np.where(np.isnan(m) | (m == 0), np.nan, value)
        return self._keep(out, image)

    # -- collections: lists of images ----------------------------------------------------------
    def _ImageCollection_fromImages(self, args: dict[str, Any]) -> list[Bands]:
        return [self._image(image) for image in args["images"]]

    def _ImageCollection_merge(self, args: dict[str, Any]) -> list[Bands]:
        return [*self(args["collection1"]), *self(args["collection2"])]

    def _mapped(
        self, items: list[Any], function: dict[str, Any], body: Callable[[Any], Any]
    ) -> list[Any]:
        """``function`` (a serialised one-parameter function) applied to each of ``items``, its
        ``body`` evaluated by ``body``; the parameter's outer value, if any, restored after."""
        (param,) = function["params"]
        outer = self.env.get(param)
        out = []
        for item in items:
            self.env[param] = item
            out.append(body(function["body"]))
        if outer is None:
            self.env.pop(param, None)
        else:
            self.env[param] = outer
        return out

    def _Collection_map(self, args: dict[str, Any]) -> list[Bands]:
        return self._mapped(self(args["collection"]), args["baseAlgorithm"], self._image)

    def _Collection_filter(self, args: dict[str, Any]) -> list[Bands]:
        keep = self(args["filter"])
        return [im for im in self(args["collection"]) if keep(props_of(im))]

    def _Collection_distinct(self, args: dict[str, Any]) -> list[Bands]:
        seen: set[tuple[Any, ...]] = set()
        out = []
        for im in self(args["collection"]):
            props = props_of(im)
            key = tuple(props.get(name) for name in args["properties"])
            if key not in seen:
                seen.add(key)
                out.append(im)
        return out

    def _Collection(self, args: dict[str, Any]) -> list[Any]:
        return list(self(args["features"]))

    def _Collection_flatten(self, args: dict[str, Any]) -> list[Bands]:
        return [im for collection in self(args["collection"]) for im in collection]

    def _AggregateFeatureCollection_array(self, args: dict[str, Any]) -> list[Any]:
        name = args["property"]
        props = [props_of(im) for im in self(args["collection"])]
        return [p[name] for p in props if name in p]

    def _Element_set(self, args: dict[str, Any]) -> Bands:
        image = self(args["object"])
        return PropertiedImage(image, {**props_of(image), args["key"]: self(args["value"])})

    # -- filters: predicates on an image's properties -------------------------------------------
    def _Filter_equals(self, args: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
        name, value = args["leftField"], self(args["rightValue"])
        return lambda props: name in props and props[name] == value

    def _Filter_lessThan(self, args: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
        name, value = args["leftField"], self(args["rightValue"])
        return lambda props: name in props and props[name] < value

    def _Filter_greaterThan(self, args: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
        name, value = args["leftField"], self(args["rightValue"])
        return lambda props: name in props and props[name] > value

    def _Filter_not(self, args: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
        inner = self(args["filter"])
        return lambda props: not inner(props)

    def _Filter_and(self, args: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
        filters = self(args["filters"])
        return lambda props: all(f(props) for f in filters)

    # -- lists and numbers ----------------------------------------------------------------------
    def _List_map(self, args: dict[str, Any]) -> list[Any]:
        return self._mapped(self(args["list"]), args["baseAlgorithm"], self)

    def _List_distinct(self, args: dict[str, Any]) -> list[Any]:
        return list(dict.fromkeys(self(args["list"])))

    def _List_sort(self, args: dict[str, Any]) -> list[Any]:
        return sorted(self(args["list"]))

    def _List_size(self, args: dict[str, Any]) -> int:
        return len(self(args["list"]))

    def _List_slice(self, args: dict[str, Any]) -> list[Any]:
        end = self(args["end"]) if "end" in args else None
        return list(self(args["list"]))[int(self(args["start"])) : end]

    def _List_reduce(self, args: dict[str, Any]) -> Any:
        reducer = self(args["reducer"])
        if reducer != "min":
            raise NotImplementedError(f"numpy evaluator lacks List.reduce with {reducer}")
        return min(self(args["list"]))

    def _Reducer_min(self, args: dict[str, Any]) -> str:
        return "min"

    def _Number_max(self, args: dict[str, Any]) -> float:
        return max(float(self(args["left"])), float(self(args["right"])))

    def _Number_add(self, args: dict[str, Any]) -> float:
        return float(self(args["left"])) + float(self(args["right"]))

    def _Number_multiply(self, args: dict[str, Any]) -> float:
        return float(self(args["left"])) * float(self(args["right"]))

    def _reduce(self, args: dict[str, Any], op: Callable[..., np.ndarray]) -> Bands:
        images = self(args["collection"])
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels stay NaN
            return {name: op(_stacked(images, name), axis=0) for name in images[0]}

    def _reduce_min(self, args: dict[str, Any]) -> Bands:
        return self._reduce(args, np.nanmin)

    def _reduce_max(self, args: dict[str, Any]) -> Bands:
        return self._reduce(args, np.nanmax)

    def _reduce_sum(self, args: dict[str, Any]) -> Bands:
        return self._reduce(args, np.nansum)

    def _reduce_mean(self, args: dict[str, Any]) -> Bands:
        return self._reduce(args, np.nanmean)

    def _reduce_median(self, args: dict[str, Any]) -> Bands:
        return self._reduce(args, np.nanmedian)

    def _Image_unmask(self, args: dict[str, Any]) -> Bands:
        image = self._image(args["input"])
        value = list(self._image(args["value"]).values())
        out = {}
        for i, (name, x) in enumerate(image.items()):
            v = value[i] if len(value) > 1 else value[0]
            out[name] = np.where(np.isnan(x), v, x)
        return out

    def _Image_where(self, args: dict[str, Any]) -> Bands:
        image = self._image(args["input"])
        (test,) = self._image(args["test"]).values()
        value = list(self._image(args["value"]).values())
        out = {}
        for i, (name, x) in enumerate(image.items()):
            v = value[i] if len(value) > 1 else value[0]
            out[name] = np.where(np.isfinite(test) & (test != 0), v, x)
        return out

    def _Image_projection(self, args: dict[str, Any]) -> None:
        return None

    def _Image_geometry(self, args: dict[str, Any]) -> None:
        return None

    def _Element_copyProperties(self, args: dict[str, Any]) -> Any:
        out = self(args["destination"])
        source = self(args["source"])
        if not isinstance(source, PropertiedImage):
            return out
        wanted = args.get("properties")
        picked = {k: v for k, v in source.props.items() if wanted is None or k in wanted}
        return PropertiedImage(out, {**props_of(out), **picked})

    _Image_copyProperties = _Element_copyProperties

    def _Terrain_slope(self, args: dict[str, Any]) -> Bands:
        (dem,) = self._image(args["input"]).values()
        return {"slope": slope_aspect(dem, self.res)[0].astype(float)}

    def _Terrain_aspect(self, args: dict[str, Any]) -> Bands:
        (dem,) = self._image(args["input"]).values()
        return {"aspect": slope_aspect(dem, self.res)[1].astype(float)}

    def _Image_reduceRegion(self, args: dict[str, Any]) -> dict[str, float]:
        reducer = args["reducer"]
        if reducer.get("fn") != "Reducer.mean":
            raise NotImplementedError(f"reduceRegion with {reducer.get('fn')}")
        return {k: float(np.nanmean(v)) for k, v in self._image(args["image"]).items()}

    def _Dictionary_combine(self, args: dict[str, Any]) -> dict[str, Any]:
        first, second = self(args["first"]), self(args["second"])
        if args.get("overwrite", True):
            return {**first, **second}
        return {**second, **first}

    def _Dictionary_get(self, args: dict[str, Any]) -> Any:
        return self(args["dictionary"])[self(args["key"])]

    def _Number_gt(self, args: dict[str, Any]) -> bool:
        return float(self(args["left"])) > float(self(args["right"]))

    def _Number_subtract(self, args: dict[str, Any]) -> float:
        return float(self(args["left"])) - float(self(args["right"]))

    def _If(self, args: dict[str, Any]) -> Any:
        return self(args["trueCase"]) if self(args["condition"]) else self(args["falseCase"])
