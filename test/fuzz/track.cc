// Fuzzes the server-message side of the response tracker (track.h): the client's requests and
// the server's messages, interleaved as the input says, walk through a Tracker as the session
// drives it. Each input byte below 0x40 is a request: its low three bits pick Q P B D E C S F,
// 0x08 makes it a stand-in for a refused request (an Execute stand-in then starts the skip to
// Sync, as a refusal does), 0x10 makes it pgwarden's own, 0x20 names its statement and portal
// "a" (else the unnamed ones). Queries carry two audited statements, Executes and FunctionCalls
// one. Any other byte starts a server message: its type, a length byte and that many bytes of body.
// No statement may finish twice.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/wire/track.h"
#include "proxy/wire/wire.h"

namespace {

struct Run {
  pgw::Tracker tracker;
  int64_t next_seq = 1;
  int64_t now = 0;
  std::set<int64_t> finished;
  std::vector<pgw::Finished> done;

  void settle() {
    for (const auto& f : done) {
      if (f.seq != 0 && !finished.insert(f.seq).second) __builtin_trap();
    }
    done.clear();
  }

  void request(uint8_t op) {
    pgw::Expect e;
    e.request = "QPBDECSF"[op & 7];
    e.injected = (op & 0x08) != 0;
    e.internal = (op & 0x10) != 0;
    std::string name = (op & 0x20) ? "a" : "";
    if (e.injected) pgw::write_error(e.error, "ERROR", "42501", "refused");
    if (e.request == 'P' || e.request == 'B' || e.request == 'D' || e.request == 'C') e.statement = name;
    if (e.request == 'B' || e.request == 'E') e.portal = name;
    int seqs = e.request == 'Q' ? 2 : (e.request == 'E' || e.request == 'F') ? 1 : 0;
    for (int i = 0; i < seqs; ++i) e.seqs.push_back(next_seq++);
    bool refusal = e.injected && e.request == 'E';
    if (tracker.skipping && e.request != 'S') tracker.skip(e, ++now, &done);
    else tracker.expect(std::move(e));
    if (refusal) tracker.skip_after_refusal();
    settle();
  }

  void server(char type, std::string_view body) {
    std::string raw;
    pgw::Writer(raw).begin(type).bytes(body).end();
    pgw::Message m{type, std::string_view(raw).substr(5), raw};
    if (type == 'C') pgw::rows_from_tag(body);
    std::string replacement;
    tracker.on_server(m, ++now, &replacement, &done);
    settle();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Run run;
  size_t i = 0;
  while (i < size) {
    uint8_t op = data[i++];
    if (op < 0x40) {
      run.request(op);
      continue;
    }
    if (i + 2 > size) break;
    char type = static_cast<char>(data[i]);
    size_t len = std::min<size_t>(data[i + 1], size - i - 2);
    run.server(type, std::string_view(reinterpret_cast<const char*>(data) + i + 2, len));
    i += 2 + len;
  }
  run.tracker.abandon("08006", "the connection to the server was lost", ++run.now, &run.done);
  run.settle();
  return 0;
}
