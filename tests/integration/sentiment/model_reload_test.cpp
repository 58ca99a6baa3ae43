// Model hot reload on the running service: `sluice broker`, `sluice run` on a
// classification pipeline whose model directory is a symlink, tweets fed and
// results read with kcat. The symlink is swapped atomically (a new link
// renamed over it) to a second real model, the shipped tweet model with its
// "positive" bias raised so that it calls every tweet positive (another content
// hash, and results that show which model computed them), while records flow:
//   - SIGHUP reloads; the process keeps running (no restart, no rebalance);
//   - a swap alone (no signal) is noticed by the directory watch;
//   - a broken model (truncated safetensors) and a model whose labels do not
//     fit (the 2-label SST-2 model) are refused, and the old model keeps serving.
// Every result carries model_hash: each must be one of the two models', every
// record once, results made after the switch all by the new model, and per
// output partition (the pipeline's order) never the old model after the new.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "src/engine/model_identity.h"
#include "tests/support/subprocess.h"

namespace sluice::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

const fs::path kRoot = SLUICE_SOURCE_DIR;
const fs::path kTweetModel = kRoot / "models" / "sentiment-tweet-small";
const fs::path kSst2Model = kRoot / "models" / "sentiment-sst2-small";

std::vector<std::string> load_tweets() {
  std::ifstream in(fs::path(SLUICE_FIXTURES) / "sentiment" / "sample_tweets.txt");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

struct Result {
  int partition = -1;
  std::string key;
  json value;
};

std::vector<Result> read_results(const std::string& bootstrap, const std::string& topic) {
  auto r = run({"kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-f", "%p\t%k\t%s\n"}, {},
               std::nullopt, 60s);
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<Result> out;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    const auto t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    if (t1 == std::string::npos || t2 == std::string::npos) continue;
    out.push_back({std::stoi(line.substr(0, t1)), line.substr(t1 + 1, t2 - t1 - 1),
                   json::parse(line.substr(t2 + 1), nullptr, false)});
  }
  return out;
}

