#include "src/kafka/conf.h"

#include <gtest/gtest.h>

#include "src/kafka/consumer.h"
#include "src/kafka/error.h"
#include "src/kafka/producer.h"

namespace sluice::kafka {
namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const KafkaError& e) {
    return e.what();
  }
  return "no error";
}

TEST(KafkaConf, UnknownPropertyIsAnErrorNamingIt) {
  Conf c;
  std::string m = message_of([&] { c.set("no.such.property", "1"); });
  EXPECT_NE(m.find("kafka property 'no.such.property'"), std::string::npos) << m;
}

TEST(KafkaConf, SecretValuesNeverAppearInErrors) {
  Conf c;
  std::string m = message_of([&] { c.set("sasl.password", "hunter2"); });  // valid: no error
  EXPECT_EQ(m, "no error");
  m = message_of([&] { c.set("ssl.key.password.bogus", "hunter2"); });
  EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
  EXPECT_TRUE(is_secret_property("sasl.password"));
  EXPECT_FALSE(is_secret_property("bootstrap.servers"));
}

// librdkafka quotes a rejected value (whole, one token of a list, or the
// number it parsed); a value from the environment never shows.
TEST(KafkaConf, ValueFromTheEnvironmentNeverAppearsInLibrdkafkasMessage) {
  Conf c({{"security.protocol", {"kafka.properties.security.protocol", true}},
          {"debug", {"kafka.properties.debug", true}},
          {"linger.ms", {"kafka.producer_properties.linger.ms", true}}});
  auto reason = [&](const char* name, const char* value) {
    try {
      c.set(name, value);
    } catch (const PropertyError& e) {
      return e.path() + ": " + e.reason();
    }
    return std::string("no error");
  };
  EXPECT_EQ(reason("security.protocol", "hunter2"),
            "kafka.properties.security.protocol: librdkafka: Invalid value <from environment> for "
            "configuration "
            "property \"security.protocol\"");
  EXPECT_EQ(reason("debug", "all,hunter2"),
            "kafka.properties.debug: librdkafka: Invalid value <from environment> for "
            "configuration property "
            "\"debug\"");
  EXPECT_EQ(reason("linger.ms", "0999999999"),
            "kafka.producer_properties.linger.ms: librdkafka: Configuration property "
            "\"queue.buffering.max.ms\" "
            "value <from environment> is outside allowed range 0..900000");
  // Not from the environment: librdkafka's message as it is.
  EXPECT_EQ(reason("compression.type", "zstandard"),
            "kafka property 'compression.type': librdkafka: Invalid value \"zstandard\" for "
            "configuration property "
            "\"compression.codec\"");
}

TEST(KafkaConf, ConsumerRefusesAutoCommit) {
  ConsumerConfig cc;
  cc.bootstrap_servers = "127.0.0.1:1";
  cc.group_id = "g";
  cc.properties["enable.auto.commit"] = "true";
  std::string m = message_of([&] { Consumer c(cc, nullptr); });
  EXPECT_NE(m.find("kafka property 'enable.auto.commit'"), std::string::npos) << m;
}

TEST(KafkaConf, ConsumerNeedsAGroup) {
  ConsumerConfig cc;
  cc.bootstrap_servers = "127.0.0.1:1";
  EXPECT_EQ(message_of([&] { Consumer c(cc, nullptr); }),
            "kafka property 'group.id': a consumer group id is required");
}

TEST(KafkaConf, ProducerRefusesToDropIdempotence) {
  ProducerConfig pc;
  pc.bootstrap_servers = "127.0.0.1:1";
  pc.properties["enable.idempotence"] = "false";
  std::string m = message_of([&] { Producer p(pc); });
  EXPECT_NE(m.find("kafka property 'enable.idempotence'"), std::string::npos) << m;
}

TEST(KafkaConf, BadPassThroughValueNamesTheProperty) {
  ProducerConfig pc;
  pc.bootstrap_servers = "127.0.0.1:1";
  pc.properties["linger.ms"] = "soon";
  std::string m = message_of([&] { Producer p(pc); });
  EXPECT_NE(m.find("kafka property 'linger.ms'"), std::string::npos) << m;
}

}  // namespace
}  // namespace sluice::kafka
