// Delivering notices: one thread drives libcurl's multi interface, so deliveries to several
// receivers (and retries) proceed side by side and a receiver that hangs holds only its own.
// Sessions reach it only through post(), which queues under a mutex and wakes the thread.
#include <curl/curl.h>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "proxy/notify/notify.h"
#include "proxy/runtime/log.h"

namespace pgw {

namespace {

using Clock = std::chrono::steady_clock;

// Deliveries to one receiver under way at once; more wait their turn.
constexpr size_t kMaxUnderWayPerTarget = 8;

// One body on its way to one target.
struct Delivery {
  size_t target = 0;
  std::string body;
  std::string signature;  // the header's value; empty without a secret
  std::string what;       // "held 42", for log lines
  int tries = 0;
  Clock::time_point due;
};

// A delivery libcurl is working on, with what its handle points to.
struct UnderWay {
  Delivery delivery;
  curl_slist* headers = nullptr;
};

// How a try ended: delivered, worth another try, or refused for good.
enum class Result { delivered, retry, refused };

std::string field_of(size_t target) { return "approvals.notify[" + std::to_string(target) + "]"; }

size_t discard(char*, size_t size, size_t count, void*) { return size * count; }

}  // namespace

struct NotifierState {
  std::vector<NotifyTarget> targets;
  NotifyPolicy policy;
  CURLM* multi = nullptr;
  std::thread thread;

  std::mutex mu;  // guards incoming and stopping
  std::deque<ApprovalNotice> incoming;
  bool stopping = false;

  // The thread's own.
  std::deque<Delivery> waiting;
  std::map<CURL*, UnderWay> under_way;
  bool last_round = false;
  Clock::time_point deadline;
};

namespace {

// Appends `item` to `queue`, dropping the oldest entries (with a log line each) beyond `max`.
template <typename T, typename Name>
void push_bounded(std::deque<T>& queue, size_t max, T item, Name name) {
  while (!queue.empty() && queue.size() >= max) {
    log_event(LogLevel::warn, "approval_notice_dropped", {{"notice", name(queue.front())}, {"reason", "the queue is full"}});
    queue.pop_front();
  }
  queue.push_back(std::move(item));
}

std::string notice_name(const ApprovalNotice& n) { return n.event + " " + std::to_string(n.id); }

void queue_deliveries(NotifierState* st, std::deque<ApprovalNotice> notices) {
  for (const ApprovalNotice& n : notices) {
    for (size_t i = 0; i < st->targets.size(); ++i) {
      const NotifyTarget& t = st->targets[i];
      Delivery d;
      d.target = i;
      d.body = notification_body(n, t.format);
      if (!t.secret.empty()) d.signature = notification_signature(d.body, t.secret);
      d.what = notice_name(n);
      d.due = Clock::now();
      push_bounded(st->waiting, st->policy.max_queued, std::move(d), [](const Delivery& old) { return old.what; });
    }
  }
}

void start(NotifierState* st, Delivery d) {
  const NotifyTarget& t = st->targets[d.target];
  CURL* easy = curl_easy_init();
  UnderWay& u = st->under_way[easy];
  u.delivery = std::move(d);
  u.headers = curl_slist_append(u.headers, "Content-Type: application/json");
  u.headers = curl_slist_append(u.headers, "Expect:");
  if (!u.delivery.signature.empty())
    u.headers = curl_slist_append(u.headers, ("X-Pgwarden-Signature: " + u.delivery.signature).c_str());
  curl_easy_setopt(easy, CURLOPT_URL, t.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, u.headers);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, u.delivery.body.c_str());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(u.delivery.body.size()));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(st->policy.request_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "pgwarden");
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
  curl_multi_add_handle(st->multi, easy);
}

// Starts the deliveries that are due, as many per target as may be under way.
void start_due(NotifierState* st) {
  std::vector<size_t> busy(st->targets.size(), 0);
  for (const auto& [easy, u] : st->under_way) ++busy[u.delivery.target];
  Clock::time_point now = Clock::now();
  for (auto it = st->waiting.begin(); it != st->waiting.end();) {
    if (it->due > now || busy[it->target] >= kMaxUnderWayPerTarget) {
      ++it;
      continue;
    }
    ++busy[it->target];
    start(st, std::move(*it));
    it = st->waiting.erase(it);
  }
}

Result classify(CURLcode code, long status, std::string* error) {
  if (code != CURLE_OK) {
    *error = curl_easy_strerror(code);
    return Result::retry;
  }
  if (status >= 200 && status < 300) return Result::delivered;
  *error = "HTTP status " + std::to_string(status);
  return status >= 500 || status == 429 ? Result::retry : Result::refused;
}

