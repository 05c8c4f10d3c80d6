// A whole session driven in this process, for the session fuzz target and the unit tests that
// replay its inputs. One libuv loop runs a real Worker (the rules of session_harness.cc, an audit
// store in a temporary SQLite file), a client and a fake PostgreSQL server, over loopback sockets.
// The client logs in with SCRAM as the principal `acme/shop@refs/heads/main` (on the admin console
// as `dba:alice`), sends the input once the session is ready, and the loop runs until nothing
// moves any more; then the client leaves and the loop runs until the session is freed. The fake
// server answers like PostgreSQL from what it is sent: each statement by its kind (rows for
// SELECT, COPY in both directions, tags), errors for statements naming `fail` (FATAL for
// `fatal`), a NOTICE for `notice`, the extended protocol's skip to Sync after an error, and the
// catalog queries pgwarden itself sends for masking and function names.
#include "test/fuzz/session_harness.h"

#include <arpa/inet.h>
#include <signal.h>
#include <uv.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "proxy/judge/parse_cache.h"
#include "proxy/runtime/log.h"
#include "proxy/session/session.h"
#include "proxy/wire/frontend.h"
#include "proxy/wire/fields.h"
#include "proxy/wire/wire.h"
#include "sqlparse/facts.h"

namespace {

constexpr const char* kRules = R"(
default: allow
on_parse_error: deny
rules:
  - name: no-file-functions
    match: { functions: [pg_read_file, lo_import] }
    action: deny
    message: "file functions are not allowed"
  - name: no-unbounded-delete
    match: { commands: [delete, update], where: absent }
    action: deny
  - name: drops-need-a-dba
    match: { commands: [drop_table, truncate] }
    action: hold
    approvers: ["dba:*"]
  - name: ddl-is-logged
    match: { classes: [ddl] }
    action: log
masks:
  - name: card-numbers
    pattern: '\b(\d{4})[ -]?\d{4}[ -]?\d{4}[ -]?(\d{4})\b'
    replace: '\1-****-****-\2'
  - name: emails-for-ci
    match: { principals: ["acme/*"] }
    columns: ["public.users.email"]
    replace: '***'
)";

constexpr const char* kPassword = "pencil";
constexpr uint32_t kUsers = 16384;

std::string message(char type, std::string_view body = {}) {
  std::string out;
  pgw::Writer(out).begin(type).bytes(body).end();
  return out;
}

std::string error_message(const char* severity, const char* sqlstate, const std::string& text) {
  std::string out;
  pgw::write_error(out, severity, sqlstate, text);
  return out;
}

// --- the fake PostgreSQL server ---------------------------------------------------------------

struct FakeServer {
  uv_tcp_t tcp;
  bool started = false;  // the startup packet was read
  std::string untyped;
  pgw::Framer framer{1u << 26};
  char tx = 'I';
  bool skipping = false;  // an extended-protocol request failed: ignore all up to Sync
  bool copy_in = false;   // COPY FROM STDIN running
  bool copy_simple = false;
  int copy_rows = 0;
  bool closing = false;
  std::map<std::string, std::string> statements;  // prepared statements: their text
  std::map<std::string, std::string> portals;     // portals: the text they run
  std::string out;
};

struct Harness;
Harness* g;

// Rows of a result: a RowDescription with the columns and one DataRow per row.
void rows(std::string& out, const std::vector<std::pair<std::string, uint32_t>>& columns,
          const std::vector<std::vector<std::optional<std::string>>>& values) {
  pgw::Writer w(out);
  w.begin('T').i16(static_cast<int16_t>(columns.size()));
  for (size_t i = 0; i < columns.size(); ++i) {
    const auto& [name, table] = columns[i];
    w.cstr(name).i32(static_cast<int32_t>(table)).i16(table ? static_cast<int16_t>(i + 1) : 0).i32(25);
    w.i16(-1).i32(-1).i16(0);
  }
  w.end();
  for (const auto& v : values) pgw::write_data_row(out, v);
}

