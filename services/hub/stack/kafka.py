"""Apache Kafka in KRaft mode, one node, run from Maven Central jars.

``install`` resolves ``org.apache.kafka:kafka_2.13``, ``kafka-tools`` and a
log4j2 binding with Maven (``deploy/local/kafka/pom.xml``) into the tools
folder. ``start`` formats the storage once with ``kafka.tools.StorageTool
format --standalone`` and runs ``kafka.Kafka`` with a generated
``server.properties``: replication factor 1 for the internal topics and no
initial rebalance delay, as a single node needs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from hub.access.store import ADMIN, CredentialStore
from hub.stack import tls
from hub.stack.base import require_program
from hub.stack.config import StackConfig
from hub.stack.process import (
    StackError,
    alive,
    port_open,
    read_pid,
    run,
    spawn,
    tail,
    terminate,
    wait_until,
)
from wire.kafka_client import ClientSettings
from wire.private_files import UMASK, private_dir, write_private

NAME = "kafka"
HOST = "127.0.0.1"

_SERVER_PROPERTIES = """\
# Written by `svdhub stack up`; edit deploy/local/stack.toml instead.
# It holds the admin's password and the key store's: mode 0600.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers={host}:{controller_port}
# Clients: SASL/SCRAM over TLS only. The controller listener takes only the
# broker itself, which proves who it is with its certificate.
listeners=SASL_SSL://{bind}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=SASL_SSL://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=\\
  org.apache.kafka.common.security.scram.ScramLoginModule required \\
  username="{admin}" password="{admin_password}";
ssl.keystore.type=PKCS12
ssl.keystore.location={keystore}
ssl.keystore.password={keystore_password}
ssl.truststore.type=PEM
ssl.truststore.location={ca}
ssl.endpoint.identification.algorithm=https
listener.name.controller.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([a-z0-9-]+)$/$1/,DEFAULT
# Default deny: a principal may do only what an ACL grants (svdhub access
# apply writes them from the agreements); admin and the broker itself are
# super users.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:{admin};User:{broker}
log.dirs={data_dir}
num.partitions=3
auto.create.topics.enable=false
# One node: every internal topic has a single replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
# A metadata snapshot at least every minute (the default is an hour). Kafka
# loses every SCRAM credential, the admin's too, when it restarts with
# credential deletions in its metadata log and no snapshot taken after them;
# `svdhub access` never deletes one (hub.access.broker.REVOKED_ITERATIONS),
# and a snapshot folds in any deletion made by other means.
metadata.log.max.snapshot.interval.ms=60000
"""

_LOG4J2 = """\
status = warn
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.filePattern = {log_file}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


