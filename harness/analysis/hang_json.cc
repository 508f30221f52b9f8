#include "harness/analysis/hang_json.h"

#include <string>
#include <utility>

#include "harness/analysis/json_reader.h"

namespace coder::harness {

using nlohmann::json;

json HangJson(const std::optional<HangSnapshot>& hang) {
  if (!hang) return nullptr;
  json processes = json::array();
  for (const ProcessThreads& p : hang->processes) {
    json threads = json::array();
    for (const ThreadState& t : p.threads)
      threads.push_back({{"tid", t.tid},
                         {"name", t.name},
                         {"state", std::string(1, t.state)},
                         {"syscall", t.syscall},
                         {"wchan", t.wchan}});
    processes.push_back(
        {{"pid", p.pid}, {"name", p.name}, {"threads", std::move(threads)}, {"threads_omitted", p.threads_omitted}});
  }
  json sockets = json::array();
  for (const OpenSocket& s : hang->sockets)
    sockets.push_back({{"pid", s.pid},
                       {"fd", s.fd},
                       {"inode", s.inode},
                       {"protocol", s.protocol},
                       {"state", s.state},
                       {"local", s.local},
                       {"remote", s.remote},
                       {"rx_queue", s.rx_queue},
                       {"tx_queue", s.tx_queue},
                       {"held_by", s.held_by}});
  return {{"at_ms", hang->at_ms},
          {"taken_at", hang->taken_at},
          {"verdict", hang->verdict},
          {"processes", std::move(processes)},
          {"processes_omitted", hang->processes_omitted},
          {"sockets", std::move(sockets)},
          {"sockets_omitted", hang->sockets_omitted}};
}

bool ReadHang(const json& j, std::optional<HangSnapshot>& out) {
  if (j.is_null()) return true;
  if (!j.is_object()) return false;
  HangSnapshot h;
  JsonReader in(j);
  in.Double("at_ms", h.at_ms);
  in.String("taken_at", h.taken_at);
  in.String("verdict", h.verdict);
  in.U64("processes_omitted", h.processes_omitted);
  in.U64("sockets_omitted", h.sockets_omitted);
  in.Objects("processes", [&](JsonReader& pin) {
    ProcessThreads p;
    pin.Int("pid", p.pid);
    pin.String("name", p.name);
    pin.U64("threads_omitted", p.threads_omitted);
    pin.Objects("threads", [&](JsonReader& tin) {
      ThreadState t;
      std::string state = "?";
      tin.Int("tid", t.tid);
      tin.String("name", t.name);
      tin.String("state", state);
      tin.String("syscall", t.syscall);
      tin.String("wchan", t.wchan);
      if (state.size() != 1) return tin.Fail();
      t.state = state[0];
      p.threads.push_back(std::move(t));
    });
    h.processes.push_back(std::move(p));
  });
  in.Objects("sockets", [&](JsonReader& sin) {
    OpenSocket s;
    sin.Int("pid", s.pid);
    sin.Int("fd", s.fd);
    sin.U64("inode", s.inode);
    sin.String("protocol", s.protocol);
    sin.String("state", s.state);
    sin.String("local", s.local);
    sin.String("remote", s.remote);
    sin.U64("rx_queue", s.rx_queue);
    sin.U64("tx_queue", s.tx_queue);
    sin.String("held_by", s.held_by);
    h.sockets.push_back(std::move(s));
  });
  if (!in.ok()) return false;
  out = std::move(h);
  return true;
}

}  // namespace coder::harness