// What a statement returns, as PostgreSQL would answer it (`describe_only`: its RowDescription
// or NoData). False when it failed (its ErrorResponse is in `out`).
bool answer_statement(FakeServer& f, std::string_view text, bool describe_only) {
  std::string& out = f.out;
  if (text.find("fatal") != text.npos) {
    out += error_message("FATAL", "57P01", "terminating connection due to administrator command");
    f.closing = true;
    return false;
  }
  if (text.find("fail") != text.npos || text.find("RAISE EXCEPTION") != text.npos) {
    out += error_message("ERROR", "42P01", "relation \"fail\" does not exist");
    if (f.tx == 'T') f.tx = 'E';
    return false;
  }
  if (text.find("notice") != text.npos) pgw::write_notice(out, "a notice");
  if (text.find("pg_catalog.pg_proc") != text.npos) {
    if (describe_only) return true;
    rows(out, {{"nspname", 0}, {"proname", 0}}, {{"pg_catalog", "lo_open"}});
    pgw::write_command_complete(out, "SELECT 1");
    return true;
  }
  if (text.find("pg_catalog.pg_class") != text.npos) {
    rows(out, {{"kind", 0}, {"oid", 0}, {"a", 0}, {"b", 0}, {"c", 0}},
         {{"r", std::to_string(kUsers), "public", "users", std::nullopt},
          {"c", std::to_string(kUsers), "2", "email", "2"}});
    pgw::write_command_complete(out, "SELECT 2");
    return true;
  }
  pgw::sql::ParseResult parsed = pgw::sql::parse(text, {"public"}, {.fingerprint = false});
  if (!parsed.ok() || parsed.statements.empty()) {
    if (parsed.ok()) pgw::write_empty_query(out);
    else out += error_message("ERROR", "42601", parsed.error);
    return parsed.ok();
  }
  const std::string& command = parsed.statements.front().command;
  if (command == "begin") f.tx = 'T';
  if (command == "commit" || command == "rollback") f.tx = 'I';
  if (command == "copy") {
    if (auto copy = pgw::sql::copy_to_stdout(text)) {
      std::string body;
      pgw::Writer(body).u8(copy->format == "binary" ? 1 : 0).i16(2).i16(0).i16(0);
      out += message('H', body);
      out += message('d', copy->format == "csv" ? "1,ann@example.org\n" : "1\tcard 4111 1111 1111 1111\n");
      out += message('c');
      pgw::write_command_complete(out, "COPY 1");
    } else {
      out += message('G', std::string("\0\0\1\0\0", 5));
      f.copy_in = true;
      f.copy_rows = 0;
    }
    return true;
  }
  bool returns_rows = command == "select" || command == "values" || command == "show" || command == "explain" ||
                      command == "fetch" || text.find("RETURNING") != text.npos ||
                      text.find("returning") != text.npos;
  if (describe_only) {
    if (returns_rows) rows(out, {{"id", kUsers}, {"email", kUsers}, {"note", 0}}, {});
    else out += message('n');
    return true;
  }
  if (returns_rows) {
    rows(out, {{"id", kUsers}, {"email", kUsers}, {"note", 0}},
         {{"1", "ann@example.org", "card 4111 1111 1111 1111"}, {"2", std::nullopt, "none"}});
    pgw::write_command_complete(out, command == "select" ? "SELECT 2" : "FETCH 2");
  } else if (command == "insert") {
    pgw::write_command_complete(out, "INSERT 0 1");
  } else {
    std::string tag;
    for (char c : command) tag.push_back(c == '_' ? ' ' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    pgw::write_command_complete(out, command == "update" || command == "delete" ? tag + " 1" : tag);
  }
  return true;
}

void ready(FakeServer& f) { pgw::write_ready(f.out, f.tx); }

void on_query(FakeServer& f, std::string_view text) {
  pgw::sql::ParseResult parsed = pgw::sql::parse(text, {"public"}, {.fingerprint = false});
  if (!parsed.ok() || parsed.statements.size() <= 1) {
    answer_statement(f, text, false);
  } else {
    for (const auto& s : parsed.statements) {
      if (!answer_statement(f, text.substr(s.offset, s.length), false) || f.copy_in) break;
    }
  }
  f.copy_simple = f.copy_in;
  if (!f.copy_in && !f.closing) ready(f);
}

// An extended-protocol request failed: the server skips everything up to Sync.
void fail_extended(FakeServer& f, const char* sqlstate, const std::string& text) {
  f.out += error_message("ERROR", sqlstate, text);
  f.skipping = true;
}

void on_extended(FakeServer& f, const pgw::Message& m) {
  pgw::Reader r(m.body);
  switch (m.type) {
    case 'P': {
      std::string name(r.cstr());
      std::string_view text = r.cstr();
      pgw::sql::ParseResult parsed = pgw::sql::parse(text, {"public"}, {.fingerprint = false});
      if (!parsed.ok()) return fail_extended(f, "42601", parsed.error);
      f.statements[name] = std::string(text);
      f.out += message('1');
      return;
    }
    case 'B': {
      std::string portal(r.cstr());
      auto it = f.statements.find(std::string(r.cstr()));
      if (it == f.statements.end()) return fail_extended(f, "26000", "prepared statement does not exist");
      f.portals[portal] = it->second;
      f.out += message('2');
      return;
    }
    case 'D': {
      char kind = static_cast<char>(r.u8());
      std::string name(r.cstr());
      auto& objects = kind == 'S' ? f.statements : f.portals;
      auto it = objects.find(name);
      if (it == objects.end()) return fail_extended(f, "26000", "prepared statement or portal does not exist");
      if (kind == 'S') f.out += message('t', std::string("\0\0", 2));
      if (!answer_statement(f, it->second, true)) f.skipping = true;
      return;
    }
    case 'E': {
      auto it = f.portals.find(std::string(r.cstr()));
      if (it == f.portals.end()) return fail_extended(f, "34000", "portal does not exist");
      if (!answer_statement(f, it->second, false)) f.skipping = true;
      return;
    }
    case 'C':
      f.out += message('3');
      return;
  }
}

void on_server_message(FakeServer& f, const pgw::Message& m) {
  if (f.copy_in) {
    if (m.type == 'd') ++f.copy_rows;
    if (m.type == 'c') pgw::write_command_complete(f.out, "COPY " + std::to_string(f.copy_rows));
    if (m.type == 'f') f.out += error_message("ERROR", "57014", "COPY from stdin failed");
    if (m.type == 'c' || m.type == 'f') {
      f.copy_in = false;
      if (f.copy_simple) ready(f);
    }
    if (m.type != 'H' && m.type != 'S') return;
  }
  switch (m.type) {
    case 'Q': {
      std::string_view text;
      if (!pgw::decode_query(m.body, &text)) break;
      on_query(f, text);
      return;
    }
    case 'S':
      f.skipping = false;
      ready(f);
      return;
    case 'H':
      return;
    case 'F':
      f.out += message('V', std::string("\xff\xff\xff\xff", 4));
      ready(f);
      return;
    case 'X':
      f.closing = true;
      return;
    case 'P':
    case 'B':
    case 'D':
    case 'E':
    case 'C':
      if (!f.skipping) on_extended(f, m);
      return;
  }
  f.out += error_message("FATAL", "08P01", std::string("invalid frontend message type ") + m.type);
  f.closing = true;
}

// --- the harness: worker, client, fake server --------------------------------------------------

enum class Phase { login, ready, done };

struct Harness {
  std::string dir;
  pgw::Runtime runtime;
  pgw::Worker worker;
  uv_tcp_t upstream_listener;
  int upstream_port = 0;
  int listen_port = 0;

  // This input's client and server connections.
  uv_tcp_t client;
  uv_connect_t connect_req;
  bool client_open = false;
  pgw::Framer client_framer{1u << 26};
  pgw::ScramClient scram;
  Phase phase = Phase::done;
  bool console = false;
  std::string input;
  int server_handles = 0;
  uint64_t activity = 0;  // bytes or connections seen by the client or the fake server
  std::string failure;    // what went wrong with this input's run
};

void alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  static char scratch[65536];
  *buf = uv_buf_init(scratch, sizeof scratch);
}

