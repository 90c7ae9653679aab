"""Derive ``sdk/motionmask/data/face_triangles.json``: the triangles of the MediaPipe 468-point face-mesh surface.

Source: the mediapipe wheel (Apache-2.0, never installed), member
``mediapipe/python/solutions/face_mesh_connections.py``, literal ``FACEMESH_TESSELATION``. At runtime that is a
frozenset of edges, but its *source text* lists the edges of each triangle in order, three at a time:
``(a, b), (b, c), (c, a)``. Reading the literal with ``ast`` (no import, so no mediapipe/protobuf needed) gives the
triangles with MediaPipe's own winding: 852 of them, the surface open over the eyes and the mouth (MediaPipe's
canonical_face_model.obj has 46 more, which close the eyes, 14 + 14, and the mouth, 18). The wheel holds no
``geometry_pipeline_metadata*.binarypb`` or other canonical-mesh data (those ship in the Tasks ``face_landmarker.task``
bundle), so this literal is the only triangulation in it.

Cross-check: every triangle is a 3-clique of the undirected edge graph; the graph has 2 more 3-cliques, which are not
faces (each of their edges already borders two triangles; they lie on the sides of the nose). The script then checks and
prints: indices 0..467, no duplicate or degenerate triangles, a connected edge-manifold surface with manifold vertices,
consistent winding (every interior edge is used once in each direction), Euler characteristic -2 and exactly 4 boundary
loops, which must be the face oval (FACEMESH_FACE_OVAL, 36 vertices), the two eyelid contours (16 each) and the inner
lips (20), in the order of the renderer's polygons (motionmask.render.mask LEFT_EYE / RIGHT_EYE / INNER_LIPS), and the
facing: on the repository's frontal template face (data/template_face.json, x right, y down) the triangles run
counter-clockwise on screen (shoelace sum of x_i y_{i+1} - x_{i+1} y_i negative); the winding is reversed if needed.

Optionally (``--compare-obj``, default ../shared/data/mesh/canonical_face_model.obj when present) it compares the
result with a canonical_face_model.obj face list (read only, nothing from it is written): with MediaPipe 0.10.14 the
obj has the 46 hole-closing triangles more, and 209 quads of the two triangulations carry the other diagonal.

    .venv/bin/python scripts/derive_face_triangles.py [--wheel mediapipe-0.10.14-...whl] [--out ...] [--check]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "sdk" / "motionmask" / "data" / "face_triangles.json"
TEMPLATE = ROOT / "sdk" / "motionmask" / "data" / "template_face.json"
DEFAULT_OBJ = ROOT.parent / "shared" / "data" / "mesh" / "canonical_face_model.obj"
PACKAGE = "mediapipe==0.10.14"
MEMBER = "mediapipe/python/solutions/face_mesh_connections.py"
NUM_MESH = 468


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def download_wheel(dest: Path) -> Path:
    """``pip download --no-deps`` the wheel (as motionmask_compress.zoo.weights does); never installs it."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.11", "--platform", "manylinux2014_x86_64", "-d", str(dest), PACKAGE]
    subprocess.run(cmd, check=True)
    return next(dest.glob("mediapipe-*.whl"))


def connection_literals(source: str) -> dict[str, list[tuple[int, int]]]:
    """The ``FACEMESH_*`` edge lists of face_mesh_connections.py, in source order (only ``frozenset([...])`` ones)."""
    out = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        call = node.value
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "frozenset"
                and len(call.args) == 1 and isinstance(call.args[0], ast.List)):
            out[node.targets[0].id] = [tuple(ast.literal_eval(e)) for e in call.args[0].elts]
    return out


def triangles_from_tessellation(edges: list[tuple[int, int]]) -> np.ndarray:
    if len(edges) % 3:
        raise SystemExit(f"FACEMESH_TESSELATION has {len(edges)} edges, not a multiple of 3")
    tri = []
    for k in range(0, len(edges), 3):
        (a, b), (b2, c), (c2, a2) = edges[k:k + 3]
        if (b, c, a) != (b2, c2, a2):
            raise SystemExit(f"edges {k}-{k + 2} {edges[k:k + 3]} do not close a triangle")
        tri.append((a, b, c))
    return np.asarray(tri, np.int64)


def ordered_loop(edges: list[tuple[int, int]]) -> list[int]:
    """Vertices of a closed chain of undirected edges, in chain order (raises if it is not one simple cycle)."""
    adj = defaultdict(list)
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    if any(len(v) != 2 for v in adj.values()):
        raise ValueError("not a simple cycle")
    start = min(adj)
    loop, prev, cur = [start], None, start
    while True:
        nxt = adj[cur][0] if adj[cur][0] != prev else adj[cur][1]
        if nxt == start:
            break
        loop.append(nxt)
        prev, cur = cur, nxt
    if len(loop) != len(adj):
        raise ValueError("more than one cycle")
    return loop


