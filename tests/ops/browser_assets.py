"""The JavaScript/CSS the review page pulls from CDNs, fetched once from the npm registry so that
the browser test serves them from loopback with no network.

``python tests/ops/browser_assets.py`` (run by ``make browser-deps``, a prerequisite of
``make test``) renders a review page, lists the CDN URLs it references, maps each to an npm
package and a file inside it, and unpacks the packages (``npm pack``) into
``.cache/browser-assets/<name>@<version>/``. Already-present packages are not fetched again.

URLs with no npm counterpart (folium's marker-rotation CSS on GitHub, Bootstrap 3 glyphicons on
netdna) only style markers and icons the review page does not use; the test server answers them
with an empty stylesheet and the test lists them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ASSET_DIR = REPO / ".cache" / "browser-assets"

_URL = re.compile(r"""https?://[^\s"'<>()]+""")
_JSDELIVR_NPM = re.compile(r"^https://cdn\.jsdelivr\.net/npm/((?:@[^/]+/)?[^/@]+)@([^/]+)/(.+)$")
_JQUERY = re.compile(r"^https://code\.jquery\.com/jquery-([\d.]+)(\.min)?\.js$")
_CDNJS = re.compile(r"^https://cdnjs\.cloudflare\.com/ajax/libs/([^/]+)/([^/]+)/(.+)$")
# cdnjs library -> (npm package, version to use, directory of the files in the package)
_CDNJS_TO_NPM = {"Leaflet.awesome-markers": ("leaflet.awesome-markers", "2.0.5", "dist")}


def asset_urls(page: str) -> list[str]:
    """The script and stylesheet URLs of a page (tile URL templates excluded)."""
    urls = []
    for url in _URL.findall(page):
        if "{z}" in url or "{x}" in url:
            continue
        if url.endswith((".js", ".css")):
            urls.append(url)
    return sorted(set(urls))


def npm_file_for(url: str) -> tuple[str, str] | None:
    """(``name@version``, path inside the package) serving ``url``, or None if npm has none."""
    if m := _JSDELIVR_NPM.match(url):
        return f"{m[1]}@{m[2]}", m[3]
    if m := _JQUERY.match(url):
        return f"jquery@{m[1]}", f"dist/jquery{m[2] or ''}.js"
    if (m := _CDNJS.match(url)) and m[1] in _CDNJS_TO_NPM:
        name, version, directory = _CDNJS_TO_NPM[m[1]]
        return f"{name}@{version}", f"{directory}/{m[3]}"
    return None


def package_dir(spec: str, root: Path = ASSET_DIR) -> Path:
    return root / spec.replace("/", "__")


def local_file(url: str, root: Path = ASSET_DIR) -> Path | None:
    """The unpacked file serving ``url``, or None (no npm counterpart, or not fetched)."""
    mapped = npm_file_for(url)
    if mapped is None:
        return None
    path = package_dir(mapped[0], root) / mapped[1]
    if not path.is_file() and ".min." in path.name:
        # jsdelivr minifies on request: X.min.js is served from the package's X.js
        path = path.with_name(path.name.replace(".min.", "."))
    return path if path.is_file() else None


def fetch(specs: set[str], root: Path = ASSET_DIR) -> None:
    """``npm pack`` and unpack each ``name@version`` not yet under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for spec in sorted(specs):
        target = package_dir(spec, root)
        if (target / "package.json").is_file():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                ["npm", "pack", spec, "--pack-destination", tmp, "--silent"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            (tarball,) = Path(tmp).glob("*.tgz")
            with tarfile.open(tarball) as archive:
                archive.extractall(tmp, filter="data")
            target.parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / "package").rename(target)
        print(f"browser assets: {spec} -> {target}")


def sample_page() -> str:
    """A review page rendered by the installed folium/geemap (the URLs depend on them)."""
    import geopandas as gpd
    from shapely.geometry import box

    from monitor.ops.review import ReviewData, build_review_map

    frame = gpd.GeoDataFrame(
        {
            "fid": [1],
            "region": ["r"],
            "status": ["candidate"],
            "first_seen": ["2024-09-01"],
            "last_seen": ["2024-09-01"],
            "area_m2": [900.0],
        },
        geometry=[box(10.0, 44.0, 10.001, 44.001)],
        crs="EPSG:4326",
    )
    return build_review_map(ReviewData(landslides=frame)).get_root().render()


def main() -> int:
    urls = asset_urls(sample_page())
    specs = {mapped[0] for url in urls if (mapped := npm_file_for(url))}
    fetch(specs)
    missing = [url for url in urls if npm_file_for(url) and local_file(url) is None]
    if missing:
        print("browser assets: not found in their packages:", *missing, sep="\n  ")
        return 1
    unmapped = [url for url in urls if npm_file_for(url) is None]
    if unmapped:
        print("browser assets: served empty (no npm package):", *unmapped, sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