void write_to(uv_tcp_t* tcp, const std::string& bytes) {
  if (bytes.empty()) return;
  struct Req {
    uv_write_t req;
    std::string data;
  };
  auto* r = new Req{{}, bytes};
  uv_buf_t b = uv_buf_init(r->data.data(), static_cast<unsigned>(r->data.size()));
  if (uv_write(&r->req, reinterpret_cast<uv_stream_t*>(tcp), &b, 1,
               [](uv_write_t* req, int) { delete reinterpret_cast<Req*>(req); }) != 0)
    delete r;
}

void on_server_closed(uv_handle_t* h) {
  delete static_cast<FakeServer*>(h->data);
  --g->server_handles;
}

void close_server(FakeServer* f) {
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&f->tcp))) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&f->tcp), on_server_closed);
}

void server_take(FakeServer& f) {
  if (!f.started) {
    std::string error;
    auto body = pgw::read_startup_packet(f.untyped, &error);
    if (!body) return;
    f.started = true;
    if (pgw::Reader(*body).i32() != pgw::kProtocolV3) {  // pgwarden forwarding a CancelRequest
      f.closing = true;
      return;
    }
    f.framer.feed(f.untyped.data() + 4 + body->size(), f.untyped.size() - 4 - body->size());
    pgw::write_auth(f.out, 0);
    pgw::write_parameter_status(f.out, "server_version", "15.5");
    pgw::write_parameter_status(f.out, "client_encoding", "UTF8");
    pgw::write_backend_key(f.out, 4242, 0x5eed);
    ready(f);
  }
  while (!f.closing) {
    auto m = f.framer.next();
    if (!m) break;
    on_server_message(f, *m);
  }
  f.framer.compact();
  if (f.framer.error()) f.closing = true;
}