def same_cycle(a, b) -> bool:
    """Equal as cyclic sequences, in either direction."""
    a, b = list(a), list(b)
    if len(a) != len(b) or set(a) != set(b):
        return False
    k = b.index(a[0])
    rot = b[k:] + b[:k]
    return rot == a or [rot[0]] + rot[1:][::-1] == a


def boundary_loops(tri: np.ndarray) -> list[list[int]]:
    uses = Counter(tuple(sorted(e)) for t in tri.tolist() for e in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])))
    bnd = [e for e, n in uses.items() if n == 1]
    adj = defaultdict(set)
    for a, b in bnd:
        adj[a].add(b)
        adj[b].add(a)
    loops, seen = [], set()
    for s in sorted(adj):
        if s in seen:
            continue
        comp, stack = set(), [s]
        while stack:
            v = stack.pop()
            if v not in comp:
                comp.add(v)
                stack.extend(adj[v])
        seen |= comp
        loops.append(ordered_loop([e for e in bnd if e[0] in comp]))
    return loops


def check(tri: np.ndarray, expected_loops: dict[str, list[int]], template: np.ndarray) -> list[str]:
    """Print the checks; return the failures."""
    fails = []

    def report(name: str, ok: bool, detail: str) -> None:
        print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}")
        if not ok:
            fails.append(name)

    report("shape", tri.ndim == 2 and tri.shape[1] == 3, f"{tri.shape}")
    report("index range", tri.min() >= 0 and tri.max() < NUM_MESH, f"{tri.min()}..{tri.max()}")
    report("all vertices used", len(np.unique(tri)) == NUM_MESH, f"{len(np.unique(tri))} of {NUM_MESH}")
    deg_idx = int((np.sort(tri, axis=1)[:, :-1] == np.sort(tri, axis=1)[:, 1:]).any(axis=1).sum())
    report("no repeated vertex in a triangle", deg_idx == 0, f"{deg_idx}")
    p = template[tri]
    area3 = 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
    report("no degenerate triangle (template 3D area > 1e-6)", bool((area3 > 1e-6).all()),
           f"min area {area3.min():.2e} (median {np.median(area3):.2e})")
    dup = len(tri) - len({tuple(sorted(t)) for t in tri.tolist()})
    report("no duplicate triangle", dup == 0, f"{dup}")
    directed = Counter((t[i], t[(i + 1) % 3]) for t in tri.tolist() for i in range(3))
    undirected = Counter(tuple(sorted(e)) for e in directed.elements())
    over = sum(1 for n in undirected.values() if n > 2)
    report("edge manifold (each edge in <= 2 triangles)", over == 0,
           f"edge uses {dict(sorted(Counter(undirected.values()).items()))}")
    twice = sum(1 for n in directed.values() if n > 1)
    report("consistent winding (no directed edge twice)", twice == 0,
           f"{twice}; interior edges {sum(1 for n in undirected.values() if n == 2)} all used once each way")
    # vertex manifold: the triangles around each vertex form one fan (edge-connected through that vertex)
    star = defaultdict(list)
    for t in tri.tolist():
        for v in t:
            star[v].append(t)
    bad_v = [v for v, ts in sorted(star.items()) if fan_count(v, ts) != 1]
    report("vertex manifold (one fan per vertex)", not bad_v, f"non-manifold vertices {bad_v}")
    comp = list(range(NUM_MESH))

    def root(i: int) -> int:
        while comp[i] != i:
            comp[i] = comp[comp[i]]
            i = comp[i]
        return i

    for a, b in undirected:
        comp[root(a)] = root(b)
    ncomp = len({root(v) for v in np.unique(tri).tolist()})
    report("connected", ncomp == 1, f"{ncomp} component(s)")
    chi = len(np.unique(tri)) - len(undirected) + len(tri)
    report("Euler characteristic -2 (disc with 3 holes)", chi == -2,
           f"V {len(np.unique(tri))} - E {len(undirected)} + F {len(tri)} = {chi}")
    loops = boundary_loops(tri)
    report("4 boundary loops", len(loops) == 4, f"sizes {sorted(len(lp) for lp in loops)}")
    for name, exp in expected_loops.items():
        hit = [lp for lp in loops if same_cycle(lp, exp)]
        report(f"boundary loop = {name}", len(hit) == 1, f"{len(exp)} vertices in polygon order")
    holes = {k: v for k, v in expected_loops.items() if k != "face oval"}
    for name, loop in holes.items():
        poly = template[loop, :2].astype(np.float32)
        inside = [t for t in tri.tolist() if set(t) <= set(loop)]
        cen = template[tri, :2].mean(axis=1)
        covered = int(sum(inside_polygon(poly, c) for c in cen))
        report(f"nothing over the {name} opening", not inside,
               f"it is a boundary loop; {len(inside)} triangles on its vertices only; (info) {covered} triangle "
               f"centroids fall inside its frontal projection on the template")
    cz = shoelace(p)
    neg = int((cz < 0).sum())
    report("counter-clockwise on screen (x right, y down) on the frontal template", neg > 0.95 * len(tri),
           f"{neg} ccw, {int((cz > 0).sum())} cw (folds of the frontal projection: "
           f"{sorted(tri[cz > 0].tolist())})")
    return fails


