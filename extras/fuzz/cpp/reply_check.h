/* The fuzz harnesses' oracle for the firmware's side of the serial protocol: everything the
 * runner wrote must be a sequence of well-formed reply frames (sync, version, a reply type,
 * the length that type has, a correct CRC-16), whatever bytes it was fed. A violation aborts,
 * which libFuzzer reports as a crash with the input that caused it. */
#ifndef DMC_FUZZ_REPLY_CHECK_H
#define DMC_FUZZ_REPLY_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <vector>

#include "dmc/serial_runner.h"

namespace dmc_fuzz {

struct ReplyCounts {
  unsigned info, result, stats, error;
};

inline void fail(const char *what, size_t at) {
  fprintf(stderr, "reply stream: %s at byte %zu\n", what, at);
  abort();
}

/* Walks `out`; `name_len` is the length of the runner's name (in INFO), `output_bytes` the
 * model's output size (in RESULT). */
inline ReplyCounts check_replies(const std::vector<uint8_t> &out, size_t name_len, uint16_t input_bytes,
                                 uint16_t output_bytes) {
  namespace p = dmc::proto;
  ReplyCounts n = {0, 0, 0, 0};
  size_t i = 0;
  while (i < out.size()) {
    if (out.size() - i < 7) fail("truncated frame", i);
    if (out[i] != p::kSync || out[i + 1] != p::kVersion) fail("bad sync or version", i);
    const uint8_t type = out[i + 2];
    const uint16_t len = (uint16_t)(out[i + 3] | (out[i + 4] << 8));
    if (out.size() - i < 7u + len) fail("frame longer than the stream", i);
    uint16_t crc = 0xFFFF;
    for (size_t k = i + 1; k < i + 5 + len; ++k) crc = p::crc16_update(crc, out[k]);
    if ((uint16_t)(out[i + 5 + len] | (out[i + 6 + len] << 8)) != crc) fail("bad CRC", i);
    const uint8_t *payload = &out[i + 5];
    switch (type) {
      case p::kInfo:
        if (len != 23 + name_len) fail("INFO length", i);
        if (payload[0] != p::kVersion || (uint16_t)(payload[1] | (payload[2] << 8)) != input_bytes ||
            (uint16_t)(payload[3] | (payload[4] << 8)) != output_bytes)
          fail("INFO fields", i);
        ++n.info;
        break;
      case p::kResult:
        if (len != 4 + output_bytes) fail("RESULT length", i);
        ++n.result;
        break;
      case p::kStatsReply:
        if (len != 4) fail("STATS length", i);
        ++n.stats;
        break;
      case p::kError:
        if (len != 1 || payload[0] < p::kBadCrc || payload[0] > p::kTimeout) fail("ERROR code", i);
        ++n.error;
        break;
      default:
        fail("unknown reply type", i);
    }
    i += 7u + len;
  }
  return n;
}

}  // namespace dmc_fuzz

#endif  // DMC_FUZZ_REPLY_CHECK_H