void on_server_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
  auto* f = static_cast<FakeServer*>(stream->data);
  if (n < 0) {
    close_server(f);
    return;
  }
  g->activity += static_cast<uint64_t>(n);
  if (f->started) f->framer.feed(buf->base, static_cast<size_t>(n));
  else f->untyped.append(buf->base, static_cast<size_t>(n));
  server_take(*f);
  write_to(&f->tcp, f->out);
  f->out.clear();
  if (f->closing) close_server(f);
}

void on_upstream_connection(uv_stream_t* listener, int status) {
  if (status < 0) return;
  auto* f = new FakeServer;
  uv_tcp_init(listener->loop, &f->tcp);
  f->tcp.data = f;
  ++g->server_handles;
  ++g->activity;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&f->tcp)) != 0) {
    close_server(f);
    return;
  }
  uv_read_start(reinterpret_cast<uv_stream_t*>(&f->tcp), alloc, on_server_read);
}

void on_client_closed(uv_handle_t*) { g->client_open = false; }

void close_client() {
  if (g->client_open && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&g->client)))
    uv_close(reinterpret_cast<uv_handle_t*>(&g->client), on_client_closed);
  g->phase = Phase::done;
}

// The login the client makes must succeed: what went wrong is the run's failure.
void login_failed(const std::string& why) {
  g->failure = "login failed: " + why;
  close_client();
}

// One message from pgwarden during login: answers the SCRAM exchange; ReadyForQuery ends it.
void client_login_message(const pgw::Message& m) {
  std::string out;
  pgw::Reader r(m.body);
  if (m.type == 'R') {
    int32_t code = r.i32();
    std::string reply, error;
    if (code == 10) {
      std::string first = g->scram.client_first();
      pgw::Writer(out).begin('p').cstr("SCRAM-SHA-256").i32(static_cast<int32_t>(first.size())).bytes(first).end();
    } else if (code == 11) {
      if (!g->scram.on_server_first(r.rest(), &reply, &error)) return login_failed("SCRAM: " + error);
      pgw::Writer(out).begin('p').bytes(reply).end();
    }
    write_to(&g->client, out);
  } else if (m.type == 'E') {
    auto fields = pgw::parse_error_fields(m.body);
    return login_failed(std::string(pgw::error_field(fields, 'M')));
  } else if (m.type == 'Z') {
    g->phase = Phase::ready;
    write_to(&g->client, g->input);
  }
}

void on_client_read(uv_stream_t*, ssize_t n, const uv_buf_t* buf) {
  if (n < 0) {
    close_client();
    return;
  }
  g->activity += static_cast<uint64_t>(n);
  if (g->phase != Phase::login) return;
  g->client_framer.feed(buf->base, static_cast<size_t>(n));
  while (g->phase == Phase::login) {
    auto m = g->client_framer.next();
    if (!m) break;
    client_login_message(*m);
  }
  g->client_framer.compact();
}

void on_client_connected(uv_connect_t*, int status) {
  if (status < 0) return login_failed(uv_strerror(status));
  ++g->activity;
  std::string startup;
  pgw::Writer w(startup);
  w.begin_untyped().i32(pgw::kProtocolV3);
  w.cstr("user").cstr(g->console ? "alice" : "fuzz");
  w.cstr("database").cstr(g->console ? "pgwarden" : "app");
  w.cstr("application_name").cstr("fuzz");
  w.cstr("options").cstr("-c pgwarden.job_id=4711 -c search_path=public");
  w.u8(0).end();
  write_to(&g->client, startup);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&g->client), alloc, on_client_read);
}