def fan_count(v: int, ts: list[list[int]]) -> int:
    """Number of edge-connected fans the triangles ``ts`` (all containing ``v``) form around ``v``."""
    parent = list(range(len(ts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    through = defaultdict(list)  # triangles sharing the edge (v, w)
    for k, t in enumerate(ts):
        for w in t:
            if w != v:
                through[w].append(k)
    for ks in through.values():
        for k in ks[1:]:
            parent[find(k)] = find(ks[0])
    return len({find(k) for k in range(len(ts))})


def shoelace(p: np.ndarray) -> np.ndarray:
    """(T, 3, >=2) triangle corners -> (T,) twice the signed area, x right, y down (< 0: ccw on screen)."""
    return (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 1, 1] - p[:, 0, 1]) * (p[:, 2, 0] - p[:, 0, 0])


def inside_polygon(poly: np.ndarray, pt: np.ndarray) -> bool:
    """Point strictly inside a polygon (even-odd rule, numpy only)."""
    x, y = float(pt[0]), float(pt[1])
    inside = False
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def cliques(edges) -> set[tuple[int, int, int]]:
    adj = defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    return {tuple(sorted((a, b, c))) for a in adj for b in adj[a] for c in adj[a] & adj[b]}


def compare_obj(tri: np.ndarray, obj: Path, holes: dict[str, list[int]]) -> None:
    faces = []
    for line in obj.read_text().splitlines():
        f = line.split()
        if f and f[0] == "f":
            faces.append(tuple(int(x.split("/")[0]) - 1 for x in f[1:4]))
    ours = {tuple(sorted(t)) for t in tri.tolist()}
    theirs = {tuple(sorted(t)) for t in faces}
    print(f"comparison with {obj} ({len(faces)} faces; read only):")
    print(f"  set equality of sorted triples: {ours == theirs}; common {len(ours & theirs)}, "
          f"only here {len(ours - theirs)}, only in the obj {len(theirs - ours)}")
    fills = {t for t in theirs - ours if any(set(t) <= set(h) for h in holes.values())}
    print(f"  obj-only triangles closing a hole (all 3 vertices on one eye/mouth loop): {len(fills)}")

    def edges_of(ts):
        return {tuple(sorted(e)) for t in ts for e in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2]))}

    by_edge = defaultdict(list)
    for t in ours:
        for e in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2])):
            by_edge[e].append(t)
    e_obj = edges_of(theirs)
    flips = 0
    for e in edges_of(ours) - e_obj:
        ts = by_edge[e]
        if len(ts) == 2:
            c, d = (next(v for v in t if v not in e) for t in ts)
            if tuple(sorted((c, d))) in e_obj and {tuple(sorted((e[0], c, d))), tuple(sorted((e[1], c, d)))} <= theirs:
                flips += 1
    rest = len(theirs - ours) - len(fills) - 2 * flips
    print(f"  quads triangulated with the other diagonal: {flips} (= {2 * flips} triangles each side); "
          f"unexplained differences: {rest + (len(ours - theirs) - 2 * flips)}")

    def cyc(t):
        k = t.index(min(t))
        return t[k:] + t[:k]

    ours_c = {cyc(tuple(t)) for t in tri.tolist()}
    common = [t for t in faces if tuple(sorted(t)) in ours]
    same = sum(cyc(t) in ours_c for t in common)
    print(f"  winding agrees on {same} of the {len(common)} common triangles")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, default=None, help=f"the {PACKAGE} wheel (default: pip download it)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="only verify that --out equals what would be written")
    ap.add_argument("--compare-obj", type=Path, default=DEFAULT_OBJ)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        wheel_sha = sha256(wheel)
        with zipfile.ZipFile(wheel) as zf:
            source = zf.read(MEMBER)
    member_sha = hashlib.sha256(source).hexdigest()
    lits = connection_literals(source.decode("utf-8"))
    tri = triangles_from_tessellation(lits["FACEMESH_TESSELATION"])
    print(f"{wheel.name} (sha256 {wheel_sha})")
    print(f"{MEMBER}: FACEMESH_TESSELATION {len(lits['FACEMESH_TESSELATION'])} edges "
          f"-> {len(tri)} triangles (consecutive edge triples)")

    # cross-check against the 3-cliques of the undirected edge graph
    cl = cliques(lits["FACEMESH_TESSELATION"])
    faces = {tuple(sorted(t)) for t in tri.tolist()}
    uses = Counter(tuple(sorted(e)) for t in faces for e in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2])))
    extra = sorted(cl - faces)
    print(f"3-cliques of the edge graph: {len(cl)}; faces not cliques: {len(faces - cl)}; cliques not faces: "
          f"{extra} (their edge uses: {[[uses[e] for e in ((a, b), (b, c), (a, c))] for a, b, c in extra]})")
    if faces - cl:
        raise SystemExit("a triangle is not a clique of the edge graph")

    from motionmask.render.mask import INNER_LIPS, LEFT_EYE, RIGHT_EYE

    oval = ordered_loop(lits["FACEMESH_FACE_OVAL"])
    expected = {"face oval": oval, "image-left eye": list(LEFT_EYE), "image-right eye": list(RIGHT_EYE),
                "mouth (inner lips)": list(INNER_LIPS)}
    # the renderer's eye polygons are MediaPipe's eye contours
    for name, lit in (("image-left eye", "FACEMESH_RIGHT_EYE"), ("image-right eye", "FACEMESH_LEFT_EYE")):
        if not same_cycle(ordered_loop(lits[lit]), expected[name]):
            raise SystemExit(f"{lit} is not the renderer's {name} polygon")

    template = np.asarray(json.loads(TEMPLATE.read_text())["points"], np.float64)[:NUM_MESH]
    p = template[tri]
    cz = shoelace(p)
    if (cz < 0).sum() < (cz > 0).sum():
        print("reversing the winding (MediaPipe's runs clockwise on screen here)")
        tri = tri[:, ::-1].copy()
    print("checks:")
    fails = check(tri, expected, template)
    if args.compare_obj and args.compare_obj.is_file():
        compare_obj(tri, args.compare_obj, {k: v for k, v in expected.items() if k != "face oval"})
    if fails:
        print(f"FAILED: {fails}")
        return 1

    doc = {
        "schema_version": 1,
        "description": (
            "Triangles of the MediaPipe 468-point face-mesh surface (indices 0-467, landmark order), for "
            "motionmask.render.mask. Open over the eyes and the mouth: 4 boundary loops (face oval, the two eyelid "
            "contours, the inner lips). Wound counter-clockwise on screen seen from the front in image coordinates "
            "(x right, y down): for [a, b, c] the shoelace sum of x_i y_(i+1) - x_(i+1) y_i is negative; every "
            "interior edge is used once in each direction."),
        "source": {
            "package": PACKAGE,
            "wheel": wheel.name,
            "wheel_sha256": wheel_sha,
            "member": MEMBER,
            "member_sha256": member_sha,
            "literal": "FACEMESH_TESSELATION",
            "license": "Apache-2.0 (The MediaPipe Authors)",
        },
        "provenance": {
            "script": "scripts/derive_face_triangles.py",
            "method": ("the literal's edges in source order, three per triangle ((a, b), (b, c), (c, a)) -> [a, b, c]; "
                       "source order and MediaPipe's winding kept; cross-checked against the 3-cliques of the edge "
                       "graph (all triangles are cliques; the extra cliques " + str([list(t) for t in extra]) +
                       " are not faces); orientation checked on data/template_face.json"),
        },
        "count": len(tri),
        "triangles": tri.tolist(),
    }
    text = json.dumps({k: v for k, v in doc.items() if k != "triangles"}, indent=2)[:-2]
    rows = [", ".join(json.dumps(t) for t in tri[k:k + 8].tolist()) for k in range(0, len(tri), 8)]
    text += ',\n  "triangles": [\n    ' + ",\n    ".join(rows) + "\n  ]\n}\n"
    assert json.loads(text) == json.loads(json.dumps(doc))
    if args.check:
        same = args.out.is_file() and args.out.read_text() == text
        print(f"{args.out} is {'up to date' if same else 'OUT OF DATE'}")
        return 0 if same else 1
    args.out.write_text(text)
    print(f"wrote {args.out} ({len(tri)} triangles)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
