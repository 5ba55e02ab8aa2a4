"""A province on Dask: the synthetic province, the task graph, schedulers giving identical outputs, failures."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from gridmgmt import io
from gridmgmt.cli import app
from gridmgmt.demo.province import generate_province, province_layout
from gridmgmt.province import STEPS, StepOptions, build_graph, find_districts, parse_steps, run_province
from gridmgmt.province.run import MAX_RESULT_BYTES, WORKER_ENVIRON, _largest_first

FAST = StepOptions(solution_limit=10)
SMALL = {"retailers_per_district": 300, "base_km": 2.0, "history_days": 180}


@pytest.fixture(scope="module")
def province(tmp_path_factory) -> Path:
    """Three small districts (a city district, an ordinary one, a rural county), a few hundred retailers each."""
    out = tmp_path_factory.mktemp("province")
    generate_province(out, 3, **SMALL)
    return out


def test_layout_of_40_districts_tiles_the_province_with_300k_retailers() -> None:
    """N = 40 gives about 300,000 retailers; tiles do not overlap; densities differ by 20x or more."""
    layout = province_layout(40)
    assert 290_000 <= layout["n_retailers"].sum() <= 310_000
    union = shapely.union_all(layout.geometry.to_numpy())
    assert union.area == pytest.approx(layout.area.sum(), rel=1e-9)
    assert union.geom_type == "Polygon"
    assert layout["retailers_per_km2"].max() / layout["retailers_per_km2"].min() >= 20
    assert set(layout["kind"]) == {"city", "ordinary", "rural"}
    assert layout["district"].is_unique


def test_province_is_deterministic_per_seed(province, tmp_path) -> None:
    """The same seed writes the same district files; every folder is a complete district."""
    again = tmp_path / "again"
    generate_province(again, 3, **SMALL)
    for name in ("d01_city", "d02_ordinary", "d03_rural"):
        for f in ("district.toml", "retailers.csv", "staff.csv", "depots.csv", "roads.osm.gz", "events.csv.gz"):
            assert (province / name / f).read_bytes() == (again / name / f).read_bytes(), (name, f)
    counts = pd.read_csv(province / "province.csv").set_index("district")["n_retailers"]
    assert counts["d01_city"] > counts["d02_ordinary"] > counts["d03_rural"]


def test_graph_has_one_task_per_district_and_step_in_order(province) -> None:
    """Keys are step-district; each step depends on the step before it in its district only."""
    districts = find_districts(str(province / "*"))
    nodes = build_graph(districts, province / "out", options=FAST)
    assert len(nodes) == 3 * len(STEPS)
    deps = {k: set(v) for n in nodes for k, v in n.dask.dependencies.items()}
    assert deps["plan-d01_city"] == {"grids-d01_city"}
    assert deps["grids-d01_city"] == {"risk-d01_city"}
    assert deps["validate-d02_ordinary"] == set()
    assert parse_steps("plan,risk") == ("risk", "plan")


def test_largest_districts_get_the_highest_priority(province) -> None:
    """The LocalCluster starts the biggest district's chain first (input size: city > ordinary > rural)."""
    districts = find_districts(str(province / "*"))
    groups = _largest_first(build_graph(districts, province / "out", options=FAST), districts)
    order = [group[0].key.split("-", 1)[1] for _, group in sorted(groups, key=lambda g: -g[0])]
    assert order == ["d01_city", "d02_ordinary", "d03_rural"]
    assert all(len(group) == len(STEPS) for _, group in groups)


