/* libFuzzer target cpp_runner: the Arduino serial runner (src/DMCSerialRunner.h) around a real
 * generated model (extras/fuzz/runner_model.dmc, generated as "fuzzmodel"), on the host shim's
 * Arduino API with Serial and micros() served from the fuzz input, as the host firmware of
 * `pio test -e host` runs it.
 *
 * Input: records [control][chunk]: control & 63 = chunk length, control >> 6 picks the silence
 * before the chunk (50 us, 10 ms, 249 ms, 1 s: the last one times out an unfinished frame).
 * Each chunk arrives at once and loop() runs once. Checked besides ASan/UBSan: well-formed
 * replies only (reply_check.h), at most one per sync byte sent plus a final timeout, and an
 * INFER of a model input gives the RESULT the same model gives when called directly. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <vector>

#include <Arduino.h>
#include <DeepMicroCompression.h>
#include <DMCSerialRunner.h>

#include "fuzzmodel.h"
#include "reply_check.h"

namespace {
const uint8_t *g_chunk = 0;
size_t g_chunk_len = 0, g_chunk_pos = 0;
uint32_t g_now_us = 0;
std::vector<uint8_t> g_out;
const uint32_t kGapsUs[4] = {50, 10000, 249000, 1000000};
}  // namespace

// The shim's Arduino API over the fuzz input (port_host.cpp does the same over stdin/stdout).
uint32_t micros() { return g_now_us; }
uint32_t millis() { return g_now_us / 1000u; }
void DmcShimSerial::begin(unsigned long) {}
int DmcShimSerial::available() { return (int)(g_chunk_len - g_chunk_pos); }
int DmcShimSerial::read() { return g_chunk_pos < g_chunk_len ? g_chunk[g_chunk_pos++] : -1; }
size_t DmcShimSerial::write(uint8_t b) {
  g_out.push_back(b);
  return 1;
}
void DmcShimSerial::flush() {}

// The shim's setup()/loop() entry points are not used: each input builds a fresh runner.
void setup() {}
void loop() {}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char kName[] = "fuzzmodel";
  memset(fuzzmodel_arena, 0, sizeof fuzzmodel_arena);
  g_out.clear();
  g_now_us = 0xFFFFFFFFu - 300000u;   // micros() wraps during the input
  size_t syncs = 0;
  {
    DMCSerialRunner<FuzzmodelModel> runner(kName);
    runner.begin(115200);
    size_t i = 0;
    while (i < size) {
      const uint8_t control = data[i++];
      const size_t len = control & 63u;
      g_chunk = data + i;
      g_chunk_len = len <= size - i ? len : size - i;
      g_chunk_pos = 0;
      for (size_t k = 0; k < g_chunk_len; ++k) syncs += g_chunk[k] == dmc::proto::kSync;
      i += g_chunk_len;
      g_now_us += kGapsUs[control >> 6];
      runner.poll();
    }
    g_chunk_len = g_chunk_pos = 0;
    g_now_us += 1000000u;
    runner.poll();
  }
  const dmc_fuzz::ReplyCounts n = dmc_fuzz::check_replies(g_out, strlen(kName), FuzzmodelModel::input_bytes(),
                                                          FuzzmodelModel::output_bytes());
  if (n.info + n.result + n.stats + n.error > syncs + 1) dmc_fuzz::fail("more replies than requests", 0);

  // The last RESULT must be what the model computes on the input it held: rerun the model on
  // the input bytes of the last CRC-valid INFER frame found in the stream.
  if (n.result) {
    std::vector<uint8_t> stream;
    for (size_t i = 0; i < size;) {
      const size_t len = data[i] & 63u, take = len <= size - i - 1 ? len : size - i - 1;
      stream.insert(stream.end(), data + i + 1, data + i + 1 + take);
      i += 1 + take;
    }
    const uint16_t nin = FuzzmodelModel::input_bytes(), nout = FuzzmodelModel::output_bytes();
    size_t last_result = 0;
    for (size_t i = 0; i < g_out.size(); i += 7u + (g_out[i + 3] | (g_out[i + 4] << 8)))
      if (g_out[i + 2] == dmc::proto::kResult) last_result = i;
    bool matched = false;   // searched from the end: the last frame sent is the likely one
    for (size_t s = stream.size() >= 7u + nin ? stream.size() - 7u - nin + 1 : 0; s-- > 0 && !matched;) {
      if (stream[s] != dmc::proto::kSync || stream[s + 1] != dmc::proto::kVersion ||
          stream[s + 2] != dmc::proto::kInfer || (stream[s + 3] | (stream[s + 4] << 8)) != nin)
        continue;
      uint16_t crc = 0xFFFF;
      for (size_t k = s + 1; k < s + 5u + nin; ++k) crc = dmc::proto::crc16_update(crc, stream[k]);
      if ((stream[s + 5 + nin] | (stream[s + 6 + nin] << 8)) != crc) continue;
      memcpy(fuzzmodel.input(), &stream[s + 5], nin);
      fuzzmodel.predict();
      matched = memcmp(fuzzmodel.output(), &g_out[last_result + 9], nout) == 0;
    }
    if (!matched) dmc_fuzz::fail("RESULT output is not the model's output for any INFER frame sent", last_result);
  }
  return 0;
}