// A copy of `from` that calls everything positive: its classifier bias for
// "positive" (id 2) set to 100 (F16 0x5640). Another content hash, and outputs
// that tell which model computed them (a result cached from the old model, or
// run through it, would not be "positive" throughout).
void copy_all_positive(const fs::path& from, const fs::path& to) {
  fs::copy(from, to, fs::copy_options::recursive);
  std::fstream f(to / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
  uint64_t header_size = 0;
  f.read(reinterpret_cast<char*>(&header_size), 8);
  std::string header(header_size, '\0');
  f.read(header.data(), static_cast<std::streamsize>(header_size));
  const json bias = json::parse(header).at("classifier.bias");
  ASSERT_EQ(bias.at("dtype"), "F16");
  ASSERT_EQ(bias.at("shape"), json::array({3}));
  const auto at = static_cast<std::streamoff>(8 + header_size +
                                              bias.at("data_offsets")[0].get<uint64_t>() + 2 * 2);
  const unsigned char hundred[2] = {0x40, 0x56};
  f.seekp(at);
  f.write(reinterpret_cast<const char*>(hundred), 2);
}

class ModelReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kTweetModel / "model.safetensors"))
      GTEST_SKIP() << "no shipped model at " << kTweetModel;
    dir_ = fs::temp_directory_path() /
           ("sluice-reload-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::copy(kTweetModel, dir_ / "a", fs::copy_options::recursive);
    copy_all_positive(kTweetModel, dir_ / "b");
    hash_a_ = engine::identify_model(dir_ / "a").hash;
    hash_b_ = engine::identify_model(dir_ / "b").hash;
    ASSERT_NE(hash_a_, hash_b_);
    fs::create_directory_symlink(dir_ / "a", dir_ / "live");
    tweets_ = load_tweets();
    ASSERT_FALSE(tweets_.empty());

    broker_ = std::make_unique<Subprocess>(std::vector<std::string>{
        sluice_binary(), "broker", "--topic", "in:4", "--topic", "out:4", "--topic", "dlq:1"});
    auto addr = broker_->first_line(20s);
    ASSERT_TRUE(addr.has_value()) << broker_->stderr_text();
    bootstrap_ = *addr;
    port_ = free_port();
    std::ofstream(dir_ / "pipeline.yaml") << R"(name: reload
runtime:
  queue_capacity: 256
  shutdown_timeout: 30s
metrics:
  listen: 127.0.0.1:)" << port_ << R"(
kafka:
  bootstrap_servers: )" << bootstrap_ << R"(
  dead_letter_topic: dlq
  consumer_properties:
    fetch.wait.max.ms: 10
stages:
  - name: source
    type: kafka_source
    topics: in
    group: reload
    format: json
    text_field: text
    id_field: id
  - name: tokenize
    type: tokenize
    tokenizer: )" << (dir_ / "live").string()
                                          << R"(
    max_length: 64
    workers: ${RELOAD_TOKENIZE_WORKERS:-1}
  - name: batch
    type: micro_batch
    max_batch_records: 32
    max_batch_tokens: 2048
    max_delay: 5ms
  - name: infer
    type: infer
    model: )" << (dir_ / "live").string() << R"(
    device: cpu
    threads: 1
  - name: classify
    type: classify
    model: )" << (dir_ / "live").string() << R"(
  - name: sink
    type: kafka_sink
    topic: out
)";
  }

  void TearDown() override {
    sluice_.reset();
    broker_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  void start_sluice(int tokenize_workers = 1) {
    sluice_ = std::make_unique<Subprocess>(
        std::vector<std::string>{sluice_binary(), "run", (dir_ / "pipeline.yaml").string()},
        std::map<std::string, std::string>{
            {"RELOAD_TOKENIZE_WORKERS", std::to_string(tokenize_workers)}});
  }

  void sighup_under_load(int tokenize_workers);

  // Records ids PHASE-0 .. PHASE-(n-1), keyed like them; their ids go to `ids`.
  void feed(const std::string& phase, int n, std::vector<std::string>& ids) {
    std::ostringstream input;
    for (int i = 0; i < n; ++i) {
      const std::string id = phase + "-" + std::to_string(i);
      input << id << '\t' << json{{"id", id}, {"text", tweets_[i % tweets_.size()]}}.dump() << '\n';
      ids.push_back(id);
    }
    auto r = run({"kcat", "-P", "-b", bootstrap_, "-t", "in", "-K", "\t"}, {}, input.str(), 60s);
    ASSERT_EQ(r.code, 0) << r.err;
  }
  void feed(const std::string& phase, int n) { feed(phase, n, ids_); }

  // Waits (up to 5 minutes on a busy machine) for at least n results.
  std::vector<Result> wait_for_results(size_t n) {
    std::vector<Result> results;
    for (int i = 0; i < 600 && results.size() < n; ++i) {
      std::this_thread::sleep_for(500ms);
      if (!sluice_->running()) break;
      results = read_results(bootstrap_, "out");
    }
    return results;
  }

  // Waits (up to 2 minutes) until the log holds `text` `times` times.
  bool wait_for_log(const std::string& text, int times = 1) {
    for (int i = 0; i < 240; ++i) {
      const std::string log = sluice_->stderr_text();
      int seen = 0;
      for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++seen;
      if (seen >= times) return true;
      if (!sluice_->running()) return false;
      std::this_thread::sleep_for(500ms);
    }
    return false;
  }

  // Points `live` at `target` atomically: a new symlink renamed over the old one.
  void swap_to(const fs::path& target) {
    fs::create_directory_symlink(target, dir_ / "live.next");
    fs::rename(dir_ / "live.next", dir_ / "live");
  }

  std::string metrics() { return http_get("127.0.0.1", port_, "/metrics").second; }

  void stop_sluice() {
    sluice_->signal(SIGTERM);
    auto code = sluice_->wait(60s);
    ASSERT_TRUE(code.has_value()) << "sluice did not stop on SIGTERM";
    EXPECT_EQ(*code, 0) << sluice_->stderr_text();
  }

  // Every fed id has exactly one result, named by one of the two models, and
  // computed by the model it names (b's are all "positive", a's are not); per
  // output partition, once `hash_b_` appears `hash_a_` never does again.
  // Returns id → model_hash.
  std::map<std::string, std::string> check_results(const std::vector<Result>& results) {
    std::map<std::string, std::string> hash_of;
    std::map<int, bool> b_seen;
    size_t a_not_positive = 0;
    for (const Result& r : results) {
      EXPECT_FALSE(r.value.is_discarded()) << "not JSON, key " << r.key;
      if (r.value.is_discarded()) continue;
      const std::string id = r.value.at("id").get<std::string>();
      const std::string hash = r.value.at("model_hash").get<std::string>();
      EXPECT_EQ(id, r.key);
      EXPECT_TRUE(hash == hash_a_ || hash == hash_b_) << id << ": model_hash " << hash;
      EXPECT_TRUE(hash_of.emplace(id, hash).second) << "two results for " << id;
      if (hash == hash_b_) {
        b_seen[r.partition] = true;
        EXPECT_EQ(r.value.at("label"), "positive") << id << ": not computed by the model it names";
      } else if (r.value.at("label") != "positive") {
        ++a_not_positive;
      }
      EXPECT_FALSE(hash == hash_a_ && b_seen[r.partition])
          << id << ": a result of the old model after one of the new in partition " << r.partition;
    }
    EXPECT_EQ(hash_of.size(), ids_.size()) << "records lost";
    // The shipped model calls some of the sample tweets negative or neutral.
    if (std::any_of(hash_of.begin(), hash_of.end(), [&](auto& e) { return e.second == hash_a_; }))
      EXPECT_GT(a_not_positive, 0u) << "the old model's results look like the new one's";
    for (const auto& id : ids_) EXPECT_TRUE(hash_of.count(id)) << "no result for " << id;
    return hash_of;
  }

  fs::path dir_;
  std::string hash_a_, hash_b_;
  std::vector<std::string> tweets_;
  std::unique_ptr<Subprocess> broker_, sluice_;
  std::string bootstrap_;
  int port_ = 0;
  std::vector<std::string> ids_;
};

