#!/bin/bash
# Single-node KRaft broker with SASL/SCRAM-SHA-512 on the client listener. SCRAM users must exist before the
# first start in KRaft, so they are added when the storage is formatted (a no-op once formatted).
set -euo pipefail
cat > /tmp/server.properties <<PROPS
node.id=1
process.roles=broker,controller
controller.quorum.voters=1@localhost:9093
listeners=SASL_PLAINTEXT://:9092,CONTROLLER://localhost:9093
advertised.listeners=SASL_PLAINTEXT://kafka:9092
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${KAFKA_ADMIN_USER}" password="${KAFKA_ADMIN_PASSWORD}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:${KAFKA_ADMIN_USER}
allow.everyone.if.no.acl.found=false
log.dirs=/var/lib/kafka/data
num.partitions=12
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
auto.create.topics.enable=false
PROPS
cat > /tmp/admin.properties <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${KAFKA_ADMIN_USER}" password="${KAFKA_ADMIN_PASSWORD}";
PROPS
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "${KAFKA_CLUSTER_ID}" -c /tmp/server.properties \
  --add-scram "SCRAM-SHA-512=[name=${KAFKA_ADMIN_USER},password=${KAFKA_ADMIN_PASSWORD}]" \
  --add-scram "SCRAM-SHA-512=[name=${KAFKA_GRIDMON_USER},password=${KAFKA_GRIDMON_PASSWORD}]"
# The workers' user reads and writes every topic and uses its consumer groups; it cannot create or delete.
( until /opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:9092 \
      --command-config /tmp/admin.properties >/dev/null 2>&1; do sleep 2; done
  /opt/kafka/bin/kafka-acls.sh --bootstrap-server localhost:9092 --command-config /tmp/admin.properties \
    --add --allow-principal "User:${KAFKA_GRIDMON_USER}" --operation Read --operation Write --operation Describe \
    --topic '*' --group '*' --transactional-id '*' ) &
exec /opt/kafka/bin/kafka-server-start.sh /tmp/server.properties
