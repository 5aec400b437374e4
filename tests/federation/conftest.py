"""Fixtures: tiny real node catalogs (pydicom files → index → clinical import) and real servers.

Node ``alpha`` holds ``alpha-lung`` (25 patients: 12 F, 10 M, 3 O; CT, 5 also MR; access
record) and ``alpha-breast`` (6 patients: MG; access count). Node ``beta`` holds
``beta-prostate`` (15 patients, MR). Servers are real uvicorn servers on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn

from oncoatlas.federation.policy import hash_token

TOKENS = {
    "researcher": "tok-researcher-9b1f2e",   # record on alpha-lung, count elsewhere
    "analyst": "tok-analyst-77c0d1",         # count only
    "stingy": "tok-stingy-4a4a4a",           # count, 3 requests in total
    "public": "tok-public-31337a",           # public only
}


def _write_dicom(path: Path, patient_id: str, sex: str, study: str, series: str, sop: str, modality: str,
                 body_part: str) -> None:
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    sop_class = {
        "CT": "1.2.840.10008.5.1.4.1.1.2",
        "MR": "1.2.840.10008.5.1.4.1.1.4",
        "MG": "1.2.840.10008.5.1.4.1.1.1.2",
    }[modality]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop
    ds.PatientID = patient_id
    ds.PatientName = patient_id
    ds.PatientSex = sex
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.StudyDate = "20240101"
    ds.Modality = modality
    ds.BodyPartExamined = body_part
    ds.Manufacturer = "ACME"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.FrameOfReferenceUID = study + ".9"
    ds.ImagePositionPatient = [0.0, 0.0, 0.0]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [1.0, 1.0]
    ds.SliceThickness = 2.0
    ds.Rows = 4
    ds.Columns = 4
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.PixelData = np.zeros((4, 4), dtype=np.int16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


CLINICAL_HEADER = ["patient_id", "sex", "age_at_diagnosis", "cancer_site", "dataset"]


def build_node(root: Path, node: str, datasets: list[dict[str, Any]], patients: list[dict[str, Any]],
               index: bool = True) -> Path:
    """Write DICOM + datasets.yaml + clinical.csv under root/node and index them into root/node/catalog."""
    import yaml

    from oncoatlas.catalog.clinical import import_clinical
    from oncoatlas.catalog.index import index_node

    folder = root / node
    dicom = folder / "dicom"
    dicom.mkdir(parents=True)
    (folder / "datasets.yaml").write_text(
        yaml.safe_dump({"node": node, "role": "federated", "datasets": datasets}), encoding="utf-8"
    )
    base = f"1.2.826.0.1.3680043.10.{abs(hash(node)) % 9000 + 1000}"
    rows = []
    for i, p in enumerate(patients):
        pid = p["patient_id"]
        study = f"{base}.{i + 1}"
        for j, modality in enumerate(p["modalities"]):
            series = f"{study}.{j + 1}"
            _write_dicom(dicom / pid / f"s{j}.dcm", pid, p["sex"], study, series, f"{series}.1", modality,
                         p["body_part"])
        rows.append(",".join(str(p[c]) for c in CLINICAL_HEADER))
    (folder / "clinical.csv").write_text(",".join(CLINICAL_HEADER) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    catalog = folder / "catalog"
    if not index:
        return catalog
    index_node([dicom], catalog, node, workers=1, progress=False)
    import_clinical(folder / "clinical.csv", catalog, node)
    return catalog


def alpha_patients() -> list[dict[str, Any]]:
    out = []
    sexes = ["F"] * 12 + ["M"] * 10 + ["O"] * 3
    for i, sex in enumerate(sexes):
        out.append({"patient_id": f"A{i:03d}", "sex": sex, "age_at_diagnosis": 45 + (i * 7) % 35,
                    "cancer_site": "C34", "dataset": "alpha-lung", "body_part": "CHEST",
                    "modalities": ["CT", "MR"] if i % 5 == 0 else ["CT"]})
    for i in range(6):
        out.append({"patient_id": f"B{i:03d}", "sex": "F", "age_at_diagnosis": 50 + i, "cancer_site": "C50",
                    "dataset": "alpha-breast", "body_part": "BREAST", "modalities": ["MG"]})
    return out


def beta_patients() -> list[dict[str, Any]]:
    return [{"patient_id": f"P{i:03d}", "sex": "M", "age_at_diagnosis": 55 + i, "cancer_site": "C61",
             "dataset": "beta-prostate", "body_part": "PROSTATE", "modalities": ["MR"]} for i in range(15)]


def write_policy(path: Path, node: str, threshold: int = 10) -> Path:
    import yaml

    tokens = [
        {"id": "researcher", "sha256": hash_token(TOKENS["researcher"]),
         "grants": {"*": "count", f"{node}-lung": "record"}, "budget": {"per_minute": 10000, "total": 100000}},
        {"id": "analyst", "sha256": hash_token(TOKENS["analyst"]), "grants": {"*": "count"},
         "budget": {"per_minute": 10000}},
        {"id": "stingy", "sha256": hash_token(TOKENS["stingy"]), "grants": {"*": "count"},
         "budget": {"per_minute": 100, "total": 3}},
        {"id": "public", "sha256": hash_token(TOKENS["public"]), "grants": {"*": "public"}},
    ]
    path.write_text(yaml.safe_dump({"node": node, "threshold": threshold, "anonymous": "count", "tokens": tokens}),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def nodes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fed")
    build_node(root, "alpha", [
        {"id": "alpha-lung", "title": "Lung CT", "access": "record", "modalities": ["CT", "MR"]},
        {"id": "alpha-breast", "title": "Breast MG", "access": "count", "modalities": ["MG"]},
    ], alpha_patients())
    build_node(root, "beta", [{"id": "beta-prostate", "title": "Prostate MR", "access": "count"}], beta_patients())
    write_policy(root / "alpha" / "policy.yaml", "alpha")
    write_policy(root / "beta" / "policy.yaml", "beta")
    return root


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class ServerThread:
    """A real uvicorn server for an ASGI app on 127.0.0.1, in a thread."""

    def __init__(self, app: Any) -> None:
        self.sock = free_socket()
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


class HungServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers (or drops them)."""

    def __init__(self, drop: bool = False) -> None:
        self.sock = free_socket()
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.drop = drop
        self.conns: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.drop:
                conn.settimeout(2)
                try:
                    conn.recv(65536)  # read the request, then die without a word
                except OSError:
                    pass
                conn.close()
            else:
                self.conns.append(conn)

    def __enter__(self) -> HungServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture(scope="session")
def alpha_server(nodes_dir: Path) -> Iterator[ServerThread]:
    from oncoatlas.federation.server import create_app

    app = create_app(nodes_dir / "alpha" / "catalog", nodes_dir / "alpha" / "policy.yaml",
                     nodes_dir / "alpha" / "audit.jsonl")
    with ServerThread(app) as server:
        yield server


@pytest.fixture(scope="session")
def beta_server(nodes_dir: Path) -> Iterator[ServerThread]:
    from oncoatlas.federation.server import create_app

    app = create_app(nodes_dir / "beta" / "catalog", nodes_dir / "beta" / "policy.yaml",
                     nodes_dir / "beta" / "audit.jsonl")
    with ServerThread(app) as server:
        yield server