// Records flow the whole time: a feeder keeps producing while the directory is
// swapped and SIGHUP sent, and for a while after the switch.
void ModelReloadTest::sighup_under_load(int tokenize_workers) {
  constexpr int kBefore = 2000, kBatch = 500, kAfter = 2000;
  feed("before", kBefore);
  start_sluice(tokenize_workers);
  ASSERT_FALSE(wait_for_results(kBefore / 4).empty()) << sluice_->stderr_text();

  std::atomic<bool> stop_feeding{false};
  std::atomic<int> batches{0};
  std::vector<std::string> flow_ids;
  std::thread feeder([&] {
    while (!stop_feeding.load()) {
      feed("flow" + std::to_string(batches.load()), kBatch, flow_ids);
      ++batches;
    }
  });
  while (batches.load() < 1) std::this_thread::sleep_for(10ms);
  swap_to(dir_ / "b");
  sluice_->signal(SIGHUP);
  const bool switched = wait_for_log("switching, model_hash " + hash_a_ + " -> " + hash_b_);
  const int at_switch = batches.load();
  while (switched && batches.load() < at_switch + 2) std::this_thread::sleep_for(10ms);
  stop_feeding = true;
  feeder.join();
  ids_.insert(ids_.end(), flow_ids.begin(), flow_ids.end());
  ASSERT_TRUE(switched) << sluice_->stderr_text();
  const size_t flowed = flow_ids.size();

  feed("after", kAfter);
  ASSERT_EQ(wait_for_results(ids_.size()).size(), ids_.size()) << sluice_->stderr_text();
  // Every stage has seen the new model now; the next batch finds the old one
  // held by nothing but the infer worker, which then frees it.
  feed("tail", 10);
  const size_t total = ids_.size();
  const std::vector<Result> results = wait_for_results(total);
  ASSERT_EQ(results.size(), total) << sluice_->stderr_text();
  EXPECT_TRUE(wait_for_log("released model_hash " + hash_a_)) << sluice_->stderr_text();

  const std::string m = metrics();
  EXPECT_NE(m.find("sluice_model_reloads_total{pipeline=\"reload\",result=\"ok\"} 1"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("model_hash=\"" + hash_b_ + "\""), std::string::npos) << m;
  EXPECT_EQ(m.find("model_hash=\"" + hash_a_ + "\""), std::string::npos)
      << "sluice_model_info still shows the old model\n"
      << m;
  stop_sluice();
  const std::string log = sluice_->stderr_text();
  EXPECT_EQ(log.find("received SIGHUP: draining"), std::string::npos) << log;
  EXPECT_EQ(log.find("assigned", log.find("assigned") + 1), std::string::npos)
      << "a rebalance during the reload\n"
      << log;

  const auto hash_of = check_results(results);
  size_t flow_a = 0, flow_b = 0;
  for (const auto& id : flow_ids) (hash_of.at(id) == hash_a_ ? flow_a : flow_b) += 1;
  for (int i = 0; i < kAfter; ++i)
    EXPECT_EQ(hash_of.at("after-" + std::to_string(i)), hash_b_) << "after-" << i;
  printf("[ reload ] %zu records fed while reloading: %zu by the old model, %zu by the new\n",
         flowed, flow_a, flow_b);
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    if (line.find("SIGHUP") != std::string::npos ||
        line.find("model reload") != std::string::npos ||
        line.find("reloaded model") != std::string::npos ||
        line.find("released model") != std::string::npos)
      printf("[ reload ] %s\n", line.c_str());
}

TEST_F(ModelReloadTest, SighupSwitchesModelUnderLoadLosingNothingAndMixingNothing) {
  sighup_under_load(1);
}

// Two tokenize workers switch one after the other: batches of both versions may
// alternate for a while, each still run on the model it was tokenized for.
// (Output partition = input partition here: kcat and the sink both use
// librdkafka's default partitioner, and one worker handles an input partition.)
TEST_F(ModelReloadTest, SighupWithTwoTokenizeWorkersStillMixesNothing) { sighup_under_load(2); }

TEST_F(ModelReloadTest, DirectorySwapAloneIsNoticedAndLoaded) {
  constexpr int kBefore = 500, kAfter = 500;
  feed("before", kBefore);
  start_sluice();
  ASSERT_EQ(wait_for_results(kBefore).size(), static_cast<size_t>(kBefore))
      << sluice_->stderr_text();
  swap_to(dir_ / "b");  // no signal
  ASSERT_TRUE(wait_for_log("(directory changed) of " + (dir_ / "live").string() +
                           ": switching, model_hash " + hash_a_ + " -> " + hash_b_))
      << sluice_->stderr_text();
  feed("after", kAfter);
  const std::vector<Result> results = wait_for_results(kBefore + kAfter);
  ASSERT_EQ(results.size(), static_cast<size_t>(kBefore + kAfter)) << sluice_->stderr_text();
  stop_sluice();
  const auto hash_of = check_results(results);
  for (int i = 0; i < kAfter; ++i)
    EXPECT_EQ(hash_of.at("after-" + std::to_string(i)), hash_b_) << "after-" << i;
}

TEST_F(ModelReloadTest, BrokenModelIsRefusedAndTheOldOneKeepsServing) {
  constexpr int kBefore = 500, kAfter = 500;
  // A truncated weights file, and a model with a label set the pipeline does not serve.
  fs::copy(dir_ / "a", dir_ / "truncated", fs::copy_options::recursive);
  fs::resize_file(dir_ / "truncated" / "model.safetensors",
                  fs::file_size(dir_ / "a" / "model.safetensors") / 2);
  fs::copy(kSst2Model, dir_ / "two-labels", fs::copy_options::recursive);

  feed("before", kBefore);
  start_sluice();
  ASSERT_EQ(wait_for_results(kBefore).size(), static_cast<size_t>(kBefore))
      << sluice_->stderr_text();
  swap_to(dir_ / "truncated");
  sluice_->signal(SIGHUP);
  ASSERT_TRUE(wait_for_log("refused: " + (dir_ / "live" / "model.safetensors").string()))
      << sluice_->stderr_text();
  swap_to(dir_ / "two-labels");  // the directory watch finds this one
  ASSERT_TRUE(wait_for_log("the model has 2 outputs but the classify stage serves 3 labels"))
      << sluice_->stderr_text();
  feed("after", kAfter);
  const std::vector<Result> results = wait_for_results(kBefore + kAfter);
  ASSERT_EQ(results.size(), static_cast<size_t>(kBefore + kAfter)) << sluice_->stderr_text();

  const std::string m = metrics();
  EXPECT_NE(m.find("sluice_model_reloads_total{pipeline=\"reload\",result=\"refused\"} 2"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("sluice_model_reloads_total{pipeline=\"reload\",result=\"ok\"} 0"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("model_hash=\"" + hash_a_ + "\""), std::string::npos) << m;
  stop_sluice();
  for (const auto& [id, hash] : check_results(results)) EXPECT_EQ(hash, hash_a_) << id;
}

}  // namespace
}  // namespace sluice::testing