int bound_port(uv_tcp_t* tcp) {
  sockaddr_in addr{};
  int len = sizeof addr;
  uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

void listen_loopback(uv_loop_t* loop, uv_tcp_t* tcp, uv_connection_cb cb) {
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", 0, &addr);
  uv_tcp_init(loop, tcp);
  if (uv_tcp_bind(tcp, reinterpret_cast<const sockaddr*>(&addr), 0) != 0 ||
      uv_listen(reinterpret_cast<uv_stream_t*>(tcp), 128, cb) != 0)
    throw std::runtime_error("cannot listen on the loopback interface");
}

std::shared_ptr<const pgw::Config> make_config(const std::string& dir) {
  auto cfg = std::make_shared<pgw::Config>();
  cfg->file = dir + "/pgwarden.yaml";
  cfg->upstream_tls = pgw::TlsMode::disable;
  cfg->roles.push_back({"migrator", "migrator-pw"});
  pgw::rules::Glob dba;
  std::string error;
  pgw::rules::compile_glob("dba:*", pgw::rules::Folding::exact, &dba, &error);
  cfg->admin_users.push_back(dba);
  pgw::ScramVerifier verifier = pgw::make_scram_verifier(kPassword, 1);
  cfg->static_identities.push_back({"acme/shop@refs/heads/main", "fuzz", verifier, "migrator"});
  cfg->static_identities.push_back({"dba:alice", "alice", verifier, "migrator"});
  cfg->audit_path = dir + "/audit.db";
  cfg->audit_instance = "fuzz";
  return cfg;
}

Harness* start() {
  signal(SIGPIPE, SIG_IGN);
  pgw::set_log_level(pgw::LogLevel::error);  // a line per session event would be most of the time spent
  auto* h = new Harness;
  g = h;
  const char* tmp = std::getenv("TMPDIR");
  h->dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/pgwarden-fuzz-session-XXXXXX";
  if (!mkdtemp(h->dir.data())) throw std::runtime_error("cannot make a temporary directory");
  std::vector<pgw::rules::LoadError> errors;
  auto rules = pgw::rules::load_rules_node(YAML::Load(kRules), "rules.yaml", &errors);
  if (!rules) throw std::runtime_error("the rules do not load");
  h->runtime.rules.store(rules);
  auto config = make_config(h->dir);
  pgw::store::Options opts;
  opts.path = config->audit_path;
  opts.instance = "fuzz";
  opts.commit_on_flush = true;
  std::string error;
  h->runtime.store = pgw::store::AuditStore::open(opts, &error);
  if (!h->runtime.store) throw std::runtime_error(error);

  pgw::Worker& w = h->worker;
  uv_loop_init(&w.loop);
  listen_loopback(&w.loop, &h->upstream_listener, on_upstream_connection);
  auto shared = std::make_shared<pgw::Shared>();
  sockaddr_in up{};
  uv_ip4_addr("127.0.0.1", bound_port(&h->upstream_listener), &up);
  std::memcpy(&shared->upstream_addr, &up, sizeof up);
  shared->config = config;
  w.shared = shared;
  w.runtime = &h->runtime;
  w.stats = &h->runtime.metrics.workers.emplace_back();
  uv_async_init(&w.loop, &w.inbox.async, pgw::worker_run_posted);
  w.inbox.async.data = &w;
  listen_loopback(&w.loop, &w.listener, [](uv_stream_t* l, int status) {
    if (status == 0) pgw::session_accept(static_cast<pgw::Worker*>(l->data));
  });
  w.listener.data = &w;
  h->listen_port = bound_port(&w.listener);
  pgw::worker_start_audit_flush(&w);
  return h;
}

// Runs the loop until nothing has moved for a while (or `until` holds).
template <typename Done>
void run_until(Harness* h, Done until, int quiet_rounds) {
  int quiet = 0;
  for (int round = 0; round < 200000 && !until(); ++round) {
    uint64_t before = h->activity;
    uv_run(&h->worker.loop, UV_RUN_NOWAIT);
    quiet = h->activity == before ? quiet + 1 : 0;
    if (quiet >= quiet_rounds) return;
  }
}

}  // namespace

namespace pgw::fuzz {

std::string run_session(bool console, std::string_view input) {
  static Harness* h = start();
  h->console = console;
  h->input.assign(input);
  h->failure.clear();
  h->worker.parse_cache = std::make_shared<ParseCache>();
  h->client_framer = Framer(1u << 26);
  h->scram = ScramClient{};
  h->scram.password = kPassword;
  h->phase = Phase::login;
  uv_tcp_init(&h->worker.loop, &h->client);
  h->client_open = true;
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", h->listen_port, &addr);
  uv_tcp_connect(&h->connect_req, &h->client, reinterpret_cast<const sockaddr*>(&addr), on_client_connected);

  // Login, blocking: every step of it has a reply.
  while (h->phase == Phase::login) uv_run(&h->worker.loop, UV_RUN_ONCE);
  // The input, until the session, the client and the fake server are all quiet.
  run_until(h, [] { return false; }, 16);
  close_client();
  run_until(h, [] { return !h->client_open && h->worker.sessions.empty() && h->server_handles == 0; }, 1 << 30);
  if (h->failure.empty() && !h->worker.sessions.empty()) h->failure = "the session did not end after the client left";
  if (h->failure.empty() && h->server_handles != 0) h->failure = "the upstream connection was not closed";
  return h->failure;
}

}  // namespace pgw::fuzz
