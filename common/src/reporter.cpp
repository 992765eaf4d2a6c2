#include "portdemo/reporter.hpp"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "portdemo/board.hpp"

namespace portdemo {

bool use_color(color_mode mode, std::FILE* out) {
  switch (mode) {
    case color_mode::always: return true;
    case color_mode::never: return false;
    case color_mode::auto_detect: {
      // https://no-color.org: any non-empty NO_COLOR turns colour off.
      const char* no_color = std::getenv("NO_COLOR");
      if (no_color && *no_color) return false;
      const char* term = std::getenv("TERM");
      if (term && std::string_view(term) == "dumb") return false;
      return ::isatty(::fileno(out)) == 1;
    }
  }
  return false;
}

namespace {

// A closed pipe or terminal must not end the program: SIGPIPE is ignored by both mains, and a
// short or failed write is dropped.
void write_out(std::FILE* out, std::string_view bytes) {
  std::fwrite(bytes.data(), 1, bytes.size(), out);
  std::fflush(out);
  std::clearerr(out);
}

}  // namespace

// How long the writer thread gathers lines before it writes them, and how many bytes make it
// write at once: a person at a terminal sees a line within a few milliseconds; a server under
// load writes 64 KiB at a time.
constexpr auto gather_time = std::chrono::milliseconds(5);
constexpr std::size_t gather_bytes = 64 * 1024;

// The writer thread and what it shares with emit(): `pending` fills while the thread writes the
// previous batch.
struct reporter::writer {
  std::mutex mutex;
  std::condition_variable wake;     // for the thread: there is work, or it is time to stop
  std::condition_variable written;  // for flush(): a batch is out
  std::string pending;
  std::size_t backlog = 0;
  bool busy = false;       // the thread holds a batch
  bool stop = false;
  bool flushing = false;   // someone waits in flush(): write at once
  std::uint64_t dropped = 0;           // all dropped so far
  std::uint64_t unreported_drops = 0;  // dropped since the last note about it
  std::thread thread;
};

reporter::reporter(output_format format, host_facts facts, bool color, std::FILE* out)
    : format_(format), facts_(facts), text_(std::move(facts), color), out_(out) {}

reporter::reporter(output_format format, host_facts facts, bool color, std::FILE* out, std::size_t backlog)
    : reporter(format, std::move(facts), color, out) {
  writer_ = std::make_unique<writer>();
  writer_->backlog = backlog;
  writer_->thread = std::thread([w = writer_.get(), out] {
    std::string batch;
    std::unique_lock lock(w->mutex);
    for (;;) {
      w->wake.wait(lock, [w] { return w->stop || !w->pending.empty(); });
      if (w->pending.empty()) return;  // stopping, and all written
      // Gather for a moment: under load, lines keep coming, and one write for all of them costs
      // the server's core one wake-up and one system call instead of one per line.
      w->wake.wait_for(lock, gather_time,
                       [w] { return w->stop || w->flushing || w->pending.size() >= gather_bytes; });
      batch.swap(w->pending);
      w->busy = true;
      lock.unlock();
      write_out(out, batch);
      batch.clear();
      lock.lock();
      w->busy = false;
      w->written.notify_all();
    }
  });
}

reporter::~reporter() {
  if (!writer_) return;
  {
    std::lock_guard lock(writer_->mutex);
    writer_->stop = true;
  }
  writer_->wake.notify_one();
  writer_->thread.join();
}

void reporter::emit(const event& e) {
  if (mask_) {
    // A copy with the remote addresses hidden: the only events that carry a client's address
    // are those with a tuple (the server's remote end).
    event masked = e;
    std::visit(
        [](auto& ev) {
          if constexpr (requires { ev.tuple.remote.address; })
            ev.tuple.remote.address = mask_address(ev.tuple.remote.address);
        },
        masked);
    print(masked);
    return;
  }
  print(e);
}

void reporter::print(const event& e) {
  std::string line = format_ == output_format::json ? render_json(e) : text_.render(e);
  if (line.empty()) return;
  if (!writer_) {
    write_out(out_, line);
    return;
  }
  std::uint64_t drops = 0;
  {
    std::lock_guard lock(writer_->mutex);
    if (writer_->pending.size() + line.size() > writer_->backlog) {
      ++writer_->dropped;
      ++writer_->unreported_drops;
      return;
    }
    drops = writer_->unreported_drops;
    writer_->unreported_drops = 0;
    const bool was_empty = writer_->pending.empty();
    if (drops == 0) {
      writer_->pending += line;
      // The thread needs waking when the first line of a batch comes (it sleeps until then) and
      // when a batch is full (it is gathering); in between it needs nothing.
      if ((was_empty && !writer_->busy) || writer_->pending.size() >= gather_bytes) writer_->wake.notify_one();
      return;
    }
  }
  // Room again after drops: say how many, before this line. (Rendered outside the lock.)
  const remark_event dropped{log_dropped{drops}};
  std::string note = format_ == output_format::json ? render_json(dropped) : text_.render(dropped);
  std::lock_guard lock(writer_->mutex);
  writer_->pending += note;
  writer_->pending += line;
  if (!writer_->busy) writer_->wake.notify_one();
}

void reporter::flush() {
  if (!writer_) {
    std::fflush(out_);
    return;
  }
  std::unique_lock lock(writer_->mutex);
  writer_->flushing = true;
  writer_->wake.notify_one();
  writer_->written.wait(lock, [this] { return writer_->pending.empty() && !writer_->busy; });
  writer_->flushing = false;
}

std::uint64_t reporter::dropped() const {
  if (!writer_) return 0;
  std::lock_guard lock(writer_->mutex);
  return writer_->dropped;
}

}  // namespace portdemo
