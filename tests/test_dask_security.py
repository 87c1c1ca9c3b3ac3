"""The local Dask cluster the tool starts, as another local user would see it: nothing to browse
(no dashboard, no HTTP server at all) and nothing to connect to without this cluster's TLS
credentials. One real cluster (two worker processes) serves every test here."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from urllib.parse import urlsplit

import psutil
import pytest

TIMEOUT = 5  # seconds for a refused connection to fail


@pytest.fixture(scope="module")
def local():
    from sim.experiments.executors import Dask

    with Dask(workers=2) as executor:
        yield executor


def _port(address: str) -> int:
    return urlsplit(address).port


def _listening_ports() -> set[int]:
    me = psutil.Process()
    return {c.laddr.port for p in [me, *me.children(recursive=True)]
            for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}


def test_no_dashboard_and_no_http_server(local):
    """Every port the cluster's processes listen on is one of Dask's own TLS comms (scheduler,
    workers, nannies); none answers HTTP. Dask starts an HTTP server (127.0.0.1:8787 for the
    scheduler, with /info and /json pages) even when the dashboard is off."""
    info = local.client.scheduler_info()
    assert local.cluster.dashboard_link == "" and info["services"] == {}
    assert all(w["services"] == {} for w in info["workers"].values()), info["workers"]
    comms = {_port(local.client.scheduler.address)}
    for address, worker in info["workers"].items():
        comms |= {_port(address), _port(worker["nanny"])}
    assert len(comms) == 5, comms  # the check below must compare something
    assert _listening_ports() == comms
    for port in comms:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
            s.sendall(b"GET /info/main/workers.html HTTP/1.0\r\n\r\n")
            try:
                answer = s.recv(64)
            except (ConnectionError, TimeoutError):
                answer = b""
        assert not answer.startswith(b"HTTP/"), (port, answer)


def _connect(address: str, security: str = "None") -> subprocess.CompletedProcess:
    """Another local process that tries to connect a Dask client to `address`."""
    code = ("from distributed import Client\nfrom distributed.security import Security\n"
            f"Client({address!r}, timeout={TIMEOUT}, security={security})\nprint('connected')\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)


def _credentials(local, folder) -> dict[str, str]:
    """The cluster's own certificates (PEM text in memory) as files another process can read."""
    paths = {}
    for name in ("tls_ca_file", "tls_client_cert", "tls_client_key"):
        paths[name] = str(folder / f"{name}.pem")
        (folder / f"{name}.pem").write_text(getattr(local.cluster.security, name), encoding="ascii")
    return paths


def test_the_cluster_answers_a_client_with_its_credentials(local, tmp_path):
    """The control for the refusals below: the tool's client works, and so does another process
    given the cluster's certificates."""
    assert local.client.scheduler.address.startswith("tls://127.0.0.1:")
    assert local.client.submit(sum, [1, 2, 3], pure=False).result(timeout=60) == 6
    credentials = _credentials(local, tmp_path)
    done = _connect(local.client.scheduler.address, f"Security(require_encryption=True, **{credentials!r})")
    assert done.returncode == 0 and done.stdout.strip() == "connected", done.stderr


@pytest.mark.parametrize("how, security, error", [
    ("no credentials", "None", "TLS expects a `ssl_context`"),
    ("plain TCP", "None", "CommClosedError"),
    ("another cluster's certificates", "Security.temporary()", "TLS certificate does not match"),
])
def test_a_client_without_the_credentials_is_refused(local, how, security, error):
    address = local.client.scheduler.address
    if how == "plain TCP":
        address = address.replace("tls://", "tcp://")
    done = _connect(address, security)
    assert done.returncode != 0 and "connected" not in done.stdout, (done.stdout, done.stderr)
    assert error in done.stderr, done.stderr


def test_tls_without_a_client_certificate_is_refused(local, tmp_path):
    """A process that trusts the cluster's certificate (so its own check of the server passes) but
    shows none of its own: the scheduler requires one signed by this cluster's authority."""
    ca = tmp_path / "ca.pem"
    ca.write_text(local.cluster.security.tls_ca_file, encoding="ascii")  # the PEM text, kept in memory
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False
    with socket.create_connection(("127.0.0.1", _port(local.client.scheduler.address)), timeout=TIMEOUT) as raw:
        # the scheduler sends an alert or just hangs up ("EOF occurred in violation of protocol")
        with pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|EOF occurred"):
            with context.wrap_socket(raw) as tls:
                tls.sendall(b"\0" * 8)
                tls.recv(1)  # TLS 1.3: the refusal arrives after the handshake


@pytest.mark.parametrize("how", ["no TLS settings", "encryption required, tcp address"])
def test_a_scheduler_the_client_cannot_use_is_one_line_and_writes_nothing(local, tmp_path, how):
    """`--scheduler` to a TLS scheduler without Dask's TLS settings, or to a plain `tcp://`
    address while Dask's configuration requires encryption: one line, exit 2, no folder."""
    from sweep_helpers import REPO, assert_one_line_error, write_sweep

    address, env = local.client.scheduler.address, {}
    if how != "no TLS settings":
        address, env = "tcp://127.0.0.1:1", {"DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True"}
    path = write_sweep(tmp_path)
    done = subprocess.run([sys.executable, "-m", "sim", "sweep", str(path), "--out", str(tmp_path / "out"),
                           "--scheduler", address, "--quiet"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "MPLBACKEND": "Agg", **env}, check=False)
    assert_one_line_error(done, f"dask scheduler {address}: cannot start or connect", "docs/cluster.md")
    assert not (tmp_path / "out").exists()