class Kafka:
    """The broker+controller process of the local stack."""

    name = NAME

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.settings = config.kafka
        self.libs = config.tools_dir / f"kafka-{self.settings.version}" / "libs"
        self.home = config.state_dir / "kafka"
        self.data_dir = self.home / "data"
        self.properties = self.home / "server.properties"
        self.log4j = self.home / "log4j2.properties"
        self.server_log = self.home / "server.log"
        self.stdout_log = self.home / "stdout.log"
        self.pid_file = self.home / "kafka.pid"
        self.format_record = self.home / "formatted.json"
        self.tls_dir = config.state_dir / "tls"
        self.credentials = CredentialStore(config.state_dir)

    # -- install -----------------------------------------------------------

    def installed(self) -> bool:
        return (self.libs / f"kafka_2.13-{self.settings.version}.jar").is_file()

    def install(self) -> None:
        if self.installed():
            return
        require_program(NAME, "java", "openjdk-17-jre-headless")
        mvn = require_program(NAME, "mvn", "maven")
        pom = self.config.project_root / "deploy" / "local" / "kafka" / "pom.xml"
        staging = self.libs.with_name("libs.partial")
        shutil.rmtree(staging, ignore_errors=True)
        run(
            NAME,
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
                f"-Dkafka.version={self.settings.version}",
                f"-Dlog4j.version={self.settings.log4j_version}",
                f"-Dslf4j.version={self.settings.slf4j_version}",
            ],
            timeout=1200,
        )
        if not (staging / f"kafka_2.13-{self.settings.version}.jar").is_file():
            raise StackError(
                NAME,
                f"Maven finished but kafka_2.13-{self.settings.version}.jar is not in {staging}",
            )
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)

    # -- lifecycle ---------------------------------------------------------

    def tool(self, main: str, *args: str) -> list[str]:
        """The command that runs one of Kafka's own tools (e.g.
        ``org.apache.kafka.tools.ProducerPerformance``) from the installed jars."""
        if not self.installed():
            raise StackError(NAME, f"jars not found in {self.libs}; run `svdhub stack install`")
        return self._java(main, *args)

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        java = require_program(NAME, "java", "openjdk-17-jre-headless")
        return [
            java,
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.log4j}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def running(self) -> bool:
        pid = read_pid(self.pid_file)
        return pid is not None and alive(pid, str(self.properties))

    def start(self) -> None:
        if not self.installed():
            raise StackError(NAME, f"jars not found in {self.libs}; run `svdhub stack install`")
        for port in (self.settings.port, self.settings.controller_port):
            if port_open(port):
                raise StackError(
                    NAME,
                    f"port {port} is already in use by another process; "
                    "choose other ports in deploy/local/stack.toml",
                )
        self.prepare()
        spawn(
            NAME,
            self._java("kafka.Kafka", str(self.properties), heap=self.settings.heap),
            self.stdout_log,
            self.pid_file,
        )

    def prepare(self) -> None:
        """Write ``server.properties`` and the log4j2 settings, then format the
        log directory if it is not formatted for these settings yet. ``start``
        calls it before launching the broker; it launches nothing itself."""
        private_dir(self.home)
        files = tls.ensure(self.tls_dir)
        admin = self.admin_settings(create=True)
        write_private(
            self.properties,
            _SERVER_PROPERTIES.format(
                host=HOST,
                bind=HOST,
                port=self.settings.port,
                controller_port=self.settings.controller_port,
                data_dir=self.data_dir,
                admin=ADMIN,
                admin_password=admin.password,
                broker=tls.BROKER_NAME,
                keystore=files.keystore,
                keystore_password=files.keystore_password(),
                ca=files.ca_cert,
            ),
        )
        self.log4j.write_text(_LOG4J2.format(log_file=self.server_log), encoding="utf-8")
        self._format_once(admin)

    def compose_files(self, folder: Path) -> Path:
        """Write what docker compose's Kafka needs into ``folder`` (mounted at
        ``/etc/svdhub``): ``server.properties`` with the same security as the
        local stack, the broker's key store and the CA, the cluster id, and
        the admin's SCRAM record for the first format. The admin's client
        settings stay in the state folder, as for the local stack."""
        files = tls.ensure(self.tls_dir)
        admin = self.admin_settings(create=True)
        private_dir(folder)
        inside = Path("/etc/svdhub")
        write_private(
            folder / "server.properties",
            _SERVER_PROPERTIES.format(
                host=HOST,
                bind="0.0.0.0",  # noqa: S104 - inside the container; compose publishes it on loopback
                port=self.settings.port,
                controller_port=self.settings.controller_port,
                data_dir="/var/lib/kafka/data",
                admin=ADMIN,
                admin_password=admin.password,
                broker=tls.BROKER_NAME,
                keystore=inside / files.keystore.name,
                keystore_password=files.keystore_password(),
                ca=inside / files.ca_cert.name,
            ),
        )
        write_private(folder / files.keystore.name, files.keystore.read_bytes())
        write_private(folder / files.ca_cert.name, files.ca_cert.read_bytes())
        if not (folder / "cluster.id").is_file():
            write_private(folder / "cluster.id", _kafka_cluster_id() + "\n")
        write_private(folder / "admin.scram", _scram_record(ADMIN, admin.password) + "\n")
        return folder

    def admin_settings(self, *, create: bool = False) -> ClientSettings:
        """The stack's ``admin`` principal (super user): its credentials file
        in the state folder, made with a new password when ``create`` and
        missing (the broker learns it when its storage is formatted)."""
        ca = tls.TlsFiles(self.tls_dir).ca_cert
        if create:
            settings, _ = self.credentials.create(ADMIN, self.address(), ca)
            return settings
        return self.credentials.load(ADMIN)

    def _format_once(self, admin: ClientSettings) -> None:
        """Format the log directory, once. The controller's address is written
        into the storage, so a changed controller port means a fresh format;
        so does a new admin password, whose SCRAM credential is written into
        the storage (as a salted hash, never the password itself).

        The cluster id goes as ``--cluster-id=<id>``, one argument: an id may
        start with ``-``, and as a separate argument the tool would read it
        as an option."""
        wanted = {
            "controller_port": self.settings.controller_port,
            "version": self.settings.version,
            "security": "sasl_ssl-scram-sha-512",
            "admin": hashlib.sha256(admin.password.encode()).hexdigest(),
        }
        if (self.data_dir / "meta.properties").is_file():
            try:
                recorded = json.loads(self.format_record.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                recorded = None
            if recorded == wanted:
                return
            shutil.rmtree(self.data_dir)
        cluster_id = _kafka_cluster_id()
        run(
            NAME,
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                f"--cluster-id={cluster_id}",
                f"--add-scram={_scram_record(ADMIN, admin.password)}",
                "-c",
                str(self.properties),
            ),
            timeout=120,
            umask=UMASK,
        )
        write_private(self.format_record, json.dumps(wanted))

    def ready(self) -> bool:
        return port_open(self.settings.port) and _broker_answers(self.admin_settings())

    def wait_ready(self, deadline: float) -> None:
        wait_until(
            NAME,
            "ready",
            self.ready,
            deadline,
            log_file=self._log_for_errors(),
            still_running=self.running,
        )

    def _log_for_errors(self) -> Path:
        # The JVM prints fatal start-up errors on stdout; the rest goes to server.log.
        return self.server_log if tail(self.server_log) else self.stdout_log

    def stop(self) -> None:
        pid = read_pid(self.pid_file)
        if pid is not None:
            terminate(NAME, pid, str(self.properties), timeout=60)
        self.pid_file.unlink(missing_ok=True)

    # -- description -------------------------------------------------------

    def version(self) -> str:
        return self.settings.version

    def address(self) -> str:
        return f"{HOST}:{self.settings.port}"

    def env(self) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": self.address()}