@pytest.mark.slow
def test_local_workers_keep_glibc_memory_trimming_default() -> None:
    """Workers start without Dask's MALLOC_TRIM_THRESHOLD_ (it made route search 1.7x slower), other settings kept."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set(WORKER_ENVIRON):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster) as client:
        environ = next(iter(client.run(lambda: dict(os.environ)).values()))
    assert "MALLOC_TRIM_THRESHOLD_" not in environ
    assert environ.get("OMP_NUM_THREADS") == "1"  # one thread per one-thread worker, as Dask sets it


def _without_timing(text: str) -> dict:
    """A JSON text without the seconds a run took (``*elapsed_s``: the only fields that may differ between runs)."""
    return {k: v for k, v in json.loads(text).items() if not k.endswith("elapsed_s")}


def _same_outputs(a: Path, b: Path) -> None:
    """Every output equal: tables byte for byte, GeoPackage layers as frames, HTML up to folium's random ids.

    Left out: the status table and the shared store (it records run ids and times by design); the
    seconds a grid build took.
    """

    def outputs(root: Path) -> list[Path]:
        skip = ("status.csv", "store.sqlite")
        return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and not p.name.startswith(skip))

    files = outputs(a)
    assert files == outputs(b)
    for rel in files:
        x, y = a / rel, b / rel
        if rel.suffix == ".gpkg":
            for layer in io.list_layers(x):
                left, right = io.read_layer(x, layer), io.read_layer(y, layer)
                if layer == "about":
                    left, right = (dict(zip(t["key"], t["value"], strict=True)) for t in (left, right))
                    assert _without_timing(left.pop("metrics")) == _without_timing(right.pop("metrics")), rel
                    assert left == right, (rel, layer)
                else:
                    assert left.equals(right), (rel, layer)
        elif rel.suffix == ".html":
            ids = re.compile(r"[0-9a-f]{32}")
            assert ids.sub("", x.read_text()) == ids.sub("", y.read_text()), rel
        elif rel.suffix == ".json":
            assert _without_timing(x.read_text()) == _without_timing(y.read_text()), rel
        else:
            assert x.read_bytes() == y.read_bytes(), rel


@pytest.mark.slow
def test_sequential_and_local_cluster_give_identical_outputs(province, tmp_path) -> None:
    """scheduler none and a 2-worker LocalCluster write the same files; results are small rows, memory measured."""
    districts = find_districts(str(province / "*"))
    rows: list[dict] = []
    seq = run_province(districts, tmp_path / "seq", scheduler="none", options=FAST, on_row=rows.append)
    par = run_province(districts, tmp_path / "par", scheduler="local", workers=2, options=FAST)
    assert seq.ok and par.ok, (seq.failed, par.failed)
    assert len(par.status) == 3 * len(STEPS)
    assert par.status["worker"].nunique() == 2  # both workers took tasks
    assert (par.status["peak_memory_mb"] > 0).all()
    assert max(len(pickle.dumps(r)) for r in rows) < MAX_RESULT_BYTES
    _same_outputs(tmp_path / "seq", tmp_path / "par")
    for metrics in (tmp_path / "seq").glob("*/grids/metrics.json"):  # sparse districts: areas without a routed visit
        fit = json.loads(metrics.read_text())["calibration_fit_error"]  # once divided by 0 minutes: 3e10
        assert fit is None or 0 <= fit <= 1.0, (metrics, fit)
    page = (tmp_path / "par" / "province.html").read_text()
    assert 'href="d01_city/overview.html"' in page and "<iframe" in page
    assert "https://" not in page.split("<iframe", 1)[0]


@pytest.mark.slow
def test_a_broken_district_is_reported_and_the_others_finish(province, tmp_path) -> None:
    """A corrupt retailers file fails its district in status.csv; the CLI exits 1; --retry-failed reruns it alone."""
    root = tmp_path / "prov"
    shutil.copytree(province, root)
    good = (root / "d03_rural" / "retailers.csv").read_bytes()
    (root / "d03_rural" / "retailers.csv").write_bytes(b"retailer_id,name\n\xff\xfe broken")
    args = ["province", "run", "--districts", str(root / "*"), "--out", str(tmp_path / "out"), "--scheduler", "none"]
    args += ["--steps", "validate,risk", "--solution-limit", "20"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    status = pd.read_csv(tmp_path / "out" / "status.csv")
    broken = status.loc[status["district"] == "d03_rural"].set_index("step")["status"]
    assert broken.to_dict() == {"validate": "failed", "risk": "skipped"}
    message = status.loc[(status["district"] == "d03_rural") & (status["step"] == "validate"), "message"].iloc[0]
    assert "retailers.csv" in message and "\n" not in message
    assert (status.loc[status["district"] != "d03_rural", "status"] == "ok").all()
    assert (tmp_path / "out" / "province.html").exists()

    (root / "d03_rural" / "retailers.csv").write_bytes(good)
    rows: list[dict] = []
    districts = find_districts(str(root / "*"))
    again = run_province(
        districts, tmp_path / "out", steps=("validate", "risk"), scheduler="none", retry_failed=True, on_row=rows.append
    )
    assert {(r["district"], r["step"]) for r in rows} == {("d03_rural", "validate"), ("d03_rural", "risk")}
    assert again.ok and len(again.status) == 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_runs_on_a_dask_scheduler_and_two_workers_on_loopback(province, tmp_path) -> None:
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1; the province runs against that address."""
    dask_cli = Path(sys.executable).with_name("dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": tmp_path}
    procs = [
        subprocess.Popen(
            [str(dask_cli), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **common
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        for _ in range(2):
            worker = [str(dask_cli), "worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"]
            procs.append(subprocess.Popen(worker, **common))
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        districts = find_districts(str(province / "*"))
        run = run_province(districts, tmp_path / "out", steps=("validate", "risk"), scheduler=address, options=FAST)
        assert run.ok, run.failed
        assert any("MALLOC_TRIM_THRESHOLD_=65536" in note for note in run.notes)  # plain `dask worker`s trim
        assert run.status["worker"].nunique() == 2
        assert (tmp_path / "out" / "d02_ordinary" / "risk" / "risk.csv").exists()
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def test_cli_help_and_bad_input(tmp_path) -> None:
    """province run --help works; a glob matching nothing and an unknown step are one-line errors, exit 1."""
    runner = CliRunner()
    assert runner.invoke(app, ["province", "run", "--help"]).exit_code == 0
    result = runner.invoke(app, ["province", "run", "--districts", str(tmp_path / "none*"), "--scheduler", "none"])
    assert result.exit_code == 1 and "no district.toml matches" in result.output
    with pytest.raises(Exception, match="unknown step"):
        parse_steps("risk,routes")