// A try is over: logged, and tried again later when that may help.
void finished(NotifierState* st, Delivery d, Result result, const std::string& error) {
  ++d.tries;
  std::string target = field_of(d.target), tries = std::to_string(d.tries);
  if (result == Result::delivered) {
    log_event(LogLevel::info, "approval_notified", {{"notice", d.what}, {"target", target}, {"tries", tries}});
    return;
  }
  if (result == Result::retry && d.tries < st->policy.attempts && !st->last_round) {
    auto wait = st->policy.first_retry * (1 << (d.tries - 1));
    log_event(LogLevel::warn, "approval_notify_retry",
              {{"notice", d.what}, {"target", target}, {"tries", tries}, {"error", error},
               {"retry_in_ms", std::to_string(wait.count())}});
    d.due = Clock::now() + wait;
    st->waiting.push_back(std::move(d));
    return;
  }
  log_event(LogLevel::error, "approval_notify_failed",
            {{"notice", d.what}, {"target", target}, {"tries", tries}, {"error", error}});
}

void release(NotifierState* st, CURL* easy) {
  curl_multi_remove_handle(st->multi, easy);
  curl_slist_free_all(st->under_way[easy].headers);
  curl_easy_cleanup(easy);
  st->under_way.erase(easy);
}

void collect(NotifierState* st) {
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(st->multi, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL* easy = m->easy_handle;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    std::string error;
    Result result = classify(m->data.result, status, &error);
    Delivery d = std::move(st->under_way[easy].delivery);
    release(st, easy);
    finished(st, std::move(d), result, error);
  }
}

// How long the thread may sleep: until the next retry is due, or the grace ends. Deliveries due
// already wait for a slot, which a transfer's end (waking the poll) frees.
int wait_ms(const NotifierState* st) {
  Clock::time_point now = Clock::now(), until = now + std::chrono::seconds(1);
  for (const Delivery& d : st->waiting)
    if (d.due > now) until = std::min(until, d.due);
  if (st->last_round) until = std::min(until, st->deadline);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count();
  return static_cast<int>(std::max<int64_t>(ms, 0));
}

// Shutdown: everything waiting is tried now, once, within the grace.
void begin_last_round(NotifierState* st) {
  st->last_round = true;
  st->deadline = Clock::now() + st->policy.shutdown_grace;
  for (Delivery& d : st->waiting) d.due = Clock::now();
}

void abandon_rest(NotifierState* st) {
  size_t left = st->waiting.size() + st->under_way.size();
  if (left > 0)
    log_event(LogLevel::warn, "approval_notices_abandoned",
              {{"count", std::to_string(left)}, {"reason", "pgwarden is stopping"}});
  while (!st->under_way.empty()) release(st, st->under_way.begin()->first);
  st->waiting.clear();
}

void run(NotifierState* st) {
  while (true) {
    std::deque<ApprovalNotice> notices;
    bool stopping = false;
    {
      std::lock_guard<std::mutex> lock(st->mu);
      notices.swap(st->incoming);
      stopping = st->stopping;
    }
    queue_deliveries(st, std::move(notices));
    if (stopping && !st->last_round) begin_last_round(st);
    int running = 0;
    curl_multi_perform(st->multi, &running);
    collect(st);
    start_due(st);
    bool idle = st->waiting.empty() && st->under_way.empty();
    if (st->last_round && (idle || Clock::now() >= st->deadline)) break;
    curl_multi_poll(st->multi, nullptr, 0, wait_ms(st), nullptr);
  }
  abandon_rest(st);
}

}  // namespace

Notifier::Notifier(std::vector<NotifyTarget> targets, NotifyPolicy policy) : state_(std::make_unique<NotifierState>()) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  state_->targets = std::move(targets);
  state_->policy = policy;
  state_->multi = curl_multi_init();
  state_->thread = std::thread(run, state_.get());
}

Notifier::~Notifier() {
  stop();
  curl_multi_cleanup(state_->multi);
  curl_global_cleanup();
}

void Notifier::post(ApprovalNotice n) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    push_bounded(state_->incoming, state_->policy.max_queued, std::move(n), notice_name);
  }
  curl_multi_wakeup(state_->multi);
}

void Notifier::stop() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
  }
  curl_multi_wakeup(state_->multi);
  if (state_->thread.joinable()) state_->thread.join();
}

}  // namespace pgw