#: SCRAM iterations for the admin's credential written at format time.
SCRAM_ITERATIONS = 8192


def _scram_record(name: str, password: str) -> str:
    """The ``--add-scram`` value that gives ``name`` a SCRAM-SHA-512 credential
    for ``password``, as a salted password (RFC 5802 ``Hi()``, PBKDF2 with
    HMAC-SHA-512), so the password itself never appears on a command line."""
    salt = secrets.token_bytes(32)
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, SCRAM_ITERATIONS)
    return (
        f"SCRAM-SHA-512=[name={name},"
        f'salt="{base64.b64encode(salt).decode()}",'
        f'saltedpassword="{base64.b64encode(salted).decode()}",'
        f"iterations={SCRAM_ITERATIONS}]"
    )


# Kafka's reserved ids (org.apache.kafka.common.Uuid.RESERVED): the zero UUID
# and the metadata topic's id, 0...01.
_RESERVED_IDS = frozenset({bytes(16), bytes(15) + b"\x01"})


def _kafka_cluster_id(random_uuid: Callable[[], bytes] = lambda: uuid.uuid4().bytes) -> str:
    """A Kafka cluster id, made as Kafka's own ``Uuid.randomUuid()`` makes one
    (what ``kafka-storage random-uuid`` prints): a random version 4 UUID as
    URL-safe base64 without padding, drawn again while it is a reserved id or
    its text starts with ``-`` (1 draw in 64), which command lines would
    take for an option."""
    while True:
        raw = random_uuid()
        text = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        if raw not in _RESERVED_IDS and not text.startswith("-"):
            return text


def _broker_answers(admin: ClientSettings) -> bool:
    """True when the broker answers the admin's metadata request and is not fenced."""
    from kafka import KafkaAdminClient  # noqa: PLC0415 - slow import, only for probes
    from kafka.errors import KafkaError  # noqa: PLC0415

    quiet = logging.getLogger("kafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    client = None
    try:
        client = KafkaAdminClient(
            **admin.kafka_python(),
            request_timeout_ms=3000,
            connections_max_idle_ms=10000,
            client_id="svdhub-probe",
        )
        brokers = client.describe_cluster().get("brokers", [])
        return any(not broker.get("is_fenced", False) for broker in brokers)
    except (KafkaError, OSError, ValueError):
        return False
    finally:
        if client is not None:
            client.close()
        quiet.setLevel(level)
