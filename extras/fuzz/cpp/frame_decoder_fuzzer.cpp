/* libFuzzer target cpp_frames: the firmware's frame decoder (dmc::SerialRunner in
 * src/dmc/serial_runner.h) fed arbitrary bytes, with a stand-in model of 5 input bytes.
 *
 * Checked on every input, besides ASan/UBSan: the runner writes only well-formed replies
 * (reply_check.h), at most one per sync byte it received (plus a timeout), and it runs the
 * model only on a payload that arrived inside a CRC-valid INFER frame; each RESULT carries
 * exactly what the model computed. At the end of the input the clock jumps a second, so an
 * unfinished frame must end in a timeout error. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <string>
#include <vector>

#include "dmc/serial_runner.h"
#include "reply_check.h"

namespace {

const uint16_t kInputBytes = 5, kOutputBytes = 3;

std::vector<std::string> g_inputs_run;   // model inputs at each predict()
std::vector<std::string> g_outputs;      // what each predict() computed

/* The smallest model the runner accepts: predict() mixes the input bytes into 3 output bytes
 * and records both, so that the harness can check what reached the model and what came back. */
struct StubModel {
  static uint16_t input_bytes() { return kInputBytes; }
  static uint16_t output_bytes() { return kOutputBytes; }
  static uint8_t input_bits() { return 8; }
  static uint8_t output_bits() { return 8; }
  static uint32_t arena_bytes() { return sizeof(arena); }
  static uint32_t model_bytes() { return 0; }
  static uint32_t macs() { return kInputBytes * kOutputBytes; }
  uint8_t *input() { return arena; }
  const uint8_t *output() const { return arena + kInputBytes; }
  void predict() {
    g_inputs_run.push_back(std::string((const char *)arena, kInputBytes));
    for (uint16_t i = 0; i < kOutputBytes; ++i) arena[kInputBytes + i] = (uint8_t)(arena[i] * 7 + arena[i + 2]);
    g_outputs.push_back(std::string((const char *)arena + kInputBytes, kOutputBytes));
  }
  uint8_t arena[kInputBytes + kOutputBytes];
};

/* Port over the fuzz input: bytes arrive one poll() at a time; the clock moves 1 us per read. */
struct FuzzPort {
  const uint8_t *data;
  size_t size, pos;
  uint32_t now;
  std::vector<uint8_t> out;
  int read() {
    ++now;
    return pos < size ? data[pos++] : -1;
  }
  void write(uint8_t b) { out.push_back(b); }
  void flush() {}
  uint32_t micros() { return now; }
  uint32_t ticks() { return now; }                     // the INFER timer of the serial runner
  uint32_t cycles(uint32_t d) { return d * 16u; }
};

std::string infer_frame(const std::string &payload) {
  uint8_t head[5] = {dmc::proto::kSync, dmc::proto::kVersion, dmc::proto::kInfer, (uint8_t)payload.size(),
                     (uint8_t)(payload.size() >> 8)};
  uint16_t crc = 0xFFFF;
  for (int i = 1; i < 5; ++i) crc = dmc::proto::crc16_update(crc, head[i]);
  for (size_t i = 0; i < payload.size(); ++i) crc = dmc::proto::crc16_update(crc, (uint8_t)payload[i]);
  return std::string((const char *)head, 5) + payload + (char)(crc & 0xFF) + (char)(crc >> 8);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  g_inputs_run.clear();
  g_outputs.clear();
  FuzzPort port = {data, size, 0, 0xFFFFFFF0u, std::vector<uint8_t>()};   // the clock wraps early on
  static const char kName[] = "stub";
  {
    dmc::SerialRunner<StubModel, FuzzPort> runner(port, kName, 16000000UL);
    runner.begin();
    runner.poll();
    port.now += 1000000;   // a second of silence: an unfinished frame times out
    runner.poll();
  }
  const dmc_fuzz::ReplyCounts n = dmc_fuzz::check_replies(port.out, strlen(kName), kInputBytes, kOutputBytes);
  size_t syncs = 0;
  for (size_t i = 0; i < size; ++i) syncs += data[i] == dmc::proto::kSync;
  if (n.info + n.result + n.stats + n.error > syncs + 1) dmc_fuzz::fail("more replies than requests", 0);
  if (n.result != g_outputs.size()) dmc_fuzz::fail("RESULT count differs from predict() calls", 0);
  const std::string in((const char *)data, size);
  for (size_t k = 0; k < g_inputs_run.size(); ++k)
    if (in.find(infer_frame(g_inputs_run[k])) == std::string::npos)
      dmc_fuzz::fail("the model ran on an input that no valid INFER frame carried", k);
  // each RESULT's output is the matching predict()'s
  size_t i = 0, r = 0;
  while (i < port.out.size()) {
    const uint16_t len = (uint16_t)(port.out[i + 3] | (port.out[i + 4] << 8));
    if (port.out[i + 2] == dmc::proto::kResult &&
        memcmp(&port.out[i + 9], g_outputs[r++].data(), kOutputBytes) != 0)
      dmc_fuzz::fail("RESULT output differs from what the model computed", i);
    i += 7u + len;
  }
  return 0;
}
