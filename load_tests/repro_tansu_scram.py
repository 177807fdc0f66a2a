"""Minimal reproduction: Tansu 0.6 cannot give an authenticating broker a SCRAM user that logs in.

Run: `.venv/bin/python load_tests/repro_tansu_scram.py`. Three tries, each printed:
1. `tansu user create` against a broker with `--authentication`: refused (creating a user is itself an
   authenticated request, and no user exists yet);
2. the same against a broker without authentication on shared s3:// storage (moto): the broker answers
   AlterUserScramCredentials with error 0, but writes nothing to the bucket (credentials live in that broker's
   memory only);
3. a second broker with `--authentication` on that same bucket (which does see the first broker's topics) refuses
   the user with the right password. On Kafka the login in 3 succeeds.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

from gridmon.kafka.embedded import EmbeddedBroker, broker_binary, free_loopback_port, port_answers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from load_tests.reliability import ObjectStore, wait_until  # noqa: E402

USER, PASSWORD = "ingest", "right-password-123"


def create_user(bootstrap: str) -> str:
    command = [broker_binary(), "user", "create", "--broker", f"tcp://{bootstrap}", USER, PASSWORD]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    return "accepted" if done.returncode == 0 else f"refused ({done.stderr.strip().splitlines()[-1][:80]})"


def logs_in(bootstrap: str) -> bool:
    config = {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT"}
    config |= {"sasl.mechanism": "SCRAM-SHA-512", "sasl.username": USER, "sasl.password": PASSWORD}
    try:
        AdminClient(config | {"socket.timeout.ms": "3000", "log_level": "0"}).list_topics(timeout=4)
    except Exception:
        return False
    return True


def authenticating(broker: EmbeddedBroker) -> EmbeddedBroker:
    """Started by hand: `start()` waits for an anonymous metadata answer, which never comes with auth on."""
    broker.port = free_loopback_port()
    broker._spawn()
    wait_until(lambda: port_answers("127.0.0.1", broker.port), 15)
    return broker


def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="repro-scram-"))
    memory = authenticating(EmbeddedBroker(sasl=True))
    try:
        print(f"1. user create on a memory broker with authentication: {create_user(memory.bootstrap)}")
    finally:
        memory.stop()
    objects = ObjectStore(data_dir).start()
    storage = {"storage": f"s3://{objects.bucket}/", "storage_env": objects.broker_env()}
    try:
        with EmbeddedBroker(**storage) as open_broker:  # type: ignore[arg-type]
            admin = AdminClient({"bootstrap.servers": open_broker.bootstrap})
            admin.create_topics([NewTopic("repro.scram", 1, 1)])["repro.scram"].result(timeout=10)
            print(
                f"2. user create on an s3 broker without authentication: {create_user(open_broker.bootstrap)}"
            )
            with urllib.request.urlopen(f"{objects.url}/{objects.bucket}?list-type=2") as listing:  # noqa: S310
                keys = listing.read().decode().count("<Key>")
            print(f"   objects in the bucket: {keys} (topic metadata and records; no user credentials)")
            closed = authenticating(EmbeddedBroker(sasl=True, **storage))  # type: ignore[arg-type]
            try:
                print(
                    f"3. right password on an s3 broker with authentication: logged in {logs_in(closed.bootstrap)}"
                )
            finally:
                closed.stop()
    finally:
        objects.stop()


if __name__ == "__main__":
    main()
